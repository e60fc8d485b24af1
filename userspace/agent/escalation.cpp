#include "agent/escalation.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>

namespace memsight::agent {
namespace {

bool any_comm(const std::vector<std::string>& globs, const std::string& comm)
{
    return std::any_of(globs.begin(), globs.end(),
                       [&](const std::string& g) { return ::fnmatch(g.c_str(), comm.c_str(), 0) == 0; });
}

bool any_cgroup(const std::vector<std::string>& entries, const std::string& cgroup, const std::string& container_id)
{
    return std::any_of(entries.begin(), entries.end(),
                       [&](const std::string& e) { return cgroup_entry_matches(e, cgroup, container_id); });
}

} // namespace

bool cgroup_entry_matches(const std::string& entry, const std::string& cgroup, const std::string& container_id)
{
    if (entry.empty())
        return false;
    if (entry.front() == '/') {
        std::string base = entry;
        while (base.size() > 1 && base.back() == '/')
            base.pop_back();
        if (base == "/")
            return !cgroup.empty();
        // "/docker" covers "/docker" and "/docker/<id>", not "/dockerd".
        return cgroup == base || (cgroup.starts_with(base) && cgroup[base.size()] == '/');
    }
    if (container_id.size() < entry.size())
        return false;
    for (size_t i = 0; i < entry.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(entry[i])) !=
            std::tolower(static_cast<unsigned char>(container_id[i])))
            return false;
    return true;
}

bool selector_allows(const config::Config::Selector& s, const std::string& comm, const std::string& cgroup,
                     const std::string& container_id)
{
    if (!s.include_comm.empty() && !any_comm(s.include_comm, comm))
        return false;
    if (!s.include_cgroup.empty() && !any_cgroup(s.include_cgroup, cgroup, container_id))
        return false;
    return !any_comm(s.exclude_comm, comm) && !any_cgroup(s.exclude_cgroup, cgroup, container_id);
}

bool Cooldown::cooling(const ProcessKey& k, Clock::time_point now) const
{
    const auto it = until_.find(k);
    return it != until_.end() && now < it->second;
}

void Cooldown::prune(Clock::time_point now)
{
    std::erase_if(until_, [now](const auto& e) { return now >= e.second; });
}

EscalationPlanner::EscalationPlanner(const config::Config::Escalation& cfg, pid_t self)
    : cfg_(cfg), self_(self), cooldown_(cfg.cooldown)
{
}

EscalationPlan EscalationPlanner::plan(const std::vector<analysis::ProcessView>& processes,
                                       const std::set<pid_t>& traced, size_t running, Clock::time_point now)
{
    EscalationPlan out;
    cooldown_.prune(now);
    if (!cfg_.enabled)
        return out;
    std::vector<const analysis::ProcessView*> candidates;
    for (const auto& p : processes) {
        const ProcessKey k{p.sample.pid, p.sample.start_ticks};
        if (p.leak_suspicion < cfg_.threshold || p.sample.pid == self_ || traced.count(p.sample.pid) ||
            cooldown_.cooling(k, now) ||
            !selector_allows(cfg_.selector, p.sample.comm, p.cgroup, p.identity.container_id))
            continue;
        candidates.push_back(&p);
    }
    // Most suspicious first; the pid breaks ties so the order does not depend on the table's.
    std::sort(candidates.begin(), candidates.end(), [](const auto* a, const auto* b) {
        if (a->leak_suspicion != b->leak_suspicion)
            return a->leak_suspicion > b->leak_suspicion;
        return a->sample.pid < b->sample.pid;
    });
    const size_t slots = cfg_.max_concurrent > running ? cfg_.max_concurrent - running : 0;
    std::set<ProcessKey> waiting;
    for (const auto* p : candidates) {
        const ProcessKey k{p->sample.pid, p->sample.start_ticks};
        if (out.start.size() < slots) {
            out.start.push_back(*p);
            continue;
        }
        waiting.insert(k);
        if (!deferred_.count(k))
            ++out.newly_deferred;
    }
    // A process that stops waiting (started, exited, no longer suspicious) is counted again if it waits again.
    deferred_ = std::move(waiting);
    return out;
}

} // namespace memsight::agent
