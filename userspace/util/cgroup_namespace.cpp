#include "util/cgroup_namespace.h"

#include "util/fd.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace memsight::util {

CgroupNamespace join_host_cgroup_namespace(const std::string& proc_root)
{
    const std::string init_ns = proc_root + "/1/ns/cgroup";
    struct stat self {};
    struct stat init {};
    if (::stat("/proc/self/ns/cgroup", &self) != 0 || ::stat(init_ns.c_str(), &init) != 0)
        return CgroupNamespace::Host; // no cgroup namespaces (kernel < 4.6) or /proc/1 hidden: nothing to do
    if (self.st_ino == init.st_ino && self.st_dev == init.st_dev)
        return CgroupNamespace::Host;
    UniqueFd fd(::open(init_ns.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0 || ::setns(fd.get(), CLONE_NEWCGROUP) != 0) {
        const int err = errno;
        spdlog::warn("cgroup namespace: the agent has its own and cannot join the host's ({}: {}{}); cgroup paths "
                     "are read relative to its namespace root, as /../<path>",
                     fd.get() < 0 ? "open " + init_ns : std::string("setns"), std::strerror(err),
                     err == EPERM ? "; joining needs CAP_SYS_ADMIN" : "");
        return CgroupNamespace::Own;
    }
    spdlog::info("cgroup namespace: joined the host's (pid 1's); cgroup paths are the host's");
    return CgroupNamespace::Joined;
}

} // namespace memsight::util
