#include "deep/governor.h"

#include "config/config.h"
#include "procfs/proc_parse.h"
#include "procfs/read_file.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace memsight::deep {

uint64_t probe_hits(const loader::AllocCounters& c)
{
    return c[MEMSIGHT_ACNT_ALLOC_CALLS] + c[MEMSIGHT_ACNT_FREE_CALLS];
}

CpuMeter::CpuMeter(std::string proc_root) : proc_root_(std::move(proc_root))
{
    const long hz = ::sysconf(_SC_CLK_TCK);
    ticks_per_second_ = hz > 0 ? static_cast<double>(hz) : 100.0;
}

double CpuMeter::read(const std::vector<pid_t>& pids)
{
    for (pid_t pid : pids) {
        const auto text = procfs::read_file(proc_root_ + "/" + std::to_string(pid) + "/stat");
        const auto st = text ? procfs::parse_stat(*text) : std::nullopt;
        if (!st)
            continue; // exited: what it used up to the last reading is counted
        const uint64_t ticks = st->utime_ticks + st->stime_ticks;
        auto [it, inserted] = last_.try_emplace(pid, st->starttime_ticks, ticks);
        if (inserted)
            continue; // the baseline: only growth from here counts
        auto& [start, last] = it->second;
        if (start != st->starttime_ticks) {
            start = st->starttime_ticks; // pid reused: a new baseline
            last = ticks;
            continue;
        }
        if (ticks > last)
            total_ticks_ += ticks - last;
        last = ticks;
    }
    return static_cast<double>(total_ticks_) / ticks_per_second_;
}

void OverheadGovernor::add(const Reading& r)
{
    readings_.push_back(r);
    // Keep the newest reading at or before the window's start, so the window spans kWindow once it can.
    while (readings_.size() >= 2 && readings_[1].t_s <= r.t_s - kWindow)
        readings_.pop_front();
}

std::optional<OverheadGovernor::Window> OverheadGovernor::window() const
{
    if (readings_.size() < 2)
        return std::nullopt;
    const Reading& a = readings_.front();
    const Reading& b = readings_.back();
    Window w;
    w.span_s = b.t_s - a.t_s;
    if (w.span_s < kMinSpan)
        return std::nullopt;
    w.hits = b.hits >= a.hits ? b.hits - a.hits : 0;
    w.probe_s = static_cast<double>(w.hits) * cost_;
    w.cpu_s = std::max(0.0, b.cpu_s - a.cpu_s);
    return w;
}

std::optional<double> OverheadGovernor::estimate() const
{
    const auto w = window();
    if (!w)
        return std::nullopt;
    if (w->hits == 0 || w->probe_s <= 0)
        return 0.0;
    // The probes' time is part of the targets' CPU time; clock-tick rounding can show less CPU than the probes
    // alone used, which would give more than 100%.
    return w->probe_s / std::max(w->cpu_s, w->probe_s);
}

bool OverheadGovernor::over_budget() const
{
    if (budget_ <= 0)
        return false;
    const auto w = window();
    if (!w || std::max(w->cpu_s, w->probe_s) < kMinCpu)
        return false;
    const auto e = estimate();
    return e && *e > budget_;
}

std::string OverheadGovernor::explain() const
{
    const auto w = window();
    if (!w)
        return "not enough readings yet";
    char buf[200];
    std::snprintf(buf, sizeof(buf), "%.0f probe hits/s x %.2f us = %.1f ms/s against %.1f ms/s of process CPU",
                  static_cast<double>(w->hits) / w->span_s, cost_ * 1e6, w->probe_s / w->span_s * 1e3,
                  w->cpu_s / w->span_s * 1e3);
    return buf;
}

SessionGovernor::SessionGovernor(const Session& session, double cost_per_hit_s, double budget)
    : session_(session), gov_(cost_per_hit_s, budget), start_(std::chrono::steady_clock::now())
{
}

void SessionGovernor::tick()
{
    OverheadGovernor::Reading r;
    r.t_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    r.hits = probe_hits(session_.counters());
    r.cpu_s = cpu_.read(session_.traced_pids());
    gov_.add(r);
}

std::string SessionGovernor::stop_message(const std::string& who) const
{
    const double e = gov_.estimate().value_or(0);
    char pct[32];
    std::snprintf(pct, sizeof(pct), "%.1f%%", e * 100);
    return "deep tier: stopping the session on " + who + ": estimated overhead " + pct + " of its CPU (" +
           gov_.explain() + ") exceeds the budget " + format_budget(gov_.budget());
}

std::string format_budget(double budget)
{
    return budget <= 0 ? "0 (no limit)" : config::format_ratio(budget);
}

} // namespace memsight::deep
