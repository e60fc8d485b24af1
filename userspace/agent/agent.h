#pragma once
// The always-on agent: BPF probes + event pump thread + periodic /proc and cgroupfs scans, producing
// AgentSnapshots for the exporter; and the deep-tier sessions it runs (a person's, and automatic escalations on
// suspected leaks), each watched by the overhead governor.
#include "agent/escalation.h"
#include "agent/event_router.h"
#include "agent/growth_site_namer.h"
#include "agent/oom_forensics.h"
#include "analysis/growth_sites.h"
#include "analysis/snapshot.h"
#include "config/config.h"
#include "deep/driver.h"
#include "export/metrics_server.h"
#include "loader/always_on.h"
#include "python/watch.h"

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace memsight::agent {

// How far the scan loop has come, for the health probes.
struct Progress {
    analysis::Clock::time_point started{};   // when the BPF programs were attached
    uint64_t scans = 0;                      // completed scans
    analysis::Clock::time_point last_scan{}; // end of the last one
};

// The probes' verdict: ready once the first scan is done (not while stopping); live unless the loop has not
// finished a scan, or the first one, for max(3 x interval, 30 s).
exporter::Health judge_health(const Progress& p, analysis::Clock::time_point now, analysis::Clock::duration interval,
                              bool stopping);

// Who started a deep-tier session: a person (--deep-pid / --deep-cgroup) or automatic escalation.
enum class Origin { Manual, Escalation };

class Agent {
public:
    // Loads and attaches the BPF programs; throws UserError on a missing capability, BTF or tracepoint. With
    // escalation enabled it also calibrates the probe cost (forks a short-lived child: call it before starting
    // other threads) and prepares the profile directory.
    explicit Agent(const config::Config& cfg);
    ~Agent();
    Agent(const Agent&) = delete;
    Agent& operator=(const Agent&) = delete;

    // Scans every interval until `stop` becomes true. The first scan happens immediately. Running sessions end
    // (escalated ones write their profile) before it returns.
    void run(const std::atomic<bool>& stop);
    // One scan of /proc and cgroupfs, then the deep-tier sessions' readings and escalation (run() calls it; tests
    // and benchmarks may too).
    void scan_once();
    // Growth sites: takes the fault samples since the last scan into the table, names the sites of the processes
    // and containers that grow most, and has the named processes' stacks unwound first.
    GrowthSiteNamer::Named update_growth_sites(const std::vector<analysis::ProcessView>& processes,
                                               const std::vector<analysis::ContainerView>& containers);
    analysis::AgentSnapshot snapshot() const;
    Progress progress() const;
    // Starts a person's deep-tier session on these processes (replacing a running one) under this overhead budget
    // (0 = no limit). Throws UserError when none can be traced.
    void watch(const std::vector<pid_t>& pids, double overhead_budget);
    // The directory of the OOM forensic records ("" when they are off: oom.forensics_dir "" or not writable).
    const std::string& oom_records_dir() const { return oom_forensics_.dir(); }

private:
    // A CPython process a session watches: heap censuses at the session's start and at its readings, the first
    // and the latest kept (docs/python.md).
    struct PythonWatch {
        pid_t pid = 0;
        std::string comm;
        procfs::ContainerIdentity identity;
        python::Watch watch;
        bool has_latest = false; // a census besides the first
    };

    // A deep-tier session the agent runs: deep::Driver drives it; the rest labels and exports it.
    struct Running {
        std::unique_ptr<deep::Driver> driver;
        Origin origin = Origin::Manual;
        ProcessKey key; // escalated sessions: the process whose cool-down starts when it ends
        // Its first traced process, which labels its overhead series and names its profile file.
        pid_t pid = 0;
        std::string comm;
        procfs::ContainerIdentity identity;
        std::vector<analysis::HeapSite> top;          // per traced process, its top sites at the last reading
        std::vector<PythonWatch> python;              // its traced CPython processes that can be read
        std::vector<analysis::PythonType> python_top; // per such process, its top growing types
    };

    void pump(const std::atomic<bool>& stop);
    void govern_sessions();
    void escalate(Clock::time_point now);
    // Attaches a session (throws UserError when none of the processes can be traced).
    Running start_session(const std::vector<pid_t>& pids, std::chrono::milliseconds duration, double budget,
                          Origin origin, ProcessKey key);
    void end_session(size_t index, deep::EndReason why);
    void publish();
    deep::ProbeCost cost_per_hit();
    // Starts the Python side of a new session: a first census of each traced CPython process.
    void start_python(Running& r);
    // A census of each of the session's CPython processes (bounded in cost: see agent.cpp), then its top types.
    void census_python(Running& r);
    // Scan thread, when an OOM kill is applied: what the agent knew about the victim (docs/oom-forensics.md).
    void capture_victim(pid_t pid, const std::optional<std::string>& cgroup_now);
    // The victim's memory cgroup in its context: limit and usage, its container's readings.
    void describe_memcg(analysis::VictimContext& ctx, const std::string& cgroup);
    // Scan thread: writes the forensic records of the kills seen since.
    void flush_oom_records();

    config::Config cfg_;
    analysis::ProcessTable table_;
    analysis::ProcScanner scanner_;
    analysis::CgroupResolver cgroups_;
    analysis::ContainerTrends container_trends_; // scan thread only
    analysis::ExitPeaks exits_;
    analysis::OomStats oom_stats_;
    OomForensics oom_forensics_; // before oom_tracker_, whose sink queues kills here
    analysis::OomTracker oom_tracker_;
    EventRouter router_;
    std::unique_ptr<loader::AlwaysOnProbes> probes_;
    std::map<pid_t, uint64_t> python_checked_; // processes whose growth sites were named: pid -> start ticks

    // Scan thread only.
    analysis::GrowthSites growth_sites_{cfg_.growth_window};
    GrowthSiteNamer growth_site_namer_;
    std::vector<Running> sessions_;
    std::vector<std::future<void>> detaching_; // ended sessions being destroyed; the destructor waits for them
    EscalationPlanner planner_;
    std::optional<std::string> profile_dir_; // set when escalated sessions can write profiles there

    const analysis::Clock::time_point started_ = analysis::Clock::now();
    const std::chrono::system_clock::time_point started_wall_ = std::chrono::system_clock::now();
    std::atomic<uint64_t> scans_{0};
    std::atomic<analysis::Clock::rep> last_scan_{0}; // time_since_epoch of the last scan's end

    mutable std::mutex mu_; // guards the fields below
    std::vector<analysis::ContainerView> containers_;
    double scan_seconds_ = 0;
    std::vector<analysis::HeapSite> heap_sites_;
    std::vector<analysis::PythonType> python_types_;
    GrowthSiteNamer::Named growth_site_views_;
    std::vector<analysis::GrowthSite> previous_growth_sites_; // the scan before: a victim gone since was named there
    uint64_t growth_site_samples_folded_ = 0;
    size_t growth_site_stacks_ = 0;
    size_t deep_running_ = 0;
    uint64_t python_censuses_ = 0, python_censuses_skipped_ = 0;
    loader::AllocCounters deep_counters_{};      // sessions that ended
    loader::AllocCounters deep_counters_live_{}; // the running sessions
    analysis::DeepTierView status_;              // governor and escalation parts; snapshot() adds the rest
    std::array<uint64_t, static_cast<size_t>(RefusedReason::Count)> refused_{};
    std::array<uint64_t, deep::kEndReasonCount> finished_{}; // escalated sessions, by how they ended
};

} // namespace memsight::agent
