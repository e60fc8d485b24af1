// memsight growth: the growth sites of one process, from a short sampling session of the always-on page-fault
// sampler (no uprobes) or from a running agent's metrics, next to the deep tier's heap sites when it has any.
#include "agent/growth_site_namer.h"
#include "agent/site_comparison.h"
#include "analysis/growth_sites.h"
#include "cli/commands.h"
#include "cli/fault_sampling.h"
#include "cli/http_client.h"
#include "export/metrics_text.h"
#include "procfs/read_file.h"
#include "symbolize/symbolizer.h"
#include "util/error.h"

#include <nlohmann/json.hpp>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

namespace memsight::cli {
namespace {

constexpr size_t kStacksPerSite = 3;    // the heaviest stacks shown per site
constexpr int kDefaultAgentPort = 9756; // `memsight agent`'s default listen port
constexpr int kAgentTimeoutMs = 10000;

struct GrowthArgs {
    pid_t pid = 0;
    std::string duration = "30s";
    uint64_t period = 0;
    size_t top = 10;
    std::string format = "text";
    bool stacks = false;
    std::string agent;
};

std::string comm_of(pid_t pid)
{
    auto text = procfs::read_file("/proc/" + std::to_string(pid) + "/comm");
    if (!text)
        return "";
    while (!text->empty() && text->back() == '\n')
        text->pop_back();
    return *text;
}

double share(double part, double whole)
{
    return whole > 0 ? part / whole : 0;
}

// ---- sampling ----

int run_sampling(const GrowthArgs& a)
{
    if (::kill(a.pid, 0) != 0 && errno == ESRCH)
        throw UserError("no such process: " + std::to_string(a.pid));
    const auto duration = positive_duration_arg(a.duration, "--duration");
    std::string comm = comm_of(a.pid);

    const auto sampler = open_fault_sampler(a.period);
    sampler->watch_python_process(a.pid);
    auto& probes = *sampler;
    spdlog::info("sampling the page faults of pid {} for {} ms, one every {} faults per CPU", a.pid, duration.count(),
                 probes.fault_sample_period());

    // The same counts the agent keeps, over a window longer than the session.
    analysis::GrowthSites sites(duration + std::chrono::minutes(1));
    const auto started = std::chrono::steady_clock::now();
    bool exited = false;
    sample_faults(
        probes, duration,
        [&](std::vector<loader::FaultStack>&& batch) {
            const auto now = analysis::Clock::now();
            for (const auto& fs : batch) {
                if (fs.tgid != static_cast<uint32_t>(a.pid))
                    continue;
                if (comm.empty())
                    comm = fs.comm;
                sites.add(a.pid, fs.user_stack, fs.samples, now);
            }
        },
        [&] { return exited = ::kill(a.pid, 0) != 0 && errno == ESRCH; });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const auto counters = probes.counters();
    // Of every process, not only this one: the BPF side and the ring are shared.
    const uint64_t lost = counters.lost_stack_map + counters.lost_fault_stack_ring + counters.lost_fault_map_full;
    const uint64_t period = probes.fault_sample_period();
    const auto page = static_cast<uint64_t>(::getpagesize());
    const double bytes_per_sample = static_cast<double>(period * page);

    // Symbolized after sampling, so mappings made during the session are known; a process that is gone keeps its
    // frames as addresses.
    const auto stacks = sites.stacks_of(a.pid);
    std::unique_ptr<symbolize::ProcessSymbolizer> sym;
    if (!stacks.empty())
        sym = symbolize::ProcessSymbolizer::open(a.pid);
    if (exited || (!stacks.empty() && !sym)) {
        exited = true;
        spdlog::warn("pid {} exited during sampling: its frames are shown as addresses", a.pid);
    }
    auto by_site = agent::group_by_site(agent::name_stacks(sym.get(), stacks));
    uint64_t total = 0;
    for (const auto& s : by_site)
        total += s.samples;
    if (by_site.size() > a.top)
        by_site.resize(a.top);

    if (a.format == "json") {
        nlohmann::ordered_json out = {
            {"version", 1},
            {"source", "sampling"},
            {"pid", a.pid},
            {"comm", comm},
            {"duration_seconds", seconds},
            {"sample_period", period},
            {"fault_source", probes.fault_source()},
            {"page_size", page},
            {"samples", total},
            {"bytes", static_cast<double>(total) * bytes_per_sample},
            {"lost_samples", lost},
            {"stacks_unwound",
             {{"cfi", counters.fault_stacks_cfi}, {"frame_pointer", counters.fault_stacks_frame_pointer}}},
            {"process_exited", exited},
            {"sites", nlohmann::ordered_json::array()}};
        for (const auto& s : by_site) {
            nlohmann::ordered_json site = {{"site", s.site},
                                           {"samples", s.samples},
                                           {"bytes", static_cast<double>(s.samples) * bytes_per_sample},
                                           {"share", share(static_cast<double>(s.samples), static_cast<double>(total))},
                                           {"stacks", nlohmann::ordered_json::array()}};
            for (size_t i = 0; i < std::min(kStacksPerSite, s.stacks.size()); ++i) {
                std::vector<std::string> frames;
                for (const auto& f : s.stacks[i].frames)
                    frames.push_back(f.to_string());
                if (frames.empty())
                    frames.emplace_back("[stack lost]");
                site["stacks"].push_back({{"samples", s.stacks[i].samples},
                                          {"bytes", static_cast<double>(s.stacks[i].samples) * bytes_per_sample},
                                          {"frames", frames}});
            }
            out["sites"].push_back(std::move(site));
        }
        std::printf("%s\n", out.dump().c_str());
        std::fflush(stdout);
        return 0;
    }

    std::printf("memsight growth: pid %d (%s), %.1f s of page-fault samples, one every %llu faults per CPU (%s)\n",
                a.pid, comm.c_str(), seconds, static_cast<unsigned long long>(period), probes.fault_source().c_str());
    std::printf("%llu samples, ~%s faulted in; %llu samples of all processes lost%s\n",
                static_cast<unsigned long long>(total), mib(static_cast<double>(total) * bytes_per_sample).c_str(),
                static_cast<unsigned long long>(lost), exited ? "; the process exited" : "");
    if (by_site.empty()) {
        std::printf("no page-fault samples: pid %d touched no new memory, or less than one sample's worth (%s); try "
                    "a smaller --period or a longer --duration\n",
                    a.pid, mib(bytes_per_sample).c_str());
        std::fflush(stdout);
        return 0;
    }
    std::printf("\n%8s %8s %10s  %s\n", "SHARE", "SAMPLES", "BYTES", "SITE");
    for (const auto& s : by_site) {
        std::printf("%7.2f%% %8llu %10s  %s\n", 100 * share(static_cast<double>(s.samples), static_cast<double>(total)),
                    static_cast<unsigned long long>(s.samples),
                    mib(static_cast<double>(s.samples) * bytes_per_sample).c_str(), s.site.c_str());
        if (!a.stacks)
            continue;
        const size_t n = std::min(kStacksPerSite, s.stacks.size());
        for (size_t i = 0; i < n; ++i) {
            std::printf("%29sstack %zu of %zu: %llu samples\n", "", i + 1, s.stacks.size(),
                        static_cast<unsigned long long>(s.stacks[i].samples));
            for (const auto& f : s.stacks[i].frames)
                std::printf("%31s%s\n", "", f.to_string().c_str());
            if (s.stacks[i].frames.empty())
                std::printf("%31s[stack lost]\n", "");
        }
    }
    std::fflush(stdout);
    return 0;
}

// ---- from the agent ----

int run_agent(const GrowthArgs& a)
{
    const Url url = parse_url(a.agent, "--agent", kDefaultAgentPort, "/metrics");
    const auto samples = exporter::parse_metrics_text(http_get(url, "", "agent", kAgentTimeoutMs).body);
    auto v = exporter::agent_process_view(samples, a.pid);
    if (!v.is_memsight)
        throw UserError(url.text + " is not a memsight agent's metrics (no memsight_build_info)");
    if (v.growth_sites.empty()) {
        std::string why = "no growth sites for pid " + std::to_string(a.pid) + " at " + url.text + ": " +
                          exporter::why_no_growth_sites(v, a.pid);
        if (!v.heap_sites.empty())
            why +=
                " (it has " + std::to_string(v.heap_sites.size()) + " deep-tier heap sites: memsight_heap_live_bytes)";
        throw UserError(why);
    }
    const auto cmp = agent::compare_sites(a.pid, v.heap_sites, v.growth_sites);
    double growth_total = 0, heap_total = 0;
    for (const auto& g : v.growth_sites)
        growth_total += g.bytes;
    for (const auto& h : v.heap_sites)
        heap_total += h.live_bytes;
    if (v.growth_sites.size() > a.top)
        v.growth_sites.resize(a.top);
    if (v.heap_sites.size() > a.top)
        v.heap_sites.resize(a.top);

    if (a.format == "json") {
        nlohmann::ordered_json out = {{"version", 1},
                                      {"source", "agent"},
                                      {"agent", url.text},
                                      {"pid", a.pid},
                                      {"comm", v.comm},
                                      {"rss_bytes", v.rss_bytes},
                                      {"growth_bytes_per_second", v.growth_bytes_per_second},
                                      {"leak_suspicion", v.leak_suspicion},
                                      {"sites", nlohmann::ordered_json::array()},
                                      {"heap_sites", nlohmann::ordered_json::array()},
                                      {"comparison",
                                       {{"agreement", agent::agreement_name(cmp.agreement)},
                                        {"growth_site", cmp.growth_site},
                                        {"heap_site", cmp.heap_site},
                                        {"heap_site_growth_rank", cmp.heap_site_growth_rank},
                                        {"text", cmp.text}}}};
        for (const auto& g : v.growth_sites)
            out["sites"].push_back({{"site", g.site}, {"bytes", g.bytes}, {"share", share(g.bytes, growth_total)}});
        for (const auto& h : v.heap_sites)
            out["heap_sites"].push_back({{"site", h.site},
                                         {"live_bytes", h.live_bytes},
                                         {"live_objects", h.live_objects},
                                         {"allocated_bytes", h.allocated_bytes},
                                         {"freed_bytes", h.freed_bytes},
                                         {"growing", h.growing},
                                         {"share", share(h.live_bytes, heap_total)}});
        std::printf("%s\n", out.dump().c_str());
        std::fflush(stdout);
        return 0;
    }

    std::printf("memsight growth: pid %d (%s) from the agent at %s\n", a.pid, v.comm.c_str(), url.text.c_str());
    std::printf("RSS %s, growth %.1f KiB/s, leak suspicion %.2f\n\n", mib(v.rss_bytes).c_str(),
                v.growth_bytes_per_second / 1024.0, v.leak_suspicion);
    constexpr int kSite = 32;
    const auto cut = [](const std::string& s) {
        return s.size() <= static_cast<size_t>(kSite) ? s : s.substr(0, kSite - 3) + "...";
    };
    const bool deep = !v.heap_sites.empty();
    std::printf("%3s  %-*s %10s %7s", "#", kSite, "GROWTH SITE (page faults)", "FAULTED-IN", "SHARE");
    if (deep)
        std::printf(" | %-*s %10s %7s %s", kSite, "DEEP-TIER HEAP SITE", "LIVE", "SHARE", "GROWING");
    std::printf("\n");
    for (size_t i = 0; i < std::max(v.growth_sites.size(), v.heap_sites.size()); ++i) {
        std::printf("%3zu  ", i + 1);
        if (i < v.growth_sites.size()) {
            const auto& g = v.growth_sites[i];
            std::printf("%-*s %10s %6.1f%%", kSite, cut(g.site).c_str(), mib(g.bytes).c_str(),
                        100 * share(g.bytes, growth_total));
        } else {
            std::printf("%-*s %10s %7s", kSite, "", "", "");
        }
        if (i < v.heap_sites.size()) {
            const auto& h = v.heap_sites[i];
            std::printf(" | %-*s %10s %6.1f%% %s", kSite, cut(h.site).c_str(), mib(h.live_bytes).c_str(),
                        100 * share(h.live_bytes, heap_total), h.growing ? "yes" : "no");
        } else if (deep) {
            std::printf(" |");
        }
        std::printf("\n");
    }
    std::printf("\n");
    if (deep)
        std::printf("deep tier vs growth sites: %s\n", cmp.text.c_str());
    else
        std::printf("no deep-tier session on pid %d now (no memsight_heap_* series); an escalated session's "
                    "comparison is in the agent's log when it ends\n",
                    a.pid);
    std::fflush(stdout);
    return 0;
}

int run_growth(const GrowthArgs& a)
{
    choice_arg(a.format, {"text", "json"}, "--format");
    if (a.pid <= 0)
        throw UserError("--pid must be a process id, got " + std::to_string(a.pid));
    at_least_one(static_cast<long long>(a.top), "--top");
    return a.agent.empty() ? run_sampling(a) : run_agent(a);
}

} // namespace

void add_growth_command(CLI::App& app, Runner& run)
{
    auto args = std::make_shared<GrowthArgs>();
    auto* cmd = app.add_subcommand(
        "growth", "Growth sites of a process: which code faults in its new memory (page-fault samples, no uprobes)");
    cmd->add_option("--pid", args->pid, "The process")->required();
    auto* duration = cmd->add_option("--duration", args->duration, "How long to sample (default 30s)");
    auto* period = cmd->add_option("--period", args->period,
                                   "Page faults per sample per CPU (default: the agent's default, 1000)");
    cmd->add_option("--top", args->top, "Sites shown (default 10)");
    cmd->add_option("--format", args->format, "text (default) or json");
    auto* stacks = cmd->add_flag("--stacks", args->stacks, "Show each site's heaviest stacks (always in json)");
    cmd->add_option("--agent", args->agent,
                    "Read the sites from a running agent's /metrics instead of sampling, e.g. http://127.0.0.1:9756")
        ->excludes(duration)
        ->excludes(period)
        ->excludes(stacks);
    cmd->callback([&run, args] { run = [args] { return run_growth(*args); }; });
}

} // namespace memsight::cli
