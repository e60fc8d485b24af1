#pragma once
// A deep-tier session run by the agent on the processes a person named (--deep-pid / --deep-cgroup),
// time-boxed by deep.max_duration, exported as the top call sites of each watched process.
#include "analysis/snapshot.h"
#include "config/config.h"
#include "deep/leak_tracker.h"
#include "deep/session.h"

#include <chrono>
#include <memory>
#include <vector>

namespace memsight::agent {

class DeepWatch {
public:
    // Attaches; throws UserError when none of the processes can be traced.
    DeepWatch(const std::vector<pid_t>& pids, const config::Config& cfg);

    void poll() { session_->poll(0); }
    // One reading (every agent interval).
    void sample();
    // The session ran out of time or every process is gone.
    bool finished() const;
    // Per watched process, its top sites by live bytes (one series per (pid, site name)).
    std::vector<analysis::HeapSite> top_sites() const { return top_; }
    loader::AllocCounters counters() const { return session_->counters(); }

private:
    std::unique_ptr<deep::Session> session_;
    std::unique_ptr<deep::LeakTracker> tracker_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::milliseconds max_duration_;
    size_t top_sites_;
    std::vector<analysis::HeapSite> top_;
};

// Aggregates per (pid, site name) and keeps the `k` largest by live bytes per pid (exposed for tests).
std::vector<analysis::HeapSite> top_sites_per_process(const std::vector<deep::SiteReport>& sites, size_t k);

} // namespace memsight::agent
