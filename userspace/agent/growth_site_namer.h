#pragma once
// Names the growth sites of the processes and containers the agent exports them for: symbolizes the sampled fault
// stacks of the processes concerned (one libdwfl symbolizer per process, kept while the process stays chosen) and
// names each stack by its first frame outside the allocator and libc (deep/site_names.h).
#include "analysis/containers.h"
#include "analysis/growth_sites.h"
#include "analysis/snapshot.h"
#include "symbolize/symbolizer.h"

#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace memsight::agent {

struct GrowthSiteLimits {
    size_t processes = 0;          // processes named: the most suspected of leaking, then the fastest-growing
    size_t containers = 0;         // containers named, chosen the same way
    size_t top = 0;                // sites per process or container
    uint64_t bytes_per_sample = 0; // sample period x page size
};

class GrowthSiteNamer {
public:
    struct Named {
        std::vector<analysis::GrowthSite> processes;
        std::vector<analysis::ContainerGrowthSite> containers;
    };
    // Only processes and containers that grow or are suspected are named.
    Named name(const std::vector<analysis::ProcessView>& processes,
               const std::vector<analysis::ContainerView>& containers, const analysis::GrowthSites& sites,
               const GrowthSiteLimits& limits);

private:
    using Key = std::pair<pid_t, uint64_t>; // pid, start time: a reused pid gets a new symbolizer
    // One process in one round: its symbolizer and its samples per site name, worked out once even when the
    // process is named both on its own and in its container.
    struct Round {
        std::unique_ptr<symbolize::ProcessSymbolizer> symbolizer;
        std::map<std::string, uint64_t> sites;
    };
    const std::map<std::string, uint64_t>& sites_of(const analysis::ProcessView& p, const analysis::GrowthSites& sites,
                                                    std::map<Key, Round>& round);
    std::map<Key, std::unique_ptr<symbolize::ProcessSymbolizer>> symbolizers_;
};

} // namespace memsight::agent
