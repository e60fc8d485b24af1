#pragma once
// Everything one scrape shows, copied out of the agent's state at once.
#include "analysis/containers.h"
#include "analysis/exit_peaks.h"
#include "analysis/oom.h"
#include "analysis/process_table.h"
#include "memsight/alloc_events.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace memsight::analysis {

// One call site of a process watched by a deep-tier session (estimates when sampled).
struct HeapSite {
    pid_t pid = 0;
    std::string comm;
    procfs::ContainerIdentity identity;
    std::string site;
    double live_bytes = 0, live_objects = 0;
    double allocated_bytes = 0, freed_bytes = 0; // since the session started
    bool growing = false;
};

// Where a process grows, from the sampled page faults: bytes faulted in at the site over the growth window
// (samples x sample period x page size), an estimate.
struct GrowthSite {
    pid_t pid = 0;
    std::string comm;
    procfs::ContainerIdentity identity;
    std::string site;
    double bytes = 0;
};

// The same for a container: its processes' sites added up.
struct ContainerGrowthSite {
    procfs::ContainerIdentity identity;
    std::string cgroup;
    std::string site;
    double bytes = 0;
};

// A Python type whose live instances grew in a process a deep-tier session watches: its count in the latest heap
// census, and (latest - first) / the time between the session's first census and the latest.
struct PythonType {
    pid_t pid = 0;
    std::string comm;
    procfs::ContainerIdentity identity;
    std::string type; // "__main__.Session", "dict"
    double live_objects = 0;
    double growth_per_second = 0;
};

// One running deep-tier session's estimated overhead. A session on several processes (--deep-cgroup) is labelled
// with its first traced process.
struct SessionOverhead {
    pid_t pid = 0;
    std::string comm;
    procfs::ContainerIdentity identity;
    std::string origin;  // "manual" (--deep-pid / --deep-cgroup) or "escalation"
    double estimate = 0; // fraction of the traced processes' CPU time spent in the probes
};

// The deep tier at one scrape: its sessions' call sites and losses, the overhead governor, auto-escalation.
struct DeepTierView {
    size_t sessions = 0; // running, person-started and escalated
    std::vector<HeapSite> heap_sites;
    std::vector<PythonType> python_types; // per watched CPython process, its top growing types
    uint64_t python_censuses = 0;         // heap censuses taken of watched CPython processes
    uint64_t python_censuses_skipped = 0; // not taken: the previous one cost more than 10% of the interval
    std::array<uint64_t, MEMSIGHT_ACNT__MAX> counters{}; // summed over the sessions that ran
    std::vector<SessionOverhead> overheads;              // sessions with an estimate so far
    std::optional<double> probe_cost_seconds;            // calibrated cost per probe hit (absent until calibrated)
    uint64_t overhead_stops = 0;                         // sessions of any origin stopped by the budget
    size_t escalation_sessions = 0;                      // escalated sessions running
    uint64_t escalations_started = 0;
    // Profile files of escalated sessions: written, or lost to a write error (a full disk); a loss is also logged.
    uint64_t profiles_written = 0, profiles_failed = 0;
    // Every reason with its count, in the order they are exported (the `reason` label).
    std::vector<std::pair<std::string, uint64_t>> escalations_refused;
    std::vector<std::pair<std::string, uint64_t>> escalations_finished;
};

// Everything one scrape exports, filled by the agent under its locks.
struct AgentSnapshot {
    std::vector<ProcessView> processes; // the exported (top-N) processes
    size_t tracked_processes = 0;
    std::vector<ContainerView> containers;
    std::vector<OomStats::Series> oom_series;
    std::vector<OomKill> recent_oom_victims;
    uint64_t oom_records_written = 0, oom_records_failed = 0; // OOM forensic records (docs/oom-forensics.md)
    ExitPeaks::Histogram exit_histogram;
    std::vector<ExitRecord> exit_peaks;
    KernelCounters kernel_counters;
    uint64_t attach_failures = 0;
    uint64_t event_queue_full = 0; // kernel events dropped because the agent fell behind applying them
    std::vector<GrowthSite> growth_sites;
    std::vector<ContainerGrowthSite> container_growth_sites;
    uint64_t growth_site_samples_folded = 0; // fault samples whose stack the growth-site table did not keep
    size_t growth_site_stacks = 0;           // distinct (process, stack) pairs kept for growth sites
    double scan_seconds = 0;
    std::string version, kernel, libbpf;
    double start_time_seconds = 0; // when the agent started, Unix time: a restart (counters reset) changes it
    DeepTierView deep;
};

} // namespace memsight::analysis
