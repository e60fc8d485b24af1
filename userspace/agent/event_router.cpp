#include "agent/event_router.h"

#include "memsight/events.h"

#include <cstring>

namespace memsight::agent {
namespace {

std::string comm_of(const char (&c)[MEMSIGHT_COMM_LEN])
{
    return {c, strnlen(c, MEMSIGHT_COMM_LEN)};
}

template <typename T> const T* as(const void* data, size_t size)
{
    return size >= sizeof(T) ? static_cast<const T*>(data) : nullptr;
}

} // namespace

void EventRouter::handle(const void* data, size_t size)
{
    const auto* h = as<memsight_event_header>(data, size);
    if (!h) {
        ++malformed_;
        return;
    }
    const auto now = analysis::Clock::now();
    const auto pid = static_cast<pid_t>(h->tgid);
    switch (h->type) {
    case MEMSIGHT_EV_EXEC:
        if (const auto* e = as<memsight_exec_event>(data, size))
            table_.on_exec(pid, comm_of(e->comm));
        else
            ++malformed_;
        break;
    case MEMSIGHT_EV_EXIT: {
        const auto* e = as<memsight_exit_event>(data, size);
        if (!e) {
            ++malformed_;
            break;
        }
        auto known = table_.remove(pid);
        std::optional<std::string> cgroup;
        const bool oom_victim = e->flags & MEMSIGHT_EXIT_F_OOM_VICTIM;
        if (e->cgroup_id && (oom_victim || (exits_ && !known)))
            cgroup = cgroups_.path(e->cgroup_id, now);
        if (exits_) {
            analysis::ExitRecord r;
            r.pid = pid;
            r.comm = comm_of(e->comm);
            r.identity = known ? known->identity : procfs::identify_container(cgroup.value_or(""));
            r.peak_rss = e->peak_rss_bytes;
            r.when = now;
            exits_->record(std::move(r));
        }
        if (ooms_ && oom_victim)
            ooms_->on_victim_exit(pid, std::move(cgroup));
        break;
    }
    case MEMSIGHT_EV_OOM: {
        const auto* e = as<memsight_oom_event>(data, size);
        if (!e) {
            ++malformed_;
            break;
        }
        if (ooms_) {
            std::string comm;
            if (auto known = table_.find(pid))
                comm = known->sample.comm;
            else if (auto s = scanner_.read_process(pid))
                comm = s->comm;
            ooms_->on_mark_victim(*e, comm, scanner_.read_cgroup(pid), now);
        }
        break;
    }
    default:
        ++malformed_;
    }
}

} // namespace memsight::agent
