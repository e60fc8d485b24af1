#pragma once
// The deep tier's overhead governor: a per-session estimate of the fraction of the traced processes' CPU time spent
// in memsight's probes, compared with a budget (the cost of one probe hit comes from deep/calibration.h). See
// docs/escalation.md for the formula and why it is built this way.
#include "deep/session.h"
#include "loader/alloc_probes.h"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace memsight::deep {

// What one counted probe hit costs when calibration cannot run (no BPF, fork failed): the per-hit cost measured
// on the development machines (docs/performance.md), so a governor still has a plausible number.
inline constexpr double kFallbackCostPerHit = 5e-6;

// The probe hits a session counted: allocation calls plus free calls (each allocation call traps twice, entry
// and return, a free once; the calibration's per-hit cost averages over that mix as a malloc+free pair does).
uint64_t probe_hits(const loader::AllocCounters& c);

// CPU seconds (utime + stime from /proc/PID/stat) used by a changing set of processes, summed without going
// backwards when one exits or a pid is reused: each process (pid, start time) contributes its growth since it
// was first read.
class CpuMeter {
public:
    explicit CpuMeter(std::string proc_root = "/proc");
    // Reads every pid and returns the accumulated CPU seconds (0 at the first call).
    double read(const std::vector<pid_t>& pids);

private:
    std::string proc_root_;
    double ticks_per_second_;
    std::map<pid_t, std::pair<uint64_t, uint64_t>> last_; // pid -> (start ticks, utime + stime ticks)
    uint64_t total_ticks_ = 0;
};

// overhead = (probe hits in the window x cost per hit) / max(CPU seconds of the targets in the window, that
// product). The probes run in the traced threads, so their time is part of the targets' CPU time: the estimate
// is the fraction of the targets' CPU spent in the probes (0..1). The window is the last kWindow seconds of
// readings; a decision (over_budget) needs at least kMinSpan seconds and kMinCpu CPU seconds (probe or target)
// in it, because utime/stime advance in clock ticks (10 ms at USER_HZ 100).
class OverheadGovernor {
public:
    struct Reading {
        double t_s = 0;    // monotonic seconds
        uint64_t hits = 0; // cumulative probe hits
        double cpu_s = 0;  // cumulative CPU seconds of the targets
    };
    static constexpr double kWindow = 10.0;
    static constexpr double kMinSpan = 1.0;
    static constexpr double kMinCpu = 0.1;

    // budget: the largest acceptable fraction (0.02 = 2%); 0 = no limit (estimate only).
    OverheadGovernor(double cost_per_hit_s, double budget) : cost_(cost_per_hit_s), budget_(budget) {}

    void add(const Reading& r);
    // nullopt until two readings at least kMinSpan apart exist.
    std::optional<double> estimate() const;
    // True when the estimate exceeds a non-zero budget with enough CPU evidence in the window.
    bool over_budget() const;
    // "12000 probe hits/s x 5.2 us = 62.4 ms/s against 166 ms/s of process CPU" for the log line.
    std::string explain() const;
    double budget() const { return budget_; }
    double cost_per_hit() const { return cost_; }

private:
    struct Window {
        double span_s = 0, probe_s = 0, cpu_s = 0;
        uint64_t hits = 0;
    };
    std::optional<Window> window() const;

    double cost_;
    double budget_;
    std::deque<Reading> readings_;
};

// Governs one running deep::Session: reads its counters and its traced processes' CPU, feeds an OverheadGovernor.
class SessionGovernor {
public:
    SessionGovernor(const Session& session, double cost_per_hit_s, double budget);
    // One reading; call about every second.
    void tick();
    bool over_budget() const { return gov_.over_budget(); }
    std::optional<double> estimate() const { return gov_.estimate(); }
    const OverheadGovernor& governor() const { return gov_; }
    // The one log line when the budget stops the session.
    std::string stop_message(const std::string& who) const;

private:
    const Session& session_;
    CpuMeter cpu_;
    OverheadGovernor gov_;
    std::chrono::steady_clock::time_point start_;
};

// "2%", "0.5%", "0 (no limit)" for log lines.
std::string format_budget(double budget);

} // namespace memsight::deep
