#include "cli/commands.h"
#include "cli/fault_sampling.h"
#include "deep/site_names.h"
#include "symbolize/symbolizer.h"
#include "util/error.h"

#include <nlohmann/json.hpp>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>

namespace memsight::cli {
namespace {

struct FaultsArgs {
    pid_t pid = 0;
    std::string duration = "10s";
    uint64_t period = 0;
    size_t top = 10;
    std::string format = "text";
    std::string by = "stack";
};

// A distinct stack, or with --by site all the stacks of one growth site (`frames` is then its most-sampled stack).
struct Site {
    std::string site;                // growth-site name: first frame outside the allocator and libc
    std::vector<std::string> frames; // innermost first
    uint64_t samples = 0;
};

// Symbolizes every stack of one process (the process may be gone: frames stay addresses), merged by stack or, with
// `by_site`, by growth site. Most samples first.
std::vector<Site> symbolize_process(pid_t pid, const std::vector<loader::FaultStack>& stacks, bool by_site)
{
    const auto sym = symbolize::ProcessSymbolizer::open(pid);
    std::map<std::vector<std::string>, Site> by_stack;
    for (const auto& fs : stacks) {
        const auto frames = symbolize::symbolize_stack(sym.get(), fs.user_stack);
        std::vector<std::string> text;
        for (const auto& f : frames)
            text.push_back(f.to_string());
        if (text.empty())
            text.emplace_back("[stack lost]");
        Site& s = by_stack[text];
        s.site = deep::site_name(frames);
        s.frames = text;
        s.samples += fs.samples;
    }
    std::vector<Site> out;
    for (auto& [frames, site] : by_stack)
        out.push_back(std::move(site));
    const auto most = [](const Site& a, const Site& b) { return a.samples > b.samples; };
    std::stable_sort(out.begin(), out.end(), most);
    if (!by_site)
        return out;
    std::map<std::string, Site> merged; // the first stack seen of a site is its most-sampled one
    for (auto& s : out) {
        auto [it, fresh] = merged.try_emplace(s.site, s);
        if (!fresh)
            it->second.samples += s.samples;
    }
    out.clear();
    for (auto& [name, site] : merged)
        out.push_back(std::move(site));
    std::stable_sort(out.begin(), out.end(), most);
    return out;
}

int run_faults(const FaultsArgs& a)
{
    choice_arg(a.format, {"text", "folded", "json"}, "--format");
    choice_arg(a.by, {"stack", "site"}, "--by");
    if (a.pid && ::kill(a.pid, 0) != 0 && errno == ESRCH)
        throw UserError("no such process: " + std::to_string(a.pid));
    const auto duration = duration_arg(a.duration, "--duration");

    const auto sampler = open_fault_sampler(a.period);
    auto& probes = *sampler;
    spdlog::info("sampling page faults for {} ms{}", duration.count(),
                 a.pid ? " of pid " + std::to_string(a.pid) : std::string());

    std::map<uint32_t, std::vector<loader::FaultStack>> by_pid;
    std::map<uint32_t, std::string> comms;
    sample_faults(probes, duration, [&](std::vector<loader::FaultStack>&& batch) {
        for (auto& fs : batch) {
            if (a.pid && fs.tgid != static_cast<uint32_t>(a.pid))
                continue;
            comms[fs.tgid] = fs.comm;
            by_pid[fs.tgid].push_back(std::move(fs));
        }
    });
    const auto counters = probes.counters();

    // Processes by samples, most first; without --pid the top 5.
    std::vector<std::pair<uint64_t, uint32_t>> order;
    for (const auto& [pid, stacks] : by_pid) {
        uint64_t n = 0;
        for (const auto& s : stacks)
            n += s.samples;
        order.emplace_back(n, pid);
    }
    std::sort(order.rbegin(), order.rend());
    if (!a.pid && order.size() > 5)
        order.resize(5);

    const uint64_t period = probes.fault_sample_period();
    const auto bytes_per_sample = static_cast<double>(period) * static_cast<double>(::getpagesize());
    const bool by_site = a.by == "site";
    nlohmann::ordered_json json = {{"version", 1},
                                   {"sample_period", period},
                                   {"source", probes.fault_source()},
                                   {"lost_stack_map", counters.lost_stack_map},
                                   {"by", a.by},
                                   {"processes", nlohmann::ordered_json::array()}};
    if (a.format == "text")
        std::printf("# one sample every %llu page faults per CPU (%s); %llu samples lost (stack map)\n",
                    static_cast<unsigned long long>(period), probes.fault_source().c_str(),
                    static_cast<unsigned long long>(counters.lost_stack_map));
    for (const auto& [total, pid] : order) {
        auto sites = symbolize_process(static_cast<pid_t>(pid), by_pid[pid], by_site);
        if (a.format == "folded") {
            for (const auto& s : sites) {
                std::string line = comms[pid];
                for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it)
                    line += ";" + *it;
                std::printf("%s %llu\n", line.c_str(), static_cast<unsigned long long>(s.samples));
            }
            continue;
        }
        if (sites.size() > a.top)
            sites.resize(a.top);
        if (a.format == "json") {
            auto& list = json["processes"].emplace_back(nlohmann::ordered_json{
                {"pid", pid}, {"comm", comms[pid]}, {"samples", total}, {"sites", nlohmann::ordered_json::array()}});
            for (const auto& s : sites)
                list["sites"].push_back({{"site", s.site},
                                         {"samples", s.samples},
                                         {"bytes", static_cast<double>(s.samples) * bytes_per_sample},
                                         {"stack", s.frames}});
            continue;
        }
        std::printf("\npid %u (%s): %llu samples, ~%llu page faults\n", pid, comms[pid].c_str(),
                    static_cast<unsigned long long>(total), static_cast<unsigned long long>(total * period));
        for (const auto& s : sites) {
            std::printf("  %6.2f%%  %llu samples  ~%.1f MiB  site %s\n",
                        100.0 * static_cast<double>(s.samples) / static_cast<double>(total),
                        static_cast<unsigned long long>(s.samples),
                        static_cast<double>(s.samples) * bytes_per_sample / (1024.0 * 1024.0), s.site.c_str());
            for (const auto& f : s.frames)
                std::printf("           %s\n", f.c_str());
        }
    }
    if (a.format == "json")
        std::printf("%s\n", json.dump().c_str());
    std::fflush(stdout);
    return 0;
}

} // namespace

void add_faults_command(CLI::App& app, Runner& run)
{
    auto args = std::make_shared<FaultsArgs>();
    auto* cmd = app.add_subcommand("faults", "Sampled page-fault profile: which code touches new memory");
    cmd->add_option("--pid", args->pid, "Only this process (default: the 5 processes with most samples)");
    cmd->add_option("--duration", args->duration, "How long to sample (default 10s)");
    cmd->add_option("--period", args->period, "Page faults per sample per CPU (default: the agent's default)");
    cmd->add_option("--top", args->top, "Stacks or sites per process (default 10)");
    cmd->add_option("--by", args->by, "stack (default) or site: merge the stacks of each growth site");
    cmd->add_option("--format", args->format, "text, json, or folded (flame-graph input)");
    cmd->callback([&run, args] { run = [args] { return run_faults(*args); }; });
}

} // namespace memsight::cli
