#pragma once
// The model of `memsight report`: what a fleet's Prometheus says about one period (docs/reports.md). Filled by
// cli/report_cmd.cpp from the Prometheus HTTP API (and an agent's /oom forensic records), rendered by
// render.h as HTML, Markdown or JSON. Every label value in here (comm, cgroup, site, ...) comes from the observed
// processes and is attacker-controlled: renderers escape all of them.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace memsight::report {

inline constexpr int kSchema = 1;

// Who a row is about. Process rows have pid/comm; container rows have cgroup. Empty when unknown.
struct Subject {
    std::string instance;
    std::string pid;
    std::string comm;
    std::string container_id;
    std::string pod_uid;
    std::string cgroup;
};

struct Point {
    double t = 0; // unix seconds
    double v = 0;
};

struct Series {
    std::string label;
    std::vector<Point> points; // time order
};

struct Node {
    std::string instance;
    std::string version;
    std::string kernel;
    double availability = 0; // mean of up over the period, 0..1
};

struct Fleet {
    std::vector<Node> nodes;
    double processes_tracked = 0;           // at the end of the period, summed over agents
    double containers_tracked = 0;          // the same
    double memory_in_use_bytes = 0;         // resident memory of the exported processes (top N per node), summed
    double container_working_set_bytes = 0; // working sets of the containers, summed
};

struct MemoryUser {
    Subject who;
    double peak_bytes = 0;
    std::optional<double> last_bytes;  // at the end of the period; nullopt: gone
    std::optional<double> limit_bytes; // containers with a limit
};

struct Grower {
    Subject who;
    double slope_bytes_per_second = 0;            // least-squares slope over its readings in the period
    double grown_bytes = 0;                       // the slope times observed_seconds
    double observed_seconds = 0;                  // between its first and last reading in the period
    std::optional<double> trend_bytes_per_second; // the agent's Theil–Sen trend, highest in the period
    std::optional<double> last_bytes;             // nullopt: gone at the end
};

struct Site {
    std::string site;
    double bytes = 0;
    bool growing = false; // heap sites: memsight_heap_site_growing was 1
};

struct LeakSuspect {
    std::string kind; // "process" or "container"
    Subject who;
    double max_suspicion = 0;
    std::optional<double> last_suspicion;
    std::optional<double> growth_bytes_per_second; // highest trend in the period
    std::vector<Site> growth_sites;                // always-on tier, most bytes first
    std::vector<Site> heap_sites;                  // deep tier, when a session ran
    std::vector<std::string> reasons;
};

struct OomSeries {
    Subject who; // comm, container_id, pod_uid, instance
    double kills = 0;
};

struct OomVictim {
    Subject who;
    double resident_bytes = 0;
    std::optional<double> first_seen;       // unix seconds, at the report's resolution
    std::optional<nlohmann::json> forensic; // the agent's record (notes/oom_record_schema.md), when --agent found it
};

struct ExitPeak {
    Subject who;
    double peak_bytes = 0;
};

struct NearLimit {
    Subject who;
    double max_ratio = 0; // working set / limit
    std::optional<double> last_ratio;
    std::optional<double> limit_bytes;
    std::optional<double> min_time_to_limit_seconds;
    std::optional<double> last_time_to_limit_seconds;
};

struct DeepSession {
    Subject who;
    std::string origin; // manual, escalation
    double max_overhead_ratio = 0;
};

struct Count {
    std::string name;
    double value = 0;
};

struct Deep {
    double escalations_started = 0;
    std::vector<Count> escalations_finished; // by reason
    std::vector<Count> escalations_refused;  // by reason
    double overhead_stops = 0;
    double max_sessions = 0;
    std::vector<DeepSession> sessions;
    std::vector<LeakSuspect> heap_sites; // per process: its top heap sites (kind "process")
    std::vector<std::string> profiles;   // from forensic records
    std::string profiles_note;           // where the profiles are when not listed
};

struct NameChange {
    std::vector<std::string> added; // in this period, not the previous one
    std::vector<std::string> gone;  // in the previous period, not this one
};

struct Changes {
    double previous_start = 0, previous_end = 0;
    std::optional<double> memory_in_use_previous, memory_in_use_current;
    double oom_kills_previous = 0, oom_kills_current = 0;
    size_t leak_suspects_previous = 0, leak_suspects_current = 0;
    NameChange leak_suspects;
    NameChange top_growers;
};

struct Report {
    std::string prometheus;              // URL as shown
    std::string since;                   // as given, e.g. "24h"
    double start = 0, end = 0, step = 0; // unix seconds
    double generated_at = 0;
    std::string cluster, instance, container_id; // filters, "" = all
    Fleet fleet;
    std::vector<MemoryUser> top_processes;
    std::vector<MemoryUser> top_containers;
    std::vector<Grower> top_growers;
    std::vector<LeakSuspect> leak_suspects;
    double oom_kills_total = 0;
    std::vector<OomSeries> oom_kills;
    std::vector<OomVictim> oom_victims;
    std::optional<size_t> forensic_records; // records the agent returned for the period; nullopt: no --agent / error
    double exits = 0;
    std::vector<ExitPeak> exit_peaks;
    std::vector<NearLimit> near_limit;
    Deep deep;
    Changes changes;
    std::vector<Series> memory_over_time;    // the top users' resident memory
    std::vector<Series> suspicion_over_time; // the suspects' leak suspicion
    std::vector<std::string> warnings;
};

// A short name for a subject, as charts and change lists show it: "comm (pid 42, container 0123456789ab)".
std::string subject_name(const Subject& s);

} // namespace memsight::report
