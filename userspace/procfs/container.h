#pragma once
// Container identity from a cgroup path, without asking any runtime or the Kubernetes API.
#include <string>
#include <string_view>

namespace memsight::procfs {

struct ContainerIdentity {
    std::string container_id; // 64 lower-case hex digits; empty when the path is not a container's
    std::string pod_uid;      // Kubernetes pod UID with dashes ("0f1e..-..."); empty outside kubepods
    std::string runtime;      // "docker", "containerd", "cri-o", "podman", "kubepods" or ""
};

// Recognises (cgroup v1 and v2 paths alike):
//  docker:      /docker/<id>, /system.slice/docker-<id>.scope
//  containerd:  /kubepods/<qos>/pod<uid>/<id>, .../kubepods-<qos>-pod<uid_underscored>.slice/cri-containerd-<id>.scope,
//               /system.slice/containerd.service/...:cri-containerd:<id>
//  CRI-O:       .../crio-<id>.scope, .../crio-<id>, crio-conmon-<id>.scope (conmon: runtime "cri-o", same id)
//  podman:      /machine.slice/libpod-<id>.scope, /libpod_parent/libpod-<id>, user.slice/.../libpod-<id>.scope
//  kubepods:    pod UID from "pod<uid>" (cgroupfs driver) or "-pod<uid_with_underscores>.slice" (systemd driver)
// A pod-level cgroup (no container yet) gives pod_uid with an empty container_id.
ContainerIdentity identify_container(std::string_view cgroup_path);

} // namespace memsight::procfs
