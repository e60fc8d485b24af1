#pragma once
// Every live process's latest memory reading plus a short RSS history for its growth rate.
// Fed by the /proc scanner and by lifecycle events; thread-safe.
#include "procfs/container.h"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace memsight::analysis {

using Clock = std::chrono::steady_clock;

// One reading of a process from /proc (sizes in bytes).
struct ProcessSample {
    pid_t pid = 0;
    std::string comm;
    uint64_t start_ticks = 0; // /proc/PID/stat starttime: (pid, start_ticks) names a process uniquely
    uint64_t rss_anon = 0;
    uint64_t rss_file = 0;
    uint64_t rss_shmem = 0;
    uint64_t swap = 0;
    uint64_t peak_rss = 0;
    uint64_t minflt = 0;
    uint64_t majflt = 0;
    uint64_t rss() const { return rss_anon + rss_file + rss_shmem; }
};

struct ProcessView {
    ProcessSample sample;
    std::string cgroup; // memory cgroup path
    procfs::ContainerIdentity identity;
    double growth_bytes_per_second = 0; // Theil–Sen trend of RSS + swap over the growth window (0 until two readings)
    double leak_suspicion = 0;          // 0..1, see analysis/growth.h
};

class ProcessTable {
public:
    explicit ProcessTable(Clock::duration growth_window) : window_(growth_window) {}

    // Records a reading; a different start_ticks for a known pid means the pid was reused.
    // Returns true when the caller should (re)read the process's cgroup.
    bool update(const ProcessSample& s, Clock::time_point now);
    void set_cgroup(pid_t pid, const std::string& cgroup_path);
    // Drops every process not updated since `scan_start` (it exited between scans).
    void drop_stale(Clock::time_point scan_start);
    // Called on exec: comm changes and the cgroup is re-read at the next scan.
    void on_exec(pid_t pid, const std::string& comm);
    // Removes and returns the process (exit event).
    std::optional<ProcessView> remove(pid_t pid);
    std::optional<ProcessView> find(pid_t pid) const;

    std::vector<ProcessView> snapshot() const;
    size_t size() const;

private:
    struct Entry {
        ProcessView view;
        std::deque<std::pair<Clock::time_point, uint64_t>> history; // (time, rss) inside the window
        Clock::time_point last_update;
        bool cgroup_dirty = true;
        unsigned scans_since_cgroup = 0;
    };
    static constexpr unsigned kCgroupRefreshScans = 6;

    Clock::duration window_;
    mutable std::mutex mu_;
    std::map<pid_t, Entry> entries_;
};

// The per-process series to export: the top `by_rss` processes by RSS plus the top `by_growth` by
// growth rate (positive growth only), without duplicates, largest RSS first.
std::vector<ProcessView> select_exported(std::vector<ProcessView> all, size_t by_rss, size_t by_growth);

} // namespace memsight::analysis
