#include "agent/event_router.h"

#include <type_traits>

namespace memsight::agent {

void EventRouter::push(KernelEvent event)
{
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
        ++queue_full_;
        return;
    }
    queue_.push_back(std::move(event));
}

void EventRouter::drain()
{
    std::deque<KernelEvent> batch;
    {
        std::lock_guard lock(mu_);
        batch.swap(queue_);
    }
    for (const auto& e : batch)
        handle(e);
}

void EventRouter::handle(const KernelEvent& event)
{
    std::visit(
        [this](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, ExecEvent>)
                table_.on_exec(e.pid, e.comm);
            else if constexpr (std::is_same_v<T, ExitEvent>)
                on_exit(e);
            else
                on_oom(e);
        },
        event);
}

void EventRouter::on_exit(const ExitEvent& e)
{
    const auto now = analysis::Clock::now();
    auto known = table_.remove(e.pid);
    std::optional<std::string> cgroup;
    if (e.cgroup_id && (e.oom_victim || !known))
        cgroup = cgroups_.path(e.cgroup_id, now);
    analysis::ExitRecord r;
    r.pid = e.pid;
    r.comm = e.comm;
    r.identity = known ? known->identity : procfs::identify_container(cgroup.value_or(""));
    r.peak_rss = e.peak_rss_bytes;
    r.when = now;
    exits_.record(std::move(r));
    if (e.oom_victim)
        ooms_.on_victim_exit(e.pid, std::move(cgroup));
}

void EventRouter::on_oom(const OomEvent& e)
{
    std::string comm;
    if (auto known = table_.find(e.victim))
        comm = known->sample.comm;
    else if (auto s = scanner_.read_process(e.victim))
        comm = s->comm;
    auto cgroup = scanner_.read_cgroup(e.victim);
    ooms_.on_mark_victim(e, comm, cgroup, analysis::Clock::now());
    if (victim_hook_)
        victim_hook_(e.victim, cgroup);
}

} // namespace memsight::agent
