#pragma once
// The agent and the host's cgroup namespace.
//
// In a container on a cgroup v2 node (containerd, CRI-O, podman by default) the agent has a cgroup namespace of
// its own: every other process's /proc/PID/cgroup then reads "/../../kubepods/..." (relative to the agent's
// namespace root), and so does the root of the cgroupfs mount in /proc/self/mountinfo. At start-up the agent
//   1. joins pid 1's cgroup namespace when it differs from its own (with hostPID that is the host's; needs
//      CAP_SYS_ADMIN): every path is the host's again;
//   2. otherwise finds its own cgroup in the mounted hierarchy (the directory whose cgroup.procs lists it), takes
//      its namespace root from there, and has memory_cgroup_path() resolve "/../x" paths against it
//      (set_cgroup_namespace_root, proc_parse.h): paths are the mount's, which is the host's for the documented
//      host /sys/fs/cgroup mount;
//   3. when neither works, it logs why; paths stay relative and only those below the mount's root are read.
#include <string>

namespace memsight::procfs {

enum class CgroupNamespace {
    Host,     // already in pid 1's cgroup namespace, or /proc/1 is not readable and nothing says otherwise
    Joined,   // was in its own, joined pid 1's
    Resolved, // in its own; paths are resolved against its root, found in the hierarchy
    Relative, // in its own; paths stay relative to its root (logged)
};

// Call before any other thread starts: setns() changes the calling thread only, threads inherit it when created,
// and the namespace root it may set is read without a lock. Logs what it did, except for Host.
CgroupNamespace adopt_host_cgroup_view(const std::string& proc_root = "/proc");

} // namespace memsight::procfs
