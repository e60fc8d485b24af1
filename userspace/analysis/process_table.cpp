#include "analysis/process_table.h"

#include "analysis/growth.h"

#include <algorithm>
#include <set>

namespace memsight::analysis {

bool ProcessTable::update(const ProcessSample& s, Clock::time_point now)
{
    std::lock_guard lock(mu_);
    if (auto old = entries_.find(s.pid); old != entries_.end() && old->second.view.sample.start_ticks != s.start_ticks)
        entries_.erase(old); // pid reused by a new process
    Entry& e = entries_.try_emplace(s.pid).first->second;
    e.view.sample = s;
    e.last_update = now;
    e.history.push_back({now, s.rss(), s.swap});
    while (e.history.size() > 2 && now - e.history[1].time >= window_)
        e.history.pop_front();
    // Resident plus swapped: a leak whose pages are swapped out keeps growing here while RSS stays flat.
    std::vector<Point> points;
    points.reserve(e.history.size());
    for (const auto& r : e.history)
        points.push_back({std::chrono::duration<double>(r.time - e.history.front().time).count(),
                          static_cast<double>(r.resident + r.swap)});
    const Assessment a = assess_growth(points, std::nullopt);
    e.view.growth_bytes_per_second = a.growth_bytes_per_second;
    e.view.leak_suspicion = a.suspicion;

    if (++e.scans_since_cgroup >= kCgroupRefreshScans)
        e.cgroup_dirty = true;
    return e.cgroup_dirty;
}

void ProcessTable::set_cgroup(pid_t pid, const std::string& cgroup_path)
{
    std::lock_guard lock(mu_);
    auto it = entries_.find(pid);
    if (it == entries_.end())
        return;
    Entry& e = it->second;
    if (e.view.cgroup != cgroup_path) {
        e.view.cgroup = cgroup_path;
        e.view.identity = procfs::identify_container(cgroup_path);
    }
    e.cgroup_dirty = false;
    e.scans_since_cgroup = 0;
}

bool ProcessTable::needs_cmdline(pid_t pid) const
{
    std::lock_guard lock(mu_);
    auto it = entries_.find(pid);
    return it != entries_.end() && it->second.cmdline_dirty;
}

void ProcessTable::set_cmdline(pid_t pid, std::string cmdline)
{
    std::lock_guard lock(mu_);
    auto it = entries_.find(pid);
    if (it == entries_.end())
        return;
    it->second.view.cmdline = std::move(cmdline);
    it->second.cmdline_dirty = false;
}

void ProcessTable::keep_gone(Entry&& e)
{
    const Clock::time_point when = e.last_update;
    const pid_t pid = e.view.sample.pid;
    gone_[pid] = Gone{std::move(e.view), std::move(e.history), when};
    std::erase_if(gone_, [&](const auto& kv) { return when - kv.second.when > kGoneKeep; });
    while (gone_.size() > kGoneMax) {
        auto oldest = std::min_element(gone_.begin(), gone_.end(),
                                       [](const auto& a, const auto& b) { return a.second.when < b.second.when; });
        gone_.erase(oldest);
    }
}

void ProcessTable::drop_stale(Clock::time_point scan_start)
{
    std::lock_guard lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->second.last_update < scan_start) {
            keep_gone(std::move(it->second));
            it = entries_.erase(it);
        } else {
            ++it;
        }
    }
}

void ProcessTable::on_exec(pid_t pid, const std::string& comm)
{
    std::lock_guard lock(mu_);
    auto it = entries_.find(pid);
    if (it == entries_.end())
        return;
    it->second.view.sample.comm = comm;
    it->second.cgroup_dirty = true;
    it->second.cmdline_dirty = true;
}

std::optional<ProcessView> ProcessTable::remove(pid_t pid)
{
    std::lock_guard lock(mu_);
    auto it = entries_.find(pid);
    if (it == entries_.end())
        return std::nullopt;
    ProcessView v = it->second.view;
    keep_gone(std::move(it->second));
    entries_.erase(it);
    return v;
}

std::optional<ProcessView> ProcessTable::find(pid_t pid) const
{
    std::lock_guard lock(mu_);
    auto it = entries_.find(pid);
    if (it == entries_.end())
        return std::nullopt;
    return it->second.view;
}

std::optional<ProcessHistory> ProcessTable::history(pid_t pid) const
{
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(pid); it != entries_.end())
        return ProcessHistory{it->second.view, {it->second.history.begin(), it->second.history.end()}, false};
    if (auto it = gone_.find(pid); it != gone_.end())
        return ProcessHistory{it->second.view, {it->second.history.begin(), it->second.history.end()}, true};
    return std::nullopt;
}

std::vector<ProcessView> ProcessTable::snapshot() const
{
    std::lock_guard lock(mu_);
    std::vector<ProcessView> out;
    out.reserve(entries_.size());
    for (const auto& [pid, e] : entries_)
        out.push_back(e.view);
    return out;
}

size_t ProcessTable::size() const
{
    std::lock_guard lock(mu_);
    return entries_.size();
}

std::vector<ProcessView> select_exported(std::vector<ProcessView> all, size_t by_rss, size_t by_growth)
{
    std::set<pid_t> chosen;
    std::vector<ProcessView> out;
    auto take = [&](size_t n, auto better, bool positive_growth_only) {
        n = std::min(n, all.size());
        std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), better);
        for (size_t i = 0; i < n; ++i) {
            if (positive_growth_only && all[i].growth_bytes_per_second <= 0)
                break;
            if (chosen.insert(all[i].sample.pid).second)
                out.push_back(all[i]);
        }
    };
    take(
        by_rss, [](const auto& a, const auto& b) { return a.sample.rss() > b.sample.rss(); }, false);
    take(
        by_growth, [](const auto& a, const auto& b) { return a.growth_bytes_per_second > b.growth_bytes_per_second; },
        true);
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.sample.rss() > b.sample.rss(); });
    return out;
}

} // namespace memsight::analysis
