#pragma once
// A deep-tier session's heap sites next to the same process's growth sites: does the code the deep tier found
// holding the most live memory agree with the code the always-on tier saw faulting in new pages? Used when an
// escalated session ends (the agent logs it) and by `memsight growth --agent`.
#include "analysis/snapshot.h"

#include <sys/types.h>

#include <string>
#include <vector>

namespace memsight::agent {

enum class SiteAgreement {
    Agree,         // the top heap site is the top growth site
    Overlap,       // the top heap site is one of the process's other growth sites
    Differ,        // it is none of them
    NoGrowthSites, // the process has no growth sites (not chosen, or no fault samples in the window)
    NoHeapSites,   // the session recorded no heap site for the process
};
const char* agreement_name(SiteAgreement a); // "agree", "overlap", "differ", "no_growth_sites", "no_heap_sites"

struct SiteComparison {
    pid_t pid = 0;
    std::string comm;
    SiteAgreement agreement = SiteAgreement::NoHeapSites;
    std::string heap_site; // the top heap site ("" when none)
    double heap_live_bytes = 0;
    bool heap_growing = false;
    std::string growth_site; // the top growth site ("" when none)
    double growth_bytes = 0;
    size_t heap_site_growth_rank = 0; // 1-based rank of heap_site among the growth sites; 0 = not among them
    std::string text;                 // one line for a log or a terminal
};

// The process's top heap site (the growing site with most live bytes; without growing sites, the site with most
// live bytes) against its top growth site (most bytes faulted in). Sites of other pids are ignored.
SiteComparison compare_sites(pid_t pid, const std::vector<analysis::HeapSite>& heap,
                             const std::vector<analysis::GrowthSite>& growth);

} // namespace memsight::agent
