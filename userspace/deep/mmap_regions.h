#pragma once
// Anonymous mappings a process made outside its allocator, as exact intervals: partial munmap splits or
// trims a region, mremap moves it and keeps its call site.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace memsight::deep {

struct MmapSite {
    uint32_t tgid = 0;
    uint64_t stack_id = 0; // 0: no stack
    uint64_t live_bytes = 0;
    uint64_t live_regions = 0;
    uint64_t mapped_bytes = 0; // all bytes ever mapped from this site (for rates)
    uint64_t unmapped_bytes = 0;
    std::vector<uint64_t> region_ts_ns; // creation time of each live region (for ages)
};

class MmapRegions {
public:
    explicit MmapRegions(uint64_t page_size = 4096) : page_(page_size) {}

    void on_mmap(uint32_t tgid, uint64_t addr, uint64_t len, uint64_t stack_id, uint64_t ts_ns);
    void on_munmap(uint32_t tgid, uint64_t addr, uint64_t len);
    void on_mremap(uint32_t tgid, uint64_t old_addr, uint64_t old_len, uint64_t new_addr, uint64_t new_len,
                   uint64_t ts_ns);
    std::vector<MmapSite> sites() const;

private:
    struct Region {
        uint64_t end = 0;
        uint64_t stack_id = 0;
        uint64_t ts_ns = 0;
    };
    using Regions = std::map<uint64_t, Region>; // start -> region, non-overlapping

    uint64_t round_up(uint64_t len) const { return (len + page_ - 1) / page_ * page_; }
    // The page-rounded end of [addr, addr+len); nullopt for a range the kernel would refuse (empty, or past 2^64).
    std::optional<uint64_t> end_of(uint64_t addr, uint64_t len) const;
    // Removes [addr, addr+len) from the process's regions; returns the site of the first region touched.
    std::optional<uint64_t> cut(uint32_t tgid, uint64_t addr, uint64_t len, uint64_t* ts_ns = nullptr);
    void account(uint32_t tgid, uint64_t stack, uint64_t mapped_bytes, uint64_t unmapped_bytes);

    uint64_t page_;
    std::map<uint32_t, Regions> procs_;
    std::map<std::pair<uint32_t, uint64_t>, std::pair<uint64_t, uint64_t>> totals_; // mapped, unmapped
};

} // namespace memsight::deep
