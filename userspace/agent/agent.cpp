#include "agent/agent.h"

#include "agent/session_profile.h"
#include "memsight/version.h"
#include "util/error.h"
#include "util/privileges.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

namespace memsight::agent {
namespace {

void add_counters(loader::AllocCounters& into, const loader::AllocCounters& c)
{
    for (size_t i = 0; i < into.size(); ++i)
        into[i] += c[i];
}

exporter::FinishedReason finished_reason(EndReason r)
{
    switch (r) {
    case EndReason::Overhead:
        return exporter::FinishedReason::Overhead;
    case EndReason::Exited:
        return exporter::FinishedReason::Exited;
    case EndReason::Shutdown:
        return exporter::FinishedReason::Shutdown;
    default:
        return exporter::FinishedReason::Duration;
    }
}

} // namespace

Agent::Agent(const config::Config& cfg)
    : cfg_(cfg), table_(cfg.growth_window), cgroups_(procfs::CgroupFs::detect()), container_trends_(cfg.growth_window),
      exits_(cfg.exit_peaks_top, cfg.exit_peaks_window), oom_stats_(cfg.max_oom_series),
      oom_tracker_([this](const analysis::OomKill& k) {
          oom_stats_.add(k);
          spdlog::warn("OOM kill: pid {} ({}) cgroup '{}' container '{}' anon_rss {} bytes", k.pid, k.comm, k.cgroup,
                       k.identity.container_id, k.anon_rss);
      }),
      router_(table_, exits_, oom_tracker_, cgroups_, scanner_), planner_(cfg.escalation, ::getpid())
{
    if (!cgroups_.fs())
        spdlog::warn("no memory cgroup hierarchy is mounted: per-container metrics are disabled");
    loader::AlwaysOnOptions opts;
    opts.ringbuf_bytes = cfg.ringbuf_bytes;
    opts.page_faults = cfg.page_faults_enabled;
    opts.fault_sample_period = cfg.page_fault_sample_period;
    probes_ = std::make_unique<loader::AlwaysOnProbes>(opts, [this](const KernelEvent& e) { router_.push(e); });

    const auto& esc = cfg_.escalation;
    if (!esc.enabled)
        return;
    cost_per_hit(); // calibrate now, while the agent has no other threads (the calibration forks)
    if (!esc.profile_dir.empty()) {
        try {
            prepare_profile_dir(esc.profile_dir);
            profile_dir_ = esc.profile_dir;
            apply_retention(esc.profile_dir, esc.retention_max_files,
                            std::chrono::duration_cast<std::chrono::seconds>(esc.retention_max_age),
                            std::chrono::system_clock::now());
        } catch (const UserError& e) {
            spdlog::warn("escalation: {}; escalated sessions will export metrics but write no profile files", e.what());
        }
    }
    spdlog::info("escalation: on at leak suspicion >= {}, sessions of {} (at most {} at once, cool-down {}), "
                 "overhead budget {}, profiles {}",
                 esc.threshold, config::format_duration(esc.duration), esc.max_concurrent,
                 config::format_duration(esc.cooldown), format_budget(cfg_.deep_overhead_budget),
                 profile_dir_ ? "in " + *profile_dir_ : std::string("not written"));
}

Agent::~Agent() = default;

double Agent::cost_per_hit()
{
    const ProbeCost c = probe_cost(cfg_.deep_sample_bytes);
    if (c.measured) {
        std::lock_guard lock(mu_);
        status_.probe_cost_seconds = c.seconds_per_hit;
    }
    return c.seconds_per_hit;
}

void Agent::pump(const std::atomic<bool>& stop)
{
    while (!stop.load()) {
        if (int n = probes_->poll(200); n < 0)
            spdlog::error("ring buffer poll failed: {}", n);
        oom_tracker_.tick(analysis::Clock::now());
    }
}

void Agent::scan_once()
{
    const auto start = analysis::Clock::now();
    scanner_.scan(table_);
    std::vector<analysis::ContainerView> containers;
    if (cgroups_.fs()) {
        containers = analysis::read_containers(table_.snapshot(), *cgroups_.fs());
        container_trends_.update(containers, analysis::Clock::now());
    }
    // The agent does not consume the fault profile yet (`memsight faults` does); drain it so the
    // in-kernel maps keep room and the counters stay meaningful.
    probes_->drain_faults();
    const double secs = std::chrono::duration<double>(analysis::Clock::now() - start).count();
    {
        std::lock_guard lock(mu_);
        containers_ = std::move(containers);
        scan_seconds_ = secs;
    }

    std::erase_if(detaching_, [](const std::future<void>& f) {
        return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    });
    for (auto& r : sessions_)
        r.watch->sample();
    for (size_t i = sessions_.size(); i-- > 0;) {
        if (const EndReason why = sessions_[i].watch->end_reason(); why != EndReason::None)
            end_session(i, why);
    }
    escalate(analysis::Clock::now());
    publish();
    last_scan_ = analysis::Clock::now().time_since_epoch().count();
    ++scans_;
}

Progress Agent::progress() const
{
    Progress p;
    p.started = started_;
    p.scans = scans_.load();
    p.last_scan = analysis::Clock::time_point(analysis::Clock::duration(last_scan_.load()));
    return p;
}

exporter::Health judge_health(const Progress& p, analysis::Clock::time_point now, analysis::Clock::duration interval,
                              bool stopping)
{
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    const auto limit = std::max<analysis::Clock::duration>(3 * interval, seconds(30));
    const auto since = now - (p.scans == 0 ? p.started : p.last_scan);
    const auto secs = [](analysis::Clock::duration d) { return std::to_string(duration_cast<seconds>(d).count()); };
    exporter::Health h;
    h.live = since <= limit;
    h.ready = h.live && p.scans > 0 && !stopping;
    if (!h.live)
        h.detail = std::string(p.scans == 0 ? "stalled: no scan finished since start " : "stalled: last scan ended ") +
                   secs(since) + " s ago (limit " + secs(limit) + " s)";
    else if (stopping)
        h.detail = "stopping";
    else if (p.scans == 0)
        h.detail = "starting: BPF programs attached, first scan not finished";
    else
        h.detail = "ok: " + std::to_string(p.scans) + " scans, the last " + secs(since) + " s ago";
    return h;
}

void Agent::govern_sessions()
{
    for (size_t i = sessions_.size(); i-- > 0;) {
        if (sessions_[i].watch->govern())
            end_session(i, EndReason::Overhead);
    }
    publish();
}

void Agent::escalate(Clock::time_point now)
{
    const auto& esc = cfg_.escalation;
    if (!esc.enabled)
        return;
    std::set<pid_t> traced;
    size_t running = 0;
    for (const auto& r : sessions_) {
        for (pid_t p : r.watch->traced_pids())
            traced.insert(p);
        running += r.watch->origin() == Origin::Escalation ? 1 : 0;
    }
    const EscalationPlan plan = planner_.plan(table_.snapshot(), traced, running, now);
    if (plan.newly_deferred) {
        std::lock_guard lock(mu_);
        status_.escalations_refused[static_cast<size_t>(exporter::RefusedReason::MaxConcurrent)] += plan.newly_deferred;
    }
    for (const auto& p : plan.start) {
        const ProcessKey key{p.sample.pid, p.sample.start_ticks};
        DeepWatchOptions o;
        o.pids = {p.sample.pid};
        o.sample_bytes = cfg_.deep_sample_bytes;
        o.top_sites = cfg_.deep_top_sites;
        o.max_duration = esc.duration;
        o.interval = cfg_.interval;
        o.overhead_budget = cfg_.deep_overhead_budget;
        o.cost_per_hit_s = cost_per_hit();
        o.origin = Origin::Escalation;
        std::unique_ptr<DeepWatch> watch;
        try {
            watch = std::make_unique<DeepWatch>(o);
        } catch (const std::exception& e) {
            // Logged once: the cool-down keeps the same process from being tried again at every scan.
            planner_.cool_down(key, now);
            {
                std::lock_guard lock(mu_);
                ++status_.escalations_refused[static_cast<size_t>(exporter::RefusedReason::Untraceable)];
            }
            spdlog::warn("escalation: pid {} ({}) leak suspicion {:.2f}: not traced: {}; not retried for {}",
                         p.sample.pid, p.sample.comm, p.leak_suspicion, e.what(),
                         config::format_duration(esc.cooldown));
            continue;
        }
        spdlog::info("escalation: pid {} ({}) leak suspicion {:.2f} >= {}: deep-tier session for {} ({}, "
                     "overhead budget {})",
                     p.sample.pid, p.sample.comm, p.leak_suspicion, esc.threshold,
                     config::format_duration(esc.duration),
                     cfg_.deep_sample_bytes <= 1 ? std::string("exact")
                                                 : "sampled every " + std::to_string(cfg_.deep_sample_bytes) + " bytes",
                     format_budget(cfg_.deep_overhead_budget));
        {
            std::lock_guard lock(mu_);
            ++status_.escalations_started;
        }
        sessions_.push_back({std::move(watch), key});
    }
}

void Agent::end_session(size_t index, EndReason why)
{
    Running r = std::move(sessions_[index]);
    sessions_.erase(sessions_.begin() + static_cast<std::ptrdiff_t>(index));
    const bool escalated = r.watch->origin() == Origin::Escalation;
    if (why == EndReason::Overhead)
        spdlog::warn("{}", r.watch->stop_message());
    else
        spdlog::info("deep tier: {} session on {} ended ({})", escalated ? "escalated" : "the", r.watch->who(),
                     end_reason_name(why));
    if (escalated) {
        planner_.cool_down(r.key, analysis::Clock::now());
        if (profile_dir_) {
            const auto& esc = cfg_.escalation;
            try {
                const std::string data =
                    r.watch->final_profile("escalated, ended: " + std::string(end_reason_name(why)));
                const auto path = write_profile_file(
                    *profile_dir_,
                    profile_file_name(r.watch->first_comm(), r.watch->first_pid(), std::chrono::system_clock::now()),
                    data);
                spdlog::info("escalation: wrote {} ({} bytes)", path, data.size());
                for (const auto& gone :
                     apply_retention(*profile_dir_, esc.retention_max_files,
                                     std::chrono::duration_cast<std::chrono::seconds>(esc.retention_max_age),
                                     std::chrono::system_clock::now()))
                    spdlog::debug("escalation: retention removed {}/{}", *profile_dir_, gone);
            } catch (const std::exception& e) {
                spdlog::warn("escalation: no profile for {}: {}", r.watch->who(), e.what());
            }
        }
    }
    const auto counters = r.watch->counters();
    {
        std::lock_guard lock(mu_);
        add_counters(deep_counters_, counters);
        if (why == EndReason::Overhead)
            ++status_.overhead_stops;
        if (escalated)
            ++status_.escalations_finished[static_cast<size_t>(finished_reason(why))];
    }
    publish();
    // Detaching the uprobes one by one takes seconds: neither under the lock that scrapes need nor on this thread,
    // which runs the governor and the other sessions.
    detaching_.push_back(std::async(std::launch::async, [w = std::move(r.watch)]() mutable { w.reset(); }));
}

void Agent::publish()
{
    std::vector<analysis::HeapSite> heap;
    loader::AllocCounters live{};
    std::vector<exporter::SessionOverhead> overheads;
    size_t escalated = 0;
    for (const auto& r : sessions_) {
        for (auto& h : r.watch->top_sites())
            heap.push_back(std::move(h));
        add_counters(live, r.watch->counters());
        if (auto o = r.watch->overhead())
            overheads.push_back(std::move(*o));
        escalated += r.watch->origin() == Origin::Escalation ? 1 : 0;
    }
    std::lock_guard lock(mu_);
    heap_sites_ = std::move(heap);
    deep_counters_live_ = live;
    deep_running_ = sessions_.size();
    status_.overheads = std::move(overheads);
    status_.escalation_sessions = escalated;
}

void Agent::watch(const std::vector<pid_t>& pids, double overhead_budget)
{
    for (size_t i = sessions_.size(); i-- > 0;)
        if (sessions_[i].watch->origin() == Origin::Manual)
            end_session(i, EndReason::Shutdown);
    DeepWatchOptions o;
    o.pids = pids;
    o.sample_bytes = cfg_.deep_sample_bytes;
    o.top_sites = cfg_.deep_top_sites;
    o.max_duration = cfg_.deep_max_duration;
    o.interval = cfg_.interval;
    o.overhead_budget = overhead_budget;
    o.cost_per_hit_s = cost_per_hit();
    o.origin = Origin::Manual;
    sessions_.push_back({std::make_unique<DeepWatch>(o), ProcessKey{}});
    spdlog::info("deep tier: session on {} for {} (overhead budget {})", sessions_.back().watch->who(),
                 config::format_duration(cfg_.deep_max_duration), format_budget(overhead_budget));
    publish();
}

void Agent::run(const std::atomic<bool>& stop)
{
    std::thread pump_thread([this, &stop] { pump(stop); });
    auto next = analysis::Clock::now();
    auto next_govern = next + std::chrono::seconds(1);
    while (!stop.load()) {
        const auto now = analysis::Clock::now();
        if (now >= next) {
            scan_once();
            next += cfg_.interval;
            if (next < analysis::Clock::now())
                next = analysis::Clock::now() + cfg_.interval;
        }
        // The governor looks every second, not every interval: a costly session must not run for a whole
        // (possibly long) interval before it is stopped.
        if (now >= next_govern) {
            govern_sessions();
            next_govern = now + std::chrono::seconds(1);
        }
        router_.drain(); // kernel events, applied here rather than on the ring-buffer thread
        for (auto& r : sessions_)
            r.watch->poll();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    while (!sessions_.empty())
        end_session(sessions_.size() - 1, EndReason::Shutdown);
    pump_thread.join();
}

analysis::AgentSnapshot Agent::snapshot() const
{
    analysis::AgentSnapshot s;
    auto all = table_.snapshot();
    s.tracked_processes = all.size();
    s.processes = analysis::select_exported(std::move(all), cfg_.top_processes_by_rss, cfg_.top_processes_by_growth);
    s.oom_series = oom_stats_.series();
    const auto now = analysis::Clock::now();
    s.recent_oom_victims = oom_stats_.recent(now);
    s.exit_histogram = exits_.histogram();
    s.exit_peaks = exits_.recent(now);
    s.kernel_counters = probes_->counters();
    s.attach_failures = probes_->attach_failures();
    s.event_queue_full = router_.queue_full();
    s.version = kVersion;
    s.kernel = util::kernel_release();
    s.libbpf = loader::libbpf_version();
    std::lock_guard lock(mu_);
    s.containers = containers_;
    s.scan_seconds = scan_seconds_;
    s.deep_sessions = deep_running_;
    s.heap_sites = heap_sites_;
    for (size_t i = 0; i < s.deep_counters.size(); ++i)
        s.deep_counters[i] = deep_counters_[i] + deep_counters_live_[i];
    return s;
}

exporter::DeepTierStatus Agent::deep_status() const
{
    std::lock_guard lock(mu_);
    return status_;
}

} // namespace memsight::agent
