#pragma once
// RAII owners of libbpf objects and helpers shared by the loaders.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

namespace memsight::loader {

struct LinkDeleter {
    void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
struct RingDeleter {
    void operator()(ring_buffer* r) const { ring_buffer__free(r); }
};
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;
using RingPtr = std::unique_ptr<ring_buffer, RingDeleter>;

// Sums a per-CPU array of N u64 counters over every possible CPU.
template <size_t N> std::array<uint64_t, N> sum_percpu_counters(const bpf_map* map)
{
    std::array<uint64_t, N> total{};
    std::vector<uint64_t> per_cpu(static_cast<size_t>(libbpf_num_possible_cpus()));
    const int fd = bpf_map__fd(map);
    for (uint32_t i = 0; i < N; ++i) {
        if (bpf_map_lookup_elem(fd, &i, per_cpu.data()) != 0)
            continue;
        for (uint64_t v : per_cpu)
            total[i] += v;
    }
    return total;
}

} // namespace memsight::loader
