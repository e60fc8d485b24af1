// Tests for the deep tier's growth rule, LeakTracker::is_growing (userspace/deep/leak_tracker.h): at least 3
// readings; live bytes rose in at least half of the steps and fell in at most a tenth; rose by at least 4 KiB
// and by 10% of the peak overall; and some live bytes are older than --min-age.
#include <gtest/gtest.h>

#include <vector>

#include "deep/leak_tracker.h"

namespace memsight::deep {
namespace {

constexpr double kKiB = 1024;
constexpr double kMiB = 1024 * 1024;

bool growing(const std::vector<double>& series, double older = 1 * kMiB)
{
    return LeakTracker::is_growing(series, older);
}

std::vector<double> ramp(size_t n, double start, double step)
{
    std::vector<double> v;
    for (size_t i = 0; i < n; ++i)
        v.push_back(start + step * static_cast<double>(i));
    return v;
}

TEST(GrowthRule, SteadyLeakIsGrowing)
{
    EXPECT_TRUE(growing(ramp(10, 0, 64 * kKiB)));
    EXPECT_TRUE(growing(ramp(60, 1 * kMiB, 100 * kKiB)));
}

TEST(GrowthRule, LeakFromZeroWithThreeReadings)
{
    EXPECT_TRUE(growing({0, 8 * kKiB, 16 * kKiB}));
}

TEST(GrowthRule, LeakThatPlateausAtTheEndIsStillGrowing)
{
    // Rose in 5 of 7 steps, never fell: a leak that paused (or the process went idle) near the end.
    EXPECT_TRUE(growing({0, 10 * kKiB, 20 * kKiB, 30 * kKiB, 40 * kKiB, 50 * kKiB, 50 * kKiB, 50 * kKiB}));
    // Exactly half of the steps rising is enough.
    EXPECT_TRUE(growing({0, 10 * kKiB, 20 * kKiB, 30 * kKiB, 30 * kKiB, 30 * kKiB, 30 * kKiB}));
}

TEST(GrowthRule, LeakInBurstsWithFlatStepsIsGrowing)
{
    // Alternating rise / flat: flat steps are neutral, half the steps rise.
    EXPECT_TRUE(growing({0, 100 * kKiB, 100 * kKiB, 200 * kKiB, 200 * kKiB, 300 * kKiB, 300 * kKiB}));
}

TEST(GrowthRule, MostlyFlatIsNotGrowing)
{
    // Rose in only 2 of 8 steps.
    EXPECT_FALSE(
        growing({0, 100 * kKiB, 200 * kKiB, 200 * kKiB, 200 * kKiB, 200 * kKiB, 200 * kKiB, 200 * kKiB, 200 * kKiB}));
}

TEST(GrowthRule, ChurnThatGoesUpAndDownIsNotGrowing)
{
    // Net growth is large, but it gives memory back in 2 of 5 steps.
    EXPECT_FALSE(growing({0, 50 * kKiB, 10 * kKiB, 60 * kKiB, 20 * kKiB, 70 * kKiB}));
    // Sawtooth heap.
    std::vector<double> saw;
    for (int cycle = 0; cycle < 5; ++cycle)
        for (int i = 0; i < 4; ++i)
            saw.push_back(i * 256 * kKiB);
    EXPECT_FALSE(growing(saw));
}

TEST(GrowthRule, OneFallInTenStepsIsTolerated)
{
    auto v = ramp(11, 0, 64 * kKiB); // 10 steps
    v[6] = v[5] - 1 * kKiB;          // one dip (one fall, then a rise)
    EXPECT_TRUE(growing(v));
    auto w = ramp(11, 0, 64 * kKiB);
    w[3] = w[2] - 1 * kKiB; // two dips: 2 falls in 10 steps
    w[7] = w[6] - 1 * kKiB;
    EXPECT_FALSE(growing(w));
    // In fewer than 10 steps a single fall is already too many.
    auto u = ramp(6, 0, 64 * kKiB);
    u[3] = u[2] - 1 * kKiB;
    EXPECT_FALSE(growing(u));
}

TEST(GrowthRule, CacheThatFillsThenStaysStableIsNotGrowing)
{
    // Fills in 3 steps, then stable for the rest of the session.
    std::vector<double> cache = {0, 1 * kMiB, 2 * kMiB, 3 * kMiB};
    cache.resize(20, 3 * kMiB);
    EXPECT_FALSE(growing(cache));
    // Fills, then evicts and refills around its capacity.
    std::vector<double> lru = {0, 1 * kMiB, 2 * kMiB, 3 * kMiB};
    for (int i = 0; i < 8; ++i) {
        lru.push_back(3 * kMiB - 64 * kKiB);
        lru.push_back(3 * kMiB);
    }
    EXPECT_FALSE(growing(lru));
}

TEST(GrowthRule, TinyGrowthBelow4KiBIsNotGrowing)
{
    EXPECT_FALSE(growing({0, 1000, 2000, 3000, 4000}));
    EXPECT_FALSE(growing({0, 1024, 2048, 4095}));
    EXPECT_TRUE(growing({0, 1024, 2048, 4096})) << "4 KiB exactly is enough";
}

TEST(GrowthRule, GrowthBelowTenPercentOfPeakIsNotGrowing)
{
    // 10 MiB baseline, +50 KiB per step for 10 steps: 500 KiB < 10% of the ~10.5 MiB peak.
    EXPECT_FALSE(growing(ramp(11, 10 * kMiB, 50 * kKiB)));
    // +200 KiB per step: 2 MiB >= 10% of the 12 MiB peak.
    EXPECT_TRUE(growing(ramp(11, 10 * kMiB, 200 * kKiB)));
}

TEST(GrowthRule, TenPercentBoundary)
{
    // peak = 100 KiB; net 10 KiB is exactly 10%.
    EXPECT_TRUE(growing({90 * kKiB, 95 * kKiB, 100 * kKiB}));
    EXPECT_FALSE(growing({91 * kKiB, 95 * kKiB, 100 * kKiB}));
}

TEST(GrowthRule, NetDeclineIsNotGrowing)
{
    EXPECT_FALSE(growing(ramp(10, 1 * kMiB, -64 * kKiB)));
}

TEST(GrowthRule, PeakInTheMiddleLimitsNetGrowth)
{
    // Rises in 9 of 10 steps, then one big fall: the net rise is measured against the peak, not the end.
    std::vector<double> v = {0};
    for (int i = 0; i < 9; ++i)
        v.push_back(2 * kMiB + i * kKiB);
    v.push_back(100 * kKiB); // 100 KiB net < 10% of the ~2 MiB peak
    EXPECT_FALSE(growing(v));
    v.back() = 300 * kKiB; // 300 KiB net >= 10% of the peak
    EXPECT_TRUE(growing(v));
}

TEST(GrowthRule, TooFewReadingsIsNotGrowing)
{
    EXPECT_FALSE(growing({}));
    EXPECT_FALSE(growing({1 * kMiB}));
    EXPECT_FALSE(growing({0, 10 * kMiB}));
    EXPECT_TRUE(growing({0, 5 * kMiB, 10 * kMiB}));
}

TEST(GrowthRule, NothingOlderThanMinAgeIsNotGrowing)
{
    const auto leak = ramp(10, 0, 64 * kKiB);
    EXPECT_FALSE(growing(leak, 0));
    EXPECT_FALSE(growing(leak, -1));
    EXPECT_TRUE(growing(leak, 1)) << "any live bytes older than min-age are enough";
}

TEST(GrowthRule, SampledEstimatesWithNoiseStillCountAsGrowth)
{
    // Weighted sampling gives fractional, slightly noisy estimates; a steady leak rises in nearly every step.
    std::vector<double> v;
    double x = 0;
    const double noise[] = {0.3, -0.2, 0.1, 0.0, 0.25, -0.1, 0.05, 0.2, -0.15, 0.1, 0.0, 0.3};
    for (double n : noise) {
        x += 40960.5 * (1 + n);
        v.push_back(x);
    }
    EXPECT_TRUE(growing(v));
}

} // namespace
} // namespace memsight::deep
