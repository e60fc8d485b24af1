#pragma once
// One deep-tier session: finds each target process's allocator, refuses Go binaries, attaches uprobes per
// process, and turns the in-kernel aggregates plus the mmap regions into per-site readings.
#include "deep/mmap_regions.h"
#include "loader/alloc_probes.h"

#include <sys/types.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

namespace memsight::deep {

// Outstanding allocations a session is sized for when SessionOptions::max_outstanding is 0. The table is
// preallocated (about 47 bytes of locked kernel memory per block with its spill), so sampled sessions, which
// keep about one block per sample_bytes of live heap, get a quarter of exact mode's (16 GiB of live heap at
// the 64 KiB default).
inline constexpr uint32_t kDefaultMaxOutstandingExact = 1u << 20;
inline constexpr uint32_t kDefaultMaxOutstandingSampled = 1u << 18;

struct SessionOptions {
    std::vector<pid_t> pids;
    uint64_t sample_bytes = 1;    // 1 = exact
    uint32_t max_outstanding = 0; // 0 = the default for the mode (above)
};

// What was hooked in one process, for the user and the report.
struct TargetReport {
    pid_t pid = 0;
    std::string comm;
    std::string active;               // active allocator kind
    std::vector<std::string> hooked;  // "glibc /usr/lib/x86_64-linux-gnu/libc.so.6: malloc, free, ..."
    std::vector<std::string> missing; // "glibc: pvalloc"
    std::vector<std::string> attach_errors;
    bool refused = false;
    std::string refusal; // why (Go binary, kernel thread, nothing to hook)
    bool python = false; // a CPython process whose sites carry its Python frames
};

// One call site's reading at one moment. Heap sites come from the kernel (weighted estimates); mmap sites
// from the userspace interval map (exact).
struct SiteReading {
    uint32_t tgid = 0;
    uint64_t stack_id = 0; // hash of the user stack; 0 = none
    bool mmap = false;
    double live_bytes = 0, live_count = 0;
    double alloc_bytes = 0, alloc_count = 0;
    double free_bytes = 0, free_count = 0;
    std::vector<double> ages_s;  // ages of the live (sampled) allocations, seconds
    std::vector<double> weights; // bytes each live sample stands for (same order as ages_s)
};

class Session {
public:
    // Throws UserError when no target can be traced (each refusal says why).
    explicit Session(const SessionOptions& opts);

    const std::vector<TargetReport>& targets() const { return targets_; }
    std::vector<pid_t> traced_pids() const;
    // "pid 12 (comm)", "pid 12 (a), pid 13 (b)", "... and 4 more": the targets traced (also after they exit).
    std::string who() const;
    // Handles mmap-family events for up to timeout_ms.
    void poll(int timeout_ms);
    // True when every traced process has exited (or exec'd into something else).
    bool all_gone() const;
    std::vector<SiteReading> read() const;
    std::vector<uint64_t> stack(uint32_t tgid, uint64_t stack_id) const { return probes_->stack(tgid, stack_id); }
    loader::AllocCounters counters() const { return probes_->counters(); }
    uint64_t sample_bytes() const { return probes_->sample_bytes(); }

private:
    TargetReport attach_process(pid_t pid);

    std::unique_ptr<loader::AllocProbes> probes_;
    MmapRegions regions_;
    std::vector<TargetReport> targets_;
    std::set<std::pair<pid_t, uint64_t>> start_times_; // (pid, starttime) of traced processes
};

} // namespace memsight::deep
