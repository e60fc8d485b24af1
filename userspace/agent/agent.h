#pragma once
// The always-on agent: BPF probes + event pump thread + periodic /proc and cgroupfs scans, producing
// AgentSnapshots for the exporter.
#include "agent/deep_watch.h"
#include "agent/event_router.h"
#include "analysis/snapshot.h"
#include "config/config.h"
#include "loader/always_on.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

namespace memsight::agent {

class Agent {
public:
    // Loads and attaches the BPF programs; throws UserError on a missing capability, BTF or tracepoint.
    explicit Agent(const config::Config& cfg);
    ~Agent();
    Agent(const Agent&) = delete;
    Agent& operator=(const Agent&) = delete;

    // Scans every interval until `stop` becomes true. The first scan happens immediately.
    void run(const std::atomic<bool>& stop);
    // One scan of /proc and cgroupfs (run() calls it; tests and benchmarks may too).
    void scan_once();
    analysis::AgentSnapshot snapshot() const;
    // Starts a deep-tier session on these processes (replacing a running one). Throws UserError when none
    // can be traced.
    void watch(const std::vector<pid_t>& pids);

private:
    void pump(const std::atomic<bool>& stop);

    config::Config cfg_;
    analysis::ProcessTable table_;
    analysis::ProcScanner scanner_;
    analysis::CgroupResolver cgroups_;
    analysis::ContainerTrends container_trends_; // scan thread only
    analysis::ExitPeaks exits_;
    analysis::OomStats oom_stats_;
    analysis::OomTracker oom_tracker_;
    EventRouter router_;
    std::unique_ptr<loader::AlwaysOnProbes> probes_;

    std::unique_ptr<DeepWatch> deep_; // used by the scan thread only

    mutable std::mutex mu_; // guards the fields below
    std::vector<analysis::ContainerView> containers_;
    double scan_seconds_ = 0;
    std::vector<analysis::HeapSite> heap_sites_;
    bool deep_running_ = false;
    loader::AllocCounters deep_counters_{};      // sessions that ended
    loader::AllocCounters deep_counters_live_{}; // the running session
};

} // namespace memsight::agent
