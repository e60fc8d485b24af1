#include "procfs/cgroup_namespace.h"

#include "procfs/cgroup_fs.h"
#include "procfs/proc_parse.h"
#include "procfs/read_file.h"
#include "util/fd.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace memsight::procfs {
namespace {

bool same_file(const struct stat& a, const struct stat& b)
{
    return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

// The agent's namespace root as a path below the mount: its own cgroup found there, minus the part of its
// path that lies inside the namespace ("/" when it sits at the namespace root).
std::optional<std::string> own_namespace_root(const CgroupFs& fs)
{
    const auto text = read_file("/proc/self/cgroup");
    const auto inside = text ? memory_cgroup_path(parse_proc_cgroup(*text)) : std::nullopt;
    if (!inside)
        return std::nullopt;
    const auto found = fs.find_process(::getpid());
    if (!found)
        return std::nullopt;
    if (*inside == "/")
        return found;
    if (!found->ends_with(*inside))
        return std::nullopt;
    return normalize_cgroup_path(found->substr(0, found->size() - inside->size()));
}

} // namespace

CgroupNamespace adopt_host_cgroup_view(const std::string& proc_root)
{
    const std::string init_ns = proc_root + "/1/ns/cgroup";
    struct stat self {};
    struct stat init {};
    if (::stat("/proc/self/ns/cgroup", &self) != 0)
        return CgroupNamespace::Host; // kernel without cgroup namespaces (< 4.6)
    std::string why;
    if (::stat(init_ns.c_str(), &init) == 0) {
        if (same_file(self, init))
            return CgroupNamespace::Host;
        util::UniqueFd fd(::open(init_ns.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() >= 0 && ::setns(fd.get(), CLONE_NEWCGROUP) == 0) {
            spdlog::info("cgroup namespace: joined the host's (pid 1's); cgroup paths are the host's");
            return CgroupNamespace::Joined;
        }
        const int err = errno;
        why = std::string(fd.get() < 0 ? "open " + init_ns : "setns") + ": " + std::strerror(err) +
              (err == EPERM ? "; joining needs CAP_SYS_ADMIN" : "");
    } else {
        why = "stat " + init_ns + ": " + std::strerror(errno);
    }
    // pid 1 is not comparable or not joinable. Whether the agent has a namespace of its own shows in the mount:
    // its root reads "/.." from inside one that is rooted below the mounted hierarchy's root.
    const auto fs = CgroupFs::detect();
    if (!fs || !fs->mount().root.starts_with("/.."))
        return CgroupNamespace::Host;
    if (const auto root = own_namespace_root(*fs)) {
        set_cgroup_namespace_root(*root);
        spdlog::warn("cgroup namespace: the agent has its own and cannot join the host's ({}); its root is {} in "
                     "the hierarchy mounted at {}, and other processes' cgroup paths are resolved against it",
                     why, *root, fs->mount().mount_point);
        return CgroupNamespace::Resolved;
    }
    spdlog::warn("cgroup namespace: the agent has its own and cannot join the host's ({}), and did not find its own "
                 "cgroup under {}; cgroup paths stay relative to its namespace root (/../<path>)",
                 why, fs->mount().mount_point);
    return CgroupNamespace::Relative;
}

} // namespace memsight::procfs
