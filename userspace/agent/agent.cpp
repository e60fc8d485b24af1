#include "agent/agent.h"

#include "agent/site_comparison.h"
#include "memsight/version.h"
#include "procfs/container.h"
#include "procfs/proc_parse.h"
#include "procfs/read_file.h"
#include "profile/session_profile.h"
#include "util/error.h"
#include "util/privileges.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

namespace memsight::agent {
namespace {

void add_counters(loader::AllocCounters& into, const loader::AllocCounters& c)
{
    for (size_t i = 0; i < into.size(); ++i)
        into[i] += c[i];
}

procfs::ContainerIdentity identity_of(pid_t pid)
{
    auto text = procfs::read_file("/proc/" + std::to_string(pid) + "/cgroup");
    auto path = text ? procfs::memory_cgroup_path(procfs::parse_proc_cgroup(*text)) : std::nullopt;
    return path ? procfs::identify_container(*path) : procfs::ContainerIdentity{};
}

// Aggregates per (pid, site name) and keeps the `k` largest by live bytes per pid: one series per (pid, site).
std::vector<analysis::HeapSite> top_sites_per_process(const std::vector<deep::SiteReport>& sites, size_t k)
{
    std::map<std::pair<uint32_t, std::string>, analysis::HeapSite> merged;
    for (const auto& s : sites) {
        auto& h = merged[{s.tgid, s.site}];
        h.pid = static_cast<pid_t>(s.tgid);
        h.comm = s.comm;
        h.site = s.site;
        h.live_bytes += s.live_bytes;
        h.live_objects += s.live_count;
        h.allocated_bytes += s.alloc_bytes;
        h.freed_bytes += s.free_bytes;
        h.growing = h.growing || s.growing;
    }
    std::map<uint32_t, std::vector<analysis::HeapSite>> by_pid;
    for (auto& [key, h] : merged)
        by_pid[key.first].push_back(std::move(h));
    std::vector<analysis::HeapSite> out;
    for (auto& [pid, list] : by_pid) {
        std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.live_bytes > b.live_bytes; });
        list.resize(std::min(k, list.size()));
        const auto id = identity_of(static_cast<pid_t>(pid));
        for (auto& h : list) {
            h.identity = id;
            out.push_back(std::move(h));
        }
    }
    return out;
}

OomForensicsOptions oom_forensics_options(const config::Config& cfg)
{
    OomForensicsOptions o;
    o.dir = cfg.oom_forensics_dir;
    o.max_files = cfg.oom_forensics_max_files;
    o.max_age = std::chrono::duration_cast<std::chrono::seconds>(cfg.oom_forensics_max_age);
    o.record.interval_seconds = std::chrono::duration<double>(cfg.interval).count();
    o.record.window_seconds = std::chrono::duration<double>(cfg.growth_window).count();
    // A deep session on a victim ends at the first scan after the victim exits and writes its profile then.
    o.hold = 2 * cfg.interval + std::chrono::seconds(5);
    return o;
}

// The wall-clock start of a process from its /proc/PID/stat start time (clock ticks after boot) and /proc/stat's
// btime; nullopt when they cannot be read.
std::optional<std::chrono::system_clock::time_point> process_start(uint64_t start_ticks)
{
    static const long long btime = [] {
        const auto text = procfs::read_file("/proc/stat");
        if (!text)
            return -1LL;
        const auto at = text->find("\nbtime ");
        return at == std::string::npos ? -1LL : std::atoll(text->c_str() + at + 7);
    }();
    const long hz = ::sysconf(_SC_CLK_TCK);
    if (btime <= 0 || hz <= 0 || start_ticks == 0)
        return std::nullopt;
    const auto since_boot =
        std::chrono::milliseconds(static_cast<int64_t>(start_ticks * 1000 / static_cast<uint64_t>(hz)));
    return std::chrono::system_clock::time_point(std::chrono::seconds(btime)) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(since_boot);
}

} // namespace

Agent::Agent(const config::Config& cfg)
    : cfg_(cfg), table_(cfg.growth_window), cgroups_(procfs::CgroupFs::detect()), container_trends_(cfg.growth_window),
      exits_(cfg.exit_peaks_top, cfg.exit_peaks_window), oom_stats_(cfg.max_oom_series),
      oom_forensics_(oom_forensics_options(cfg)), oom_tracker_([this](const analysis::OomKill& k) {
          // Possibly on the ring-buffer thread (a kill whose victim's exit did not come): queue, never write here.
          oom_stats_.add(k);
          oom_forensics_.on_kill(k);
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
    opts.stack_window = cfg.page_fault_stack_window;
    probes_ = std::make_unique<loader::AlwaysOnProbes>(opts, [this](const KernelEvent& e) { router_.push(e); });
    // After the start-up checks (the probes): an agent that cannot start prints only why.
    oom_forensics_.open();
    if (oom_forensics_.enabled())
        router_.set_victim_hook(
            [this](pid_t pid, const std::optional<std::string>& cgroup) { capture_victim(pid, cgroup); });

    const auto& esc = cfg_.escalation;
    if (!esc.enabled)
        return;
    cost_per_hit(); // calibrate now, while the agent has no other threads (the calibration forks)
    if (!esc.profile_dir.empty()) {
        try {
            profile::prepare_profile_dir(esc.profile_dir);
            profile_dir_ = esc.profile_dir;
            profile::apply_retention(esc.profile_dir, esc.retention_max_files,
                                     std::chrono::duration_cast<std::chrono::seconds>(esc.retention_max_age),
                                     std::chrono::system_clock::now());
        } catch (const UserError& e) {
            spdlog::warn("escalation: {}; escalated sessions will export metrics but write no profile files", e.what());
        }
    }
    spdlog::info("escalation: on at leak suspicion >= {}, sessions of {} (at most {} at once, cool-down {}), "
                 "overhead budget {}, profiles {}",
                 esc.threshold, config::format_duration(esc.duration), esc.max_concurrent,
                 config::format_duration(esc.cooldown), deep::format_budget(cfg_.deep_overhead_budget),
                 profile_dir_ ? "in " + *profile_dir_ : std::string("not written"));
}

Agent::~Agent() = default;

deep::ProbeCost Agent::cost_per_hit()
{
    const deep::ProbeCost c = deep::probe_cost(cfg_.deep_sample_bytes);
    if (c.measured) {
        std::lock_guard lock(mu_);
        status_.probe_cost_seconds = c.seconds_per_hit;
    }
    return c;
}

Agent::Running Agent::start_session(const std::vector<pid_t>& pids, std::chrono::milliseconds duration, double budget,
                                    Origin origin, ProcessKey key)
{
    deep::DriverOptions o;
    o.session.pids = pids;
    o.session.sample_bytes = cfg_.deep_sample_bytes;
    o.duration = duration;
    o.min_age = cfg_.interval;
    o.overhead_budget = budget;
    o.hit_cost = cost_per_hit();
    Running r;
    r.driver = std::make_unique<deep::Driver>(o, [](const deep::Session& session) {
        for (const auto& t : session.targets()) {
            if (t.refused) {
                spdlog::warn("deep tier: {}", t.refusal);
                continue;
            }
            for (const auto& h : t.hooked)
                spdlog::info("deep tier: pid {} ({}): hooked {}", t.pid, t.comm, h);
        }
    });
    r.origin = origin;
    r.key = key;
    if (const auto* first = r.driver->first_target()) {
        r.pid = first->pid;
        r.comm = first->comm;
    }
    r.identity = identity_of(r.pid);
    start_python(r);
    return r;
}

void Agent::start_python(Running& r)
{
    for (const auto& t : r.driver->session().targets()) {
        if (t.refused)
            continue;
        try {
            auto watch = python::start_watch(t.pid); // not Python: nothing
            if (!watch)
                continue;
            PythonWatch w{t.pid, t.comm, identity_of(t.pid), std::move(*watch)};
            {
                std::lock_guard lock(mu_);
                ++python_censuses_;
            }
            spdlog::info("python: pid {} ({}): Python {}, {} GC-tracked objects, census in {:.3f} s", t.pid, t.comm,
                         python::version_text(w.watch.interpreter.layout.version_hex), w.watch.first.objects,
                         w.watch.first.seconds);
            r.python.push_back(std::move(w));
        } catch (const std::exception& e) { // Python that cannot be read: one line for the session
            spdlog::warn("python: pid {} ({}): no census in this session: {}", t.pid, t.comm, e.what());
        }
    }
}

// Bounds the census cost: at most one per reading (and not within half an interval of the previous one, should
// scan_once be called more often), and none while the previous census's time exceeds 10% of the time since it
// started (a census costing more than 10% of the interval skips readings, counted, until it fits).
void Agent::census_python(Running& r)
{
    if (r.python.empty())
        return;
    const auto interval = std::chrono::duration<double>(cfg_.interval).count();
    uint64_t taken = 0, skipped = 0;
    for (size_t i = r.python.size(); i-- > 0;) {
        auto& w = r.python[i];
        const python::Census& last = w.watch.latest;
        const double since = std::chrono::duration<double>(std::chrono::steady_clock::now() - last.at).count();
        if (since < interval / 2)
            continue;
        if (last.seconds > 0.1 * interval && last.seconds > 0.1 * since) {
            ++skipped;
            continue;
        }
        try {
            python::update(w.watch);
            w.has_latest = true;
            ++taken;
        } catch (const std::exception& e) { // the process exited
            spdlog::info("python: pid {} ({}): census stopped: {}", w.pid, w.comm, e.what());
            r.python.erase(r.python.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
    r.python_top.clear();
    for (const auto& w : r.python) {
        if (!w.has_latest)
            continue;
        for (const auto& d : python::growing_types(w.watch, cfg_.deep_top_sites)) {
            analysis::PythonType t;
            t.pid = w.pid;
            t.comm = w.comm;
            t.identity = w.identity;
            t.type = d.type;
            t.live_objects = static_cast<double>(d.count_last);
            t.growth_per_second = d.count_per_s;
            r.python_top.push_back(std::move(t));
        }
    }
    std::lock_guard lock(mu_);
    python_censuses_ += taken;
    python_censuses_skipped_ += skipped;
}

void Agent::pump(const std::atomic<bool>& stop)
{
    while (!stop.load()) {
        if (int n = probes_->poll(200); n < 0)
            spdlog::error("ring buffer poll failed: {}", n);
        oom_tracker_.tick(analysis::Clock::now());
    }
}

GrowthSiteNamer::Named Agent::update_growth_sites(const std::vector<analysis::ProcessView>& processes,
                                                  const std::vector<analysis::ContainerView>& containers)
{
    // Samples of processes that neither grow nor are suspected are not kept: they would only crowd the bounded
    // table (a busy host faults in many more distinct stacks than its growing processes do).
    const auto now = analysis::Clock::now();
    std::set<pid_t> live;
    std::set<pid_t> quiet;
    for (const auto& p : processes) {
        live.insert(p.sample.pid);
        if (!analysis::names_growth_sites(p.leak_suspicion, p.growth_bytes_per_second))
            quiet.insert(p.sample.pid);
    }
    for (const auto& fs : probes_->drain_faults())
        if (!quiet.contains(static_cast<pid_t>(fs.tgid)))
            growth_sites_.add(static_cast<pid_t>(fs.tgid), fs.user_stack, fs.samples, now);
    growth_sites_.expire(now, live);
    const GrowthSiteLimits limits{cfg_.growth_site_processes, cfg_.growth_site_containers, cfg_.growth_sites_top,
                                  probes_->fault_sample_period() * static_cast<uint64_t>(::getpagesize())};
    auto growth = growth_site_namer_.name(processes, containers, growth_sites_, limits);
    // The processes whose sites are named get their fault stacks unwound first (stack_unwinder.h).
    std::set<pid_t> named;
    std::set<std::string> named_containers;
    for (const auto& g : growth.processes)
        named.insert(g.pid);
    for (const auto& g : growth.containers)
        named_containers.insert(g.identity.container_id);
    for (const auto& p : processes)
        if (named_containers.contains(p.identity.container_id))
            named.insert(p.sample.pid);
    // CPython processes among them get their Python frames read with each sample from now on (python/frames.h).
    for (auto it = python_checked_.begin(); it != python_checked_.end();)
        it = live.contains(it->first) ? std::next(it) : python_checked_.erase(it);
    for (const auto& p : processes) {
        if (!named.contains(p.sample.pid))
            continue;
        auto [it, fresh] = python_checked_.try_emplace(p.sample.pid, p.sample.start_ticks);
        if (fresh || it->second != p.sample.start_ticks) { // new, or the pid was reused
            it->second = p.sample.start_ticks;
            probes_->watch_python_process(p.sample.pid);
        }
    }
    probes_->prioritize_unwinding(std::move(named));
    return growth;
}

void Agent::scan_once()
{
    const auto start = analysis::Clock::now();
    scanner_.scan(table_);
    const auto processes = table_.snapshot();
    std::vector<analysis::ContainerView> containers;
    if (cgroups_.fs()) {
        containers = analysis::read_containers(processes, *cgroups_.fs());
        container_trends_.update(containers, analysis::Clock::now());
    }
    auto growth = update_growth_sites(processes, containers);
    const double secs = std::chrono::duration<double>(analysis::Clock::now() - start).count();
    {
        std::lock_guard lock(mu_);
        containers_ = std::move(containers);
        previous_growth_sites_ = std::move(growth_site_views_.processes);
        growth_site_views_ = std::move(growth);
        growth_site_samples_folded_ = growth_sites_.folded_samples();
        growth_site_stacks_ = growth_sites_.stacks();
        scan_seconds_ = secs;
    }

    std::erase_if(detaching_, [](const std::future<void>& f) {
        return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    });
    for (auto& r : sessions_) {
        r.driver->sample();
        r.top = top_sites_per_process(r.driver->report(), cfg_.deep_top_sites);
        census_python(r);
    }
    for (size_t i = sessions_.size(); i-- > 0;) {
        if (const auto why = sessions_[i].driver->end_reason())
            end_session(i, *why);
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
        if (sessions_[i].driver->govern())
            end_session(i, deep::EndReason::Overhead);
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
        for (pid_t p : r.driver->session().traced_pids())
            traced.insert(p);
        running += r.origin == Origin::Escalation ? 1 : 0;
    }
    const EscalationPlan plan = planner_.plan(table_.snapshot(), traced, running, now);
    if (plan.newly_deferred) {
        std::lock_guard lock(mu_);
        refused_[static_cast<size_t>(RefusedReason::MaxConcurrent)] += plan.newly_deferred;
    }
    for (const auto& p : plan.start) {
        const ProcessKey key{p.sample.pid, p.sample.start_ticks};
        Running session;
        try {
            session = start_session({p.sample.pid}, esc.duration, cfg_.deep_overhead_budget, Origin::Escalation, key);
        } catch (const std::exception& e) {
            // Logged once: the cool-down keeps the same process from being tried again at every scan.
            planner_.cool_down(key, now);
            {
                std::lock_guard lock(mu_);
                ++refused_[static_cast<size_t>(RefusedReason::Untraceable)];
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
                     deep::format_budget(cfg_.deep_overhead_budget));
        {
            std::lock_guard lock(mu_);
            ++status_.escalations_started;
        }
        sessions_.push_back(std::move(session));
    }
}

void Agent::end_session(size_t index, deep::EndReason why)
{
    Running r = std::move(sessions_[index]);
    sessions_.erase(sessions_.begin() + static_cast<std::ptrdiff_t>(index));
    const bool escalated = r.origin == Origin::Escalation;
    const std::string who = r.driver->session().who();
    if (why == deep::EndReason::Overhead)
        spdlog::warn("{}", r.driver->stop_message());
    else
        spdlog::info("deep tier: {} session on {} ended ({})", escalated ? "escalated" : "the", who,
                     deep::end_reason_name(why));
    if (escalated) {
        {
            std::lock_guard lock(mu_); // growth_site_views_
            spdlog::info("escalation: deep tier vs growth sites: {}",
                         compare_sites(r.pid, r.top, growth_site_views_.processes).text);
        }
        planner_.cool_down(r.key, analysis::Clock::now());
        if (profile_dir_) {
            const auto& esc = cfg_.escalation;
            bool written = false;
            try {
                r.driver->finish();
                const std::string data = profile::session_pprof(
                    r.driver->session(), r.driver->report(), r.driver->started(), r.driver->elapsed_s(),
                    "escalated, ended: " + std::string(deep::end_reason_name(why)));
                const auto path = profile::write_profile_file(
                    *profile_dir_, profile::profile_file_name(r.comm, r.pid, std::chrono::system_clock::now()), data);
                spdlog::info("escalation: wrote {} ({} bytes)", path, data.size());
                written = true;
                for (const auto& gone :
                     profile::apply_retention(*profile_dir_, esc.retention_max_files,
                                              std::chrono::duration_cast<std::chrono::seconds>(esc.retention_max_age),
                                              std::chrono::system_clock::now()))
                    spdlog::debug("escalation: retention removed {}/{}", *profile_dir_, gone);
            } catch (const std::exception& e) {
                // The session's data is lost: an error, counted, so a full disk is not a silent loss.
                spdlog::error("escalation: no profile for {}: {}", who, e.what());
            }
            std::lock_guard lock(mu_);
            ++(written ? status_.profiles_written : status_.profiles_failed);
        }
    }
    const auto counters = r.driver->session().counters();
    {
        std::lock_guard lock(mu_);
        add_counters(deep_counters_, counters);
        if (why == deep::EndReason::Overhead)
            ++status_.overhead_stops;
        if (escalated)
            ++finished_[static_cast<size_t>(why)];
    }
    publish();
    // Detaching the uprobes one by one takes seconds: neither under the lock that scrapes need nor on this thread,
    // which runs the governor and the other sessions.
    detaching_.push_back(std::async(std::launch::async, [d = std::move(r.driver)]() mutable { d.reset(); }));
}

void Agent::publish()
{
    std::vector<analysis::HeapSite> heap;
    std::vector<analysis::PythonType> python_types;
    loader::AllocCounters live{};
    std::vector<analysis::SessionOverhead> overheads;
    size_t escalated = 0;
    for (const auto& r : sessions_) {
        heap.insert(heap.end(), r.top.begin(), r.top.end());
        python_types.insert(python_types.end(), r.python_top.begin(), r.python_top.end());
        add_counters(live, r.driver->session().counters());
        if (const auto e = r.driver->overhead_estimate()) {
            analysis::SessionOverhead o;
            o.pid = r.pid;
            o.comm = r.comm;
            o.identity = r.identity;
            o.origin = r.origin == Origin::Escalation ? "escalation" : "manual";
            o.estimate = *e;
            overheads.push_back(std::move(o));
        }
        escalated += r.origin == Origin::Escalation ? 1 : 0;
    }
    std::lock_guard lock(mu_);
    heap_sites_ = std::move(heap);
    python_types_ = std::move(python_types);
    deep_counters_live_ = live;
    deep_running_ = sessions_.size();
    status_.overheads = std::move(overheads);
    status_.escalation_sessions = escalated;
}

void Agent::watch(const std::vector<pid_t>& pids, double overhead_budget)
{
    for (size_t i = sessions_.size(); i-- > 0;)
        if (sessions_[i].origin == Origin::Manual)
            end_session(i, deep::EndReason::Shutdown);
    sessions_.push_back(start_session(pids, cfg_.deep_max_duration, overhead_budget, Origin::Manual, ProcessKey{}));
    spdlog::info("deep tier: session on {} for {} (overhead budget {})", sessions_.back().driver->session().who(),
                 config::format_duration(cfg_.deep_max_duration), deep::format_budget(overhead_budget));
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
            ::malloc_trim(0); // what a scan and the scrapes since freed goes back to the kernel, not kept as RSS
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
        flush_oom_records();
        for (auto& r : sessions_)
            r.driver->poll(0);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    while (!sessions_.empty())
        end_session(sessions_.size() - 1, deep::EndReason::Shutdown);
    pump_thread.join();
    router_.drain();
    flush_oom_records(); // kills seen while stopping: the sessions have ended, nothing holds them back
}

void Agent::capture_victim(pid_t pid, const std::optional<std::string>& cgroup_now)
{
    using std::chrono::system_clock;
    const auto now = analysis::Clock::now();
    const auto wall_now = system_clock::now();
    const auto wall = [&](analysis::Clock::time_point t) {
        return wall_now - std::chrono::duration_cast<system_clock::duration>(now - t);
    };
    analysis::VictimContext ctx;
    ctx.pid = pid;
    const auto history = table_.history(pid); // the live entry, or the one kept since it exited
    // A fresh read when the victim still has its memory (it may have changed its argv), else the one from its start.
    ctx.cmdline = scanner_.read_cmdline(pid);
    if (history) {
        const auto& view = history->view;
        ctx.comm = view.sample.comm;
        if (ctx.cmdline.empty())
            ctx.cmdline = view.cmdline;
        ctx.started = process_start(view.sample.start_ticks);
        for (const auto& r : history->readings)
            ctx.process.push_back({wall(r.time), r.resident, r.swap});
        if (!history->readings.empty()) {
            ctx.growth_bytes_per_second = view.growth_bytes_per_second;
            ctx.leak_suspicion = view.leak_suspicion;
        }
    }
    // The cgroup the scans read while it lived; /proc/PID/cgroup now can already show the root for a dying task.
    describe_memcg(ctx, history && !history->view.cgroup.empty() ? history->view.cgroup : cgroup_now.value_or(""));
    {
        std::lock_guard lock(mu_);
        for (const auto* sites : {&growth_site_views_.processes, &previous_growth_sites_}) {
            for (const auto& g : *sites)
                if (g.pid == pid)
                    ctx.growth_sites.push_back({g.site, g.bytes});
            if (!ctx.growth_sites.empty())
                break;
        }
    }
    std::sort(ctx.growth_sites.begin(), ctx.growth_sites.end(),
              [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
    oom_forensics_.on_victim(std::move(ctx), now);
}

void Agent::describe_memcg(analysis::VictimContext& ctx, const std::string& cgroup)
{
    using std::chrono::system_clock;
    const auto now = analysis::Clock::now();
    const auto wall_now = system_clock::now();
    const auto wall = [&](analysis::Clock::time_point t) {
        return wall_now - std::chrono::duration_cast<system_clock::duration>(now - t);
    };
    ctx.cgroup = cgroup;
    ctx.memcg_known = false;
    ctx.memcg_limit = ctx.memcg_usage = std::nullopt;
    ctx.memcg_usage_time = std::nullopt;
    ctx.container.clear();
    ctx.container_growth_bytes_per_second = ctx.container_leak_suspicion = std::nullopt;
    if (cgroups_.fs() && !cgroup.empty()) {
        if (const auto m = cgroups_.fs()->read(cgroup)) {
            ctx.memcg_known = true;
            ctx.memcg_limit = m->limit;
            ctx.memcg_usage = m->usage;
            ctx.memcg_usage_time = wall_now;
        }
    }
    const std::string container_id = procfs::identify_container(cgroup).container_id;
    if (const auto ch = container_id.empty() ? std::nullopt : container_trends_.history(container_id)) {
        for (const auto& r : ch->readings)
            ctx.container.push_back({wall(r.time), r.usage, r.working_set});
        ctx.container_growth_bytes_per_second = ch->growth_bytes_per_second;
        ctx.container_leak_suspicion = ch->leak_suspicion;
        if (!ch->readings.empty()) {
            // The usage before the kill rather than after it (the victim's memory is already freed by now).
            if (!ctx.memcg_known)
                ctx.memcg_limit = ch->limit;
            ctx.memcg_known = true;
            ctx.memcg_usage = ch->readings.back().usage;
            ctx.memcg_usage_time = wall(ch->readings.back().time);
        }
    }
}

void Agent::flush_oom_records()
{
    if (!oom_forensics_.enabled())
        return;
    const auto traced = [this](pid_t pid) {
        for (const auto& r : sessions_)
            for (pid_t p : r.driver->session().traced_pids())
                if (p == pid)
                    return true;
        return false;
    };
    const auto complete = [this](const analysis::OomKill& k, analysis::VictimContext& ctx) {
        // The kill's cgroup (the victim's exit record: exact) when the capture had another one, or none.
        if (!k.cgroup.empty() && k.cgroup != ctx.cgroup)
            describe_memcg(ctx, k.cgroup);
        if (!profile_dir_)
            return std::vector<std::string>{};
        return profile::profiles_of_process(*profile_dir_, ctx.comm.empty() ? k.comm : ctx.comm, k.pid,
                                            ctx.started.value_or(std::chrono::system_clock::time_point{}));
    };
    oom_forensics_.flush(analysis::Clock::now(), traced, complete);
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
    s.oom_records_written = oom_forensics_.written();
    s.oom_records_failed = oom_forensics_.failed();
    s.exit_histogram = exits_.histogram();
    s.exit_peaks = exits_.recent(now);
    s.kernel_counters = probes_->counters();
    s.attach_failures = probes_->attach_failures();
    s.event_queue_full = router_.queue_full();
    s.version = kVersion;
    s.kernel = util::kernel_release();
    s.libbpf = loader::libbpf_version();
    s.start_time_seconds = std::chrono::duration<double>(started_wall_.time_since_epoch()).count();
    std::lock_guard lock(mu_);
    s.containers = containers_;
    s.scan_seconds = scan_seconds_;
    s.growth_sites = growth_site_views_.processes;
    s.container_growth_sites = growth_site_views_.containers;
    s.growth_site_samples_folded = growth_site_samples_folded_;
    s.growth_site_stacks = growth_site_stacks_;
    s.deep = status_;
    s.deep.sessions = deep_running_;
    s.deep.heap_sites = heap_sites_;
    s.deep.python_types = python_types_;
    s.deep.python_censuses = python_censuses_;
    s.deep.python_censuses_skipped = python_censuses_skipped_;
    for (size_t i = 0; i < s.deep.counters.size(); ++i)
        s.deep.counters[i] = deep_counters_[i] + deep_counters_live_[i];
    for (size_t i = 0; i < refused_.size(); ++i)
        s.deep.escalations_refused.emplace_back(kRefusedReasonNames[i], refused_[i]);
    for (const deep::EndReason r : deep::kAgentEndReasons)
        s.deep.escalations_finished.emplace_back(deep::end_reason_name(r), finished_[static_cast<size_t>(r)]);
    return s;
}

} // namespace memsight::agent
