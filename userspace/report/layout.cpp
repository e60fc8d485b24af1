// What the HTML and Markdown reports show, section by section, as raw text (the renderers escape it).
#include "report/format.h"
#include "report/render.h"
#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace memsight::report {
namespace {

Block text(std::string t)
{
    Block b;
    b.kind = Block::Kind::Text;
    b.text = std::move(t);
    return b;
}

Block table(std::vector<std::string> head, std::vector<std::vector<std::string>> rows, std::string empty)
{
    Block b;
    b.kind = Block::Kind::Table;
    b.table = {std::move(head), std::move(rows), std::move(empty)};
    return b;
}

Block chart(std::string name, std::string title, std::string svg)
{
    Block b;
    b.kind = Block::Kind::Chart;
    b.chart_name = std::move(name);
    b.chart_title = std::move(title);
    b.svg = std::move(svg);
    return b;
}

std::string opt_bytes(const std::optional<double>& v, const char* none = "gone")
{
    return v ? bytes(*v) : none;
}

std::string pid_text(const Subject& s)
{
    return s.pid.empty() ? "-" : s.pid;
}

std::string sites_text(const std::vector<Site>& sites, bool heap)
{
    std::string out;
    for (const auto& s : sites) {
        out +=
            (out.empty() ? "" : ", ") + s.site + " (" + bytes(s.bytes) + (heap && s.growing ? ", growing" : "") + ")";
    }
    return out.empty() ? "-" : out;
}

std::string join(const std::vector<std::string>& v, const char* sep)
{
    std::string out;
    for (const auto& s : v)
        out += (out.empty() ? "" : sep) + s;
    return out;
}

std::string change_text(const NameChange& c)
{
    return "new: " + (c.added.empty() ? std::string("none") : join(c.added, ", ")) +
           "; gone: " + (c.gone.empty() ? std::string("none") : join(c.gone, ", "));
}

Section fleet(const Report& r)
{
    Section s{"fleet", "Fleet", {}};
    std::string filters;
    if (!r.cluster.empty())
        filters += " cluster=" + r.cluster;
    if (!r.instance.empty())
        filters += " instance=" + r.instance;
    if (!r.container_id.empty())
        filters += " container_id=" + r.container_id;
    s.blocks.push_back(text("From " + utc_time(r.start) + " to " + utc_time(r.end) + " (" + r.since + ", step " +
                            duration(r.step) + "), Prometheus " + r.prometheus +
                            (filters.empty() ? "" : ", filtered by" + filters) + "."));
    s.blocks.push_back(table(
        {"agents", "processes tracked", "containers tracked", "memory in use (exported processes)",
         "container working sets"},
        {{std::to_string(r.fleet.nodes.size()), count(r.fleet.processes_tracked), count(r.fleet.containers_tracked),
          bytes(r.fleet.memory_in_use_bytes), bytes(r.fleet.container_working_set_bytes)}},
        ""));
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : r.fleet.nodes)
        rows.push_back({n.instance, n.version, n.kernel, percent(n.availability)});
    s.blocks.push_back(table({"instance", "version", "kernel", "scraped (up)"}, rows, "No agents."));
    return s;
}

Section top_users(const Report& r)
{
    Section s{"top-users", "Top memory users", {}};
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : r.top_processes)
        rows.push_back({m.who.comm, pid_text(m.who), short_id(m.who.container_id), m.who.instance, bytes(m.peak_bytes),
                        opt_bytes(m.last_bytes)});
    s.blocks.push_back(table({"process", "pid", "container", "instance", "peak RSS", "RSS at the end"}, rows,
                             "No process series in this period."));
    s.blocks.push_back(
        chart("memory", "Resident memory of the top users",
              line_chart("Resident memory of the top users", r.memory_over_time, r.start, r.end, Unit::Bytes)));
    rows.clear();
    for (const auto& m : r.top_containers)
        rows.push_back({short_id(m.who.container_id), m.who.cgroup, m.who.instance, bytes(m.peak_bytes),
                        opt_bytes(m.last_bytes), m.limit_bytes ? bytes(*m.limit_bytes) : "none"});
    s.blocks.push_back(table({"container", "cgroup", "instance", "peak working set", "at the end", "limit"}, rows,
                             "No containers in this period."));
    return s;
}

Section growers(const Report& r)
{
    Section s{"growers", "Top growers", {}};
    s.blocks.push_back(
        text("Slope: least-squares fit of the process's resident memory over its readings in the "
             "period. Trend: the agent's Theil-Sen trend over its growth window, highest in the period."));
    std::vector<std::vector<std::string>> rows;
    for (const auto& g : r.top_growers)
        rows.push_back({g.who.comm, pid_text(g.who), short_id(g.who.container_id), g.who.instance,
                        rate(g.slope_bytes_per_second), bytes(g.grown_bytes) + " in " + duration(g.observed_seconds),
                        g.trend_bytes_per_second ? rate(*g.trend_bytes_per_second) : "-", opt_bytes(g.last_bytes)});
    s.blocks.push_back(table({"process", "pid", "container", "instance", "slope", "gained", "trend", "RSS at the end"},
                             rows, "Nothing grew in this period."));
    return s;
}

Section leaks(const Report& r)
{
    Section s{"leaks", "Suspected leaks", {}};
    std::vector<std::vector<std::string>> rows;
    for (const auto& l : r.leak_suspects)
        rows.push_back({l.kind == "process" ? l.who.comm : l.who.cgroup, pid_text(l.who), short_id(l.who.container_id),
                        l.who.instance, ratio(l.max_suspicion), l.last_suspicion ? ratio(*l.last_suspicion) : "gone",
                        l.growth_bytes_per_second ? rate(*l.growth_bytes_per_second) : "-",
                        sites_text(l.growth_sites, false) +
                            (l.heap_sites.empty() ? "" : "; heap: " + sites_text(l.heap_sites, true)),
                        join(l.reasons, "; ")});
    s.blocks.push_back(table(
        {"suspect", "pid", "container", "instance", "max suspicion", "at the end", "growth", "growth sites", "why"},
        rows, "No leak suspects (suspicion above 0.5) in this period."));
    if (!r.suspicion_over_time.empty())
        s.blocks.push_back(
            chart("suspicion", "Leak suspicion over time",
                  line_chart("Leak suspicion over time", r.suspicion_over_time, r.start, r.end, Unit::Ratio)));
    return s;
}

Section ooms(const Report& r)
{
    Section s{"oom", "OOM kills", {}};
    s.blocks.push_back(text(count(r.oom_kills_total) + " OOM kill(s) in this period."));
    std::vector<std::vector<std::string>> rows;
    std::vector<std::pair<std::string, double>> bars;
    std::map<std::string, double> per_container;
    for (const auto& o : r.oom_kills) {
        rows.push_back({o.who.comm, short_id(o.who.container_id), o.who.pod_uid.empty() ? "-" : o.who.pod_uid,
                        o.who.instance, count(o.kills)});
        per_container[o.who.container_id.empty() ? "(no container)" : short_id(o.who.container_id)] += o.kills;
    }
    s.blocks.push_back(table({"victim command", "container", "pod", "instance", "kills"}, rows, "No OOM kills."));
    for (const auto& [k, v] : per_container)
        bars.emplace_back(k, std::round(v));
    std::stable_sort(bars.begin(), bars.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (!bars.empty())
        s.blocks.push_back(
            chart("oom-kills", "OOM kills per container", bar_chart("OOM kills per container", bars, Unit::Count)));
    rows.clear();
    for (const auto& v : r.oom_victims) {
        std::string detail = "-";
        if (v.forensic) {
            const auto& f = *v.forensic;
            detail.clear();
            const auto add = [&](const std::string& t) { detail += (detail.empty() ? "" : "; ") + t; };
            if (f.contains("time") && f["time"].is_string())
                add("killed " + f["time"].get<std::string>());
            if (f.contains("victim") && f["victim"].value("cmdline", "") != "")
                add("cmdline " + f["victim"].value("cmdline", ""));
            if (f.contains("kill") && f["kill"].is_object()) {
                const auto& k = f["kill"];
                if (k.contains("trigger") && k["trigger"].is_object())
                    add("triggered by " + k["trigger"].value("comm", "?") + " (pid " +
                        std::to_string(k["trigger"].value("pid", 0)) + ")");
                if (k.contains("memcg") && k["memcg"].is_object() && k["memcg"].contains("limit_bytes") &&
                    k["memcg"]["limit_bytes"].is_number())
                    add("memcg limit " + bytes(k["memcg"]["limit_bytes"].get<double>()));
            }
            if (f.contains("before_kill") && f["before_kill"].is_object() &&
                f["before_kill"].contains("growth_bytes_per_second") &&
                f["before_kill"]["growth_bytes_per_second"].is_number())
                add("growing " + rate(f["before_kill"]["growth_bytes_per_second"].get<double>()) + " before the kill");
            if (f.contains("growth_sites") && f["growth_sites"].is_array() && !f["growth_sites"].empty()) {
                std::string sites;
                for (const auto& g : f["growth_sites"])
                    if (g.is_object())
                        sites += (sites.empty() ? "" : ", ") + g.value("site", "?");
                add("growth sites " + sites);
            }
            if (f.contains("history") && f["history"].is_object() && f["history"].contains("readings") &&
                f["history"]["readings"].is_number())
                add(std::to_string(f["history"]["readings"].get<long long>()) + " readings before the kill");
            if (f.contains("profiles") && f["profiles"].is_array() && !f["profiles"].empty())
                add(std::to_string(f["profiles"].size()) + " profile(s)");
        }
        rows.push_back({v.who.comm, pid_text(v.who), short_id(v.who.container_id), v.who.instance,
                        bytes(v.resident_bytes), v.first_seen ? utc_time(*v.first_seen) : "-", detail});
    }
    s.blocks.push_back(table({"victim", "pid", "container", "instance", "resident at the kill", "seen", "forensics"},
                             rows, "No OOM victims recorded in this period."));
    if (!r.forensic_records)
        s.blocks.push_back(text("Forensic records: not read (give --agent URL of the node's agent for them)."));
    else
        s.blocks.push_back(
            text("Forensic records: " + std::to_string(*r.forensic_records) + " from the agent in this period."));
    return s;
}

Section exits(const Report& r)
{
    Section s{"exits", "Exit peaks", {}};
    s.blocks.push_back(text(count(r.exits) + " process exit(s) in this period. The largest peaks of processes that "
                                             "exited (the kernel's lifetime high-water RSS):"));
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : r.exit_peaks)
        rows.push_back(
            {e.who.comm, pid_text(e.who), short_id(e.who.container_id), e.who.instance, bytes(e.peak_bytes)});
    s.blocks.push_back(table({"process", "pid", "container", "instance", "peak RSS"}, rows, "No exit peaks recorded."));
    return s;
}

Section near_limit(const Report& r)
{
    Section s{"near-limit", "Containers near their limits", {}};
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : r.near_limit)
        rows.push_back({short_id(n.who.container_id), n.who.cgroup, n.who.instance, percent(n.max_ratio),
                        n.last_ratio ? percent(*n.last_ratio) : "gone", n.limit_bytes ? bytes(*n.limit_bytes) : "-",
                        n.min_time_to_limit_seconds ? duration(*n.min_time_to_limit_seconds) : "-",
                        n.last_time_to_limit_seconds ? duration(*n.last_time_to_limit_seconds) : "-"});
    s.blocks.push_back(table({"container", "cgroup", "instance", "highest use of limit", "at the end", "limit",
                              "shortest time to limit", "time to limit at the end"},
                             rows, "No container reached 80% of its limit or was projected to reach it within 4h."));
    return s;
}

Section deep(const Report& r)
{
    Section s{"deep", "Deep sessions and escalations", {}};
    const auto& d = r.deep;
    std::string finished, refused;
    for (const auto& c : d.escalations_finished)
        finished += (finished.empty() ? "" : ", ") + c.name + " " + count(c.value);
    for (const auto& c : d.escalations_refused)
        refused += (refused.empty() ? "" : ", ") + c.name + " " + count(c.value);
    s.blocks.push_back(table({"escalations started", "finished (by reason)", "refused (by reason)",
                              "stopped by the overhead governor", "most sessions at once"},
                             {{count(d.escalations_started), finished.empty() ? "-" : finished,
                               refused.empty() ? "-" : refused, count(d.overhead_stops), count(d.max_sessions)}},
                             ""));
    std::vector<std::vector<std::string>> rows;
    for (const auto& x : d.sessions)
        rows.push_back({x.who.comm, pid_text(x.who), short_id(x.who.container_id), x.who.instance, x.origin,
                        percent(x.max_overhead_ratio)});
    s.blocks.push_back(table({"process", "pid", "container", "instance", "origin", "highest overhead"}, rows,
                             "No deep sessions in this period."));
    rows.clear();
    for (const auto& h : d.heap_sites)
        rows.push_back({h.who.comm, pid_text(h.who), h.who.instance, sites_text(h.heap_sites, true)});
    if (!rows.empty())
        s.blocks.push_back(
            table({"process", "pid", "instance", "heap sites (most live bytes in the period)"}, rows, ""));
    if (!d.profiles.empty())
        s.blocks.push_back(text("Profiles (from the agent's OOM forensic records): " + join(d.profiles, ", ")));
    if (!d.profiles_note.empty())
        s.blocks.push_back(text(d.profiles_note));
    return s;
}

Section changes(const Report& r)
{
    Section s{"changes", "What changed since the previous period", {}};
    const auto& c = r.changes;
    s.blocks.push_back(text("Previous period: " + utc_time(c.previous_start) + " to " + utc_time(c.previous_end) +
                            " (the same queries, one period earlier)."));
    s.blocks.push_back(
        table({"", "previous period", "this period"},
              {{"memory in use (exported processes, at the end)", opt_bytes(c.memory_in_use_previous, "-"),
                opt_bytes(c.memory_in_use_current, "-")},
               {"OOM kills", count(c.oom_kills_previous), count(c.oom_kills_current)},
               {"leak suspects", std::to_string(c.leak_suspects_previous), std::to_string(c.leak_suspects_current)}},
              ""));
    s.blocks.push_back(text("Leak suspects: " + change_text(c.leak_suspects) + "."));
    s.blocks.push_back(text("Top growers: " + change_text(c.top_growers) + "."));
    return s;
}

} // namespace

std::vector<Section> layout(const Report& r)
{
    // The most urgent first: kills, then suspected leaks, then who uses and gains memory.
    std::vector<Section> out = {fleet(r),      ooms(r),  leaks(r), top_users(r), growers(r),
                                near_limit(r), exits(r), deep(r),  changes(r)};
    if (!r.warnings.empty()) {
        Section w{"warnings", "Warnings", {}};
        for (const auto& t : r.warnings)
            w.blocks.push_back(text(t));
        out.push_back(w);
    }
    return out;
}

} // namespace memsight::report
