// The verdict behind /healthz and /readyz.
#include "agent/agent.h"

#include <gtest/gtest.h>

namespace {

using memsight::agent::judge_health;
using memsight::agent::Progress;
using memsight::analysis::Clock;
using namespace std::chrono_literals;

const Clock::time_point t0 = Clock::now();

TEST(Health, StartingIsLiveButNotReady)
{
    const auto h = judge_health(Progress{t0, 0, {}}, t0 + 5s, 10s, false);
    EXPECT_TRUE(h.live);
    EXPECT_FALSE(h.ready);
    EXPECT_EQ(h.detail, "starting: BPF programs attached, first scan not finished");
}

TEST(Health, ReadyAfterTheFirstScan)
{
    const auto h = judge_health(Progress{t0, 3, t0 + 20s}, t0 + 22s, 10s, false);
    EXPECT_TRUE(h.live);
    EXPECT_TRUE(h.ready);
    EXPECT_EQ(h.detail, "ok: 3 scans, the last 2 s ago");
}

TEST(Health, StalledLoopIsNotLiveAfterThreeIntervals)
{
    // Limit max(3 x 20 s, 30 s) = 60 s.
    EXPECT_TRUE(judge_health(Progress{t0, 1, t0}, t0 + 60s, 20s, false).live);
    const auto h = judge_health(Progress{t0, 1, t0}, t0 + 61s, 20s, false);
    EXPECT_FALSE(h.live);
    EXPECT_FALSE(h.ready);
    EXPECT_EQ(h.detail, "stalled: last scan ended 61 s ago (limit 60 s)");
}

TEST(Health, ShortIntervalsGetThirtySeconds)
{
    EXPECT_TRUE(judge_health(Progress{t0, 1, t0}, t0 + 29s, 1s, false).live);
    EXPECT_FALSE(judge_health(Progress{t0, 1, t0}, t0 + 31s, 1s, false).live);
}

TEST(Health, FirstScanThatNeverEndsIsNotLive)
{
    const auto h = judge_health(Progress{t0, 0, {}}, t0 + 45s, 10s, false);
    EXPECT_FALSE(h.live);
    EXPECT_EQ(h.detail, "stalled: no scan finished since start 45 s ago (limit 30 s)");
}

TEST(Health, StoppingIsNotReady)
{
    const auto h = judge_health(Progress{t0, 5, t0}, t0 + 1s, 10s, true);
    EXPECT_TRUE(h.live);
    EXPECT_FALSE(h.ready);
    EXPECT_EQ(h.detail, "stopping");
}

} // namespace
