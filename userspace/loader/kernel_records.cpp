#include "loader/kernel_records.h"

#include "memsight/events.h"

#include <cstring>

namespace memsight::loader {
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

std::optional<KernelEvent> decode_record(const void* data, size_t size)
{
    const auto* h = as<memsight_event_header>(data, size);
    if (!h)
        return std::nullopt;
    const auto pid = static_cast<pid_t>(h->tgid);
    switch (h->type) {
    case MEMSIGHT_EV_EXEC:
        if (const auto* e = as<memsight_exec_event>(data, size))
            return ExecEvent{pid, comm_of(e->comm)};
        return std::nullopt;
    case MEMSIGHT_EV_EXIT:
        if (const auto* e = as<memsight_exit_event>(data, size))
            return ExitEvent{pid, comm_of(e->comm), e->peak_rss_bytes, e->cgroup_id,
                             (e->flags & MEMSIGHT_EXIT_F_OOM_VICTIM) != 0};
        return std::nullopt;
    case MEMSIGHT_EV_OOM:
        if (const auto* e = as<memsight_oom_event>(data, size)) {
            OomEvent o;
            o.victim = pid;
            o.comm = comm_of(e->comm);
            o.trigger = static_cast<pid_t>(e->trigger_tgid);
            o.trigger_comm = comm_of(e->trigger_comm);
            o.oom_score_adj = e->oom_score_adj;
            o.uid = e->uid;
            o.total_vm_bytes = e->total_vm_bytes;
            o.anon_rss_bytes = e->anon_rss_bytes;
            o.file_rss_bytes = e->file_rss_bytes;
            o.shmem_rss_bytes = e->shmem_rss_bytes;
            o.pgtables_bytes = e->pgtables_bytes;
            o.ts_ns = h->ts_ns;
            return o;
        }
        return std::nullopt;
    default:
        return std::nullopt;
    }
}

} // namespace memsight::loader
