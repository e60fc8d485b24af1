#include "analysis/containers.h"
#include "analysis/oom.h"
#include "analysis/proc_scanner.h"
#include "cli/commands.h"
#include "export/json.h"
#include "loader/always_on.h"

#include <spdlog/spdlog.h>

#include <cstdio>

namespace memsight::cli {
namespace {

int run_oom()
{
    const auto& stop = stop_flag();
    analysis::ProcScanner scanner;
    analysis::CgroupResolver cgroups(procfs::CgroupFs::detect());
    analysis::OomTracker tracker([](const analysis::OomKill& k) {
        std::printf("%s\n", exporter::oom_kill_json(k).c_str());
        std::fflush(stdout);
    });
    // The OOM join only: a kill, then its victim's exit with the victim's cgroup. One thread, so the /proc and
    // cgroupfs reads happen here; the kernel events are rare.
    auto on_event = [&](const KernelEvent& event) {
        const auto now = analysis::Clock::now();
        if (const auto* oom = std::get_if<OomEvent>(&event)) {
            const auto s = oom->comm.empty() ? scanner.read_process(oom->victim) : std::nullopt;
            tracker.on_mark_victim(*oom, s ? s->comm : "", scanner.read_cgroup(oom->victim), now);
        } else if (const auto* exit = std::get_if<ExitEvent>(&event); exit && exit->oom_victim) {
            tracker.on_victim_exit(exit->pid, exit->cgroup_id ? cgroups.path(exit->cgroup_id, now) : std::nullopt);
        }
    };

    loader::AlwaysOnOptions opts;
    opts.lifecycle = false;
    opts.page_faults = false;
    opts.ringbuf_bytes = 256 * 1024;
    loader::AlwaysOnProbes probes(opts, on_event);
    spdlog::info("watching for OOM kills (one JSON line each); Ctrl-C to stop");
    while (!stop.load()) {
        probes.poll(200);
        tracker.tick(analysis::Clock::now());
    }
    tracker.tick(analysis::Clock::time_point::max());
    return 0;
}

} // namespace

void add_oom_command(CLI::App& app, Runner& run)
{
    auto* cmd = app.add_subcommand("oom", "Print one JSON line per OOM kill until interrupted");
    cmd->callback([&run] { run = [] { return run_oom(); }; });
}

} // namespace memsight::cli
