#include "agent/deep_watch.h"

#include "procfs/container.h"
#include "procfs/proc_parse.h"
#include "procfs/read_file.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

namespace memsight::agent {
namespace {

procfs::ContainerIdentity identity_of(pid_t pid)
{
    auto text = procfs::read_file("/proc/" + std::to_string(pid) + "/cgroup");
    auto path = text ? procfs::memory_cgroup_path(procfs::parse_proc_cgroup(*text)) : std::nullopt;
    return path ? procfs::identify_container(*path) : procfs::ContainerIdentity{};
}

} // namespace

DeepWatch::DeepWatch(const std::vector<pid_t>& pids, const config::Config& cfg)
    : start_(std::chrono::steady_clock::now()), max_duration_(cfg.deep_max_duration), top_sites_(cfg.deep_top_sites)
{
    deep::SessionOptions opts;
    opts.pids = pids;
    opts.sample_bytes = cfg.deep_sample_bytes;
    session_ = std::make_unique<deep::Session>(opts);
    for (const auto& t : session_->targets()) {
        if (t.refused)
            spdlog::warn("deep tier: {}", t.refusal);
        for (const auto& h : t.hooked)
            spdlog::info("deep tier: pid {} ({}): hooked {}", t.pid, t.comm, h);
    }
    tracker_ = std::make_unique<deep::LeakTracker>(*session_, cfg.interval);
}

void DeepWatch::sample()
{
    tracker_->sample();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    top_ = top_sites_per_process(tracker_->report(elapsed), top_sites_);
}

bool DeepWatch::finished() const
{
    return std::chrono::steady_clock::now() - start_ >= max_duration_ || session_->all_gone();
}

std::vector<analysis::HeapSite> top_sites_per_process(const std::vector<deep::SiteReport>& sites, size_t k)
{
    std::map<std::pair<uint32_t, std::string>, analysis::HeapSite> merged;
    for (const auto& s : sites) {
        auto& h = merged[{s.tgid, s.site}];
        h.pid = static_cast<pid_t>(s.tgid);
        h.comm = s.comm;
        h.site = s.site;
        h.live_bytes += s.live_bytes;
        h.live_objects += s.live_count;
        h.allocated_bytes += s.alloc_bytes;
        h.freed_bytes += s.free_bytes;
        h.growing = h.growing || s.growing;
    }
    std::map<uint32_t, std::vector<analysis::HeapSite>> by_pid;
    for (auto& [key, h] : merged)
        by_pid[key.first].push_back(std::move(h));
    std::vector<analysis::HeapSite> out;
    for (auto& [pid, list] : by_pid) {
        std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.live_bytes > b.live_bytes; });
        list.resize(std::min(k, list.size()));
        const auto id = identity_of(static_cast<pid_t>(pid));
        for (auto& h : list) {
            h.identity = id;
            out.push_back(std::move(h));
        }
    }
    return out;
}

} // namespace memsight::agent
