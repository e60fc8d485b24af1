#include "cli/commands.h"
#include "cli/deep_run.h"
#include "profile/profile.h"
#include "profile/session_profile.h"
#include "util/error.h"

#include <spdlog/spdlog.h>

#include <fstream>

namespace memsight::cli {
namespace {

struct ProfileArgs {
    DeepTargets targets;
    std::string duration = "30s";
    std::string output;
    std::string format = "pprof";
    std::string value = "inuse_space";
    uint64_t sample_bytes = 1;
    uint32_t max_outstanding = 0;
    std::string overhead_budget = "2%";
};

int run_profile(const ProfileArgs& a)
{
    choice_arg(a.format, {"pprof", "folded"}, "--format");
    if (a.output.empty())
        throw UserError("--output FILE is required");
    if (!profile::is_folded_value(a.value)) // checked before the session, not after it
        throw UserError("--value must be inuse_space, inuse_objects, alloc_space or alloc_objects, got '" + a.value +
                        "'");
    DeepRunOptions o;
    o.sample_bytes = a.sample_bytes;
    o.max_outstanding = a.max_outstanding;
    o.duration = duration_arg(a.duration, "--duration");
    o.interval = o.duration;
    o.min_age = std::chrono::seconds(0);
    o.overhead_budget = budget_arg(a.overhead_budget, "--overhead-budget");
    DeepRun run = run_deep_session(a.targets, o);

    const auto sites = run.driver->report();
    const auto samples = profile::profile_samples(sites);
    std::string comm;
    for (const auto& s : sites)
        comm = s.comm.empty() ? comm : s.comm;
    std::string data;
    if (a.format == "pprof")
        data = profile::session_pprof(run.driver->session(), sites, run.driver->started(), run.driver->elapsed_s(),
                                      run.ended == deep::EndReason::Overhead ? "stopped early by the overhead budget"
                                                                             : "");
    else
        data = profile::to_folded(samples, a.value, comm);
    std::ofstream out(a.output, std::ios::binary | std::ios::trunc);
    if (!out || !out.write(data.data(), static_cast<std::streamsize>(data.size())))
        throw UserError("cannot write " + a.output);
    spdlog::info("wrote {} ({} sites, {} bytes)", a.output, samples.size(), data.size());
    return 0;
}

} // namespace

void add_profile_command(CLI::App& app, Runner& run)
{
    auto args = std::make_shared<ProfileArgs>();
    auto* cmd = app.add_subcommand("profile", "Deep tier: write an allocation profile (pprof or folded stacks)");
    add_target_options(cmd, args->targets);
    cmd->add_option("--duration", args->duration, "Session length (default 30s)");
    cmd->add_option("--output", args->output, "Output file")->required();
    cmd->add_option("--format", args->format, "pprof (gzipped profile.proto) or folded");
    cmd->add_option("--value", args->value, "folded only: inuse_space|inuse_objects|alloc_space|alloc_objects");
    cmd->add_option("--sample-bytes", args->sample_bytes, "Mean bytes between samples; 1 = every allocation");
    add_capacity_option(cmd, args->max_outstanding);
    add_budget_option(cmd, args->overhead_budget);
    cmd->callback([&run, args] { run = [args] { return run_profile(*args); }; });
}

} // namespace memsight::cli
