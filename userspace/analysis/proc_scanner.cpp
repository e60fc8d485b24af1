#include "analysis/proc_scanner.h"

#include "procfs/proc_parse.h"
#include "procfs/read_file.h"

namespace memsight::analysis {
std::optional<ProcessSample> ProcScanner::read_process(pid_t pid) const
{
    const std::string dir = root_ + "/" + std::to_string(pid);
    auto stat_text = procfs::read_file(dir + "/stat");
    auto status_text = procfs::read_file(dir + "/status");
    if (!stat_text || !status_text)
        return std::nullopt; // exited meanwhile
    auto stat = procfs::parse_stat(*stat_text);
    auto status = procfs::parse_status(*status_text);
    if (!stat || !status || status->kernel_thread)
        return std::nullopt;
    ProcessSample s;
    s.pid = pid;
    s.comm = stat->comm;
    s.start_ticks = stat->starttime_ticks;
    s.rss_anon = status->rss_anon;
    s.rss_file = status->rss_file;
    s.rss_shmem = status->rss_shmem;
    s.swap = status->vm_swap;
    s.peak_rss = status->vm_hwm;
    s.minflt = stat->minflt;
    s.majflt = stat->majflt;
    return s;
}

std::optional<std::string> ProcScanner::read_cgroup(pid_t pid) const
{
    auto text = procfs::read_file(root_ + "/" + std::to_string(pid) + "/cgroup");
    if (!text)
        return std::nullopt;
    return procfs::memory_cgroup_path(procfs::parse_proc_cgroup(*text));
}

std::string ProcScanner::read_cmdline(pid_t pid) const
{
    auto text = procfs::read_file(root_ + "/" + std::to_string(pid) + "/cmdline");
    if (!text)
        return {};
    std::string s = text->substr(0, kMaxCmdline);
    while (!s.empty() && s.back() == '\0')
        s.pop_back();
    for (char& c : s)
        if (c == '\0')
            c = ' ';
    return s;
}

size_t ProcScanner::scan(ProcessTable& table) const
{
    const auto start = Clock::now();
    size_t n = 0;
    for (pid_t pid : procfs::list_pids(root_)) {
        auto s = read_process(pid);
        if (!s)
            continue;
        ++n;
        if (table.update(*s, Clock::now())) {
            if (auto cg = read_cgroup(pid))
                table.set_cgroup(pid, *cg);
            // New and exec'd processes only (both ask for their cgroup): kept for the OOM record of a victim,
            // whose /proc entry is usually gone by the time the kill is handled.
            if (table.needs_cmdline(pid))
                table.set_cmdline(pid, read_cmdline(pid));
        }
    }
    table.drop_stale(start);
    return n;
}

} // namespace memsight::analysis
