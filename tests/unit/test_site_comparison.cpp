// A deep session's heap sites against the same process's growth sites (the agent's log line when an escalated
// session ends, and `memsight growth --agent`).
#include "agent/site_comparison.h"

#include <gtest/gtest.h>

namespace memsight::agent {
namespace {

constexpr double MiB = 1024.0 * 1024.0;

analysis::HeapSite heap(pid_t pid, std::string site, double live, bool growing)
{
    analysis::HeapSite h;
    h.pid = pid;
    h.comm = "app";
    h.site = std::move(site);
    h.live_bytes = live;
    h.growing = growing;
    return h;
}

analysis::GrowthSite growth(pid_t pid, std::string site, double bytes)
{
    analysis::GrowthSite g;
    g.pid = pid;
    g.comm = "app";
    g.site = std::move(site);
    g.bytes = bytes;
    return g;
}

TEST(SiteComparison, TheSameTopSiteAgrees)
{
    const auto c = compare_sites(7, {heap(7, "leak_here", 20 * MiB, true), heap(7, "cache", 5 * MiB, false)},
                                 {growth(7, "cache", 1 * MiB), growth(7, "leak_here", 12 * MiB)});
    EXPECT_EQ(c.agreement, SiteAgreement::Agree);
    EXPECT_EQ(c.heap_site, "leak_here");
    EXPECT_EQ(c.growth_site, "leak_here");
    EXPECT_EQ(c.heap_site_growth_rank, 1u);
    EXPECT_EQ(c.text, "pid 7 (app): top heap site leak_here (20.0 MiB live, growing) = top growth site leak_here "
                      "(12.0 MiB faulted in): agree");
}

TEST(SiteComparison, AGrowingHeapSiteBeatsALargerStaticOne)
{
    // A big cache that stopped growing is not what grows the process.
    const auto c = compare_sites(7, {heap(7, "cache", 50 * MiB, false), heap(7, "leak_here", 4 * MiB, true)},
                                 {growth(7, "leak_here", 3 * MiB)});
    EXPECT_EQ(c.heap_site, "leak_here");
    EXPECT_EQ(c.agreement, SiteAgreement::Agree);
    // Without growing sites, the most live bytes.
    const auto d = compare_sites(7, {heap(7, "small", 1 * MiB, false), heap(7, "cache", 50 * MiB, false)},
                                 {growth(7, "cache", 3 * MiB)});
    EXPECT_EQ(d.heap_site, "cache");
    EXPECT_FALSE(d.heap_growing);
}

TEST(SiteComparison, ALowerGrowthSiteOverlaps)
{
    const auto c =
        compare_sites(7, {heap(7, "side", 8 * MiB, true)}, {growth(7, "main", 10 * MiB), growth(7, "side", 5 * MiB)});
    EXPECT_EQ(c.agreement, SiteAgreement::Overlap);
    EXPECT_EQ(c.heap_site_growth_rank, 2u);
    EXPECT_EQ(c.growth_site, "main");
    EXPECT_NE(c.text.find("is growth site #2"), std::string::npos) << c.text;
    EXPECT_TRUE(c.text.ends_with(": overlap")) << c.text;
}

TEST(SiteComparison, ASiteTheFaultsNeverSawDiffers)
{
    // E.g. the growth site is the libc frame that first touches the pages (frameless code), the heap site its
    // caller.
    const auto c = compare_sites(7, {heap(7, "parse_request", 8 * MiB, true)}, {growth(7, "_int_malloc", 9 * MiB)});
    EXPECT_EQ(c.agreement, SiteAgreement::Differ);
    EXPECT_EQ(c.heap_site_growth_rank, 0u);
    EXPECT_EQ(std::string(agreement_name(c.agreement)), "differ");
    EXPECT_TRUE(c.text.ends_with(": differ")) << c.text;
}

TEST(SiteComparison, MissingSidesAreSaid)
{
    const auto no_growth = compare_sites(7, {heap(7, "leak_here", 8 * MiB, true)}, {});
    EXPECT_EQ(no_growth.agreement, SiteAgreement::NoGrowthSites);
    EXPECT_NE(no_growth.text.find("no growth sites to compare"), std::string::npos) << no_growth.text;
    const auto no_heap = compare_sites(7, {}, {growth(7, "main", 1 * MiB)});
    EXPECT_EQ(no_heap.agreement, SiteAgreement::NoHeapSites);
    EXPECT_EQ(no_heap.growth_site, "main");
    EXPECT_EQ(std::string(agreement_name(no_heap.agreement)), "no_heap_sites");
}

TEST(SiteComparison, OtherProcessesAreIgnored)
{
    const auto c = compare_sites(7, {heap(8, "elsewhere", 80 * MiB, true), heap(7, "mine", 1 * MiB, true)},
                                 {growth(8, "elsewhere", 50 * MiB), growth(7, "mine", 1 * MiB)});
    EXPECT_EQ(c.heap_site, "mine");
    EXPECT_EQ(c.growth_site, "mine");
    EXPECT_EQ(c.agreement, SiteAgreement::Agree);
    EXPECT_EQ(compare_sites(9, {heap(8, "x", 1, true)}, {growth(8, "x", 1)}).text,
              "pid 9: no heap sites from the deep session");
}

} // namespace
} // namespace memsight::agent
