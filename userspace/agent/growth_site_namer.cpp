#include "agent/growth_site_namer.h"

#include "deep/site_names.h"

#include <algorithm>

namespace memsight::agent {
namespace {

// The most suspected first, then the fastest-growing; only those that grow or are suspected; at most n.
template <typename T> std::vector<const T*> most_growing(const std::vector<T>& all, size_t n)
{
    std::vector<const T*> chosen;
    for (const auto& x : all)
        if (analysis::names_growth_sites(x.leak_suspicion, x.growth_bytes_per_second))
            chosen.push_back(&x);
    std::sort(chosen.begin(), chosen.end(), [](const T* a, const T* b) {
        return analysis::named_before(a->leak_suspicion, a->growth_bytes_per_second, b->leak_suspicion,
                                      b->growth_bytes_per_second);
    });
    if (chosen.size() > n)
        chosen.resize(n);
    return chosen;
}

// The top `n` sites by samples (ties by name, so the order is stable).
std::vector<std::pair<std::string, uint64_t>> top_sites(const std::map<std::string, uint64_t>& by_site, size_t n)
{
    std::vector<std::pair<std::string, uint64_t>> ranked(by_site.begin(), by_site.end());
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (ranked.size() > n)
        ranked.resize(n);
    return ranked;
}

} // namespace

std::vector<NamedStack> name_stacks(symbolize::ProcessSymbolizer* sym,
                                    const std::vector<analysis::GrowthSites::Stack>& stacks)
{
    std::vector<NamedStack> out;
    out.reserve(stacks.size());
    for (const auto& s : stacks) {
        NamedStack n;
        n.frames = symbolize::symbolize_stack(sym, s.ips);
        // No stack: the kernel could not take it, or the growth-site table folded it (GrowthSites).
        n.site = s.ips.empty() ? std::string(kNoStackSite) : deep::site_name(n.frames);
        n.samples = s.samples;
        out.push_back(std::move(n));
    }
    return out;
}

std::vector<SiteStacks> group_by_site(std::vector<NamedStack> stacks)
{
    std::map<std::string, SiteStacks> by_site;
    for (auto& s : stacks) {
        auto& g = by_site[s.site];
        g.site = s.site;
        g.samples += s.samples;
        g.stacks.push_back(std::move(s));
    }
    std::vector<SiteStacks> out;
    for (auto& [name, g] : by_site) {
        std::stable_sort(g.stacks.begin(), g.stacks.end(),
                         [](const NamedStack& a, const NamedStack& b) { return a.samples > b.samples; });
        out.push_back(std::move(g));
    }
    std::stable_sort(out.begin(), out.end(), [](const SiteStacks& a, const SiteStacks& b) {
        return a.samples > b.samples; // by_site is ordered by name: ties stay by name
    });
    return out;
}

const std::map<std::string, uint64_t>& GrowthSiteNamer::sites_of(const analysis::ProcessView& p,
                                                                 const analysis::GrowthSites& sites,
                                                                 std::map<Key, Round>& round)
{
    const Key key{p.sample.pid, p.sample.start_ticks};
    auto [it, fresh] = round.try_emplace(key);
    Round& r = it->second;
    if (!fresh)
        return r.sites;
    const auto stacks = sites.stacks_of(p.sample.pid);
    if (stacks.empty())
        return r.sites;
    if (auto old = symbolizers_.find(key); old != symbolizers_.end())
        r.symbolizer = std::move(old->second);
    else
        r.symbolizer = symbolize::ProcessSymbolizer::open(p.sample.pid, &symbol_cache_); // nullptr when gone
    for (const auto& s : name_stacks(r.symbolizer.get(), stacks))
        r.sites[s.site] += s.samples;
    return r.sites;
}

GrowthSiteNamer::Named GrowthSiteNamer::name(const std::vector<analysis::ProcessView>& processes,
                                             const std::vector<analysis::ContainerView>& containers,
                                             const analysis::GrowthSites& sites, const GrowthSiteLimits& limits)
{
    std::map<Key, Round> round;
    Named out;
    for (const auto* p : most_growing(processes, limits.processes))
        for (auto& [site, n] : top_sites(sites_of(*p, sites, round), limits.top))
            out.processes.push_back({p->sample.pid, p->sample.comm, p->identity, std::move(site),
                                     static_cast<double>(n * limits.bytes_per_sample)});
    for (const auto* c : most_growing(containers, limits.containers)) {
        std::map<std::string, uint64_t> by_site;
        for (const auto& p : processes)
            if (!p.identity.container_id.empty() && p.identity.container_id == c->identity.container_id)
                for (const auto& [site, n] : sites_of(p, sites, round))
                    by_site[site] += n;
        for (auto& [site, n] : top_sites(by_site, limits.top))
            out.containers.push_back(
                {c->identity, c->cgroup, std::move(site), static_cast<double>(n * limits.bytes_per_sample)});
    }
    symbolizers_.clear(); // processes no longer chosen let go of their symbolizers
    for (auto& [key, r] : round)
        if (r.symbolizer)
            symbolizers_.emplace(key, std::move(r.symbolizer));
    symbol_cache_.end_round(); // the files opened for misses close; files no named process looks up age out
    return out;
}

} // namespace memsight::agent
