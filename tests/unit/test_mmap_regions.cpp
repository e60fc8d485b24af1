// Tests for the deep tier's exact interval map of anonymous mappings (userspace/deep/mmap_regions): page
// rounding, MAP_FIXED-style replacement, every shape of munmap (whole, prefix, suffix, a hole that splits a
// region, a range over several regions, an unknown range), mremap (move, grow, shrink, untracked source) and
// the per-site totals that sites() reports.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "deep/mmap_regions.h"

namespace memsight::deep {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kBase = 0x7f0000000000ULL;

std::optional<MmapSite> find_site(const MmapRegions& m, uint32_t tgid, uint64_t stack)
{
    for (const auto& s : m.sites()) {
        if (s.tgid == tgid && s.stack_id == stack)
            return s;
    }
    return std::nullopt;
}

uint64_t live_bytes(const MmapRegions& m, uint32_t tgid, uint64_t stack)
{
    auto s = find_site(m, tgid, stack);
    return s ? s->live_bytes : 0;
}

uint64_t live_regions(const MmapRegions& m, uint32_t tgid, uint64_t stack)
{
    auto s = find_site(m, tgid, stack);
    return s ? s->live_regions : 0;
}

uint64_t total_live(const MmapRegions& m)
{
    uint64_t sum = 0;
    for (const auto& s : m.sites())
        sum += s.live_bytes;
    return sum;
}

// Every site's live bytes must equal what it mapped minus what was unmapped from it.
void expect_consistent(const MmapRegions& m)
{
    for (const auto& s : m.sites()) {
        EXPECT_EQ(s.live_bytes, s.mapped_bytes - s.unmapped_bytes)
            << "tgid " << s.tgid << " stack " << s.stack_id << ": live != mapped - unmapped";
        EXPECT_EQ(s.live_regions, s.region_ts_ns.size());
    }
}

TEST(MmapRegions, EmptyHasNoSites)
{
    EXPECT_TRUE(MmapRegions().sites().empty());
}

TEST(MmapRegions, MmapRoundsLengthUpToWholePages)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 5000, 7, 100);
    auto s = find_site(m, 1, 7);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->tgid, 1u);
    EXPECT_EQ(s->stack_id, 7);
    EXPECT_EQ(s->live_bytes, 2 * kPage);
    EXPECT_EQ(s->live_regions, 1u);
    EXPECT_EQ(s->mapped_bytes, 2 * kPage);
    EXPECT_EQ(s->unmapped_bytes, 0u);
    EXPECT_EQ(s->region_ts_ns, std::vector<uint64_t>{100});
}

TEST(MmapRegions, ExactPageMultipleIsNotRoundedFurther)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 3 * kPage, 1, 0);
    EXPECT_EQ(live_bytes(m, 1, 1), 3 * kPage);
}

TEST(MmapRegions, CustomPageSizeRounds)
{
    MmapRegions m(65536);
    m.on_mmap(1, kBase, 1, 1, 0);
    EXPECT_EQ(live_bytes(m, 1, 1), 65536u);
    m.on_munmap(1, kBase, 1); // also rounded: removes the whole 64 KiB page
    EXPECT_EQ(live_bytes(m, 1, 1), 0u);
}

TEST(MmapRegions, FullMunmapRemovesRegionButKeepsTotals)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 4 * kPage, 3, 10);
    m.on_munmap(1, kBase, 4 * kPage);
    auto s = find_site(m, 1, 3);
    ASSERT_TRUE(s) << "a site keeps its mapped/unmapped totals after its last region goes";
    EXPECT_EQ(s->live_bytes, 0u);
    EXPECT_EQ(s->live_regions, 0u);
    EXPECT_TRUE(s->region_ts_ns.empty());
    EXPECT_EQ(s->mapped_bytes, 4 * kPage);
    EXPECT_EQ(s->unmapped_bytes, 4 * kPage);
}

TEST(MmapRegions, MunmapLengthIsRoundedUp)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 2 * kPage, 3, 10);
    m.on_munmap(1, kBase, 1); // one byte unmaps the whole first page, as the kernel does
    EXPECT_EQ(live_bytes(m, 1, 3), kPage);
    expect_consistent(m);
}

TEST(MmapRegions, MunmapPrefixTrims)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 4 * kPage, 3, 10);
    m.on_munmap(1, kBase, kPage);
    auto s = find_site(m, 1, 3);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->live_bytes, 3 * kPage);
    EXPECT_EQ(s->live_regions, 1u);
    EXPECT_EQ(s->unmapped_bytes, kPage);
    EXPECT_EQ(s->region_ts_ns, std::vector<uint64_t>{10});
    // The rest starts one page later: unmapping the old start again is a no-op, the new range works.
    m.on_munmap(1, kBase, kPage);
    EXPECT_EQ(live_bytes(m, 1, 3), 3 * kPage);
    m.on_munmap(1, kBase + kPage, 3 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 3), 0u);
    expect_consistent(m);
}

TEST(MmapRegions, MunmapSuffixTrims)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 4 * kPage, 3, 10);
    m.on_munmap(1, kBase + 3 * kPage, kPage);
    EXPECT_EQ(live_bytes(m, 1, 3), 3 * kPage);
    EXPECT_EQ(live_regions(m, 1, 3), 1u);
    // A suffix unmap that runs past the region's end only removes what was mapped.
    m.on_munmap(1, kBase + 2 * kPage, 10 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 3), 2 * kPage);
    auto s = find_site(m, 1, 3);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->unmapped_bytes, 2 * kPage);
    expect_consistent(m);
}

TEST(MmapRegions, MunmapMiddleHoleSplitsRegion)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 5 * kPage, 3, 42);
    m.on_munmap(1, kBase + 2 * kPage, kPage);
    auto s = find_site(m, 1, 3);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->live_bytes, 4 * kPage);
    EXPECT_EQ(s->live_regions, 2u);
    EXPECT_EQ(s->unmapped_bytes, kPage);
    EXPECT_EQ(s->region_ts_ns, (std::vector<uint64_t>{42, 42})) << "both halves keep the creation time";
    // The halves are independent regions: [0, 2) and [3, 5) pages.
    m.on_munmap(1, kBase, 2 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 3), 2 * kPage);
    EXPECT_EQ(live_regions(m, 1, 3), 1u);
    m.on_munmap(1, kBase + 3 * kPage, 2 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 3), 0u);
    expect_consistent(m);
}

TEST(MmapRegions, MunmapHoleThenFillHoleAgain)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 3 * kPage, 3, 1);
    m.on_munmap(1, kBase + kPage, kPage);
    m.on_mmap(1, kBase + kPage, kPage, 4, 2);
    EXPECT_EQ(live_bytes(m, 1, 3), 2 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 4), kPage);
    m.on_munmap(1, kBase, 3 * kPage); // one call over all three pieces
    EXPECT_EQ(total_live(m), 0u);
    expect_consistent(m);
}

TEST(MmapRegions, MunmapSpanningSeveralRegionsOfDifferentSites)
{
    MmapRegions m;
    // Three regions with gaps between them: A [0,4), B [6,8), C [10,14) pages.
    m.on_mmap(1, kBase, 4 * kPage, 1, 0);
    m.on_mmap(1, kBase + 6 * kPage, 2 * kPage, 2, 0);
    m.on_mmap(1, kBase + 10 * kPage, 4 * kPage, 3, 0);
    // Unmap [2, 12): A loses its suffix, B goes entirely, C loses its prefix.
    m.on_munmap(1, kBase + 2 * kPage, 10 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 1), 2 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 2), 0u);
    EXPECT_EQ(live_bytes(m, 1, 3), 2 * kPage);
    EXPECT_EQ(live_regions(m, 1, 2), 0u);
    auto a = find_site(m, 1, 1), b = find_site(m, 1, 2), c = find_site(m, 1, 3);
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(a->unmapped_bytes, 2 * kPage);
    EXPECT_EQ(b->unmapped_bytes, 2 * kPage);
    EXPECT_EQ(c->unmapped_bytes, 2 * kPage);
    // What is left is exactly A [0,2) and C [12,14).
    m.on_munmap(1, kBase + 12 * kPage, 2 * kPage);
    m.on_munmap(1, kBase, 2 * kPage);
    EXPECT_EQ(total_live(m), 0u);
    expect_consistent(m);
}

TEST(MmapRegions, MunmapCoveringAdjacentRegionsExactly)
{
    MmapRegions m;
    for (int i = 0; i < 8; ++i)
        m.on_mmap(1, kBase + i * kPage, kPage, i % 2, static_cast<uint64_t>(i));
    EXPECT_EQ(live_regions(m, 1, 0), 4u);
    EXPECT_EQ(live_regions(m, 1, 1), 4u);
    m.on_munmap(1, kBase + kPage, 6 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 0), kPage);
    EXPECT_EQ(live_bytes(m, 1, 1), kPage);
    auto s0 = find_site(m, 1, 0), s1 = find_site(m, 1, 1);
    ASSERT_TRUE(s0 && s1);
    EXPECT_EQ(s0->region_ts_ns, std::vector<uint64_t>{0});
    EXPECT_EQ(s1->region_ts_ns, std::vector<uint64_t>{7});
    expect_consistent(m);
}

TEST(MmapRegions, MunmapOfUnknownRangeIsNoOp)
{
    MmapRegions m;
    m.on_munmap(9, kBase, kPage); // unknown process
    EXPECT_TRUE(m.sites().empty());
    m.on_mmap(1, kBase, 2 * kPage, 3, 10);
    m.on_munmap(1, kBase + 100 * kPage, 4 * kPage); // after the region
    m.on_munmap(1, kBase - 4 * kPage, 4 * kPage);   // ends exactly where the region starts
    m.on_munmap(1, kBase + 2 * kPage, kPage);       // starts exactly where the region ends
    m.on_munmap(2, kBase, 2 * kPage);               // same range, other process
    m.on_munmap(1, kBase, 0);                       // zero length
    auto s = find_site(m, 1, 3);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->live_bytes, 2 * kPage);
    EXPECT_EQ(s->unmapped_bytes, 0u);
    EXPECT_EQ(m.sites().size(), 1u);
}

TEST(MmapRegions, MapFixedOverOlderMappingReplacesIt)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 4 * kPage, 1, 10);
    m.on_mmap(1, kBase + kPage, 2 * kPage, 2, 20); // MAP_FIXED over pages [1, 3)
    auto a = find_site(m, 1, 1), b = find_site(m, 1, 2);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->live_bytes, 2 * kPage);
    EXPECT_EQ(a->live_regions, 2u);
    EXPECT_EQ(a->unmapped_bytes, 2 * kPage);
    EXPECT_EQ(b->live_bytes, 2 * kPage);
    EXPECT_EQ(b->region_ts_ns, std::vector<uint64_t>{20});
    EXPECT_EQ(total_live(m), 4 * kPage) << "the overlap must not be counted twice";
    expect_consistent(m);
}

TEST(MmapRegions, MapFixedOverSeveralRegionsReplacesAll)
{
    MmapRegions m;
    m.on_mmap(1, kBase, kPage, 1, 0);
    m.on_mmap(1, kBase + 2 * kPage, kPage, 2, 0);
    m.on_mmap(1, kBase, 4 * kPage, 3, 5);
    EXPECT_EQ(live_bytes(m, 1, 1), 0u);
    EXPECT_EQ(live_bytes(m, 1, 2), 0u);
    EXPECT_EQ(live_bytes(m, 1, 3), 4 * kPage);
    EXPECT_EQ(total_live(m), 4 * kPage);
    expect_consistent(m);
}

TEST(MmapRegions, SameAddressMappedTwiceFromSameSite)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 2 * kPage, 1, 10);
    m.on_mmap(1, kBase, 2 * kPage, 1, 20);
    auto s = find_site(m, 1, 1);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->live_bytes, 2 * kPage);
    EXPECT_EQ(s->live_regions, 1u);
    EXPECT_EQ(s->region_ts_ns, std::vector<uint64_t>{20});
    EXPECT_EQ(s->mapped_bytes, 4 * kPage);
    EXPECT_EQ(s->unmapped_bytes, 2 * kPage);
}

TEST(MmapRegions, ProcessesAreIndependent)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 2 * kPage, 5, 0);
    m.on_mmap(2, kBase, 3 * kPage, 5, 0);
    EXPECT_EQ(live_bytes(m, 1, 5), 2 * kPage);
    EXPECT_EQ(live_bytes(m, 2, 5), 3 * kPage);
    m.on_munmap(1, kBase, 2 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 5), 0u);
    EXPECT_EQ(live_bytes(m, 2, 5), 3 * kPage);
}

TEST(MmapRegions, SitesAggregateRegionsAndKeepTimestamps)
{
    MmapRegions m;
    m.on_mmap(1, kBase, kPage, 8, 100);
    m.on_mmap(1, kBase + 10 * kPage, 2 * kPage, 8, 200);
    m.on_mmap(1, kBase + 20 * kPage, kPage, 9, 300);
    m.on_mmap(1, kBase + 30 * kPage, kPage, -1, 400); // stack lost: a site of its own
    auto s8 = find_site(m, 1, 8), s9 = find_site(m, 1, 9), lost = find_site(m, 1, -1);
    ASSERT_TRUE(s8 && s9 && lost);
    EXPECT_EQ(s8->live_bytes, 3 * kPage);
    EXPECT_EQ(s8->live_regions, 2u);
    EXPECT_EQ(s8->region_ts_ns, (std::vector<uint64_t>{100, 200}));
    EXPECT_EQ(s9->live_bytes, kPage);
    EXPECT_EQ(lost->live_bytes, kPage);
    EXPECT_EQ(m.sites().size(), 3u);
    expect_consistent(m);
}

TEST(MmapRegions, MremapMoveKeepsSiteAndCreationTime)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 2 * kPage, 5, 100);
    const uint64_t dst = kBase + 0x100000;
    m.on_mremap(1, kBase, 2 * kPage, dst, 2 * kPage, 999);
    auto s = find_site(m, 1, 5);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->live_bytes, 2 * kPage);
    EXPECT_EQ(s->live_regions, 1u);
    EXPECT_EQ(s->region_ts_ns, std::vector<uint64_t>{100}) << "a moved region keeps its age";
    EXPECT_EQ(m.sites().size(), 1u) << "no other site appears";
    // The old address is empty, the new one is tracked.
    m.on_munmap(1, kBase, 2 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 5), 2 * kPage);
    m.on_munmap(1, dst, 2 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 5), 0u);
    expect_consistent(m);
}

TEST(MmapRegions, MremapGrowInPlace)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 2 * kPage, 5, 100);
    m.on_mremap(1, kBase, 2 * kPage, kBase, 6 * kPage, 200);
    auto s = find_site(m, 1, 5);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->live_bytes, 6 * kPage);
    EXPECT_EQ(s->live_regions, 1u);
    EXPECT_EQ(s->region_ts_ns, std::vector<uint64_t>{100});
    expect_consistent(m);
}

TEST(MmapRegions, MremapGrowAndMove)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 2 * kPage, 5, 100);
    m.on_mremap(1, kBase, 2 * kPage, kBase + 64 * kPage, 10 * kPage + 1, 200);
    EXPECT_EQ(live_bytes(m, 1, 5), 11 * kPage) << "the new length is page-rounded too";
    expect_consistent(m);
}

TEST(MmapRegions, MremapShrink)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 8 * kPage, 5, 100);
    m.on_mremap(1, kBase, 8 * kPage, kBase, kPage, 200);
    auto s = find_site(m, 1, 5);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->live_bytes, kPage);
    EXPECT_EQ(s->live_regions, 1u);
    EXPECT_EQ(s->region_ts_ns, std::vector<uint64_t>{100});
    // The tail pages are no longer tracked.
    m.on_munmap(1, kBase + kPage, 7 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 5), kPage);
    expect_consistent(m);
}

TEST(MmapRegions, MremapOfPartOfRegionMovesOnlyThatPart)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 4 * kPage, 5, 100);
    const uint64_t dst = kBase + 0x100000;
    m.on_mremap(1, kBase + kPage, kPage, dst, kPage, 200); // page 1 moves out, leaving a hole
    auto s = find_site(m, 1, 5);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->live_bytes, 4 * kPage);
    EXPECT_EQ(s->live_regions, 3u); // [0,1), [2,4) and the moved page
    EXPECT_EQ(s->region_ts_ns, (std::vector<uint64_t>{100, 100, 100}));
    m.on_munmap(1, dst, kPage);
    EXPECT_EQ(live_bytes(m, 1, 5), 3 * kPage);
    expect_consistent(m);
}

TEST(MmapRegions, MremapOntoAnotherRegionReplacesIt)
{
    MmapRegions m;
    m.on_mmap(1, kBase, 2 * kPage, 5, 100);
    m.on_mmap(1, kBase + 16 * kPage, 2 * kPage, 6, 150);
    m.on_mremap(1, kBase, 2 * kPage, kBase + 16 * kPage, 2 * kPage, 200); // MREMAP_FIXED over site 6
    EXPECT_EQ(live_bytes(m, 1, 5), 2 * kPage);
    EXPECT_EQ(live_bytes(m, 1, 6), 0u);
    EXPECT_EQ(total_live(m), 2 * kPage);
    expect_consistent(m);
}

TEST(MmapRegions, MremapOfUntrackedRangeIsIgnored)
{
    MmapRegions m;
    // Unknown process: nothing appears.
    m.on_mremap(1, kBase, 2 * kPage, kBase + 0x100000, 4 * kPage, 5);
    EXPECT_TRUE(m.sites().empty());
    // Known process, but the old range is not one we track (e.g. the allocator's own mapping).
    m.on_mmap(1, kBase + 64 * kPage, kPage, 5, 1);
    m.on_mremap(1, kBase, 2 * kPage, kBase + 0x100000, 4 * kPage, 5);
    auto s = find_site(m, 1, 5);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->live_bytes, kPage);
    EXPECT_EQ(total_live(m), kPage);
    EXPECT_EQ(m.sites().size(), 1u);
}

TEST(MmapRegions, ManyCyclesStayConsistent)
{
    MmapRegions m;
    uint64_t expected = 0;
    for (uint64_t i = 0; i < 200; ++i) {
        const uint64_t addr = kBase + i * 16 * kPage;
        m.on_mmap(7, addr, 8 * kPage, static_cast<int32_t>(i % 3), i);
        m.on_munmap(7, addr + 2 * kPage, 2 * kPage);                                 // hole
        m.on_mremap(7, addr + 6 * kPage, 2 * kPage, addr + 6 * kPage, 4 * kPage, i); // grow the tail
        expected += 8 * kPage;
    }
    EXPECT_EQ(total_live(m), expected);
    expect_consistent(m);
    for (uint64_t i = 0; i < 200; ++i)
        m.on_munmap(7, kBase + i * 16 * kPage, 16 * kPage);
    EXPECT_EQ(total_live(m), 0u);
    expect_consistent(m);
}

} // namespace
} // namespace memsight::deep
