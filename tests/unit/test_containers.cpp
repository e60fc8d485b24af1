// Tests for per-container aggregation over cgroupfs (v1 fixtures, v2 temp trees) and for the
// cgroup-id resolver's negative cache.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "analysis/containers.h"
#include "test_files.h"

namespace memsight::analysis {
namespace {

using memsight::test::inode_of;
using memsight::test::TempDir;
using memsight::test::write_text;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kFixtures = MEMSIGHT_FIXTURES;
const std::string kDockerId = "3f1b0a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
const std::string kPodId = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
const std::string kGoneId = "c0ffee0000000000000000000000000000000000000000000000000000000000";
const std::string kPodUid = "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab";
const std::string kDockerScope = "/system.slice/docker-" + kDockerId + ".scope";
const std::string kPodCgroup = "/kubepods/burstable/pod" + kPodUid + "/" + kPodId;
const Clock::time_point kT0 = Clock::time_point{} + 1000h;

ProcessView process(pid_t pid, const std::string& cgroup)
{
    ProcessView v;
    v.sample.pid = pid;
    v.cgroup = cgroup;
    v.identity = procfs::identify_container(cgroup);
    return v;
}

// A cgroup v2 hierarchy with a limited docker container (and a child cgroup inside it) and an unlimited
// Kubernetes container without memory.peak and swap files.
void make_v2_tree(const std::string& root)
{
    const std::string d = root + kDockerScope;
    write_text(d + "/memory.current", "412090368\n");
    write_text(d + "/memory.max", "536870912\n");
    write_text(d + "/memory.stat",
               "anon 318767104\nfile 83886080\nkernel 8781824\nshmem 2097152\ninactive_anon 318767104\n"
               "active_anon 2097152\ninactive_file 62914560\nactive_file 20971520\n");
    write_text(d + "/memory.swap.current", "8388608\n");
    write_text(d + "/memory.peak", "530579456\n");
    write_text(d + "/memory.events", "low 0\nhigh 0\nmax 143\noom 2\noom_kill 1\noom_group_kill 0\n");
    // A child cgroup of the container with its own (smaller) numbers.
    write_text(d + "/child/memory.current", "1000\n");
    write_text(d + "/child/memory.max", "max\n");
    write_text(d + "/child/memory.stat", "anon 1\nfile 2\nshmem 0\ninactive_file 0\n");

    const std::string k = root + kPodCgroup;
    write_text(k + "/memory.current", "9748480\n");
    write_text(k + "/memory.max", "max\n");
    write_text(k + "/memory.stat", "anon 1048576\nfile 8388608\nshmem 0\ninactive_file 7340032\n");
    write_text(k + "/memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
}

TEST(ReadContainers, V2GroupsByContainerAndReadsTheShallowestCgroup)
{
    TempDir tmp{"memsight_containers"};
    ASSERT_FALSE(tmp.path().empty());
    make_v2_tree(tmp.path());
    procfs::CgroupFs cgfs(procfs::CgroupMount{procfs::CgroupVersion::V2, tmp.path(), "/"});

    const std::vector<ProcessView> procs = {
        process(1, kDockerScope + "/child"), // deeper first: the shallower one must still win
        process(2, kDockerScope),
        process(3, kDockerScope + "/child"),
        process(4, "/user.slice/user-1000.slice/session-2.scope"), // not a container
        process(5, kPodCgroup),
        process(6, "/docker/" + kGoneId), // its cgroup is gone: left out
    };
    const auto out = read_containers(procs, cgfs);
    ASSERT_EQ(out.size(), 2u);

    // Sorted by container id.
    const ContainerView& d = out[0];
    EXPECT_EQ(d.identity.container_id, kDockerId);
    EXPECT_EQ(d.identity.runtime, "docker");
    EXPECT_EQ(d.identity.pod_uid, "");
    EXPECT_EQ(d.cgroup, kDockerScope);
    EXPECT_EQ(d.processes, 3u);
    EXPECT_EQ(d.memory.usage, 412090368u);
    ASSERT_TRUE(d.memory.limit.has_value());
    EXPECT_EQ(*d.memory.limit, 536870912u);
    EXPECT_EQ(d.memory.working_set, 412090368u - 62914560u);
    EXPECT_EQ(d.memory.anon, 318767104u);
    EXPECT_EQ(d.memory.file, 83886080u - 2097152u); // file - shmem
    EXPECT_EQ(d.memory.shmem, 2097152u);
    EXPECT_EQ(d.memory.swap, 8388608u);
    EXPECT_EQ(d.memory.peak, 530579456u);
    EXPECT_EQ(d.memory.oom_kills, std::optional<uint64_t>(1));

    const ContainerView& k = out[1];
    EXPECT_EQ(k.identity.container_id, kPodId);
    EXPECT_EQ(k.identity.pod_uid, kPodUid);
    EXPECT_EQ(k.cgroup, kPodCgroup);
    EXPECT_EQ(k.processes, 1u);
    EXPECT_EQ(k.memory.usage, 9748480u);
    EXPECT_FALSE(k.memory.limit.has_value()); // "max"
    EXPECT_EQ(k.memory.working_set, 9748480u - 7340032u);
    EXPECT_EQ(k.memory.anon, 1048576u);
    EXPECT_EQ(k.memory.file, 8388608u);
    EXPECT_EQ(k.memory.shmem, 0u);
    EXPECT_EQ(k.memory.swap, 0u); // no memory.swap.current
    EXPECT_EQ(k.memory.peak, 0u); // no memory.peak
    EXPECT_EQ(k.memory.oom_kills, std::optional<uint64_t>(0));
}

TEST(ReadContainers, ProcessOrderDoesNotChangeTheResult)
{
    TempDir tmp{"memsight_containers"};
    ASSERT_FALSE(tmp.path().empty());
    make_v2_tree(tmp.path());
    procfs::CgroupFs cgfs(procfs::CgroupMount{procfs::CgroupVersion::V2, tmp.path(), "/"});
    const auto out = read_containers({process(2, kDockerScope), process(1, kDockerScope + "/child")}, cgfs);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].cgroup, kDockerScope);
    EXPECT_EQ(out[0].memory.usage, 412090368u);
    EXPECT_EQ(out[0].processes, 2u);
}

TEST(ReadContainers, OnlyAChildCgroupSeenReadsTheChild)
{
    TempDir tmp{"memsight_containers"};
    ASSERT_FALSE(tmp.path().empty());
    make_v2_tree(tmp.path());
    procfs::CgroupFs cgfs(procfs::CgroupMount{procfs::CgroupVersion::V2, tmp.path(), "/"});
    const auto out = read_containers({process(1, kDockerScope + "/child")}, cgfs);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].cgroup, kDockerScope + "/child");
    EXPECT_EQ(out[0].memory.usage, 1000u);
    EXPECT_FALSE(out[0].memory.limit.has_value());
}

TEST(ReadContainers, CriOConmonSiblingDoesNotWinOverTheContainer)
{
    // CRI-O puts conmon in crio-conmon-<id>.scope, a sibling of the container's crio-<id>.scope: same id.
    TempDir tmp{"memsight_containers"};
    ASSERT_FALSE(tmp.path().empty());
    const std::string pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_aaaa_bbbb_cccc_"
                            "0123456789ab.slice";
    const std::string conmon = pod + "/crio-conmon-" + kPodId + ".scope";
    const std::string ctr = pod + "/crio-" + kPodId + ".scope";
    write_text(tmp.path() + conmon + "/memory.current", "4096\n");
    write_text(tmp.path() + ctr + "/memory.current", "777777\n");
    procfs::CgroupFs cgfs(procfs::CgroupMount{procfs::CgroupVersion::V2, tmp.path(), "/"});
    for (const auto& procs : {std::vector<ProcessView>{process(1, conmon), process(2, ctr)},
                              std::vector<ProcessView>{process(2, ctr), process(1, conmon)}}) {
        const auto out = read_containers(procs, cgfs);
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].identity.container_id, kPodId);
        EXPECT_EQ(out[0].identity.pod_uid, kPodUid);
        EXPECT_EQ(out[0].cgroup, ctr);
        EXPECT_EQ(out[0].memory.usage, 777777u);
        EXPECT_EQ(out[0].processes, 2u);
    }
}

TEST(ReadContainers, NoContainersNoOutput)
{
    TempDir tmp{"memsight_containers"};
    ASSERT_FALSE(tmp.path().empty());
    make_v2_tree(tmp.path());
    procfs::CgroupFs cgfs(procfs::CgroupMount{procfs::CgroupVersion::V2, tmp.path(), "/"});
    EXPECT_TRUE(read_containers({}, cgfs).empty());
    EXPECT_TRUE(read_containers({process(1, "/"), process(2, "/user.slice")}, cgfs).empty());
}

TEST(ReadContainers, V1FixtureHierarchy)
{
    procfs::CgroupFs cgfs(procfs::CgroupMount{procfs::CgroupVersion::V1, kFixtures + "/cgroup/v1", "/"});
    const auto out = read_containers({process(10, "/docker/" + kDockerId), process(11, "/legacy")}, cgfs);
    ASSERT_EQ(out.size(), 1u);
    const ContainerView& c = out[0];
    EXPECT_EQ(c.identity.container_id, kDockerId);
    EXPECT_EQ(c.identity.runtime, "docker");
    EXPECT_EQ(c.cgroup, "/docker/" + kDockerId);
    EXPECT_EQ(c.processes, 1u);
    EXPECT_EQ(c.memory.usage, 201326592u);
    EXPECT_EQ(c.memory.limit, std::optional<uint64_t>(268435456));
    EXPECT_EQ(c.memory.working_set, 201326592u - 37748736u); // total_inactive_file
    EXPECT_EQ(c.memory.anon, 144703488u);                    // total_rss
    EXPECT_EQ(c.memory.file, 54525952u - 6291456u); // total_cache - total_shmem                     // total_cache
    EXPECT_EQ(c.memory.shmem, 6291456u);            // total_shmem
    EXPECT_EQ(c.memory.swap, 2097152u);             // total_swap
    EXPECT_EQ(c.memory.peak, 268435456u);
    EXPECT_EQ(c.memory.oom_kills, std::optional<uint64_t>(3));
}

TEST(ReadContainers, InsideAContainerTheMountRootIsStripped)
{
    // The agent in a container sees only /docker/<id>, mounted at the hierarchy's mount point.
    procfs::CgroupFs cgfs(procfs::CgroupMount{procfs::CgroupVersion::V1, kFixtures + "/cgroup/v1/docker/" + kDockerId,
                                              "/docker/" + kDockerId});
    const auto out = read_containers({process(10, "/docker/" + kDockerId)}, cgfs);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].cgroup, "/docker/" + kDockerId);
    EXPECT_EQ(out[0].memory.usage, 201326592u);
}

TEST(CgroupResolver, WithoutCgroupFsOrIdZeroNothingResolves)
{
    CgroupResolver none(std::nullopt);
    EXPECT_FALSE(none.fs().has_value());
    EXPECT_FALSE(none.path(12345, kT0).has_value());

    TempDir tmp{"memsight_containers"};
    ASSERT_FALSE(tmp.path().empty());
    CgroupResolver r(procfs::CgroupFs(procfs::CgroupMount{procfs::CgroupVersion::V2, tmp.path(), "/"}));
    ASSERT_TRUE(r.fs().has_value());
    EXPECT_FALSE(r.path(0, kT0).has_value());
}

TEST(CgroupResolver, ResolvesDirectoryInodesToCgroupPaths)
{
    TempDir tmp{"memsight_containers"};
    ASSERT_FALSE(tmp.path().empty());
    make_v2_tree(tmp.path());
    CgroupResolver r(procfs::CgroupFs(procfs::CgroupMount{procfs::CgroupVersion::V2, tmp.path(), "/"}));
    EXPECT_EQ(r.path(inode_of(tmp.path() + kPodCgroup), kT0), std::optional<std::string>(kPodCgroup));
    EXPECT_EQ(r.path(inode_of(tmp.path() + kDockerScope), kT0), std::optional<std::string>(kDockerScope));
    EXPECT_EQ(r.path(inode_of(tmp.path()), kT0), std::optional<std::string>("/"));
}

TEST(CgroupResolver, MissesAreCachedForThirtySeconds)
{
    TempDir tmp{"memsight_containers"};
    ASSERT_FALSE(tmp.path().empty());
    const std::string root = tmp.path() + "/mnt";
    const std::string outside = tmp.path() + "/outside";
    fs::create_directories(root + "/a");
    fs::create_directories(outside + "/late");
    // Its inode is known before it appears under the mount: a rename keeps the inode.
    const uint64_t id = inode_of(outside + "/late");
    CgroupResolver r(procfs::CgroupFs(procfs::CgroupMount{procfs::CgroupVersion::V2, root, "/"}));

    EXPECT_FALSE(r.path(id, kT0).has_value()); // a miss walks the tree
    fs::rename(outside + "/late", root + "/a/late");
    EXPECT_FALSE(r.path(id, kT0 + 1s).has_value());                          // cached miss: no walk
    EXPECT_FALSE(r.path(id, kT0 + 30s - 1ns).has_value());                   // still within the TTL
    EXPECT_EQ(r.path(id, kT0 + 30s), std::optional<std::string>("/a/late")); // TTL over: walks again
    EXPECT_EQ(r.path(id, kT0 + 31s), std::optional<std::string>("/a/late"));
}

} // namespace
} // namespace memsight::analysis
