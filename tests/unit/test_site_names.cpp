// Tests for how the deep tier names a call site (userspace/deep/site_names): which frames belong to the
// allocator or the language runtime (by module, by exact malloc-family name, by runtime prefixes such as
// operator new and std::), and which frame of a stack names the site.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "deep/site_names.h"

namespace memsight::deep {
namespace {

symbolize::Frame frame(std::string function, std::string module)
{
    symbolize::Frame f;
    f.function = std::move(function);
    f.module = std::move(module);
    return f;
}

constexpr const char* kApp = "myservice";

TEST(SiteNamesRuntime, AllocatorAndRuntimeLibrariesByModule)
{
    for (const char* module :
         {"libc.so.6", "libstdc++.so.6", "libjemalloc.so.2", "libtcmalloc.so.4", "libtcmalloc_minimal.so.4",
          "libmimalloc.so.2", "ld-linux-x86-64.so.2", "libgcc_s.so.1", "libc-2.31.so"}) {
        EXPECT_TRUE(is_runtime_frame(frame("some_internal_function", module))) << module;
        EXPECT_TRUE(is_runtime_frame(frame("", module))) << module << " without a symbol";
    }
}

TEST(SiteNamesRuntime, OtherLibrariesAreNotRuntime)
{
    // Libraries whose names merely start like libc: they are user code from the allocator's point of view.
    for (const char* module : {"libcrypto.so.3", "libcurl.so.4", "libcap.so.2", "libcjson.so.1", "libz.so.1",
                               "libssl.so.3", "libprotobuf.so.32", kApp}) {
        EXPECT_FALSE(is_runtime_frame(frame("do_work", module))) << module;
    }
}

TEST(SiteNamesRuntime, MallocFamilyByExactNameInAnyModule)
{
    // A statically linked allocator lives in the binary itself: the names alone identify it.
    for (const char* fn : {"malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc",
                           "memalign", "valloc", "pvalloc", "mmap", "mmap64", "mremap", "munmap"}) {
        EXPECT_TRUE(is_runtime_frame(frame(fn, kApp))) << fn;
    }
}

TEST(SiteNamesRuntime, RuntimePrefixesInAnyModule)
{
    for (const char* fn :
         {"operator new(unsigned long)", "operator new[](unsigned long)",
          "operator new(unsigned long, std::align_val_t)", "operator delete(void*, unsigned long)",
          "operator new(unsigned long, std::nothrow_t const&)",
          "operator new[](unsigned long, std::align_val_t, std::nothrow_t const&)",
          "operator delete(void*, std::align_val_t, std::nothrow_t const&)", "__libc_malloc", "_int_malloc",
          "je_malloc", "tc_malloc", "mi_malloc",
          "tcmalloc::ThreadCache::FetchFromCentralCache(unsigned int, int, void* (*)(unsigned long))",
          "__gnu_cxx::new_allocator<int>::allocate(unsigned long, void const*)", "__mmap", "__munmap", "__mremap"}) {
        EXPECT_TRUE(is_runtime_frame(frame(fn, kApp))) << fn;
    }
}

TEST(SiteNamesRuntime, StdTemplatesInlinedIntoUserBinaryAreRuntime)
{
    EXPECT_TRUE(is_runtime_frame(frame("std::vector<int, std::allocator<int> >::push_back(int const&)", kApp)));
    EXPECT_TRUE(is_runtime_frame(frame("std::vector<int>::push_back", kApp)));
    EXPECT_TRUE(is_runtime_frame(
        frame("std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::_M_mutate(unsigned "
              "long, unsigned long, char const*, unsigned long)",
              kApp)));
    EXPECT_TRUE(
        is_runtime_frame(frame("std::_Hashtable<int, std::pair<int const, int>>::_M_insert_unique_node", kApp)));
}

TEST(SiteNamesRuntime, TemplateInstancesAreJudgedWithoutTheirReturnType)
{
    // The demangler puts a function template instance's return type first.
    EXPECT_TRUE(is_runtime_frame(
        frame("void std::vector<Record*, std::allocator<Record*> >::_M_realloc_insert<Record*>(__gnu_cxx::"
              "__normal_iterator<Record**, std::vector<Record*, std::allocator<Record*> > >, Record*&&)",
              kApp)));
    EXPECT_TRUE(is_runtime_frame(frame("std::pair<int, int>* std::__new_allocator<int>::allocate<int>(int)", kApp)));
    EXPECT_FALSE(is_runtime_frame(frame("int leak_template<int>(int)", kApp)));
    EXPECT_FALSE(is_runtime_frame(frame("std::vector<int, std::allocator<int> > make_records<int>(int)", kApp)));
}

TEST(SiteNamesRuntime, UserFunctionsWithAllocatorLikeNamesAreNotRuntime)
{
    // The malloc family is matched by exact name: functions that merely begin with such a name are user code.
    for (const char* fn : {"malloc_stats_report", "free_list_push", "freeze", "mallocator", "callocate_buffers",
                           "reallocate", "freelist::pop()", "mmap_file(char const*)", "munmap_all", "valloc_pool",
                           "memalign_up", "free_", "Pool::free(void*)", "Arena::malloc(unsigned long)"}) {
        EXPECT_FALSE(is_runtime_frame(frame(fn, kApp))) << fn;
    }
}

TEST(SiteNamesRuntime, UserCodeNamedLikeTheStandardLibraryIsNotRuntime)
{
    // Class-specific operator new and namespaces that only start with "std".
    for (const char* fn : {"Widget::operator new(unsigned long)", "stdx::make_buffer()", "stdout_writer::flush()",
                           "standard_cache::insert(int)", "my::std::thing()", "main", "build_index(int)",
                           "(anonymous namespace)::leak_some()", "main::{lambda()#1}::operator()() const"}) {
        EXPECT_FALSE(is_runtime_frame(frame(fn, kApp))) << fn;
    }
}

TEST(SiteNamesRuntime, UnsymbolizedUserFrameIsNotRuntime)
{
    EXPECT_FALSE(is_runtime_frame(frame("", kApp)));
    EXPECT_FALSE(is_runtime_frame(frame("", "")));
}

TEST(SiteNamesIndex, EmptyStackIsZero)
{
    EXPECT_EQ(site_index({}), 0u);
}

TEST(SiteNamesIndex, FirstFrameIsUserCode)
{
    EXPECT_EQ(site_index({frame("build_index(int)", kApp), frame("main", kApp)}), 0u);
}

TEST(SiteNamesIndex, SkipsAllocatorAndInlinedStdFrames)
{
    const std::vector<symbolize::Frame> stack = {
        frame("malloc", "libc.so.6"),
        frame("operator new(unsigned long)", "libstdc++.so.6"),
        frame("std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>(int*, int const&)", kApp),
        frame("std::vector<int>::push_back", kApp),
        frame("build_index(int)", kApp),
        frame("main", kApp),
        frame("__libc_start_call_main", "libc.so.6"),
    };
    EXPECT_EQ(site_index(stack), 4u);
}

TEST(SiteNamesIndex, UserFunctionWithMallocLikeNameIsTheSite)
{
    const std::vector<symbolize::Frame> stack = {
        frame("je_malloc", "libjemalloc.so.2"),
        frame("malloc_stats_report", kApp),
        frame("main", kApp),
    };
    EXPECT_EQ(site_index(stack), 1u);
    const std::vector<symbolize::Frame> stack2 = {
        frame("tc_malloc", "libtcmalloc.so.4"),
        frame("free_list_push", kApp),
        frame("main", kApp),
    };
    EXPECT_EQ(site_index(stack2), 1u);
}

TEST(SiteNamesIndex, StaticallyLinkedAllocatorIsSkipped)
{
    const std::vector<symbolize::Frame> stack = {
        frame("_int_malloc", kApp),
        frame("malloc", kApp),
        frame("make_request()", kApp),
    };
    EXPECT_EQ(site_index(stack), 2u);
}

TEST(SiteNamesIndex, MmapCallerIsTheSite)
{
    const std::vector<symbolize::Frame> stack = {
        frame("mmap64", "libc.so.6"),
        frame("map_arena(unsigned long)", kApp),
        frame("main", kApp),
    };
    EXPECT_EQ(site_index(stack), 1u);
}

TEST(SiteNamesIndex, AllRuntimeFramesPickTheLast)
{
    const std::vector<symbolize::Frame> stack = {
        frame("malloc", "libc.so.6"),
        frame("operator new(unsigned long)", "libstdc++.so.6"),
        frame("__libc_start_main", "libc.so.6"),
    };
    EXPECT_EQ(site_index(stack), 2u);
    EXPECT_EQ(site_index({frame("malloc", "libc.so.6")}), 0u);
}

TEST(SiteNamesIndex, UnsymbolizedUserFrameIsTheSite)
{
    const std::vector<symbolize::Frame> stack = {
        frame("malloc", "libc.so.6"),
        frame("", kApp), // stripped binary: module+offset names the site
        frame("main", kApp),
    };
    EXPECT_EQ(site_index(stack), 1u);
}

TEST(SiteNames, TheInnermostNamedPythonFrameIsTheSiteOfAPythonStack)
{
    auto py = [](std::string function) {
        symbolize::Frame f = frame(std::move(function), "/srv/app/views.py");
        f.python = true;
        f.line = 58;
        return f;
    };
    // CPython's own functions (in the static executable, so not runtime frames by module) come before it.
    const std::vector<symbolize::Frame> stack{frame("_PyObject_Malloc", "python3.11"), py(""),
                                              py("CachedReport.__init__"), frame("type_call", "python3.11"),
                                              py("leaky_view")};
    EXPECT_EQ(site_index(stack), 2u); // the unnamed frame (its code object was unreadable) is skipped
    EXPECT_EQ(site_name(stack), "CachedReport.__init__");
    EXPECT_EQ(stack[2].to_string(), "CachedReport.__init__ (/srv/app/views.py:58)");
}

} // namespace
} // namespace memsight::deep
