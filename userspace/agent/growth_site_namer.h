#pragma once
// Names the growth sites of the processes and containers the agent exports them for: symbolizes the sampled fault
// stacks of the processes concerned (one libdwfl symbolizer per process, kept while the process stays chosen, its
// lookups in files shared with the other processes through one symbol cache, symbolize/symbol_cache.h) and names
// each stack by its first frame outside the allocator and libc (deep/site_names.h).
#include "analysis/containers.h"
#include "analysis/growth_sites.h"
#include "analysis/snapshot.h"
#include "symbolize/symbol_cache.h"
#include "symbolize/symbolizer.h"

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memsight::agent {

// The site of samples without a stack.
inline constexpr std::string_view kNoStackSite = "[stack not kept]";

// One sampled stack of a process, symbolized and named by its growth site.
struct NamedStack {
    std::string site;                     // first frame outside the allocator and libc (deep::site_name)
    std::vector<symbolize::Frame> frames; // innermost first; addresses when the process was gone
    uint64_t samples = 0;
};
// Symbolizes and names each stack (`sym` null: the process is gone, frames stay addresses). Same order as `stacks`.
std::vector<NamedStack> name_stacks(symbolize::ProcessSymbolizer* sym,
                                    const std::vector<analysis::GrowthSites::Stack>& stacks);

// One growth site of a process: its stacks merged.
struct SiteStacks {
    std::string site;
    uint64_t samples = 0;
    std::vector<NamedStack> stacks; // most samples first
};
// A process's named stacks merged by site: most samples first, ties by name (a stable order).
std::vector<SiteStacks> group_by_site(std::vector<NamedStack> stacks);

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
    symbolize::SymbolCache::Stats symbol_cache_stats() const { return symbol_cache_.stats(); }

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
    // Declared first: the symbolizers point at it. Short-lived processes of one binary (a compiler per source file)
    // each cost a map lookup per address instead of reading and searching the binary's symbol tables again.
    symbolize::SymbolCache symbol_cache_;
    std::map<Key, std::unique_ptr<symbolize::ProcessSymbolizer>> symbolizers_;
};

} // namespace memsight::agent
