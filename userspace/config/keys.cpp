// The configuration keys: one row each. Loading (config.cpp), validate(), defaults_for(), the embedded default
#include "util/error.h"
// file and docs/configuration.md's key table (render.cpp) are derived from this table; see keys.h.
#include "config/keys.h"
#include "util/listen_address.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>

namespace memsight::config {

namespace {

using namespace std::chrono_literals;

std::string shown_number(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", v);
    return buf;
}

// ---- Checks of one key's value that a kind's range cannot express. Each returns the message without the key.

Problem check_metrics_path(std::string_view s)
{
    if (s.empty() || s.front() != '/')
        return "must start with '/', got " + quoted(s);
    for (unsigned char ch : s)
        if (ch <= ' ' || ch == 0x7f)
            return "must not contain spaces or control characters, got " + quoted(s);
    if (s == "/healthz" || s == "/readyz")
        return quoted(s) + " is the agent's health probe; choose another path";
    if (s == "/oom")
        return quoted(s) + " serves the agent's OOM forensic records; choose another path";
    return std::nullopt;
}

// The one ADDR:PORT parser (util/listen_address.h); a host name must resolve now, not at bind time.
Problem check_listen(std::string_view s)
{
    auto r = util::resolve_listen(s);
    if (auto* problem = std::get_if<std::string>(&r))
        return *problem;
    return std::nullopt;
}

Problem check_budget(double v)
{
    if (!(v >= 0 && v <= limits::kMaxOverheadBudget))
        return "must be between 0 and 1 (0% and 100%; 0 = no limit), got " + shown_number(v);
    return std::nullopt;
}

Problem check_threshold(double v)
{
    if (!(v > 0 && v <= 1))
        return "must be greater than 0 and at most 1, got " + shown_number(v);
    return std::nullopt;
}

Problem check_profile_dir(std::string_view s)
{
    if (s.empty())
        return std::nullopt; // no profile files
    if (s.front() != '/')
        return "must be an absolute path (or empty: write no profiles), got " + quoted(s);
    for (unsigned char ch : s)
        if (ch < ' ' || ch == 0x7f)
            return "must not contain control characters, got " + quoted(s);
    return std::nullopt;
}

Problem check_forensics_dir(std::string_view s)
{
    if (s.empty())
        return std::nullopt; // no records
    if (s.front() != '/')
        return "must be an absolute path (or empty: write no records), got " + quoted(s);
    for (unsigned char ch : s)
        if (ch < ' ' || ch == 0x7f)
            return "must not contain control characters, got " + quoted(s);
    return std::nullopt;
}

Problem check_web_config(std::string_view s)
{
    if (s.empty())
        return std::nullopt; // plain HTTP, no authentication
    if (s.front() != '/')
        return "must be an absolute path (or empty: plain HTTP, no authentication), got " + quoted(s);
    for (unsigned char ch : s)
        if (ch < ' ' || ch == 0x7f)
            return "must not contain control characters, got " + quoted(s);
    return std::nullopt;
}

Problem check_comm_entry(std::string_view s)
{
    if (s.empty())
        return "entries must be non-empty command names or globs like java or python*";
    return std::nullopt;
}

Problem check_cgroup_entry(std::string_view s)
{
    if (!s.empty() && s.front() == '/')
        return std::nullopt;
    const bool hex = std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
    if (!hex || s.size() < 12 || s.size() > 64)
        return "entries must be a cgroup path starting with '/' or a container id of 12 to 64 hex digits, got " +
               quoted(s);
    return std::nullopt;
}

constexpr std::array<std::string_view, 3> kProfiles{"dev", "staging", "prod"};
constexpr std::array<std::string_view, 6> kLogLevels{"trace", "debug", "info", "warn", "error", "off"};

// A reference to a member of Config, e.g. MEMSIGHT_CONFIG_FIELD(escalation.threshold).
#define MEMSIGHT_CONFIG_FIELD(member)                                                                                  \
    +[](Config & c) -> auto&                                                                                           \
    {                                                                                                                  \
        return c.member;                                                                                               \
    }

// ---- THE TABLE. Order = order in the default file, the docs and the "known:" lists of error messages.
// Defaults are YAML text per profile: {prod, staging, dev}, or same(v) for all three.
constexpr KeySpec kKeys[] = {
    {.path = "profile",
     .kind = Kind::Profile,
     .field = MEMSIGHT_CONFIG_FIELD(profile),
     .choices = kProfiles,
     .expected = "dev, staging or prod",
     .defaults = {"prod", "staging", "dev"},
     .doc = "Which defaults to start from. Applied before every other key, wherever it appears in the file."},
    {.path = "listen",
     .kind = Kind::Text,
     .field = MEMSIGHT_CONFIG_FIELD(listen),
     .check_text = check_listen,
     .expected = "ADDR:PORT",
     .values = "`ADDR:PORT`, port 1..65535; a host name must resolve at start-up",
     .defaults = same("127.0.0.1:9756"),
     .doc = "Prometheus endpoint (and /healthz, /readyz). The agent listens on each IPv4 address a host name "
            "resolves to; 0.0.0.0:9756 exposes the endpoint on every IPv4 address (e.g. in a DaemonSet)."},
    {.path = "metrics_path",
     .kind = Kind::Text,
     .field = MEMSIGHT_CONFIG_FIELD(metrics_path),
     .check_text = check_metrics_path,
     .expected = "a path like /metrics",
     .values = "starts with `/`, no spaces or control characters, not `/healthz`, `/readyz` or `/oom`",
     .defaults = same("/metrics"),
     .doc = "HTTP path of the metrics endpoint."},
    {.path = "web_config",
     .kind = Kind::Text,
     .field = MEMSIGHT_CONFIG_FIELD(web_config),
     .check_text = check_web_config,
     .expected = "a file path",
     .values = "an absolute path, or `\"\"` (none)",
     .defaults = same("\"\""),
     .doc = "Web config file (Prometheus exporter-toolkit format): TLS and basic authentication of the endpoint, "
            "see security.md. `--web-config` overrides it."},
    {.path = "interval",
     .kind = Kind::Duration,
     .field = MEMSIGHT_CONFIG_FIELD(interval),
     .min_duration = limits::kMinInterval,
     .max_duration = limits::kMaxInterval,
     .defaults = {"10s", "5s", "2s"},
     .doc = "How often /proc and cgroupfs are read (RSS, swap, memcg readings)."},
    {.path = "log_level",
     .kind = Kind::Choice,
     .field = MEMSIGHT_CONFIG_FIELD(log_level),
     .choices = kLogLevels,
     .expected = "a log level",
     .defaults = same("info"),
     .doc = "Agent log verbosity."},

    {.path = "processes.top_by_rss",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(top_processes_by_rss),
     .max = limits::kMaxTopProcesses,
     .values = "; 0 = none",
     .defaults = {"20", "30", "50"},
     .doc = "Per-process series for this many processes with the largest RSS."},
    {.path = "processes.top_by_growth",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(top_processes_by_growth),
     .max = limits::kMaxTopProcesses,
     .values = "; 0 = none",
     .defaults = {"10", "10", "20"},
     .doc = "Per-process series for this many processes with the fastest RSS growth over growth_window."},
    {.path = "processes.growth_window",
     .kind = Kind::Duration,
     .field = MEMSIGHT_CONFIG_FIELD(growth_window),
     .min_duration = limits::kMinInterval,
     .max_duration = limits::kMaxGrowthWindow,
     .values = ", and at least `interval`",
     .defaults = {"5m", "5m", "2m"},
     .doc = "Window over which growth is measured. Leak suspicion needs at least 60 s of readings."},

    {.path = "exit_peaks.top",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(exit_peaks_top),
     .max = limits::kMaxExitPeaksTop,
     .defaults = same("10"),
     .doc = "Number of exits exported."},
    {.path = "exit_peaks.window",
     .kind = Kind::Duration,
     .field = MEMSIGHT_CONFIG_FIELD(exit_peaks_window),
     .min_duration = limits::kMinExitPeaksWindow,
     .max_duration = limits::kMaxExitPeaksWindow,
     .defaults = {"5m", "5m", "1m"},
     .doc = "Look-back window."},

    {.path = "growth_sites.processes",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(growth_site_processes),
     .max = limits::kMaxGrowthSiteProcesses,
     .values = "; 0 = none",
     .defaults = {"5", "5", "10"},
     .doc = "Processes whose growth sites are exported: the most suspected of leaking, then the fastest-growing "
            "(only processes that grow or are suspected)."},
    {.path = "growth_sites.containers",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(growth_site_containers),
     .max = limits::kMaxGrowthSiteProcesses,
     .values = "; 0 = none",
     .defaults = {"5", "5", "10"},
     .doc = "Containers whose growth sites (their processes' sites added up) are exported, chosen the same way."},
    {.path = "growth_sites.top",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(growth_sites_top),
     .min = 1,
     .max = limits::kMaxGrowthSitesTop,
     .defaults = same("3"),
     .doc = "Sites exported per process or container, the most bytes faulted in over growth_window first."},

    {.path = "oom.max_series",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(max_oom_series),
     .min = limits::kMinOomSeries,
     .max = limits::kMaxOomSeries,
     .defaults = same("500"),
     .doc = "Distinct (comm, container) OOM-kill counters; further ones fold into comm=\"_other_\"."},
    {.path = "oom.forensics_dir",
     .kind = Kind::Text,
     .field = MEMSIGHT_CONFIG_FIELD(oom_forensics_dir),
     .check_text = check_forensics_dir,
     .expected = "a directory path",
     .values = "an absolute path, or `\"\"` (write no records)",
     .defaults = same("/var/lib/memsight/oom"),
     .doc = "Directory of the OOM forensic records, one JSON file per kill, served at GET /oom (created if "
            "missing; when it cannot be, the agent runs without records)."},
    {.path = "oom.forensics_max_files",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(oom_forensics_max_files),
     .min = 1,
     .max = limits::kMaxRetentionFiles,
     .defaults = same("100"),
     .doc = "At most this many OOM records are kept; the oldest are removed first."},
    {.path = "oom.forensics_max_age",
     .kind = Kind::Duration,
     .field = MEMSIGHT_CONFIG_FIELD(oom_forensics_max_age),
     .min_duration = limits::kMinRetentionAge,
     .max_duration = limits::kMaxRetentionAge,
     .values = " (366 days)",
     .defaults = same("168h"),
     .doc = "OOM records older than this are removed."},

    {.path = "kernel.ringbuf_bytes",
     .kind = Kind::PowerOfTwo,
     .field = MEMSIGHT_CONFIG_FIELD(ringbuf_bytes),
     .min = limits::kMinRingbufBytes,
     .max = limits::kMaxRingbufBytes,
     .values = " (4 KiB..1 GiB)",
     .defaults = same("1048576"),
     .doc = "Size of the shared BPF ring buffer for rare events (OOM, exit, samples), in bytes."},
    {.path = "kernel.page_faults.enabled",
     .kind = Kind::Bool,
     .field = MEMSIGHT_CONFIG_FIELD(page_faults_enabled),
     .defaults = same("true"),
     .doc = "Turn the page-fault sampler on or off."},
    {.path = "kernel.page_faults.sample_period",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(page_fault_sample_period),
     .max = limits::kMaxPageFaultSamplePeriod,
     .values = "; 0 = the built-in measured default (1000)",
     .defaults = same("0"),
     .doc = "Page faults per sample, per CPU."},
    {.path = "kernel.page_faults.stack_window",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(page_fault_stack_window),
     .max = limits::kMaxPageFaultStackWindow,
     .values = "; 0 = walk frame pointers in the kernel instead",
     .defaults = same("8192"),
     .doc = "Bytes of user stack copied at each sampled fault and unwound in the agent with the binaries' "
            "call-frame information, so that growth sites are named through glibc and other code without frame "
            "pointers. x86_64 raw tracepoint only; the perf-event fallback walks frame pointers."},

    {.path = "deep.sample_bytes",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(deep_sample_bytes),
     .min = 1,
     .max = limits::kMaxDeepSampleBytes,
     .values = "; 1 = every allocation",
     .defaults = same("65536"),
     .doc = "Mean bytes between sampled allocations (1 is exact, and costlier)."},
    {.path = "deep.top_sites",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(deep_top_sites),
     .min = 1,
     .max = limits::kMaxDeepTopSites,
     .defaults = same("5"),
     .doc = "Call sites exported per watched process, largest live bytes first."},
    {.path = "deep.max_duration",
     .kind = Kind::Duration,
     .field = MEMSIGHT_CONFIG_FIELD(deep_max_duration),
     .min_duration = limits::kMinDeepDuration,
     .max_duration = limits::kMaxDeepDuration,
     .defaults = same("10m"),
     .doc = "A session ends after this long (its series disappear)."},
    {.path = "deep.overhead_budget",
     .kind = Kind::Ratio,
     .field = MEMSIGHT_CONFIG_FIELD(deep_overhead_budget),
     .check_number = check_budget,
     .values = "`0`..`1` (`0%`..`100%`), e.g. `0.02` or `2%`; `0` = no limit",
     .defaults = {"2%", "5%", "10%"},
     .doc = "Overhead governor: a session is stopped when its probes take more than this fraction of the traced "
            "processes' CPU time (docs/escalation.md)."},

    {.path = "escalation.enabled",
     .kind = Kind::Bool,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.enabled),
     .defaults = same("true"),
     .doc = "Turn automatic escalation on or off."},
    {.path = "escalation.threshold",
     .kind = Kind::Number,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.threshold),
     .check_number = check_threshold,
     .expected = "a number like 0.8",
     .values = "greater than 0, at most 1 (e.g. `0.8`; no `%`)",
     .defaults = {"0.8", "0.7", "0.5"},
     .doc = "Leak suspicion (memsight_process_leak_suspicion) that starts a session."},
    {.path = "escalation.duration",
     .kind = Kind::Duration,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.duration),
     .min_duration = limits::kMinDeepDuration,
     .max_duration = limits::kMaxDeepDuration,
     .defaults = {"2m", "2m", "1m"},
     .doc = "Length of one escalated session."},
    {.path = "escalation.cooldown",
     .kind = Kind::Duration,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.cooldown),
     .min_duration = limits::kMinCooldown,
     .max_duration = limits::kMaxCooldown,
     .defaults = {"1h", "30m", "10m"},
     .doc = "No new session on the same process (pid and start time) for this long after one ended."},
    {.path = "escalation.max_concurrent",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.max_concurrent),
     .min = 1,
     .max = limits::kMaxConcurrentEscalations,
     .defaults = {"1", "2", "2"},
     .doc = "Escalated sessions running at once (sessions started with --deep-pid are not counted)."},
    {.path = "escalation.selector.include_comm",
     .kind = Kind::List,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.selector.include_comm),
     .check_text = check_comm_entry,
     .values = "non-empty `fnmatch(3)` globs on the command name",
     .defaults = same("[]"),
     .doc = "Command names (/proc/PID/comm) that may be escalated, globs like java or python*; empty = every one."},
    {.path = "escalation.selector.exclude_comm",
     .kind = Kind::List,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.selector.exclude_comm),
     .check_text = check_comm_entry,
     .values = "non-empty `fnmatch(3)` globs on the command name",
     .defaults = same("[]"),
     .doc = "Command names never escalated."},
    {.path = "escalation.selector.include_cgroup",
     .kind = Kind::List,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.selector.include_cgroup),
     .check_text = check_cgroup_entry,
     .values = "a cgroup path starting with `/`, or a container id of 12..64 hex digits",
     .defaults = same("[]"),
     .doc = "Memory-cgroup paths (that cgroup and below) or container ids that may be escalated; empty = every one."},
    {.path = "escalation.selector.exclude_cgroup",
     .kind = Kind::List,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.selector.exclude_cgroup),
     .check_text = check_cgroup_entry,
     .values = "a cgroup path starting with `/`, or a container id of 12..64 hex digits",
     .defaults = same("[]"),
     .doc = "Cgroups or containers never escalated."},
    {.path = "escalation.profile_dir",
     .kind = Kind::Text,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.profile_dir),
     .check_text = check_profile_dir,
     .expected = "a directory path",
     .values = "an absolute path, or `\"\"` (write no profiles)",
     .defaults = same("/var/lib/memsight/profiles"),
     .doc = "Directory of the pprof files written at each session's end (created if missing)."},
    {.path = "escalation.retention.max_files",
     .kind = Kind::Count,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.retention_max_files),
     .min = 1,
     .max = limits::kMaxRetentionFiles,
     .defaults = {"50", "50", "20"},
     .doc = "At most this many profile files are kept."},
    {.path = "escalation.retention.max_age",
     .kind = Kind::Duration,
     .field = MEMSIGHT_CONFIG_FIELD(escalation.retention_max_age),
     .min_duration = limits::kMinRetentionAge,
     .max_duration = limits::kMaxRetentionAge,
     .values = " (366 days)",
     .defaults = {"168h", "168h", "24h"},
     .doc = "None older than this is kept."},
};

#undef MEMSIGHT_CONFIG_FIELD

constexpr SectionSpec kSections[] = {
    {"processes", "Per-process series are exported only for the top-N processes, which bounds cardinality."},
    {"exit_peaks", "Peak RSS of short-lived processes: the largest `top` exits seen in the last `window`."},
    {"growth_sites", "Growth sites: the code that faults in new memory, from the sampled page-fault stacks "
                     "(kernel.page_faults), named by the first frame outside the allocator and libc."},
    {"oom",
     "OOM kills are counted per (comm, container); each kill also gets a forensic record (docs/oom-forensics.md)."},
    {"kernel", "Kernel-side (BPF) settings."},
    {"kernel.page_faults", "Sampled page-fault stacks (\"where new memory is being touched\")."},
    {"deep", "Deep-tier sessions the agent runs on request (memsight agent --deep-pid PID / --deep-cgroup ID) and by "
             "escalation: uprobes on the process's allocator, exported as memsight_heap_* per call site."},
    {"escalation", "Automatic escalation: a deep-tier session on a process whose leak suspicion crosses the "
                   "threshold, time-boxed, exported as memsight_heap_* and written as a pprof file at its end "
                   "(docs/escalation.md)."},
    {"escalation.selector", "Which processes may be escalated. Empty include lists allow every process; an exclude "
                            "match always wins."},
    {"escalation.retention", "Profile files kept in profile_dir; the oldest are removed first."},
};

// ---- Rows that cannot work do not compile.

template <typename T> constexpr bool holds(const KeySpec& k)
{
    return std::holds_alternative<Field<T>>(k.field);
}

constexpr bool field_fits_kind(const KeySpec& k)
{
    switch (k.kind) {
    case Kind::Profile:
        return holds<Profile>(k) && !k.choices.empty();
    case Kind::Choice:
        return holds<std::string>(k) && !k.choices.empty();
    case Kind::Text:
        return holds<std::string>(k) && k.check_text != nullptr;
    case Kind::Duration:
        return holds<Duration>(k) && k.min_duration <= k.max_duration;
    case Kind::Count:
    case Kind::PowerOfTwo:
        return k.min <= k.max && ((holds<uint32_t>(k) && k.max <= std::numeric_limits<uint32_t>::max()) ||
                                  (holds<uint64_t>(k) && k.max <= std::numeric_limits<int64_t>::max()));
    case Kind::Ratio:
    case Kind::Number:
        return holds<double>(k) && k.check_number != nullptr;
    case Kind::Bool:
        return holds<bool>(k);
    case Kind::List:
        return holds<std::vector<std::string>>(k) && k.check_text != nullptr;
    }
    return false;
}

constexpr bool needs_expected(Kind kind)
{
    return kind == Kind::Profile || kind == Kind::Choice || kind == Kind::Text || kind == Kind::Number;
}

constexpr bool has_section(std::string_view path)
{
    for (const SectionSpec& s : kSections)
        if (s.path == path)
            return true;
    return false;
}

constexpr bool in_section(std::string_view path, std::string_view section)
{
    return path.size() > section.size() && path.starts_with(section) && path[section.size()] == '.';
}

constexpr bool table_is_sound()
{
    for (size_t i = 0; i < std::size(kKeys); ++i) {
        const KeySpec& k = kKeys[i];
        if (k.path.empty() || k.doc.empty() || !field_fits_kind(k) || (needs_expected(k.kind) && k.expected.empty()))
            return false;
        if (k.defaults.prod.empty() || k.defaults.staging.empty() || k.defaults.dev.empty())
            return false;
        for (size_t j = 0; j < i; ++j)
            if (kKeys[j].path == k.path)
                return false; // a key twice
        // Every section a key is in has a row in kSections (its comment in the default file), and the keys of a
        // section are next to each other (the default file opens each section once).
        for (size_t dot = k.path.find('.'); dot != std::string_view::npos; dot = k.path.find('.', dot + 1)) {
            const std::string_view section = k.path.substr(0, dot);
            if (!has_section(section))
                return false;
            if (i > 0 && !in_section(kKeys[i - 1].path, section))
                for (size_t j = 0; j < i; ++j)
                    if (in_section(kKeys[j].path, section))
                        return false;
        }
    }
    return true;
}
static_assert(table_is_sound(), "a row of kKeys: kind/field mismatch, missing expected/doc/default, a duplicate "
                                "path, a section without a kSections row, or a section's keys not next to each other");

} // namespace

std::span<const KeySpec> key_specs()
{
    return kKeys;
}

std::span<const SectionSpec> section_specs()
{
    return kSections;
}

const KeySpec* find_key(std::string_view path)
{
    for (const KeySpec& k : kKeys)
        if (k.path == path)
            return &k;
    return nullptr;
}

std::vector<std::string_view> child_names(std::string_view section)
{
    std::vector<std::string_view> out;
    const size_t skip = section.empty() ? 0 : section.size() + 1;
    for (const KeySpec& k : kKeys) {
        if (!section.empty() && !(k.path.starts_with(section) && k.path.size() > skip && k.path[skip - 1] == '.'))
            continue;
        std::string_view rest = k.path.substr(skip);
        rest = rest.substr(0, rest.find('.'));
        if (std::find(out.begin(), out.end(), rest) == out.end())
            out.push_back(rest);
    }
    return out;
}

bool is_section(std::string_view path)
{
    for (const KeySpec& k : kKeys)
        if (k.path.size() > path.size() && k.path.starts_with(path) && k.path[path.size()] == '.')
            return true;
    return false;
}

namespace {

template <typename T> const T& value_of(const KeySpec& k, const Config& c)
{
    // The accessors take a Config&; this one only reads.
    return std::get<Field<T>>(k.field)(const_cast<Config&>(c));
}

std::string join_choices(std::span<const std::string_view> items)
{
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i != 0)
            out += ", ";
        out += items[i];
    }
    return out;
}

Problem check_range(uint64_t v, uint64_t lo, uint64_t hi)
{
    if (v < lo || v > hi)
        return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + std::to_string(v);
    return std::nullopt;
}

Problem check_power_of_two(const KeySpec& k, std::string shown, bool ok)
{
    if (!ok)
        return "must be a power of two between " + std::to_string(k.min) + " and " + std::to_string(k.max) + ", got " +
               shown;
    return std::nullopt;
}

bool power_of_two_in(const KeySpec& k, uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0 && v >= k.min && v <= k.max;
}

} // namespace

Problem check_integer(const KeySpec& k, int64_t v, std::string_view shown)
{
    if (k.kind == Kind::PowerOfTwo) {
        if (v < 0)
            return check_power_of_two(k, std::to_string(v), false);
        return check_power_of_two(k, std::to_string(v), power_of_two_in(k, static_cast<uint64_t>(v)));
    }
    if (v < 0 || static_cast<uint64_t>(v) < k.min || static_cast<uint64_t>(v) > k.max)
        return "must be between " + std::to_string(k.min) + " and " + std::to_string(k.max) + ", got " +
               std::string(shown);
    return std::nullopt;
}

Problem check_value(const KeySpec& k, const Config& c)
{
    switch (k.kind) {
    case Kind::Profile:
    case Kind::Bool:
        return std::nullopt;
    case Kind::Choice: {
        const std::string& s = value_of<std::string>(k, c);
        if (std::find(k.choices.begin(), k.choices.end(), s) == k.choices.end())
            return "must be one of " + join_choices(k.choices) + ", got " + quoted(s);
        return std::nullopt;
    }
    case Kind::Text:
        return k.check_text(value_of<std::string>(k, c));
    case Kind::Duration: {
        const Duration d = value_of<Duration>(k, c);
        if (d < k.min_duration || d > k.max_duration)
            return "must be between " + format_duration(k.min_duration) + " and " + format_duration(k.max_duration) +
                   ", got " + format_duration(d);
        return std::nullopt;
    }
    case Kind::Count:
    case Kind::PowerOfTwo: {
        const uint64_t v = holds<uint32_t>(k) ? value_of<uint32_t>(k, c) : value_of<uint64_t>(k, c);
        if (k.kind == Kind::PowerOfTwo)
            return check_power_of_two(k, std::to_string(v), power_of_two_in(k, v));
        return check_range(v, k.min, k.max);
    }
    case Kind::Ratio:
    case Kind::Number:
        return k.check_number(value_of<double>(k, c));
    case Kind::List: {
        const auto& list = value_of<std::vector<std::string>>(k, c);
        if (list.size() > limits::kMaxSelectorEntries)
            return "at most " + std::to_string(limits::kMaxSelectorEntries) + " entries, got " +
                   std::to_string(list.size());
        for (const auto& e : list)
            if (Problem p = k.check_text(e))
                return p;
        return std::nullopt;
    }
    }
    return std::nullopt;
}

std::string accepted_values(const KeySpec& k)
{
    std::string out;
    switch (k.kind) {
    case Kind::Profile:
    case Kind::Choice:
        for (std::string_view c : k.choices)
            out += (out.empty() ? "`" : ", `") + std::string(c) + "`";
        break;
    case Kind::Duration:
        out = format_duration(k.min_duration) + ".." + format_duration(k.max_duration);
        break;
    case Kind::Count:
        out = std::to_string(k.min) + ".." + std::to_string(k.max);
        break;
    case Kind::PowerOfTwo:
        out = "a power of two, " + std::to_string(k.min) + ".." + std::to_string(k.max);
        break;
    case Kind::Bool:
        out = "`true`, `false`";
        break;
    case Kind::Text:
    case Kind::Ratio:
    case Kind::Number:
    case Kind::List:
        break;
    }
    out += k.values;
    if (k.kind == Kind::List)
        out += "; at most " + std::to_string(limits::kMaxSelectorEntries) + " entries";
    return out;
}

} // namespace memsight::config
