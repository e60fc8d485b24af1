#pragma once
// The one table of allocator hooks: every function the deep tier looks up in a process's ELF files, what
// kind it is, the pair of BPF programs (bpf/alloc.bpf.c) that handles it and its argument layout.
//
// Everything else is read from here: allocator detection (which names to look up, which ones are markers,
// which ones are reported as `missing`), the loader's attach list (which programs a symbol gets), and site
// naming (which frames are allocator frames). Adding a hook is one row in kHooks, plus a BPF program pair
// (and its handler:: constant) only when no existing handler reads its arguments (docs/architecture.md, "How to
// add an allocator hook"). The static_asserts at the end check the table against itself and against the
// BPF side's function ids.
#include "memsight/alloc_events.h"

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace memsight::deep {

enum class HookKind {
    MallocFamily, // malloc ... pvalloc: an allocator object that lacks one reports it as `missing`
    MmapFamily,   // mmap, munmap, mremap: anonymous mappings made outside the allocator
    CxxOperator,  // global operator new/delete (LP64 Itanium mangling: size_t is `m`)
    Marker,       // identifies an allocator (jemalloc, tcmalloc, mimalloc); never probed
};

// What a parameter is, in call order (x86-64 / aarch64: the first four integer registers).
enum class Arg {
    None, // no (further) parameter
    Size,
    Count, // calloc/reallocarray: nmemb
    Align,
    Ptr,     // the block a free/realloc takes
    OutPtr,  // posix_memalign's memptr
    Nothrow, // std::nothrow_t const&: not read, the call returns NULL instead of throwing
    Addr,    // mmap-family address
    Len,
    Prot,
    Flags,
    OldLen,
    NewLen,
};

using ArgList = std::array<Arg, 4>;

// A pair of programs in bpf/alloc.bpf.c. `reads` lists the leading parameters the entry program takes (its
// BPF_KPROBE arguments) in order: a hook may use the handler only if its own parameters start with these.
// `fn` is the MEMSIGHT_FN_* id the pair keys its per-thread entry state with (0: the pair keeps none).
struct BpfHandler {
    std::string_view entry; // SEC("uprobe") program
    std::string_view exit;  // SEC("uretprobe") program; empty when the result does not matter
    ArgList reads;
    unsigned fn;
};

namespace handler {
// clang-format off
inline constexpr BpfHandler malloc{"malloc_enter", "malloc_exit", {Arg::Size}, MEMSIGHT_FN_MALLOC};
inline constexpr BpfHandler calloc{"calloc_enter", "calloc_exit", {Arg::Count, Arg::Size}, MEMSIGHT_FN_CALLOC};
inline constexpr BpfHandler realloc{"realloc_enter", "realloc_exit", {Arg::Ptr, Arg::Size}, MEMSIGHT_FN_REALLOC};
inline constexpr BpfHandler reallocarray{"reallocarray_enter", "reallocarray_exit",
                                         {Arg::Ptr, Arg::Count, Arg::Size}, MEMSIGHT_FN_REALLOCARRAY};
inline constexpr BpfHandler posix_memalign{"posix_memalign_enter", "posix_memalign_exit",
                                           {Arg::OutPtr, Arg::Align, Arg::Size}, MEMSIGHT_FN_POSIX_MEMALIGN};
inline constexpr BpfHandler aligned_alloc{"aligned_alloc_enter", "aligned_alloc_exit", {Arg::Align, Arg::Size},
                                          MEMSIGHT_FN_ALIGNED_ALLOC};
inline constexpr BpfHandler memalign{"memalign_enter", "memalign_exit", {Arg::Align, Arg::Size}, MEMSIGHT_FN_MEMALIGN};
inline constexpr BpfHandler valloc{"valloc_enter", "valloc_exit", {Arg::Size}, MEMSIGHT_FN_VALLOC};
inline constexpr BpfHandler pvalloc{"pvalloc_enter", "pvalloc_exit", {Arg::Size}, MEMSIGHT_FN_PVALLOC};
// Every operator new form: the size comes first; alignment and nothrow_t (if any) follow and are not read.
inline constexpr BpfHandler op_new{"new_enter", "new_exit", {Arg::Size}, MEMSIGHT_FN_NEW};
// free and every operator delete form: the block comes first; size, alignment and nothrow_t are not read.
inline constexpr BpfHandler free{"free_enter", "", {Arg::Ptr}, 0};
inline constexpr BpfHandler mmap{"mmap_enter", "mmap_exit", {Arg::Addr, Arg::Len, Arg::Prot, Arg::Flags}, MEMSIGHT_FN_MMAP};
inline constexpr BpfHandler munmap{"munmap_enter", "", {Arg::Addr, Arg::Len}, 0};
inline constexpr BpfHandler mremap{"mremap_enter", "mremap_exit", {Arg::Addr, Arg::OldLen, Arg::NewLen},
                                   MEMSIGHT_FN_MREMAP};
// clang-format on
} // namespace handler

struct HookSpec {
    std::string_view symbol;     // as in .dynsym/.symtab
    std::string_view frame_name; // how the symbolizer names a frame in it (demangled); empty: same as symbol
    HookKind kind;
    const BpfHandler* handler;       // nullptr for markers
    ArgList args;                    // the function's parameters in order
    std::string_view allocator = {}; // markers: the allocator kind they identify (AllocatorObject::kind)

    constexpr std::string_view shown_name() const { return frame_name.empty() ? symbol : frame_name; }
    constexpr bool probed() const { return handler != nullptr; }
};

// Order matters in two places only: lookups follow it (aliases: the first name at an offset is probed, see
// ProbeSymbol::alias_of) and the malloc family's order is the order of `missing`.
// clang-format off
inline constexpr std::array kHooks = {
    // malloc family
    HookSpec{"malloc",         "", HookKind::MallocFamily, &handler::malloc,         {Arg::Size}},
    HookSpec{"calloc",         "", HookKind::MallocFamily, &handler::calloc,         {Arg::Count, Arg::Size}},
    HookSpec{"realloc",        "", HookKind::MallocFamily, &handler::realloc,        {Arg::Ptr, Arg::Size}},
    HookSpec{"reallocarray",   "", HookKind::MallocFamily, &handler::reallocarray,   {Arg::Ptr, Arg::Count, Arg::Size}},
    HookSpec{"free",           "", HookKind::MallocFamily, &handler::free,           {Arg::Ptr}},
    HookSpec{"posix_memalign", "", HookKind::MallocFamily, &handler::posix_memalign, {Arg::OutPtr, Arg::Align, Arg::Size}},
    HookSpec{"aligned_alloc",  "", HookKind::MallocFamily, &handler::aligned_alloc,  {Arg::Align, Arg::Size}},
    HookSpec{"memalign",       "", HookKind::MallocFamily, &handler::memalign,       {Arg::Align, Arg::Size}},
    HookSpec{"valloc",         "", HookKind::MallocFamily, &handler::valloc,         {Arg::Size}},
    HookSpec{"pvalloc",        "", HookKind::MallocFamily, &handler::pvalloc,        {Arg::Size}},
    // mmap family (mmap64 is mmap's alias in glibc: one probe per offset)
    HookSpec{"mmap",   "", HookKind::MmapFamily, &handler::mmap,   {Arg::Addr, Arg::Len, Arg::Prot, Arg::Flags}},
    HookSpec{"mmap64", "", HookKind::MmapFamily, &handler::mmap,   {Arg::Addr, Arg::Len, Arg::Prot, Arg::Flags}},
    HookSpec{"munmap", "", HookKind::MmapFamily, &handler::munmap, {Arg::Addr, Arg::Len}},
    HookSpec{"mremap", "", HookKind::MmapFamily, &handler::mremap, {Arg::Addr, Arg::OldLen, Arg::NewLen, Arg::Flags}},
    // C++ operators. The nothrow forms (libstdc++'s, jemalloc's) call the throwing ones from code without a frame
    // pointer: each form is probed itself, or a frame-pointer walk from the inner call loses the caller.
    HookSpec{"_Znwm", "operator new(unsigned long)", HookKind::CxxOperator, &handler::op_new, {Arg::Size}},
    HookSpec{"_Znam", "operator new[](unsigned long)", HookKind::CxxOperator, &handler::op_new, {Arg::Size}},
    HookSpec{"_ZnwmRKSt9nothrow_t", "operator new(unsigned long, std::nothrow_t const&)",
             HookKind::CxxOperator, &handler::op_new, {Arg::Size, Arg::Nothrow}},
    HookSpec{"_ZnamRKSt9nothrow_t", "operator new[](unsigned long, std::nothrow_t const&)",
             HookKind::CxxOperator, &handler::op_new, {Arg::Size, Arg::Nothrow}},
    HookSpec{"_ZnwmSt11align_val_t", "operator new(unsigned long, std::align_val_t)",
             HookKind::CxxOperator, &handler::op_new, {Arg::Size, Arg::Align}},
    HookSpec{"_ZnamSt11align_val_t", "operator new[](unsigned long, std::align_val_t)",
             HookKind::CxxOperator, &handler::op_new, {Arg::Size, Arg::Align}},
    HookSpec{"_ZnwmSt11align_val_tRKSt9nothrow_t", "operator new(unsigned long, std::align_val_t, std::nothrow_t const&)",
             HookKind::CxxOperator, &handler::op_new, {Arg::Size, Arg::Align, Arg::Nothrow}},
    HookSpec{"_ZnamSt11align_val_tRKSt9nothrow_t", "operator new[](unsigned long, std::align_val_t, std::nothrow_t const&)",
             HookKind::CxxOperator, &handler::op_new, {Arg::Size, Arg::Align, Arg::Nothrow}},
    HookSpec{"_ZdlPv", "operator delete(void*)", HookKind::CxxOperator, &handler::free, {Arg::Ptr}},
    HookSpec{"_ZdaPv", "operator delete[](void*)", HookKind::CxxOperator, &handler::free, {Arg::Ptr}},
    HookSpec{"_ZdlPvm", "operator delete(void*, unsigned long)",
             HookKind::CxxOperator, &handler::free, {Arg::Ptr, Arg::Size}},
    HookSpec{"_ZdaPvm", "operator delete[](void*, unsigned long)",
             HookKind::CxxOperator, &handler::free, {Arg::Ptr, Arg::Size}},
    HookSpec{"_ZdlPvSt11align_val_t", "operator delete(void*, std::align_val_t)",
             HookKind::CxxOperator, &handler::free, {Arg::Ptr, Arg::Align}},
    HookSpec{"_ZdaPvSt11align_val_t", "operator delete[](void*, std::align_val_t)",
             HookKind::CxxOperator, &handler::free, {Arg::Ptr, Arg::Align}},
    HookSpec{"_ZdlPvmSt11align_val_t", "operator delete(void*, unsigned long, std::align_val_t)",
             HookKind::CxxOperator, &handler::free, {Arg::Ptr, Arg::Size, Arg::Align}},
    HookSpec{"_ZdaPvmSt11align_val_t", "operator delete[](void*, unsigned long, std::align_val_t)",
             HookKind::CxxOperator, &handler::free, {Arg::Ptr, Arg::Size, Arg::Align}},
    HookSpec{"_ZdlPvRKSt9nothrow_t", "operator delete(void*, std::nothrow_t const&)",
             HookKind::CxxOperator, &handler::free, {Arg::Ptr, Arg::Nothrow}},
    HookSpec{"_ZdaPvRKSt9nothrow_t", "operator delete[](void*, std::nothrow_t const&)",
             HookKind::CxxOperator, &handler::free, {Arg::Ptr, Arg::Nothrow}},
    HookSpec{"_ZdlPvSt11align_val_tRKSt9nothrow_t", "operator delete(void*, std::align_val_t, std::nothrow_t const&)",
             HookKind::CxxOperator, &handler::free, {Arg::Ptr, Arg::Align, Arg::Nothrow}},
    HookSpec{"_ZdaPvSt11align_val_tRKSt9nothrow_t", "operator delete[](void*, std::align_val_t, std::nothrow_t const&)",
             HookKind::CxxOperator, &handler::free, {Arg::Ptr, Arg::Align, Arg::Nothrow}},
    // markers: identify an allocator library (classification); tcmalloc's in C and C++ spelling
    HookSpec{"mallctl",                         "", HookKind::Marker, nullptr, {}, "jemalloc"},
    HookSpec{"je_mallctl",                      "", HookKind::Marker, nullptr, {}, "jemalloc"},
    HookSpec{"tc_malloc",                       "", HookKind::Marker, nullptr, {}, "tcmalloc"},
    HookSpec{"MallocExtension_Instance",        "", HookKind::Marker, nullptr, {}, "tcmalloc"},
    HookSpec{"_ZN15MallocExtension8instanceEv", "", HookKind::Marker, nullptr, {}, "tcmalloc"},
    HookSpec{"mi_malloc",                       "", HookKind::Marker, nullptr, {}, "mimalloc"},
};
// clang-format on

// The row for an ELF symbol name; nullptr for names memsight does not look up.
constexpr const HookSpec* find_hook(std::string_view symbol)
{
    for (const auto& h : kHooks)
        if (h.symbol == symbol)
            return &h;
    return nullptr;
}

// The row whose frames are named `function` by the symbolizer (demangled), markers excluded.
constexpr const HookSpec* find_hook_by_frame(std::string_view function)
{
    for (const auto& h : kHooks)
        if (h.probed() && h.shown_name() == function)
            return &h;
    return nullptr;
}

// ---- consistency of the table, checked at compile time ----
namespace hook_checks {

constexpr bool handler_reads_fit_args()
{
    for (const auto& h : kHooks) {
        if (!h.probed())
            continue;
        for (size_t i = 0; i < h.handler->reads.size(); ++i)
            if (h.handler->reads[i] != Arg::None && h.handler->reads[i] != h.args[i])
                return false;
    }
    return true;
}

constexpr bool symbols_unique()
{
    for (size_t i = 0; i < kHooks.size(); ++i)
        for (size_t j = i + 1; j < kHooks.size(); ++j)
            if (kHooks[i].symbol == kHooks[j].symbol)
                return false;
    return true;
}

constexpr bool markers_only_unprobed()
{
    for (const auto& h : kHooks)
        if ((h.kind == HookKind::Marker) == h.probed() || (h.kind == HookKind::Marker) == h.allocator.empty())
            return false;
    return true;
}

// Every MEMSIGHT_FN_* id of the BPF side belongs to exactly one handler in use, and a handler keys its entry
// state with one exactly when it has a return program: a BPF pair added without its id, or an id whose pair
// no hook uses, fails here.
constexpr bool fn_ids_match_bpf()
{
    for (unsigned fn = 1; fn < MEMSIGHT_FN__MAX; ++fn) {
        const BpfHandler* owner = nullptr;
        for (const auto& h : kHooks) {
            if (!h.probed() || h.handler->fn != fn)
                continue;
            if (owner != nullptr && owner != h.handler)
                return false; // two handlers share an id
            owner = h.handler;
        }
        if (owner == nullptr)
            return false; // an id no hook's handler uses
    }
    for (const auto& h : kHooks)
        if (h.probed() && (h.handler->fn >= MEMSIGHT_FN__MAX || h.handler->exit.empty() != (h.handler->fn == 0)))
            return false;
    return true;
}

} // namespace hook_checks

static_assert(hook_checks::handler_reads_fit_args(), "a hook's handler reads arguments the hook does not take");
static_assert(hook_checks::symbols_unique(), "a symbol is listed twice in kHooks");
static_assert(hook_checks::markers_only_unprobed(),
              "markers name an allocator and have no handler; every other hook has one");
static_assert(hook_checks::fn_ids_match_bpf(), "handlers and MEMSIGHT_FN_* (memsight/alloc_events.h) disagree");

} // namespace memsight::deep
