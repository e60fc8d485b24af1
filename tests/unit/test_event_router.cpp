// Tests for applying kernel events to the table, exit peaks and OOM join, with hand-built events,
// a fake /proc root and a cgroup tree in a temp dir (cgroup ids are directory inodes).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "agent/event_router.h"
#include "memsight/kernel_events.h"
#include "test_files.h"

namespace memsight::agent {
namespace {

using memsight::test::inode_of;
using memsight::test::TempDir;
using memsight::test::write_text;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using analysis::Clock;

const std::string kDockerId = "3f1b0a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
const std::string kPodId = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
const std::string kPodUid = "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab";
const std::string kDockerCgroup = "/docker/" + kDockerId;
const std::string kPodCgroup = "/kubepods/burstable/pod" + kPodUid + "/" + kPodId;
// Far above any real pid_max (2^22), so the router's /proc fallbacks find nothing on the host.
constexpr uint32_t kPid = 900000001;

ExecEvent exec_event(pid_t pid, const char* comm)
{
    return ExecEvent{pid, comm};
}

ExitEvent exit_event(pid_t pid, const char* comm, uint64_t peak, uint64_t cgroup_id, bool oom_victim = false)
{
    return ExitEvent{pid, comm, peak, cgroup_id, oom_victim};
}

OomEvent oom_event(pid_t pid, const char* comm)
{
    OomEvent e;
    e.victim = pid;
    e.trigger = 7;
    e.anon_rss_bytes = 64u << 20;
    e.file_rss_bytes = 1u << 20;
    e.comm = comm;
    e.trigger_comm = "trigger";
    return e;
}

// Everything the router writes to, around a fake /proc and a cgroup v2 tree:
//   cgroup tree: /docker/<id>, /kubepods/burstable/pod<uid>/<id>
//   fake proc:   <pid>/cgroup for kPid (the pod container)
struct Rig {
    TempDir tmp{"memsight_router"};
    std::string cg_root, proc_root;
    analysis::ProcessTable table{5min};
    analysis::ExitPeaks exits{10, 5min};
    std::vector<analysis::OomKill> kills;
    analysis::OomTracker ooms{[this](const analysis::OomKill& k) { kills.push_back(k); }};
    std::optional<analysis::CgroupResolver> cgroups;
    std::optional<analysis::ProcScanner> scanner;

    Rig()
    {
        cg_root = tmp.path() + "/cgroup";
        proc_root = tmp.path() + "/proc";
        fs::create_directories(cg_root + kDockerCgroup);
        fs::create_directories(cg_root + kPodCgroup);
        write_text(proc_root + "/" + std::to_string(kPid) + "/cgroup", "0::" + kPodCgroup + "\n");
        cgroups.emplace(procfs::CgroupFs(procfs::CgroupMount{procfs::CgroupVersion::V2, cg_root, "/"}));
        scanner.emplace(proc_root);
    }
    uint64_t id_of(const std::string& cgroup) const { return inode_of(cg_root + cgroup); }

    void add_process(pid_t pid, const std::string& comm, const std::string& cgroup)
    {
        analysis::ProcessSample s;
        s.pid = pid;
        s.comm = comm;
        s.start_ticks = 1;
        s.rss_anon = 4096;
        table.update(s, Clock::now());
        table.set_cgroup(pid, cgroup);
    }
};

void send(EventRouter& r, const KernelEvent& ev)
{
    r.handle(ev);
}

TEST(EventRouter, ExecUpdatesTheCommAndAsksForTheCgroup)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    rig.add_process(100, "bash", kDockerCgroup);
    send(r, exec_event(100, "python3"));
    EXPECT_EQ(rig.table.find(100)->sample.comm, "python3");
    analysis::ProcessSample s;
    s.pid = 100;
    s.comm = "python3";
    s.start_ticks = 1;
    EXPECT_TRUE(rig.table.update(s, Clock::now())); // cgroup re-read requested
}

TEST(EventRouter, ExecOfAnUnknownPidAddsNothing)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    send(r, exec_event(101, "ls"));
    EXPECT_EQ(rig.table.size(), 0u);
}

TEST(EventRouter, ExitOfAKnownProcessUsesTheTablesIdentity)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    rig.add_process(100, "python3", kDockerCgroup);
    rig.add_process(200, "other", kDockerCgroup);
    // The kernel's cgroup id points elsewhere: the table's identity wins for a known process.
    const auto before = Clock::now();
    send(r, exit_event(100, "python3", 123u << 20, rig.id_of(kPodCgroup)));
    const auto after = Clock::now();
    EXPECT_FALSE(rig.table.find(100).has_value());
    EXPECT_EQ(rig.table.size(), 1u);
    const auto recent = rig.exits.recent(after);
    ASSERT_EQ(recent.size(), 1u);
    EXPECT_EQ(recent[0].pid, 100);
    EXPECT_EQ(recent[0].comm, "python3");
    EXPECT_EQ(recent[0].peak_rss, 123u << 20);
    EXPECT_EQ(recent[0].identity.container_id, kDockerId);
    EXPECT_EQ(recent[0].identity.pod_uid, "");
    EXPECT_GE(recent[0].when, before);
    EXPECT_LE(recent[0].when, after);
    EXPECT_EQ(rig.exits.histogram().count, 1u);
    EXPECT_TRUE(rig.kills.empty());
}

TEST(EventRouter, ExitOfAnUnknownProcessUsesTheKernelsCgroup)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    send(r, exit_event(300, "short", 5u << 20, rig.id_of(kPodCgroup)));
    const auto recent = rig.exits.recent(Clock::now());
    ASSERT_EQ(recent.size(), 1u);
    EXPECT_EQ(recent[0].pid, 300);
    EXPECT_EQ(recent[0].comm, "short");
    EXPECT_EQ(recent[0].identity.container_id, kPodId);
    EXPECT_EQ(recent[0].identity.pod_uid, kPodUid);
}

TEST(EventRouter, ExitWithAnUnknownOrNoCgroupHasNoIdentity)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    send(r, exit_event(300, "a", 1, 0));
    send(r, exit_event(301, "b", 2, inode_of(rig.proc_root))); // a directory outside the cgroup tree
    const auto recent = rig.exits.recent(Clock::now());
    ASSERT_EQ(recent.size(), 2u);
    EXPECT_EQ(recent[0].pid, 301);
    EXPECT_EQ(recent[0].identity.container_id, "");
    EXPECT_EQ(recent[1].pid, 300);
    EXPECT_EQ(recent[1].identity.container_id, "");
    EXPECT_EQ(rig.exits.histogram().count, 2u);
}

TEST(EventRouter, OomVictimExitAttributesTheKillToTheKernelsCgroup)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    rig.add_process(static_cast<pid_t>(kPid), "victim", kPodCgroup);
    send(r, oom_event(kPid, "victim"));
    EXPECT_TRUE(rig.kills.empty()); // waits for the exit
    send(r, exit_event(kPid, "victim", 70u << 20, rig.id_of(kDockerCgroup), true));
    ASSERT_EQ(rig.kills.size(), 1u);
    const auto& k = rig.kills[0];
    EXPECT_EQ(k.pid, static_cast<pid_t>(kPid));
    EXPECT_EQ(k.comm, "victim");
    EXPECT_EQ(k.attribution, "exit");
    EXPECT_EQ(k.cgroup, kDockerCgroup);
    EXPECT_EQ(k.identity.container_id, kDockerId);
    EXPECT_EQ(k.anon_rss, 64u << 20);
    EXPECT_EQ(k.trigger_pid, 7);
    EXPECT_EQ(k.trigger_comm, "trigger");
    // The exit is also an exit.
    ASSERT_EQ(rig.exits.recent(Clock::now()).size(), 1u);
    EXPECT_EQ(rig.exits.recent(Clock::now())[0].peak_rss, 70u << 20);
    EXPECT_FALSE(rig.table.find(static_cast<pid_t>(kPid)).has_value());
}

TEST(EventRouter, OomVictimExitWithoutCgroupFallsBackToProc)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    send(r, oom_event(kPid, "victim")); // /proc/<pid>/cgroup of the fake root is read now
    send(r, exit_event(kPid, "victim", 1, 0, true));
    ASSERT_EQ(rig.kills.size(), 1u);
    EXPECT_EQ(rig.kills[0].attribution, "proc");
    EXPECT_EQ(rig.kills[0].cgroup, kPodCgroup);
    EXPECT_EQ(rig.kills[0].identity.container_id, kPodId);
    EXPECT_EQ(rig.kills[0].identity.pod_uid, kPodUid);
}

TEST(EventRouter, OomVictimWithNoCgroupAnywhereIsNone)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    const uint32_t pid = kPid + 1; // no fake /proc entry
    send(r, oom_event(pid, "victim"));
    send(r, exit_event(pid, "victim", 1, 0, true));
    ASSERT_EQ(rig.kills.size(), 1u);
    EXPECT_EQ(rig.kills[0].attribution, "none");
    EXPECT_EQ(rig.kills[0].cgroup, "");
}

TEST(EventRouter, OomVictimCommFromTheTableWhenTheRecordHasNone)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    rig.add_process(static_cast<pid_t>(kPid), "from-table", kPodCgroup);
    send(r, oom_event(kPid, "")); // kernels before 6.1 give no comm
    rig.ooms.tick(Clock::now() + 1h);
    ASSERT_EQ(rig.kills.size(), 1u);
    EXPECT_EQ(rig.kills[0].comm, "from-table");
    EXPECT_EQ(rig.kills[0].attribution, "proc");
    EXPECT_EQ(rig.kills[0].cgroup, kPodCgroup);
}

TEST(EventRouter, ExitWithoutTheOomFlagDoesNotCompleteAKill)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    send(r, oom_event(kPid, "victim"));
    send(r, exit_event(kPid, "victim", 1, rig.id_of(kDockerCgroup), 0));
    EXPECT_TRUE(rig.kills.empty());
}

TEST(EventRouter, QueuedEventsApplyInOrderOnDrain)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    rig.add_process(100, "bash", kDockerCgroup);
    r.push(exec_event(100, "python3"));
    r.push(exit_event(100, "python3", 5u << 20, 0));
    EXPECT_EQ(rig.table.find(100)->sample.comm, "bash"); // nothing applied before the drain
    r.drain();
    EXPECT_FALSE(rig.table.find(100).has_value());
    const auto recent = rig.exits.recent(Clock::now());
    ASSERT_EQ(recent.size(), 1u);
    EXPECT_EQ(recent[0].comm, "python3");
    EXPECT_EQ(r.queue_full(), 0u);
}

TEST(EventRouter, AFullQueueCountsWhatItDrops)
{
    Rig rig;
    EventRouter r(rig.table, rig.exits, rig.ooms, *rig.cgroups, *rig.scanner);
    for (size_t i = 0; i < EventRouter::kMaxQueued + 3; ++i)
        r.push(exec_event(static_cast<pid_t>(1000 + i), "x"));
    EXPECT_EQ(r.queue_full(), 3u);
    r.drain();
    r.push(exec_event(1, "x")); // room again
    EXPECT_EQ(r.queue_full(), 3u);
}

} // namespace
} // namespace memsight::agent
