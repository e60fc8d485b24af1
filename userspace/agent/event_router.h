#pragma once
// Applies kernel events to the agent's state. The ring-buffer thread only queues them (push); the scan thread
// applies them (drain), so the /proc reads and the cgroupfs walk they may need never hold up the ring buffer.
#include "analysis/containers.h"
#include "analysis/exit_peaks.h"
#include "analysis/oom.h"
#include "analysis/proc_scanner.h"
#include "analysis/process_table.h"
#include "memsight/kernel_events.h"

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace memsight::agent {

class EventRouter {
public:
    // Events waiting beyond this are dropped and counted (queue_full): the scan thread drains every 50 ms, so
    // this is ~1.3 M events per second of backlog.
    static constexpr size_t kMaxQueued = 65536;

    EventRouter(analysis::ProcessTable& table, analysis::ExitPeaks& exits, analysis::OomTracker& ooms,
                analysis::CgroupResolver& cgroups, const analysis::ProcScanner& scanner)
        : table_(table), exits_(exits), ooms_(ooms), cgroups_(cgroups), scanner_(scanner)
    {
    }

    // Ring-buffer thread: queues the event (cheap).
    void push(KernelEvent event);
    // Scan thread: applies the queued events in order.
    void drain();
    // Applies one event now.
    void handle(const KernelEvent& event);
    uint64_t queue_full() const { return queue_full_; }
    // Called on the scan thread when an OOM kill is applied, after the OOM join has it: the victim's pid and its
    // memory cgroup from /proc then (nullopt when already gone). The agent captures the victim's readings here.
    using VictimHook = std::function<void(pid_t, const std::optional<std::string>&)>;
    void set_victim_hook(VictimHook hook) { victim_hook_ = std::move(hook); }

private:
    void on_exit(const ExitEvent& e);
    void on_oom(const OomEvent& e);

    analysis::ProcessTable& table_;
    analysis::ExitPeaks& exits_;
    analysis::OomTracker& ooms_;
    analysis::CgroupResolver& cgroups_;
    const analysis::ProcScanner& scanner_;
    std::mutex mu_;
    std::deque<KernelEvent> queue_;
    std::atomic<uint64_t> queue_full_{0};
    VictimHook victim_hook_;
};

} // namespace memsight::agent
