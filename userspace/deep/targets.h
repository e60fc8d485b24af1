#pragma once
// Which processes a deep-tier session traces: a pid (optionally with its descendants) or every process of a
// cgroup / container.
#include <sys/types.h>

#include <string>
#include <vector>

namespace memsight::deep {

// `pid` plus, when `children`, every descendant alive now. Throws UserError when pid does not exist.
std::vector<pid_t> pid_and_descendants(pid_t pid, bool children, const std::string& proc_root = "/proc");

// Every process whose memory cgroup is `selector` or below it (a path starting with '/'), or whose container
// id starts with `selector` (at least 12 hex digits, as `docker ps` shows). Throws UserError when none.
std::vector<pid_t> processes_of_cgroup(const std::string& selector, const std::string& proc_root = "/proc");

} // namespace memsight::deep
