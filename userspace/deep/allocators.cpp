// Allocator detection for one process: which mapped objects define allocation functions, which
// malloc is active, and the host paths/offsets the uprobe attacher needs.
#include "deep/allocators.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "deep/elf_file.h"
#include "procfs/proc_parse.h"
#include "procfs/read_file.h"
#include "util/error.h"
#include "util/fd.h"

namespace memsight::deep {
namespace {

bool contains(const std::vector<std::string>& v, std::string_view s)
{
    return std::find(v.begin(), v.end(), s) != v.end();
}

// errno text for a file read_file() could not read (it reports only success or failure).
std::string read_error_text(const std::string& path)
{
    util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return std::strerror(errno);
    char c = 0;
    if (::read(fd.get(), &c, 1) < 0)
        return std::strerror(errno);
    return "read failed";
}

// One mapped file: all maps lines with the same device, inode and path.
struct MappedFile {
    MapEntry first;          // the lowest mapping (its start-end names the map_files link)
    bool executable = false; // some mapping is executable: only those can hold probed code
};

std::vector<MappedFile> mapped_files(const std::vector<MapEntry>& entries)
{
    std::vector<MappedFile> files;
    std::map<std::tuple<unsigned, unsigned, uint64_t, std::string>, size_t> index;
    for (const auto& e : entries) {
        if (e.inode == 0 || e.path.empty() || e.path.front() != '/')
            continue; // anonymous, [heap], [vdso], ...
        const auto key = std::make_tuple(e.dev_major, e.dev_minor, e.inode, e.path);
        const auto [it, inserted] = index.emplace(key, files.size());
        if (inserted)
            files.push_back(MappedFile{e, false});
        files[it->second].executable |= e.executable();
    }
    return files;
}

std::string strip_deleted(const MapEntry& e)
{
    constexpr std::string_view suffix = " (deleted)";
    return e.deleted ? e.path.substr(0, e.path.size() - suffix.size()) : e.path;
}

bool is_musl(const std::string& soname, const std::string& path)
{
    const std::string base = std::filesystem::path(path).filename().string();
    return soname.starts_with("libc.musl") || base.starts_with("ld-musl-");
}

bool is_allocator_kind(const std::string& kind)
{
    return kind == "glibc" || kind == "jemalloc" || kind == "tcmalloc" || kind == "mimalloc" || kind == "musl" ||
           kind == "static";
}

std::string classify(const AllocatorObject& o)
{
    const bool has_malloc = o.defines("malloc");
    if (o.is_executable && has_malloc)
        return "static";
    for (const auto& h : kHooks) { // the first marker in table order decides
        if (h.kind == HookKind::Marker && contains(o.markers, h.symbol))
            return std::string(h.allocator);
    }
    if (has_malloc && o.soname == "libc.so.6")
        return "glibc";
    if (has_malloc && is_musl(o.soname, o.path))
        return "musl";
    if (o.soname.starts_with("libstdc++.so"))
        return "libstdc++";
    return "other";
}

// Approximate position in the dynamic linker's symbol search order for malloc: the executable,
// then replacement allocators (normally LD_PRELOADed or linked before libc), then any other
// non-libc object defining malloc (interposers such as libasan are also loaded before libc, which
// is always the last DT_NEEDED), then libc. Objects not defining malloc come after all of those.
int resolution_rank(const AllocatorObject& o)
{
    if (!o.defines("malloc"))
        return 4;
    if (o.kind == "static")
        return 0;
    if (o.kind == "jemalloc" || o.kind == "tcmalloc" || o.kind == "mimalloc")
        return 1;
    if (o.kind == "glibc" || o.kind == "musl")
        return 3;
    return 2;
}

} // namespace

// A path the agent can open for `m`, preferring <root>/PID/root/<path> (works across mount
// namespaces) when it is still the mapped inode, else <root>/PID/map_files/<start>-<end>, a magic
// link to the mapped file itself (works for deleted or replaced files, e.g. a libc upgraded under
// a running process; needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE). The kernel follows it when a
// uprobe is attached by path. nullopt (with `why`) when neither is reachable.
std::optional<HostFile> host_file(const std::string& base, const MapEntry& m, std::string* why)
{
    HostFile in_root{base + "/root" + strip_deleted(m)};
    int root_errno = 0;
    const bool root_ok = !m.deleted && ::stat(in_root.path.c_str(), &in_root.st) == 0;
    if (!root_ok)
        root_errno = m.deleted ? ENOENT : errno;
    if (root_ok && in_root.st.st_ino == m.inode)
        return in_root;

    std::array<char, 64> range{};
    std::snprintf(range.data(), range.size(), "%" PRIx64 "-%" PRIx64, m.start, m.end);
    HostFile mapped{base + "/map_files/" + range.data()};
    if (::stat(mapped.path.c_str(), &mapped.st) == 0)
        return mapped;
    const int mapped_errno = errno;
    // Inode differs from maps but the path exists (e.g. overlayfs reports the lower inode in maps):
    // the file at the path is the best we have.
    if (root_ok)
        return in_root;
    *why = "cannot open " + m.path + ": " + in_root.path + ": " + std::strerror(root_errno) + "; " + mapped.path +
           ": " + std::strerror(mapped_errno);
    if (root_errno == EACCES || root_errno == EPERM || mapped_errno == EACCES || mapped_errno == EPERM)
        *why += " (another user's files through /proc/PID/root need CAP_SYS_PTRACE)";
    return std::nullopt;
}

bool AllocatorObject::defines(std::string_view name) const
{
    return std::any_of(symbols.begin(), symbols.end(), [&](const ProbeSymbol& s) { return s.name == name; });
}

const std::vector<std::string>& hook_names(HookKind kind)
{
    static const auto by_kind = [] {
        std::map<HookKind, std::vector<std::string>> m;
        for (const auto& h : kHooks)
            m[h.kind].emplace_back(h.symbol);
        return m;
    }();
    static const std::vector<std::string> none;
    const auto it = by_kind.find(kind);
    return it == by_kind.end() ? none : it->second;
}

const std::vector<std::string>& all_probe_names()
{
    static const std::vector<std::string> names = [] {
        std::vector<std::string> all;
        for (const auto& h : kHooks)
            all.emplace_back(h.symbol);
        return all;
    }();
    return names;
}

ProcessAllocators detect_allocators(pid_t pid, const std::string& proc_root)
{
    const std::string pid_text = std::to_string(pid);
    const std::string base = proc_root + "/" + pid_text;
    struct stat st {};
    if (pid <= 0 || ::stat(base.c_str(), &st) != 0)
        throw UserError("no such process: " + pid_text);

    const std::string maps_path = base + "/maps";
    const auto maps_text = procfs::read_file(maps_path);
    if (!maps_text)
        throw UserError("cannot read " + maps_path + ": " + read_error_text(maps_path));
    const auto entries = parse_maps(*maps_text);
    if (entries.empty()) {
        if (::stat(base.c_str(), &st) != 0)
            throw UserError("no such process: " + pid_text);
        const auto stat_text = procfs::read_file(base + "/stat");
        const auto stat = stat_text ? procfs::parse_stat(*stat_text) : std::nullopt;
        if (stat && stat->state == 'Z')
            throw UserError("pid " + pid_text + " is a zombie (exited, not yet reaped): nothing to trace");
        throw UserError("pid " + pid_text + " is a kernel thread: nothing to trace");
    }

    ProcessAllocators result;
    result.pid = pid;
    std::error_code ec;
    result.exe = std::filesystem::read_symlink(base + "/exe", ec).string();

    const auto files = mapped_files(entries);
    const MappedFile* exe_file = nullptr;
    for (const auto& f : files) {
        if (f.first.path == result.exe) {
            exe_file = &f;
            break;
        }
    }
    if (exe_file == nullptr && result.exe.empty() && !files.empty()) {
        exe_file = &files.front(); // exe link unreadable: the lowest file mapping is normally the program
        result.exe = exe_file->first.path;
    }

    std::vector<AllocatorObject> objects;
    std::set<std::pair<uint64_t, uint64_t>> seen; // (st_dev, st_ino) on the host
    for (const auto& f : files) {
        const bool is_exe = &f == exe_file;
        if (!f.executable && !is_exe)
            continue;
        std::string why;
        const auto host = host_file(base, f.first, &why);
        if (!host) {
            result.warnings.push_back(why);
            continue;
        }
        if (!seen.emplace(host->st.st_dev, host->st.st_ino).second)
            continue;
        ElfFile::OpenStatus status{};
        auto elf = ElfFile::open(host->path, &why, &status);
        if (!elf) {
            result.warnings.push_back(why);
            continue;
        }
        if (is_exe) {
            std::string reason;
            result.is_go = is_go_binary(host->path, &reason);
            result.go_reason = reason;
        }

        AllocatorObject o;
        o.path = f.first.path;
        o.host_path = host->path;
        o.dev = host->st.st_dev;
        o.ino = host->st.st_ino;
        o.map_dev_major = f.first.dev_major;
        o.map_dev_minor = f.first.dev_minor;
        o.map_inode = f.first.inode;
        o.is_executable = is_exe;
        o.deleted = f.first.deleted;
        o.soname = elf->soname();
        for (auto& s : elf->find_symbols(all_probe_names())) {
            if (find_hook(s.name)->kind == HookKind::Marker)
                o.markers.push_back(s.name);
            else
                o.symbols.push_back(std::move(s));
        }
        if (o.symbols.empty() && o.markers.empty())
            continue;
        o.kind = classify(o);
        if (is_allocator_kind(o.kind)) {
            for (const auto& name : hook_names(HookKind::MallocFamily))
                if (!o.defines(name))
                    o.missing.push_back(name);
        }
        objects.push_back(std::move(o));
    }
    if (exe_file == nullptr) {
        // The exe link's target is not among the mappings (unusual path formatting): the magic link
        // still opens the program itself.
        try {
            std::string reason;
            result.is_go = is_go_binary(base + "/exe", &reason);
            result.go_reason = reason;
        } catch (const UserError& e) {
            result.warnings.push_back(std::string("cannot check for a Go binary: ") + e.what());
        }
    }
    // A process that vanished mid-scan leaves unreadable files behind: say so instead of "no allocator".
    if (::stat(base.c_str(), &st) != 0)
        throw UserError("process " + pid_text + " exited during allocator detection");

    std::stable_sort(objects.begin(), objects.end(), [](const AllocatorObject& a, const AllocatorObject& b) {
        return resolution_rank(a) < resolution_rank(b);
    });
    if (!objects.empty() && objects.front().defines("malloc"))
        result.active = objects.front().kind;
    result.objects = std::move(objects);
    return result;
}

} // namespace memsight::deep
