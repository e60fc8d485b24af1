#include "export/metrics_text.h"

#include "analysis/growth_sites.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace memsight::exporter {
namespace {

bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

// Parses `{a="x",b="y"}` from s[i] == '{'; advances i past '}'. False when malformed.
bool parse_labels(std::string_view s, size_t& i, std::map<std::string, std::string>& out)
{
    ++i; // '{'
    while (true) {
        while (i < s.size() && (s[i] == ' ' || s[i] == ','))
            ++i;
        if (i >= s.size())
            return false;
        if (s[i] == '}') {
            ++i;
            return true;
        }
        const size_t start = i;
        while (i < s.size() && name_char(s[i], i == start))
            ++i;
        if (i == start || i + 1 >= s.size() || s[i] != '=' || s[i + 1] != '"')
            return false;
        std::string name(s.substr(start, i - start));
        i += 2;
        std::string value;
        while (i < s.size() && s[i] != '"') {
            if (s[i] == '\\' && i + 1 < s.size()) {
                ++i;
                value += s[i] == 'n' ? '\n' : s[i];
            } else {
                value += s[i];
            }
            ++i;
        }
        if (i >= s.size())
            return false;
        ++i; // closing quote
        out[std::move(name)] = std::move(value);
    }
}

double number(std::string_view s)
{
    const std::string t(s);
    if (t == "+Inf")
        return HUGE_VAL;
    if (t == "-Inf")
        return -HUGE_VAL;
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    return end == t.c_str() ? NAN : v;
}

std::string label(const Sample& s, const char* name)
{
    const auto it = s.labels.find(name);
    return it == s.labels.end() ? std::string() : it->second;
}

procfs::ContainerIdentity identity(const Sample& s)
{
    procfs::ContainerIdentity id;
    id.container_id = label(s, "container_id");
    id.pod_uid = label(s, "pod_uid");
    return id;
}

std::string kib_per_second(double bytes)
{
    char buf[48];
    std::snprintf(buf, sizeof(buf), "%.1f KiB/s", bytes / 1024.0);
    return buf;
}

} // namespace

std::vector<Sample> parse_metrics_text(std::string_view text)
{
    std::vector<Sample> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos)
            eol = text.size();
        std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.empty() || line[0] == '#')
            continue;
        size_t i = 0;
        while (i < line.size() && name_char(line[i], i == 0))
            ++i;
        if (i == 0)
            continue;
        Sample s;
        s.name = std::string(line.substr(0, i));
        if (i < line.size() && line[i] == '{' && !parse_labels(line, i, s.labels))
            continue;
        while (i < line.size() && line[i] == ' ')
            ++i;
        const size_t vstart = i;
        while (i < line.size() && line[i] != ' ')
            ++i;
        if (i == vstart)
            continue;
        s.value = number(line.substr(vstart, i - vstart));
        if (std::isnan(s.value) && line.substr(vstart, i - vstart) != "NaN")
            continue;
        out.push_back(std::move(s));
    }
    return out;
}

AgentProcessView agent_process_view(const std::vector<Sample>& samples, pid_t pid)
{
    AgentProcessView v;
    const std::string want = std::to_string(pid);
    std::map<std::string, std::pair<double, double>> ranking; // pid -> (suspicion, growth) of exported processes
    std::set<std::string> with_sites;
    std::map<std::string, analysis::HeapSite> heap; // by site
    for (const auto& s : samples) {
        if (s.name == "memsight_build_info") {
            v.is_memsight = true;
            continue;
        }
        const std::string p = label(s, "pid");
        if (p.empty())
            continue;
        if (s.name == "memsight_process_leak_suspicion")
            ranking[p].first = s.value;
        else if (s.name == "memsight_process_growth_bytes_per_second")
            ranking[p].second = s.value;
        else if (s.name == "memsight_process_growth_site_bytes")
            with_sites.insert(p);
        if (p != want)
            continue;
        if (s.name.starts_with("memsight_process_") && s.name != "memsight_process_growth_site_bytes") {
            v.exported = true;
            v.comm = label(s, "comm");
        }
        if (s.name == "memsight_process_resident_bytes")
            v.rss_bytes += s.value;
        else if (s.name == "memsight_process_growth_bytes_per_second")
            v.growth_bytes_per_second = s.value;
        else if (s.name == "memsight_process_leak_suspicion")
            v.leak_suspicion = s.value;
        else if (s.name == "memsight_process_growth_site_bytes") {
            analysis::GrowthSite g;
            g.pid = pid;
            g.comm = label(s, "comm");
            g.identity = identity(s);
            g.site = label(s, "site");
            g.bytes = s.value;
            v.growth_sites.push_back(std::move(g));
        } else if (s.name.starts_with("memsight_heap_")) {
            auto& h = heap[label(s, "site")];
            h.pid = pid;
            h.comm = label(s, "comm");
            h.identity = identity(s);
            h.site = label(s, "site");
            if (s.name == "memsight_heap_live_bytes")
                h.live_bytes = s.value;
            else if (s.name == "memsight_heap_live_objects")
                h.live_objects = s.value;
            else if (s.name == "memsight_heap_allocated_bytes_total")
                h.allocated_bytes = s.value;
            else if (s.name == "memsight_heap_freed_bytes_total")
                h.freed_bytes = s.value;
            else if (s.name == "memsight_heap_site_growing")
                h.growing = s.value > 0;
        }
    }
    if (v.comm.empty() && !v.growth_sites.empty())
        v.comm = v.growth_sites.front().comm;
    std::stable_sort(v.growth_sites.begin(), v.growth_sites.end(),
                     [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
    for (auto& [site, h] : heap)
        v.heap_sites.push_back(std::move(h));
    std::stable_sort(v.heap_sites.begin(), v.heap_sites.end(),
                     [](const auto& a, const auto& b) { return a.live_bytes > b.live_bytes; });
    v.processes_with_sites = with_sites.size();
    // The agent's order (analysis::named_before): processes that grow or are suspected, most suspected first,
    // then fastest-growing.
    std::vector<std::pair<std::pair<double, double>, std::string>> order;
    for (const auto& [p, sg] : ranking)
        if (analysis::names_growth_sites(sg.first, sg.second))
            order.emplace_back(sg, p);
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
        return analysis::named_before(a.first.first, a.first.second, b.first.first, b.first.second);
    });
    for (size_t i = 0; i < order.size(); ++i)
        if (order[i].second == want)
            v.rank = i + 1;
    return v;
}

std::string why_no_growth_sites(const AgentProcessView& v, pid_t pid)
{
    if (!v.growth_sites.empty())
        return "";
    const std::string who = "pid " + std::to_string(pid) + (v.comm.empty() ? "" : " (" + v.comm + ")");
    if (!v.exported)
        return "the agent exports no series for pid " + std::to_string(pid) +
               ": no such process on the agent's host, or not among its processes.top_by_rss / top_by_growth";
    char state[96];
    std::snprintf(state, sizeof(state), "growth %s, leak suspicion %.2f",
                  kib_per_second(v.growth_bytes_per_second).c_str(), v.leak_suspicion);
    if (v.rank == 0)
        return who + " neither grows nor is suspected of leaking over the agent's growth window (" + state +
               "): growth sites are named only for processes that do";
    if (v.processes_with_sites == 0)
        return who + " grows (" + state +
               ") but the agent names no growth sites for any process yet: no page-fault samples in the growth "
               "window, or growth_sites.processes is 0 or kernel.page_faults.enabled false";
    if (v.rank > v.processes_with_sites)
        return who + " is not among the top growth_sites.processes: it ranks #" + std::to_string(v.rank) +
               " by leak suspicion then growth (" + state + "), and " + std::to_string(v.processes_with_sites) +
               " processes have growth sites";
    return who + " is among the processes the agent names sites for (#" + std::to_string(v.rank) + ", " + state +
           ") but has no page-fault samples in the growth window yet: at the default sample period a slowly growing "
           "process needs minutes (kernel.page_faults.sample_period)";
}

} // namespace memsight::exporter
