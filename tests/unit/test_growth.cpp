// Growth trend and leak suspicion on synthetic series: the shapes that are leaks and the ones that are not.
#include "analysis/growth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace memsight::analysis {
namespace {

constexpr double MiB = 1024.0 * 1024.0;

// 31 readings 10 s apart (the prod growth window: 5 min at 10 s), value(i) in bytes, plus seeded noise.
std::vector<Point> series(const std::function<double(int)>& value, double noise = 0, int n = 31, unsigned seed = 1)
{
    std::mt19937 rng(seed);
    std::normal_distribution<double> eps(0, noise > 0 ? noise : 1);
    std::vector<Point> out;
    for (int i = 0; i < n; ++i)
        out.push_back({10.0 * i, value(i) + (noise > 0 ? eps(rng) : 0)});
    return out;
}

bool has_reason(const Assessment& a, const std::string& r)
{
    return std::find(a.reasons.begin(), a.reasons.end(), r) != a.reasons.end();
}

TEST(TheilSen, ExactLineAndOutliers)
{
    auto s = series([](int i) { return 100 * MiB + 1000.0 * 10 * i; }); // 1000 B/s
    EXPECT_DOUBLE_EQ(theil_sen_slope(s), 1000.0);
    s[5].bytes += 500 * MiB; // outliers barely move the median slope
    s[20].bytes -= 300 * MiB;
    EXPECT_NEAR(theil_sen_slope(s), 1000.0, 50.0);
    EXPECT_EQ(theil_sen_slope(std::span<const Point>(s.data(), 1)), 0.0);
}

TEST(Suspicion, SteadyLeakIsSuspectedStrongly)
{
    const auto s = series([](int i) { return 200 * MiB + i * 1.0 * MiB; }, 100 * 1024);
    const auto a = assess_growth(s, std::nullopt);
    EXPECT_NEAR(a.growth_bytes_per_second, MiB / 10, MiB / 100);
    EXPECT_GE(a.suspicion, 0.8);
    EXPECT_TRUE(has_reason(a, "growing"));
    EXPECT_TRUE(has_reason(a, "confirmed_3_of_3"));
}

TEST(Suspicion, SlowLeakOnASmallProcessIsSuspected)
{
    const auto a = assess_growth(series([](int i) { return 40 * MiB + i * 200.0 * 1024; }, 20 * 1024), std::nullopt);
    EXPECT_GT(a.suspicion, 0.5);
    EXPECT_TRUE(has_reason(a, "growing"));
}

TEST(Suspicion, StepGrowthIsSuspected)
{
    // Bursty: flat, then +20 MiB every 100 s (inside every third of the window).
    const auto a = assess_growth(series([](int i) { return 100 * MiB + 20 * MiB * (i / 10); }), std::nullopt);
    EXPECT_GT(a.suspicion, 0.5) << a.reasons.back();
    EXPECT_TRUE(has_reason(a, "growing"));
}

TEST(Suspicion, LeakBehindGcCyclesIsSuspected)
{
    // Sawtooth whose troughs rise: a leak hidden behind collection cycles.
    const auto a = assess_growth(
        series([](int i) { return 100 * MiB + (i % 5) * 8 * MiB + i * 1.0 * MiB; }), std::nullopt);
    EXPECT_GT(a.suspicion, 0.3);
    EXPECT_TRUE(has_reason(a, "growing"));
}

TEST(Suspicion, CacheThatFillsThenPlateausIsNotALeak)
{
    const auto a = assess_growth(series([](int i) { return 100 * MiB + std::min(i, 15) * 4 * MiB; }, 50 * 1024),
                                 std::nullopt);
    EXPECT_EQ(a.suspicion, 0.0);
    EXPECT_TRUE(has_reason(a, "plateau"));
}

TEST(Suspicion, WarmUpThatStopsIsNotALeak)
{
    const auto a = assess_growth(
        series([](int i) { return 50 * MiB + 60 * MiB * (1 - std::exp(-i / 4.0)); }, 20 * 1024), std::nullopt);
    EXPECT_EQ(a.suspicion, 0.0);
}

TEST(Suspicion, SawtoothHeapIsNotALeak)
{
    const auto a = assess_growth(series([](int i) { return 100 * MiB + (i % 6) * 10 * MiB; }), std::nullopt);
    EXPECT_EQ(a.suspicion, 0.0) << a.reasons.back();
}

TEST(Suspicion, NoiseAroundAFlatLevelIsNotALeak)
{
    for (unsigned seed = 1; seed <= 20; ++seed) {
        const auto a = assess_growth(series([](int) { return 300 * MiB; }, 2 * MiB, 31, seed), std::nullopt);
        EXPECT_EQ(a.suspicion, 0.0) << "seed " << seed << " " << a.reasons.back();
    }
}

TEST(Suspicion, OneSpikeIsNotALeak)
{
    auto s = series([](int) { return 100 * MiB; }, 100 * 1024);
    s[25].bytes += 400 * MiB;
    EXPECT_EQ(assess_growth(s, std::nullopt).suspicion, 0.0);
}

TEST(Suspicion, ShrinkingAndTooShort)
{
    const auto shrinking = assess_growth(series([](int i) { return 300 * MiB - i * MiB; }), std::nullopt);
    EXPECT_EQ(shrinking.suspicion, 0.0);
    EXPECT_TRUE(has_reason(shrinking, "shrinking"));
    const auto early = assess_growth(series([](int i) { return 100 * MiB + i * MiB; }, 0, 4), std::nullopt);
    EXPECT_EQ(early.suspicion, 0.0);
    EXPECT_TRUE(has_reason(early, "too_short"));
}

TEST(Suspicion, SecondsToLimit)
{
    // 1 MiB per 10 s from 100 MiB: at the last reading 130 MiB, 70 MiB left to a 200 MiB limit -> 700 s.
    const auto a = assess_growth(series([](int i) { return 100 * MiB + i * MiB; }), 200 * MiB);
    ASSERT_TRUE(a.seconds_to_limit.has_value());
    EXPECT_NEAR(*a.seconds_to_limit, 700.0, 1.0);
    const auto over = assess_growth(series([](int i) { return 100 * MiB + i * MiB; }), 120 * MiB);
    EXPECT_EQ(over.seconds_to_limit.value_or(-1), 0.0);
    EXPECT_FALSE(assess_growth(series([](int) { return 100 * MiB; }), 200 * MiB).seconds_to_limit.has_value());
}

} // namespace
} // namespace memsight::analysis
