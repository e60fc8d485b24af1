// Naming one process's growth sites: stacks named and merged by site (shared by the agent and `memsight growth`).
#include "agent/growth_site_namer.h"

#include <gtest/gtest.h>

namespace memsight::agent {
namespace {

NamedStack stack(std::string site, uint64_t samples, std::string fn)
{
    NamedStack s;
    s.site = std::move(site);
    s.samples = samples;
    symbolize::Frame f;
    f.function = std::move(fn);
    s.frames = {f};
    return s;
}

TEST(GrowthSiteGroups, MergesBySiteMostSamplesFirstWithTheirStacksRanked)
{
    const auto g = group_by_site({stack("side", 3, "a"), stack("main", 2, "b"), stack("main", 5, "c"),
                                  stack("side", 1, "d"), stack("other", 1, "e")});
    ASSERT_EQ(g.size(), 3u);
    EXPECT_EQ(g[0].site, "main");
    EXPECT_EQ(g[0].samples, 7u);
    ASSERT_EQ(g[0].stacks.size(), 2u);
    EXPECT_EQ(g[0].stacks[0].frames[0].function, "c"); // the heaviest stack first
    EXPECT_EQ(g[0].stacks[1].frames[0].function, "b");
    EXPECT_EQ(g[1].site, "side");
    EXPECT_EQ(g[1].samples, 4u);
    EXPECT_EQ(g[2].site, "other");
}

TEST(GrowthSiteGroups, TiesAreOrderedByName)
{
    const auto g = group_by_site({stack("zeta", 2, "a"), stack("alpha", 2, "b"), stack("mid", 2, "c")});
    ASSERT_EQ(g.size(), 3u);
    EXPECT_EQ(g[0].site, "alpha");
    EXPECT_EQ(g[1].site, "mid");
    EXPECT_EQ(g[2].site, "zeta");
    EXPECT_TRUE(group_by_site({}).empty());
}

TEST(GrowthSiteGroups, StacksOfAGoneProcessAreNamedByAddressAndKeepTheirCounts)
{
    // No symbolizer (the process is gone): every stack still gets a site, equal stacks the same one.
    const std::vector<analysis::GrowthSites::Stack> stacks{
        {{0x401000, 0x402000}, 7}, {{0x401000, 0x402000}, 2}, {{}, 1}};
    const auto named = name_stacks(nullptr, stacks);
    ASSERT_EQ(named.size(), 3u);
    EXPECT_EQ(named[0].samples, 7u);
    EXPECT_EQ(named[0].site, named[1].site);
    EXPECT_FALSE(named[0].site.empty());
    EXPECT_EQ(named[2].site, kNoStackSite); // a lost or folded stack
    const auto g = group_by_site(named);
    ASSERT_EQ(g.size(), 2u);
    EXPECT_EQ(g[0].samples, 9u);
}

} // namespace
} // namespace memsight::agent
