// Tests for the process table (pid reuse, growth over a window, stale entries, exec, cgroup refresh)
// and for the choice of exported processes (top N by RSS + top M by growth).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "analysis/process_table.h"

namespace memsight::analysis {
namespace {

using namespace std::chrono_literals;

const std::string kDockerId = "3f1b0a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
const std::string kDockerCgroup = "/system.slice/docker-" + kDockerId + ".scope";

// A fixed origin, so every time point in these tests is explicit.
const Clock::time_point kT0 = Clock::time_point{} + 1000h;

ProcessSample sample(pid_t pid, uint64_t rss_anon, uint64_t start_ticks = 100, std::string comm = "proc")
{
    ProcessSample s;
    s.pid = pid;
    s.comm = std::move(comm);
    s.start_ticks = start_ticks;
    s.rss_anon = rss_anon;
    return s;
}

std::vector<pid_t> pids_of(const std::vector<ProcessView>& v)
{
    std::vector<pid_t> out;
    for (const auto& p : v)
        out.push_back(p.sample.pid);
    return out;
}

TEST(ProcessTable, RssIsTheSumOfTheThreeKinds)
{
    ProcessSample s;
    s.rss_anon = 1000;
    s.rss_file = 200;
    s.rss_shmem = 30;
    s.swap = 4; // not resident
    EXPECT_EQ(s.rss(), 1230u);
}

TEST(ProcessTable, FirstUpdateInsertsAndAsksForTheCgroup)
{
    ProcessTable t(60s);
    ProcessSample s = sample(42, 4096, 7, "postgres");
    s.rss_file = 10;
    s.rss_shmem = 20;
    s.swap = 30;
    s.peak_rss = 5000;
    s.minflt = 11;
    s.majflt = 2;
    EXPECT_TRUE(t.update(s, kT0));
    EXPECT_EQ(t.size(), 1u);
    const auto v = t.find(42);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->sample.pid, 42);
    EXPECT_EQ(v->sample.comm, "postgres");
    EXPECT_EQ(v->sample.start_ticks, 7u);
    EXPECT_EQ(v->sample.rss_anon, 4096u);
    EXPECT_EQ(v->sample.rss_file, 10u);
    EXPECT_EQ(v->sample.rss_shmem, 20u);
    EXPECT_EQ(v->sample.swap, 30u);
    EXPECT_EQ(v->sample.peak_rss, 5000u);
    EXPECT_EQ(v->sample.minflt, 11u);
    EXPECT_EQ(v->sample.majflt, 2u);
    EXPECT_EQ(v->growth_bytes_per_second, 0.0); // a single reading has no growth
    EXPECT_EQ(v->cgroup, "");
    EXPECT_EQ(v->identity.container_id, "");
    EXPECT_FALSE(t.find(43).has_value());
}

TEST(ProcessTable, GrowthFromTheFirstReadingWhileYoungerThanTheWindow)
{
    ProcessTable t(60s);
    t.update(sample(1, 100u << 20), kT0);
    t.update(sample(1, 110u << 20), kT0 + 10s);
    EXPECT_DOUBLE_EQ(t.find(1)->growth_bytes_per_second, 1048576.0); // 10 MiB in 10 s
    t.update(sample(1, 130u << 20), kT0 + 20s);
    EXPECT_DOUBLE_EQ(t.find(1)->growth_bytes_per_second, 1.5 * 1048576.0); // 30 MiB in 20 s
}

TEST(ProcessTable, GrowthIsNegativeWhenTheProcessShrinks)
{
    ProcessTable t(60s);
    t.update(sample(1, 2000), kT0);
    t.update(sample(1, 1000), kT0 + 10s);
    EXPECT_DOUBLE_EQ(t.find(1)->growth_bytes_per_second, -100.0);
}

TEST(ProcessTable, GrowthUsesTheNewestReadingAtLeastOneWindowOld)
{
    ProcessTable t(10s);
    t.update(sample(1, 0), kT0);
    t.update(sample(1, 1000), kT0 + 5s);
    EXPECT_DOUBLE_EQ(t.find(1)->growth_bytes_per_second, 200.0); // 1000 / 5
    t.update(sample(1, 2000), kT0 + 10s);
    EXPECT_DOUBLE_EQ(t.find(1)->growth_bytes_per_second, 200.0); // 2000 / 10 (from t0)
    t.update(sample(1, 2000), kT0 + 15s);
    EXPECT_DOUBLE_EQ(t.find(1)->growth_bytes_per_second, 100.0); // (2000 - 1000) / 10 (from t0+5)
    t.update(sample(1, 5000), kT0 + 20s);
    EXPECT_DOUBLE_EQ(t.find(1)->growth_bytes_per_second, 300.0); // (5000 - 2000) / 10 (from t0+10)
    // A long gap: the only older reading is the previous one, the span is the gap.
    t.update(sample(1, 9000), kT0 + 60s);
    EXPECT_DOUBLE_EQ(t.find(1)->growth_bytes_per_second, 100.0); // (9000 - 5000) / 40
}

TEST(ProcessTable, GrowthCountsAllThreeResidentKinds)
{
    ProcessTable t(60s);
    ProcessSample a = sample(1, 100);
    t.update(a, kT0);
    a.rss_file = 300;
    a.rss_shmem = 600;
    t.update(a, kT0 + 3s);
    EXPECT_DOUBLE_EQ(t.find(1)->growth_bytes_per_second, 300.0);
}

TEST(ProcessTable, GrowthCountsSwappedOutMemory)
{
    // A leak being swapped out: RSS stays flat, swap grows.
    ProcessTable t(60s);
    ProcessSample a = sample(1, 1000);
    t.update(a, kT0);
    a.swap = 600;
    t.update(a, kT0 + 3s);
    EXPECT_DOUBLE_EQ(t.find(1)->growth_bytes_per_second, 200.0);
}

TEST(ProcessTable, PidReuseStartsANewProcess)
{
    ProcessTable t(60s);
    EXPECT_TRUE(t.update(sample(7, 100u << 20, /*start_ticks=*/1000, "old"), kT0));
    t.set_cgroup(7, kDockerCgroup);
    ASSERT_EQ(t.find(7)->identity.container_id, kDockerId);
    // Same pid, different start time: another process; its history, cgroup and identity start empty.
    EXPECT_TRUE(t.update(sample(7, 1u << 20, /*start_ticks=*/2000, "new"), kT0 + 10s));
    const auto v = t.find(7);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->sample.comm, "new");
    EXPECT_EQ(v->sample.start_ticks, 2000u);
    EXPECT_EQ(v->growth_bytes_per_second, 0.0);
    EXPECT_EQ(v->cgroup, "");
    EXPECT_EQ(v->identity.container_id, "");
    EXPECT_EQ(t.size(), 1u);
    // Its growth is measured from its own first reading.
    t.update(sample(7, 3u << 20, 2000, "new"), kT0 + 12s);
    EXPECT_DOUBLE_EQ(t.find(7)->growth_bytes_per_second, 1048576.0);
}

TEST(ProcessTable, SameStartTicksKeepsHistoryAndCgroup)
{
    ProcessTable t(60s);
    t.update(sample(7, 1000, 1000), kT0);
    t.set_cgroup(7, kDockerCgroup);
    EXPECT_FALSE(t.update(sample(7, 3000, 1000), kT0 + 2s));
    const auto v = t.find(7);
    EXPECT_DOUBLE_EQ(v->growth_bytes_per_second, 1000.0);
    EXPECT_EQ(v->cgroup, kDockerCgroup);
    EXPECT_EQ(v->identity.container_id, kDockerId);
    EXPECT_EQ(v->identity.runtime, "docker");
}

TEST(ProcessTable, CgroupIsReReadEverySixthScan)
{
    ProcessTable t(60s);
    EXPECT_TRUE(t.update(sample(1, 1), kT0));
    // Until the cgroup is known, every scan asks for it.
    EXPECT_TRUE(t.update(sample(1, 1), kT0 + 1s));
    t.set_cgroup(1, "/user.slice");
    std::vector<bool> asks;
    for (int i = 0; i < 13; ++i)
        asks.push_back(t.update(sample(1, 1), kT0 + std::chrono::seconds(2 + i)));
    std::vector<bool> want(13, false);
    want[5] = true; // the 6th scan after set_cgroup
    want[6] = true; // ... and every scan after that until set_cgroup is called again
    want[7] = true;
    want[8] = true;
    want[9] = true;
    want[10] = true;
    want[11] = true;
    want[12] = true;
    EXPECT_EQ(asks, want);
    t.set_cgroup(1, "/user.slice");
    EXPECT_FALSE(t.update(sample(1, 1), kT0 + 30s));
}

TEST(ProcessTable, SetCgroupSetsIdentityAndIgnoresUnknownPids)
{
    ProcessTable t(60s);
    t.update(sample(1, 1), kT0);
    t.set_cgroup(1, kDockerCgroup);
    EXPECT_EQ(t.find(1)->cgroup, kDockerCgroup);
    EXPECT_EQ(t.find(1)->identity.container_id, kDockerId);
    // Moving to a non-container cgroup clears the identity.
    t.set_cgroup(1, "/user.slice/user-1000.slice/session-3.scope");
    EXPECT_EQ(t.find(1)->cgroup, "/user.slice/user-1000.slice/session-3.scope");
    EXPECT_EQ(t.find(1)->identity.container_id, "");
    EXPECT_EQ(t.find(1)->identity.runtime, "");
    t.set_cgroup(99, kDockerCgroup);
    EXPECT_EQ(t.size(), 1u);
    EXPECT_FALSE(t.find(99).has_value());
}

TEST(ProcessTable, ExecChangesCommAndAsksForTheCgroupAgain)
{
    ProcessTable t(60s);
    t.update(sample(5, 1, 1, "bash"), kT0);
    t.set_cgroup(5, kDockerCgroup);
    t.on_exec(5, "python3");
    EXPECT_EQ(t.find(5)->sample.comm, "python3");
    EXPECT_EQ(t.find(5)->cgroup, kDockerCgroup); // kept until re-read
    EXPECT_TRUE(t.update(sample(5, 1, 1, "python3"), kT0 + 1s));
    // Exec of a pid not in the table does not add it.
    t.on_exec(6, "ls");
    EXPECT_EQ(t.size(), 1u);
    EXPECT_FALSE(t.find(6).has_value());
}

TEST(ProcessTable, DropStaleRemovesProcessesNotUpdatedSinceTheScanStart)
{
    ProcessTable t(60s);
    t.update(sample(1, 1), kT0);
    t.update(sample(2, 1), kT0);
    t.update(sample(3, 1), kT0);
    t.update(sample(1, 1), kT0 + 10s);
    t.update(sample(3, 1), kT0 + 11s);
    t.drop_stale(kT0 + 10s); // updated exactly at the scan start: kept
    EXPECT_EQ(pids_of(t.snapshot()), (std::vector<pid_t>{1, 3}));
    t.drop_stale(kT0 + 10s + 1ns);
    EXPECT_EQ(pids_of(t.snapshot()), (std::vector<pid_t>{3}));
}

TEST(ProcessTable, RemoveReturnsTheProcessOnce)
{
    ProcessTable t(60s);
    t.update(sample(1, 10, 1, "a"), kT0);
    t.update(sample(2, 20, 1, "b"), kT0);
    t.set_cgroup(2, kDockerCgroup);
    const auto v = t.remove(2);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->sample.pid, 2);
    EXPECT_EQ(v->sample.comm, "b");
    EXPECT_EQ(v->sample.rss_anon, 20u);
    EXPECT_EQ(v->identity.container_id, kDockerId);
    EXPECT_EQ(t.size(), 1u);
    EXPECT_FALSE(t.remove(2).has_value());
    EXPECT_FALSE(t.find(2).has_value());
    EXPECT_FALSE(t.remove(77).has_value());
}

TEST(ProcessTable, SnapshotHasEveryProcessInPidOrder)
{
    ProcessTable t(60s);
    for (pid_t pid : {30, 10, 20})
        t.update(sample(pid, static_cast<uint64_t>(pid) * 100), kT0);
    const auto all = t.snapshot();
    EXPECT_EQ(pids_of(all), (std::vector<pid_t>{10, 20, 30}));
    EXPECT_EQ(all[2].sample.rss_anon, 3000u);
}

ProcessView view(pid_t pid, uint64_t rss, double growth)
{
    ProcessView v;
    v.sample = sample(pid, rss);
    v.growth_bytes_per_second = growth;
    return v;
}

std::vector<ProcessView> six()
{
    return {view(5, 100, 20), view(2, 400, -5), view(6, 50, 0), view(1, 500, 0), view(4, 200, 50), view(3, 300, 10)};
}

TEST(SelectExported, TopByRssPlusTopByGrowthSortedByRss)
{
    EXPECT_EQ(pids_of(select_exported(six(), 2, 2)), (std::vector<pid_t>{1, 2, 4, 5}));
}

TEST(SelectExported, OnlyPositiveGrowthCounts)
{
    // 3 processes grow; 6 (0) and 2 (negative) are not "growing".
    EXPECT_EQ(pids_of(select_exported(six(), 0, 10)), (std::vector<pid_t>{3, 4, 5}));
    EXPECT_EQ(pids_of(select_exported(six(), 1, 10)), (std::vector<pid_t>{1, 3, 4, 5}));
}

TEST(SelectExported, AProcessInBothSetsIsExportedOnce)
{
    // RSS top 4: 1, 2, 3, 4; growth top 2: 4, 5 -> 4 once.
    const auto out = select_exported(six(), 4, 2);
    EXPECT_EQ(pids_of(out), (std::vector<pid_t>{1, 2, 3, 4, 5}));
}

TEST(SelectExported, BoundsLargerThanTheInputAndZero)
{
    EXPECT_EQ(pids_of(select_exported(six(), 100, 100)), (std::vector<pid_t>{1, 2, 3, 4, 5, 6}));
    EXPECT_TRUE(select_exported(six(), 0, 0).empty());
    EXPECT_TRUE(select_exported({}, 3, 3).empty());
    EXPECT_TRUE(select_exported({view(1, 10, -1), view(2, 20, 0)}, 0, 5).empty());
}

TEST(SelectExported, KeepsTheWholeView)
{
    auto in = six();
    in[4].sample.comm = "grower";
    in[4].cgroup = kDockerCgroup;
    in[4].identity.container_id = kDockerId;
    const auto out = select_exported(in, 0, 1);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].sample.pid, 4);
    EXPECT_EQ(out[0].sample.comm, "grower");
    EXPECT_EQ(out[0].cgroup, kDockerCgroup);
    EXPECT_EQ(out[0].identity.container_id, kDockerId);
    EXPECT_DOUBLE_EQ(out[0].growth_bytes_per_second, 50.0);
}

} // namespace
} // namespace memsight::analysis
