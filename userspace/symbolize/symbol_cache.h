#pragma once
// Symbol lookups shared by the processes that map the same file. Every process of one binary (a compiler started
// once per source file, say) maps the same ELF files; naming each process's addresses with its own libdwfl view
// re-reads and re-indexes those files per process, and libdwfl's address-to-symbol search walks the whole symbol
// table per lookup. This cache keys a lookup by what the process maps (the file's identity and the file offset of
// the address), so that a second process of a binary pays a map lookup; a miss opens the file once for all processes
// and asks libdwfl exactly what a process's own view would ask, so the names are the same.
//
// Not thread-safe: one owner (the agent's growth-site namer runs on the scan thread).
#include <sys/types.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace memsight::symbolize {

// A mapped file's identity: a file replaced in place (a package upgrade) gets a new one.
struct FileId {
    uint64_t dev = 0;
    uint64_t ino = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    auto operator<=>(const FileId&) const = default;
};

// What a file's symbol tables say about one of its addresses.
struct FileSymbol {
    std::string function; // demangled; empty when no symbol covers the address
    uint64_t offset = 0;  // from the function's start
    bool found = false;   // a symbol covers the address
};

class SymbolCache {
public:
    struct Limits {
        // Cached lookups over all files (~100-200 bytes each with its share of the names).
        size_t entries = 20000;
        // A file's lookups are dropped at the end of the idle_rounds-th round (end_round) without a lookup in it: a
        // binary whose processes come and go keeps its names across a short gap, a binary no named process maps
        // any more lets go of them.
        unsigned idle_rounds = 6;
    };
    SymbolCache() : SymbolCache(Limits{}) {}
    explicit SymbolCache(Limits limits);
    ~SymbolCache();
    SymbolCache(const SymbolCache&) = delete;
    SymbolCache& operator=(const SymbolCache&) = delete;

    // The symbol at `file_offset` of the file `id`, mapped by a mapping that starts at the file offset `map_offset`
    // (page-aligned; with it the offset names one loaded segment). On a miss the file is opened at `path` (through
    // /proc/PID/root) and must still be `id`. nullopt when the file cannot be read as an ELF file that way: the
    // caller then asks its own view of the process.
    std::optional<FileSymbol> lookup(const FileId& id, const std::string& path, uint64_t map_offset,
                                     uint64_t file_offset);

    // Ends a naming round: closes the files opened for misses (their symbol tables are not kept mapped between
    // rounds) and drops the lookups of files not looked up in the last `idle_rounds` rounds.
    void end_round();

    struct Stats {
        uint64_t hits = 0;
        uint64_t misses = 0;
        size_t entries = 0;
        size_t files = 0;      // files with cached lookups
        size_t open_files = 0; // files whose ELF is open now (only between a miss and end_round)
    };
    Stats stats() const;

    struct File; // in symbol_cache.cpp

private:
    void evict_over_limit(const FileId& keep);
    Limits limits_;
    uint64_t round_ = 0;
    uint64_t hits_ = 0;
    uint64_t misses_ = 0;
    size_t entries_ = 0;
    std::map<FileId, std::unique_ptr<File>> files_;
};

} // namespace memsight::symbolize
