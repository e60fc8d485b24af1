#pragma once
// Agent configuration: embedded defaults per profile, an optional YAML file, then command-line flags.
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace memsight::config {

using Duration = std::chrono::milliseconds;

enum class Profile { Dev, Staging, Prod };

struct Config {
    Profile profile = Profile::Prod;
    std::string listen = "127.0.0.1:9756"; // Prometheus endpoint, ADDR:PORT
    std::string metrics_path = "/metrics";
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

    // Kernel side.
    uint32_t ringbuf_bytes = 1u << 20; // power of two, >= page size
    bool page_faults_enabled = true;
    uint64_t page_fault_sample_period = 0; // 0 = use the measured default (see docs/performance.md)

    // Deep tier sessions the agent runs (memsight agent --deep-pid / --deep-cgroup).
    uint64_t deep_sample_bytes = 65536;                   // mean bytes between samples; 1 = exact
    uint32_t deep_top_sites = 5;                          // per-site series per watched process
    Duration deep_max_duration{std::chrono::minutes(10)}; // a session ends after this

    friend bool operator==(const Config&, const Config&) = default;
};

// Accepted ranges (inclusive); load_yaml, validate and apply_overrides enforce them.
namespace limits {
inline constexpr Duration kMinInterval{100};
inline constexpr Duration kMaxInterval{std::chrono::hours(1)};
inline constexpr uint32_t kMaxTopProcesses = 10000;                 // processes.top_by_rss / top_by_growth
inline constexpr Duration kMaxGrowthWindow{std::chrono::hours(24)}; // and growth_window >= interval
inline constexpr uint32_t kMaxExitPeaksTop = 1000;
inline constexpr Duration kMinExitPeaksWindow{std::chrono::seconds(1)};
inline constexpr Duration kMaxExitPeaksWindow{std::chrono::hours(24)};
inline constexpr uint32_t kMinOomSeries = 1;
inline constexpr uint32_t kMaxOomSeries = 100000;
inline constexpr uint32_t kMinRingbufBytes = 4096; // and a power of two
inline constexpr uint32_t kMaxRingbufBytes = 1u << 30;
inline constexpr uint64_t kMaxPageFaultSamplePeriod = 1000000000;
inline constexpr uint64_t kMaxDeepSampleBytes = 1ull << 30;
inline constexpr uint32_t kMaxDeepTopSites = 100;
inline constexpr Duration kMinDeepDuration{std::chrono::seconds(1)};
inline constexpr Duration kMaxDeepDuration{std::chrono::hours(24)};
} // namespace limits

// Thrown with one line a user can act on, e.g. "config.yaml:7: unknown key 'intervall'".
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

Config defaults_for(Profile p);
Profile parse_profile(std::string_view s); // throws ConfigError
std::string_view profile_name(Profile p);
Duration parse_duration(std::string_view s); // "250ms", "10s", "5m", "1h", "1h30m"; throws ConfigError

// Loads YAML text. The file's `profile:` key (if any) selects the defaults first, then the other keys
// override them. Unknown keys, wrong types and out-of-range values throw ConfigError naming
// `source_name` and the 1-based line.
Config load_yaml(std::string_view yaml_text, std::string_view source_name);
// Reads `path` (ConfigError "cannot read config FILE: <strerror>") and calls load_yaml.
Config load_file(const std::string& path);

// The embedded default configuration file (documented, every key with its default).
std::string_view embedded_default_yaml();

// Formats a duration in the syntax parse_duration accepts, shortest form: "10s", "1h30m", "1s500ms", "0s".
std::string format_duration(Duration d);

// Checks every range and cross-field rule (e.g. growth_window >= interval) of an already-built Config.
// Throws ConfigError "<key>: <message>", e.g. "interval: must be between 100ms and 1h, got 2h".
void validate(const Config& c);

// Command-line flags, the last layer: `--listen ADDR:PORT`, `--interval DURATION`.
struct Overrides {
    std::optional<std::string> listen;
    std::optional<Duration> interval;
};
// Applies the set flags to `c` and re-checks them; throws ConfigError "--listen: ..." / "--interval: ...".
// On error `c` is left unchanged.
void apply_overrides(Config& c, const Overrides& o);

} // namespace memsight::config
