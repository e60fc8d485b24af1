#pragma once
// Per-container memory from cgroupfs, for every container that has at least one live process.
#include "analysis/process_table.h"
#include "procfs/cgroup_fs.h"

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace memsight::analysis {

struct ContainerView {
    std::string cgroup; // the container's (shallowest) memory cgroup path
    procfs::ContainerIdentity identity;
    procfs::CgroupMemory memory;
    size_t processes = 0;
    // From ContainerTrends (working set over the growth window).
    double growth_bytes_per_second = 0;
    double leak_suspicion = 0;
    std::optional<double> seconds_to_limit;
};

// One reading of a container inside the growth window.
struct ContainerReading {
    Clock::time_point time;
    uint64_t usage = 0;
    uint64_t working_set = 0;
};

// A container's readings over the growth window (oldest first) and its trend at the last one.
struct ContainerHistory {
    std::vector<ContainerReading> readings;
    std::optional<uint64_t> limit; // at the last reading
    double growth_bytes_per_second = 0;
    double leak_suspicion = 0;
};

// Working-set history per container over the growth window, for the growth trend and leak suspicion.
// Containers that are gone leave the trends at the next update; their history stays readable (history()) for
// kGoneKeep, for the OOM record of a container's last process. Used by one thread.
class ContainerTrends {
public:
    explicit ContainerTrends(Clock::duration window) : window_(window) {}
    // Records this reading of every container and fills in their growth fields.
    void update(std::vector<ContainerView>& containers, Clock::time_point now);
    // The container's readings (live, or gone less than kGoneKeep ago); nullopt when unknown.
    std::optional<ContainerHistory> history(const std::string& container_id) const;
    static constexpr auto kGoneKeep = std::chrono::seconds(30);

private:
    struct Series {
        std::deque<ContainerReading> readings;
        std::optional<uint64_t> limit;
        double growth = 0, suspicion = 0;
    };
    Clock::duration window_;
    std::map<std::string, Series> history_;
    std::map<std::string, std::pair<Series, Clock::time_point>> gone_; // and when it left
};

// Groups processes by container id and reads each container's cgroup. Containers whose cgroup cannot be
// read (gone meanwhile) are left out.
std::vector<ContainerView> read_containers(const std::vector<ProcessView>& processes, const procfs::CgroupFs& fs);

// Maps the memory-cgroup ids that BPF reports to paths, with a negative cache so that ids of cgroups that
// are already gone do not walk cgroupfs on every exit. Thread-safe.
class CgroupResolver {
public:
    explicit CgroupResolver(std::optional<procfs::CgroupFs> fs) : fs_(std::move(fs)) {}
    std::optional<std::string> path(uint64_t id, Clock::time_point now);
    const std::optional<procfs::CgroupFs>& fs() const { return fs_; }

private:
    static constexpr auto kNegativeTtl = std::chrono::seconds(30);
    std::optional<procfs::CgroupFs> fs_;
    std::mutex mu_;
    std::map<uint64_t, Clock::time_point> misses_;
};

} // namespace memsight::analysis
