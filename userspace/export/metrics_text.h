#pragma once
// Reading an agent's /metrics back: the Prometheus text exposition parsed into samples, and what it says about one
// process's growth sites and deep-tier heap sites (`memsight growth --agent`).
#include "analysis/snapshot.h"

#include <sys/types.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace memsight::exporter {

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels; // unescaped values
    double value = 0;
};

// The samples of a text exposition (format 0.0.4), in order; comments, blank and malformed lines are skipped.
std::vector<Sample> parse_metrics_text(std::string_view text);

// One process as an agent's metrics show it.
struct AgentProcessView {
    bool is_memsight = false; // memsight_build_info is there
    bool exported = false;    // the agent exports per-process series for the pid
    std::string comm;
    double rss_bytes = 0; // anon + file + shmem
    double growth_bytes_per_second = 0;
    double leak_suspicion = 0;
    std::vector<analysis::GrowthSite> growth_sites; // most bytes first
    std::vector<analysis::HeapSite> heap_sites;     // of a deep session on the pid, most live bytes first
    // To say why a process has no growth sites: the agent names the processes that grow or are suspected, most
    // suspected first, then fastest-growing.
    size_t rank = 0;                 // the pid's place in that order among the exported processes; 0 = not in it
    size_t processes_with_sites = 0; // distinct pids with growth sites
};
AgentProcessView agent_process_view(const std::vector<Sample>& samples, pid_t pid);

// Why the view has no growth sites, one line; "" when it has some.
std::string why_no_growth_sites(const AgentProcessView& v, pid_t pid);

} // namespace memsight::exporter
