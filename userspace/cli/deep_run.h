#pragma once
// Runs one deep-tier session in the foreground for `leaks` and `profile`.
#include "deep/leak_tracker.h"
#include "deep/session.h"

#include <CLI/CLI.hpp>

#include <chrono>
#include <memory>

namespace memsight::cli {

struct DeepRun {
    std::unique_ptr<deep::Session> session;
    std::unique_ptr<deep::LeakTracker> tracker;
    double elapsed_s = 0;
    std::chrono::system_clock::time_point started;
};

// Who to trace, from the command line.
struct DeepTargets {
    pid_t pid = 0;
    bool children = false;
    std::string cgroup; // path or container id
};
void add_target_options(CLI::App* cmd, DeepTargets& t);

// Attaches to the targets, reads every interval until the duration ends, Ctrl-C, or the process exits (a normal
// end: the report holds what the session saw). Throws UserError when the process cannot be traced.
DeepRun run_deep_session(const DeepTargets& targets, uint64_t sample_bytes, std::chrono::milliseconds duration,
                         std::chrono::milliseconds interval, std::chrono::milliseconds min_age);

} // namespace memsight::cli
