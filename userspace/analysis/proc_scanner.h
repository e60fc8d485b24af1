#pragma once
// Periodic reading of every process from /proc into a ProcessTable.
#include "analysis/process_table.h"

#include <optional>
#include <string>

namespace memsight::analysis {

class ProcScanner {
public:
    explicit ProcScanner(std::string proc_root = "/proc") : root_(std::move(proc_root)) {}

    // Reads every user process (kernel threads are skipped), updates the table, drops the processes that
    // are gone and (re)reads cgroups where the table asks for it. Returns the number of processes read.
    size_t scan(ProcessTable& table) const;

    std::optional<ProcessSample> read_process(pid_t pid) const;
    // The memory cgroup path of the process, from /proc/PID/cgroup.
    std::optional<std::string> read_cgroup(pid_t pid) const;
    // The command line from /proc/PID/cmdline, arguments separated by spaces, at most kMaxCmdline bytes; "" when
    // unreadable or empty (a kernel thread, a process that has released its memory).
    std::string read_cmdline(pid_t pid) const;
    static constexpr size_t kMaxCmdline = 1024;

private:
    std::string root_;
};

} // namespace memsight::analysis
