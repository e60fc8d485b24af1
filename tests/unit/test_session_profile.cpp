// Escalation profile files: names, atomic writes and the retention policy over a temporary directory; and the
// report-to-pprof sample conversion shared with `memsight profile`.
#include "profile/session_profile.h"
#include "test_files.h"
#include "util/error.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace memsight::profile {
namespace {

using namespace std::chrono_literals;
using SysClock = std::chrono::system_clock;

// 2026-01-02T03:04:05.678Z
const SysClock::time_point kNow = SysClock::time_point{} + 1767323045678ms;

std::vector<std::string> listing(const std::string& dir)
{
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

// Creates dir/name with its modification time `age` before kNow.
void make_file(const std::string& dir, const std::string& name, std::chrono::seconds age)
{
    const std::string path = dir + "/" + name;
    test::write_text(path, "x");
    const auto t = std::chrono::duration_cast<std::chrono::seconds>((kNow - age).time_since_epoch()).count();
    struct timespec times[2] = {{t, 0}, {t, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

std::string read_all(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(ProfileFileName, UtcStampAndSafeComm)
{
    EXPECT_EQ(profile_file_name("leaker", 4242, kNow), "memsight-leaker-4242-20260102T030405.678Z.pb.gz");
    EXPECT_EQ(profile_file_name("a b/c:d", 7, kNow), "memsight-a_b_c_d-7-20260102T030405.678Z.pb.gz");
    EXPECT_EQ(profile_file_name("", 7, kNow), "memsight-_-7-20260102T030405.678Z.pb.gz");
}

TEST(ProfileFileName, RecognisesOnlyItsOwnNames)
{
    EXPECT_TRUE(is_profile_file_name(profile_file_name("leaker", 4242, kNow)));
    EXPECT_TRUE(is_profile_file_name(profile_file_name("kworker-x", 1, kNow)));
    EXPECT_FALSE(is_profile_file_name("memsight-leaker-4242-20260102T030405.678Z.pb.gz.tmp"));
    EXPECT_FALSE(is_profile_file_name(".memsight-leaker-4242-20260102T030405.678Z.pb.gz.tmp"));
    EXPECT_FALSE(is_profile_file_name("memsight-leaker-x42-20260102T030405.678Z.pb.gz"));
    EXPECT_FALSE(is_profile_file_name("memsight-leaker-4242-20260102-030405.678Z.pb.gz"));
    EXPECT_FALSE(is_profile_file_name("memsight--4242-20260102T030405.678Z.pb.gz"));
    EXPECT_FALSE(is_profile_file_name("heap.pb.gz"));
    EXPECT_FALSE(is_profile_file_name("memsight.yaml"));
}

TEST(ProfileFiles, WriteIsCompleteAndLeavesNoTemporary)
{
    test::TempDir dir;
    const std::string name = profile_file_name("leaker", 1, kNow);
    const std::string path = write_profile_file(dir.path(), name, std::string("\x1f\x8b payload", 10));
    EXPECT_EQ(path, dir.path() + "/" + name);
    EXPECT_EQ(read_all(path), std::string("\x1f\x8b payload", 10));
    EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{name}));
}

TEST(ProfileFiles, PrepareCreatesTheDirectoryAndRejectsAFile)
{
    test::TempDir dir;
    const std::string nested = dir.path() + "/a/b/profiles";
    EXPECT_NO_THROW(prepare_profile_dir(nested));
    EXPECT_TRUE(std::filesystem::is_directory(nested));
    EXPECT_TRUE(listing(nested).empty()); // the write test leaves nothing behind
    test::write_text(dir.path() + "/file", "x");
    EXPECT_THROW(prepare_profile_dir(dir.path() + "/file/profiles"), UserError);
}

TEST(Retention, OldestRemovedFirstBeyondMaxFiles)
{
    test::TempDir dir;
    std::vector<std::string> names;
    for (int i = 0; i < 5; ++i) {
        names.push_back(profile_file_name("p", 100 + i, kNow - std::chrono::minutes(10 * i)));
        make_file(dir.path(), names.back(), std::chrono::minutes(10 * i)); // names[4] is the oldest
    }
    const auto removed = apply_retention(dir.path(), 3, 24h, kNow);
    EXPECT_EQ(removed, (std::vector<std::string>{names[4], names[3]}));
    auto want = std::vector<std::string>{names[0], names[1], names[2]};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(listing(dir.path()), want);
}

TEST(Retention, MaxAgeRemovesOlderFilesEvenUnderTheCount)
{
    test::TempDir dir;
    const std::string fresh = profile_file_name("p", 1, kNow);
    const std::string old = profile_file_name("p", 2, kNow - 2h);
    make_file(dir.path(), fresh, 0s);
    make_file(dir.path(), old, 2h);
    EXPECT_EQ(apply_retention(dir.path(), 50, 1h, kNow), (std::vector<std::string>{old}));
    EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{fresh}));
}

TEST(Retention, NeverTouchesOtherFiles)
{
    test::TempDir dir;
    make_file(dir.path(), "notes.txt", 48h);
    make_file(dir.path(), "heap.pb.gz", 48h);
    make_file(dir.path(), ".memsight-p-1-20260102T030405.678Z.pb.gz.tmp", 48h);
    const std::string mine = profile_file_name("p", 1, kNow - 48h);
    make_file(dir.path(), mine, 48h);
    EXPECT_EQ(apply_retention(dir.path(), 1, 1h, kNow), (std::vector<std::string>{mine}));
    EXPECT_EQ(listing(dir.path()).size(), 3u);
}

TEST(Retention, MissingDirectoryRemovesNothing)
{
    EXPECT_TRUE(apply_retention("/nonexistent/memsight-profiles", 1, 1h, kNow).empty());
}

TEST(ProfileSamples, OneSamplePerSiteRoundedWithItsFrames)
{
    deep::SiteReport s;
    s.site = "leak_one_record";
    s.alloc_count = 10.4;
    s.alloc_bytes = 4000.6;
    s.live_count = 3;
    s.live_bytes = 1200;
    symbolize::Frame f;
    f.function = "leak_one_record";
    f.module = "leaker";
    f.address = 0x401000;
    f.module_offset = 0x1000;
    s.frames = {f};
    const auto samples = profile_samples({s, deep::SiteReport{}});
    ASSERT_EQ(samples.size(), 2u);
    EXPECT_EQ(samples[0].alloc_objects, 10);
    EXPECT_EQ(samples[0].alloc_space, 4001);
    EXPECT_EQ(samples[0].inuse_objects, 3);
    EXPECT_EQ(samples[0].inuse_space, 1200);
    ASSERT_EQ(samples[0].stack.size(), 1u);
    EXPECT_EQ(samples[0].stack[0].function, "leak_one_record");
    EXPECT_EQ(samples[0].stack[0].module_offset, 0x1000u);
    EXPECT_TRUE(samples[1].stack.empty());
}

} // namespace
} // namespace memsight::profile
