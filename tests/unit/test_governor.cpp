// The overhead governor: the estimate's formula and window, when it may stop a session, and the CPU meter over a
// fake /proc.
#include "deep/governor.h"
#include "test_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace memsight::deep {
namespace {

using Reading = OverheadGovernor::Reading;

// A /proc/PID/stat line with these utime, stime (fields 14, 15) and start time (field 22).
std::string stat_line(pid_t pid, uint64_t utime, uint64_t stime, uint64_t start)
{
    std::string s = std::to_string(pid) + " (worker) S 1 1 1 0 -1 4194560 100 0 0 0 " + std::to_string(utime) + " " +
                    std::to_string(stime) + " 0 0 20 0 1 0 " + std::to_string(start) +
                    " 1000000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
    return s;
}

TEST(OverheadGovernor, EstimateIsProbeTimeOverTargetCpu)
{
    // 10000 hits/s at 5 us = 50 ms/s of probe time against 500 ms/s of process CPU: 10%.
    OverheadGovernor g(5e-6, 0.02);
    g.add({0, 0, 0});
    g.add({2, 20000, 1.0});
    ASSERT_TRUE(g.estimate());
    EXPECT_NEAR(*g.estimate(), 0.10, 1e-12);
    EXPECT_TRUE(g.over_budget());
    EXPECT_NE(g.explain().find("10000 probe hits/s"), std::string::npos) << g.explain();
    EXPECT_NE(g.explain().find("50.0 ms/s against 500.0 ms/s"), std::string::npos) << g.explain();
}

TEST(OverheadGovernor, UnderTheBudgetKeepsRunning)
{
    OverheadGovernor g(5e-6, 0.02);
    g.add({0, 0, 0});
    g.add({5, 5000, 2.0}); // 25 ms of probes in 2 s of CPU: 1.25%
    EXPECT_NEAR(*g.estimate(), 0.0125, 1e-12);
    EXPECT_FALSE(g.over_budget());
}

TEST(OverheadGovernor, NoEstimateBeforeTheMinimumSpan)
{
    OverheadGovernor g(5e-6, 0.02);
    g.add({0, 0, 0});
    EXPECT_FALSE(g.estimate());
    g.add({0.5, 100000, 0.6}); // very costly, but only half a second of evidence
    EXPECT_FALSE(g.estimate());
    EXPECT_FALSE(g.over_budget());
    g.add({1.0, 200000, 1.2});
    EXPECT_TRUE(g.estimate());
    EXPECT_TRUE(g.over_budget());
}

TEST(OverheadGovernor, NeverAboveOneWhenTicksLagBehindTheProbes)
{
    // utime/stime advance in clock ticks: the CPU reading can be below what the probes alone took.
    OverheadGovernor g(5e-6, 0.02);
    g.add({0, 0, 0});
    g.add({1, 40000, 0.15}); // 200 ms of probes, 150 ms of CPU seen
    EXPECT_DOUBLE_EQ(*g.estimate(), 1.0);
    EXPECT_TRUE(g.over_budget());
}

TEST(OverheadGovernor, TooLittleCpuIsNeverStopped)
{
    // 80 ms of CPU in the window (below kMinCpu): ticks are too coarse to judge, and the probes cost it little.
    OverheadGovernor g(5e-6, 0.02);
    g.add({0, 0, 0});
    g.add({10, 8000, 0.08});
    EXPECT_NEAR(*g.estimate(), 0.5, 1e-12);
    EXPECT_FALSE(g.over_budget());
}

TEST(OverheadGovernor, ZeroBudgetOnlyEstimates)
{
    OverheadGovernor g(5e-6, 0);
    g.add({0, 0, 0});
    g.add({2, 400000, 2.0});
    EXPECT_DOUBLE_EQ(*g.estimate(), 1.0);
    EXPECT_FALSE(g.over_budget());
}

TEST(OverheadGovernor, NoHitsNoOverhead)
{
    OverheadGovernor g(5e-6, 0.02);
    g.add({0, 0, 0});
    g.add({3, 0, 3.0});
    EXPECT_DOUBLE_EQ(*g.estimate(), 0.0);
    EXPECT_FALSE(g.over_budget());
}

TEST(OverheadGovernor, SlidingWindowForgetsAnExpensiveStart)
{
    // A burst of hits in the first seconds, then quiet: once the burst leaves the window the estimate drops.
    OverheadGovernor g(5e-6, 0.02);
    g.add({0, 0, 0});
    g.add({2, 100000, 1.0}); // 500 ms of probes in 1 s of CPU... capped at 100%
    EXPECT_TRUE(g.over_budget());
    uint64_t hits = 100000;
    double cpu = 1.0;
    for (int t = 3; t <= 2 + static_cast<int>(OverheadGovernor::kWindow) + 1; ++t) {
        hits += 100; // 0.5 ms/s of probes
        cpu += 0.5;  // 500 ms/s of CPU
        g.add({static_cast<double>(t), hits, cpu});
    }
    ASSERT_TRUE(g.estimate());
    EXPECT_NEAR(*g.estimate(), 0.001, 1e-9);
    EXPECT_FALSE(g.over_budget());
}

TEST(OverheadGovernor, CounterGoingBackwardsCountsAsNoHits)
{
    OverheadGovernor g(5e-6, 0.02);
    g.add({0, 500, 0});
    g.add({2, 100, 1.0});
    EXPECT_DOUBLE_EQ(*g.estimate(), 0.0);
}

TEST(ProbeHits, AllocationAndFreeCalls)
{
    loader::AllocCounters c{};
    c[MEMSIGHT_ACNT_ALLOC_CALLS] = 7;
    c[MEMSIGHT_ACNT_FREE_CALLS] = 5;
    c[MEMSIGHT_ACNT_SAMPLED] = 1000; // not a hit of its own
    EXPECT_EQ(probe_hits(c), 12u);
}

TEST(FormatBudget, PercentOrNoLimit)
{
    EXPECT_EQ(format_budget(0.02), "2%");
    EXPECT_EQ(format_budget(0.005), "0.5%");
    EXPECT_EQ(format_budget(0), "0 (no limit)");
}

TEST(CpuMeter, GrowthSinceFirstReadingAcrossExitAndPidReuse)
{
    test::TempDir proc;
    const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const auto stat = [&](pid_t pid, uint64_t u, uint64_t s, uint64_t start) {
        test::write_text(proc.path() + "/" + std::to_string(pid) + "/stat", stat_line(pid, u, s, start));
    };
    CpuMeter meter(proc.path());
    stat(10, 100, 50, 1000);
    stat(11, 7, 3, 2000);
    EXPECT_DOUBLE_EQ(meter.read({10, 11}), 0.0); // baselines only
    stat(10, 130, 60, 1000);                     // +40 ticks
    stat(11, 9, 3, 2000);                        // +2 ticks
    EXPECT_DOUBLE_EQ(meter.read({10, 11}), 42 / hz);
    std::filesystem::remove_all(proc.path() + "/11"); // pid 11 exited: what it used stays counted
    stat(10, 140, 60, 1000);                          // +10
    EXPECT_DOUBLE_EQ(meter.read({10, 11}), 52 / hz);
    stat(11, 500, 500, 9000); // pid 11 reused by a new process: a new baseline, not +990
    EXPECT_DOUBLE_EQ(meter.read({10, 11}), 52 / hz);
    stat(11, 501, 500, 9000);
    EXPECT_DOUBLE_EQ(meter.read({10, 11}), 53 / hz);
}

} // namespace
} // namespace memsight::deep
