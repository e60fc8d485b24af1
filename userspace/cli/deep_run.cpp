#include "cli/deep_run.h"

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
    deep::DriverOptions opts;
    opts.session.pids = targets.cgroup.empty() ? deep::pid_and_descendants(targets.pid, targets.children)
                                               : deep::processes_of_cgroup(targets.cgroup);
    opts.session.sample_bytes = o.sample_bytes;
    opts.session.max_outstanding = o.max_outstanding;
    opts.duration = o.duration;
    opts.min_age = o.min_age;
    opts.overhead_budget = o.overhead_budget;
    DeepRun run;
    run.driver = std::make_unique<deep::Driver>(opts, [](const deep::Session& session) {
        for (const auto& t : session.targets()) {
            if (t.refused)
                spdlog::warn("{}", t.refusal);
            for (const auto& h : t.hooked)
                spdlog::info("pid {}: hooked {}", t.pid, h);
            for (const auto& e : t.attach_errors)
                spdlog::warn("pid {}: attach failed: {}", t.pid, e);
        }
    });
    run.ended = run.driver->run(o.interval, stop_flag());
    if (run.ended == deep::EndReason::Overhead)
        spdlog::warn("{}; the report holds what it saw until now (--overhead-budget 0: no limit)",
                     run.driver->stop_message());
    else if (run.ended == deep::EndReason::Exited)
        spdlog::info("every traced process exited; reporting what the session saw");
    return run;
}

} // namespace memsight::cli
