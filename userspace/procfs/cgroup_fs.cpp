#include "procfs/cgroup_fs.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

#include "procfs/proc_parse.h"
#include "procfs/read_file.h"

namespace memsight::procfs {
namespace {

constexpr uint64_t kV1NoLimit = uint64_t{1} << 62; // v1 prints ~LONG_MAX rounded to a page
constexpr int kMaxWalkDepth = 32;

// ---- /proc/self/mountinfo ----

bool is_octal(char c)
{
    return c >= '0' && c <= '7';
}

// mountinfo escapes ' ', '\t', '\n' and '\\' in paths as "\ooo" (octal).
std::string unescape_octal(std::string_view s)
{
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        const bool escape =
            s[i] == '\\' && i + 3 < s.size() && is_octal(s[i + 1]) && is_octal(s[i + 2]) && is_octal(s[i + 3]);
        if (!escape) {
            out.push_back(s[i]);
            continue;
        }
        out.push_back(static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0')));
        i += 3;
    }
    return out;
}

struct MountEntry {
    std::string root;
    std::string mount_point;
    std::string_view fstype;
    std::string_view super_options;
};

// "36 25 0:32 / /sys/fs/cgroup/memory rw,relatime shared:15 - cgroup cgroup rw,memory"
std::optional<MountEntry> parse_mountinfo_line(std::string_view line)
{
    const auto sep = line.find(" - ");
    if (sep == std::string_view::npos)
        return std::nullopt;
    const auto before = text::split_ws(line.substr(0, sep));
    const auto after = text::split_ws(text::trim(line.substr(sep + 3)));
    if (before.size() < 6 || after.size() < 3)
        return std::nullopt;
    return MountEntry{unescape_octal(before[3]), unescape_octal(before[4]), after[0], after[2]};
}

bool has_token(const std::vector<std::string_view>& tokens, std::string_view want)
{
    return std::find(tokens.begin(), tokens.end(), want) != tokens.end();
}

// ---- memory files ----

std::optional<uint64_t> read_number(const std::string& path)
{
    const auto content = read_file(path);
    if (!content)
        return std::nullopt;
    return text::parse_u64(text::trim(*content));
}

std::optional<uint64_t> read_limit(const std::string& path)
{
    const auto content = read_file(path);
    if (!content)
        return std::nullopt;
    return parse_limit(*content);
}

std::map<std::string, uint64_t> read_keyed(const std::string& path)
{
    const auto content = read_file(path);
    return content ? parse_flat_keyed(*content) : std::map<std::string, uint64_t>{};
}

std::optional<uint64_t> lookup(const std::map<std::string, uint64_t>& m, const std::string& key)
{
    const auto it = m.find(key);
    if (it == m.end())
        return std::nullopt;
    return it->second;
}

// v1 memory.stat: the hierarchical "total_<key>" when the kernel prints it, else the local "<key>".
uint64_t v1_stat(const std::map<std::string, uint64_t>& stat, const std::string& key)
{
    return lookup(stat, "total_" + key).value_or(lookup(stat, key).value_or(0));
}

std::optional<CgroupMemory> read_v1(const std::string& dir)
{
    const auto usage = read_number(dir + "/memory.usage_in_bytes");
    if (!usage)
        return std::nullopt;
    CgroupMemory m;
    m.usage = *usage;
    m.limit = read_limit(dir + "/memory.limit_in_bytes");
    m.peak = read_number(dir + "/memory.max_usage_in_bytes").value_or(0);
    const auto stat = read_keyed(dir + "/memory.stat");
    m.anon = v1_stat(stat, "rss");
    m.file = v1_stat(stat, "cache");
    m.shmem = v1_stat(stat, "shmem");
    m.swap = v1_stat(stat, "swap");
    m.file = m.file > m.shmem ? m.file - m.shmem : 0; // cache counts shmem too: keep the kinds disjoint
    const uint64_t inactive_file = v1_stat(stat, "inactive_file");
    m.working_set = m.usage > inactive_file ? m.usage - inactive_file : 0;
    m.oom_kills = lookup(read_keyed(dir + "/memory.oom_control"), "oom_kill"); // kernels >= 4.13
    return m;
}

std::optional<CgroupMemory> read_v2(const std::string& dir)
{
    const auto usage = read_number(dir + "/memory.current");
    if (!usage)
        return std::nullopt;
    CgroupMemory m;
    m.usage = *usage;
    m.limit = read_limit(dir + "/memory.max");
    m.peak = read_number(dir + "/memory.peak").value_or(0); // kernels >= 5.19
    const auto stat = read_keyed(dir + "/memory.stat");
    m.anon = lookup(stat, "anon").value_or(0);
    m.file = lookup(stat, "file").value_or(0);
    m.shmem = lookup(stat, "shmem").value_or(0);
    m.file = m.file > m.shmem ? m.file - m.shmem : 0; // "file" counts shmem too: keep the kinds disjoint
    m.swap = read_number(dir + "/memory.swap.current").value_or(0);
    const uint64_t inactive_file = lookup(stat, "inactive_file").value_or(0);
    m.working_set = m.usage > inactive_file ? m.usage - inactive_file : 0;
    const auto events = read_keyed(dir + "/memory.events");
    m.oom_kills = lookup(events, "oom_kill");
    return m;
}

// ---- paths ----

bool has_dotdot(std::string_view path)
{
    const auto parts = text::split(path, '/');
    return has_token(parts, "..");
}

// "/" + "/a" -> "/a"; "/docker/x" + "/" -> "/docker/x"; "/docker/x" + "/a" -> "/docker/x/a".
std::string join_root(const std::string& root, const std::string& rel)
{
    if (root.empty() || root == "/")
        return rel;
    if (rel == "/")
        return root;
    return root + rel;
}

// Records every directory below `dir` (not following symlinks) as inode -> path relative to the mount.
void walk(const std::string& dir, const std::string& rel, int depth, std::map<uint64_t, std::string>& out)
{
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    out[static_cast<uint64_t>(st.st_ino)] = rel.empty() ? "/" : rel;
    if (depth >= kMaxWalkDepth)
        return;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code type_ec;
        if (it->symlink_status(type_ec).type() != std::filesystem::file_type::directory)
            continue;
        const std::string name = it->path().filename().string();
        walk(dir + "/" + name, rel + "/" + name, depth + 1, out);
    }
}

} // namespace

std::optional<CgroupMount> find_memory_cgroup_mount(std::string_view mountinfo_text)
{
    std::optional<CgroupMount> first_v2;
    for (const auto line : text::split(mountinfo_text, '\n')) {
        auto entry = parse_mountinfo_line(line);
        if (!entry)
            continue;
        if (entry->fstype == "cgroup" && has_token(text::split(entry->super_options, ','), "memory")) {
            return CgroupMount{CgroupVersion::V1, std::move(entry->mount_point), std::move(entry->root)};
        }
        if (entry->fstype == "cgroup2" && !first_v2) {
            first_v2 = CgroupMount{CgroupVersion::V2, std::move(entry->mount_point), std::move(entry->root)};
        }
    }
    return first_v2;
}

std::map<std::string, uint64_t> parse_flat_keyed(std::string_view text)
{
    std::map<std::string, uint64_t> out;
    for (const auto line : text::split(text, '\n')) {
        const auto fields = text::split_ws(text::trim(line));
        if (fields.size() != 2)
            continue;
        if (const auto value = text::parse_u64(fields[1]))
            out[std::string(fields[0])] = *value;
    }
    return out;
}

std::optional<uint64_t> parse_limit(std::string_view text)
{
    const auto trimmed = text::trim(text);
    if (trimmed == "max")
        return std::nullopt;
    const auto value = text::parse_u64(trimmed);
    if (!value || *value >= kV1NoLimit)
        return std::nullopt;
    return value;
}

CgroupFs::CgroupFs(CgroupMount mount) : mount_(std::move(mount)) {}

std::optional<CgroupFs> CgroupFs::detect(const std::string& mountinfo_path)
{
    const auto mountinfo = read_file(mountinfo_path);
    if (!mountinfo)
        return std::nullopt;
    auto mount = find_memory_cgroup_mount(*mountinfo);
    if (!mount)
        return std::nullopt;
    if (mount->version == CgroupVersion::V2) {
        // A cgroup2 mount without the memory controller (e.g. /sys/fs/cgroup/unified on hybrid hosts).
        const auto controllers = read_file(mount->mount_point + "/cgroup.controllers");
        if (!controllers || !has_token(text::split_ws(text::trim(*controllers)), "memory"))
            return std::nullopt;
    }
    if (cgroup_namespace_root() != "/")
        mount->root = "/";
    return CgroupFs(std::move(*mount));
}

std::optional<CgroupMemory> CgroupFs::read(const std::string& cgroup_path) const
{
    // Both the path and the mount's root are relative to the reader's cgroup namespace root. In a namespace of
    // its own (cgroup_namespace.h) a host mount's root reads "/../..", other processes' paths "/../../x/y":
    // the root's prefix goes, and what is left must stay below the mount.
    std::string_view rel = cgroup_path;
    const std::string& root = mount_.root;
    if (root != "/") {
        if (!rel.starts_with(root) || (rel.size() != root.size() && rel[root.size()] != '/'))
            return std::nullopt; // not below the mounted part of the hierarchy
        rel.remove_prefix(root.size());
    }
    if (has_dotdot(rel))
        return std::nullopt; // never read outside the mount
    std::string dir = mount_.mount_point;
    if (!rel.empty() && rel != "/")
        dir += rel.front() == '/' ? std::string(rel) : "/" + std::string(rel);
    return mount_.version == CgroupVersion::V1 ? read_v1(dir) : read_v2(dir);
}

std::optional<std::string> CgroupFs::find_process(pid_t pid) const
{
    std::map<uint64_t, std::string> dirs;
    walk(mount_.mount_point, "", 0, dirs);
    const std::string wanted = std::to_string(pid);
    for (const auto& [ino, rel] : dirs) {
        const auto procs = read_file(mount_.mount_point + (rel == "/" ? "" : rel) + "/cgroup.procs");
        if (!procs)
            continue;
        for (const auto line : text::split(*procs, '\n'))
            if (text::trim(line) == wanted)
                return rel;
    }
    return std::nullopt;
}

std::optional<std::string> CgroupFs::path_for_id(uint64_t id) const
{
    if (const auto it = id_cache_.find(id); it != id_cache_.end())
        return it->second;
    // Rebuild from scratch so cgroups removed since the last walk leave the cache.
    std::map<uint64_t, std::string> fresh;
    walk(mount_.mount_point, "", 0, fresh);
    for (auto& [ino, rel] : fresh)
        rel = join_root(mount_.root, rel);
    id_cache_ = std::move(fresh);
    if (const auto it = id_cache_.find(id); it != id_cache_.end())
        return it->second;
    return std::nullopt;
}

} // namespace memsight::procfs
