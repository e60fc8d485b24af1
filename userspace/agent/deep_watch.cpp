#include "agent/deep_watch.h"

#include "agent/session_profile.h"
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

std::unique_ptr<deep::Session> make_session(const DeepWatchOptions& o)
{
    deep::SessionOptions opts;
    opts.pids = o.pids;
    opts.sample_bytes = o.sample_bytes;
    return std::make_unique<deep::Session>(opts);
}

} // namespace

std::string_view end_reason_name(EndReason r)
{
    switch (r) {
    case EndReason::None:
        return "running";
    case EndReason::Duration:
        return "duration";
    case EndReason::Exited:
        return "exited";
    case EndReason::Overhead:
        return "overhead";
    case EndReason::Shutdown:
        return "shutdown";
    }
    return "running";
}

DeepWatch::DeepWatch(const DeepWatchOptions& opts)
    : session_(make_session(opts)), tracker_(std::make_unique<deep::LeakTracker>(*session_, opts.interval)),
      governor_(*session_, opts.cost_per_hit_s, opts.overhead_budget), start_(std::chrono::steady_clock::now()),
      started_(std::chrono::system_clock::now()), max_duration_(opts.max_duration), top_sites_(opts.top_sites),
      origin_(opts.origin)
{
    for (const auto& t : session_->targets()) {
        if (t.refused) {
            spdlog::warn("deep tier: {}", t.refusal);
            continue;
        }
        if (first_pid_ == 0) {
            first_pid_ = t.pid;
            first_comm_ = t.comm;
        }
        for (const auto& h : t.hooked)
            spdlog::info("deep tier: pid {} ({}): hooked {}", t.pid, t.comm, h);
    }
    first_identity_ = identity_of(first_pid_);
    governor_.tick(); // the baseline of the CPU and hit counts
}

void DeepWatch::sample()
{
    tracker_->sample();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    top_ = top_sites_per_process(tracker_->report(elapsed), top_sites_);
}

bool DeepWatch::govern()
{
    governor_.tick();
    over_budget_ = over_budget_ || governor_.over_budget();
    return over_budget_;
}

EndReason DeepWatch::end_reason() const
{
    if (over_budget_)
        return EndReason::Overhead;
    if (session_->all_gone())
        return EndReason::Exited;
    if (std::chrono::steady_clock::now() - start_ >= max_duration_)
        return EndReason::Duration;
    return EndReason::None;
}

std::optional<exporter::SessionOverhead> DeepWatch::overhead() const
{
    const auto e = governor_.estimate();
    if (!e)
        return std::nullopt;
    exporter::SessionOverhead o;
    o.pid = first_pid_;
    o.comm = first_comm_;
    o.identity = first_identity_;
    o.origin = origin_ == Origin::Escalation ? "escalation" : "manual";
    o.estimate = *e;
    return o;
}

std::string DeepWatch::who() const
{
    return session_->who();
}

std::string DeepWatch::final_profile(const std::string& note)
{
    session_->poll(0);
    tracker_->sample();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    return session_pprof(*session_, tracker_->report(elapsed), started_, elapsed, note);
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
