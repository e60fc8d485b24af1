#pragma once
// Owner of the deep-tier BPF object: uprobes on one process's allocator functions, in-kernel per-site
// aggregates and outstanding allocations, and a ring buffer of mmap-family calls.
#include "memsight/alloc_events.h"

#include "python/frames.h"

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace memsight::loader {

struct AllocProbeOptions {
    uint64_t sample_bytes = 1;           // mean bytes between samples; 1 = every allocation (exact)
    uint32_t max_outstanding = 1u << 20; // outstanding allocations the table is sized for
};

using AllocCounters = std::array<uint64_t, MEMSIGHT_ACNT__MAX>;

struct SiteStats {
    uint32_t tgid = 0;
    uint64_t stack_id = 0; // hash of the site's user stack (memsight_site_key.stack); 0 = none
    uint32_t slot = 0;     // what Outstanding::info.slot refers to
    memsight_site_stats stats{};
};

struct Outstanding {
    uint64_t addr = 0;
    memsight_alloc_info info{}; // info.tgid: the process
};

class AllocProbes {
public:
    using MapEventHandler = std::function<void(const memsight_map_event&)>;

    // Loads the object (no probes attached yet). Throws UserError on missing capability or BTF.
    AllocProbes(const AllocProbeOptions& opts, MapEventHandler on_map_event);
    ~AllocProbes();
    AllocProbes(const AllocProbes&) = delete;
    AllocProbes& operator=(const AllocProbes&) = delete;

    // Attaches the probes the hook table gives `symbol` (malloc, free, _Znwm, ...) at `file_offset` of `binary` (a path
    // the agent can open, e.g. /proc/PID/root/usr/lib/.../libc.so.6) for process `pid` only. Returns false and fills
    // `error` when the symbol is not one memsight probes or the kernel refused.
    bool attach(pid_t pid, const std::string& binary, const std::string& symbol, uint64_t file_offset,
                std::string& error);

    // Whether the kernel has uprobe_multi links (Linux 6.6+), asked of the kernel with a two-instruction program.
    // Without them attach() falls back to perf-event uprobes, which need CAP_SYS_ADMIN.
    static bool kernel_has_uprobe_multi();
    // Whether `symbol` has a handler in the allocator hook table (deep/alloc_hooks.h).
    static bool is_probed_symbol(const std::string& symbol);
    // Programs the hook table names that the BPF object does not have; empty when they agree (opens the object,
    // loads nothing).
    static std::vector<std::string> missing_handler_programs();

    int poll(int timeout_ms);
    AllocCounters counters() const;
    std::vector<SiteStats> sites() const;
    std::vector<Outstanding> outstanding() const;
    // The sites of `pid`, a CPython process, carry its Python frames after the native ones (python/frames.h).
    // Throws UserError when the BPF map is full.
    void watch_python(pid_t pid, const python::StackSource& source);
    // Frames of a site's stack, innermost first; empty when unknown.
    std::vector<uint64_t> stack(uint32_t tgid, uint64_t stack_id) const;
    uint64_t sample_bytes() const { return sample_bytes_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    uint64_t sample_bytes_;
};

// Tables the BPF program uses for weights and exponential gaps (exposed for tests).
// weight_table[i] = f((i + 0.5)/1024) * 65536 with f(x) = x / (1 - e^-x): the BPF side truncates x to its
// 1/1024 bucket, the midpoint keeps the error symmetric.
std::vector<uint32_t> make_weight_table();
// log_table[i] = -ln(0.5 + i/2048) * 65536, i = 0..1024, for the gaps of memsight/sampling.h.
std::vector<uint32_t> make_log_table();

} // namespace memsight::loader
