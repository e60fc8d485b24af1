#pragma once
// Runs one deep-tier session in the foreground for `leaks` and `profile`, under the overhead budget.
#include "deep/driver.h"

#include <CLI/CLI.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace memsight::cli {

// A finished foreground session: the driver holds the session, its report and the governor's readings.
struct DeepRun {
    std::unique_ptr<deep::Driver> driver;
    deep::EndReason ended = deep::EndReason::Duration;
};

// Who to trace, from the command line.
struct DeepTargets {
    pid_t pid = 0;
    bool children = false;
    std::string cgroup; // path or container id
};
void add_target_options(CLI::App* cmd, DeepTargets& t);
// --overhead-budget (default 2%; 0 = no limit), shared by leaks and profile.
void add_budget_option(CLI::App* cmd, std::string& budget);
// --max-outstanding: the live allocations a session can hold (0 = the default for the mode).
void add_capacity_option(CLI::App* cmd, uint32_t& max_outstanding);
// Parses a budget flag ("2%", "0.02", "0"); throws UserError naming the flag.
double budget_arg(const std::string& s, const char* option);

struct DeepRunOptions {
    uint64_t sample_bytes = 1;
    std::chrono::milliseconds duration{std::chrono::seconds(30)};
    std::chrono::milliseconds interval{std::chrono::seconds(5)};
    std::chrono::milliseconds min_age{std::chrono::seconds(10)};
    double overhead_budget = 0.02; // 0 = no limit
    uint32_t max_outstanding = 0;  // 0 = deep::kDefaultMaxOutstanding{Exact,Sampled}
};

// Attaches to the targets, reads every interval until the duration ends, Ctrl-C, the process exits (a normal end:
// the report holds what the session saw) or the overhead budget is exceeded (one warning line says why; the report
// holds what was seen until then). Throws UserError when the process cannot be traced. deep::Driver does the work.
DeepRun run_deep_session(const DeepTargets& targets, const DeepRunOptions& options);

} // namespace memsight::cli
