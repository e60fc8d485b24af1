#include "cli/commands.h"
#include "cli/deep_run.h"
#include "profile/profile.h"
#include "util/error.h"

#include <spdlog/spdlog.h>

#include <cmath>
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
};

int64_t rounded(double v)
{
    return static_cast<int64_t>(std::llround(v));
}

int run_profile(const ProfileArgs& a)
{
    if (a.format != "pprof" && a.format != "folded")
        throw UserError("--format must be pprof or folded, got '" + a.format + "'");
    if (a.output.empty())
        throw UserError("--output FILE is required");
    const auto duration = duration_arg(a.duration, "--duration");
    DeepRun run = run_deep_session(a.targets, a.sample_bytes, duration, duration, std::chrono::seconds(0));

    std::vector<profile::Sample> samples;
    std::string comm;
    for (const auto& s : run.tracker->report(run.elapsed_s)) {
        profile::Sample p;
        for (const auto& f : s.frames)
            p.stack.push_back({f.function, f.module, f.address, f.module_offset});
        p.alloc_objects = rounded(s.alloc_count);
        p.alloc_space = rounded(s.alloc_bytes);
        p.inuse_objects = rounded(s.live_count);
        p.inuse_space = rounded(s.live_bytes);
        comm = s.comm.empty() ? comm : s.comm;
        samples.push_back(std::move(p));
    }
    std::string data;
    if (a.format == "pprof") {
        profile::ProfileMeta meta;
        meta.time_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(run.started.time_since_epoch()).count();
        meta.duration_nanos = static_cast<int64_t>(run.elapsed_s * 1e9);
        meta.sample_period = static_cast<int64_t>(run.session->sample_bytes());
        const auto& t = run.session->targets().front();
        meta.comment = "memsight deep tier, pid " + std::to_string(t.pid) + " (" + t.comm + "), " + t.active;
        data = profile::to_pprof_gz(samples, meta);
    } else {
        data = profile::to_folded(samples, a.value, comm);
    }
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
    cmd->callback([&run, args] { run = [args] { return run_profile(*args); }; });
}

} // namespace memsight::cli
