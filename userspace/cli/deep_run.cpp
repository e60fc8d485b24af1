#include "cli/deep_run.h"

#include "cli/commands.h"
#include "util/error.h"

#include <spdlog/spdlog.h>

namespace memsight::cli {

DeepRun run_deep_session(pid_t pid, uint64_t sample_bytes, std::chrono::milliseconds duration,
                         std::chrono::milliseconds interval, std::chrono::milliseconds min_age)
{
    if (pid <= 0)
        throw UserError("--pid is required");
    const auto& stop = stop_flag();
    DeepRun run;
    deep::SessionOptions opts;
    opts.pids = {pid};
    opts.sample_bytes = sample_bytes;
    run.session = std::make_unique<deep::Session>(opts);
    for (const auto& t : run.session->targets()) {
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
