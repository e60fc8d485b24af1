#pragma once
// A read-only ELF file opened with libelf (RAII over the fd and the Elf handle). Internal to deep/.
#include <libelf.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "deep/allocators.h"
#include "util/fd.h"

namespace memsight::deep {

class ElfFile {
public:
    enum class OpenStatus { ok, cannot_open, not_elf };
    // On failure `error` gets a one-line reason ("cannot open PATH: <errno text>", "PATH is not an ELF file").
    static std::optional<ElfFile> open(const std::string& path, std::string* error = nullptr,
                                       OpenStatus* status = nullptr);

    // See find_symbols() in allocators.h.
    std::vector<ProbeSymbol> find_symbols(const std::vector<std::string>& names) const;
    // True when any symbol table holds a defined symbol with this exact name (any type or binding).
    bool has_symbol(const std::string& name) const;
    bool has_section(const std::string& name) const;
    // A defined symbol of any type (data too: STT_OBJECT, STT_TLS excepted), .dynsym first then .symtab:
    // its st_value and st_size. nullopt when no table defines it.
    struct Symbol {
        uint64_t vaddr = 0, size = 0;
    };
    std::optional<Symbol> find_any_symbol(const std::string& name) const;
    // The virtual address the file's first PT_LOAD maps at file offset 0 (p_vaddr - p_offset): with the
    // address where a process mapped file offset 0, gives the load bias of a shared object or PIE.
    std::optional<uint64_t> vaddr_of_file_start() const;
    // Virtual address -> file offset through the PT_LOAD program headers (file-backed part only).
    std::optional<uint64_t> vaddr_to_offset(uint64_t vaddr) const;
    std::string soname() const; // DT_SONAME, empty if none

private:
    struct ElfEnd {
        void operator()(Elf* e) const { elf_end(e); }
    };
    ElfFile(util::UniqueFd fd, Elf* elf) : fd_(std::move(fd)), elf_(elf) {}

    util::UniqueFd fd_;
    std::unique_ptr<Elf, ElfEnd> elf_;
};

} // namespace memsight::deep
