#pragma once
// Names the growth sites of the processes the agent exports them for: symbolizes each process's sampled fault
// stacks (one libdwfl symbolizer per process, kept while the process stays selected) and names each stack by
// its first frame outside the allocator and libc (deep/site_names.h).
#include "analysis/growth_sites.h"
#include "analysis/snapshot.h"
#include "symbolize/symbolizer.h"

#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace memsight::agent {

class GrowthSiteNamer {
public:
    // The processes to name sites for: of `all`, the most suspected of leaking, then the fastest-growing, among
    // those that grow or are suspected at all; at most `processes`, each with its `top` sites.
    std::vector<analysis::GrowthSite> name(const std::vector<analysis::ProcessView>& all,
                                           const analysis::GrowthSites& sites, size_t processes, size_t top,
                                           uint64_t bytes_per_sample);

private:
    using Key = std::pair<pid_t, uint64_t>; // pid, start time: a reused pid gets a new symbolizer
    std::map<Key, std::unique_ptr<symbolize::ProcessSymbolizer>> symbolizers_;
};

} // namespace memsight::agent
