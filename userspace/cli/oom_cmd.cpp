#include "agent/event_router.h"
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
    analysis::ProcessTable table(std::chrono::minutes(1));
    analysis::ProcScanner scanner;
    analysis::CgroupResolver cgroups(procfs::CgroupFs::detect());
    analysis::OomTracker tracker([](const analysis::OomKill& k) {
        std::printf("%s\n", exporter::oom_kill_json(k).c_str());
        std::fflush(stdout);
    });
    agent::EventRouter router(table, nullptr, &tracker, cgroups, scanner);

    loader::AlwaysOnOptions opts;
    opts.lifecycle = false;
    opts.page_faults = false;
    opts.ringbuf_bytes = 256 * 1024;
    loader::AlwaysOnProbes probes(opts, [&router](const void* d, size_t n) { router.handle(d, n); });
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
