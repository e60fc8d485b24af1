#include "cli/deep_run.h"

#include "agent/overhead.h"
#include "cli/commands.h"
#include "config/config.h"
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

void add_budget_option(CLI::App* cmd, std::string& budget)
{
    cmd->add_option("--overhead-budget", budget,
                    "Stop when the probes take more than this share of the traced processes' CPU, e.g. 2% or 0.02 "
                    "(default 2%; 0 = no limit)");
}

void add_capacity_option(CLI::App* cmd, uint32_t& max_outstanding)
{
    cmd->add_option("--max-outstanding", max_outstanding,
                    "Live allocations the session can track; more are counted as lost (default " +
                        std::to_string(deep::kDefaultMaxOutstandingExact) + " exact, " +
                        std::to_string(deep::kDefaultMaxOutstandingSampled) + " sampled)")
        ->check(CLI::Range(1u, 1u << 28));
}

double budget_arg(const std::string& s, const char* option)
{
    double v = 0;
    try {
        v = config::parse_ratio(s);
    } catch (const config::ConfigError&) {
        throw UserError(std::string(option) + ": expected a fraction like 0.02 or a percentage like 2%, got '" + s +
                        "'");
    }
    if (!(v >= 0 && v <= 1))
        throw UserError(std::string(option) + ": must be between 0 and 1 (0% and 100%; 0 = no limit), got '" + s + "'");
    return v;
}

DeepRun run_deep_session(const DeepTargets& targets, const DeepRunOptions& o)
{
    if (targets.pid <= 0 && targets.cgroup.empty())
        throw UserError("give --pid PID or --cgroup PATH|CONTAINER_ID");
    const auto& stop = stop_flag();
    DeepRun run;
    deep::SessionOptions opts;
    opts.pids = targets.cgroup.empty() ? deep::pid_and_descendants(targets.pid, targets.children)
                                       : deep::processes_of_cgroup(targets.cgroup);
    opts.sample_bytes = o.sample_bytes;
    opts.max_outstanding = o.max_outstanding;
    run.overhead_budget = o.overhead_budget;
    run.session = std::make_unique<deep::Session>(opts);
    for (const auto& t : run.session->targets()) {
        if (t.refused)
            spdlog::warn("{}", t.refusal);
        for (const auto& h : t.hooked)
            spdlog::info("pid {}: hooked {}", t.pid, h);
        for (const auto& e : t.attach_errors)
            spdlog::warn("pid {}: attach failed: {}", t.pid, e);
    }
    std::optional<agent::SessionGovernor> governor;
    if (o.overhead_budget > 0) {
        // After the session attached, so that a refusal (a Go program, no such pid) is the only line printed. The
        // calibration's probes live in their own BPF object on their own process: they count nowhere here.
        const auto cost = agent::probe_cost(o.sample_bytes);
        run.cost_per_hit_s = cost.seconds_per_hit;
        run.cost_measured = cost.measured;
        governor.emplace(*run.session, run.cost_per_hit_s, o.overhead_budget);
        governor->tick();
    }
    run.tracker = std::make_unique<deep::LeakTracker>(*run.session, o.min_age);
    run.started = std::chrono::system_clock::now();
    const auto start = std::chrono::steady_clock::now();
    auto next = start + o.interval;
    auto next_govern = start + std::chrono::seconds(1);
    run.ended = "duration";
    while (std::chrono::steady_clock::now() - start < o.duration) {
        if (stop.load()) {
            run.ended = "interrupted";
            break;
        }
        run.session->poll(50);
        const auto now = std::chrono::steady_clock::now();
        if (now >= next) {
            run.tracker->sample();
            next += o.interval;
        }
        if (governor && now >= next_govern) {
            next_govern = now + std::chrono::seconds(1);
            governor->tick();
            if (governor->over_budget()) {
                spdlog::warn("{}; the report holds what it saw until now (--overhead-budget 0: no limit)",
                             governor->stop_message(run.session->who()));
                run.ended = "overhead";
                break;
            }
        }
        if (run.session->all_gone()) {
            spdlog::info("every traced process exited; reporting what the session saw");
            run.ended = "exited";
            break;
        }
    }
    run.session->poll(0);
    run.tracker->sample();
    if (governor)
        run.overhead_estimate = governor->estimate();
    run.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return run;
}

} // namespace memsight::cli
