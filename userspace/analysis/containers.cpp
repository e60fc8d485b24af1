#include "analysis/containers.h"

#include "analysis/growth.h"

#include <set>

namespace memsight::analysis {

std::vector<ContainerView> read_containers(const std::vector<ProcessView>& processes, const procfs::CgroupFs& fs)
{
    std::map<std::string, ContainerView> by_id;
    for (const auto& p : processes) {
        if (p.identity.container_id.empty())
            continue;
        auto& c = by_id[p.identity.container_id];
        if (c.cgroup.empty() || p.cgroup.size() < c.cgroup.size()) {
            c.cgroup = p.cgroup;
            c.identity = p.identity;
        }
        ++c.processes;
    }
    std::vector<ContainerView> out;
    for (auto& [id, c] : by_id) {
        if (auto mem = fs.read(c.cgroup)) {
            c.memory = *mem;
            out.push_back(std::move(c));
        }
    }
    return out;
}

std::optional<std::string> CgroupResolver::path(uint64_t id, Clock::time_point now)
{
    if (!fs_ || id == 0)
        return std::nullopt;
    std::lock_guard lock(mu_);
    if (auto it = misses_.find(id); it != misses_.end()) {
        if (now - it->second < kNegativeTtl)
            return std::nullopt;
        misses_.erase(it);
    }
    auto p = fs_->path_for_id(id);
    if (!p) {
        if (misses_.size() > 4096)
            misses_.clear();
        misses_[id] = now;
    }
    return p;
}

void ContainerTrends::update(std::vector<ContainerView>& containers, Clock::time_point now)
{
    std::set<std::string> live;
    for (auto& c : containers) {
        const std::string& id = c.identity.container_id;
        live.insert(id);
        gone_.erase(id);
        auto& series = history_[id];
        auto& h = series.readings;
        h.push_back({now, c.memory.usage, c.memory.working_set});
        while (h.size() > 2 && now - h[1].time >= window_)
            h.pop_front();
        std::vector<Point> points;
        for (const auto& r : h)
            points.push_back(
                {std::chrono::duration<double>(r.time - h.front().time).count(), static_cast<double>(r.working_set)});
        std::optional<double> limit;
        if (c.memory.limit)
            limit = static_cast<double>(*c.memory.limit);
        const Assessment a = assess_growth(points, limit);
        c.growth_bytes_per_second = a.growth_bytes_per_second;
        c.leak_suspicion = a.suspicion;
        c.seconds_to_limit = a.seconds_to_limit;
        series.limit = c.memory.limit;
        series.growth = a.growth_bytes_per_second;
        series.suspicion = a.suspicion;
    }
    for (auto it = history_.begin(); it != history_.end();) {
        if (live.contains(it->first)) {
            ++it;
            continue;
        }
        gone_[it->first] = {std::move(it->second), now};
        it = history_.erase(it);
    }
    std::erase_if(gone_, [&](const auto& kv) { return now - kv.second.second > kGoneKeep; });
}

std::optional<ContainerHistory> ContainerTrends::history(const std::string& container_id) const
{
    const Series* s = nullptr;
    if (auto it = history_.find(container_id); it != history_.end())
        s = &it->second;
    else if (auto g = gone_.find(container_id); g != gone_.end())
        s = &g->second.first;
    if (s == nullptr || container_id.empty())
        return std::nullopt;
    return ContainerHistory{{s->readings.begin(), s->readings.end()}, s->limit, s->growth, s->suspicion};
}

} // namespace memsight::analysis
