#include "procfs/container.h"

#include <array>
#include <cctype>
#include <optional>
#include <vector>

#include "procfs/proc_parse.h"

namespace memsight::procfs {
namespace {

constexpr size_t kContainerIdLen = 64;
constexpr size_t kPodUidLen = 36; // 8-4-4-4-12

bool is_hex(char c)
{
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}
char lower(char c)
{
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

std::string_view strip_suffix(std::string_view s, std::string_view suffix)
{
    return s.ends_with(suffix) ? s.substr(0, s.size() - suffix.size()) : s;
}

// Exactly 64 hex digits -> lower-case id.
std::optional<std::string> as_container_id(std::string_view s)
{
    if (s.size() != kContainerIdLen)
        return std::nullopt;
    std::string id;
    for (const char c : s) {
        if (!is_hex(c))
            return std::nullopt;
        id.push_back(lower(c));
    }
    return id;
}

// 8-4-4-4-12 hex digits separated by '-' (cgroupfs driver) or '_' (systemd driver) -> "xxxxxxxx-xxxx-...".
std::optional<std::string> as_pod_uid(std::string_view s)
{
    if (s.size() != kPodUidLen)
        return std::nullopt;
    std::string uid;
    for (size_t i = 0; i < s.size(); ++i) {
        const bool separator_slot = i == 8 || i == 13 || i == 18 || i == 23;
        if (separator_slot) {
            if (s[i] != '-' && s[i] != '_')
                return std::nullopt;
            uid.push_back('-');
        } else {
            if (!is_hex(s[i]))
                return std::nullopt;
            uid.push_back(lower(s[i]));
        }
    }
    return uid;
}

struct RuntimePrefix {
    std::string_view prefix;
    std::string_view runtime;
};
// Longer prefixes first where one is a prefix of another.
constexpr std::array kRuntimePrefixes{
    RuntimePrefix{"docker-", "docker"},      RuntimePrefix{"cri-containerd-", "containerd"},
    RuntimePrefix{"nerdctl-", "containerd"}, RuntimePrefix{"crio-conmon-", "cri-o"},
    RuntimePrefix{"crio-", "cri-o"},         RuntimePrefix{"libpod-conmon-", "podman"},
    RuntimePrefix{"libpod-", "podman"},
};

struct ContainerMatch {
    std::string id;
    std::string_view runtime; // empty for a bare id: the caller decides from the context
};

// "<prefix>-<id>[.scope]" or a bare "<id>".
std::optional<ContainerMatch> match_named(std::string_view name)
{
    name = strip_suffix(name, ".scope");
    if (auto id = as_container_id(name))
        return ContainerMatch{std::move(*id), {}};
    for (const auto& rp : kRuntimePrefixes) {
        if (!name.starts_with(rp.prefix))
            continue;
        if (auto id = as_container_id(name.substr(rp.prefix.size())))
            return ContainerMatch{std::move(*id), rp.runtime};
    }
    return std::nullopt;
}

// One path component. Besides the plain forms, systemd's "slice:prefix:id" form
// ("kubepods-...slice:cri-containerd:<id>") is a single component.
std::optional<ContainerMatch> match_container(std::string_view component)
{
    const auto parts = text::split(component, ':');
    if (parts.size() != 3)
        return match_named(component);
    for (const auto& rp : kRuntimePrefixes) {
        if (rp.prefix.substr(0, rp.prefix.size() - 1) != parts[1])
            continue;
        if (auto id = as_container_id(parts[2]))
            return ContainerMatch{std::move(*id), rp.runtime};
    }
    return std::nullopt;
}

// "pod<uid>" (cgroupfs driver) or "kubepods[-<qos>]-pod<uid_>.slice" (systemd driver), also as the
// slice part of the "slice:prefix:id" form.
std::optional<std::string> match_pod(std::string_view component)
{
    const auto name = strip_suffix(component.substr(0, component.find(':')), ".slice");
    constexpr std::string_view kPod = "pod";
    if (name.size() < kPod.size() + kPodUidLen)
        return std::nullopt;
    const size_t pod_at = name.size() - kPodUidLen - kPod.size();
    if (name.substr(pod_at, kPod.size()) != kPod)
        return std::nullopt;
    if (pod_at != 0 && name[pod_at - 1] != '-')
        return std::nullopt;
    return as_pod_uid(name.substr(pod_at + kPod.size()));
}

// The innermost component matching `match`; pods only count under a "kubepods" component.
template <typename Match>
auto find_innermost(const std::vector<std::string_view>& comps, Match match, bool need_kubepods)
    -> std::optional<std::pair<size_t, decltype(match(std::string_view{}))>>
{
    size_t first_kubepods = comps.size();
    for (size_t i = 0; i < comps.size(); ++i) {
        if (comps[i].find("kubepods") != std::string_view::npos) {
            first_kubepods = i;
            break;
        }
    }
    for (size_t i = comps.size(); i-- > 0;) {
        if (need_kubepods && i < first_kubepods)
            break;
        if (auto m = match(comps[i]))
            return std::pair{i, std::move(m)};
    }
    return std::nullopt;
}

std::vector<std::string_view> components(std::string_view path)
{
    std::vector<std::string_view> out;
    for (const auto c : text::split(path, '/')) {
        if (!c.empty())
            out.push_back(c);
    }
    return out;
}

// A bare id's runtime: /docker/<id> is docker, /kubepods/<qos>/pod<uid>/<id> is containerd (the CRI
// default), anything else (custom --cgroup-parent, ECS, ...) is unknown.
std::string_view bare_id_runtime(const std::vector<std::string_view>& comps, size_t index, bool under_pod)
{
    if (index > 0 && comps[index - 1] == "docker")
        return "docker";
    return under_pod ? "containerd" : "";
}

} // namespace

ContainerIdentity identify_container(std::string_view cgroup_path)
{
    const auto comps = components(cgroup_path);
    const auto container = find_innermost(comps, match_container, false);
    const auto pod = find_innermost(comps, match_pod, true);

    ContainerIdentity out;
    if (pod && (!container || pod->first > container->first)) {
        out.pod_uid = *pod->second; // a pod-level cgroup (or one below the container's scope)
        out.runtime = "kubepods";
        return out;
    }
    if (!container)
        return out;
    const auto& match = *container->second;
    out.container_id = match.id;
    out.runtime = match.runtime.empty() ? bare_id_runtime(comps, container->first, pod.has_value()) : match.runtime;
    if (pod)
        out.pod_uid = *pod->second;
    return out;
}

} // namespace memsight::procfs
