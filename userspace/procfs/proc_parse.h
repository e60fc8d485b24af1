#pragma once
// Parsers for /proc/PID files. Pure functions over file text, so they are unit-tested with fixtures.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memsight::procfs {

// From /proc/PID/status. All sizes in bytes (the file says kB). Fields a kernel does not print stay 0.
struct ProcStatus {
    std::string name; // "Name:" (comm, may be truncated to 15 chars)
    pid_t tgid = 0;
    pid_t ppid = 0;
    uint32_t uid = 0;           // real uid
    uint64_t rss_anon = 0;      // RssAnon
    uint64_t rss_file = 0;      // RssFile
    uint64_t rss_shmem = 0;     // RssShmem
    uint64_t vm_rss = 0;        // VmRSS
    uint64_t vm_hwm = 0;        // VmHWM (peak RSS)
    uint64_t vm_swap = 0;       // VmSwap
    bool kernel_thread = false; // no VmRSS line at all (kernel threads have no mm)
};
std::optional<ProcStatus> parse_status(std::string_view text);

// From /proc/PID/stat. comm may contain spaces and parentheses: parse from the last ')'.
struct ProcStat {
    pid_t pid = 0;
    std::string comm;
    char state = '?';
    pid_t ppid = 0;
    uint64_t minflt = 0;
    uint64_t majflt = 0;
    uint64_t utime_ticks = 0;
    uint64_t stime_ticks = 0;
    uint64_t starttime_ticks = 0; // field 22, clock ticks since boot
};
std::optional<ProcStat> parse_stat(std::string_view text);

// One line of /proc/PID/cgroup: "hierarchy-ID:controller-list:cgroup-path".
struct CgroupLine {
    int hierarchy = 0;
    std::vector<std::string> controllers; // empty for the v2 line ("0::/path") and named hierarchies' names
    std::string path;
};
std::vector<CgroupLine> parse_proc_cgroup(std::string_view text);

// The path of the cgroup that accounts the process's memory: the v1 line whose controllers include
// "memory" if there is one, else the v2 line ("0::"). nullopt when neither exists. The path is resolved against
// cgroup_namespace_root(); nullopt as well when it climbs above the hierarchy's root.
std::optional<std::string> memory_cgroup_path(const std::vector<CgroupLine>& lines);

// "/a/b/../c" -> "/a/c", "" -> "/"; nullopt when ".." climbs above "/".
std::optional<std::string> normalize_cgroup_path(std::string_view path);

// Where the agent's cgroup namespace is rooted in the memory hierarchy, when it has a namespace of its own that
// it could not leave (procfs/cgroup_namespace.h): /proc/PID/cgroup then reads "/../x" and this root turns it
// into "/x" again. "/" (the default) leaves paths as they are. Process-wide, like the namespace itself: set once
// at start-up, before other threads.
void set_cgroup_namespace_root(std::string root);
const std::string& cgroup_namespace_root();

// Small text helpers shared by the procfs and cgroupfs parsers (no allocation beyond the vectors).
namespace text {
// Strips spaces, tabs, '\r' and '\n' at both ends.
std::string_view trim(std::string_view s);
// The whole of `s` must be a decimal number that fits in 64 bits; nullopt otherwise.
std::optional<uint64_t> parse_u64(std::string_view s);
// Splits on `sep`, keeping empty pieces ("a,,b" -> "a", "", "b"; "" -> one empty piece).
std::vector<std::string_view> split(std::string_view s, char sep);
// Splits on runs of spaces and tabs, dropping empty pieces.
std::vector<std::string_view> split_ws(std::string_view s);
} // namespace text

} // namespace memsight::procfs
