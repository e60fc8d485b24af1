#include "config/config.h"
#include "util/listen_address.h"

#include <fcntl.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace memsight::config {

namespace {

using namespace std::chrono_literals;

constexpr std::array<std::string_view, 6> kLogLevels{"trace", "debug", "info", "warn", "error", "off"};

constexpr std::array<std::string_view, 11> kTopKeys{"profile",   "listen",    "metrics_path", "interval",
                                                    "log_level", "processes", "exit_peaks",   "oom",
                                                    "kernel",    "deep",      "escalation"};
constexpr std::array<std::string_view, 4> kDeepKeys{"sample_bytes", "top_sites", "max_duration", "overhead_budget"};
constexpr std::array<std::string_view, 8> kEscalationKeys{"enabled",        "threshold", "duration",    "cooldown",
                                                          "max_concurrent", "selector",  "profile_dir", "retention"};
constexpr std::array<std::string_view, 4> kSelectorKeys{"include_comm", "exclude_comm", "include_cgroup",
                                                        "exclude_cgroup"};
constexpr std::array<std::string_view, 2> kRetentionKeys{"max_files", "max_age"};
constexpr std::array<std::string_view, 3> kProcessesKeys{"top_by_rss", "top_by_growth", "growth_window"};
constexpr std::array<std::string_view, 2> kExitPeaksKeys{"top", "window"};
constexpr std::array<std::string_view, 1> kOomKeys{"max_series"};
constexpr std::array<std::string_view, 2> kKernelKeys{"ringbuf_bytes", "page_faults"};
constexpr std::array<std::string_view, 2> kPageFaultsKeys{"enabled", "sample_period"};

constexpr size_t kMaxConfigFileBytes = 1 << 20;

std::string join(std::span<const std::string_view> items, std::string_view sep)
{
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i != 0)
            out += sep;
        out += items[i];
    }
    return out;
}

std::string quoted(std::string_view s)
{
    std::string out = "'";
    out += s;
    out += '\'';
    return out;
}

// ---- Value checks shared by load_yaml, validate and apply_overrides. Each returns the message
// ---- (without the key) when the value is not acceptable.

using Problem = std::optional<std::string>;

Problem check_count(int64_t v, uint64_t lo, uint64_t hi, std::string_view shown)
{
    if (v < 0 || static_cast<uint64_t>(v) < lo || static_cast<uint64_t>(v) > hi)
        return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + std::string(shown);
    return std::nullopt;
}

Problem check_count(uint64_t v, uint64_t lo, uint64_t hi)
{
    if (v < lo || v > hi)
        return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + std::to_string(v);
    return std::nullopt;
}

Problem check_ringbuf(uint64_t v)
{
    const bool pow2 = v != 0 && (v & (v - 1)) == 0;
    if (!pow2 || v < limits::kMinRingbufBytes || v > limits::kMaxRingbufBytes)
        return "must be a power of two between " + std::to_string(limits::kMinRingbufBytes) + " and " +
               std::to_string(limits::kMaxRingbufBytes) + ", got " + std::to_string(v);
    return std::nullopt;
}

Problem check_duration(Duration d, Duration lo, Duration hi)
{
    if (d < lo || d > hi)
        return "must be between " + format_duration(lo) + " and " + format_duration(hi) + ", got " + format_duration(d);
    return std::nullopt;
}

Problem check_interval(Duration d)
{
    return check_duration(d, limits::kMinInterval, limits::kMaxInterval);
}

Problem check_log_level(std::string_view s)
{
    if (std::find(kLogLevels.begin(), kLogLevels.end(), s) == kLogLevels.end())
        return "must be one of " + join(kLogLevels, ", ") + ", got " + quoted(s);
    return std::nullopt;
}

Problem check_metrics_path(std::string_view s)
{
    if (s.empty() || s.front() != '/')
        return "must start with '/', got " + quoted(s);
    for (unsigned char ch : s)
        if (ch <= ' ' || ch == 0x7f)
            return "must not contain spaces or control characters, got " + quoted(s);
    if (s == "/healthz" || s == "/readyz")
        return quoted(s) + " is the agent's health probe; choose another path";
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

std::string shown_number(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", v);
    return buf;
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

Problem check_list(const std::vector<std::string>& list, Problem (*check)(std::string_view))
{
    if (list.size() > limits::kMaxSelectorEntries)
        return "at most " + std::to_string(limits::kMaxSelectorEntries) + " entries, got " +
               std::to_string(list.size());
    for (const auto& e : list)
        if (Problem p = check(e))
            return p;
    return std::nullopt;
}

Problem check_growth_vs_interval(const Config& c)
{
    if (c.growth_window < c.interval)
        return "must be at least interval (" + format_duration(c.interval) + "), got " +
               format_duration(c.growth_window);
    return std::nullopt;
}

// ---- YAML walking.

class Loader {
public:
    explicit Loader(std::string_view source) : source_(source) {}

    Config load(std::string_view text)
    {
        // yaml-cpp reports errors at the end of input on the line after a final newline; clamp to the last line.
        last_line0_ = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
        if (!text.empty() && text.back() == '\n')
            --last_line0_;
        std::vector<YAML::Node> docs;
        try {
            docs = YAML::LoadAll(std::string(text));
        } catch (const YAML::Exception& e) {
            fail(e.mark.line, "invalid YAML: " + e.msg);
        }
        for (size_t i = 1; i < docs.size(); ++i)
            if (!docs[i].IsNull())
                fail(docs[i].Mark().line, "more than one YAML document; expected a single map of settings");
        if (docs.empty() || docs[0].IsNull())
            return defaults_for(Profile::Prod);

        const YAML::Node& root = docs[0];
        if (!root.IsMap())
            fail(root.Mark().line, "expected a map of settings at the top level, got " + describe(root));
        const std::vector<Entry> top = entries(root, "", kTopKeys);

        // `profile:` selects the defaults before anything else, wherever it appears.
        Config cfg = defaults_for(Profile::Prod);
        for (const Entry& e : top) {
            if (e.name != "profile")
                continue;
            const std::string s = scalar(e, "profile", "dev, staging or prod");
            try {
                cfg = defaults_for(parse_profile(s));
            } catch (const ConfigError&) {
                fail(e.line, "profile: must be one of dev, staging, prod, got " + quoted(s));
            }
        }

        for (const Entry& e : top) {
            if (e.name == "listen") {
                cfg.listen = checked(e, "listen", scalar(e, "listen", "ADDR:PORT"), check_listen);
            } else if (e.name == "metrics_path") {
                cfg.metrics_path =
                    checked(e, "metrics_path", scalar(e, "metrics_path", "a path like /metrics"), check_metrics_path);
            } else if (e.name == "interval") {
                cfg.interval = duration(e, "interval", limits::kMinInterval, limits::kMaxInterval);
                interval_line_ = e.line;
            } else if (e.name == "log_level") {
                cfg.log_level = checked(e, "log_level", scalar(e, "log_level", "a log level"), check_log_level);
            } else if (e.name == "processes") {
                for (const Entry& p : entries(e.value, "processes", kProcessesKeys, e.line)) {
                    if (p.name == "top_by_rss") {
                        cfg.top_processes_by_rss = count(p, "processes.top_by_rss", 0, limits::kMaxTopProcesses);
                    } else if (p.name == "top_by_growth") {
                        cfg.top_processes_by_growth = count(p, "processes.top_by_growth", 0, limits::kMaxTopProcesses);
                    } else if (p.name == "growth_window") {
                        cfg.growth_window =
                            duration(p, "processes.growth_window", limits::kMinInterval, limits::kMaxGrowthWindow);
                        growth_window_line_ = p.line;
                    }
                }
            } else if (e.name == "exit_peaks") {
                for (const Entry& p : entries(e.value, "exit_peaks", kExitPeaksKeys, e.line)) {
                    if (p.name == "top")
                        cfg.exit_peaks_top = count(p, "exit_peaks.top", 0, limits::kMaxExitPeaksTop);
                    else if (p.name == "window")
                        cfg.exit_peaks_window =
                            duration(p, "exit_peaks.window", limits::kMinExitPeaksWindow, limits::kMaxExitPeaksWindow);
                }
            } else if (e.name == "oom") {
                for (const Entry& p : entries(e.value, "oom", kOomKeys, e.line))
                    if (p.name == "max_series")
                        cfg.max_oom_series = count(p, "oom.max_series", limits::kMinOomSeries, limits::kMaxOomSeries);
            } else if (e.name == "kernel") {
                for (const Entry& k : entries(e.value, "kernel", kKernelKeys, e.line)) {
                    if (k.name == "ringbuf_bytes") {
                        const int64_t v = integer(k, "kernel.ringbuf_bytes");
                        if (v < 0)
                            fail(k.line, "kernel.ringbuf_bytes: must be a power of two between " +
                                             std::to_string(limits::kMinRingbufBytes) + " and " +
                                             std::to_string(limits::kMaxRingbufBytes) + ", got " + std::to_string(v));
                        if (Problem p = check_ringbuf(static_cast<uint64_t>(v)))
                            fail(k.line, "kernel.ringbuf_bytes: " + *p);
                        cfg.ringbuf_bytes = static_cast<uint32_t>(v);
                    } else if (k.name == "page_faults") {
                        for (const Entry& p : entries(k.value, "kernel.page_faults", kPageFaultsKeys, k.line)) {
                            if (p.name == "enabled")
                                cfg.page_faults_enabled = boolean(p, "kernel.page_faults.enabled");
                            else if (p.name == "sample_period")
                                cfg.page_fault_sample_period = count<uint64_t>(p, "kernel.page_faults.sample_period", 0,
                                                                               limits::kMaxPageFaultSamplePeriod);
                        }
                    }
                }
            } else if (e.name == "deep") {
                for (const Entry& d : entries(e.value, "deep", kDeepKeys, e.line)) {
                    if (d.name == "sample_bytes")
                        cfg.deep_sample_bytes = count<uint64_t>(d, "deep.sample_bytes", 1, limits::kMaxDeepSampleBytes);
                    else if (d.name == "top_sites")
                        cfg.deep_top_sites = count(d, "deep.top_sites", 1, limits::kMaxDeepTopSites);
                    else if (d.name == "max_duration")
                        cfg.deep_max_duration =
                            duration(d, "deep.max_duration", limits::kMinDeepDuration, limits::kMaxDeepDuration);
                    else if (d.name == "overhead_budget")
                        cfg.deep_overhead_budget = ratio(d, "deep.overhead_budget", check_budget);
                }
            } else if (e.name == "escalation") {
                load_escalation(e, cfg.escalation);
            }
        }

        if (Problem p = check_growth_vs_interval(cfg)) {
            if (growth_window_line_)
                fail(*growth_window_line_, "processes.growth_window: " + *p);
            fail(interval_line_.value_or(-1), "interval: must not exceed processes.growth_window (" +
                                                  format_duration(cfg.growth_window) + "), got " +
                                                  format_duration(cfg.interval));
        }
        return cfg;
    }

private:
    struct Entry {
        std::string name;
        YAML::Node value;
        int line; // 0-based line of the value (of the key when the value is empty)
    };

    void load_escalation(const Entry& section, Config::Escalation& esc) const
    {
        for (const Entry& k : entries(section.value, "escalation", kEscalationKeys, section.line)) {
            if (k.name == "enabled") {
                esc.enabled = boolean(k, "escalation.enabled");
            } else if (k.name == "threshold") {
                esc.threshold = number(k, "escalation.threshold", "a number like 0.8", check_threshold);
            } else if (k.name == "duration") {
                esc.duration = duration(k, "escalation.duration", limits::kMinDeepDuration, limits::kMaxDeepDuration);
            } else if (k.name == "cooldown") {
                esc.cooldown = duration(k, "escalation.cooldown", limits::kMinCooldown, limits::kMaxCooldown);
            } else if (k.name == "max_concurrent") {
                esc.max_concurrent = count(k, "escalation.max_concurrent", 1, limits::kMaxConcurrentEscalations);
            } else if (k.name == "profile_dir") {
                const std::string s = scalar(k, "escalation.profile_dir", "a directory path");
                esc.profile_dir = checked(k, "escalation.profile_dir", s, check_profile_dir);
            } else if (k.name == "selector") {
                for (const Entry& l : entries(k.value, "escalation.selector", kSelectorKeys, k.line)) {
                    const std::string path = "escalation.selector." + l.name;
                    const bool comm = l.name.ends_with("_comm");
                    auto list = strings(l, path, comm ? check_comm_entry : check_cgroup_entry);
                    if (l.name == "include_comm")
                        esc.selector.include_comm = std::move(list);
                    else if (l.name == "exclude_comm")
                        esc.selector.exclude_comm = std::move(list);
                    else if (l.name == "include_cgroup")
                        esc.selector.include_cgroup = std::move(list);
                    else
                        esc.selector.exclude_cgroup = std::move(list);
                }
            } else if (k.name == "retention") {
                for (const Entry& r : entries(k.value, "escalation.retention", kRetentionKeys, k.line)) {
                    if (r.name == "max_files")
                        esc.retention_max_files =
                            count(r, "escalation.retention.max_files", 1, limits::kMaxRetentionFiles);
                    else
                        esc.retention_max_age = duration(r, "escalation.retention.max_age", limits::kMinRetentionAge,
                                                         limits::kMaxRetentionAge);
                }
            }
        }
    }

    // A fraction or percentage ("0.02", "2%"), range-checked by `check`.
    double ratio(const Entry& e, std::string_view path, Problem (*check)(double)) const
    {
        const std::string s = scalar(e, path, "a fraction like 0.02 or a percentage like 2%");
        double v = 0;
        try {
            v = parse_ratio(s);
        } catch (const ConfigError&) {
            fail(e.line,
                 std::string(path) + ": expected a fraction like 0.02 or a percentage like 2%, got " + quoted(s));
        }
        if (Problem p = check(v))
            fail(e.line, std::string(path) + ": " + *p);
        return v;
    }

    // A plain decimal number (no percent sign), range-checked by `check`.
    double number(const Entry& e, std::string_view path, std::string_view expected, Problem (*check)(double)) const
    {
        const std::string s = scalar(e, path, expected);
        double v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::fixed);
        if (s.empty() || ec != std::errc{} || end != s.data() + s.size())
            fail(e.line, std::string(path) + ": expected " + std::string(expected) + ", got " + quoted(s));
        if (Problem p = check(v))
            fail(e.line, std::string(path) + ": " + *p);
        return v;
    }

    // A YAML list of non-empty strings (flow [a, b] or block "- a"); an empty value is an empty list.
    std::vector<std::string> strings(const Entry& e, std::string_view path, Problem (*check)(std::string_view)) const
    {
        std::vector<std::string> out;
        if (e.value.IsNull())
            return out;
        if (!e.value.IsSequence())
            fail(e.line, std::string(path) + ": expected a list like [a, b], got " + describe(e.value));
        for (const auto& item : e.value) {
            const int line = item.Mark().line >= 0 ? item.Mark().line : e.line;
            if (!item.IsScalar())
                fail(line, std::string(path) + ": expected a list of names, got " + describe(item) + " in it");
            if (Problem p = check(item.Scalar()))
                fail(line, std::string(path) + ": " + *p);
            out.push_back(item.Scalar());
        }
        if (out.size() > limits::kMaxSelectorEntries)
            fail(e.line, std::string(path) + ": at most " + std::to_string(limits::kMaxSelectorEntries) +
                             " entries, got " + std::to_string(out.size()));
        return out;
    }

    [[noreturn]] void fail(int line0, const std::string& msg) const
    {
        const int line = line0 < 0 ? 0 : std::min(line0, std::max(last_line0_, 0));
        throw ConfigError(std::string(source_) + ":" + std::to_string(line + 1) + ": " + msg);
    }

    static std::string describe(const YAML::Node& n)
    {
        switch (n.Type()) {
        case YAML::NodeType::Map:
            return "a map";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Scalar:
            return quoted(n.Scalar());
        default:
            return "an empty value";
        }
    }

    // The (validated) keys of a map, in file order: unknown, duplicate and non-scalar keys are errors.
    // An empty section (`processes:` with nothing under it) is an empty map.
    std::vector<Entry> entries(const YAML::Node& map, std::string_view section, std::span<const std::string_view> known,
                               int section_line = -1) const
    {
        std::vector<Entry> out;
        if (map.IsNull())
            return out;
        if (!map.IsMap())
            fail(section_line,
                 std::string(section) + ": expected a map of " + join(known, ", ") + ", got " + describe(map));
        for (const auto& pair : map) {
            const YAML::Node key = pair.first;
            const YAML::Node value = pair.second;
            const int key_line = key.Mark().line;
            if (!key.IsScalar())
                fail(key_line, "keys must be plain names, got " + describe(key) +
                                   (section.empty() ? std::string() : " in " + std::string(section)));
            const std::string& name = key.Scalar();
            if (std::find(known.begin(), known.end(), name) == known.end()) {
                if (section.empty())
                    fail(key_line, "unknown key " + quoted(name) + " (known: " + join(known, ", ") + ")");
                fail(key_line, "unknown key " + quoted(name) + " in " + std::string(section) +
                                   " (known: " + join(known, ", ") + ")");
            }
            for (const Entry& seen : out)
                if (seen.name == name)
                    fail(key_line, "duplicate key " +
                                       quoted(section.empty() ? name : std::string(section) + "." + name) +
                                       " (first set on line " + std::to_string(seen.line + 1) + ")");
            int line = key_line;
            if (!value.IsNull())
                line = std::max(line, value.Mark().line); // aliases carry their anchor's (earlier) position
            out.push_back(Entry{name, value, line});
        }
        return out;
    }

    std::string scalar(const Entry& e, std::string_view path, std::string_view expected) const
    {
        if (!e.value.IsScalar())
            fail(e.line, std::string(path) + ": expected " + std::string(expected) + ", got " + describe(e.value));
        return e.value.Scalar();
    }

    template <typename Check>
    std::string checked(const Entry& e, std::string_view path, std::string value, Check check) const
    {
        if (Problem p = check(value))
            fail(e.line, std::string(path) + ": " + *p);
        return value;
    }

    // A decimal integer; values beyond int64 are reported as out of range by the callers' checks.
    int64_t integer(const Entry& e, std::string_view path) const
    {
        const std::string s = scalar(e, path, "an integer");
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || end != s.data() + s.size() || (ec != std::errc{} && ec != std::errc::result_out_of_range))
            fail(e.line, std::string(path) + ": expected an integer, got " + quoted(s));
        if (ec == std::errc::result_out_of_range)
            return s.front() == '-' ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
        return v;
    }

    template <typename T = uint32_t> T count(const Entry& e, std::string_view path, uint64_t lo, uint64_t hi) const
    {
        const int64_t v = integer(e, path);
        if (Problem p = check_count(v, lo, hi, e.value.Scalar()))
            fail(e.line, std::string(path) + ": " + *p);
        return static_cast<T>(v);
    }

    Duration duration(const Entry& e, std::string_view path, Duration lo, Duration hi) const
    {
        const std::string s = scalar(e, path, "a duration like 10s");
        Duration d{};
        try {
            d = parse_duration(s);
        } catch (const ConfigError&) {
            fail(e.line, std::string(path) + ": expected a duration like 10s, got " + quoted(s));
        }
        if (Problem p = check_duration(d, lo, hi))
            fail(e.line, std::string(path) + ": " + *p);
        return d;
    }

    bool boolean(const Entry& e, std::string_view path) const
    {
        const std::string s = scalar(e, path, "true or false");
        bool b = false;
        if (!YAML::convert<bool>::decode(e.value, b))
            fail(e.line, std::string(path) + ": expected true or false, got " + quoted(s));
        return b;
    }

    std::string_view source_;
    int last_line0_ = 0;
    std::optional<int> interval_line_;
    std::optional<int> growth_window_line_;
};

} // namespace

Config defaults_for(Profile p)
{
    Config c;
    c.profile = p;
    switch (p) {
    case Profile::Prod:
        break;
    case Profile::Staging:
        c.interval = 5s;
        c.top_processes_by_rss = 30;
        c.top_processes_by_growth = 10;
        c.growth_window = 5min;
        // Staging tries more suspects, a little sooner again, and tolerates a costlier session.
        c.deep_overhead_budget = 0.05;
        c.escalation.threshold = 0.7;
        c.escalation.cooldown = 30min;
        c.escalation.max_concurrent = 2;
        break;
    case Profile::Dev:
        c.interval = 2s;
        c.top_processes_by_rss = 50;
        c.top_processes_by_growth = 20;
        // Leak suspicion needs 60 s of readings (analysis/growth.h: min_span_seconds), so the window is longer.
        c.growth_window = 2min;
        c.exit_peaks_window = 1min;
        c.log_level = "info";
        // Developers want the call sites early and can afford the slowdown on their own machine.
        c.deep_overhead_budget = 0.10;
        c.escalation.threshold = 0.5;
        c.escalation.duration = 1min;
        c.escalation.cooldown = 10min;
        c.escalation.max_concurrent = 2;
        c.escalation.retention_max_files = 20;
        c.escalation.retention_max_age = 24h;
        break;
    }
    return c;
}

Profile parse_profile(std::string_view s)
{
    if (s == "dev")
        return Profile::Dev;
    if (s == "staging")
        return Profile::Staging;
    if (s == "prod")
        return Profile::Prod;
    throw ConfigError("unknown profile " + quoted(s) + " (expected dev, staging or prod)");
}

std::string_view profile_name(Profile p)
{
    switch (p) {
    case Profile::Dev:
        return "dev";
    case Profile::Staging:
        return "staging";
    case Profile::Prod:
        return "prod";
    }
    return "prod";
}

Duration parse_duration(std::string_view s)
{
    const auto bad = [s](std::string_view why) -> ConfigError {
        return ConfigError("invalid duration " + quoted(s) + ": " + std::string(why));
    };
    if (s.empty())
        throw ConfigError("empty duration (expected e.g. 10s, 250ms or 1h30m)");
    if (s.front() == '-')
        throw bad("must not be negative");

    int64_t total = 0;
    size_t i = 0;
    while (i < s.size()) {
        const size_t num_begin = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9')
            ++i;
        const size_t unit_begin = i;
        while (i < s.size() && s[i] >= 'a' && s[i] <= 'z')
            ++i;
        const std::string_view number = s.substr(num_begin, unit_begin - num_begin);
        const std::string_view unit = s.substr(unit_begin, i - unit_begin);
        if (unit.empty() && i < s.size())
            throw bad("unexpected " + quoted(s.substr(i, 1)) + " (use whole numbers with a unit, like 1s500ms)");
        if (number.empty())
            throw bad("expected a number before " + quoted(unit));
        if (unit.empty())
            throw bad("missing unit after " + std::string(number) + " (use ms, s, m or h)");

        int64_t factor = 0;
        if (unit == "ms")
            factor = 1;
        else if (unit == "s")
            factor = 1000;
        else if (unit == "m")
            factor = 60 * 1000;
        else if (unit == "h")
            factor = 60 * 60 * 1000;
        else
            throw bad("unknown unit " + quoted(unit) + " (use ms, s, m or h)");

        int64_t value = 0;
        const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
        int64_t scaled = 0;
        if (ec != std::errc{} || end != number.data() + number.size() ||
            __builtin_mul_overflow(value, factor, &scaled) || __builtin_add_overflow(total, scaled, &total))
            throw bad("too large");
    }
    return Duration{total};
}

double parse_ratio(std::string_view s)
{
    const bool percent = !s.empty() && s.back() == '%';
    const std::string_view number = percent ? s.substr(0, s.size() - 1) : s;
    double v = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v, std::chars_format::fixed);
    if (number.empty() || ec != std::errc{} || end != number.data() + number.size() || !std::isfinite(v))
        throw ConfigError("expected a fraction like 0.02 or a percentage like 2%, got " + quoted(s));
    return percent ? v / 100.0 : v;
}

std::string format_ratio(double r)
{
    // The fewest decimals that parse back to the same value (no exponent: parse_ratio takes fixed notation).
    char buf[64];
    for (int decimals = 0; decimals <= 20; ++decimals) {
        std::snprintf(buf, sizeof(buf), "%.*f%%", decimals, r * 100.0);
        if (parse_ratio(buf) == r)
            return buf;
    }
    std::snprintf(buf, sizeof(buf), "%.25f", r);
    return buf;
}

std::string format_duration(Duration d)
{
    int64_t ms = d.count();
    if (ms == 0)
        return "0s";
    std::string out;
    uint64_t rest = ms < 0 ? 0 - static_cast<uint64_t>(ms) : static_cast<uint64_t>(ms);
    if (ms < 0)
        out = "-";
    constexpr std::array<std::pair<uint64_t, std::string_view>, 4> units{
        {{3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}}};
    for (const auto& [factor, name] : units) {
        if (rest >= factor) {
            out += std::to_string(rest / factor);
            out += name;
            rest %= factor;
        }
    }
    return out;
}

void validate(const Config& c)
{
    const auto check = [](std::string_view key, const Problem& p) {
        if (p)
            throw ConfigError(std::string(key) + ": " + *p);
    };
    check("listen", check_listen(c.listen));
    check("metrics_path", check_metrics_path(c.metrics_path));
    check("interval", check_interval(c.interval));
    check("log_level", check_log_level(c.log_level));
    check("processes.top_by_rss", check_count(c.top_processes_by_rss, 0, limits::kMaxTopProcesses));
    check("processes.top_by_growth", check_count(c.top_processes_by_growth, 0, limits::kMaxTopProcesses));
    check("processes.growth_window", check_duration(c.growth_window, limits::kMinInterval, limits::kMaxGrowthWindow));
    check("processes.growth_window", check_growth_vs_interval(c));
    check("exit_peaks.top", check_count(c.exit_peaks_top, 0, limits::kMaxExitPeaksTop));
    check("exit_peaks.window",
          check_duration(c.exit_peaks_window, limits::kMinExitPeaksWindow, limits::kMaxExitPeaksWindow));
    check("oom.max_series", check_count(c.max_oom_series, limits::kMinOomSeries, limits::kMaxOomSeries));
    check("kernel.ringbuf_bytes", check_ringbuf(c.ringbuf_bytes));
    check("kernel.page_faults.sample_period",
          check_count(c.page_fault_sample_period, 0, limits::kMaxPageFaultSamplePeriod));
    check("deep.sample_bytes", check_count(c.deep_sample_bytes, 1, limits::kMaxDeepSampleBytes));
    check("deep.top_sites", check_count(c.deep_top_sites, 1, limits::kMaxDeepTopSites));
    check("deep.max_duration", check_duration(c.deep_max_duration, limits::kMinDeepDuration, limits::kMaxDeepDuration));
    check("deep.overhead_budget", check_budget(c.deep_overhead_budget));
    const auto& e = c.escalation;
    check("escalation.threshold", check_threshold(e.threshold));
    check("escalation.duration", check_duration(e.duration, limits::kMinDeepDuration, limits::kMaxDeepDuration));
    check("escalation.cooldown", check_duration(e.cooldown, limits::kMinCooldown, limits::kMaxCooldown));
    check("escalation.max_concurrent", check_count(e.max_concurrent, 1, limits::kMaxConcurrentEscalations));
    check("escalation.selector.include_comm", check_list(e.selector.include_comm, check_comm_entry));
    check("escalation.selector.exclude_comm", check_list(e.selector.exclude_comm, check_comm_entry));
    check("escalation.selector.include_cgroup", check_list(e.selector.include_cgroup, check_cgroup_entry));
    check("escalation.selector.exclude_cgroup", check_list(e.selector.exclude_cgroup, check_cgroup_entry));
    check("escalation.profile_dir", check_profile_dir(e.profile_dir));
    check("escalation.retention.max_files", check_count(e.retention_max_files, 1, limits::kMaxRetentionFiles));
    check("escalation.retention.max_age",
          check_duration(e.retention_max_age, limits::kMinRetentionAge, limits::kMaxRetentionAge));
}

void apply_overrides(Config& c, const Overrides& o)
{
    Config next = c;
    if (o.listen) {
        if (Problem p = check_listen(*o.listen))
            throw ConfigError("--listen: " + *p);
        next.listen = *o.listen;
    }
    if (o.interval) {
        if (Problem p = check_interval(*o.interval))
            throw ConfigError("--interval: " + *p);
        next.interval = *o.interval;
        if (check_growth_vs_interval(next))
            throw ConfigError("--interval: must not exceed processes.growth_window (" +
                              format_duration(next.growth_window) + "), got " + format_duration(next.interval));
    }
    c = std::move(next);
}

Config load_yaml(std::string_view yaml_text, std::string_view source_name)
{
    return Loader(source_name).load(yaml_text);
}

Config load_file(const std::string& path)
{
    const auto cannot = [&path](const std::string& why) {
        return ConfigError("cannot read config " + path + ": " + why);
    };
    struct Fd {
        int fd;
        ~Fd()
        {
            if (fd >= 0)
                ::close(fd);
        }
    } file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0)
        throw cannot(std::strerror(errno));
    std::string text;
    std::array<char, 16384> buf{};
    for (;;) {
        const ssize_t n = ::read(file.fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw cannot(std::strerror(errno));
        }
        if (n == 0)
            break;
        text.append(buf.data(), static_cast<size_t>(n));
        if (text.size() > kMaxConfigFileBytes)
            throw cannot("larger than " + std::to_string(kMaxConfigFileBytes / 1024) + " KiB");
    }
    return load_yaml(text, path);
}

} // namespace memsight::config
