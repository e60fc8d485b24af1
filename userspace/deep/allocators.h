#pragma once
// Deep tier: which allocator(s) one process uses and where to put uprobes on them.
//
// detect_allocators() reads /proc/PID/maps, opens every mapped, executable ELF file through
// /proc/PID/root (so a process in another mount namespace works), looks up the allocation functions
// in .dynsym/.symtab and converts each address to the FILE OFFSET that uprobes (libbpf attach by
// offset) expect. Symbols are looked up for x86_64/aarch64 (LP64: operator new is _Znwm).
#include "deep/alloc_hooks.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memsight::deep {

// One line of /proc/PID/maps.
struct MapEntry {
    uint64_t start = 0, end = 0, offset = 0;
    std::string perms; // "r-xp"
    unsigned dev_major = 0, dev_minor = 0;
    uint64_t inode = 0;
    std::string path;     // verbatim: may contain spaces, may end in " (deleted)", "[heap]", "" (anonymous)
    bool deleted = false; // path ends in " (deleted)": the file was unlinked (or replaced) after mapping
    bool executable() const { return perms.size() >= 3 && perms[2] == 'x'; }
};
// Lines that do not parse are skipped (the kernel's format is fixed; this only guards against junk).
std::vector<MapEntry> parse_maps(std::string_view text);

struct ProbeSymbol {
    std::string name;
    uint64_t file_offset = 0; // for uprobe attach by offset
    uint64_t vaddr = 0;       // st_value
    uint64_t size = 0;        // st_size
    // STT_GNU_IFUNC: file_offset is the RESOLVER, which runs once at relocation and returns the implementation;
    // a probe there sees no allocation. The deep tier refuses such a symbol (Session::attach_process says so)
    // instead of probing the resolver. No supported allocator defines a hooked function as an IFUNC (glibc 2.36,
    // jemalloc, tcmalloc, mimalloc, libstdc++ checked with readelf -Ws; tests/unit/test_allocators.cpp).
    bool ifunc = false;
    // Name of an earlier symbol in the same list at the same offset (aliases such as memalign and
    // aligned_alloc, mmap and mmap64 in glibc). Attach one probe per offset, not per name.
    std::string alias_of;
};

struct AllocatorObject {
    // "glibc", "jemalloc", "tcmalloc", "mimalloc", "musl", "static", "libstdc++", "other".
    // "static": the executable itself defines malloc (static binary or built-in allocator); which
    // allocator it links in statically shows in `markers` (e.g. "mallctl" for jemalloc).
    std::string kind;
    std::string path;                              // as the process sees it (maps), verbatim
    std::string host_path;                         // openable from the agent: <proc_root>/PID/root/<path>, or
                                                   // <proc_root>/PID/map_files/<start>-<end> for deleted/replaced files
    uint64_t dev = 0, ino = 0;                     // st_dev/st_ino of host_path (what the kernel keys uprobes on)
    unsigned map_dev_major = 0, map_dev_minor = 0; // device and inode as printed in maps
    uint64_t map_inode = 0;
    bool is_executable = false; // the main program
    bool deleted = false;
    std::string soname;               // DT_SONAME, empty for executables
    std::vector<ProbeSymbol> symbols; // the allocation functions it defines, with file offsets
    std::vector<std::string> markers; // identifying symbols found (mallctl, tc_malloc, mi_malloc, ...)
    std::vector<std::string> missing; // malloc-family names it does NOT define (allocator kinds only)
    bool defines(std::string_view name) const;
};

struct ProcessAllocators {
    pid_t pid = 0;
    std::string exe; // path of the executable as the process sees it
    bool is_go = false;
    std::string go_reason;                // e.g. "section .go.buildinfo"
    std::string active;                   // kind of the active malloc ("glibc", ...), empty if none found
    std::vector<AllocatorObject> objects; // every object defining any probed symbol, active first
    // Mapped executable files that could not be inspected (unopenable, not ELF, ...), one line each: the
    // reason a session gives when it finds no allocator to probe.
    std::vector<std::string> warnings;
};

// Throws UserError: "no such process: PID", "cannot read <maps>: <errno text>",
// "pid N is a kernel thread: nothing to trace", "pid N is a zombie ...",
// "process N exited during allocator detection".
ProcessAllocators detect_allocators(pid_t pid, const std::string& proc_root = "/proc");

// The names detect_allocators looks up, from the hook table (deep/alloc_hooks.h), in its order: those of one
// kind (HookKind::MallocFamily: the names `missing` is made of), or all of them.
const std::vector<std::string>& hook_names(HookKind kind);
const std::vector<std::string>& all_probe_names();

// A path the agent can open for a file mapped in a process (`base` is "/proc/PID"): <base>/root/<path> when it
// is still the mapped inode (works across mount namespaces), else <base>/map_files/<start>-<end>. nullopt, with a
// one-line reason in `why`, when neither can be reached.
struct HostFile {
    std::string path;
    struct stat st {};
};
std::optional<HostFile> host_file(const std::string& base, const MapEntry& m, std::string* why);

// ELF helpers usable on any file. Symbols are defined FUNC/GNU_IFUNC symbols with a non-zero value
// and global/weak binding, from .dynsym (default version preferred) then .symtab; the result
// follows the order of `names`, omitting names not found. Throws UserError if the file cannot be
// opened or is not ELF.
std::vector<ProbeSymbol> find_symbols(const std::string& elf_path, const std::vector<std::string>& names);
// Go binary: section .go.buildinfo or .gopclntab, or symbol runtime.main / runtime.goexit.
// False for a non-ELF file; throws UserError if the file cannot be opened.
bool is_go_binary(const std::string& elf_path, std::string* reason = nullptr);

} // namespace memsight::deep
