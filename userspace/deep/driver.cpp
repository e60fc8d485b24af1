#include "deep/driver.h"

namespace memsight::deep {
namespace {

std::unique_ptr<Session> attach(const DriverOptions& o, const std::function<void(const Session&)>& attached)
{
    auto session = std::make_unique<Session>(o.session);
    if (attached)
        attached(*session);
    return session;
}

} // namespace

Driver::Driver(const DriverOptions& opts, const std::function<void(const Session&)>& attached)
    : session_(attach(opts, attached)), budget_(opts.overhead_budget), duration_(opts.duration)
{
    if (opts.hit_cost)
        cost_ = opts.hit_cost;
    else if (opts.overhead_budget > 0)
        // After attaching, so that a refusal (a Go program, no such pid) is the only line printed. The
        // calibration's probes live in their own BPF object on their own process: they count nowhere here.
        cost_ = probe_cost(opts.session.sample_bytes);
    if (cost_) {
        governor_.emplace(*session_, cost_->seconds_per_hit, budget_);
        governor_->tick(); // the baseline of the CPU and hit counts
    }
    tracker_ = std::make_unique<LeakTracker>(*session_, opts.min_age);
    start_ = std::chrono::steady_clock::now();
    started_ = std::chrono::system_clock::now();
}

bool Driver::govern()
{
    if (governor_) {
        governor_->tick();
        over_budget_ = over_budget_ || governor_->over_budget();
    }
    return over_budget_;
}

std::optional<EndReason> Driver::end_reason() const
{
    if (over_budget_)
        return EndReason::Overhead;
    if (session_->all_gone())
        return EndReason::Exited;
    if (std::chrono::steady_clock::now() - start_ >= duration_)
        return EndReason::Duration;
    return std::nullopt;
}

EndReason Driver::run(std::chrono::milliseconds interval, const std::atomic<bool>& stop)
{
    auto next = start_ + interval;
    auto next_govern = start_ + std::chrono::seconds(1);
    std::optional<EndReason> why;
    while (!(why = end_reason())) {
        if (stop.load()) {
            why = EndReason::Interrupted;
            break;
        }
        poll(50);
        const auto now = std::chrono::steady_clock::now();
        if (now >= next) {
            sample();
            next += interval;
        }
        if (governor_ && now >= next_govern) {
            next_govern = now + std::chrono::seconds(1);
            govern();
        }
    }
    finish();
    return *why;
}

void Driver::finish()
{
    session_->poll(0);
    tracker_->sample();
    finished_ = std::chrono::steady_clock::now();
}

double Driver::elapsed_s() const
{
    return std::chrono::duration<double>(finished_.value_or(std::chrono::steady_clock::now()) - start_).count();
}

const TargetReport* Driver::first_target() const
{
    for (const auto& t : session_->targets())
        if (!t.refused)
            return &t;
    return nullptr;
}

std::optional<ProbeCost> Driver::hit_cost() const
{
    return cost_;
}

std::optional<double> Driver::overhead_estimate() const
{
    return governor_ ? governor_->estimate() : std::nullopt;
}

std::string Driver::stop_message() const
{
    return governor_ ? governor_->stop_message(session_->who()) : std::string();
}

} // namespace memsight::deep
