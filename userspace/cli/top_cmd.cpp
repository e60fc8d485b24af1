#include "agent/growth_site_namer.h"
#include "analysis/growth_sites.h"
#include "analysis/proc_scanner.h"
#include "cli/fault_sampling.h"
#include "cli/commands.h"
#include "util/error.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

namespace memsight::cli {
namespace {

struct TopArgs {
    bool once = false;
    std::string interval = "2s";
    int rows = 20;
    std::string sort = "rss";
    bool no_sites = false;
    uint64_t period = 0;
};

// The readings (and growth sites) cover the last minute.
constexpr auto kWindow = std::chrono::minutes(1);
constexpr size_t kSiteWidth = 28;

// Top growth site per process, from the always-on page-fault sampler that `top` loads itself (as `memsight faults`
// does: no lifecycle or OOM programs), kept over the growth window and named as the agent names them.
class TopSites {
public:
    // Loads the sampler; throws UserError (e.g. a missing capability) when it cannot.
    explicit TopSites(uint64_t period) : probes_(open_fault_sampler(period)), sites_(kWindow) {}
    uint64_t period() const { return probes_->fault_sample_period(); }

    // Takes the samples since the last call (often: the copied fault stacks wait in a bounded ring).
    void drain()
    {
        const auto now = analysis::Clock::now();
        for (const auto& fs : probes_->drain_faults())
            sites_.add(static_cast<pid_t>(fs.tgid), fs.user_stack, fs.samples, now);
    }
    // Drains, and forgets processes not in `live`.
    void update(const std::vector<analysis::ProcessView>& live)
    {
        drain();
        const auto now = analysis::Clock::now();
        std::set<pid_t> pids;
        for (const auto& p : live)
            pids.insert(p.sample.pid);
        sites_.expire(now, pids);
    }

    // Top site of each of `shown` that grows or is suspected (and has samples).
    std::map<pid_t, std::string> top_sites(const std::vector<analysis::ProcessView>& shown)
    {
        const agent::GrowthSiteLimits limits{shown.size(), 0, 1,
                                             probes_->fault_sample_period() * static_cast<uint64_t>(::getpagesize())};
        std::map<pid_t, std::string> out;
        for (auto& g : namer_.name(shown, {}, sites_, limits).processes)
            out.emplace(g.pid, std::move(g.site));
        return out;
    }

private:
    std::unique_ptr<loader::AlwaysOnProbes> probes_;
    analysis::GrowthSites sites_;
    agent::GrowthSiteNamer namer_;
};

std::string fit(const std::string& s, size_t width)
{
    return s.size() <= width ? s : s.substr(0, width - 3) + "...";
}

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

void print_table(std::vector<analysis::ProcessView> procs, const TopArgs& a, size_t total, TopSites* sites)
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
    procs.resize(std::min(static_cast<size_t>(a.rows), procs.size()));
    std::map<pid_t, std::string> top_site;
    if (sites)
        top_site = sites->top_sites(procs);
    std::printf("memsight top: %zu processes, sorted by %s", total, a.sort.c_str());
    if (sites)
        std::printf("; SITE: top growth site, one page-fault sample every %llu faults per CPU",
                    static_cast<unsigned long long>(sites->period()));
    else if (!a.no_sites)
        std::printf("; SITE: no page-fault sampler (see the first line on stderr)");
    std::printf("\n%8s %-16s %-12s %9s %9s %9s %9s %9s %9s %10s %5s", "PID", "COMM", "CONTAINER", "RSS", "ANON", "FILE",
                "SHMEM", "SWAP", "PEAK", "GROWTH/s", "LEAK?");
    std::printf(a.no_sites ? "\n" : " %s\n", "SITE");
    for (const auto& p : procs) {
        const auto& s = p.sample;
        const std::string container = p.identity.container_id.substr(0, 12);
        std::printf("%8d %-16s %-12s %9s %9s %9s %9s %9s %9s %10s %5.2f", s.pid, s.comm.c_str(),
                    container.empty() ? "-" : container.c_str(), human(static_cast<double>(s.rss())).c_str(),
                    human(static_cast<double>(s.rss_anon)).c_str(), human(static_cast<double>(s.rss_file)).c_str(),
                    human(static_cast<double>(s.rss_shmem)).c_str(), human(static_cast<double>(s.swap)).c_str(),
                    human(static_cast<double>(s.peak_rss)).c_str(), human(p.growth_bytes_per_second).c_str(),
                    p.leak_suspicion);
        if (!a.no_sites) {
            const auto it = top_site.find(s.pid);
            std::printf(" %s", it == top_site.end() ? "-" : fit(it->second, kSiteWidth).c_str());
        }
        std::printf("\n");
    }
    std::fflush(stdout);
}

int run_top(const TopArgs& a)
{
    choice_arg(a.sort, {"rss", "growth", "suspicion"}, "--sort");
    at_least_one(a.rows, "-n/--rows");
    const auto interval = duration_arg(a.interval, "--interval");
    const auto& stop = stop_flag();
    // Growth sites need the page-fault sampler (BPF); without the privilege the column shows "-".
    std::optional<TopSites> sites;
    if (!a.no_sites) {
        try {
            sites.emplace(a.period);
        } catch (const UserError& e) {
            std::fprintf(stderr, "memsight: top: no growth sites (SITE shows -): %s; --no-sites skips them\n",
                         e.what());
        }
    }
    // Growth is measured over the last minute of readings.
    analysis::ProcessTable table(kWindow);
    analysis::ProcScanner scanner;
    scanner.scan(table);
    const bool tty = ::isatty(STDOUT_FILENO);
    while (!stop.load()) {
        for (auto waited = std::chrono::milliseconds(0); waited < interval && !stop.load();
             waited += std::chrono::milliseconds(50)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (sites && waited.count() % 200 == 150)
                sites->drain();
        }
        if (stop.load())
            break;
        scanner.scan(table);
        auto procs = table.snapshot();
        if (sites)
            sites->update(procs);
        if (!a.once && tty)
            std::printf("\033[H\033[2J");
        print_table(std::move(procs), a, table.size(), sites ? &*sites : nullptr);
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
    auto* cmd =
        app.add_subcommand("top", "Table of processes by RSS and growth, refreshing, with their top growth site");
    cmd->add_flag("--once", args->once, "Print one snapshot (two readings one interval apart) and exit");
    cmd->add_option("--interval", args->interval, "Refresh period (default 2s)");
    cmd->add_option("-n,--rows", args->rows, "Rows to show (default 20)");
    cmd->add_option("--sort", args->sort, "rss, growth or suspicion (default rss)");
    auto* no_sites = cmd->add_flag("--no-sites", args->no_sites,
                                   "No SITE column: do not load the page-fault sampler (no BPF, no privilege needed)");
    cmd->add_option("--period", args->period, "Page faults per sample per CPU for the SITE column (default 1000)")
        ->excludes(no_sites);
    cmd->callback([&run, args] { run = [args] { return run_top(*args); }; });
}

} // namespace memsight::cli
