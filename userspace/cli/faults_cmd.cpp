#include "cli/commands.h"
#include "loader/always_on.h"
#include "symbolize/symbolizer.h"
#include "util/error.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <optional>
#include <thread>

namespace memsight::cli {
namespace {

struct FaultsArgs {
    pid_t pid = 0;
    std::string duration = "10s";
    uint64_t period = 0;
    size_t top = 10;
    std::string format = "text";
};

struct Site {
    std::vector<std::string> frames; // innermost first
    uint64_t samples = 0;
};

// Symbolizes every stack of one process; the process may be gone, then frames stay as addresses.
std::vector<Site> symbolize_process(pid_t pid, const std::vector<loader::FaultStack>& stacks)
{
    std::optional<symbolize::ProcessSymbolizer> sym;
    try {
        sym.emplace(pid);
    } catch (const UserError& e) {
        spdlog::debug("pid {}: {}", pid, e.what());
    }
    std::map<std::vector<std::string>, uint64_t> merged;
    for (const auto& fs : stacks) {
        std::vector<std::string> frames;
        for (size_t i = 0; i < fs.user_stack.size(); ++i) {
            // Frames after the first are return addresses: look up the call instruction before them.
            const uint64_t ip = i == 0 ? fs.user_stack[i] : fs.user_stack[i] - 1;
            if (sym) {
                frames.push_back(sym->symbolize(ip).to_string());
            } else {
                char buf[32];
                std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(ip));
                frames.emplace_back(buf);
            }
        }
        if (frames.empty())
            frames.emplace_back("[stack lost]");
        merged[frames] += fs.samples;
    }
    std::vector<Site> out;
    for (auto& [frames, n] : merged)
        out.push_back({frames, n});
    std::sort(out.begin(), out.end(), [](const Site& a, const Site& b) { return a.samples > b.samples; });
    return out;
}

int run_faults(const FaultsArgs& a)
{
    if (a.format != "text" && a.format != "folded")
        throw UserError("--format must be text or folded, got '" + a.format + "'");
    if (a.pid && ::kill(a.pid, 0) != 0 && errno == ESRCH)
        throw UserError("no such process: " + std::to_string(a.pid));
    const auto duration = duration_arg(a.duration, "--duration");
    const auto& stop = stop_flag();

    loader::AlwaysOnOptions opts;
    opts.lifecycle = false;
    opts.oom = false;
    opts.page_faults = true;
    opts.fault_sample_period = a.period;
    loader::AlwaysOnProbes probes(opts, [](const KernelEvent&) {});
    spdlog::info("sampling page faults for {} ms{}", duration.count(),
                 a.pid ? " of pid " + std::to_string(a.pid) : std::string());

    // Drain every second so the in-kernel maps never fill during long runs.
    std::map<uint32_t, std::vector<loader::FaultStack>> by_pid;
    std::map<uint32_t, std::string> comms;
    auto drain = [&] {
        for (auto& fs : probes.drain_faults()) {
            if (a.pid && fs.tgid != static_cast<uint32_t>(a.pid))
                continue;
            comms[fs.tgid] = fs.comm;
            by_pid[fs.tgid].push_back(std::move(fs));
        }
    };
    const auto end = std::chrono::steady_clock::now() + duration;
    auto next_drain = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!stop.load() && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (std::chrono::steady_clock::now() >= next_drain) {
            drain();
            next_drain += std::chrono::seconds(1);
        }
    }
    drain();
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
    if (a.format == "text")
        std::printf("# one sample every %llu page faults per CPU (%s); %llu samples lost (stack map)\n",
                    static_cast<unsigned long long>(period), probes.fault_source().c_str(),
                    static_cast<unsigned long long>(counters.lost_stack_map));
    for (const auto& [total, pid] : order) {
        const auto sites = symbolize_process(static_cast<pid_t>(pid), by_pid[pid]);
        if (a.format == "folded") {
            for (const auto& s : sites) {
                std::string line = comms[pid];
                for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it)
                    line += ";" + *it;
                std::printf("%s %llu\n", line.c_str(), static_cast<unsigned long long>(s.samples));
            }
            continue;
        }
        std::printf("\npid %u (%s): %llu samples, ~%llu page faults\n", pid, comms[pid].c_str(),
                    static_cast<unsigned long long>(total), static_cast<unsigned long long>(total * period));
        for (size_t i = 0; i < std::min(a.top, sites.size()); ++i) {
            const auto& s = sites[i];
            std::printf("  %6.2f%%  %llu samples\n",
                        100.0 * static_cast<double>(s.samples) / static_cast<double>(total),
                        static_cast<unsigned long long>(s.samples));
            for (const auto& f : s.frames)
                std::printf("           %s\n", f.c_str());
        }
    }
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
    cmd->add_option("--top", args->top, "Stacks per process (default 10)");
    cmd->add_option("--format", args->format, "text or folded (flame-graph input)");
    cmd->callback([&run, args] { run = [args] { return run_faults(*args); }; });
}

} // namespace memsight::cli
