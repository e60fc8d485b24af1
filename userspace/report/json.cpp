// The JSON form of a report (schema 1, documented in docs/reports.md). Keys are stable; a value that is unknown is
// null, never left out.
#include "report/format.h"
#include "report/render.h"

#include <cmath>

namespace memsight::report {
namespace {

using nlohmann::json;

json opt(const std::optional<double>& v)
{
    return v && std::isfinite(*v) ? json(*v) : json(nullptr);
}

json num(double v)
{
    return std::isfinite(v) ? json(v) : json(nullptr);
}

json pid_value(const std::string& pid)
{
    try {
        return pid.empty() ? json(nullptr) : json(std::stoll(pid));
    } catch (const std::exception&) {
        return json(pid);
    }
}

json subject(const Subject& s)
{
    return {{"instance", s.instance},         {"pid", pid_value(s.pid)}, {"comm", s.comm},
            {"container_id", s.container_id}, {"pod_uid", s.pod_uid},    {"cgroup", s.cgroup}};
}

json with_subject(const Subject& s, json extra)
{
    json j = subject(s);
    for (auto& [k, v] : extra.items())
        j[k] = v;
    return j;
}

json sites(const std::vector<Site>& list, bool heap)
{
    json a = json::array();
    for (const auto& s : list) {
        json j = {{"site", s.site}, {heap ? "live_bytes" : "bytes", num(s.bytes)}};
        if (heap)
            j["growing"] = s.growing;
        a.push_back(j);
    }
    return a;
}

json suspect(const LeakSuspect& l)
{
    return with_subject(l.who, {{"kind", l.kind},
                                {"max_suspicion", num(l.max_suspicion)},
                                {"last_suspicion", opt(l.last_suspicion)},
                                {"growth_bytes_per_second", opt(l.growth_bytes_per_second)},
                                {"growth_sites", sites(l.growth_sites, false)},
                                {"heap_sites", sites(l.heap_sites, true)},
                                {"reasons", l.reasons}});
}

json series(const std::vector<Series>& list)
{
    json a = json::array();
    for (const auto& s : list) {
        json points = json::array();
        for (const auto& p : s.points)
            points.push_back({p.t, num(p.v)});
        a.push_back({{"label", s.label}, {"points", points}});
    }
    return a;
}

json counts(const std::vector<Count>& list)
{
    json o = json::object();
    for (const auto& c : list)
        o[c.name] = num(c.value);
    return o;
}

json change(const NameChange& c)
{
    return {{"new", c.added}, {"gone", c.gone}};
}

} // namespace

nlohmann::json to_json(const Report& r)
{
    json j;
    j["schema"] = kSchema;
    j["generated_at"] = rfc3339(r.generated_at);
    j["prometheus"] = r.prometheus;
    j["period"] = {{"since", r.since},
                   {"start", rfc3339(r.start)},
                   {"end", rfc3339(r.end)},
                   {"seconds", r.end - r.start},
                   {"step_seconds", r.step}};
    j["filters"] = {{"cluster", r.cluster}, {"instance", r.instance}, {"container_id", r.container_id}};

    json nodes = json::array();
    for (const auto& n : r.fleet.nodes)
        nodes.push_back({{"instance", n.instance},
                         {"version", n.version},
                         {"kernel", n.kernel},
                         {"availability", num(n.availability)}});
    j["fleet"] = {{"agents", r.fleet.nodes.size()},
                  {"nodes", nodes},
                  {"processes_tracked", num(r.fleet.processes_tracked)},
                  {"containers_tracked", num(r.fleet.containers_tracked)},
                  {"memory_in_use_bytes", num(r.fleet.memory_in_use_bytes)},
                  {"container_working_set_bytes", num(r.fleet.container_working_set_bytes)}};

    json procs = json::array();
    for (const auto& m : r.top_processes)
        procs.push_back(with_subject(m.who, {{"peak_bytes", num(m.peak_bytes)}, {"last_bytes", opt(m.last_bytes)}}));
    j["top_processes"] = procs;
    json conts = json::array();
    for (const auto& m : r.top_containers)
        conts.push_back(with_subject(m.who, {{"peak_bytes", num(m.peak_bytes)},
                                             {"last_bytes", opt(m.last_bytes)},
                                             {"limit_bytes", opt(m.limit_bytes)}}));
    j["top_containers"] = conts;

    json growers = json::array();
    for (const auto& g : r.top_growers)
        growers.push_back(with_subject(g.who, {{"slope_bytes_per_second", num(g.slope_bytes_per_second)},
                                               {"grown_bytes", num(g.grown_bytes)},
                                               {"observed_seconds", num(g.observed_seconds)},
                                               {"trend_bytes_per_second", opt(g.trend_bytes_per_second)},
                                               {"last_bytes", opt(g.last_bytes)}}));
    j["top_growers"] = growers;

    json suspects = json::array();
    for (const auto& l : r.leak_suspects)
        suspects.push_back(suspect(l));
    j["leak_suspects"] = suspects;

    json by_series = json::array();
    for (const auto& o : r.oom_kills)
        by_series.push_back(with_subject(o.who, {{"kills", num(std::round(o.kills))}}));
    json victims = json::array();
    for (const auto& v : r.oom_victims)
        victims.push_back(with_subject(v.who, {{"resident_bytes", num(v.resident_bytes)},
                                               {"first_seen", v.first_seen ? json(rfc3339(*v.first_seen)) : json()},
                                               {"forensic", v.forensic ? *v.forensic : json()}}));
    j["oom_kills"] = {{"total", num(std::round(r.oom_kills_total))},
                      {"by_series", by_series},
                      {"victims", victims},
                      {"forensic_records", r.forensic_records ? json(*r.forensic_records) : json()}};

    json exits = json::array();
    for (const auto& e : r.exit_peaks)
        exits.push_back(with_subject(e.who, {{"peak_bytes", num(e.peak_bytes)}}));
    j["exits"] = {{"total", num(std::round(r.exits))}, {"peaks", exits}};

    json near = json::array();
    for (const auto& n : r.near_limit)
        near.push_back(with_subject(n.who, {{"max_ratio", num(n.max_ratio)},
                                            {"last_ratio", opt(n.last_ratio)},
                                            {"limit_bytes", opt(n.limit_bytes)},
                                            {"min_time_to_limit_seconds", opt(n.min_time_to_limit_seconds)},
                                            {"last_time_to_limit_seconds", opt(n.last_time_to_limit_seconds)}}));
    j["near_limit"] = near;

    json sessions = json::array();
    for (const auto& s : r.deep.sessions)
        sessions.push_back(
            with_subject(s.who, {{"origin", s.origin}, {"max_overhead_ratio", num(s.max_overhead_ratio)}}));
    json heap = json::array();
    for (const auto& h : r.deep.heap_sites)
        heap.push_back(with_subject(h.who, {{"heap_sites", sites(h.heap_sites, true)}}));
    j["deep"] = {{"escalations_started", num(std::round(r.deep.escalations_started))},
                 {"escalations_finished", counts(r.deep.escalations_finished)},
                 {"escalations_refused", counts(r.deep.escalations_refused)},
                 {"overhead_stops", num(std::round(r.deep.overhead_stops))},
                 {"max_sessions", num(r.deep.max_sessions)},
                 {"sessions", sessions},
                 {"heap_sites", heap},
                 {"profiles", r.deep.profiles},
                 {"profiles_note", r.deep.profiles_note}};

    const auto& c = r.changes;
    j["changes"] = {
        {"previous_period", {{"start", rfc3339(c.previous_start)}, {"end", rfc3339(c.previous_end)}}},
        {"memory_in_use_bytes",
         {{"previous", opt(c.memory_in_use_previous)}, {"current", opt(c.memory_in_use_current)}}},
        {"oom_kills",
         {{"previous", num(std::round(c.oom_kills_previous))}, {"current", num(std::round(c.oom_kills_current))}}},
        {"leak_suspects",
         {{"previous", c.leak_suspects_previous},
          {"current", c.leak_suspects_current},
          {"new", c.leak_suspects.added},
          {"gone", c.leak_suspects.gone}}},
        {"top_growers", change(c.top_growers)}};

    j["charts"] = {{"memory", series(r.memory_over_time)}, {"suspicion", series(r.suspicion_over_time)}};
    j["warnings"] = r.warnings;
    return j;
}

} // namespace memsight::report
