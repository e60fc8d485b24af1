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

// Working-set history per container over the growth window, for the growth trend and leak suspicion.
// Containers that are gone are forgotten at the next update. Used by one thread.
class ContainerTrends {
public:
    explicit ContainerTrends(Clock::duration window) : window_(window) {}
    // Records this reading of every container and fills in their growth fields.
    void update(std::vector<ContainerView>& containers, Clock::time_point now);

private:
    Clock::duration window_;
    std::map<std::string, std::deque<std::pair<Clock::time_point, uint64_t>>> history_;
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
