#include "analysis/proc_scanner.h"
#include "cli/commands.h"
#include "util/error.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

namespace memsight::cli {
namespace {

struct TopArgs {
    bool once = false;
    std::string interval = "2s";
    int rows = 20;
    std::string sort = "rss";
};

std::string human(double bytes)
{
    const char* units[] = {"B", "K", "M", "G", "T"};
    int u = 0;
    double v = bytes < 0 ? -bytes : bytes;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%.1f%s", bytes < 0 ? "-" : "", v, units[u]);
    return buf;
}

void print_table(std::vector<analysis::ProcessView> procs, const TopArgs& a, size_t total)
{
    if (a.sort == "suspicion") {
        std::sort(procs.begin(), procs.end(),
                  [](const auto& x, const auto& y) { return x.leak_suspicion > y.leak_suspicion; });
    } else if (a.sort == "growth") {
        std::sort(procs.begin(), procs.end(),
                  [](const auto& x, const auto& y) { return x.growth_bytes_per_second > y.growth_bytes_per_second; });
    } else {
        std::sort(procs.begin(), procs.end(),
                  [](const auto& x, const auto& y) { return x.sample.rss() > y.sample.rss(); });
    }
    std::printf("memsight top: %zu processes, sorted by %s\n", total, a.sort.c_str());
    std::printf("%8s %-16s %-12s %9s %9s %9s %9s %9s %9s %10s %5s\n", "PID", "COMM", "CONTAINER", "RSS", "ANON", "FILE",
                "SHMEM", "SWAP", "PEAK", "GROWTH/s", "LEAK?");
    for (size_t i = 0; i < std::min(static_cast<size_t>(a.rows), procs.size()); ++i) {
        const auto& p = procs[i];
        const auto& s = p.sample;
        const std::string container = p.identity.container_id.substr(0, 12);
        std::printf("%8d %-16s %-12s %9s %9s %9s %9s %9s %9s %10s %5.2f\n", s.pid, s.comm.c_str(),
                    container.empty() ? "-" : container.c_str(), human(static_cast<double>(s.rss())).c_str(),
                    human(static_cast<double>(s.rss_anon)).c_str(), human(static_cast<double>(s.rss_file)).c_str(),
                    human(static_cast<double>(s.rss_shmem)).c_str(), human(static_cast<double>(s.swap)).c_str(),
                    human(static_cast<double>(s.peak_rss)).c_str(), human(p.growth_bytes_per_second).c_str(),
                    p.leak_suspicion);
    }
    std::fflush(stdout);
}

int run_top(const TopArgs& a)
{
    if (a.sort != "rss" && a.sort != "growth" && a.sort != "suspicion")
        throw UserError("--sort must be rss, growth or suspicion, got '" + a.sort + "'");
    if (a.rows < 1)
        throw UserError("-n/--rows must be at least 1, got " + std::to_string(a.rows));
    const auto interval = duration_arg(a.interval, "--interval");
    const auto& stop = stop_flag();
    // Growth is measured over the last minute of readings.
    analysis::ProcessTable table(std::chrono::minutes(1));
    analysis::ProcScanner scanner;
    scanner.scan(table);
    const bool tty = ::isatty(STDOUT_FILENO);
    while (!stop.load()) {
        for (auto waited = std::chrono::milliseconds(0); waited < interval && !stop.load();
             waited += std::chrono::milliseconds(50))
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (stop.load())
            break;
        scanner.scan(table);
        if (!a.once && tty)
            std::printf("\033[H\033[2J");
        print_table(table.snapshot(), a, table.size());
        if (a.once)
            break;
        std::printf("\n");
    }
    return 0;
}

} // namespace

void add_top_command(CLI::App& app, Runner& run)
{
    auto args = std::make_shared<TopArgs>();
    auto* cmd = app.add_subcommand("top", "Table of processes by RSS and growth, refreshing (no BPF needed)");
    cmd->add_flag("--once", args->once, "Print one snapshot (two readings one interval apart) and exit");
    cmd->add_option("--interval", args->interval, "Refresh period (default 2s)");
    cmd->add_option("-n,--rows", args->rows, "Rows to show (default 20)");
    cmd->add_option("--sort", args->sort, "rss, growth or suspicion (default rss)");
    cmd->callback([&run, args] { run = [args] { return run_top(*args); }; });
}

} // namespace memsight::cli
