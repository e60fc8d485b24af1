#include "symbolize/symbol_cache.h"

#include "symbolize/symbolizer.h"

#include <elfutils/libdwfl.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

namespace memsight::symbolize {
namespace {

char* debuginfo_path = nullptr;

// The file is reported by its path (dwfl_report_elf), so find_elf is never asked; separate debug files are found
// as for a process's modules (symbolizer.cpp), from the same path, so the same symbol tables answer.
const Dwfl_Callbacks kFileCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = nullptr,
    .debuginfo_path = &debuginfo_path,
};

std::optional<FileId> file_id_of(const std::string& path)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        return std::nullopt;
    return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                  static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

} // namespace

struct SymbolCache::File {
    struct Entry {
        const std::string* function = nullptr; // into `names`; nullptr when no symbol covers the address
        uint64_t offset = 0;
    };
    std::set<std::string> names; // every function name once: a function holds many looked-up addresses
    std::map<std::pair<uint64_t, uint64_t>, Entry> lookups; // (map_offset, file_offset)
    uint64_t last_round = 0;

    // The file's ELF, open only from a miss to the end of the round.
    Dwfl* dwfl = nullptr;
    Dwfl_Module* mod = nullptr;
    bool unreadable = false; // this round: the path was not this file, or libdwfl rejected it

    ~File() { close(); }
    void close()
    {
        if (dwfl)
            dwfl_end(dwfl);
        dwfl = nullptr;
        mod = nullptr;
    }

    bool open(const FileId& id, const std::string& path)
    {
        if (mod)
            return true;
        if (unreadable)
            return false;
        unreadable = true;
        // The path names the file the process maps unless it was replaced since (then it is another file).
        if (file_id_of(path) != id)
            return false;
        dwfl = dwfl_begin(&kFileCallbacks);
        if (!dwfl)
            return false;
        dwfl_report_begin(dwfl);
        const char* slash = std::strrchr(path.c_str(), '/');
        // Bias 0 (add_p_vaddr with base 0): addresses are the file's own virtual addresses.
        mod = dwfl_report_elf(dwfl, slash ? slash + 1 : path.c_str(), path.c_str(), -1, 0, true);
        dwfl_report_end(dwfl, nullptr, nullptr);
        if (!mod) {
            spdlog::debug("symbol cache: libdwfl cannot read {}: {}", path, dwfl_errmsg(-1));
            close();
            return false;
        }
        unreadable = false;
        return true;
    }

    // The address (in libdwfl's terms for this module) the loader put `file_offset` at, in the segment mapped
    // from the page at `map_offset`: the same address a process's view reaches from the mapped address.
    std::optional<Dwarf_Addr> address_of(uint64_t map_offset, uint64_t file_offset)
    {
        Dwarf_Addr bias = 0;
        Elf* elf = dwfl_module_getelf(mod, &bias);
        size_t phnum = 0;
        if (!elf || elf_getphdrnum(elf, &phnum) != 0)
            return std::nullopt;
        const uint64_t page = static_cast<uint64_t>(::getpagesize());
        for (size_t i = 0; i < phnum; ++i) {
            GElf_Phdr ph;
            if (!gelf_getphdr(elf, static_cast<int>(i), &ph) || ph.p_type != PT_LOAD)
                continue;
            if ((ph.p_offset & ~(page - 1)) != map_offset || file_offset < ph.p_offset ||
                file_offset - ph.p_offset >= ph.p_filesz)
                continue;
            return bias + ph.p_vaddr + (file_offset - ph.p_offset);
        }
        return std::nullopt; // not in a loaded segment's bytes (padding, a hand-made mapping): not ours to name
    }
};

SymbolCache::SymbolCache(Limits limits) : limits_(limits) {}

SymbolCache::~SymbolCache() = default;

std::optional<FileSymbol> SymbolCache::lookup(const FileId& id, const std::string& path, uint64_t map_offset,
                                              uint64_t file_offset)
{
    auto& slot = files_[id];
    if (!slot)
        slot = std::make_unique<File>();
    File& file = *slot;
    file.last_round = round_;
    const std::pair key{map_offset, file_offset};
    if (auto it = file.lookups.find(key); it != file.lookups.end()) {
        ++hits_;
        const File::Entry& e = it->second;
        return e.function ? FileSymbol{*e.function, e.offset, true} : FileSymbol{};
    }
    if (!file.open(id, path)) {
        if (file.lookups.empty() && !file.mod)
            files_.erase(id); // nothing to keep of a file this path does not give
        return std::nullopt;
    }
    const auto addr = file.address_of(map_offset, file_offset);
    if (!addr)
        return std::nullopt;
    ++misses_;
    GElf_Off sym_off = 0;
    GElf_Sym sym;
    const char* name = dwfl_module_addrinfo(file.mod, *addr, &sym_off, &sym, nullptr, nullptr, nullptr);
    File::Entry e;
    FileSymbol out;
    if (name) {
        out = {demangle(name), sym_off, true};
        e = {&*file.names.insert(out.function).first, sym_off};
    }
    file.lookups.emplace(key, e);
    ++entries_;
    evict_over_limit(id);
    return out;
}

void SymbolCache::evict_over_limit(const FileId& keep)
{
    if (entries_ <= limits_.entries)
        return;
    // Whole files, least recently looked up first: a file's lookups are worth most while its processes are named.
    std::vector<std::pair<uint64_t, FileId>> by_age;
    for (const auto& [id, f] : files_)
        if (id != keep)
            by_age.emplace_back(f->last_round, id);
    std::sort(by_age.begin(), by_age.end());
    for (const auto& [round, id] : by_age) {
        if (entries_ <= limits_.entries)
            return;
        entries_ -= files_[id]->lookups.size();
        files_.erase(id);
    }
    // One file alone is over the bound: it starts again.
    if (entries_ > limits_.entries) {
        File& f = *files_[keep];
        entries_ -= f.lookups.size();
        f.lookups.clear();
        f.names.clear();
    }
}

void SymbolCache::end_round()
{
    for (auto it = files_.begin(); it != files_.end();) {
        File& f = *it->second;
        f.close();
        f.unreadable = false;
        if (round_ - f.last_round >= limits_.idle_rounds) {
            entries_ -= f.lookups.size();
            it = files_.erase(it);
        } else {
            ++it;
        }
    }
    ++round_;
}

SymbolCache::Stats SymbolCache::stats() const
{
    Stats s{hits_, misses_, entries_, files_.size(), 0};
    for (const auto& [id, f] : files_)
        s.open_files += f->mod != nullptr;
    return s;
}

} // namespace memsight::symbolize
