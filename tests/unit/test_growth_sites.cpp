// Growth sites: fault-sample counts per (process, stack) over the growth window, bounded.
#include "analysis/growth_sites.h"

#include <gtest/gtest.h>

namespace memsight::analysis {
namespace {

using namespace std::chrono_literals;

const Clock::time_point t0 = Clock::now();

TEST(GrowthSites, CountsPerStackMostFirst)
{
    GrowthSites g(5min);
    g.add(10, {0x1, 0x2}, 3, t0);
    g.add(10, {0x3}, 5, t0);
    g.add(10, {0x1, 0x2}, 4, t0 + 1s);
    g.add(11, {0x1, 0x2}, 1, t0);
    const auto s = g.stacks_of(10);
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].ips, (std::vector<uint64_t>{0x1, 0x2}));
    EXPECT_EQ(s[0].samples, 7u);
    EXPECT_EQ(s[1].samples, 5u);
    EXPECT_EQ(g.stacks_of(11).size(), 1u);
    EXPECT_TRUE(g.stacks_of(12).empty());
    EXPECT_EQ(g.stacks(), 3u);
}

TEST(GrowthSites, ReadingsOlderThanTheWindowExpire)
{
    GrowthSites g(1min);
    g.add(10, {0x1}, 3, t0);
    g.add(10, {0x1}, 4, t0 + 50s);
    g.add(10, {0x2}, 1, t0);
    g.expire(t0 + 90s, {10});
    const auto s = g.stacks_of(10);
    ASSERT_EQ(s.size(), 1u); // {0x2} had only the old reading
    EXPECT_EQ(s[0].samples, 4u);
    EXPECT_EQ(g.stacks(), 1u);
}

TEST(GrowthSites, ProcessesThatAreGoneAreForgotten)
{
    GrowthSites g(5min);
    g.add(10, {0x1}, 3, t0);
    g.add(11, {0x1}, 3, t0);
    g.expire(t0, {11});
    EXPECT_TRUE(g.stacks_of(10).empty());
    EXPECT_EQ(g.stacks_of(11).size(), 1u);
    EXPECT_EQ(g.stacks(), 1u);
}

TEST(GrowthSites, NewStacksBeyondTheBoundAreFoldedIntoTheProcesssEmptyStack)
{
    GrowthSites g(5min, 2);
    g.add(10, {0x1}, 1, t0);
    g.add(10, {0x2}, 1, t0);
    g.add(10, {0x3}, 6, t0); // a third distinct stack: folded
    g.add(11, {0x1}, 2, t0); // so is a new process's
    g.add(10, {0x1}, 5, t0); // known stacks still count
    g.add(10, {0x4}, 1, t0); // folded into the same entry
    EXPECT_EQ(g.folded_samples(), 9u);
    EXPECT_EQ(g.stacks(), 4u); // two stacks and one folded entry per process
    const auto of10 = g.stacks_of(10);
    ASSERT_EQ(of10.size(), 3u);
    EXPECT_TRUE(of10[0].ips.empty());
    EXPECT_EQ(of10[0].samples, 7u);
    EXPECT_EQ(of10[1].samples, 6u);
    ASSERT_EQ(g.stacks_of(11).size(), 1u);
    EXPECT_TRUE(g.stacks_of(11)[0].ips.empty());
    g.expire(t0 + 10min, {10, 11}); // room again once readings expire
    g.add(11, {0x1}, 2, t0 + 10min);
    EXPECT_EQ(g.stacks_of(11)[0].ips, (std::vector<uint64_t>{0x1}));
}

TEST(GrowthSites, OneProcessCannotCrowdOutTheOthers)
{
    GrowthSites g(5min, 100, 2);
    for (uint64_t ip = 1; ip <= 50; ++ip)
        g.add(10, {ip}, 1, t0); // a compiler: many distinct stacks
    g.add(11, {0x1}, 3, t0);
    EXPECT_EQ(g.stacks_of(10).size(), 3u); // two kept, the rest folded
    EXPECT_EQ(g.folded_samples(), 48u);
    ASSERT_EQ(g.stacks_of(11).size(), 1u);
    EXPECT_EQ(g.stacks_of(11)[0].ips, (std::vector<uint64_t>{0x1}));
}

} // namespace
} // namespace memsight::analysis
