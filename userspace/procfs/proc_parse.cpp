#include "procfs/proc_parse.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

namespace memsight::procfs {
namespace {

// The whole of `s` must be a decimal integer of type T.
template <typename T> std::optional<T> parse_int(std::string_view s)
{
    T value{};
    const char* end = s.data() + s.size();
    const auto [ptr, ec] = std::from_chars(s.data(), end, value);
    if (s.empty() || ec != std::errc{} || ptr != end)
        return std::nullopt;
    return value;
}

bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// ---- /proc/PID/status ----

// "   1616 kB" -> 1654784 bytes; a bare number is taken as is.
std::optional<uint64_t> parse_kb(std::string_view value)
{
    const auto parts = text::split_ws(text::trim(value));
    if (parts.empty() || parts.size() > 2)
        return std::nullopt;
    const auto n = text::parse_u64(parts[0]);
    if (!n)
        return std::nullopt;
    if (parts.size() == 1)
        return n;
    if (parts[1] != "kB" || *n > std::numeric_limits<uint64_t>::max() / 1024)
        return std::nullopt;
    return *n * 1024;
}

// "0\t0\t0\t0" -> the first number (the real id).
std::optional<uint32_t> parse_first_id(std::string_view value)
{
    const auto parts = text::split_ws(text::trim(value));
    if (parts.empty())
        return std::nullopt;
    return parse_int<uint32_t>(parts[0]);
}

struct KbField {
    std::string_view key;
    uint64_t ProcStatus::*member;
};
constexpr std::array kKbFields{
    KbField{"RssAnon", &ProcStatus::rss_anon},   KbField{"RssFile", &ProcStatus::rss_file},
    KbField{"RssShmem", &ProcStatus::rss_shmem}, KbField{"VmRSS", &ProcStatus::vm_rss},
    KbField{"VmHWM", &ProcStatus::vm_hwm},       KbField{"VmSwap", &ProcStatus::vm_swap},
};

// Applies one "Key:\tvalue" line; false when a known key has a malformed value.
bool apply_status_field(ProcStatus& st, std::string_view key, std::string_view value)
{
    if (key == "Name") {
        st.name = std::string(value.substr(std::min(value.find_first_not_of('\t'), value.size())));
        return true;
    }
    if (key == "Tgid" || key == "PPid") {
        const auto pid = parse_int<pid_t>(text::trim(value));
        if (!pid)
            return false;
        (key == "Tgid" ? st.tgid : st.ppid) = *pid;
        return true;
    }
    if (key == "Uid") {
        const auto uid = parse_first_id(value);
        if (uid)
            st.uid = *uid;
        return uid.has_value();
    }
    for (const auto& field : kKbFields) {
        if (key != field.key)
            continue;
        const auto bytes = parse_kb(value);
        if (bytes)
            st.*field.member = *bytes;
        return bytes.has_value();
    }
    return true; // a field we do not use
}

// ---- /proc/PID/cgroup ----

std::optional<CgroupLine> parse_cgroup_line(std::string_view line)
{
    const auto c1 = line.find(':');
    if (c1 == std::string_view::npos)
        return std::nullopt;
    const auto c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos)
        return std::nullopt;
    const auto hierarchy = parse_int<int>(line.substr(0, c1));
    if (!hierarchy || *hierarchy < 0)
        return std::nullopt;
    CgroupLine out;
    out.hierarchy = *hierarchy;
    const auto controllers = line.substr(c1 + 1, c2 - c1 - 1);
    if (!controllers.empty()) {
        for (const auto c : text::split(controllers, ','))
            out.controllers.emplace_back(c);
    }
    out.path = std::string(line.substr(c2 + 1));
    return out;
}

} // namespace

// ---- text helpers ----

namespace text {

std::string_view trim(std::string_view s)
{
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_space(s.back()))
        s.remove_suffix(1);
    return s;
}

std::optional<uint64_t> parse_u64(std::string_view s)
{
    return parse_int<uint64_t>(s);
}

std::vector<std::string_view> split(std::string_view s, char sep)
{
    std::vector<std::string_view> out;
    for (;;) {
        const auto pos = s.find(sep);
        out.push_back(s.substr(0, pos));
        if (pos == std::string_view::npos)
            return out;
        s.remove_prefix(pos + 1);
    }
}

std::vector<std::string_view> split_ws(std::string_view s)
{
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
            ++i;
        const size_t start = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t')
            ++i;
        if (i > start)
            out.push_back(s.substr(start, i - start));
    }
    return out;
}

} // namespace text

// ---- public parsers ----

std::optional<ProcStatus> parse_status(std::string_view text)
{
    ProcStatus st;
    bool seen_name = false;
    bool seen_tgid = false;
    bool seen_rss = false;
    for (const auto line : text::split(text, '\n')) {
        const auto colon = line.find(':');
        if (colon == std::string_view::npos)
            continue;
        const auto key = line.substr(0, colon);
        if (!apply_status_field(st, key, line.substr(colon + 1)))
            return std::nullopt;
        seen_name = seen_name || key == "Name";
        seen_tgid = seen_tgid || key == "Tgid";
        seen_rss = seen_rss || key == "VmRSS";
    }
    if (!seen_name || !seen_tgid)
        return std::nullopt;
    st.kernel_thread = !seen_rss;
    return st;
}

std::optional<ProcStat> parse_stat(std::string_view text)
{
    const auto open = text.find('(');
    const auto close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
        return std::nullopt;
    }
    const auto pid = parse_int<pid_t>(text::trim(text.substr(0, open)));
    // fields[0] is proc(5) field 3 (state): field N is fields[N - 3].
    const auto fields = text::split_ws(text::trim(text.substr(close + 1)));
    if (!pid || fields.size() < 20 || fields[0].size() != 1)
        return std::nullopt;
    const auto field = [&fields](size_t n) { return text::parse_u64(fields[n - 3]); };
    const auto ppid = parse_int<pid_t>(fields[4 - 3]);
    const auto minflt = field(10);
    const auto majflt = field(12);
    const auto utime = field(14);
    const auto stime = field(15);
    const auto start = field(22);
    if (!ppid || !minflt || !majflt || !utime || !stime || !start)
        return std::nullopt;

    ProcStat st;
    st.pid = *pid;
    st.comm = std::string(text.substr(open + 1, close - open - 1));
    st.state = fields[0][0];
    st.ppid = *ppid;
    st.minflt = *minflt;
    st.majflt = *majflt;
    st.utime_ticks = *utime;
    st.stime_ticks = *stime;
    st.starttime_ticks = *start;
    return st;
}

std::vector<CgroupLine> parse_proc_cgroup(std::string_view text)
{
    std::vector<CgroupLine> out;
    for (const auto line : text::split(text, '\n')) {
        if (line.empty())
            continue;
        if (auto parsed = parse_cgroup_line(line))
            out.push_back(std::move(*parsed));
    }
    return out;
}

namespace {

std::string& namespace_root()
{
    static std::string root = "/";
    return root;
}

std::optional<std::string> resolved(const std::string& path)
{
    const std::string& root = namespace_root();
    if (root == "/")
        return path;
    return normalize_cgroup_path(root + "/" + path);
}

} // namespace

void set_cgroup_namespace_root(std::string root)
{
    namespace_root() = std::move(root);
}

const std::string& cgroup_namespace_root()
{
    return namespace_root();
}

std::optional<std::string> normalize_cgroup_path(std::string_view path)
{
    std::vector<std::string_view> parts;
    for (const auto part : text::split(path, '/')) {
        if (part.empty() || part == ".")
            continue;
        if (part == "..") {
            if (parts.empty())
                return std::nullopt;
            parts.pop_back();
        } else {
            parts.push_back(part);
        }
    }
    std::string out;
    for (const auto part : parts)
        out.append("/").append(part);
    return out.empty() ? "/" : out;
}

std::optional<std::string> memory_cgroup_path(const std::vector<CgroupLine>& lines)
{
    for (const auto& line : lines) {
        if (std::find(line.controllers.begin(), line.controllers.end(), "memory") != line.controllers.end()) {
            return resolved(line.path);
        }
    }
    for (const auto& line : lines) {
        if (line.hierarchy == 0 && line.controllers.empty())
            return resolved(line.path);
    }
    return std::nullopt;
}

} // namespace memsight::procfs
