#include "deep/mmap_regions.h"

#include <cstdint>

namespace memsight::deep {

void MmapRegions::account(uint32_t tgid, uint64_t stack, uint64_t mapped_bytes, uint64_t unmapped_bytes)
{
    auto& [mapped, unmapped] = totals_[{tgid, stack}];
    mapped += mapped_bytes;
    unmapped += unmapped_bytes;
}

std::optional<uint64_t> MmapRegions::end_of(uint64_t addr, uint64_t len) const
{
    // The kernel refuses (EINVAL) a zero length and a range that does not fit below 2^64, so such arguments never
    // describe a mapping. munmap is recorded at its entry, before the kernel checks: without this, a wrapped end
    // made cut() keep regions it should drop and mmap() create regions ending below their start.
    if (len == 0 || len > UINT64_MAX - (page_ - 1))
        return std::nullopt;
    const uint64_t size = round_up(len);
    if (addr > UINT64_MAX - size)
        return std::nullopt;
    return addr + size;
}

std::optional<uint64_t> MmapRegions::cut(uint32_t tgid, uint64_t addr, uint64_t len, uint64_t* ts_ns)
{
    auto pit = procs_.find(tgid);
    const auto range_end = end_of(addr, len);
    if (pit == procs_.end() || !range_end)
        return std::nullopt;
    Regions& regions = pit->second;
    const uint64_t end = *range_end;
    std::optional<uint64_t> first_site;
    auto it = regions.upper_bound(addr);
    if (it != regions.begin())
        --it;
    while (it != regions.end() && it->first < end) {
        const uint64_t r_start = it->first;
        const Region r = it->second;
        if (r.end <= addr) {
            ++it;
            continue;
        }
        if (!first_site) {
            first_site = r.stack_id;
            if (ts_ns)
                *ts_ns = r.ts_ns;
        }
        it = regions.erase(it);
        const uint64_t cut_start = std::max(r_start, addr);
        const uint64_t cut_end = std::min(r.end, end);
        account(tgid, r.stack_id, 0, cut_end - cut_start);
        if (r_start < cut_start)
            regions.emplace(r_start, Region{cut_start, r.stack_id, r.ts_ns});
        if (cut_end < r.end)
            it = regions.emplace(cut_end, Region{r.end, r.stack_id, r.ts_ns}).first;
    }
    return first_site;
}

void MmapRegions::on_mmap(uint32_t tgid, uint64_t addr, uint64_t len, uint64_t stack_id, uint64_t ts_ns)
{
    const auto end = end_of(addr, len);
    if (!end)
        return;
    cut(tgid, addr, len); // MAP_FIXED over an older mapping replaces it
    procs_[tgid].emplace(addr, Region{*end, stack_id, ts_ns});
    account(tgid, stack_id, *end - addr, 0);
}

void MmapRegions::on_munmap(uint32_t tgid, uint64_t addr, uint64_t len)
{
    cut(tgid, addr, len);
}

void MmapRegions::on_mremap(uint32_t tgid, uint64_t old_addr, uint64_t old_len, uint64_t new_addr, uint64_t new_len,
                            uint64_t ts_ns)
{
    uint64_t created = ts_ns;
    const auto site = cut(tgid, old_addr, old_len, &created);
    if (!site)
        return; // not a mapping we track (e.g. made by the allocator)
    on_mmap(tgid, new_addr, new_len, *site, created);
}

std::vector<MmapSite> MmapRegions::sites() const
{
    std::map<std::pair<uint32_t, uint64_t>, MmapSite> by_site;
    for (const auto& [key, totals] : totals_) {
        auto& s = by_site[key];
        s.tgid = key.first;
        s.stack_id = key.second;
        s.mapped_bytes = totals.first;
        s.unmapped_bytes = totals.second;
    }
    for (const auto& [tgid, regions] : procs_) {
        for (const auto& [start, r] : regions) {
            auto& s = by_site[{tgid, r.stack_id}];
            s.live_bytes += r.end - start;
            ++s.live_regions;
            s.region_ts_ns.push_back(r.ts_ns);
        }
    }
    std::vector<MmapSite> out;
    for (auto& [key, s] : by_site)
        out.push_back(std::move(s));
    return out;
}

} // namespace memsight::deep
