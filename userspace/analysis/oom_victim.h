#pragma once
// What the agent knew about an OOM victim when the kill was seen: its command line, its memory cgroup's limit and
// usage, its readings and its container's over the growth window, its trend and its growth sites. Captured on the
// scan thread as soon as the kill is handled, before the victim's readings age out of the tables; the OOM forensic
// record (export/oom_record.h) is built from it and the kernel's record (OomKill).
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace memsight::analysis {

struct VictimReading {
    std::chrono::system_clock::time_point time;
    uint64_t resident = 0; // RSS: anon + file + shmem
    uint64_t swap = 0;
};

struct VictimContainerReading {
    std::chrono::system_clock::time_point time;
    uint64_t usage = 0;
    uint64_t working_set = 0;
};

struct VictimSite {
    std::string site;
    double bytes = 0; // faulted in over the growth window (memsight_process_growth_site_bytes)
};

struct VictimContext {
    pid_t pid = 0;
    std::string comm;    // from the process table ("" when the agent never read the process)
    std::string cmdline; // "" when unreadable
    // Process start (wall clock), when the agent read the process: deep-session profiles of this pid written
    // before it are another process's.
    std::optional<std::chrono::system_clock::time_point> started;
    std::string cgroup;                  // the memory cgroup the readings below were taken of ("" unknown)
    bool memcg_known = false;            // limit/usage below were read
    std::optional<uint64_t> memcg_limit; // nullopt: unlimited or unknown
    std::optional<uint64_t> memcg_usage; // nullopt: unknown
    // When memcg_usage was read: the container's last reading before the kill when there is one (the kernel frees
    // the victim's memory within milliseconds of the kill, so a read after it shows little), else the read when the
    // kill was handled.
    std::optional<std::chrono::system_clock::time_point> memcg_usage_time;
    std::vector<VictimReading> process;                            // oldest first
    std::vector<VictimContainerReading> container;                 // oldest first; empty outside a container
    std::optional<double> growth_bytes_per_second, leak_suspicion; // none without readings
    std::optional<double> container_growth_bytes_per_second, container_leak_suspicion; // none outside a container
    std::vector<VictimSite> growth_sites;                                              // most bytes first
};

} // namespace memsight::analysis
