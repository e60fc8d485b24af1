// Tests for the one table of allocator hooks (userspace/deep/alloc_hooks.h) and its readers: every name
// detection looks up is probed (or is a marker), every handler program exists in the BPF object, the names
// site naming matches are the symbolizer's, and the allocators memsight supports define no hooked function
// as an IFUNC.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "deep/alloc_hooks.h"
#include "deep/allocators.h"
#include "deep/site_names.h"
#include "loader/alloc_probes.h"
#include "symbolize/symbolizer.h"

namespace memsight::deep {
namespace {

const std::string kLibDir = "/usr/lib/x86_64-linux-gnu";

TEST(AllocHooks, EveryDetectedNameIsProbedUnlessItIsAMarker)
{
    // The bug this table fixes: names detection found and the loader then silently did not probe.
    for (const auto& name : all_probe_names()) {
        const auto* hook = find_hook(name);
        ASSERT_NE(hook, nullptr) << name;
        EXPECT_EQ(loader::AllocProbes::is_probed_symbol(name), hook->kind != HookKind::Marker) << name;
    }
    EXPECT_EQ(all_probe_names().size(), kHooks.size());
    EXPECT_FALSE(loader::AllocProbes::is_probed_symbol("memcpy"));
    EXPECT_FALSE(loader::AllocProbes::is_probed_symbol("mallctl"));
}

TEST(AllocHooks, HandlerProgramsExistInTheBpfObject)
{
    EXPECT_EQ(loader::AllocProbes::missing_handler_programs(), std::vector<std::string>{});
}

TEST(AllocHooks, NothrowAndAlignedNothrowFormsUseTheNewAndFreeHandlers)
{
    for (const char* name : {"_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_tRKSt9nothrow_t",
                             "_ZnamSt11align_val_tRKSt9nothrow_t"}) {
        const auto* h = find_hook(name);
        ASSERT_NE(h, nullptr) << name;
        EXPECT_EQ(h->handler->entry, "new_enter") << name;
        EXPECT_EQ(h->handler->exit, "new_exit") << name;
        EXPECT_EQ(h->args[0], Arg::Size) << name; // size first, alignment second, like plain new
    }
    EXPECT_EQ(find_hook("_ZnwmSt11align_val_tRKSt9nothrow_t")->args[1], Arg::Align);
    for (const char* name : {"_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t", "_ZdlPvSt11align_val_tRKSt9nothrow_t",
                             "_ZdaPvSt11align_val_tRKSt9nothrow_t"}) {
        const auto* h = find_hook(name);
        ASSERT_NE(h, nullptr) << name;
        EXPECT_EQ(h->handler->entry, "free_enter") << name;
        EXPECT_TRUE(h->handler->exit.empty()) << name;
    }
}

TEST(AllocHooks, FrameNamesAreWhatTheSymbolizerShows)
{
    for (const auto& h : kHooks) {
        if (h.kind == HookKind::CxxOperator)
            EXPECT_EQ(h.frame_name, symbolize::demangle(std::string(h.symbol).c_str())) << h.symbol;
        else
            EXPECT_TRUE(h.frame_name.empty()) << h.symbol << ": C names are shown as they are";
    }
}

TEST(AllocHooks, SiteNamingSkipsEveryProbedFunctionAndNoMarker)
{
    symbolize::Frame f;
    f.module = "myservice"; // a static binary's own allocator: only the name tells
    for (const auto& h : kHooks) {
        f.function = std::string(h.shown_name());
        if (h.probed())
            EXPECT_TRUE(is_runtime_frame(f)) << f.function;
    }
    f.function = "mallctl"; // a program asking jemalloc for statistics is user code
    EXPECT_FALSE(is_runtime_frame(f));
}

TEST(AllocHooks, KindsListedForDetection)
{
    const auto& family = hook_names(HookKind::MallocFamily);
    EXPECT_EQ(family, (std::vector<std::string>{"malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign",
                                                "aligned_alloc", "memalign", "valloc", "pvalloc"}));
    EXPECT_EQ(hook_names(HookKind::MmapFamily), (std::vector<std::string>{"mmap", "mmap64", "munmap", "mremap"}));
    EXPECT_EQ(hook_names(HookKind::CxxOperator).size(), 20u); // 8 new + 12 delete forms
    EXPECT_EQ(hook_names(HookKind::Marker).size(), 6u);
}

// The C++ operators every library that defines them defines, all probed: libstdc++ and jemalloc/tcmalloc define
// all 20 forms (mimalloc lacks the nothrow deletes, which call plain delete anyway).
TEST(AllocHooks, LibrariesDefineEveryOperatorFormTheTableLists)
{
    for (const char* lib : {"libstdc++.so.6", "libjemalloc.so.2", "libtcmalloc.so.4"}) {
        const std::string path = kLibDir + "/" + lib;
        if (!std::filesystem::exists(path))
            continue;
        const auto found = find_symbols(path, hook_names(HookKind::CxxOperator));
        EXPECT_EQ(found.size(), 20u) << lib;
    }
}

// IFUNC symbols are refused (their offset is the resolver): check that none of the allocators memsight supports
// defines a hooked function as one, so refusing costs nothing on them.
TEST(AllocHooks, NoSupportedAllocatorDefinesAHookedFunctionAsIfunc)
{
    int checked = 0;
    for (const char* lib : {"libc.so.6", "libstdc++.so.6", "libjemalloc.so.2", "libtcmalloc.so.4",
                            "libtcmalloc_minimal.so.4", "libmimalloc.so.2"}) {
        const std::string path = kLibDir + "/" + lib;
        if (!std::filesystem::exists(path))
            continue;
        ++checked;
        for (const auto& s : find_symbols(path, all_probe_names()))
            EXPECT_FALSE(s.ifunc) << lib << ": " << s.name;
    }
    EXPECT_GE(checked, 2); // libc and libstdc++ at least
}

} // namespace
} // namespace memsight::deep
