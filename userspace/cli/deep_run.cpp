#include "cli/deep_run.h"

#include "cli/commands.h"
#include "deep/targets.h"
#include "util/error.h"

#include <spdlog/spdlog.h>

namespace memsight::cli {

void add_target_options(CLI::App* cmd, DeepTargets& t)
{
    auto* pid = cmd->add_option("--pid", t.pid, "Process to trace");
    auto* cg = cmd->add_option("--cgroup", t.cgroup, "Trace every process of a cgroup (path) or container (id)");
    pid->excludes(cg);
    cmd->add_flag("--children", t.children, "With --pid: also its descendants alive at the start");
}

DeepRun run_deep_session(const DeepTargets& targets, uint64_t sample_bytes, std::chrono::milliseconds duration,
                         std::chrono::milliseconds interval, std::chrono::milliseconds min_age)
{
    if (targets.pid <= 0 && targets.cgroup.empty())
        throw UserError("give --pid PID or --cgroup PATH|CONTAINER_ID");
    const auto& stop = stop_flag();
    DeepRun run;
    deep::SessionOptions opts;
    opts.pids = targets.cgroup.empty() ? deep::pid_and_descendants(targets.pid, targets.children)
                                       : deep::processes_of_cgroup(targets.cgroup);
    opts.sample_bytes = sample_bytes;
    run.session = std::make_unique<deep::Session>(opts);
    for (const auto& t : run.session->targets()) {
        if (t.refused)
            spdlog::warn("{}", t.refusal);
        for (const auto& h : t.hooked)
            spdlog::info("pid {}: hooked {}", t.pid, h);
        for (const auto& e : t.attach_errors)
            spdlog::warn("pid {}: attach failed: {}", t.pid, e);
    }
    run.tracker = std::make_unique<deep::LeakTracker>(*run.session, min_age);
    run.started = std::chrono::system_clock::now();
    const auto start = std::chrono::steady_clock::now();
    auto next = start + interval;
    while (!stop.load() && std::chrono::steady_clock::now() - start < duration) {
        run.session->poll(50);
        if (std::chrono::steady_clock::now() >= next) {
            run.tracker->sample();
            next += interval;
        }
        if (run.session->all_gone()) {
            spdlog::info("every traced process exited; reporting what the session saw");
            break;
        }
    }
    run.session->poll(0);
    run.tracker->sample();
    run.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return run;
}

} // namespace memsight::cli
