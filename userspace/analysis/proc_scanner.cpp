#include "analysis/proc_scanner.h"

#include "procfs/proc_parse.h"
#include "procfs/read_file.h"

#include <dirent.h>

#include <charconv>
#include <memory>

namespace memsight::analysis {
namespace {

std::vector<pid_t> list_pids(const std::string& root)
{
    std::vector<pid_t> pids;
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(root.c_str()), ::closedir);
    if (!dir)
        return pids;
    while (const dirent* d = ::readdir(dir.get())) {
        pid_t pid = 0;
        const char* end = d->d_name + std::char_traits<char>::length(d->d_name);
        auto [p, ec] = std::from_chars(d->d_name, end, pid);
        if (ec == std::errc() && p == end && pid > 0)
            pids.push_back(pid);
    }
    return pids;
}

} // namespace

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

size_t ProcScanner::scan(ProcessTable& table) const
{
    const auto start = Clock::now();
    size_t n = 0;
    for (pid_t pid : list_pids(root_)) {
        auto s = read_process(pid);
        if (!s)
            continue;
        ++n;
        if (table.update(*s, Clock::now())) {
            if (auto cg = read_cgroup(pid))
                table.set_cgroup(pid, *cg);
        }
    }
    table.drop_stale(start);
    return n;
}

} // namespace memsight::analysis
