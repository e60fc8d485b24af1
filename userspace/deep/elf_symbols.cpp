// ELF symbol lookup with libelf: defined functions, their file offsets, SONAME, Go detection.
#include "deep/elf_file.h"

#include <fcntl.h>
#include <gelf.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "util/error.h"

namespace memsight::deep {
namespace {

void ensure_libelf()
{
    static const bool ok = elf_version(EV_CURRENT) != EV_NONE;
    if (!ok)
        throw UserError(std::string("libelf initialisation failed: ") + elf_errmsg(-1));
}

// A symbol table section with its data and, for .dynsym, the parallel .gnu.version array.
struct SymbolTable {
    GElf_Shdr shdr{};
    Elf_Data* data = nullptr;
    Elf_Data* versym = nullptr;
    size_t count = 0;
    bool dynamic = false;
};

// .dynsym first (what the dynamic linker resolves), then .symtab.
std::vector<SymbolTable> symbol_tables(Elf* elf)
{
    std::vector<SymbolTable> tables;
    Elf_Data* versym = nullptr;
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == nullptr)
            continue;
        if (shdr.sh_type == SHT_GNU_versym) {
            versym = elf_getdata(scn, nullptr);
            continue;
        }
        if (shdr.sh_type != SHT_DYNSYM && shdr.sh_type != SHT_SYMTAB)
            continue;
        if (shdr.sh_entsize == 0)
            continue;
        SymbolTable t;
        t.shdr = shdr;
        t.data = elf_getdata(scn, nullptr);
        t.count = shdr.sh_size / shdr.sh_entsize;
        t.dynamic = shdr.sh_type == SHT_DYNSYM;
        if (t.data != nullptr)
            tables.push_back(t);
    }
    for (auto& t : tables) {
        if (t.dynamic && versym != nullptr && versym->d_size / sizeof(GElf_Versym) >= t.count)
            t.versym = versym;
    }
    std::stable_partition(tables.begin(), tables.end(), [](const SymbolTable& t) { return t.dynamic; });
    return tables;
}

bool is_defined(const GElf_Sym& sym)
{
    return sym.st_shndx != SHN_UNDEF && sym.st_shndx != SHN_ABS && sym.st_value != 0;
}

bool is_function(const GElf_Sym& sym)
{
    const int type = GELF_ST_TYPE(sym.st_info);
    return type == STT_FUNC || type == STT_GNU_IFUNC;
}

bool is_exported_binding(const GElf_Sym& sym)
{
    const int bind = GELF_ST_BIND(sym.st_info);
    return bind == STB_GLOBAL || bind == STB_WEAK || bind == STB_GNU_UNIQUE;
}

} // namespace

std::optional<ElfFile> ElfFile::open(const std::string& path, std::string* error, OpenStatus* status)
{
    ensure_libelf();
    auto fail = [&](OpenStatus s, std::string msg) -> std::optional<ElfFile> {
        if (error != nullptr)
            *error = std::move(msg);
        if (status != nullptr)
            *status = s;
        return std::nullopt;
    };
    util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return fail(OpenStatus::cannot_open, "cannot open " + path + ": " + std::strerror(errno));
    // ELF_C_READ reads with pread on demand: unlike ELF_C_READ_MMAP, a file truncated while we
    // read it cannot SIGBUS the agent.
    Elf* elf = elf_begin(fd.get(), ELF_C_READ, nullptr);
    if (elf == nullptr)
        return fail(OpenStatus::not_elf, path + " is not an ELF file (" + elf_errmsg(-1) + ")");
    ElfFile file(std::move(fd), elf);
    if (elf_kind(elf) != ELF_K_ELF || gelf_getclass(elf) == ELFCLASSNONE)
        return fail(OpenStatus::not_elf, path + " is not an ELF file");
    if (status != nullptr)
        *status = OpenStatus::ok;
    return file;
}

std::optional<uint64_t> ElfFile::vaddr_to_offset(uint64_t vaddr) const
{
    size_t n = 0;
    if (elf_getphdrnum(elf_.get(), &n) != 0)
        return std::nullopt;
    for (size_t i = 0; i < n; ++i) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf_.get(), static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD)
            continue;
        if (vaddr >= ph.p_vaddr && vaddr - ph.p_vaddr < ph.p_filesz)
            return vaddr - ph.p_vaddr + ph.p_offset;
    }
    return std::nullopt;
}

std::vector<ProbeSymbol> ElfFile::find_symbols(const std::vector<std::string>& names) const
{
    Elf* elf = elf_.get();
    std::unordered_map<std::string_view, size_t> wanted;
    for (size_t i = 0; i < names.size(); ++i)
        wanted.emplace(names[i], i);

    // Rank: 0 = .dynsym default version, 1 = .dynsym hidden (non-default) version, 2 = .symtab.
    struct Best {
        int rank = INT_MAX;
        GElf_Sym sym{};
    };
    std::vector<Best> best(names.size());
    for (const auto& t : symbol_tables(elf)) {
        for (size_t i = 1; i < t.count; ++i) {
            GElf_Sym sym;
            if (gelf_getsym(t.data, static_cast<int>(i), &sym) == nullptr || sym.st_name == 0)
                continue;
            if (!is_function(sym) || !is_defined(sym) || !is_exported_binding(sym))
                continue;
            const char* name = elf_strptr(elf, t.shdr.sh_link, sym.st_name);
            if (name == nullptr)
                continue;
            const auto it = wanted.find(name);
            if (it == wanted.end())
                continue;
            int rank = t.dynamic ? 0 : 2;
            GElf_Versym ver = 0;
            if (t.versym != nullptr && gelf_getversym(t.versym, static_cast<int>(i), &ver) != nullptr &&
                (ver & 0x8000) != 0) // VERSYM_HIDDEN: an old version ("name@VER", not "name@@VER")
                rank = 1;
            auto& b = best[it->second];
            if (rank < b.rank) {
                b.rank = rank;
                b.sym = sym;
            }
        }
    }

    std::vector<ProbeSymbol> out;
    std::unordered_map<uint64_t, std::string> first_at_offset;
    for (size_t i = 0; i < names.size(); ++i) {
        if (best[i].rank == INT_MAX)
            continue;
        const auto offset = vaddr_to_offset(best[i].sym.st_value);
        if (!offset)
            continue; // not in any file-backed PT_LOAD: nothing a uprobe could attach to
        ProbeSymbol s;
        s.name = names[i];
        s.vaddr = best[i].sym.st_value;
        s.size = best[i].sym.st_size;
        s.file_offset = *offset;
        s.ifunc = GELF_ST_TYPE(best[i].sym.st_info) == STT_GNU_IFUNC;
        const auto [it, inserted] = first_at_offset.emplace(s.file_offset, s.name);
        if (!inserted)
            s.alias_of = it->second;
        out.push_back(std::move(s));
    }
    return out;
}

bool ElfFile::has_symbol(const std::string& name) const
{
    Elf* elf = elf_.get();
    for (const auto& t : symbol_tables(elf)) {
        for (size_t i = 1; i < t.count; ++i) {
            GElf_Sym sym;
            if (gelf_getsym(t.data, static_cast<int>(i), &sym) == nullptr || sym.st_name == 0 ||
                sym.st_shndx == SHN_UNDEF)
                continue;
            const char* n = elf_strptr(elf, t.shdr.sh_link, sym.st_name);
            if (n != nullptr && name == n)
                return true;
        }
    }
    return false;
}

std::optional<ElfFile::Symbol> ElfFile::find_any_symbol(const std::string& name) const
{
    Elf* elf = elf_.get();
    for (const auto& t : symbol_tables(elf)) {
        for (size_t i = 1; i < t.count; ++i) {
            GElf_Sym sym;
            if (gelf_getsym(t.data, static_cast<int>(i), &sym) == nullptr || sym.st_name == 0 || !is_defined(sym) ||
                GELF_ST_TYPE(sym.st_info) == STT_TLS)
                continue;
            const char* n = elf_strptr(elf, t.shdr.sh_link, sym.st_name);
            if (n != nullptr && name == n)
                return Symbol{sym.st_value, sym.st_size};
        }
    }
    return std::nullopt;
}

std::optional<uint64_t> ElfFile::vaddr_of_file_start() const
{
    size_t n = 0;
    if (elf_getphdrnum(elf_.get(), &n) != 0)
        return std::nullopt;
    for (size_t i = 0; i < n; ++i) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf_.get(), static_cast<int>(i), &ph) != nullptr && ph.p_type == PT_LOAD)
            return ph.p_vaddr - ph.p_offset; // program headers are sorted by p_vaddr (ELF spec)
    }
    return std::nullopt;
}

bool ElfFile::has_section(const std::string& name) const
{
    Elf* elf = elf_.get();
    size_t shstrndx = 0;
    if (elf_getshdrstrndx(elf, &shstrndx) != 0)
        return false;
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == nullptr)
            continue;
        const char* n = elf_strptr(elf, shstrndx, shdr.sh_name);
        if (n != nullptr && name == n)
            return true;
    }
    return false;
}

std::string ElfFile::soname() const
{
    Elf* elf = elf_.get();
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_DYNAMIC || shdr.sh_entsize == 0)
            continue;
        Elf_Data* data = elf_getdata(scn, nullptr);
        if (data == nullptr)
            continue;
        const size_t n = shdr.sh_size / shdr.sh_entsize;
        for (size_t i = 0; i < n; ++i) {
            GElf_Dyn dyn;
            if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr || dyn.d_tag == DT_NULL)
                break;
            if (dyn.d_tag == DT_SONAME) {
                const char* s = elf_strptr(elf, shdr.sh_link, dyn.d_un.d_val);
                return s != nullptr ? s : "";
            }
        }
    }
    return "";
}

std::vector<ProbeSymbol> find_symbols(const std::string& elf_path, const std::vector<std::string>& names)
{
    std::string error;
    auto elf = ElfFile::open(elf_path, &error);
    if (!elf)
        throw UserError(error);
    return elf->find_symbols(names);
}

bool is_go_binary(const std::string& elf_path, std::string* reason)
{
    std::string error;
    ElfFile::OpenStatus status{};
    auto elf = ElfFile::open(elf_path, &error, &status);
    if (!elf) {
        if (status == ElfFile::OpenStatus::not_elf)
            return false;
        throw UserError(error);
    }
    auto found = [&](std::string why) {
        if (reason != nullptr)
            *reason = std::move(why);
        return true;
    };
    for (const char* section : {".go.buildinfo", ".gopclntab"}) {
        if (elf->has_section(section))
            return found(std::string("section ") + section);
    }
    for (const char* symbol : {"runtime.main", "runtime.goexit"}) {
        if (elf->has_symbol(symbol))
            return found(std::string("symbol ") + symbol);
    }
    return false;
}

} // namespace memsight::deep
