#pragma once
// Per-container memory from cgroupfs, for every container that has at least one live process.
#include "analysis/process_table.h"
#include "procfs/cgroup_fs.h"

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
