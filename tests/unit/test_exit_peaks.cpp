// Tests for the exit-peak histogram and the largest recent exits (window, capacity beyond top).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "analysis/exit_peaks.h"

namespace memsight::analysis {
namespace {

using namespace std::chrono_literals;

const Clock::time_point kT0 = Clock::time_point{} + 1000h;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

ExitRecord exit_of(pid_t pid, uint64_t peak, Clock::time_point when, std::string comm = "cmd")
{
    ExitRecord r;
    r.pid = pid;
    r.comm = std::move(comm);
    r.peak_rss = peak;
    r.when = when;
    return r;
}

std::vector<uint64_t> peaks_of(const std::vector<ExitRecord>& v)
{
    std::vector<uint64_t> out;
    for (const auto& r : v)
        out.push_back(r.peak_rss);
    return out;
}

TEST(ExitPeaks, BucketsArePowersOfFourFromOneMiBToSixteenGiB)
{
    const std::array<double, 8> want = {1.0 * kMiB,   4.0 * kMiB, 16.0 * kMiB, 64.0 * kMiB,
                                        256.0 * kMiB, 1.0 * kGiB, 4.0 * kGiB,  16.0 * kGiB};
    EXPECT_EQ(ExitPeaks::kBuckets, want);
}

TEST(ExitPeaks, EmptyHistogram)
{
    ExitPeaks p(10, 5min);
    const auto h = p.histogram();
    EXPECT_EQ(h.count, 0u);
    EXPECT_EQ(h.sum, 0.0);
    for (auto c : h.cumulative)
        EXPECT_EQ(c, 0u);
    EXPECT_TRUE(p.recent(kT0).empty());
}

TEST(ExitPeaks, HistogramIsCumulativeWithInclusiveUpperBounds)
{
    ExitPeaks p(10, 5min);
    const std::vector<uint64_t> peaks = {0, kMiB, kMiB + 1, 100 * kMiB, 20 * kGiB, 16 * kGiB};
    pid_t pid = 1;
    for (uint64_t v : peaks)
        p.record(exit_of(pid++, v, kT0));
    const auto h = p.histogram();
    EXPECT_EQ(h.count, 6u);
    EXPECT_DOUBLE_EQ(h.sum, static_cast<double>(kMiB + kMiB + 1 + 100 * kMiB + 20 * kGiB + 16 * kGiB));
    // <=1Mi: 0, 1Mi | <=4Mi: +1Mi+1 | <=256Mi: +100Mi | <=16Gi: +16Gi | 20Gi only in +Inf (= count)
    const std::array<uint64_t, 8> want = {2, 3, 3, 3, 4, 4, 4, 5};
    EXPECT_EQ(h.cumulative, want);
}

TEST(ExitPeaks, HistogramCountsEveryExitEvenWithoutATopList)
{
    ExitPeaks p(0, 5min);
    p.record(exit_of(1, 2 * kMiB, kT0));
    p.record(exit_of(2, 3 * kMiB, kT0));
    EXPECT_EQ(p.histogram().count, 2u);
    EXPECT_DOUBLE_EQ(p.histogram().sum, 5.0 * kMiB);
    EXPECT_TRUE(p.recent(kT0).empty());
}

TEST(ExitPeaks, RecentIsTheLargestTopLargestFirst)
{
    ExitPeaks p(3, 60s);
    p.record(exit_of(1, 10, kT0, "a"));
    p.record(exit_of(2, 50, kT0 + 1s, "b"));
    p.record(exit_of(3, 30, kT0 + 2s, "c"));
    p.record(exit_of(4, 40, kT0 + 3s, "d"));
    p.record(exit_of(5, 20, kT0 + 4s, "e"));
    const auto r = p.recent(kT0 + 5s);
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(peaks_of(r), (std::vector<uint64_t>{50, 40, 30}));
    EXPECT_EQ(r[0].pid, 2);
    EXPECT_EQ(r[0].comm, "b");
    EXPECT_EQ(r[0].when, kT0 + 1s);
    EXPECT_EQ(r[1].pid, 4);
    EXPECT_EQ(r[2].pid, 3);
}

TEST(ExitPeaks, KeepsIdentity)
{
    ExitPeaks p(1, 60s);
    ExitRecord r = exit_of(9, 123, kT0, "job");
    r.identity.container_id = std::string(64, 'a');
    r.identity.pod_uid = "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab";
    r.identity.runtime = "containerd";
    p.record(r);
    const auto out = p.recent(kT0);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].identity.container_id, std::string(64, 'a'));
    EXPECT_EQ(out[0].identity.pod_uid, "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab");
    EXPECT_EQ(out[0].identity.runtime, "containerd");
}

TEST(ExitPeaks, WhenTheLargestExpiresTheNextLargestShows)
{
    ExitPeaks p(1, 60s);
    p.record(exit_of(1, 1000, kT0));
    p.record(exit_of(2, 500, kT0 + 30s));
    p.record(exit_of(3, 300, kT0 + 50s));
    EXPECT_EQ(peaks_of(p.recent(kT0 + 50s)), (std::vector<uint64_t>{1000}));
    EXPECT_EQ(peaks_of(p.recent(kT0 + 60s)), (std::vector<uint64_t>{1000})); // exactly one window: kept
    EXPECT_EQ(peaks_of(p.recent(kT0 + 60s + 1ms)), (std::vector<uint64_t>{500}));
    EXPECT_EQ(peaks_of(p.recent(kT0 + 90s + 1ms)), (std::vector<uint64_t>{300}));
    EXPECT_TRUE(p.recent(kT0 + 110s + 1ms).empty());
    // Expiry does not touch the histogram.
    EXPECT_EQ(p.histogram().count, 3u);
}

TEST(ExitPeaks, RecordingExpiresOldEntries)
{
    ExitPeaks p(2, 10s);
    p.record(exit_of(1, 1000, kT0));
    p.record(exit_of(2, 5, kT0 + 20s)); // the first one is long gone
    EXPECT_EQ(peaks_of(p.recent(kT0 + 20s)), (std::vector<uint64_t>{5}));
}

// Capacity is max(1000, 10 * top): beyond it the smallest are forgotten.
TEST(ExitPeaks, BeyondCapacityASmallerExitIsDropped)
{
    ExitPeaks p(1, 10s);
    for (pid_t i = 0; i < 999; ++i)
        p.record(exit_of(1000 + i, 1'000'000, kT0));
    p.record(exit_of(1, 10, kT0 + 5s)); // 1000th: the list is full
    p.record(exit_of(2, 5, kT0 + 6s));  // smaller than everything kept: dropped
    EXPECT_EQ(peaks_of(p.recent(kT0 + 11s)), (std::vector<uint64_t>{10}));
    // When 10 expires, 5 would still be in its window had it been kept.
    EXPECT_TRUE(p.recent(kT0 + 15s + 1ms).empty());
}

TEST(ExitPeaks, BeyondCapacityALargerExitPushesOutTheSmallest)
{
    ExitPeaks p(2, 10s);
    for (pid_t i = 0; i < 998; ++i)
        p.record(exit_of(1000 + i, 1'000'000, kT0));
    p.record(exit_of(1, 20, kT0 + 5s));
    p.record(exit_of(2, 10, kT0 + 6s)); // full now, 10 is the smallest
    p.record(exit_of(3, 30, kT0 + 7s)); // pushes 10 out
    EXPECT_EQ(peaks_of(p.recent(kT0 + 11s)), (std::vector<uint64_t>{30, 20}));
    // 20 has expired, 10 would still be in its window had it been kept.
    EXPECT_EQ(peaks_of(p.recent(kT0 + 15s + 500ms)), (std::vector<uint64_t>{30}));
}

TEST(ExitPeaks, CapacityIsTenTimesTopForLargeTops)
{
    // top 150 -> capacity 1500: 1499 large + 2 small; the smallest (5) is dropped, 10 is kept.
    ExitPeaks p(150, 10s);
    for (pid_t i = 0; i < 1499; ++i)
        p.record(exit_of(1000 + i, 1'000'000, kT0));
    p.record(exit_of(1, 10, kT0 + 5s));
    p.record(exit_of(2, 5, kT0 + 6s));
    EXPECT_EQ(peaks_of(p.recent(kT0 + 11s)), (std::vector<uint64_t>{10}));
}

} // namespace
} // namespace memsight::analysis
