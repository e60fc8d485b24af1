// Tests for container identity from cgroup paths (cgroupfs and systemd drivers, v1 and v2).
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "procfs/container.h"

namespace memsight::procfs {
namespace {

const std::string kId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kId2 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const std::string kUid = "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab";
const std::string kUidUnderscored = "0f1e2d3c_aaaa_bbbb_cccc_0123456789ab";

struct Case {
    std::string path;
    std::string container_id;
    std::string pod_uid;
    std::string runtime;
};

void expect_cases(const std::vector<Case>& cases)
{
    for (const auto& c : cases) {
        SCOPED_TRACE(c.path);
        const auto got = identify_container(c.path);
        EXPECT_EQ(got.container_id, c.container_id);
        EXPECT_EQ(got.pod_uid, c.pod_uid);
        EXPECT_EQ(got.runtime, c.runtime);
    }
}

TEST(ContainerIdentity, Docker)
{
    expect_cases({
        {"/docker/" + kId, kId, "", "docker"},
        {"/system.slice/docker-" + kId + ".scope", kId, "", "docker"},
        // rootless docker, systemd driver
        {"/user.slice/user-1000.slice/user@1000.service/user.slice/docker-" + kId + ".scope", kId, "", "docker"},
        // docker in docker: the innermost container wins
        {"/docker/" + kId2 + "/docker/" + kId, kId, "", "docker"},
    });
}

TEST(ContainerIdentity, KubernetesCgroupfsDriver)
{
    expect_cases({
        {"/kubepods/burstable/pod" + kUid + "/" + kId, kId, kUid, "containerd"},
        {"/kubepods/pod" + kUid + "/" + kId, kId, kUid, "containerd"}, // guaranteed: no qos level
        {"/kubepods/besteffort/pod" + kUid + "/crio-" + kId, kId, kUid, "cri-o"},
        {"/kubepods/burstable/pod" + kUid, "", kUid, "kubepods"}, // pod-level cgroup
        {"/kubepods/burstable", "", "", ""},
        {"/kubepods", "", "", ""},
    });
}

TEST(ContainerIdentity, KubernetesSystemdDriver)
{
    const std::string burstable =
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscored + ".slice";
    expect_cases({
        {burstable + "/cri-containerd-" + kId + ".scope", kId, kUid, "containerd"},
        {"/kubepods.slice/kubepods-pod" + kUidUnderscored + ".slice/crio-" + kId + ".scope", kId, kUid, "cri-o"},
        {"/kubepods.slice/kubepods-pod" + kUidUnderscored + ".slice/crio-conmon-" + kId + ".scope", kId, kUid, "cri-o"},
        {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscored + ".slice/docker-" +
             kId + ".scope",
         kId, kUid, "docker"},
        {burstable, "", kUid, "kubepods"},
        {"/system.slice/containerd.service/kubepods-burstable-pod" + kUidUnderscored + ".slice:cri-containerd:" + kId,
         kId, kUid, "containerd"},
        // kind: a Kubernetes node inside a docker container, kubelet cgroup root /kubelet
        {"/system.slice/docker-" + kId2 +
             ".scope/kubelet.slice/kubelet-kubepods.slice/"
             "kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" +
             kUidUnderscored + ".slice/cri-containerd-" + kId + ".scope",
         kId, kUid, "containerd"},
    });
}

TEST(ContainerIdentity, Podman)
{
    expect_cases({
        {"/machine.slice/libpod-" + kId + ".scope", kId, "", "podman"},
        {"/libpod_parent/libpod-" + kId, kId, "", "podman"},
        {"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope", kId, "", "podman"},
        {"/machine.slice/libpod-conmon-" + kId + ".scope", kId, "", "podman"},
    });
}

TEST(ContainerIdentity, NestedCgroupsInsideTheContainerKeepItsId)
{
    expect_cases({
        {"/system.slice/docker-" + kId + ".scope/init", kId, "", "docker"},
        {"/system.slice/docker-" + kId + ".scope/init.scope", kId, "", "docker"},
        {"/docker/" + kId + "/sub", kId, "", "docker"},
        {"/kubepods/burstable/pod" + kUid + "/" + kId + "/sub", kId, kUid, "containerd"},
        {"/machine.slice/libpod-" + kId + ".scope/container/init.scope", kId, "", "podman"},
    });
}

TEST(ContainerIdentity, PodBelowAContainerIsAPodLevelCgroup)
{
    // A pod-level cgroup of a Kubernetes node that itself runs in a docker container.
    expect_cases({{"/docker/" + kId2 + "/kubepods/burstable/pod" + kUid, "", kUid, "kubepods"}});
}

TEST(ContainerIdentity, NormalisesCaseAndSeparators)
{
    std::string upper_id = kId;
    for (auto& c : upper_id)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    expect_cases({
        {"/docker/" + upper_id, kId, "", "docker"},
        {"/kubepods/pod0F1E2D3C-AAAA-BBBB-CCCC-0123456789AB", "", kUid, "kubepods"},
    });
}

TEST(ContainerIdentity, BareIdUnderUnknownParentHasNoRuntime)
{
    expect_cases({{"/actions_job/" + kId, kId, "", ""}});
}

TEST(ContainerIdentity, NonContainerPathsAreEmpty)
{
    expect_cases({
        {"/", "", "", ""},
        {"", "", "", ""},
        {"/user.slice/user-1000.slice/session-3.scope", "", "", ""},
        {"/system.slice/docker.service", "", "", ""},
        {"/system.slice/containerd.service", "", "", ""},
        {"/init.scope", "", "", ""},
        {"/docker/" + kId.substr(1), "", "", ""},                                    // 63 digits
        {"/docker/" + kId + "0", "", "", ""},                                        // 65 digits
        {"/docker/g" + kId.substr(1), "", "", ""},                                   // not hex
        {"/system.slice/docker-" + kId + ".scope.bak", "", "", ""},                  // not a scope
        {"/system.slice/unknown-" + kId + ".scope", "", "", ""},                     // unknown runtime prefix
        {"/system.slice/pod" + kUid, "", "", ""},                                    // "pod<uid>" outside kubepods
        {"/kubepods/burstable/pod" + kUid.substr(1), "", "", ""},                    // short uid
        {"/kubepods/burstable/xpod" + kUid, "", "", ""},                             // not a pod component
        {"/kubepods/burstable/pod0f1e2d3c-aaaa-bbbb-cccc0-123456789ab", "", "", ""}, // misplaced dash
    });
}

} // namespace
} // namespace memsight::procfs
