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
    std::string
        cmdline; // /proc/PID/cmdline, NULs as spaces, read when first seen and after exec (kept for OOM records)
    procfs::ContainerIdentity identity;
    double growth_bytes_per_second = 0; // Theil–Sen trend of RSS + swap over the growth window (0 until two readings)
    double leak_suspicion = 0;          // 0..1, see analysis/growth.h
};

// One reading of a process inside the growth window.
struct ProcessReading {
    Clock::time_point time;
    uint64_t resident = 0; // RSS: anon + file + shmem
    uint64_t swap = 0;
};

// A process's latest view and its readings over the growth window (oldest first); `gone` once it has exited.
struct ProcessHistory {
    ProcessView view;
    std::vector<ProcessReading> readings;
    bool gone = false;
};

class ProcessTable {
public:
    explicit ProcessTable(Clock::duration growth_window) : window_(growth_window) {}

    // Records a reading; a different start_ticks for a known pid means the pid was reused.
    // Returns true when the caller should (re)read the process's cgroup.
    bool update(const ProcessSample& s, Clock::time_point now);
    void set_cgroup(pid_t pid, const std::string& cgroup_path);
    // True for a process whose command line has not been read since it was first seen or since its last exec.
    bool needs_cmdline(pid_t pid) const;
    void set_cmdline(pid_t pid, std::string cmdline);
    // Drops every process not updated since `scan_start` (it exited between scans).
    void drop_stale(Clock::time_point scan_start);
    // Called on exec: comm changes and the cgroup is re-read at the next scan.
    void on_exec(pid_t pid, const std::string& comm);
    // Removes and returns the process (exit event).
    std::optional<ProcessView> remove(pid_t pid);
    std::optional<ProcessView> find(pid_t pid) const;
    // The process's view and readings; for a process that exited (exit event or a scan that no longer saw it) the
    // last ones, for kGoneKeep after it left the table (at most kGoneMax such processes): an OOM record is built
    // after its victim is gone.
    std::optional<ProcessHistory> history(pid_t pid) const;
    static constexpr auto kGoneKeep = std::chrono::seconds(30);
    static constexpr size_t kGoneMax = 256;

    std::vector<ProcessView> snapshot() const;
    size_t size() const;

private:
    struct Entry {
        ProcessView view;
        std::deque<ProcessReading> history; // inside the window
        Clock::time_point last_update;
        bool cgroup_dirty = true;
        bool cmdline_dirty = true;
        unsigned scans_since_cgroup = 0;
    };
    struct Gone {
        ProcessView view;
        std::deque<ProcessReading> history;
        Clock::time_point when; // the last reading's time: when it was still seen alive
    };
    static constexpr unsigned kCgroupRefreshScans = 6;
    // Called with mu_ held: keeps the entry's view and history among the recently gone, and forgets old ones.
    void keep_gone(Entry&& e);

    Clock::duration window_;
    mutable std::mutex mu_;
    std::map<pid_t, Entry> entries_;
    std::map<pid_t, Gone> gone_;
};

// The per-process series to export: the top `by_rss` processes by RSS plus the top `by_growth` by
// growth rate (positive growth only), without duplicates, largest RSS first.
std::vector<ProcessView> select_exported(std::vector<ProcessView> all, size_t by_rss, size_t by_growth);

} // namespace memsight::analysis
