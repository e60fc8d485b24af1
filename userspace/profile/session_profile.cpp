#include "profile/session_profile.h"

#include "util/error.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <tuple>

namespace memsight::profile {
namespace {

constexpr std::string_view kPrefix = "memsight-";
constexpr std::string_view kSuffix = "Z.pb.gz";

int64_t rounded(double v)
{
    return static_cast<int64_t>(std::llround(v));
}

bool safe_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

std::chrono::system_clock::time_point mtime_of(const struct stat& st)
{
    return std::chrono::system_clock::time_point{std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec))};
}

} // namespace

std::vector<profile::Sample> profile_samples(const std::vector<deep::SiteReport>& sites)
{
    std::vector<profile::Sample> samples;
    samples.reserve(sites.size());
    for (const auto& s : sites) {
        profile::Sample p;
        for (const auto& f : s.frames)
            p.stack.push_back({f.function, f.module, f.address, f.module_offset});
        p.alloc_objects = rounded(s.alloc_count);
        p.alloc_space = rounded(s.alloc_bytes);
        p.inuse_objects = rounded(s.live_count);
        p.inuse_space = rounded(s.live_bytes);
        samples.push_back(std::move(p));
    }
    return samples;
}

std::string session_pprof(const deep::Session& session, const std::vector<deep::SiteReport>& sites,
                          std::chrono::system_clock::time_point started, double elapsed_s, const std::string& note)
{
    profile::ProfileMeta meta;
    meta.time_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(started.time_since_epoch()).count();
    meta.duration_nanos = static_cast<int64_t>(elapsed_s * 1e9);
    meta.sample_period = static_cast<int64_t>(session.sample_bytes());
    meta.comment = "memsight deep tier";
    for (const auto& t : session.targets()) {
        if (t.refused)
            continue;
        meta.comment += ", pid " + std::to_string(t.pid) + " (" + t.comm + "), " + t.active;
    }
    if (!note.empty())
        meta.comment += "; " + note;
    return profile::to_pprof_gz(profile_samples(sites), meta);
}

std::string file_stamp(std::chrono::system_clock::time_point t)
{
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const time_t secs = static_cast<time_t>(ms / 1000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char stamp[40];
    std::snprintf(stamp, sizeof(stamp), "%04d%02d%02dT%02d%02d%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    return stamp;
}

bool is_file_stamp(std::string_view s)
{
    if (s.size() != 8 + 1 + 6 + 1 + 3)
        return false;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool ok = i == 8 ? c == 'T' : i == 15 ? c == '.' : (c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

std::string profile_file_name(const std::string& comm, pid_t pid, std::chrono::system_clock::time_point when)
{
    std::string safe;
    for (char c : comm)
        safe += safe_char(c) ? c : '_';
    if (safe.empty())
        safe.push_back('_');
    return std::string(kPrefix) + safe + "-" + std::to_string(pid) + "-" + file_stamp(when) + std::string(kSuffix);
}

bool is_profile_file_name(const std::string& name)
{
    // memsight-<comm>-<pid>-<8 digits>T<6 digits>.<3 digits>Z.pb.gz; comm may itself contain '-'.
    constexpr size_t kStamp = 8 + 1 + 6 + 1 + 3;
    if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix))
        return false;
    if (name.size() < kPrefix.size() + 1 + 1 + 1 + 1 + kStamp + kSuffix.size())
        return false;
    const size_t stamp_at = name.size() - kSuffix.size() - kStamp;
    if (!is_file_stamp(std::string_view(name).substr(stamp_at, kStamp)))
        return false;
    if (name[stamp_at - 1] != '-')
        return false;
    const std::string head = name.substr(kPrefix.size(), stamp_at - 1 - kPrefix.size()); // "<comm>-<pid>"
    const size_t dash = head.rfind('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == head.size())
        return false;
    for (size_t i = dash + 1; i < head.size(); ++i)
        if (head[i] < '0' || head[i] > '9')
            return false;
    return std::all_of(head.begin(), head.begin() + static_cast<std::ptrdiff_t>(dash), safe_char);
}

std::vector<std::string> profiles_of_process(const std::string& dir, const std::string& comm, pid_t pid,
                                             std::chrono::system_clock::time_point since)
{
    // The name for (comm, pid) at `since`: names of that process compare with it by their time stamp alone.
    const std::string first = profile_file_name(comm, pid, since);
    const std::string prefix = first.substr(0, first.size() - kSuffix.size() - (8 + 1 + 6 + 1 + 3));
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (const dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name.size() == first.size() && name.starts_with(prefix) && is_profile_file_name(name) && name >= first)
                names.push_back(name);
        }
        ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    for (auto& n : names)
        n = dir + "/" + n;
    return names;
}

void prepare_profile_dir(const std::string& dir)
{
    prepare_output_dir(dir, "profile");
}

void prepare_output_dir(const std::string& dir, const std::string& what)
{
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
        throw UserError(dir + ": cannot create the " + what + " directory: " + ec.message());
    // A probe file proves that files can be written (a read-only root file system would fail only later).
    const std::string probe = dir + "/.memsight-write-test";
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        throw UserError(dir + ": cannot write " + what + "s there: " + std::strerror(errno));
    ::close(fd);
    ::unlink(probe.c_str());
}

std::string write_profile_file(const std::string& dir, const std::string& name, const std::string& data)
{
    const std::string path = dir + "/" + name;
    // A leading dot keeps the temporary out of is_profile_file_name (and of most viewers' globs).
    const std::string tmp = dir + "/." + name + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        throw UserError("cannot write " + tmp + ": " + std::strerror(errno));
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw UserError("cannot write " + tmp + ": " + std::strerror(err));
        }
        done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw UserError("cannot write " + path + ": " + std::strerror(err));
    }
    return path;
}

std::vector<std::string> apply_retention(const std::string& dir, size_t max_files, std::chrono::seconds max_age,
                                         std::chrono::system_clock::time_point now, bool (*owned)(const std::string&))
{
    struct File {
        std::chrono::system_clock::time_point mtime;
        std::string name;
    };
    std::vector<File> files;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (const dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (!owned(name))
                continue;
            struct stat st {};
            if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
                continue;
            files.push_back({mtime_of(st), name});
        }
        ::closedir(d);
    }
    std::sort(files.begin(), files.end(),
              [](const File& a, const File& b) { return std::tie(a.mtime, a.name) < std::tie(b.mtime, b.name); });
    std::vector<std::string> removed;
    size_t left = files.size();
    for (const auto& f : files) {
        const bool too_old = now - f.mtime > max_age;
        const bool too_many = left > max_files;
        if (!too_old && !too_many)
            break; // sorted oldest first: the rest are newer and within the count
        if (::unlink((dir + "/" + f.name).c_str()) == 0 || errno == ENOENT) {
            removed.push_back(f.name);
            --left;
        }
    }
    return removed;
}

} // namespace memsight::profile
