#pragma once
// Agent configuration: embedded defaults per profile, an optional YAML file, then command-line flags.
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace memsight::config {

using Duration = std::chrono::milliseconds;

enum class Profile { Dev, Staging, Prod };

// The settings. Each key of the file has a row in keys.cpp (its path, kind, limits, per-profile defaults and doc);
// the initializers here are the prod defaults (a unit test checks that they equal the table's).
struct Config {
    Profile profile = Profile::Prod;
    std::string listen = "127.0.0.1:9756"; // Prometheus endpoint, ADDR:PORT
    std::string metrics_path = "/metrics";
    std::string web_config; // TLS and basic auth of the endpoint (export/web_config.h, docs/security.md); "" = none
    Duration interval{std::chrono::seconds(10)}; // /proc and cgroupfs reading period
    std::string log_level = "info";              // trace|debug|info|warn|error|off

    // Cardinality bounds of the per-process series.
    uint32_t top_processes_by_rss = 20;
    uint32_t top_processes_by_growth = 10;
    Duration growth_window{std::chrono::minutes(5)};

    // Exit peaks of short-lived processes: the largest K exits seen in the last window are exported.
    uint32_t exit_peaks_top = 10;
    Duration exit_peaks_window{std::chrono::minutes(5)};

    uint32_t max_oom_series = 500; // distinct (comm, container) OOM counters; more fold into comm="_other_"
    // OOM forensic records (docs/oom-forensics.md): one JSON file per kill; "" = none.
    std::string oom_forensics_dir = "/var/lib/memsight/oom";
    uint32_t oom_forensics_max_files = 100;                     // oldest removed first beyond this many ...
    Duration oom_forensics_max_age{std::chrono::hours(7 * 24)}; // ... and any older than this

    // Growth sites from the sampled page faults: for this many processes and containers, the top sites each.
    uint32_t growth_site_processes = 5;
    uint32_t growth_site_containers = 5;
    uint32_t growth_sites_top = 3;

    // Kernel side.
    uint32_t ringbuf_bytes = 1u << 20; // power of two, >= page size
    bool page_faults_enabled = true;
    uint64_t page_fault_sample_period = 0; // 0 = use the measured default (see docs/performance.md)
    uint32_t page_fault_stack_window = 8192; // bytes of user stack copied per sample; 0 = frame-pointer walk

    // Deep tier sessions the agent runs (memsight agent --deep-pid / --deep-cgroup).
    uint64_t deep_sample_bytes = 65536;                   // mean bytes between samples; 1 = exact
    uint32_t deep_top_sites = 5;                          // per-site series per watched process
    Duration deep_max_duration{std::chrono::minutes(10)}; // a session ends after this
    // Largest fraction of a traced process's CPU time the probes may take before the session is stopped (every
    // agent session; leaks/profile have --overhead-budget). 0 = no limit. See docs/escalation.md.
    double deep_overhead_budget = 0.02;

    // Which processes automatic escalation may trace. Empty include lists allow everything; an exclude match
    // always wins. comm entries are fnmatch(3) globs on /proc/PID/comm; cgroup entries are a memory-cgroup path
    // (that cgroup and everything below it) or a container id prefix of 12 to 64 hex digits.
    struct Selector {
        std::vector<std::string> include_comm, exclude_comm, include_cgroup, exclude_cgroup;
        friend bool operator==(const Selector&, const Selector&) = default;
    };
    // Automatic deep-tier sessions on processes whose leak suspicion crosses `threshold`.
    struct Escalation {
        bool enabled = true;
        double threshold = 0.8;                     // leak suspicion (0..1] that starts a session
        Duration duration{std::chrono::minutes(2)}; // length of one escalated session
        Duration cooldown{std::chrono::hours(1)};   // no new session on the same process (pid + start) before
        uint32_t max_concurrent = 1;                // escalated sessions at once (person-started not counted)
        Selector selector;
        std::string profile_dir = "/var/lib/memsight/profiles"; // pprof files at each session's end; "" = none
        uint32_t retention_max_files = 50;                      // oldest removed first beyond this many ...
        Duration retention_max_age{std::chrono::hours(7 * 24)}; // ... and any older than this
        friend bool operator==(const Escalation&, const Escalation&) = default;
    } escalation;

    friend bool operator==(const Config&, const Config&) = default;
};

// Accepted ranges (inclusive), used by the rows of keys.cpp; load_yaml, validate and apply_overrides enforce them.
namespace limits {
inline constexpr Duration kMinInterval{100};
inline constexpr Duration kMaxInterval{std::chrono::hours(1)};
inline constexpr uint32_t kMaxTopProcesses = 10000;                 // processes.top_by_rss / top_by_growth
inline constexpr Duration kMaxGrowthWindow{std::chrono::hours(24)}; // and growth_window >= interval
inline constexpr uint32_t kMaxExitPeaksTop = 1000;
inline constexpr Duration kMinExitPeaksWindow{std::chrono::seconds(1)};
inline constexpr Duration kMaxExitPeaksWindow{std::chrono::hours(24)};
inline constexpr uint32_t kMaxGrowthSiteProcesses = 100;
inline constexpr uint32_t kMaxGrowthSitesTop = 50;
inline constexpr uint32_t kMinOomSeries = 1;
inline constexpr uint32_t kMaxOomSeries = 100000;
inline constexpr uint32_t kMinRingbufBytes = 4096; // and a power of two
inline constexpr uint32_t kMaxRingbufBytes = 1u << 30;
inline constexpr uint64_t kMaxPageFaultSamplePeriod = 1000000000;
inline constexpr uint32_t kMaxPageFaultStackWindow = 16384; // MEMSIGHT_FAULT_STACK_MAX
inline constexpr uint64_t kMaxDeepSampleBytes = 1ull << 30;
inline constexpr uint32_t kMaxDeepTopSites = 100;
inline constexpr Duration kMinDeepDuration{std::chrono::seconds(1)};
inline constexpr Duration kMaxDeepDuration{std::chrono::hours(24)};
inline constexpr double kMaxOverheadBudget = 1.0;                // deep.overhead_budget 0..1, 0 = no limit
inline constexpr Duration kMinCooldown{std::chrono::seconds(1)}; // escalation.cooldown
inline constexpr Duration kMaxCooldown{std::chrono::hours(7 * 24)};
inline constexpr uint32_t kMaxConcurrentEscalations = 16;
inline constexpr uint32_t kMaxRetentionFiles = 100000;
inline constexpr Duration kMinRetentionAge{std::chrono::minutes(1)};
inline constexpr Duration kMaxRetentionAge{std::chrono::hours(24 * 366)};
inline constexpr size_t kMaxSelectorEntries = 1000; // per selector list
} // namespace limits

// Thrown with one line a user can act on, e.g. "config.yaml:7: unknown key 'intervall'".
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

Config defaults_for(Profile p);
Profile parse_profile(std::string_view s); // throws ConfigError
std::string_view profile_name(Profile p);
Duration parse_duration(std::string_view s); // "250ms", "10s", "5m", "1h30m", "7d", "1w"; throws ConfigError

// Loads YAML text. The file's `profile:` key (if any) selects the defaults first, then the other keys
// override them. Unknown keys, wrong types and out-of-range values throw ConfigError naming
// `source_name` and the 1-based line.
Config load_yaml(std::string_view yaml_text, std::string_view source_name);
// Reads `path` (ConfigError "cannot read config FILE: <strerror>") and calls load_yaml.
Config load_file(const std::string& path);

// The embedded default configuration file (documented, every key with its prod default), rendered from the key
// table once.
std::string_view embedded_default_yaml();

// A fraction ("0.02") or a percentage ("2%", "0.5%") as a fraction; throws ConfigError when it is neither (the
// range is the caller's to check).
double parse_ratio(std::string_view s);
// The shortest percentage that parses back to the same fraction: "2%", "0.5%", "0%".
std::string format_ratio(double r);

// Formats a duration in the syntax parse_duration accepts, shortest form: "10s", "1h30m", "1s500ms", "0s".
std::string format_duration(Duration d);

// Checks every range and cross-field rule (e.g. growth_window >= interval) of an already-built Config.
// Throws ConfigError "<key>: <message>", e.g. "interval: must be between 100ms and 1h, got 2h".
void validate(const Config& c);

// Command-line flags, the last layer: `--listen ADDR:PORT`, `--interval DURATION`, `--log-level LEVEL`.
struct Overrides {
    std::optional<std::string> listen;
    std::optional<Duration> interval;
    std::optional<std::string> log_level = std::nullopt; // (initialized: Overrides{listen, interval} is complete)
};
// Applies the set flags to `c` and checks them with their keys' rules; throws ConfigError "--listen: ...",
// "--interval: ..." or "--log-level: ...". On error `c` is left unchanged.
void apply_overrides(Config& c, const Overrides& o);

} // namespace memsight::config
