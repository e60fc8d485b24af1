#include "agent/site_comparison.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace memsight::agent {
namespace {

std::string mib(double bytes)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / (1024.0 * 1024.0));
    return buf;
}

} // namespace

const char* agreement_name(SiteAgreement a)
{
    switch (a) {
    case SiteAgreement::Agree:
        return "agree";
    case SiteAgreement::Overlap:
        return "overlap";
    case SiteAgreement::Differ:
        return "differ";
    case SiteAgreement::NoGrowthSites:
        return "no_growth_sites";
    case SiteAgreement::NoHeapSites:
        return "no_heap_sites";
    }
    return "?";
}

SiteComparison compare_sites(pid_t pid, const std::vector<analysis::HeapSite>& heap,
                             const std::vector<analysis::GrowthSite>& growth)
{
    SiteComparison c;
    c.pid = pid;
    const analysis::HeapSite* top_heap = nullptr;
    for (const auto& h : heap) {
        if (h.pid != pid)
            continue;
        // A growing site beats any site that is not; then the most live bytes; then the name (a stable choice).
        if (!top_heap || std::tie(h.growing, h.live_bytes) > std::tie(top_heap->growing, top_heap->live_bytes) ||
            (h.growing == top_heap->growing && h.live_bytes == top_heap->live_bytes && h.site < top_heap->site))
            top_heap = &h;
    }
    std::vector<const analysis::GrowthSite*> ranked;
    for (const auto& g : growth)
        if (g.pid == pid)
            ranked.push_back(&g);
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto* a, const auto* b) {
        return a->bytes != b->bytes ? a->bytes > b->bytes : a->site < b->site;
    });
    if (top_heap) {
        c.comm = top_heap->comm;
        c.heap_site = top_heap->site;
        c.heap_live_bytes = top_heap->live_bytes;
        c.heap_growing = top_heap->growing;
    }
    if (!ranked.empty()) {
        if (c.comm.empty())
            c.comm = ranked.front()->comm;
        c.growth_site = ranked.front()->site;
        c.growth_bytes = ranked.front()->bytes;
    }
    for (size_t i = 0; top_heap && i < ranked.size(); ++i)
        if (ranked[i]->site == top_heap->site) {
            c.heap_site_growth_rank = i + 1;
            break;
        }

    const std::string who = "pid " + std::to_string(pid) + (c.comm.empty() ? "" : " (" + c.comm + ")");
    const std::string heap_text = top_heap ? "top heap site " + c.heap_site + " (" + mib(c.heap_live_bytes) + " live" +
                                                 (c.heap_growing ? ", growing" : "") + ")"
                                           : std::string();
    const std::string growth_text =
        ranked.empty() ? std::string()
                       : "top growth site " + c.growth_site + " (" + mib(c.growth_bytes) + " faulted in)";
    if (!top_heap) {
        c.agreement = SiteAgreement::NoHeapSites;
        c.text = who + ": no heap sites from the deep session" + (ranked.empty() ? "" : "; " + growth_text);
    } else if (ranked.empty()) {
        c.agreement = SiteAgreement::NoGrowthSites;
        c.text = who + ": " + heap_text +
                 "; no growth sites to compare (not among growth_sites.processes, or no "
                 "page-fault samples in the growth window)";
    } else if (c.heap_site_growth_rank == 1) {
        c.agreement = SiteAgreement::Agree;
        c.text = who + ": " + heap_text + " = " + growth_text + ": agree";
    } else if (c.heap_site_growth_rank > 1) {
        c.agreement = SiteAgreement::Overlap;
        c.text = who + ": " + heap_text + " is growth site #" + std::to_string(c.heap_site_growth_rank) + "; " +
                 growth_text + ": overlap";
    } else {
        c.agreement = SiteAgreement::Differ;
        c.text = who + ": " + heap_text + " is not among the growth sites; " + growth_text + ": differ";
    }
    return c;
}

} // namespace memsight::agent
