#include "export/oom_story.h"

#include "analysis/growth.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <optional>

namespace memsight::exporter {
namespace {

using json = nlohmann::ordered_json;

std::string bytes(double b)
{
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    double v = std::fabs(b);
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[40];
    std::snprintf(buf, sizeof(buf), u ? "%s%.1f %s" : "%s%.0f %s", b < 0 ? "-" : "", v, units[u]);
    return buf;
}

std::string rate(double bytes_per_second)
{
    return (bytes_per_second >= 0 ? "+" : "") + bytes(bytes_per_second) + "/s";
}

std::string fixed(double v, int digits)
{
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
    return buf;
}

// A field as a number when present and numeric.
std::optional<double> number(const json& j, const char* key)
{
    if (!j.is_object())
        return std::nullopt;
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number())
        return std::nullopt;
    return it->get<double>();
}

std::string text(const json& j, const char* key)
{
    if (!j.is_object())
        return {};
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json& member(const json& j, const char* key)
{
    static const json kNull;
    if (!j.is_object())
        return kNull;
    const auto it = j.find(key);
    return it == j.end() ? kNull : *it;
}

// "RSS 12.0 MiB → 61.0 MiB over 5 readings in 4.0 s" for a series of {time, <key>} points.
std::string series(const json& points, const char* key, const char* what)
{
    if (!points.is_array() || points.empty())
        return {};
    const auto first = number(points.front(), key), last = number(points.back(), key);
    if (!first || !last)
        return {};
    std::string s = std::string(what) + " " + bytes(*first);
    if (points.size() == 1)
        return s + " at the only reading";
    s += " → " + bytes(*last) + " over " + std::to_string(points.size()) + " readings";
    const auto t0 = parse_rfc3339(text(points.front(), "time")), t1 = parse_rfc3339(text(points.back(), "time"));
    if (t0 && t1)
        s += " in " + fixed(*t1 - *t0, 1) + " s";
    return s;
}

std::string suspicion(const std::optional<double>& score, const json& points)
{
    if (!score)
        return {};
    std::string s = "leak suspicion " + fixed(*score, 2);
    // The score needs a minimum span of readings (analysis/growth.h); a young victim's 0 means "too early to say".
    const double min_span = analysis::GrowthPolicy{}.min_span_seconds;
    if (points.is_array() && points.size() >= 1) {
        const auto t0 = parse_rfc3339(text(points.front(), "time")), t1 = parse_rfc3339(text(points.back(), "time"));
        if (t0 && t1 && *t1 - *t0 < min_span)
            s += " (too early to say: it needs " + fixed(min_span, 0) + " s of readings)";
    }
    return s;
}

std::string short_id(const std::string& container_id)
{
    return container_id.substr(0, 12);
}

} // namespace

std::optional<double> parse_rfc3339(const std::string& s)
{
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0;
    char z = 0;
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms, &z) != 8 || z != 'Z')
        return std::nullopt;
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return static_cast<double>(timegm(&tm)) + ms / 1000.0;
}

std::string oom_story(const json& record)
{
    const json& victim = member(record, "victim");
    const json& kill = member(record, "kill");
    const json& history = member(record, "history");
    const json& before = member(record, "before_kill");
    std::string out;

    // Who, when.
    const std::string comm = text(victim, "comm");
    out += "OOM kill at " + text(record, "time") + ": pid " +
           (number(victim, "pid") ? fixed(*number(victim, "pid"), 0) : std::string("?")) + " (" +
           (comm.empty() ? "?" : comm) + ")";
    if (const auto uid = number(victim, "uid"))
        out += ", uid " + fixed(*uid, 0);
    if (const auto adj = number(victim, "oom_score_adj"); adj && *adj != 0)
        out += ", oom_score_adj " + fixed(*adj, 0);
    out += "\n";
    if (const std::string cmd = text(victim, "cmdline"); !cmd.empty())
        out += "  command:  " + cmd + "\n";

    // Where.
    const std::string cid = text(victim, "container_id"), pod = text(victim, "pod_uid"),
                      cgroup = text(victim, "cgroup");
    std::string where;
    if (!cid.empty())
        where += "container " + short_id(cid);
    if (!pod.empty())
        where += std::string(where.empty() ? "" : ", ") + "pod " + pod;
    where += std::string(where.empty() ? "" : ", ") + "memory cgroup " + (cgroup.empty() ? "unknown" : cgroup);
    if (const std::string how = text(kill, "attribution"); !how.empty())
        where += " (from " +
                 std::string(how == "exit"   ? "its exit record"
                             : how == "proc" ? "/proc when the kill was seen"
                                             : "nowhere: not resolved") +
                 ")";
    out += "  where:    " + where + "\n";

    // How big at death, against the limit.
    const json& resident = member(kill, "resident_bytes");
    const double anon = number(resident, "anon").value_or(0), file = number(resident, "file").value_or(0),
                 shmem = number(resident, "shmem").value_or(0);
    const double rss = anon + file + shmem;
    const json& memcg = member(kill, "memcg");
    const auto limit = number(memcg, "limit_bytes"), usage = number(memcg, "usage_bytes");
    std::string death;
    if (rss > 0) {
        death =
            "RSS " + bytes(rss) + " (anon " + bytes(anon) + ", file " + bytes(file) + ", shmem " + bytes(shmem) + ")";
    } else {
        death = "RSS not in the kernel's record (Linux before 6.1)";
        const json& points = member(history, "process");
        if (points.is_array() && !points.empty())
            if (const auto last = number(points.back(), "resident_bytes"))
                death += "; " + bytes(*last) + " at the last reading";
    }
    if (limit && *limit > 0) {
        death += rss > 0 ? ", " + fixed(100 * rss / *limit, 0) + "% of" : ";";
        death += " the memory limit " + bytes(*limit);
        if (usage) {
            death += " (cgroup usage " + bytes(*usage);
            const auto read = parse_rfc3339(text(memcg, "usage_time")), killed = parse_rfc3339(text(record, "time"));
            if (read && killed)
                death += " " + fixed(std::fabs(*killed - *read), 1) + " s " + (*read <= *killed ? "before" : "after") +
                         " the kill";
            death += ")";
        }
    } else if (memcg.is_object()) {
        death += "; no memory limit on its cgroup (or unknown): a node-wide OOM or a limit higher up";
    }
    out += "  at death: " + death + "\n";
    if (const auto vm = number(kill, "total_vm_bytes"); vm && *vm > 0)
        out += "            virtual " + bytes(*vm) + ", page tables " +
               bytes(number(kill, "pgtables_bytes").value_or(0)) + "\n";
    const json& trigger = member(kill, "trigger");
    if (const auto tpid = number(trigger, "pid"); tpid && *tpid != 0 && *tpid != number(victim, "pid").value_or(-1))
        out += "  trigger:  pid " + fixed(*tpid, 0) + " (" + text(trigger, "comm") + ") ran the OOM killer\n";

    // How it grew.
    const json& process = member(history, "process");
    std::string grew = series(process, "resident_bytes", "RSS");
    if (grew.empty()) {
        grew = "no readings before the kill (it lived less than one scan interval";
        if (const auto iv = number(history, "interval_seconds"))
            grew += ", " + fixed(*iv, 1) + " s";
        grew += ", or the agent started after it)";
    } else {
        if (const auto g = number(before, "growth_bytes_per_second"))
            grew += ", " + rate(*g);
        if (const std::string s = suspicion(number(before, "leak_suspicion"), process); !s.empty())
            grew += "; " + s;
    }
    out += "  growth:   " + grew + "\n";
    const json& container = member(history, "container");
    if (std::string c = series(container, "working_set_bytes", "container working set"); !c.empty()) {
        if (const auto g = number(before, "container_growth_bytes_per_second"))
            c += ", " + rate(*g);
        if (const std::string s = suspicion(number(before, "container_leak_suspicion"), container); !s.empty())
            c += "; " + s;
        out += "            " + c + "\n";
    }

    // Where in the code, and deeper evidence.
    const json& sites = member(record, "growth_sites");
    if (sites.is_array() && !sites.empty()) {
        std::string s;
        for (const auto& site : sites)
            s += std::string(s.empty() ? "" : ", ") + text(site, "site") + " " +
                 bytes(number(site, "bytes").value_or(0));
        out += "  sites:    " + s + "\n";
    } else {
        out += "  sites:    none named (the agent names the growth sites of the processes that grow most)\n";
    }
    const json& profiles = member(record, "profiles");
    if (profiles.is_array() && !profiles.empty()) {
        for (size_t i = 0; i < profiles.size(); ++i)
            out += std::string(i == 0 ? "  profiles: " : "            ") +
                   (profiles[i].is_string() ? profiles[i].get<std::string>() : std::string("?")) + "\n";
    }
    out += "  record:   " + text(record, "id") + "\n";
    return out;
}

} // namespace memsight::exporter
