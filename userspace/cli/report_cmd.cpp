// memsight report: what a fleet's Prometheus recorded over a period (top users, growers, suspected leaks, OOM kills
// with their forensic records, exit peaks, containers near their limits, deep sessions, what changed), written as
// one self-contained HTML file, Markdown or JSON (docs/reports.md). The model and renderers are in report/; this
// file asks Prometheus (/api/v1/query, /api/v1/query_range) and the agent (/oom).
#include "cli/commands.h"
#include "cli/http_client.h"
#include "config/config.h"
#include "report/format.h"
#include "report/render.h"
#include "report/report.h"
#include "util/error.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

namespace memsight::cli {
namespace {

using nlohmann::json;
namespace rep = memsight::report;

constexpr int kPrometheusPort = 9090;
constexpr int kAgentPort = 9756;
constexpr int kQueryTimeoutMs = 60000;
constexpr double kSuspicionThreshold = 0.5;    // the report lists suspects above it (the alerts warn at 0.7)
constexpr double kNearLimitRatio = 0.8;        // containers listed from 80% of their limit...
constexpr double kLimitSoonSeconds = 4 * 3600; // ...or projected to reach it within 4 h (the prod alert's threshold)
constexpr int kChartSeries = 5;                // lines per chart
constexpr int kChartPoints = 240;              // points per line over the period

struct ReportArgs {
    std::string prometheus;
    std::string since = "24h";
    std::string cluster, instance, container;
    std::string agent;
    std::string format = "html";
    std::string output;
    std::string post_url;
    std::string post_format = "report";
    int top = 10;
};

std::string promql_string(const std::string& s)
{
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\')
            out += '\\';
        if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out + "\"";
}

std::string regex_quote(const std::string& s)
{
    std::string out;
    for (const char c : s) {
        if (std::string_view(".^$*+?()[]{}|\\").find(c) != std::string_view::npos)
            out += '\\';
        out += c;
    }
    return out;
}

double number(const json& v)
{
    const std::string s = v.is_string() ? v.get<std::string>() : v.dump();
    try {
        return std::stod(s);
    } catch (const std::exception&) {
        return NAN;
    }
}

// The Prometheus HTTP API at one URL.
class Prometheus {
public:
    explicit Prometheus(Url url) : url_(std::move(url)) {}
    const Url& url() const { return url_; }

    // Instant query at `at`: the result vector (a scalar becomes one sample without labels).
    std::vector<json> query(const std::string& q, double at)
    {
        char t[32];
        std::snprintf(t, sizeof(t), "%.3f", at);
        const json data = call("/api/v1/query?query=" + url_encode(q) + "&time=" + t, q);
        if (data.value("resultType", "") == "scalar")
            return {json{{"metric", json::object()}, {"value", data["result"]}}};
        return data.contains("result") && data["result"].is_array() ? data["result"].get<std::vector<json>>()
                                                                    : std::vector<json>{};
    }

    std::vector<json> query_range(const std::string& q, double start, double end, double step)
    {
        char t[128];
        std::snprintf(t, sizeof(t), "&start=%.3f&end=%.3f&step=%.0f", start, end, step);
        const json data = call("/api/v1/query_range?query=" + url_encode(q) + t, q);
        return data.contains("result") && data["result"].is_array() ? data["result"].get<std::vector<json>>()
                                                                    : std::vector<json>{};
    }

private:
    json call(const std::string& path_and_query, const std::string& q)
    {
        const auto r = http_get(url_, path_and_query, "Prometheus server", kQueryTimeoutMs, true);
        json body;
        try {
            body = json::parse(r.body);
        } catch (const json::exception&) {
            throw UserError("the Prometheus server at " + url_.text + " answered HTTP " + std::to_string(r.status) +
                            " without a JSON body: is it Prometheus (its HTTP API, /api/v1)?");
        }
        if (body.value("status", "") != "success")
            throw UserError("Prometheus at " + url_.text + " refused a query (HTTP " + std::to_string(r.status) + ", " +
                            body.value("errorType", "error") + "): " + body.value("error", "no message") +
                            " (query: " + q + ")");
        for (const auto& w : body.value("warnings", std::vector<std::string>{}))
            spdlog::warn("Prometheus: {} (query: {})", w, q);
        return body.value("data", json::object());
    }
    Url url_;
};

rep::Subject subject(const json& sample)
{
    const json& m = sample.contains("metric") ? sample["metric"] : json::object();
    rep::Subject s;
    s.instance = m.value("instance", "");
    s.pid = m.value("pid", "");
    s.comm = m.value("comm", "");
    s.container_id = m.value("container_id", "");
    s.pod_uid = m.value("pod_uid", "");
    s.cgroup = m.value("cgroup", "");
    return s;
}

double value(const json& sample)
{
    return sample.contains("value") && sample["value"].is_array() && sample["value"].size() == 2
               ? number(sample["value"][1])
               : NAN;
}

std::string label(const json& sample, const char* name)
{
    return sample.contains("metric") ? sample["metric"].value(name, "") : "";
}

// Keys that identify a process and a container in one period, and across periods (pids change on restart).
std::string process_key(const rep::Subject& s)
{
    return s.instance + "|" + s.pid;
}
std::string container_key(const rep::Subject& s)
{
    return s.instance + "|" + s.container_id;
}
std::string stable_name(const rep::Subject& s)
{
    std::string name = !s.comm.empty() ? s.comm : !s.cgroup.empty() ? s.cgroup : rep::short_id(s.container_id);
    if (!s.container_id.empty() && !s.comm.empty())
        name += " (container " + rep::short_id(s.container_id) + ")";
    return name + (s.instance.empty() ? "" : " on " + s.instance);
}

std::map<std::string, double> by_key(const std::vector<json>& samples, std::string (*key)(const rep::Subject&))
{
    std::map<std::string, double> out;
    for (const auto& s : samples)
        out[key(subject(s))] = value(s);
    return out;
}

std::optional<double> find(const std::map<std::string, double>& m, const std::string& k)
{
    const auto it = m.find(k);
    if (it == m.end() || !std::isfinite(it->second))
        return std::nullopt;
    return it->second;
}

std::vector<json> sorted_desc(std::vector<json> v)
{
    std::stable_sort(v.begin(), v.end(), [](const json& a, const json& b) { return value(a) > value(b); });
    return v;
}

// Everything queried for one period ending at `end` with window `w` (a Prometheus duration).
class Collector {
public:
    Collector(Prometheus& p, const ReportArgs& a, double seconds) : p_(p), a_(a), seconds_(seconds)
    {
        sel_ = "job=\"memsight\"";
        if (!a.cluster.empty())
            sel_ += ",cluster=" + promql_string(a.cluster);
        if (!a.instance.empty())
            sel_ += ",instance=" + promql_string(a.instance);
        csel_ = sel_;
        if (!a.container.empty())
            csel_ += ",container_id=" + promql_string(a.container);
        w_ = std::to_string(static_cast<long long>(std::llround(seconds))) + "s";
        step_ = std::max(1.0, std::ceil(seconds / kChartPoints));
        sub_ = "[" + w_ + ":" + std::to_string(static_cast<long long>(step_)) + "s]";
    }
    double step() const { return step_; }
    const std::string& sel() const { return sel_; }

    std::vector<json> q(const std::string& query, double at) { return p_.query(query, at); }

    // A counter's increase over the window, counting a series' first appearance with its value (docs/alerting.md).
    std::string increase_with_first(const std::string& metric_selector) const
    {
        return "((" + metric_selector + " unless " + metric_selector + " offset " + w_ + ") or increase(" +
               metric_selector + "[" + w_ + "]))";
    }
    std::string m(const char* metric, bool containers = true) const
    {
        return std::string(metric) + "{" + (containers ? csel_ : sel_) + "}";
    }
    std::string m_pids(const char* metric, const std::set<std::string>& pids) const
    {
        std::string re;
        for (const auto& p : pids)
            re += (re.empty() ? "" : "|") + regex_quote(p);
        return std::string(metric) + "{" + csel_ + ",pid=~" + promql_string(re) + "}";
    }
    std::string rss() const { return "sum without (kind) (" + m("memsight_process_resident_bytes") + ")"; }
    // The heap sites of deep sessions on `pids` in the period (their highest live bytes, by `by`), and which of them
    // kept growing, keyed process_key|site.
    struct HeapSites {
        std::vector<json> live;
        std::map<std::string, double> growing;
    };
    HeapSites heap_sites(const std::set<std::string>& pids, const std::string& by, double at)
    {
        HeapSites h;
        h.live =
            q("max by (" + by + ") (max_over_time(" + m_pids("memsight_heap_live_bytes", pids) + "[" + w_ + "]))", at);
        for (const auto& s : q("max by (instance, pid, site) (max_over_time(" +
                                   m_pids("memsight_heap_site_growing", pids) + "[" + w_ + "]))",
                               at))
            h.growing[process_key(subject(s)) + "|" + label(s, "site")] = value(s);
        return h;
    }

    double memory_in_use(double at) { return sum(q("sum(" + m("memsight_process_resident_bytes") + ")", at)); }
    double oom_total(double at)
    {
        return sum(q("sum(" + increase_with_first(m("memsight_oom_kills_total")) + ")", at));
    }
    std::vector<json> process_suspects(double at)
    {
        return sorted_desc(q("topk(" + std::to_string(a_.top) + ", max_over_time(" +
                                 m("memsight_process_leak_suspicion") + "[" + w_ + "]) > " + num(kSuspicionThreshold) +
                                 ")",
                             at));
    }
    std::vector<json> container_suspects(double at)
    {
        return sorted_desc(q("topk(" + std::to_string(a_.top) + ", max_over_time(" +
                                 m("memsight_container_leak_suspicion") + "[" + w_ + "]) > " +
                                 num(kSuspicionThreshold) + ")",
                             at));
    }
    // How long each process was seen in the period (seconds between its first and last reading).
    std::string observed() const
    {
        return "(max_over_time(timestamp(" + rss() + ")" + sub_ + ") - min_over_time(timestamp(" + rss() + ")" + sub_ +
               "))";
    }
    // The processes that gained the most: the least-squares slope of their RSS times the time they were seen, among
    // those seen for at least a tenth of the period (a compiler's or a batch job's ramp over its few seconds of life
    // is an exit peak, not growth).
    std::vector<json> growers(double at)
    {
        return sorted_desc(q("topk(" + std::to_string(a_.top) + ", (deriv((" + rss() + ")" + sub_ + ") * " +
                                 observed() + " > 0) and " + observed() + " >= " + num(seconds_ / 10) + ")",
                             at));
    }

    static double sum(const std::vector<json>& v)
    {
        double s = 0;
        for (const auto& x : v)
            if (std::isfinite(value(x)))
                s += value(x);
        return s;
    }
    static std::string num(double v)
    {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%g", v);
        return buf;
    }

    std::string w_, sub_;

private:
    Prometheus& p_;
    const ReportArgs& a_;
    double seconds_;
    double step_ = 1;
    std::string sel_, csel_;
};

std::vector<rep::Series> range_series(Prometheus& p, const std::string& q, double start, double end, double step,
                                      const std::map<std::string, std::string>& wanted)
{
    std::vector<rep::Series> out;
    std::map<std::string, rep::Series> by;
    for (const auto& s : p.query_range(q, start, end, step)) {
        const auto k = process_key(subject(s));
        const auto it = wanted.find(k);
        if (it == wanted.end())
            continue;
        rep::Series series{it->second, {}};
        for (const auto& v : s.value("values", json::array()))
            if (v.is_array() && v.size() == 2)
                series.points.push_back({number(v[0]), number(v[1])});
        by[k] = std::move(series);
    }
    for (const auto& [k, name] : wanted)
        if (by.count(k))
            out.push_back(std::move(by[k]));
    return out;
}

void add_sites(rep::LeakSuspect& l, const std::vector<json>& growth, const std::vector<json>& heap,
               const std::map<std::string, double>& growing)
{
    for (const auto& s : sorted_desc(growth))
        if (process_key(subject(s)) == process_key(l.who) && l.growth_sites.size() < 3)
            l.growth_sites.push_back({label(s, "site"), value(s), false});
    for (const auto& s : sorted_desc(heap))
        if (process_key(subject(s)) == process_key(l.who) && l.heap_sites.size() < 3)
            l.heap_sites.push_back({label(s, "site"), value(s),
                                    find(growing, process_key(subject(s)) + "|" + label(s, "site")).value_or(0) > 0});
}

void read_forensics(rep::Report& r, const std::string& agent, const std::string& container_filter)
{
    Url url;
    try {
        url = parse_url(agent, "--agent", kAgentPort, "");
    } catch (const UserError&) {
        throw; // bad usage of the flag: an error, not a warning
    }
    json records;
    try {
        const auto resp = http_get(url, "/oom?limit=1000", "agent", 10000, true);
        if (resp.status == 404) {
            r.warnings.push_back("the agent at " + url.text +
                                 " has no /oom endpoint (an agent without OOM forensics): forensic records left out");
            return;
        }
        if (resp.status != 200) {
            r.warnings.push_back("the agent at " + url.text + " answered HTTP " + std::to_string(resp.status) +
                                 " for /oom: forensic records left out");
            return;
        }
        records = json::parse(resp.body).value("records", json::array());
    } catch (const UserError& e) {
        r.warnings.push_back(std::string(e.what()) + ": forensic records left out");
        return;
    } catch (const json::exception& e) {
        r.warnings.push_back("the agent at " + url.text + " answered /oom with something else than JSON records (" +
                             e.what() + "): forensic records left out");
        return;
    }
    size_t in_period = 0;
    const std::string agent_instance = url.host + ":" + std::to_string(url.port);
    for (const auto& rec : records) {
        if (!rec.is_object())
            continue;
        double t = NAN;
        if (rec.contains("time") && rec["time"].is_string()) {
            std::tm tm{};
            const std::string ts = rec["time"];
            if (strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm))
                t = static_cast<double>(timegm(&tm));
        }
        if (std::isfinite(t) && (t < r.start - 1 || t > r.end + 1))
            continue;
        const json victim = rec.value("victim", json::object());
        const std::string pid = victim.contains("pid") ? victim["pid"].dump() : "";
        const std::string cid = victim.value("container_id", "");
        if (!container_filter.empty() && cid != container_filter)
            continue;
        ++in_period;
        bool matched = false;
        for (auto& v : r.oom_victims)
            if (v.who.pid == pid && (v.who.comm == victim.value("comm", "") || v.who.comm.empty()) && !v.forensic) {
                v.forensic = rec;
                matched = true;
                break;
            }
        if (!matched) {
            rep::OomVictim v;
            v.who = {agent_instance,
                     pid,
                     victim.value("comm", ""),
                     cid,
                     victim.value("pod_uid", ""),
                     victim.value("cgroup", "")};
            if (rec.contains("kill") && rec["kill"].contains("resident_bytes"))
                for (const auto& [k, b] : rec["kill"]["resident_bytes"].items())
                    if (b.is_number())
                        v.resident_bytes += b.get<double>();
            if (std::isfinite(t))
                v.first_seen = t;
            v.forensic = rec;
            r.oom_victims.push_back(std::move(v));
        }
        for (const auto& p : rec.value("profiles", json::array()))
            if (p.is_string())
                r.deep.profiles.push_back(p.get<std::string>());
    }
    r.forensic_records = in_period;
}

rep::Report collect(Prometheus& p, const ReportArgs& a, double seconds)
{
    rep::Report r;
    r.prometheus = p.url().text;
    r.since = a.since;
    r.cluster = a.cluster;
    r.instance = a.instance;
    r.container_id = a.container;
    const auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    r.generated_at = now;
    r.end = now;
    r.start = r.end - seconds;
    Collector c(p, a, seconds);
    r.step = c.step();
    const double end = r.end;
    const std::string& W = c.w_;
    const std::string top = std::to_string(a.top);

    // Is Prometheus scraping memsight at all?
    const auto build =
        c.q("max by (instance, version, kernel) (max_over_time(" + c.m("memsight_build_info", false) + "[" + W + "]))",
            end);
    if (build.empty()) {
        std::string filters;
        if (!a.cluster.empty() || !a.instance.empty())
            filters = " with " + c.sel() + " in the last " + a.since;
        throw UserError("no memsight_build_info in Prometheus at " + p.url().text + filters +
                        ": is it scraping the agents (job=\"memsight\")?");
    }

    // Fleet.
    const auto up = by_key(c.q("avg by (instance) (avg_over_time(up{" + c.sel() + "}[" + W + "]))", end),
                           [](const rep::Subject& s) { return s.instance; });
    for (const auto& b : build)
        r.fleet.nodes.push_back({label(b, "instance"), label(b, "version"), label(b, "kernel"),
                                 find(up, label(b, "instance")).value_or(NAN)});
    std::sort(r.fleet.nodes.begin(), r.fleet.nodes.end(),
              [](const rep::Node& x, const rep::Node& y) { return x.instance < y.instance; });
    r.fleet.processes_tracked =
        Collector::sum(c.q("sum(last_over_time(" + c.m("memsight_tracked_processes", false) + "[" + W + "]))", end));
    r.fleet.containers_tracked =
        Collector::sum(c.q("sum(last_over_time(" + c.m("memsight_tracked_containers", false) + "[" + W + "]))", end));
    r.fleet.memory_in_use_bytes = c.memory_in_use(end);
    r.fleet.container_working_set_bytes =
        Collector::sum(c.q("sum(" + c.m("memsight_container_memory_working_set_bytes") + ")", end));

    // Top users.
    const auto last_rss = by_key(c.q(c.rss(), end), process_key);
    std::map<std::string, std::string> chart_wanted; // process key -> legend
    std::set<std::string> chart_pids;
    for (const auto& s : sorted_desc(c.q("topk(" + top + ", max_over_time((" + c.rss() + ")" + c.sub_ + "))", end))) {
        rep::MemoryUser u{subject(s), value(s), find(last_rss, process_key(subject(s))), std::nullopt};
        if (static_cast<int>(chart_wanted.size()) < kChartSeries) {
            chart_wanted[process_key(u.who)] = rep::subject_name(u.who);
            chart_pids.insert(u.who.pid);
        }
        r.top_processes.push_back(std::move(u));
    }
    if (!chart_pids.empty()) {
        // Legends in the order of the table.
        r.memory_over_time =
            range_series(p, "sum without (kind) (" + c.m_pids("memsight_process_resident_bytes", chart_pids) + ")",
                         r.start, end, r.step, chart_wanted);
        std::stable_sort(r.memory_over_time.begin(), r.memory_over_time.end(),
                         [&](const rep::Series& x, const rep::Series& y) {
                             const auto rank = [&](const rep::Series& s) {
                                 for (size_t i = 0; i < r.top_processes.size(); ++i)
                                     if (rep::subject_name(r.top_processes[i].who) == s.label)
                                         return i;
                                 return r.top_processes.size();
                             };
                             return rank(x) < rank(y);
                         });
    }
    const auto last_ws = by_key(c.q(c.m("memsight_container_memory_working_set_bytes"), end), container_key);
    const auto limits = by_key(
        c.q("max_over_time(" + c.m("memsight_container_memory_limit_bytes") + "[" + W + "])", end), container_key);
    for (const auto& s : sorted_desc(c.q("topk(" + top + ", max_over_time(" +
                                             c.m("memsight_container_memory_working_set_bytes") + "[" + W + "]))",
                                         end))) {
        const auto who = subject(s);
        r.top_containers.push_back(
            {who, value(s), find(last_ws, container_key(who)), find(limits, container_key(who))});
    }

    // Growers.
    std::set<std::string> grower_pids;
    const auto grower_samples = c.growers(end);
    for (const auto& s : grower_samples)
        grower_pids.insert(label(s, "pid"));
    std::map<std::string, double> trends, observed;
    if (!grower_pids.empty()) {
        trends = by_key(
            c.q("max_over_time(" + c.m_pids("memsight_process_growth_bytes_per_second", grower_pids) + "[" + W + "])",
                end),
            process_key);
        observed = by_key(c.q(c.observed(), end), process_key);
    }
    for (const auto& s : grower_samples) {
        const auto who = subject(s);
        const double seen = find(observed, process_key(who)).value_or(NAN);
        r.top_growers.push_back(
            {who, value(s) / seen, value(s), seen, find(trends, process_key(who)), find(last_rss, process_key(who))});
    }

    // Suspected leaks: processes, then containers.
    const auto suspects = c.process_suspects(end);
    std::set<std::string> suspect_pids;
    for (const auto& s : suspects)
        suspect_pids.insert(label(s, "pid"));
    if (!suspect_pids.empty()) {
        const auto last = by_key(c.q(c.m_pids("memsight_process_leak_suspicion", suspect_pids), end), process_key);
        const auto growth = by_key(
            c.q("max_over_time(" + c.m_pids("memsight_process_growth_bytes_per_second", suspect_pids) + "[" + W + "])",
                end),
            process_key);
        const auto sites = c.q("max by (instance, pid, site) (max_over_time(" +
                                   c.m_pids("memsight_process_growth_site_bytes", suspect_pids) + "[" + W + "]))",
                               end);
        const auto heap = c.heap_sites(suspect_pids, "instance, pid, site", end);
        std::map<std::string, std::string> wanted;
        std::set<std::string> chart;
        for (const auto& s : suspects) {
            rep::LeakSuspect l;
            l.kind = "process";
            l.who = subject(s);
            l.max_suspicion = value(s);
            l.last_suspicion = find(last, process_key(l.who));
            l.growth_bytes_per_second = find(growth, process_key(l.who));
            add_sites(l, sites, heap.live, heap.growing);
            l.reasons.push_back("leak suspicion reached " + rep::ratio(l.max_suspicion) + " (listed above " +
                                rep::ratio(kSuspicionThreshold) + ")");
            if (l.growth_bytes_per_second)
                l.reasons.push_back("its resident memory grew up to " + rep::rate(*l.growth_bytes_per_second) +
                                    " (trend over the agent's growth window)");
            if (!l.growth_sites.empty())
                l.reasons.push_back("top growth site " + l.growth_sites[0].site + " faulted in " +
                                    rep::bytes(l.growth_sites[0].bytes));
            for (const auto& h : l.heap_sites)
                if (h.growing) {
                    l.reasons.push_back("deep session: heap site " + h.site + " kept growing (" + rep::bytes(h.bytes) +
                                        " live)");
                    break;
                }
            if (static_cast<int>(wanted.size()) < kChartSeries) {
                wanted[process_key(l.who)] = rep::subject_name(l.who);
                chart.insert(l.who.pid);
            }
            r.leak_suspects.push_back(std::move(l));
        }
        r.suspicion_over_time =
            range_series(p, c.m_pids("memsight_process_leak_suspicion", chart), r.start, end, r.step, wanted);
    }
    const auto csuspects = c.container_suspects(end);
    if (!csuspects.empty()) {
        const auto last = by_key(c.q(c.m("memsight_container_leak_suspicion"), end), container_key);
        const auto growth =
            by_key(c.q("max_over_time(" + c.m("memsight_container_growth_bytes_per_second") + "[" + W + "])", end),
                   container_key);
        const auto sites = c.q("max by (instance, container_id, site) (max_over_time(" +
                                   c.m("memsight_container_growth_site_bytes") + "[" + W + "]))",
                               end);
        for (const auto& s : csuspects) {
            rep::LeakSuspect l;
            l.kind = "container";
            l.who = subject(s);
            l.max_suspicion = value(s);
            l.last_suspicion = find(last, container_key(l.who));
            l.growth_bytes_per_second = find(growth, container_key(l.who));
            for (const auto& x : sorted_desc(sites))
                if (container_key(subject(x)) == container_key(l.who) && l.growth_sites.size() < 3)
                    l.growth_sites.push_back({label(x, "site"), value(x), false});
            l.reasons.push_back("the container's leak suspicion reached " + rep::ratio(l.max_suspicion));
            if (l.growth_bytes_per_second)
                l.reasons.push_back("its working set grew up to " + rep::rate(*l.growth_bytes_per_second));
            if (!l.growth_sites.empty())
                l.reasons.push_back("top growth site " + l.growth_sites[0].site);
            r.leak_suspects.push_back(std::move(l));
        }
    }

    // OOM kills.
    r.oom_kills_total = c.oom_total(end);
    for (const auto& s : sorted_desc(c.q("sum by (instance, comm, container_id, pod_uid) (" +
                                             c.increase_with_first(c.m("memsight_oom_kills_total")) + ") > 0",
                                         end)))
        r.oom_kills.push_back({subject(s), value(s)});
    const std::string victims = "(sum without (kind) (" + c.m("memsight_oom_victim_resident_bytes") + "))";
    const auto first_seen = by_key(c.q("min_over_time(timestamp" + victims + c.sub_ + ")", end), process_key);
    for (const auto& s : sorted_desc(c.q("max_over_time(" + victims + c.sub_ + ")", end))) {
        rep::OomVictim v;
        v.who = subject(s);
        v.resident_bytes = value(s);
        v.first_seen = find(first_seen, process_key(v.who));
        r.oom_victims.push_back(std::move(v));
    }
    std::stable_sort(r.oom_victims.begin(), r.oom_victims.end(),
                     [](const auto& x, const auto& y) { return x.first_seen.value_or(0) > y.first_seen.value_or(0); });
    if (!a.agent.empty())
        read_forensics(r, a.agent, a.container);

    // Exits.
    r.exits =
        Collector::sum(c.q("sum(" + c.increase_with_first(c.m("memsight_process_exits_total", false)) + ")", end));
    for (const auto& s : sorted_desc(c.q("topk(" + top + ", max_over_time(" +
                                             c.m("memsight_exited_process_peak_resident_bytes") + "[" + W + "]))",
                                         end)))
        r.exit_peaks.push_back({subject(s), value(s)});

    // Containers near their limits.
    const std::string ratio_q = "(" + c.m("memsight_container_memory_working_set_bytes") + " / " +
                                c.m("memsight_container_memory_limit_bytes") + ")";
    const auto max_ratio = c.q("max_over_time(" + ratio_q + c.sub_ + ")", end);
    const auto last_ratio = by_key(c.q(ratio_q, end), container_key);
    const auto min_ttl = by_key(
        c.q("min_over_time(" + c.m("memsight_container_time_to_limit_seconds") + "[" + W + "])", end), container_key);
    const auto last_ttl = by_key(c.q(c.m("memsight_container_time_to_limit_seconds"), end), container_key);
    for (const auto& s : sorted_desc(max_ratio)) {
        const auto who = subject(s);
        const auto ttl = find(min_ttl, container_key(who));
        if (value(s) < kNearLimitRatio && !(ttl && *ttl < kLimitSoonSeconds))
            continue;
        r.near_limit.push_back({who, value(s), find(last_ratio, container_key(who)), find(limits, container_key(who)),
                                ttl, find(last_ttl, container_key(who))});
    }

    // Deep sessions and escalations.
    auto& d = r.deep;
    d.escalations_started = Collector::sum(
        c.q("sum(" + c.increase_with_first(c.m("memsight_escalations_started_total", false)) + ")", end));
    for (const auto& s :
         c.q("sum by (reason) (" + c.increase_with_first(c.m("memsight_escalations_finished_total", false)) + ")", end))
        if (value(s) >= 0.5)
            d.escalations_finished.push_back({label(s, "reason"), value(s)});
    for (const auto& s :
         c.q("sum by (reason) (" + c.increase_with_first(c.m("memsight_escalations_refused_total", false)) + ")", end))
        if (value(s) >= 0.5)
            d.escalations_refused.push_back({label(s, "reason"), value(s)});
    d.overhead_stops = Collector::sum(
        c.q("sum(" + c.increase_with_first(c.m("memsight_deep_overhead_stops_total", false)) + ")", end));
    d.max_sessions =
        Collector::sum(c.q("max_over_time(sum(" + c.m("memsight_deep_sessions", false) + ")" + c.sub_ + ")", end));
    std::set<std::string> session_pids;
    for (const auto& s : sorted_desc(c.q("max by (instance, pid, comm, container_id, pod_uid, origin) (max_over_time(" +
                                             c.m("memsight_deep_session_overhead_ratio") + "[" + W + "]))",
                                         end))) {
        r.deep.sessions.push_back({subject(s), label(s, "origin"), value(s)});
        session_pids.insert(label(s, "pid"));
    }
    if (!session_pids.empty()) {
        const auto heap = c.heap_sites(session_pids, "instance, pid, comm, site", end);
        std::set<std::string> seen;
        for (const auto& s : sorted_desc(heap.live)) {
            const auto who = subject(s);
            if (!seen.insert(process_key(who)).second)
                continue;
            rep::LeakSuspect l;
            l.kind = "process";
            l.who = who;
            add_sites(l, {}, heap.live, heap.growing);
            d.heap_sites.push_back(std::move(l));
        }
    }
    d.profiles_note = "Each escalated session writes a pprof profile into escalation.profile_dir on its node "
                      "(default /var/lib/memsight/profiles; the agent logs the path when the session ends). "
                      "Profiles of OOM victims are listed in their forensic records (--agent).";

    // What changed: the same queries one period earlier.
    auto& ch = r.changes;
    ch.previous_end = r.start;
    ch.previous_start = r.start - seconds;
    ch.memory_in_use_current = r.fleet.memory_in_use_bytes;
    const auto prev_memory = c.q("sum(" + c.m("memsight_process_resident_bytes") + ")", r.start);
    if (!prev_memory.empty())
        ch.memory_in_use_previous = value(prev_memory[0]);
    ch.oom_kills_current = r.oom_kills_total;
    ch.oom_kills_previous = c.oom_total(r.start);
    std::set<std::string> now_suspects, prev_suspects, now_growers, prev_growers;
    for (const auto& l : r.leak_suspects)
        now_suspects.insert(stable_name(l.who));
    for (const auto& s : c.process_suspects(r.start))
        prev_suspects.insert(stable_name(subject(s)));
    for (const auto& s : c.container_suspects(r.start))
        prev_suspects.insert(stable_name(subject(s)));
    for (const auto& g : r.top_growers)
        now_growers.insert(stable_name(g.who));
    for (const auto& s : c.growers(r.start))
        prev_growers.insert(stable_name(subject(s)));
    ch.leak_suspects_current = r.leak_suspects.size();
    ch.leak_suspects_previous = prev_suspects.size();
    const auto diff = [](const std::set<std::string>& x, const std::set<std::string>& y) {
        std::vector<std::string> out;
        std::set_difference(x.begin(), x.end(), y.begin(), y.end(), std::back_inserter(out));
        return out;
    };
    ch.leak_suspects = {diff(now_suspects, prev_suspects), diff(prev_suspects, now_suspects)};
    ch.top_growers = {diff(now_growers, prev_growers), diff(prev_growers, now_growers)};
    return r;
}

void write_file(const std::string& path, const std::string& text)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f)
        throw UserError("--output: cannot write " + path + ": " + std::strerror(errno));
    f << text;
    f.close();
    if (!f)
        throw UserError("--output: writing " + path + " failed: " + std::strerror(errno));
}

// --since in seconds: a duration (config::parse_duration, with d and w) of at least one second, the resolution of
// Prometheus' query API. Its own message, not duration_arg's: it names what a period looks like.
double period_arg(const std::string& since)
{
    std::chrono::milliseconds d{0};
    try {
        d = config::parse_duration(since);
    } catch (const config::ConfigError&) {
    }
    if (d < std::chrono::seconds(1))
        throw UserError("--since: bad period '" + since + "' (whole numbers with units, e.g. 30m, 24h, 7d, 1w)");
    return std::chrono::duration<double>(d).count();
}

int run_report(const ReportArgs& a)
{
    choice_arg(a.format, {"html", "md", "json"}, "--format");
    choice_arg(a.post_format, {"report", "summary"}, "--post-format");
    at_least_one(a.top, "--top");
    const double seconds = period_arg(a.since);
    Prometheus prom(parse_url(a.prometheus, "--prometheus", kPrometheusPort, ""));
    std::optional<Url> post;
    if (!a.post_url.empty())
        post = parse_url(a.post_url, "--post-url", 80, "/");

    const auto started = std::chrono::steady_clock::now();
    rep::Report r = collect(prom, a, seconds);
    for (const auto& w : r.warnings)
        spdlog::warn("{}", w);
    const json j = rep::to_json(r);
    const std::string json_text = j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";

    std::string text;
    if (a.format == "json") {
        text = json_text;
    } else if (a.format == "html") {
        text = rep::render_html(r);
    } else if (a.output.empty()) {
        text = rep::render_markdown(r);
    } else {
        // Charts as SVG files next to the report: REPORT.md -> REPORT-memory.svg, linked by file name.
        const std::filesystem::path out(a.output);
        std::string stem = out.filename().string();
        if (stem.ends_with(".md"))
            stem.resize(stem.size() - 3);
        text = rep::render_markdown(r, [&](const std::string& name, const std::string& svg) {
            const std::string file = stem + "-" + name + ".svg";
            write_file((out.parent_path() / file).string(), svg);
            return file;
        });
    }
    if (a.output.empty()) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
    } else {
        write_file(a.output, text);
    }
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("report over {} from {}: {} agents, {} OOM kills, {} leak suspects, {} top growers ({} ms){}", a.since,
                 prom.url().text, r.fleet.nodes.size(), rep::count(r.oom_kills_total), r.leak_suspects.size(),
                 r.top_growers.size(), ms, a.output.empty() ? "" : ", written to " + a.output);
    if (post) {
        const std::string body =
            a.post_format == "report"
                ? json_text
                : json{{"text", rep::summary_text(r)}}.dump(-1, ' ', false, json::error_handler_t::replace);
        http_post(*post, body, "application/json", "webhook");
        spdlog::info("posted the {} to {}", a.post_format == "report" ? "JSON report" : "summary", post->text);
    }
    return 0;
}

} // namespace

void add_report_command(CLI::App& app, Runner& run)
{
    auto args = std::make_shared<ReportArgs>();
    auto* cmd = app.add_subcommand("report", "A report of a period from Prometheus: top users, growers, leaks, OOM "
                                             "kills, limits, deep sessions, changes (HTML, Markdown or JSON)");
    cmd->add_option("--prometheus", args->prometheus,
                    "Prometheus server that scrapes the agents, e.g. http://prom:9090")
        ->required();
    cmd->add_option("--since", args->since, "The period, ending now: 24h (default), 7d, 90m, 1w ...");
    cmd->add_option("--cluster", args->cluster, "Only series with this cluster label");
    cmd->add_option("--instance", args->instance, "Only this agent (its instance label)");
    cmd->add_option("--container", args->container, "Only this container (64-hex container_id)");
    cmd->add_option("--agent", args->agent,
                    "An agent to read OOM forensic records from (GET /oom), e.g. http://node-a:9756");
    cmd->add_option("--format", args->format, "html (default), md or json");
    cmd->add_option("--output", args->output, "Write the report to this file (default: stdout)");
    cmd->add_option("--top", args->top, "Rows per table (default 10)");
    cmd->add_option("--post-url", args->post_url, "Also POST to this webhook (http only)");
    cmd->add_option("--post-format", args->post_format,
                    "What --post-url receives: report (the JSON report, default) or summary ({\"text\": ...})");
    cmd->callback([&run, args] { run = [args] { return run_report(*args); }; });
}

} // namespace memsight::cli
