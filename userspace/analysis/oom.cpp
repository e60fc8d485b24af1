#include "analysis/oom.h"

#include <cstring>

namespace memsight::analysis {

void OomTracker::on_mark_victim(const OomEvent& ev, const std::string& comm_fallback,
                                std::optional<std::string> cgroup_now, Clock::time_point now)
{
    OomKill k;
    k.pid = ev.victim;
    k.comm = ev.comm.empty() ? comm_fallback : ev.comm;
    k.anon_rss = ev.anon_rss_bytes;
    k.file_rss = ev.file_rss_bytes;
    k.shmem_rss = ev.shmem_rss_bytes;
    k.total_vm = ev.total_vm_bytes;
    k.pgtables = ev.pgtables_bytes;
    k.oom_score_adj = ev.oom_score_adj;
    k.uid = ev.uid;
    k.trigger_pid = ev.trigger;
    k.trigger_comm = ev.trigger_comm;
    k.time = std::chrono::system_clock::now();
    if (ev.ts_ns != 0) {
        // The kernel's time of the kill on the wall clock (steady_clock is CLOCK_MONOTONIC, as bpf_ktime_get_ns):
        // exact however late the record is handled, and the same for every reader, so that an OOM record's id
        // (time + pid) names the kill, not the agent that saw it.
        const auto ago = std::chrono::steady_clock::now().time_since_epoch() - std::chrono::nanoseconds(ev.ts_ns);
        if (ago >= std::chrono::nanoseconds(0) && ago < std::chrono::hours(1))
            k.time -= std::chrono::duration_cast<std::chrono::system_clock::duration>(ago);
    }
    k.seen = now;
    std::lock_guard lock(mu_);
    pending_[k.pid] = {std::move(k), std::move(cgroup_now)};
}

void OomTracker::emit(OomKill& k, std::optional<std::string> cgroup, const char* how)
{
    if (cgroup) {
        k.cgroup = std::move(*cgroup);
        k.identity = procfs::identify_container(k.cgroup);
        k.attribution = how;
    } else {
        k.attribution = "none";
    }
    sink_(k);
}

void OomTracker::on_victim_exit(pid_t pid, std::optional<std::string> cgroup)
{
    std::unique_lock lock(mu_);
    auto it = pending_.find(pid);
    if (it == pending_.end())
        return;
    auto [kill, cgroup_now] = std::move(it->second);
    pending_.erase(it);
    lock.unlock();
    if (cgroup)
        emit(kill, std::move(cgroup), "exit");
    else
        emit(kill, std::move(cgroup_now), "proc");
}

void OomTracker::tick(Clock::time_point now)
{
    std::vector<std::pair<OomKill, std::optional<std::string>>> due;
    {
        std::lock_guard lock(mu_);
        for (auto it = pending_.begin(); it != pending_.end();) {
            if (now - it->second.first.seen >= timeout_) {
                due.push_back(std::move(it->second));
                it = pending_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& [kill, cgroup_now] : due)
        emit(kill, std::move(cgroup_now), "proc");
}

void OomStats::add(const OomKill& k)
{
    std::lock_guard lock(mu_);
    auto key = std::make_tuple(k.comm, k.identity.container_id, k.identity.pod_uid);
    if (!counts_.contains(key) && counts_.size() >= max_series_)
        key = std::make_tuple(std::string("_other_"), std::string(), std::string());
    ++counts_[key];
    recent_.insert(recent_.begin(), k);
    if (recent_.size() > kRecentVictims)
        recent_.pop_back();
}

std::vector<OomStats::Series> OomStats::series() const
{
    std::lock_guard lock(mu_);
    std::vector<Series> out;
    for (const auto& [key, n] : counts_)
        out.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
    return out;
}

std::vector<OomKill> OomStats::recent(Clock::time_point now) const
{
    std::lock_guard lock(mu_);
    std::vector<OomKill> out;
    for (const auto& k : recent_) {
        if (now - k.seen <= kRecentWindow)
            out.push_back(k);
    }
    return out;
}

} // namespace memsight::analysis
