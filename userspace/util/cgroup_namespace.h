#pragma once
// The agent and the host's cgroup namespace.
//
// In a container on a cgroup v2 node (containerd, CRI-O, podman default) the agent has a cgroup namespace of
// its own: /proc/PID/cgroup of every other process then reads "/../../kubepods/..." (relative to the agent's
// namespace root), and so does the root of the cgroupfs mount in /proc/self/mountinfo. With the host's pid
// namespace (/proc/1 is the host's init) the agent joins init's cgroup namespace at start-up, and every path
// is the host's again. That needs CAP_SYS_ADMIN; without it the agent stays where it is and CgroupFs
// resolves the "/.." paths against the mount's root (procfs/cgroup_fs.h), so container series still work,
// with cgroup labels in that relative form.
#include <string>

namespace memsight::util {

enum class CgroupNamespace {
    Host,   // already in init's cgroup namespace (or /proc/1 is not readable: nothing to compare)
    Joined, // was in its own, joined init's
    Own,    // in its own, could not join (the reason is logged)
};

// Compares /proc/self/ns/cgroup with <proc_root>/1/ns/cgroup and joins init's when they differ. Call it before
// any other thread starts: setns() changes the calling thread only, and threads inherit it when created.
CgroupNamespace join_host_cgroup_namespace(const std::string& proc_root = "/proc");

} // namespace memsight::util
