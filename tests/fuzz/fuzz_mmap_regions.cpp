// mmap/munmap/mremap events of a traced process -> exact live intervals (deep/mmap_regions.h). Addresses and
// lengths are the process's syscall arguments as the uprobes saw them, so any values (overlaps, wrap-around at
// 2^64, zero lengths, unmaps of what was never mapped) must keep the books consistent. Each 33-byte chunk of the
// input is one event: kind, tgid, then four 64-bit arguments.
#include "deep/mmap_regions.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

uint64_t u64_at(const uint8_t* p)
{
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    memsight::deep::MmapRegions regions;
    constexpr size_t kEvent = 1 + 32;
    uint64_t ts = 0;
    for (size_t off = 0; off + kEvent <= size; off += kEvent) {
        const uint8_t* p = data + off;
        const uint32_t tgid = p[0] >> 2 & 3; // a few processes, so events meet each other's regions
        const uint64_t a = u64_at(p + 1), b = u64_at(p + 9), c = u64_at(p + 17), d = u64_at(p + 25);
        switch (p[0] & 3) {
        case 0:
        case 3:
            regions.on_mmap(tgid, a, b, c & 7, ++ts);
            break;
        case 1:
            regions.on_munmap(tgid, a, b);
            break;
        case 2:
            regions.on_mremap(tgid, a, b, c, d, ++ts);
            break;
        }
    }
    for (const auto& s : regions.sites()) {
        // One creation time per live region; a live region has bytes; and the books balance: what a site mapped
        // minus what was unmapped of it is what is live (a region moved by mremap counts as unmapped, then mapped).
        if (s.region_ts_ns.size() != s.live_regions || (s.live_bytes == 0) != (s.live_regions == 0) ||
            s.mapped_bytes - s.unmapped_bytes != s.live_bytes)
            std::abort();
    }
    return 0;
}
