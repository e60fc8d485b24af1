// Tests for OOM-kill attribution (mark_victim joined with the victim's exit, fallbacks after a timeout)
// and the bounded OOM statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "analysis/oom.h"

namespace memsight::analysis {
namespace {

using namespace std::chrono_literals;

const Clock::time_point kT0 = Clock::time_point{} + 1000h;
const std::string kDockerId = "3f1b0a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
const std::string kVictimCgroup = "/docker/" + kDockerId;
const std::string kOtherId = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
const std::string kPodUid = "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab";
const std::string kProcCgroup = "/kubepods/burstable/pod" + kPodUid + "/" + kOtherId;

OomEvent oom_event(uint32_t pid, const char* comm = "victim")
{
    OomEvent ev;
    ev.victim = static_cast<pid_t>(pid);
    ev.trigger = 77;
    ev.oom_score_adj = -500;
    ev.uid = 1000;
    ev.total_vm_bytes = 900u << 20;
    ev.anon_rss_bytes = 300u << 20;
    ev.file_rss_bytes = 20u << 20;
    ev.shmem_rss_bytes = 4u << 20;
    ev.pgtables_bytes = 1u << 20;
    ev.comm = comm;
    ev.trigger_comm = "allocator";
    return ev;
}

struct Collected {
    std::vector<OomKill> kills;
    OomTracker::Sink sink()
    {
        return [this](const OomKill& k) { kills.push_back(k); };
    }
};

TEST(OomTracker, TheKillsTimeIsTheKernelsTimestampOnTheWallClock)
{
    Collected c;
    OomTracker t(c.sink());
    OomEvent ev = oom_event(4242);
    const auto before = std::chrono::system_clock::now();
    const auto mono = std::chrono::steady_clock::now().time_since_epoch(); // the kernel's clock, 1.5 s after the kill
    const auto after = std::chrono::system_clock::now();
    ev.ts_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(mono - 1500ms).count());
    t.on_mark_victim(ev, "", kProcCgroup, kT0);
    t.on_victim_exit(4242, kVictimCgroup);
    ASSERT_EQ(c.kills.size(), 1u);
    // The conversion reads both clocks again, a few nanoseconds apart (and after `after`): 1 ms of slack.
    EXPECT_GE(c.kills[0].time, before - 1500ms - 1ms);
    EXPECT_LE(c.kills[0].time, after - 1500ms + 1ms);
    EXPECT_EQ(c.kills[0].seen, kT0); // timeouts still run from when the agent saw it
}

TEST(OomTracker, ExitWithTheKernelsCgroupAttributesToTheVictim)
{
    Collected c;
    OomTracker t(c.sink());
    const auto before = std::chrono::system_clock::now();
    t.on_mark_victim(oom_event(4242), "ignored", kProcCgroup, kT0);
    const auto after = std::chrono::system_clock::now();
    EXPECT_TRUE(c.kills.empty()); // waits for the exit
    t.on_victim_exit(4242, kVictimCgroup);
    ASSERT_EQ(c.kills.size(), 1u);
    const OomKill& k = c.kills[0];
    EXPECT_EQ(k.pid, 4242);
    EXPECT_EQ(k.comm, "victim");
    EXPECT_EQ(k.cgroup, kVictimCgroup); // the exit's, not the /proc reading
    EXPECT_EQ(k.attribution, "exit");
    EXPECT_EQ(k.identity.container_id, kDockerId);
    EXPECT_EQ(k.identity.runtime, "docker");
    EXPECT_EQ(k.identity.pod_uid, "");
    EXPECT_EQ(k.anon_rss, 300u << 20);
    EXPECT_EQ(k.file_rss, 20u << 20);
    EXPECT_EQ(k.shmem_rss, 4u << 20);
    EXPECT_EQ(k.total_vm, 900u << 20);
    EXPECT_EQ(k.pgtables, 1u << 20);
    EXPECT_EQ(k.oom_score_adj, -500);
    EXPECT_EQ(k.uid, 1000u);
    EXPECT_EQ(k.trigger_pid, 77);
    EXPECT_EQ(k.trigger_comm, "allocator");
    EXPECT_EQ(k.seen, kT0);
    EXPECT_GE(k.time, before);
    EXPECT_LE(k.time, after);
    // Emitted once: a second exit or a tick does nothing.
    t.on_victim_exit(4242, kVictimCgroup);
    t.tick(kT0 + 1h);
    EXPECT_EQ(c.kills.size(), 1u);
}

TEST(OomTracker, ExitWithoutCgroupFallsBackToTheProcReading)
{
    Collected c;
    OomTracker t(c.sink());
    t.on_mark_victim(oom_event(10), "", kProcCgroup, kT0);
    t.on_victim_exit(10, std::nullopt);
    ASSERT_EQ(c.kills.size(), 1u);
    EXPECT_EQ(c.kills[0].attribution, "proc");
    EXPECT_EQ(c.kills[0].cgroup, kProcCgroup);
    EXPECT_EQ(c.kills[0].identity.container_id, kOtherId);
    EXPECT_EQ(c.kills[0].identity.pod_uid, kPodUid);
}

TEST(OomTracker, NoCgroupAnywhereIsNone)
{
    Collected c;
    OomTracker t(c.sink());
    t.on_mark_victim(oom_event(10), "", std::nullopt, kT0);
    t.on_victim_exit(10, std::nullopt);
    ASSERT_EQ(c.kills.size(), 1u);
    EXPECT_EQ(c.kills[0].attribution, "none");
    EXPECT_EQ(c.kills[0].cgroup, "");
    EXPECT_EQ(c.kills[0].identity.container_id, "");
}

TEST(OomTracker, ExitOfAProcessThatWasNotKilledIsIgnored)
{
    Collected c;
    OomTracker t(c.sink());
    t.on_mark_victim(oom_event(10), "", kProcCgroup, kT0);
    t.on_victim_exit(11, kVictimCgroup);
    EXPECT_TRUE(c.kills.empty());
    t.on_victim_exit(10, kVictimCgroup);
    ASSERT_EQ(c.kills.size(), 1u);
    EXPECT_EQ(c.kills[0].pid, 10);
}

TEST(OomTracker, TimeoutEmitsWithTheProcReading)
{
    Collected c;
    OomTracker t(c.sink()); // default timeout: 2 s
    t.on_mark_victim(oom_event(10), "", kProcCgroup, kT0);
    t.on_mark_victim(oom_event(11), "", std::nullopt, kT0 + 1s);
    t.tick(kT0 + 2s - 1ns);
    EXPECT_TRUE(c.kills.empty());
    t.tick(kT0 + 2s); // exactly the timeout
    ASSERT_EQ(c.kills.size(), 1u);
    EXPECT_EQ(c.kills[0].pid, 10);
    EXPECT_EQ(c.kills[0].attribution, "proc");
    EXPECT_EQ(c.kills[0].cgroup, kProcCgroup);
    t.tick(kT0 + 3s);
    ASSERT_EQ(c.kills.size(), 2u);
    EXPECT_EQ(c.kills[1].pid, 11);
    EXPECT_EQ(c.kills[1].attribution, "none");
    // A late exit does not emit the kill again.
    t.on_victim_exit(10, kVictimCgroup);
    t.tick(kT0 + 1h);
    EXPECT_EQ(c.kills.size(), 2u);
}

TEST(OomTracker, CustomTimeout)
{
    Collected c;
    OomTracker t(c.sink(), 100ms);
    t.on_mark_victim(oom_event(10), "", kProcCgroup, kT0);
    t.tick(kT0 + 99ms);
    EXPECT_TRUE(c.kills.empty());
    t.tick(kT0 + 100ms);
    EXPECT_EQ(c.kills.size(), 1u);
}

TEST(OomTracker, CommFallbackOnlyWhenTheRecordHasNone)
{
    Collected c;
    OomTracker t(c.sink());
    t.on_mark_victim(oom_event(10, ""), "from-proc", std::nullopt, kT0);
    t.on_mark_victim(oom_event(11, "kernel-comm"), "from-proc", std::nullopt, kT0);
    t.tick(kT0 + 1h);
    ASSERT_EQ(c.kills.size(), 2u);
    EXPECT_EQ(c.kills[0].comm, "from-proc");
    EXPECT_EQ(c.kills[1].comm, "kernel-comm");
}

OomKill kill_of(pid_t pid, std::string comm, std::string container_id, Clock::time_point seen, std::string pod_uid = "")
{
    OomKill k;
    k.pid = pid;
    k.comm = std::move(comm);
    k.identity.container_id = std::move(container_id);
    k.identity.pod_uid = std::move(pod_uid);
    k.seen = seen;
    return k;
}

uint64_t kills_of(const std::vector<OomStats::Series>& s, const std::string& comm, const std::string& id,
                  const std::string& pod = "")
{
    for (const auto& x : s) {
        if (x.comm == comm && x.container_id == id && x.pod_uid == pod)
            return x.kills;
    }
    return 0;
}

TEST(OomStats, CountsPerCommContainerAndPod)
{
    OomStats st(10);
    st.add(kill_of(1, "java", kDockerId, kT0));
    st.add(kill_of(2, "java", kDockerId, kT0));
    st.add(kill_of(3, "java", kOtherId, kT0, kPodUid));
    st.add(kill_of(4, "python", "", kT0));
    const auto s = st.series();
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(kills_of(s, "java", kDockerId), 2u);
    EXPECT_EQ(kills_of(s, "java", kOtherId, kPodUid), 1u);
    EXPECT_EQ(kills_of(s, "python", ""), 1u);
}

TEST(OomStats, BeyondMaxSeriesKillsGoToOther)
{
    OomStats st(2);
    st.add(kill_of(1, "alpha", "", kT0));
    st.add(kill_of(2, "beta", "", kT0));
    st.add(kill_of(3, "gamma", "", kT0));        // new: _other_
    st.add(kill_of(4, "delta", kDockerId, kT0)); // new: _other_
    st.add(kill_of(5, "alpha", "", kT0));        // known: its own series
    const auto s = st.series();
    ASSERT_EQ(s.size(), 3u); // max_series + 1
    EXPECT_EQ(kills_of(s, "alpha", ""), 2u);
    EXPECT_EQ(kills_of(s, "beta", ""), 1u);
    EXPECT_EQ(kills_of(s, "_other_", ""), 2u);
    EXPECT_EQ(kills_of(s, "gamma", ""), 0u);
    EXPECT_EQ(kills_of(s, "delta", kDockerId), 0u);
}

TEST(OomStats, ZeroMaxSeriesCountsEverythingAsOther)
{
    OomStats st(0);
    st.add(kill_of(1, "alpha", kDockerId, kT0, kPodUid));
    st.add(kill_of(2, "beta", "", kT0));
    const auto s = st.series();
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].comm, "_other_");
    EXPECT_EQ(s[0].container_id, "");
    EXPECT_EQ(s[0].pod_uid, "");
    EXPECT_EQ(s[0].kills, 2u);
}

std::vector<pid_t> pids_of(const std::vector<OomKill>& v)
{
    std::vector<pid_t> out;
    for (const auto& k : v)
        out.push_back(k.pid);
    return out;
}

TEST(OomStats, RecentIsTheLastTenNewestFirst)
{
    OomStats st(100);
    for (pid_t i = 1; i <= 12; ++i)
        st.add(kill_of(i, "c", "", kT0 + std::chrono::seconds(i)));
    EXPECT_EQ(pids_of(st.recent(kT0 + 12s)), (std::vector<pid_t>{12, 11, 10, 9, 8, 7, 6, 5, 4, 3}));
    // The kill counts are not limited to the recent list.
    EXPECT_EQ(kills_of(st.series(), "c", ""), 12u);
}

TEST(OomStats, RecentKeepsOnlyTheLastHour)
{
    OomStats st(100);
    for (pid_t i = 1; i <= 12; ++i)
        st.add(kill_of(i, "c", "", kT0 + std::chrono::seconds(i)));
    // seen at t0+5s is exactly one hour old: kept; t0+3s and t0+4s are older.
    EXPECT_EQ(pids_of(st.recent(kT0 + 1h + 5s)), (std::vector<pid_t>{12, 11, 10, 9, 8, 7, 6, 5}));
    EXPECT_TRUE(st.recent(kT0 + 2h).empty());
}

} // namespace
} // namespace memsight::analysis
