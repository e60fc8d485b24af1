// The pure parts of the Python heap census: layout selection, names, sizes, the diff of two censuses.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <variant>

#include "python/census.h"
#include "python/layout.h"

namespace memsight::python {
namespace {

std::vector<uint8_t> fixture(const std::string& name)
{
    std::ifstream in(std::string(MEMSIGHT_FIXTURES) + "/python/" + name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

constexpr uint32_t k3_11_7 = 0x030b07f0, k3_12_1 = 0x030c01f0, k3_13_0 = 0x030d00f0;

TEST(PythonLayout, VersionText)
{
    EXPECT_EQ(version_text(k3_11_7), "3.11.7");
    EXPECT_EQ(version_text(0x030d00c1), "3.13.0rc1");
    EXPECT_EQ(version_text(0x030e00a3), "3.14.0a3");
}

TEST(PythonLayout, TableFor311)
{
    const auto r = select_layout(k3_11_7, {});
    ASSERT_TRUE(std::holds_alternative<Layout>(r));
    const auto& l = std::get<Layout>(r);
    EXPECT_EQ(l.source, "version table");
    EXPECT_EQ(l.runtime_interpreters_head, 40u);
    EXPECT_EQ(l.interp_gc, 648u);
    EXPECT_EQ(l.ht_qualname, 864u);
    EXPECT_EQ(l.ascii_object_size, 48u); // 3.11 still has wstr
    ASSERT_EQ(l.gc_lists.size(), 4u);
    EXPECT_EQ(l.gc_lists.front().name, "permanent"); // oldest first
    EXPECT_EQ(l.gc_lists.back().offset, 0u);         // generation 0, at the generation0 pointer
    EXPECT_TRUE(l.gc_lists.back().from_generation0);
    EXPECT_FALSE(l.gc_lists.front().from_generation0);
    // Frames (offsetof() against 3.11.7's headers): reached through tstate->cframe, is_entry marks eval calls.
    EXPECT_EQ(l.interp_threads_head, 16u);
    EXPECT_EQ(l.tstate_native_thread_id, 160u);
    EXPECT_EQ(l.tstate_cframe, 56u);
    EXPECT_EQ(l.tstate_current_frame, Layout::kNoOffset);
    EXPECT_EQ(l.frame_code, 32u);
    EXPECT_EQ(l.frame_previous, 48u);
    EXPECT_EQ(l.frame_is_entry, 68u);
    EXPECT_EQ(l.owner_cstack, Layout::kNoOffset);
    EXPECT_EQ(l.code_adaptive, 184u);
}

TEST(PythonLayout, TableFor312)
{
    const auto r = select_layout(k3_12_1, {});
    ASSERT_TRUE(std::holds_alternative<Layout>(r));
    EXPECT_EQ(std::get<Layout>(r).interp_gc, 112u);
    EXPECT_EQ(std::get<Layout>(r).ascii_object_size, 40u);
    EXPECT_EQ(std::get<Layout>(r).interp_threads_head, 72u);
    EXPECT_EQ(std::get<Layout>(r).frame_previous, 8u);
    EXPECT_EQ(std::get<Layout>(r).frame_is_entry, Layout::kNoOffset);
    EXPECT_EQ(std::get<Layout>(r).owner_cstack, 3u);
    EXPECT_EQ(std::get<Layout>(r).code_adaptive, 192u);
}

TEST(PythonLayout, DebugOffsetsOf313)
{
    const auto bytes = fixture("debug_offsets_3.13.0.bin"); // the first 584 bytes of 3.13.0's _PyRuntime
    ASSERT_EQ(bytes.size(), 584u);
    const auto r = select_layout(k3_13_0, bytes);
    ASSERT_TRUE(std::holds_alternative<Layout>(r)) << std::get<LayoutError>(r).message;
    const auto& l = std::get<Layout>(r);
    EXPECT_EQ(l.source, "_Py_DebugOffsets");
    EXPECT_EQ(l.runtime_interpreters_head, 632u);
    EXPECT_EQ(l.interp_id, 7272u);
    EXPECT_EQ(l.interp_gc, 7400u);
    EXPECT_EQ(l.tp_name, 24u);
    EXPECT_EQ(l.tp_flags, 168u);
    EXPECT_EQ(l.ascii_object_size, 40u);
    EXPECT_EQ(l.compact_object_size, 56u);
    EXPECT_EQ(l.dict_ma_keys, 32u);
    // Threads, frames and code as published, equal to offsetof() against 3.13.0's headers.
    EXPECT_EQ(l.interp_threads_head, 7344u);
    EXPECT_EQ(l.tstate_next, 8u);
    EXPECT_EQ(l.tstate_native_thread_id, 160u);
    EXPECT_EQ(l.tstate_current_frame, 72u);
    EXPECT_EQ(l.tstate_cframe, Layout::kNoOffset);
    EXPECT_EQ(l.frame_previous, 8u);
    EXPECT_EQ(l.frame_code, 0u);
    EXPECT_EQ(l.frame_instr, 56u);
    EXPECT_EQ(l.frame_owner, 70u);
    EXPECT_EQ(l.code_filename, 112u);
    EXPECT_EQ(l.code_qualname, 128u);
    EXPECT_EQ(l.code_linetable, 136u);
    EXPECT_EQ(l.code_firstlineno, 68u);
    EXPECT_EQ(l.code_adaptive, 200u);
}

TEST(PythonLayout, DebugOffsetsRefusals)
{
    auto bytes = fixture("debug_offsets_3.13.0.bin");
    ASSERT_EQ(bytes.size(), 584u);

    auto bad_cookie = bytes;
    bad_cookie[0] = 'y';
    auto r = select_layout(k3_13_0, bad_cookie);
    ASSERT_TRUE(std::holds_alternative<LayoutError>(r));
    EXPECT_NE(std::get<LayoutError>(r).message.find("xdebugpy"), std::string::npos);

    auto free_threaded = bytes;
    free_threaded[16] = 1;
    r = select_layout(k3_13_0, free_threaded);
    ASSERT_TRUE(std::holds_alternative<LayoutError>(r));
    EXPECT_NE(std::get<LayoutError>(r).message.find("free-threaded"), std::string::npos);

    r = select_layout(k3_13_0, std::span<const uint8_t>(bytes).first(100)); // too short
    ASSERT_TRUE(std::holds_alternative<LayoutError>(r));

    auto other_gc = bytes;
    other_gc[568] = 0x10; // _Py_DebugOffsets.gc.size no longer 240
    r = select_layout(k3_13_0, other_gc);
    ASSERT_TRUE(std::holds_alternative<LayoutError>(r));
    EXPECT_NE(std::get<LayoutError>(r).message.find("GC state"), std::string::npos);
}

TEST(PythonLayout, UnknownVersionsAreNamed)
{
    for (uint32_t v : {0x030a0cf0u, 0x030e00f0u, 0x02070ff0u}) {
        const auto r = select_layout(v, {});
        ASSERT_TRUE(std::holds_alternative<LayoutError>(r));
        EXPECT_NE(std::get<LayoutError>(r).message.find("unsupported Python version " + version_text(v)),
                  std::string::npos);
    }
}

TEST(PythonCensus, QualifiedName)
{
    EXPECT_EQ(qualified_name("__main__", "Session"), "__main__.Session");
    EXPECT_EQ(qualified_name("app.views", "Handler.Session"), "app.views.Handler.Session");
    EXPECT_EQ(qualified_name("builtins", "MyError"), "MyError");
    EXPECT_EQ(qualified_name("", "Orphan"), "Orphan");
}

TEST(PythonCensus, ObjectSize)
{
    const auto l311 = std::get<Layout>(select_layout(k3_11_7, {}));
    // An instance of a plain class on 3.11: basicsize 24 (object + __weakref__), the GC header, the managed dict's
    // 2 pre-header pointers (sys.getsizeof(A()) == 56 on 3.11).
    EXPECT_EQ(object_size(l311, 24, 0, 0, 1u << 4, false, 0), 56u);
    // A 3-tuple: 24 + 3 * 8 + GC header (sys.getsizeof((1, 2, 3)) == 64 on 3.11).
    EXPECT_EQ(object_size(l311, 24, 8, 3, 0, false, 0), 64u);
    // An empty list with capacity 4: 40 + 16 + 4 * 8 (sys.getsizeof after growing: 88).
    EXPECT_EQ(object_size(l311, 40, 0, 1, 0, true, 4), 88u);
    // A negative ob_size (an int subclass's sign) counts its magnitude.
    EXPECT_EQ(object_size(l311, 24, 4, -2, 0, false, 0), 24u + 8 + 16);
}

TEST(PythonCensus, Diff)
{
    Census a, b;
    a.at = std::chrono::steady_clock::time_point(std::chrono::seconds(100));
    b.at = a.at + std::chrono::seconds(4);
    a.types = {{"__main__.Session", 1000, 56000}, {"dict", 500, 32000}, {"tuple", 10, 640}};
    b.types = {{"__main__.Session", 1800, 100800}, {"dict", 500, 32000}, {"list", 2, 112}};
    const auto d = diff(a, b);
    ASSERT_EQ(d.size(), 3u); // dict did not change
    EXPECT_EQ(d[0].type, "__main__.Session");
    EXPECT_EQ(d[0].count_delta, 800);
    EXPECT_DOUBLE_EQ(d[0].count_per_s, 200.0);
    EXPECT_DOUBLE_EQ(d[0].bytes_per_s, 11200.0);
    EXPECT_EQ(d[1].type, "list"); // appeared
    EXPECT_EQ(d[1].count_first, 0u);
    EXPECT_EQ(d[2].type, "tuple"); // gone
    EXPECT_EQ(d[2].count_delta, -10);
    EXPECT_EQ(d[2].count_last, 0u);
}

TEST(PythonCensus, CodeUnitsToUtf8)
{
    const uint8_t latin1[] = {'c', 0xe9};
    EXPECT_EQ(code_units_to_utf8(latin1, 2, 1), "c\xc3\xa9");
    const uint16_t ucs2[] = {0x0421, 0x0442}; // "Ст"
    EXPECT_EQ(code_units_to_utf8(reinterpret_cast<const uint8_t*>(ucs2), 2, 2), "\xd0\xa1\xd1\x82");
    const uint32_t ucs4[] = {0x1f600, 0xd800}; // an emoji, and a lone surrogate replaced
    EXPECT_EQ(code_units_to_utf8(reinterpret_cast<const uint8_t*>(ucs4), 2, 4), "\xf0\x9f\x98\x80\xef\xbf\xbd");
}

} // namespace
} // namespace memsight::python
