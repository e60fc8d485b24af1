#pragma once
// A deep-tier session run by the agent, on the processes a person named (--deep-pid / --deep-cgroup) or on a
// suspected leak (automatic escalation): time-boxed, watched by the overhead governor, exported as the top call
// sites of each traced process.
#include "agent/overhead.h"
#include "analysis/snapshot.h"
#include "deep/leak_tracker.h"
#include "deep/session.h"
#include "export/deep_status.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace memsight::agent {

enum class Origin { Manual, Escalation };

// Why a session ends; None while it runs.
enum class EndReason { None, Duration, Exited, Overhead, Shutdown };
std::string_view end_reason_name(EndReason r);

struct DeepWatchOptions {
    std::vector<pid_t> pids;
    uint64_t sample_bytes = 65536;
    size_t top_sites = 5;
    std::chrono::milliseconds max_duration{std::chrono::minutes(10)};
    std::chrono::milliseconds interval{std::chrono::seconds(10)}; // readings; also the tracker's min age
    double overhead_budget = 0.02;                                // 0 = no limit
    double cost_per_hit_s = kFallbackCostPerHit;
    Origin origin = Origin::Manual;
};

class DeepWatch {
public:
    // Attaches; throws UserError when none of the processes can be traced (the message says why).
    explicit DeepWatch(const DeepWatchOptions& opts);

    void poll() { session_->poll(0); }
    // One reading (every agent interval).
    void sample();
    // One governor reading (about every second). Returns true when the budget says stop.
    bool govern();
    // Why the session should end now: the budget (after govern), its time, or every process exited.
    EndReason end_reason() const;
    // Per watched process, its top sites by live bytes (one series per (pid, site name)).
    std::vector<analysis::HeapSite> top_sites() const { return top_; }
    loader::AllocCounters counters() const { return session_->counters(); }
    std::optional<exporter::SessionOverhead> overhead() const;
    Origin origin() const { return origin_; }
    std::vector<pid_t> traced_pids() const { return session_->traced_pids(); }
    // "pid 123 (leaker)" or "pids 1, 2, 3" for the log.
    std::string who() const;
    // The one log line of a budget stop.
    std::string stop_message() const { return governor_.stop_message(who()); }
    // Takes a last reading and returns the whole session as a gzipped pprof (the note goes into its comment).
    std::string final_profile(const std::string& note);
    pid_t first_pid() const { return first_pid_; }
    const std::string& first_comm() const { return first_comm_; }

private:
    std::unique_ptr<deep::Session> session_;
    std::unique_ptr<deep::LeakTracker> tracker_;
    SessionGovernor governor_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::system_clock::time_point started_;
    std::chrono::milliseconds max_duration_;
    size_t top_sites_;
    Origin origin_;
    pid_t first_pid_ = 0;
    std::string first_comm_;
    procfs::ContainerIdentity first_identity_;
    bool over_budget_ = false;
    std::vector<analysis::HeapSite> top_;
};

// Aggregates per (pid, site name) and keeps the `k` largest by live bytes per pid (exposed for tests).
std::vector<analysis::HeapSite> top_sites_per_process(const std::vector<deep::SiteReport>& sites, size_t k);

} // namespace memsight::agent
