#pragma once
// Deep-tier state beyond analysis::AgentSnapshot for one scrape: the overhead governor's estimates per session,
// the calibrated probe cost, and the automatic-escalation counters.
#include "deep/end_reason.h"
#include "procfs/container.h"

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memsight::exporter {

// One running session's estimated overhead. A session on several processes (--deep-cgroup) is labelled with its
// first traced process.
struct SessionOverhead {
    pid_t pid = 0;
    std::string comm;
    procfs::ContainerIdentity identity;
    std::string origin;  // "manual" (--deep-pid / --deep-cgroup) or "escalation"
    double estimate = 0; // fraction of the traced processes' CPU time spent in the probes
};

// Why the agent did not start an escalated session on a suspicious process.
enum class RefusedReason { Untraceable, MaxConcurrent, Count };
inline constexpr std::array<std::string_view, 2> kRefusedReasonNames{"untraceable", "max_concurrent"};

struct DeepTierStatus {
    std::vector<SessionOverhead> overheads;   // sessions with an estimate so far
    std::optional<double> probe_cost_seconds; // calibrated cost per probe hit (absent until calibrated)
    uint64_t overhead_stops = 0;              // sessions of any origin stopped by the budget
    size_t escalation_sessions = 0;           // escalated sessions running
    uint64_t escalations_started = 0;
    std::array<uint64_t, static_cast<size_t>(RefusedReason::Count)> escalations_refused{};
    // Escalated sessions that ended, indexed by deep::EndReason (rendered for deep::kAgentEndReasons).
    std::array<uint64_t, deep::kEndReasonCount> escalations_finished{};
};

} // namespace memsight::exporter
