// Tests for memory-cgroup readings (fixtures under tests/fixtures/cgroup/{v1,v2}) and mount detection.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "procfs/cgroup_fs.h"
#include "procfs/proc_parse.h"
#include "procfs/read_file.h"
#include "test_files.h"

namespace memsight::procfs {
namespace {

using memsight::test::TempDir;

namespace fs = std::filesystem;

const std::string kFixtures = MEMSIGHT_FIXTURES;
const std::string kV1Mount = kFixtures + "/cgroup/v1";
const std::string kV2Mount = kFixtures + "/cgroup/v2";
const std::string kDockerId = "3f1b0a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";

std::string procfs_fixture(const std::string& name)
{
    return read_file(kFixtures + "/procfs/" + name).value_or("");
}

// A fresh directory under the test temp dir, removed at scope exit.

uint64_t inode_of(const std::string& path)
{
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return static_cast<uint64_t>(st.st_ino);
}

void write_text(const std::string& path, const std::string& text)
{
    std::ofstream out(path);
    out << text;
}

// mountinfo escapes spaces in paths.
std::string escape_mount_path(const std::string& path)
{
    std::string out;
    for (const char c : path)
        out += c == ' ' ? std::string("\\040") : std::string(1, c);
    return out;
}

// ---- find_memory_cgroup_mount ----

TEST(CgroupMountParse, HybridHostPrefersV1Memory)
{
    const auto mount = find_memory_cgroup_mount(procfs_fixture("mountinfo_hybrid"));
    ASSERT_TRUE(mount.has_value());
    EXPECT_EQ(mount->version, CgroupVersion::V1);
    EXPECT_EQ(mount->mount_point, "/sys/fs/cgroup/memory");
    EXPECT_EQ(mount->root, "/");
}

TEST(CgroupMountParse, UnifiedHost)
{
    const auto mount = find_memory_cgroup_mount(procfs_fixture("mountinfo_v2"));
    ASSERT_TRUE(mount.has_value());
    EXPECT_EQ(mount->version, CgroupVersion::V2);
    EXPECT_EQ(mount->mount_point, "/sys/fs/cgroup");
}

TEST(CgroupMountParse, HybridWithoutV1MemoryFallsBackToCgroup2)
{
    std::string text = procfs_fixture("mountinfo_hybrid");
    const auto memory_line = text.find("36 30 0:31");
    ASSERT_NE(memory_line, std::string::npos);
    text.erase(memory_line, text.find('\n', memory_line) + 1 - memory_line);
    const auto mount = find_memory_cgroup_mount(text);
    ASSERT_TRUE(mount.has_value());
    EXPECT_EQ(mount->version, CgroupVersion::V2);
    EXPECT_EQ(mount->mount_point, "/sys/fs/cgroup/unified");
}

TEST(CgroupMountParse, ContainerViewHasEscapedMountPointAndSubtreeRoot)
{
    const auto mount = find_memory_cgroup_mount(procfs_fixture("mountinfo_container"));
    ASSERT_TRUE(mount.has_value());
    EXPECT_EQ(mount->version, CgroupVersion::V1);
    EXPECT_EQ(mount->mount_point, "/sys/fs/cgroup/my memory");
    EXPECT_EQ(mount->root, "/docker/" + kDockerId);
}

TEST(CgroupMountParse, NoMemoryHierarchy)
{
    EXPECT_FALSE(find_memory_cgroup_mount(procfs_fixture("mountinfo_none")).has_value());
    EXPECT_FALSE(find_memory_cgroup_mount("").has_value());
    EXPECT_FALSE(find_memory_cgroup_mount("36 30 0:31 / /x rw - cgroup\n").has_value()); // truncated
    // "memory" among the mount options (not the super options) is not the controller.
    EXPECT_FALSE(find_memory_cgroup_mount("36 30 0:31 / /x rw,memory - cgroup cgroup rw,cpu\n").has_value());
}

// ---- flat files ----

TEST(CgroupFlatParse, KeyedFile)
{
    const auto m = parse_flat_keyed("low 0\nhigh 12\nmax 143\noom 2\noom_kill 1\n");
    EXPECT_EQ(m.size(), 5u);
    EXPECT_EQ(m.at("high"), 12u);
    EXPECT_EQ(m.at("oom_kill"), 1u);
}

TEST(CgroupFlatParse, MalformedLinesAreSkipped)
{
    const auto m = parse_flat_keyed("alone\nbad x\nthree 1 2\n\n good 7 \n");
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m.at("good"), 7u);
}

TEST(CgroupFlatParse, Limits)
{
    EXPECT_EQ(parse_limit("536870912\n"), 536870912u);
    EXPECT_EQ(parse_limit("4611686018427387903"), 4611686018427387903u); // 2^62 - 1
    EXPECT_FALSE(parse_limit("max\n").has_value());
    EXPECT_FALSE(parse_limit("9223372036854771712\n").has_value()); // v1 "unlimited"
    EXPECT_FALSE(parse_limit("4611686018427387904").has_value());   // 2^62
    EXPECT_FALSE(parse_limit("").has_value());
    EXPECT_FALSE(parse_limit("12 kB").has_value());
}

// ---- read(): v1 ----

TEST(CgroupFsRead, V1WithOomKillUsesHierarchicalTotals)
{
    const CgroupFs cg({CgroupVersion::V1, kV1Mount});
    const auto m = cg.read("/docker/" + kDockerId);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->usage, 201326592u);
    EXPECT_EQ(m->limit, 268435456u);
    EXPECT_EQ(m->peak, 268435456u);
    EXPECT_EQ(m->anon, 144703488u);           // total_rss, not rss
    EXPECT_EQ(m->file, 54525952u - 6291456u); // total_cache - total_shmem: kinds are disjoint
    EXPECT_EQ(m->shmem, 6291456u);            // total_shmem
    EXPECT_EQ(m->swap, 2097152u);             // total_swap
    EXPECT_EQ(m->working_set, 201326592u - 37748736u);
    EXPECT_EQ(m->oom_kills, 3u);
}

TEST(CgroupFsRead, V1OldKernelWithoutOomKillAndNoLimit)
{
    const CgroupFs cg({CgroupVersion::V1, kV1Mount});
    const auto m = cg.read("/legacy");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->usage, 10485760u);
    EXPECT_FALSE(m->limit.has_value());
    EXPECT_EQ(m->peak, 16777216u);
    EXPECT_EQ(m->anon, 2097152u);
    EXPECT_EQ(m->file, 8388608u);
    EXPECT_EQ(m->shmem, 0u);
    EXPECT_EQ(m->swap, 0u);
    EXPECT_EQ(m->working_set, 0u); // inactive_file > usage: floored
    EXPECT_FALSE(m->oom_kills.has_value());
}

TEST(CgroupFsRead, V1FallsBackToLocalStatNames)
{
    TempDir tmp{"memsight_cgroup"};
    ASSERT_FALSE(tmp.path().empty());
    fs::create_directory(tmp.path() + "/c");
    write_text(tmp.path() + "/c/memory.usage_in_bytes", "1000\n");
    write_text(tmp.path() + "/c/memory.stat", "cache 300\nrss 600\nshmem 50\nswap 7\ninactive_file 100\n");
    const auto m = CgroupFs({CgroupVersion::V1, tmp.path()}).read("/c");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->anon, 600u);
    EXPECT_EQ(m->file, 250u); // cache - shmem
    EXPECT_EQ(m->shmem, 50u);
    EXPECT_EQ(m->swap, 7u);
    EXPECT_EQ(m->working_set, 900u);
    EXPECT_FALSE(m->limit.has_value()); // no limit file
    EXPECT_EQ(m->peak, 0u);
}

// ---- read(): v2 ----

TEST(CgroupFsRead, V2WithNumericLimit)
{
    const CgroupFs cg({CgroupVersion::V2, kV2Mount});
    const auto m = cg.read("/limited");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->usage, 412090368u);
    EXPECT_EQ(m->limit, 536870912u);
    EXPECT_EQ(m->peak, 530579456u);
    EXPECT_EQ(m->anon, 318767104u);
    EXPECT_EQ(m->file, 83886080u - 2097152u); // file - shmem
    EXPECT_EQ(m->shmem, 2097152u);
    EXPECT_EQ(m->swap, 8388608u);
    EXPECT_EQ(m->working_set, 412090368u - 62914560u);
    EXPECT_EQ(m->oom_kills, 1u);
}

TEST(CgroupFsRead, V2UnlimitedWithoutPeakOrSwapFiles)
{
    const CgroupFs cg({CgroupVersion::V2, kV2Mount});
    const auto m = cg.read("/unlimited/");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->usage, 9748480u);
    EXPECT_FALSE(m->limit.has_value());
    EXPECT_EQ(m->peak, 0u);
    EXPECT_EQ(m->swap, 0u);
    EXPECT_EQ(m->working_set, 9748480u - 7340032u);
    EXPECT_EQ(m->oom_kills, 0u);
}

TEST(CgroupFsRead, GoneOrOutsideCgroupIsNullopt)
{
    const CgroupFs v1({CgroupVersion::V1, kV1Mount});
    const CgroupFs v2({CgroupVersion::V2, kV2Mount});
    EXPECT_FALSE(v2.read("/no-such-cgroup").has_value());
    EXPECT_FALSE(v1.read("/limited").has_value()); // wrong version's files
    EXPECT_FALSE(v2.read("/docker/" + kDockerId).has_value());
    EXPECT_FALSE(v2.read("/../v2/limited").has_value()); // never escapes the mount
}

TEST(CgroupFsRead, StripsTheMountRootFromProcPaths)
{
    // A container that sees only /docker/<id> of the hierarchy mounted at its /sys/fs/cgroup/memory.
    const CgroupFs cg({CgroupVersion::V1, kV1Mount + "/docker/" + kDockerId, "/docker/" + kDockerId});
    const auto m = cg.read("/docker/" + kDockerId);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->usage, 201326592u);
    EXPECT_EQ(cg.path_for_id(inode_of(kV1Mount + "/docker/" + kDockerId)), "/docker/" + kDockerId);
}

TEST(CgroupFsRead, OwnCgroupNamespaceSeesHostPathsAsDotDot)
{
    // The agent in a cgroup namespace rooted two levels down (e.g. /kubepods/pod<uid>) with the host's hierarchy
    // bound at its mount point: mountinfo shows that mount's root as "/../..", and /proc/PID/cgroup of a process
    // in the host's /docker/<id> as "/../../docker/<id>".
    const CgroupFs cg({CgroupVersion::V1, kV1Mount, "/../.."});
    const auto m = cg.read("/../../docker/" + kDockerId);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->usage, 201326592u);
    EXPECT_FALSE(cg.read("/../../docker/../../etc").has_value()); // never escapes the mount
    EXPECT_FALSE(cg.read("/../docker/" + kDockerId).has_value()); // above the mount: not readable
    EXPECT_FALSE(cg.read("/docker/" + kDockerId).has_value());    // below the agent's own namespace root: elsewhere
    // The ids BPF reports map to the same relative form, so the OOM join finds the same container.
    EXPECT_EQ(cg.path_for_id(inode_of(kV1Mount + "/docker/" + kDockerId)), "/../../docker/" + kDockerId);
}

TEST(CgroupFsFindProcess, FindsTheCgroupListingAPid)
{
    TempDir tmp{"memsight_cgroup"};
    ASSERT_FALSE(tmp.path().empty());
    fs::create_directories(tmp.path() + "/libpod_parent/libpod-a");
    fs::create_directories(tmp.path() + "/libpod_parent/libpod-b");
    write_text(tmp.path() + "/cgroup.procs", "1\n2\n");
    write_text(tmp.path() + "/libpod_parent/cgroup.procs", "");
    write_text(tmp.path() + "/libpod_parent/libpod-a/cgroup.procs", "4711\n");
    write_text(tmp.path() + "/libpod_parent/libpod-b/cgroup.procs", "47110\n471\n");
    const CgroupFs cg({CgroupVersion::V1, tmp.path()});
    EXPECT_EQ(cg.find_process(4711), "/libpod_parent/libpod-a");
    EXPECT_EQ(cg.find_process(471), "/libpod_parent/libpod-b");
    EXPECT_EQ(cg.find_process(2), "/");
    EXPECT_FALSE(cg.find_process(5).has_value());
}

// ---- detect() ----

TEST(CgroupFsDetect, V2RequiresTheMemoryController)
{
    TempDir tmp{"memsight_cgroup"};
    ASSERT_FALSE(tmp.path().empty());
    const std::string with_memory = tmp.path() + "/with_memory";
    const std::string without_memory = tmp.path() + "/without_memory";
    write_text(with_memory, "30 22 0:26 / " + escape_mount_path(kV2Mount) +
                                " rw,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n");
    // The v1 fixture dir has no cgroup.controllers, like a cgroup2 mount without controllers.
    write_text(without_memory, "31 30 0:26 / " + escape_mount_path(kV1Mount) +
                                   " rw,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n");

    const auto detected = CgroupFs::detect(with_memory);
    ASSERT_TRUE(detected.has_value());
    EXPECT_EQ(detected->mount().version, CgroupVersion::V2);
    EXPECT_EQ(detected->mount().mount_point, kV2Mount);
    EXPECT_FALSE(CgroupFs::detect(without_memory).has_value());
    EXPECT_FALSE(CgroupFs::detect(tmp.path() + "/missing").has_value());
}

TEST(CgroupFsDetect, V1NeedsNoControllerFile)
{
    const auto detected = CgroupFs::detect(kFixtures + "/procfs/mountinfo_hybrid");
    ASSERT_TRUE(detected.has_value());
    EXPECT_EQ(detected->mount().version, CgroupVersion::V1);
}

// ---- path_for_id() ----

TEST(CgroupFsPathForId, MapsDirectoryInodesToPaths)
{
    TempDir tmp{"memsight_cgroup"};
    ASSERT_FALSE(tmp.path().empty());
    fs::create_directories(tmp.path() + "/a/b/c");
    fs::create_directories(tmp.path() + "/x");
    write_text(tmp.path() + "/a/memory.current", "1\n");
    const CgroupFs cg({CgroupVersion::V2, tmp.path()});
    EXPECT_EQ(cg.path_for_id(inode_of(tmp.path())), "/");
    EXPECT_EQ(cg.path_for_id(inode_of(tmp.path() + "/a/b")), "/a/b");
    EXPECT_EQ(cg.path_for_id(inode_of(tmp.path() + "/a/b/c")), "/a/b/c");
    EXPECT_EQ(cg.path_for_id(inode_of(tmp.path() + "/x")), "/x");
    EXPECT_FALSE(cg.path_for_id(inode_of(tmp.path() + "/a/memory.current")).has_value()); // files are not cgroups

    // A cgroup created after the first walk is found on the next miss.
    fs::create_directories(tmp.path() + "/a/new");
    EXPECT_EQ(cg.path_for_id(inode_of(tmp.path() + "/a/new")), "/a/new");
}

TEST(CgroupFsPathForId, DoesNotFollowSymlinks)
{
    TempDir tmp{"memsight_cgroup"};
    TempDir outside{"memsight_cgroup"};
    ASSERT_FALSE(tmp.path().empty());
    ASSERT_FALSE(outside.path().empty());
    fs::create_directories(tmp.path() + "/root");
    fs::create_directories(outside.path() + "/hidden");
    fs::create_directory_symlink(outside.path(), tmp.path() + "/root/link");
    const CgroupFs cg({CgroupVersion::V1, tmp.path() + "/root"});
    EXPECT_FALSE(cg.path_for_id(inode_of(outside.path() + "/hidden")).has_value());
    EXPECT_FALSE(cg.path_for_id(inode_of(outside.path())).has_value());
    EXPECT_EQ(cg.path_for_id(inode_of(tmp.path() + "/root")), "/");
}

TEST(CgroupFsPathForId, DepthIsBoundedAt32)
{
    TempDir tmp{"memsight_cgroup"};
    ASSERT_FALSE(tmp.path().empty());
    std::string dir = tmp.path();
    std::string rel;
    std::string rel_at_32;
    uint64_t ino_at_32 = 0;
    uint64_t ino_at_33 = 0;
    for (int depth = 1; depth <= 34; ++depth) {
        dir += "/d";
        rel += "/d";
        fs::create_directory(dir);
        if (depth == 32) {
            ino_at_32 = inode_of(dir);
            rel_at_32 = rel;
        }
        if (depth == 33)
            ino_at_33 = inode_of(dir);
    }
    const CgroupFs cg({CgroupVersion::V2, tmp.path()});
    EXPECT_EQ(cg.path_for_id(ino_at_32), rel_at_32);
    EXPECT_FALSE(cg.path_for_id(ino_at_33).has_value());
}

TEST(CgroupFsPathForId, MissingMountIsNullopt)
{
    const CgroupFs cg({CgroupVersion::V2, "/nonexistent/memsight"});
    EXPECT_FALSE(cg.path_for_id(1).has_value());
}

// ---- this machine ----

TEST(CgroupFsLive, ReadsOwnMemoryCgroup)
{
    const auto mountinfo = read_file("/proc/self/mountinfo");
    ASSERT_TRUE(mountinfo.has_value());
    ASSERT_FALSE(mountinfo->empty());
    if (mountinfo->find(" - cgroup") != std::string::npos) {
        EXPECT_TRUE(find_memory_cgroup_mount(*mountinfo).has_value());
    }
    const auto cg = CgroupFs::detect();
    if (!cg)
        GTEST_SKIP() << "no memory cgroup hierarchy mounted in this environment";

    const auto path = memory_cgroup_path(parse_proc_cgroup(read_file("/proc/self/cgroup").value_or("")));
    ASSERT_TRUE(path.has_value());
    if (cg->mount().version == CgroupVersion::V2 && *path == "/") {
        GTEST_SKIP() << "v2 root cgroup has no memory.current";
    }
    const auto m = cg->read(*path);
    ASSERT_TRUE(m.has_value()) << cg->mount().mount_point << *path;
    EXPECT_GT(m->usage, 0u);
    EXPECT_LE(m->working_set, m->usage);

    std::string dir = cg->mount().mount_point;
    if (*path != "/")
        dir += *path;
    if (cg->mount().root == "/") {
        EXPECT_EQ(cg->path_for_id(inode_of(dir)), *path);
    }
}

} // namespace
} // namespace memsight::procfs
