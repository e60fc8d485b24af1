#pragma once
// Everything one scrape shows, copied out of the agent's state at once.
#include "analysis/containers.h"
#include "analysis/exit_peaks.h"
#include "analysis/oom.h"
#include "analysis/process_table.h"
#include "memsight/alloc_events.h"

#include <array>
#include <cstdint>
#include <string>
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

struct AgentSnapshot {
    std::vector<ProcessView> processes; // the exported (top-N) processes
    size_t tracked_processes = 0;
    std::vector<ContainerView> containers;
    std::vector<OomStats::Series> oom_series;
    std::vector<OomKill> recent_oom_victims;
    ExitPeaks::Histogram exit_histogram;
    std::vector<ExitRecord> exit_peaks;
    KernelCounters kernel_counters;
    uint64_t attach_failures = 0;
    uint64_t event_queue_full = 0; // kernel events dropped because the agent fell behind applying them
    double scan_seconds = 0;
    std::string version, kernel, libbpf;
    // Deep tier (empty when no session runs).
    size_t deep_sessions = 0;
    std::vector<HeapSite> heap_sites;
    std::array<uint64_t, MEMSIGHT_ACNT__MAX> deep_counters{};
};

} // namespace memsight::analysis
