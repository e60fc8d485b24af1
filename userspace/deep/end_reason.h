#pragma once
// Why a deep-tier session ended: the one vocabulary of the CLI's report ("ended" in `leaks --format json`), the
// agent's log lines, the escalated profile's comment and the `reason` label of
// memsight_escalations_finished_total (docs/escalation.md, docs/metrics.md).
#include <array>
#include <cstddef>
#include <string_view>

namespace memsight::deep {

enum class EndReason {
    Duration,    // its time box passed
    Exited,      // every traced process exited
    Overhead,    // the overhead governor stopped it
    Shutdown,    // the agent stopped (or replaced a person's session)
    Interrupted, // Ctrl-C of `memsight leaks` / `profile`
};
inline constexpr size_t kEndReasonCount = 5;

constexpr std::string_view end_reason_name(EndReason r)
{
    switch (r) {
    case EndReason::Duration:
        return "duration";
    case EndReason::Exited:
        return "exited";
    case EndReason::Overhead:
        return "overhead";
    case EndReason::Shutdown:
        return "shutdown";
    case EndReason::Interrupted:
        return "interrupted";
    }
    return "unknown";
}

// The ways a session the agent runs can end: the label values of memsight_escalations_finished_total, in order.
inline constexpr std::array<EndReason, 4> kAgentEndReasons{EndReason::Duration, EndReason::Exited, EndReason::Overhead,
                                                           EndReason::Shutdown};

} // namespace memsight::deep
