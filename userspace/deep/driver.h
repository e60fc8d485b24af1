#pragma once
// Drives one deep-tier session for whoever started it — `memsight leaks` and `profile` in the foreground, the
// agent's --deep-pid and escalated sessions from its scan loop: attaches, reads the call sites every interval
// (LeakTracker), lets the overhead governor look every second, and says when and why the session ends.
#include "deep/calibration.h"
#include "deep/end_reason.h"
#include "deep/governor.h"
#include "deep/leak_tracker.h"
#include "deep/session.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace memsight::deep {

struct DriverOptions {
    SessionOptions session;
    std::chrono::milliseconds duration{std::chrono::seconds(30)}; // end_reason() says Duration after this
    std::chrono::milliseconds min_age{std::chrono::seconds(10)};  // live blocks older than this: leak candidates
    double overhead_budget = 0.02;                                // 0 = no limit
    // The cost of one probe hit for the governor. Unset: calibrated (probe_cost) right after attaching when the
    // budget is not 0, and no governor at all when it is 0. Set: the governor runs with it; a budget of 0 then
    // only estimates.
    std::optional<ProbeCost> hit_cost;
};

class Driver {
public:
    // Attaches to the processes (throws UserError when none can be traced, each refusal saying why), calls
    // `attached` with the new session (to report what was hooked before anything else is logged), calibrates when
    // the options ask for it, and starts the session's clock.
    explicit Driver(const DriverOptions& opts, const std::function<void(const Session&)>& attached = {});

    const Session& session() const { return *session_; }
    // Handles the session's mmap events for up to timeout_ms; call every 50 ms or so.
    void poll(int timeout_ms) { session_->poll(timeout_ms); }
    // One reading of every call site; call every interval.
    void sample() { tracker_->sample(); }
    // One governor reading; call about every second. True once the budget has said stop (it stays true).
    bool govern();
    // Why the session should end now — the budget (after govern()), every traced process exited, its duration
    // passed, in that order — or nullopt while it should go on.
    std::optional<EndReason> end_reason() const;
    // Runs the session in the foreground until end_reason() or `stop` (Interrupted): polls, reads every
    // `interval`, governs every second; then finish().
    EndReason run(std::chrono::milliseconds interval, const std::atomic<bool>& stop);
    // A last poll and reading; elapsed_s() stops there.
    void finish();

    // Call sites by live bytes, largest first, over the session so far.
    std::vector<SiteReport> report() const { return tracker_->report(elapsed_s()); }
    double elapsed_s() const;
    std::chrono::system_clock::time_point started() const { return started_; }
    // The first traced (not refused) process, which labels the session; nullptr when there is none.
    const TargetReport* first_target() const;

    // The overhead governor: the budget, the cost per hit it uses (nullopt without a governor), its estimate.
    double overhead_budget() const { return budget_; }
    std::optional<ProbeCost> hit_cost() const;
    std::optional<double> overhead_estimate() const;
    // The one log line of a budget stop.
    std::string stop_message() const;

private:
    std::unique_ptr<Session> session_;
    std::unique_ptr<LeakTracker> tracker_;
    std::optional<ProbeCost> cost_;
    std::optional<SessionGovernor> governor_;
    double budget_;
    std::chrono::milliseconds duration_;
    std::chrono::steady_clock::time_point start_;
    std::optional<std::chrono::steady_clock::time_point> finished_;
    std::chrono::system_clock::time_point started_;
    bool over_budget_ = false;
};

} // namespace memsight::deep
