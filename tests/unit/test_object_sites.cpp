// Attributing a type's live objects to the stacks that faulted in their pages (python/object_sites).
#include "python/object_sites.h"

#include <gtest/gtest.h>

using namespace memsight::python;

TEST(PageStacks, ObjectsCountForTheStackThatFaultedTheirPage)
{
    PageStacks pages(4096);
    const std::vector<uint64_t> leaky{0x1000, 0x2000}, other{0x3000};
    pages.add(leaky, {0x10000, 0x11008, 0x12fff});
    pages.add(other, {0x20000});
    EXPECT_EQ(pages.pages(), 4u);
    // Five objects on the leaky stack's pages, one on the other's, two on pages faulted before sampling.
    const auto a = pages.attribute({0x10010, 0x10100, 0x11000, 0x12010, 0x12ff0, 0x20040, 0x30000, 0x40000}, 10);
    EXPECT_EQ(a.objects, 8u);
    EXPECT_EQ(a.attributed, 6u);
    ASSERT_EQ(a.sites.size(), 2u);
    EXPECT_EQ(a.sites[0].stack, leaky);
    EXPECT_EQ(a.sites[0].objects, 5u);
    EXPECT_EQ(a.sites[1].stack, other);
    EXPECT_EQ(pages.attribute({0x10010, 0x20040}, 1).sites.size(), 1u); // at most `top`
}

TEST(PageStacks, APageFaultedAgainBelongsToItsLatestStack)
{
    PageStacks pages(4096);
    pages.add({1}, {0x10000});
    pages.add({2}, {0x10800}); // the page was freed (arena unmapped) and faulted in again by other code
    const auto a = pages.attribute({0x10010}, 10);
    ASSERT_EQ(a.sites.size(), 1u);
    EXPECT_EQ(a.sites[0].stack, std::vector<uint64_t>{2});
    EXPECT_TRUE(pages.attribute({}, 10).sites.empty());
}

TEST(PageStacks, PageSizeOneKeysObjectsAndTheRestIsReturned)
{
    PageStacks made(1);
    made.add({7}, {0x10010});
    std::vector<uint64_t> rest;
    const auto a = made.attribute({0x10010, 0x10020}, 10, &rest);
    EXPECT_EQ(a.attributed, 1u);
    EXPECT_EQ(rest, std::vector<uint64_t>{0x10020}); // same page, another object: not made while watched
}
