#include "analysis/containers.h"

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

} // namespace memsight::analysis
