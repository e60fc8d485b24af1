// Tests for the pprof and folded-stack encoders (userspace/profile): the pprof output is gunzipped and decoded
// with the generated profile.proto classes, the folded output is compared as text.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <zlib.h>

#include "profile/pprof.pb.h"
#include "profile/profile.h"

namespace memsight::profile {
namespace {

std::string gunzip(const std::string& gz)
{
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        ADD_FAILURE() << "inflateInit2 failed";
        return {};
    }
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    zs.avail_in = static_cast<uInt>(gz.size());
    std::string out;
    char buf[16384];
    int rc = Z_OK;
    while (rc == Z_OK) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        out.append(buf, sizeof buf - zs.avail_out);
    }
    inflateEnd(&zs);
    EXPECT_EQ(rc, Z_STREAM_END) << "gzip stream incomplete or corrupt";
    EXPECT_EQ(zs.avail_in, 0u) << "trailing bytes after the gzip stream";
    return out;
}

pprof::Profile decode(const std::string& gz)
{
    pprof::Profile p;
    EXPECT_TRUE(p.ParseFromString(gunzip(gz)));
    return p;
}

const std::string& str(const pprof::Profile& p, int64_t idx)
{
    EXPECT_GE(idx, 0);
    EXPECT_LT(idx, p.string_table_size());
    return p.string_table(static_cast<int>(idx));
}

const pprof::Location& location(const pprof::Profile& p, uint64_t id)
{
    for (const auto& l : p.location()) {
        if (l.id() == id) {
            return l;
        }
    }
    ADD_FAILURE() << "no location " << id;
    return pprof::Location::default_instance();
}

const pprof::Function& function(const pprof::Profile& p, uint64_t id)
{
    for (const auto& f : p.function()) {
        if (f.id() == id) {
            return f;
        }
    }
    ADD_FAILURE() << "no function " << id;
    return pprof::Function::default_instance();
}

const pprof::Mapping& mapping(const pprof::Profile& p, uint64_t id)
{
    for (const auto& m : p.mapping()) {
        if (m.id() == id) {
            return m;
        }
    }
    ADD_FAILURE() << "no mapping " << id;
    return pprof::Mapping::default_instance();
}

// Name of the (single) function at a location.
std::string location_name(const pprof::Profile& p, uint64_t loc_id)
{
    const auto& l = location(p, loc_id);
    EXPECT_EQ(l.line_size(), 1);
    if (l.line_size() == 0) {
        return {};
    }
    return str(p, function(p, l.line(0).function_id()).name());
}

std::vector<std::string> stack_names(const pprof::Profile& p, const pprof::Sample& s)
{
    std::vector<std::string> names;
    for (uint64_t id : s.location_id()) {
        names.push_back(location_name(p, id));
    }
    return names;
}

Frame fn(std::string name, std::string module, uint64_t address, uint64_t base)
{
    return Frame{std::move(name), std::move(module), address, address - base};
}

constexpr uint64_t kExe = 0x555555554000;
constexpr uint64_t kLibc = 0x7ffff7d80000;

// main -> make_cache -> operator new -> malloc, and main -> leak -> malloc (innermost first).
std::vector<Sample> two_sites()
{
    Sample a;
    a.stack = {fn("malloc", "libc.so.6", kLibc + 0x9a0f0, kLibc),
               fn("operator new(unsigned long)", "libstdc++.so.6", 0x7ffff7f00000 + 0xae3c1, 0x7ffff7f00000),
               fn("make_cache()", "app", kExe + 0x1200, kExe), fn("main", "app", kExe + 0x1080, kExe)};
    a.alloc_objects = 10;
    a.alloc_space = 40960;
    a.inuse_objects = 4;
    a.inuse_space = 16384;
    Sample b;
    b.stack = {fn("malloc", "libc.so.6", kLibc + 0x9a0f0, kLibc), fn("leak(int)", "app", kExe + 0x1150, kExe),
               fn("main", "app", kExe + 0x1090, kExe)};
    b.alloc_objects = 100;
    b.alloc_space = 102400;
    b.inuse_objects = 100;
    b.inuse_space = 102400;
    return {a, b};
}

TEST(ProfilePprof, IsGzip)
{
    const std::string gz = to_pprof_gz(two_sites(), {});
    ASSERT_GE(gz.size(), 18u);
    EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
}

TEST(ProfilePprof, SampleTypesPeriodAndMeta)
{
    ProfileMeta meta;
    meta.time_nanos = 1'700'000'000'000'000'000;
    meta.duration_nanos = 30'000'000'000;
    meta.sample_period = 524288;
    meta.comment = "memsight deep tier, pid 1234 (leaker), glibc";
    const auto p = decode(to_pprof_gz(two_sites(), meta));

    ASSERT_GT(p.string_table_size(), 0);
    EXPECT_EQ(p.string_table(0), "");
    ASSERT_EQ(p.sample_type_size(), 4);
    const std::vector<std::pair<std::string, std::string>> want = {
        {"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(str(p, p.sample_type(i).type()), want[i].first) << i;
        EXPECT_EQ(str(p, p.sample_type(i).unit()), want[i].second) << i;
    }
    EXPECT_EQ(str(p, p.default_sample_type()), "inuse_space");
    EXPECT_EQ(str(p, p.period_type().type()), "space");
    EXPECT_EQ(str(p, p.period_type().unit()), "bytes");
    EXPECT_EQ(p.period(), 524288);
    EXPECT_EQ(p.time_nanos(), meta.time_nanos);
    EXPECT_EQ(p.duration_nanos(), meta.duration_nanos);
    ASSERT_EQ(p.comment_size(), 1);
    EXPECT_EQ(str(p, p.comment(0)), meta.comment);
}

TEST(ProfilePprof, StringTableHasNoDuplicatesAndEveryIndexResolves)
{
    ProfileMeta meta;
    meta.comment = "c";
    const auto p = decode(to_pprof_gz(two_sites(), meta));
    std::set<std::string> seen;
    for (const auto& s : p.string_table()) {
        EXPECT_TRUE(seen.insert(s).second) << "duplicate string '" << s << "'";
    }
    for (const auto& f : p.function()) {
        EXPECT_LT(f.name(), p.string_table_size());
    }
    for (const auto& m : p.mapping()) {
        EXPECT_LT(m.filename(), p.string_table_size());
    }
}

TEST(ProfilePprof, ValuesAndStackOrderLeafFirst)
{
    const auto p = decode(to_pprof_gz(two_sites(), {}));
    ASSERT_EQ(p.sample_size(), 2);
    const auto& a = p.sample(0);
    ASSERT_EQ(a.value_size(), 4);
    EXPECT_EQ(a.value(0), 10);
    EXPECT_EQ(a.value(1), 40960);
    EXPECT_EQ(a.value(2), 4);
    EXPECT_EQ(a.value(3), 16384);
    EXPECT_EQ(stack_names(p, a),
              (std::vector<std::string>{"malloc", "operator new(unsigned long)", "make_cache()", "main"}));
    EXPECT_EQ(location(p, a.location_id(0)).address(), kLibc + 0x9a0f0);
    EXPECT_EQ(location(p, a.location_id(3)).address(), kExe + 0x1080);

    const auto& b = p.sample(1);
    ASSERT_EQ(b.value_size(), 4);
    EXPECT_EQ(b.value(0), 100);
    EXPECT_EQ(b.value(1), 102400);
    EXPECT_EQ(b.value(2), 100);
    EXPECT_EQ(b.value(3), 102400);
    EXPECT_EQ(stack_names(p, b), (std::vector<std::string>{"malloc", "leak(int)", "main"}));
}

TEST(ProfilePprof, LocationsDedupByAddressAndModule)
{
    auto samples = two_sites();
    // Same address in another module is another location.
    Sample c;
    c.stack = {fn("malloc", "libjemalloc.so.2", kLibc + 0x9a0f0, kLibc)};
    c.inuse_space = 1;
    samples.push_back(c);
    const auto p = decode(to_pprof_gz(samples, {}));

    // Distinct (address, module): malloc@libc, operator new, make_cache, main@0x1080, leak, main@0x1090, malloc@je.
    EXPECT_EQ(p.location_size(), 7);
    EXPECT_EQ(p.sample(0).location_id(0), p.sample(1).location_id(0)); // shared malloc@libc
    EXPECT_NE(p.sample(0).location_id(3), p.sample(1).location_id(2)); // main at two call sites
    EXPECT_NE(p.sample(2).location_id(0), p.sample(0).location_id(0)); // same address, other module
    std::set<uint64_t> ids;
    for (const auto& l : p.location()) {
        EXPECT_NE(l.id(), 0u);
        EXPECT_TRUE(ids.insert(l.id()).second);
    }
}

TEST(ProfilePprof, FunctionsDedupByNameAndModule)
{
    auto samples = two_sites();
    Sample c;
    c.stack = {fn("malloc", "libjemalloc.so.2", 0x7ffff0000000 + 0x100, 0x7ffff0000000)};
    c.inuse_space = 1;
    samples.push_back(c);
    const auto p = decode(to_pprof_gz(samples, {}));

    // malloc@libc, operator new, make_cache, main (two locations, one function), leak, malloc@jemalloc.
    EXPECT_EQ(p.function_size(), 6);
    const auto& main1 = location(p, p.sample(0).location_id(3));
    const auto& main2 = location(p, p.sample(1).location_id(2));
    EXPECT_EQ(main1.line(0).function_id(), main2.line(0).function_id());
    const auto& libc_malloc = location(p, p.sample(0).location_id(0));
    const auto& je_malloc = location(p, p.sample(2).location_id(0));
    EXPECT_NE(libc_malloc.line(0).function_id(), je_malloc.line(0).function_id());
    std::set<uint64_t> ids;
    for (const auto& f : p.function()) {
        EXPECT_NE(f.id(), 0u);
        EXPECT_TRUE(ids.insert(f.id()).second);
        EXPECT_EQ(f.system_name(), 0); // only the demangled name is known
    }
}

TEST(ProfilePprof, OneMappingPerModule)
{
    auto samples = two_sites();
    Sample c; // a module without any symbol, and a frame without a module
    c.stack = {fn("", "libunknown.so", 0x7fff00001234, 0x7fff00000000), Frame{"", "", 0xdead, 0}};
    c.inuse_space = 1;
    samples.push_back(c);
    const auto p = decode(to_pprof_gz(samples, {}));

    ASSERT_EQ(p.mapping_size(), 4); // libc.so.6, libstdc++.so.6, app, libunknown.so
    std::map<std::string, const pprof::Mapping*> by_file;
    std::set<uint64_t> ids;
    for (const auto& m : p.mapping()) {
        EXPECT_NE(m.id(), 0u);
        EXPECT_TRUE(ids.insert(m.id()).second);
        by_file[str(p, m.filename())] = &m;
    }
    ASSERT_TRUE(by_file.count("libc.so.6") && by_file.count("libstdc++.so.6") && by_file.count("app") &&
                by_file.count("libunknown.so"));
    EXPECT_TRUE(by_file["libc.so.6"]->has_functions());
    EXPECT_TRUE(by_file["app"]->has_functions());
    EXPECT_FALSE(by_file["libunknown.so"]->has_functions());
    // pprof takes mapping 1 for the main binary: the first module that is not a shared object.
    EXPECT_EQ(str(p, p.mapping(0).filename()), "app");
    EXPECT_EQ(p.mapping(0).id(), 1u);

    // The range covers the pages of the addresses seen, as /proc/pid/maps shows a code segment, with the file
    // offset of its start: address - memory_start + file_offset == module offset.
    EXPECT_EQ(by_file["app"]->memory_start(), kExe + 0x1000);
    EXPECT_EQ(by_file["app"]->memory_limit(), kExe + 0x2000);
    EXPECT_EQ(by_file["app"]->file_offset(), 0x1000u);
    EXPECT_EQ(by_file["libc.so.6"]->memory_start(), kLibc + 0x9a000);
    EXPECT_EQ(by_file["libc.so.6"]->memory_limit(), kLibc + 0x9b000);
    EXPECT_EQ(by_file["libc.so.6"]->file_offset(), 0x9a000u);
    EXPECT_EQ(by_file["libunknown.so"]->memory_start(), 0x7fff00001000u);
    EXPECT_EQ(by_file["libunknown.so"]->file_offset(), 0x1000u);

    // Locations point at their module's mapping; a frame without a module has none.
    EXPECT_EQ(mapping(p, location(p, p.sample(0).location_id(0)).mapping_id()).filename(),
              by_file["libc.so.6"]->filename());
    EXPECT_EQ(mapping(p, location(p, p.sample(0).location_id(2)).mapping_id()).filename(), by_file["app"]->filename());
    EXPECT_EQ(location(p, p.sample(2).location_id(1)).mapping_id(), 0u);
}

TEST(ProfilePprof, RangeStartsAtLoadBaseWhenBaseIsNotPageAligned)
{
    Sample s;
    s.stack = {Frame{"", "odd.so", 0x10810, 0x10}};
    s.inuse_space = 1;
    const auto p = decode(to_pprof_gz({s}, {}));
    ASSERT_EQ(p.mapping_size(), 1);
    EXPECT_EQ(p.mapping(0).memory_start(), 0x10800u);
    EXPECT_EQ(p.mapping(0).memory_limit(), 0x11000u);
    EXPECT_EQ(p.mapping(0).file_offset(), 0u);
}

TEST(ProfilePprof, UnnamedFramesGetModuleOffsetOrAddressNames)
{
    Sample s;
    s.stack = {Frame{"", "libfoo.so", 0x7f0000001a2b, 0x1a2b}, Frame{"", "", 0xdeadbeef, 0},
               Frame{"main", "app", 0x401000, 0x1000}};
    s.inuse_space = 64;
    const auto p = decode(to_pprof_gz({s}, {}));
    ASSERT_EQ(p.sample_size(), 1);
    EXPECT_EQ(stack_names(p, p.sample(0)), (std::vector<std::string>{"libfoo.so+0x1a2b", "0xdeadbeef", "main"}));
    EXPECT_EQ(location(p, p.sample(0).location_id(0)).address(), 0x7f0000001a2bu);
}

TEST(ProfilePprof, EmptyInputIsAValidProfile)
{
    ProfileMeta meta;
    meta.sample_period = 1;
    const auto p = decode(to_pprof_gz({}, meta));
    EXPECT_EQ(p.sample_size(), 0);
    EXPECT_EQ(p.location_size(), 0);
    EXPECT_EQ(p.sample_type_size(), 4);
    EXPECT_EQ(p.period(), 1);
    EXPECT_EQ(p.comment_size(), 0);
    EXPECT_EQ(p.string_table(0), "");
}

TEST(ProfilePprof, LargeProfileRoundTrips)
{
    std::vector<Sample> samples;
    for (uint64_t i = 0; i < 20000; ++i) {
        Sample s;
        s.stack = {fn("malloc", "libc.so.6", kLibc + 0x9a0f0, kLibc),
                   fn("site_" + std::to_string(i), "app", kExe + 0x10000 + i * 16, kExe),
                   fn("main", "app", kExe + 0x1080, kExe)};
        s.alloc_objects = static_cast<int64_t>(i);
        s.inuse_space = static_cast<int64_t>(i * 1000);
        samples.push_back(std::move(s));
    }
    const auto p = decode(to_pprof_gz(samples, {}));
    ASSERT_EQ(p.sample_size(), 20000);
    EXPECT_EQ(p.location_size(), 20002);
    EXPECT_EQ(p.function_size(), 20002);
    EXPECT_EQ(p.mapping_size(), 2);
    EXPECT_EQ(p.sample(19999).value(0), 19999);
    EXPECT_EQ(p.sample(19999).value(3), 19999000);
    EXPECT_EQ(location_name(p, p.sample(12345).location_id(1)), "site_12345");
}

TEST(ProfileFolded, ExactText)
{
    const std::string want = "main;leak(int);malloc 102400\n"
                             "main;make_cache();operator new(unsigned long);malloc 16384\n";
    EXPECT_EQ(to_folded(two_sites(), "inuse_space"), want);
    EXPECT_EQ(to_folded(two_sites(), "alloc_objects"), "main;leak(int);malloc 100\n"
                                                       "main;make_cache();operator new(unsigned long);malloc 10\n");
    EXPECT_EQ(to_folded(two_sites(), "inuse_objects"), "main;leak(int);malloc 100\n"
                                                       "main;make_cache();operator new(unsigned long);malloc 4\n");
    EXPECT_EQ(to_folded(two_sites(), "alloc_space"), "main;leak(int);malloc 102400\n"
                                                     "main;make_cache();operator new(unsigned long);malloc 40960\n");
}

TEST(ProfileFolded, UnnamedFramesAndEmptyStack)
{
    Sample s;
    s.stack = {Frame{"", "libfoo.so", 0x7f0000001a2b, 0x1a2b}, Frame{"", "", 0xdeadbeef, 0},
               Frame{"main", "app", 0x401000, 0x1000}};
    s.inuse_space = 64;
    Sample empty;
    empty.inuse_space = 8;
    EXPECT_EQ(to_folded({s, empty}, "inuse_space"), "[unknown] 8\nmain;0xdeadbeef;libfoo.so+0x1a2b 64\n");
    EXPECT_EQ(to_folded({empty}, "inuse_space", "leaker"), "leaker 8\n");
}

TEST(ProfileFolded, IdenticalStacksMergedAndZerosSkipped)
{
    auto samples = two_sites();
    samples.push_back(samples[1]); // same stack again
    samples[2].inuse_space = 1000;
    Sample zero = samples[0];
    zero.stack.pop_back(); // a different stack whose value is zero
    zero.inuse_space = 0;
    samples.push_back(zero);
    EXPECT_EQ(to_folded(samples, "inuse_space"), "main;leak(int);malloc 103400\n"
                                                 "main;make_cache();operator new(unsigned long);malloc 16384\n");
    EXPECT_EQ(to_folded({zero}, "inuse_space"), "");
    EXPECT_EQ(to_folded({}, "alloc_space"), "");
}

TEST(ProfileFolded, RootIsOutermostFrame)
{
    EXPECT_EQ(to_folded(two_sites(), "inuse_objects", "leaker"),
              "leaker;main;leak(int);malloc 100\n"
              "leaker;main;make_cache();operator new(unsigned long);malloc 4\n");
}

TEST(ProfileFolded, SemicolonsAndNewlinesEscaped)
{
    Sample s;
    s.stack = {Frame{"f<a;b>\nx", "m", 0x10, 0x10}, Frame{"main", "m", 0x20, 0x20}};
    s.alloc_space = 5;
    EXPECT_EQ(to_folded({s}, "alloc_space", "my;comm\n"), "my:comm ;main;f<a:b> x 5\n");
}

TEST(ProfileFolded, UnknownValueThrows)
{
    EXPECT_THROW(to_folded(two_sites(), "rss"), std::invalid_argument);
    EXPECT_THROW(to_folded({}, ""), std::invalid_argument);
    EXPECT_THROW(to_folded({}, "Inuse_Space"), std::invalid_argument);
}

TEST(ProfileFrameName, FunctionThenModuleOffsetThenAddress)
{
    EXPECT_EQ(frame_name(Frame{"main", "app", 0x401000, 0x1000}), "main");
    EXPECT_EQ(frame_name(Frame{"", "app", 0x401000, 0x1000}), "app+0x1000");
    EXPECT_EQ(frame_name(Frame{"", "", 0x401000, 0x1000}), "0x401000");
}

} // namespace
} // namespace memsight::profile
