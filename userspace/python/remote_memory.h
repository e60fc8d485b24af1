#pragma once
// Reading another process's memory without stopping it: process_vm_readv, only inside the ranges its
// /proc/PID/maps says are readable, whole reads or nothing (a short read is a failure, never half a value).
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace memsight::python {

class RemoteMemory {
public:
    // Reads /proc/PID/maps; throws UserError when the process does not exist or its maps cannot be read.
    explicit RemoteMemory(pid_t pid);

    pid_t pid() const { return pid_; }
    // Re-reads the readable ranges (mappings come and go while the target runs).
    void refresh_maps();
    // [addr, addr+len) lies inside one readable mapping (adjacent mappings are merged).
    bool readable(uint64_t addr, uint64_t len) const;

    // Copies len bytes at addr into out: false when the range is not mapped readable, the read is short or
    // fails. Throws UserError when the process has exited (ESRCH) or may not be read (EPERM).
    bool read(uint64_t addr, void* out, size_t len);
    template <typename T> std::optional<T> read_value(uint64_t addr)
    {
        T v{};
        if (!read(addr, &v, sizeof v))
            return std::nullopt;
        return v;
    }
    // As read(), through a cache of whole 4 KiB blocks: objects that are neighbours in a GC list are mostly
    // neighbours in memory (pymalloc pools), so one process_vm_readv serves tens of them. What it returns may be
    // as old as the last clear_cache(): callers that follow links check them (a GC list's back links).
    bool read_cached(uint64_t addr, void* out, size_t len);
    void clear_cache();
    // A NUL-terminated string of at most max_len bytes (read in chunks that stop at the mapping's end);
    // nullopt when unreadable or not terminated within max_len.
    std::optional<std::string> read_cstring(uint64_t addr, size_t max_len = 256);

    uint64_t reads() const { return reads_; }
    uint64_t failed_reads() const { return failed_reads_; }

private:
    struct Range {
        uint64_t start = 0, end = 0;
    };
    pid_t pid_;
    std::vector<Range> ranges_; // sorted, merged
    uint64_t reads_ = 0, failed_reads_ = 0;

    static constexpr uint64_t kBlock = 4096;
    static constexpr size_t kBlocks = 1024; // 4 MiB, direct-mapped by block number
    struct Block {
        uint64_t start = UINT64_MAX; // block address, UINT64_MAX when empty
        std::vector<uint8_t> bytes;
    };
    std::vector<Block> cache_;
};

} // namespace memsight::python
