#pragma once
// Whole-file reads that work on /proc and cgroupfs files (whose stat size is 0).
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace memsight::procfs {

// The whole content of `path`; nullopt when it cannot be opened or a read fails
// (e.g. the process or cgroup vanished mid-read).
std::optional<std::string> read_file(const std::string& path);

// The numeric entries of a /proc directory: every process id, in directory order.
std::vector<pid_t> list_pids(const std::string& proc_root = "/proc");

} // namespace memsight::procfs
