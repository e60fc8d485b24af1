#pragma once
// Whole-file reads that work on /proc and cgroupfs files (whose stat size is 0).
#include <optional>
#include <string>

namespace memsight::procfs {

// The whole content of `path`; nullopt when it cannot be opened or a read fails
// (e.g. the process or cgroup vanished mid-read).
std::optional<std::string> read_file(const std::string& path);

} // namespace memsight::procfs
