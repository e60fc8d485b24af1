#include "agent/agent.h"

#include "memsight/version.h"
#include "util/privileges.h"

#include <spdlog/spdlog.h>

namespace memsight::agent {

Agent::Agent(const config::Config& cfg)
    : cfg_(cfg), table_(cfg.growth_window), cgroups_(procfs::CgroupFs::detect()), container_trends_(cfg.growth_window),
      exits_(cfg.exit_peaks_top, cfg.exit_peaks_window), oom_stats_(cfg.max_oom_series),
      oom_tracker_([this](const analysis::OomKill& k) {
          oom_stats_.add(k);
          spdlog::warn("OOM kill: pid {} ({}) cgroup '{}' container '{}' anon_rss {} bytes", k.pid, k.comm, k.cgroup,
                       k.identity.container_id, k.anon_rss);
      }),
      router_(table_, &exits_, &oom_tracker_, cgroups_, scanner_)
{
    if (!cgroups_.fs())
        spdlog::warn("no memory cgroup hierarchy is mounted: per-container metrics are disabled");
    loader::AlwaysOnOptions opts;
    opts.ringbuf_bytes = cfg.ringbuf_bytes;
    opts.page_faults = cfg.page_faults_enabled;
    opts.fault_sample_period = cfg.page_fault_sample_period;
    probes_ = std::make_unique<loader::AlwaysOnProbes>(
        opts, [this](const void* data, size_t size) { router_.handle(data, size); });
}

Agent::~Agent() = default;

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

    std::vector<analysis::HeapSite> heap;
    loader::AllocCounters deep_live{};
    bool ended = false;
    if (deep_) {
        deep_->sample();
        heap = deep_->top_sites();
        deep_live = deep_->counters();
        ended = deep_->finished();
    }
    {
        std::lock_guard lock(mu_);
        containers_ = std::move(containers);
        scan_seconds_ = secs;
        heap_sites_ = std::move(heap);
        deep_counters_live_ = deep_live;
        deep_running_ = deep_ && !ended;
        if (ended) {
            for (size_t i = 0; i < deep_counters_.size(); ++i)
                deep_counters_[i] += deep_live[i];
            deep_counters_live_ = {};
            heap_sites_.clear();
        }
    }
    if (ended) {
        // Detaching the uprobes takes a while: not under the lock that scrapes need.
        spdlog::info("deep tier: session ended (time limit or every process exited)");
        deep_.reset();
    }
}

void Agent::watch(const std::vector<pid_t>& pids)
{
    deep_ = std::make_unique<DeepWatch>(pids, cfg_);
    std::lock_guard lock(mu_);
    deep_running_ = true;
}

void Agent::run(const std::atomic<bool>& stop)
{
    std::thread pump_thread([this, &stop] { pump(stop); });
    auto next = analysis::Clock::now();
    while (!stop.load()) {
        if (analysis::Clock::now() >= next) {
            scan_once();
            next += cfg_.interval;
            if (next < analysis::Clock::now())
                next = analysis::Clock::now() + cfg_.interval;
        }
        if (deep_)
            deep_->poll();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
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
    s.malformed_records = router_.malformed();
    s.version = kVersion;
    s.kernel = util::kernel_release();
    s.libbpf = loader::libbpf_version();
    std::lock_guard lock(mu_);
    s.containers = containers_;
    s.scan_seconds = scan_seconds_;
    s.deep_sessions = deep_running_ ? 1 : 0;
    s.heap_sites = heap_sites_;
    for (size_t i = 0; i < s.deep_counters.size(); ++i)
        s.deep_counters[i] = deep_counters_[i] + deep_counters_live_[i];
    return s;
}

} // namespace memsight::agent
