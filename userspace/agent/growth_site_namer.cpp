#include "agent/growth_site_namer.h"

#include "deep/site_names.h"
#include "util/error.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace memsight::agent {
namespace {

// The site of one stack: the function of its first frame outside the allocator and libc (module+offset when it
// has no symbol), as the deep tier names its sites; "[unknown]" for an empty stack.
std::string site_of(symbolize::ProcessSymbolizer* sym, const std::vector<uint64_t>& ips)
{
    if (ips.empty())
        return "[unknown]";
    std::vector<symbolize::Frame> frames;
    for (size_t i = 0; i < ips.size(); ++i) {
        // Frames after the first are return addresses: name the call instruction before them.
        const uint64_t ip = i == 0 ? ips[i] : ips[i] - 1;
        if (sym) {
            frames.push_back(sym->symbolize(ip));
        } else {
            symbolize::Frame f;
            f.address = ip;
            frames.push_back(f);
        }
    }
    const auto& f = frames[deep::site_index(frames)];
    return f.function.empty() ? f.to_string() : f.function;
}

} // namespace

std::vector<analysis::GrowthSite> GrowthSiteNamer::name(const std::vector<analysis::ProcessView>& all,
                                                        const analysis::GrowthSites& sites, size_t processes,
                                                        size_t top, uint64_t bytes_per_sample)
{
    std::vector<const analysis::ProcessView*> chosen;
    for (const auto& p : all)
        if (p.leak_suspicion > 0 || p.growth_bytes_per_second > 0)
            chosen.push_back(&p);
    std::sort(chosen.begin(), chosen.end(), [](const auto* a, const auto* b) {
        if (a->leak_suspicion != b->leak_suspicion)
            return a->leak_suspicion > b->leak_suspicion;
        return a->growth_bytes_per_second > b->growth_bytes_per_second;
    });
    if (chosen.size() > processes)
        chosen.resize(processes);

    std::map<Key, std::unique_ptr<symbolize::ProcessSymbolizer>> kept;
    std::vector<analysis::GrowthSite> out;
    for (const auto* p : chosen) {
        const auto stacks = sites.stacks_of(p->sample.pid);
        if (stacks.empty())
            continue;
        const Key key{p->sample.pid, p->sample.start_ticks};
        auto& sym = kept[key];
        if (auto it = symbolizers_.find(key); it != symbolizers_.end()) {
            sym = std::move(it->second);
        } else {
            try {
                sym = std::make_unique<symbolize::ProcessSymbolizer>(p->sample.pid);
            } catch (const UserError& e) { // exited meanwhile: sites stay addresses
                spdlog::debug("growth sites of pid {}: {}", p->sample.pid, e.what());
            }
        }
        std::map<std::string, uint64_t> by_site;
        for (const auto& s : stacks)
            by_site[site_of(sym.get(), s.ips)] += s.samples;
        std::vector<std::pair<std::string, uint64_t>> ranked(by_site.begin(), by_site.end());
        std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
            return a.second != b.second ? a.second > b.second : a.first < b.first;
        });
        if (ranked.size() > top)
            ranked.resize(top);
        for (auto& [site, n] : ranked)
            out.push_back({p->sample.pid, p->sample.comm, p->identity, std::move(site),
                           static_cast<double>(n * bytes_per_sample)});
    }
    symbolizers_ = std::move(kept); // processes no longer chosen let go of their symbolizers
    return out;
}

} // namespace memsight::agent
