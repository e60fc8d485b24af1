#pragma once
// OOM kills: joins the oom:mark_victim record with the victim's own exit record (which carries the
// victim's memory cgroup), so a kill is attributed to the victim's container, not the killer's.
#include "analysis/process_table.h"
#include "memsight/kernel_events.h"

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace memsight::analysis {

struct OomKill {
    pid_t pid = 0;
    std::string comm;
    std::string cgroup; // the victim's memory cgroup path ("" when it could not be resolved)
    procfs::ContainerIdentity identity;
    uint64_t anon_rss = 0, file_rss = 0, shmem_rss = 0, total_vm = 0, pgtables = 0;
    int oom_score_adj = 0;
    uint32_t uid = 0;
    pid_t trigger_pid = 0;
    std::string trigger_comm;
    std::chrono::system_clock::time_point time;
    Clock::time_point seen; // monotonic, for windows
    // Where the cgroup came from: "exit" (the victim's exit record), "proc" (/proc/PID/cgroup read when
    // the kill was seen) or "none".
    std::string attribution;
};

class OomTracker {
public:
    using Sink = std::function<void(const OomKill&)>;
    explicit OomTracker(Sink sink, Clock::duration resolve_timeout = std::chrono::seconds(2))
        : sink_(std::move(sink)), timeout_(resolve_timeout)
    {
    }

    // `comm_fallback` and `cgroup_now` are best-effort readings of the victim from /proc at the time the
    // record is handled (the kernel gives no comm before 6.1).
    void on_mark_victim(const OomEvent& ev, const std::string& comm_fallback, std::optional<std::string> cgroup_now,
                        Clock::time_point now);
    // The victim's exit, with its memory cgroup path as the kernel reported it.
    void on_victim_exit(pid_t pid, std::optional<std::string> cgroup);
    // Emits the kills whose victims have not exited within the timeout.
    void tick(Clock::time_point now);

private:
    void emit(OomKill& k, std::optional<std::string> cgroup, const char* how);

    Sink sink_;
    Clock::duration timeout_;
    std::mutex mu_;
    std::map<pid_t, std::pair<OomKill, std::optional<std::string>>> pending_;
};

// Counters per (comm, container_id, pod_uid), bounded, and the last victims. Thread-safe.
class OomStats {
public:
    struct Series {
        std::string comm, container_id, pod_uid;
        uint64_t kills = 0;
    };
    static constexpr size_t kRecentVictims = 10;
    static constexpr auto kRecentWindow = std::chrono::hours(1);

    explicit OomStats(size_t max_series) : max_series_(max_series) {}
    void add(const OomKill& k);
    std::vector<Series> series() const;
    std::vector<OomKill> recent(Clock::time_point now) const; // newest first

private:
    size_t max_series_;
    mutable std::mutex mu_;
    std::map<std::tuple<std::string, std::string, std::string>, uint64_t> counts_;
    std::vector<OomKill> recent_;
};

} // namespace memsight::analysis
