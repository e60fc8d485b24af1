#pragma once
// Memory-cgroup readings from cgroupfs, v1 (memory controller hierarchy) and v2 (unified).
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace memsight::procfs {

enum class CgroupVersion { V1, V2 };

// Where the memory controller is mounted, found from /proc/self/mountinfo text.
struct CgroupMount {
    CgroupVersion version = CgroupVersion::V2;
    std::string mount_point; // e.g. /sys/fs/cgroup/memory (v1) or /sys/fs/cgroup (v2)
    // The hierarchy path mounted there (mountinfo field 4): "/" on a host; e.g. "/docker/<id>" when a
    // container sees only its own subtree. read() strips it from /proc paths, path_for_id() prepends it.
    std::string root = "/";
};
// Prefers a v1 mount with the "memory" super option; else a cgroup2 mount whose cgroup.controllers
// lists memory (checked by the caller: this function only parses). nullopt when neither is mounted.
std::optional<CgroupMount> find_memory_cgroup_mount(std::string_view mountinfo_text);

// "key value" per line files: memory.stat, memory.events, memory.oom_control (v1 "oom_kill 3").
std::map<std::string, uint64_t> parse_flat_keyed(std::string_view text);

// A single number file; "max" (v2) means no limit -> nullopt. v1's huge "no limit" value
// (>= 2^62) -> nullopt as well.
std::optional<uint64_t> parse_limit(std::string_view text);

struct CgroupMemory {
    uint64_t usage = 0;            // v1 memory.usage_in_bytes, v2 memory.current
    std::optional<uint64_t> limit; // v1 memory.limit_in_bytes, v2 memory.max; nullopt = unlimited
    uint64_t working_set = 0;      // usage - inactive_file (cAdvisor's definition), floored at 0
    uint64_t anon = 0;             // v1 total_rss (+ total_rss_huge is included in rss), v2 anon
    uint64_t file = 0;             // v1 total_cache, v2 file; minus shmem (both count it), so the kinds are disjoint
    uint64_t shmem = 0;            // v1 total_shmem, v2 shmem
    uint64_t swap = 0;             // v1 total_swap, v2 memory.swap.current (0 when absent)
    uint64_t peak = 0;             // v1 memory.max_usage_in_bytes, v2 memory.peak (0 when absent)
    std::optional<uint64_t> oom_kills;  // v1 memory.oom_control oom_kill, v2 memory.events oom_kill
};

// Reads one cgroup's memory files under a mount. `cgroup_path` is the path from /proc/PID/cgroup
// ("/kubepods/..."). Pure over the file system below `mount.mount_point`, so tests point it at fixtures.
class CgroupFs {
public:
    explicit CgroupFs(CgroupMount mount);
    // Detects the mount from /proc/self/mountinfo; nullopt when no memory cgroup hierarchy is mounted. With a
    // cgroup namespace root set (proc_parse.h), paths are relative to the mount, whose root is then "/".
    static std::optional<CgroupFs> detect(const std::string& mountinfo_path = "/proc/self/mountinfo");

    const CgroupMount& mount() const { return mount_; }
    std::optional<CgroupMemory> read(const std::string& cgroup_path) const;
    // Maps a kernfs id (the inode of the cgroup's directory, as BPF reports it) to its cgroup path,
    // e.g. "/memsight-test/x"; walks the hierarchy on a cache miss. nullopt when not found.
    std::optional<std::string> path_for_id(uint64_t id) const;
    // The path, below the mount, of the cgroup whose cgroup.procs lists `pid` (as the reader's pid namespace
    // numbers it); nullopt when no cgroup does.
    std::optional<std::string> find_process(pid_t pid) const;

private:
    CgroupMount mount_;
    mutable std::map<uint64_t, std::string> id_cache_;
};

} // namespace memsight::procfs
