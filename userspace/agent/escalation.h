#pragma once
// Automatic escalation: which suspicious processes get a deep-tier session now. Pure decisions over the process
// table (selector, cool-down per process, concurrency limit); the agent runs the sessions.
#include "analysis/process_table.h"
#include "config/config.h"

#include <array>
#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace memsight::agent {

using Clock = analysis::Clock;

// A process, across pid reuse: (pid, start time in clock ticks since boot, from /proc/PID/stat).
// Why a suspected leak was not escalated (memsight_escalations_refused_total{reason}).
enum class RefusedReason { Untraceable, MaxConcurrent, Count };
inline constexpr std::array<std::string_view, 2> kRefusedReasonNames{"untraceable", "max_concurrent"};
static_assert(kRefusedReasonNames.size() == static_cast<size_t>(RefusedReason::Count));

struct ProcessKey {
    pid_t pid = 0;
    uint64_t start_ticks = 0;
    auto operator<=>(const ProcessKey&) const = default;
};

// One selector cgroup entry against a process: a path entry matches the cgroup itself and everything below it
// (whole path components), a hex entry matches a container id starting with it (case-insensitive).
bool cgroup_entry_matches(const std::string& entry, const std::string& cgroup, const std::string& container_id);
// The selector's verdict: every non-empty include list must match, no exclude entry may match.
bool selector_allows(const config::Config::Selector& s, const std::string& comm, const std::string& cgroup,
                     const std::string& container_id);

// Per-process cool-down: a process whose session ended (or was refused) is not escalated again before `period`
// has passed. Entries expire, so the map holds at most the processes escalated within one period.
class Cooldown {
public:
    explicit Cooldown(Clock::duration period) : period_(period) {}
    void start(const ProcessKey& k, Clock::time_point now) { until_[k] = now + period_; }
    bool cooling(const ProcessKey& k, Clock::time_point now) const;
    void prune(Clock::time_point now);
    size_t size() const { return until_.size(); }

private:
    Clock::duration period_;
    std::map<ProcessKey, Clock::time_point> until_;
};

struct EscalationPlan {
    std::vector<analysis::ProcessView> start; // most suspicious first, at most the free slots
    size_t newly_deferred = 0;                // candidates waiting for a slot, counted once per process
};

class EscalationPlanner {
public:
    // `self`: the agent's own pid, never escalated (its own allocator is not a suspect worth slowing down).
    EscalationPlanner(const config::Config::Escalation& cfg, pid_t self);

    // Which processes to start sessions on now. `traced`: pids any running session traces already;
    // `running`: escalated sessions running.
    EscalationPlan plan(const std::vector<analysis::ProcessView>& processes, const std::set<pid_t>& traced,
                        size_t running, Clock::time_point now);
    // A session on `k` ended, or the deep tier refused it: cool down from now.
    void cool_down(const ProcessKey& k, Clock::time_point now) { cooldown_.start(k, now); }
    bool cooling(const ProcessKey& k, Clock::time_point now) const { return cooldown_.cooling(k, now); }

private:
    config::Config::Escalation cfg_;
    pid_t self_;
    Cooldown cooldown_;
    std::set<ProcessKey> deferred_; // candidates already counted as waiting for a slot
};

} // namespace memsight::agent
