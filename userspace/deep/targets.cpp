#include "deep/targets.h"

#include "procfs/container.h"
#include "procfs/proc_parse.h"
#include "procfs/read_file.h"
#include "util/error.h"

#include <map>
#include <set>

namespace memsight::deep {
namespace {

bool is_user_process(const std::string& root, pid_t pid)
{
    auto status = procfs::read_file(root + "/" + std::to_string(pid) + "/status");
    auto s = status ? procfs::parse_status(*status) : std::nullopt;
    return s && !s->kernel_thread;
}

} // namespace

std::vector<pid_t> pid_and_descendants(pid_t pid, bool children, const std::string& proc_root)
{
    if (!procfs::read_file(proc_root + "/" + std::to_string(pid) + "/stat"))
        throw UserError("no such process: " + std::to_string(pid));
    std::vector<pid_t> out{pid};
    if (!children)
        return out;
    std::multimap<pid_t, pid_t> kids; // ppid -> pid
    for (pid_t p : procfs::list_pids(proc_root)) {
        auto text = procfs::read_file(proc_root + "/" + std::to_string(p) + "/stat");
        if (auto st = text ? procfs::parse_stat(*text) : std::nullopt)
            kids.emplace(st->ppid, p);
    }
    for (size_t i = 0; i < out.size(); ++i) {
        auto [b, e] = kids.equal_range(out[i]);
        for (auto it = b; it != e; ++it)
            out.push_back(it->second);
    }
    return out;
}

std::vector<pid_t> processes_of_cgroup(const std::string& selector, const std::string& proc_root)
{
    const bool by_path = !selector.empty() && selector.front() == '/';
    if (!by_path && selector.size() < 12)
        throw UserError("--cgroup: give a cgroup path (starting with '/') or at least 12 hex digits of a container id");
    std::vector<pid_t> out;
    for (pid_t p : procfs::list_pids(proc_root)) {
        auto text = procfs::read_file(proc_root + "/" + std::to_string(p) + "/cgroup");
        if (!text)
            continue;
        auto path = procfs::memory_cgroup_path(procfs::parse_proc_cgroup(*text));
        if (!path)
            continue;
        bool match;
        if (by_path) {
            const std::string prefix = selector.back() == '/' ? selector : selector + "/";
            match = *path == selector || path->rfind(prefix, 0) == 0;
        } else {
            match = procfs::identify_container(*path).container_id.rfind(selector, 0) == 0;
        }
        if (match && is_user_process(proc_root, p))
            out.push_back(p);
    }
    if (out.empty())
        throw UserError("--cgroup " + selector + ": no process found in that cgroup or container");
    return out;
}

} // namespace memsight::deep
