#include "export/prometheus_exporter.h"

#include <prometheus/text_serializer.h>

#include <chrono>
#include <limits>
#include <set>

namespace memsight::exporter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// One metric family. A label set is emitted once: the first value wins, so callers pass entries in
// priority order (e.g. a reused pid's larger exit first).
class Family {
public:
    Family(std::string name, std::string help, MetricType type) : f_{std::move(name), std::move(help), type, {}} {}

    void add(Labels labels, double value)
    {
        if (!seen_.insert(labels).second)
            return;
        ClientMetric m;
        m.label = std::move(labels);
        if (f_.type == MetricType::Counter)
            m.counter.value = value;
        else
            m.gauge.value = value;
        f_.metric.push_back(std::move(m));
    }
    void add(ClientMetric m) { f_.metric.push_back(std::move(m)); }
    // Families without series are left out of the exposition.
    void into(std::vector<MetricFamily>& out)
    {
        if (!f_.metric.empty())
            out.push_back(std::move(f_));
    }

private:
    MetricFamily f_;
    std::set<Labels> seen_;
};

Labels process_labels(pid_t pid, const std::string& comm, const procfs::ContainerIdentity& id)
{
    return {{"pid", std::to_string(pid)}, {"comm", comm}, {"container_id", id.container_id}, {"pod_uid", id.pod_uid}};
}

Labels with(Labels l, std::string name, std::string value)
{
    l.push_back({std::move(name), std::move(value)});
    return l;
}

double d(uint64_t v)
{
    return static_cast<double>(v);
}

void render_processes(const analysis::AgentSnapshot& s, std::vector<MetricFamily>& out)
{
    Family rss("memsight_process_resident_bytes", "Resident memory of the process by kind (/proc/PID/status).",
               MetricType::Gauge);
    Family swap("memsight_process_swap_bytes", "Swapped-out memory of the process.", MetricType::Gauge);
    Family peak("memsight_process_peak_resident_bytes", "Peak resident memory of the process (VmHWM).",
                MetricType::Gauge);
    Family faults("memsight_process_page_faults_total", "Page faults of the process by kind.", MetricType::Counter);
    Family growth("memsight_process_growth_bytes_per_second",
                  "Theil-Sen trend of the process's resident memory over the growth window.", MetricType::Gauge);
    for (const auto& p : s.processes) {
        const auto& m = p.sample;
        const Labels l = process_labels(m.pid, m.comm, p.identity);
        rss.add(with(l, "kind", "anon"), d(m.rss_anon));
        rss.add(with(l, "kind", "file"), d(m.rss_file));
        rss.add(with(l, "kind", "shmem"), d(m.rss_shmem));
        swap.add(l, d(m.swap));
        peak.add(l, d(m.peak_rss));
        faults.add(with(l, "kind", "minor"), d(m.minflt));
        faults.add(with(l, "kind", "major"), d(m.majflt));
        growth.add(l, p.growth_bytes_per_second);
    }
    Family suspicion("memsight_process_leak_suspicion",
                     "Leak suspicion of the process from its RSS trend, 0 (none) to 1 (see docs/leak-detection.md).",
                     MetricType::Gauge);
    for (const auto& p : s.processes)
        suspicion.add(process_labels(p.sample.pid, p.sample.comm, p.identity), p.leak_suspicion);
    for (Family* f : {&rss, &swap, &peak, &faults, &growth, &suspicion})
        f->into(out);
}

void render_containers(const analysis::AgentSnapshot& s, std::vector<MetricFamily>& out)
{
    Family usage("memsight_container_memory_usage_bytes", "Memory charged to the container's cgroup.",
                 MetricType::Gauge);
    Family limit("memsight_container_memory_limit_bytes", "Memory limit of the container's cgroup (absent: none).",
                 MetricType::Gauge);
    Family ws("memsight_container_memory_working_set_bytes", "Usage minus inactive file cache.", MetricType::Gauge);
    Family rss("memsight_container_resident_bytes", "Container memory by kind (memory.stat).", MetricType::Gauge);
    Family swap("memsight_container_swap_bytes", "Swap used by the container.", MetricType::Gauge);
    Family peak("memsight_container_memory_peak_bytes", "Peak memory usage of the container's cgroup.",
                MetricType::Gauge);
    Family ooms("memsight_container_oom_kills_total", "OOM kills counted by the container's cgroup.",
                MetricType::Counter);
    Family procs("memsight_container_processes", "Live processes of the container.", MetricType::Gauge);
    Family cgrowth("memsight_container_growth_bytes_per_second",
                   "Theil-Sen trend of the container's working set over the growth window.", MetricType::Gauge);
    Family csusp("memsight_container_leak_suspicion",
                 "Leak suspicion of the container from its working-set trend, 0 to 1.", MetricType::Gauge);
    Family ttl("memsight_container_time_to_limit_seconds",
               "Projected time until the working set reaches the memory limit at the current trend.",
               MetricType::Gauge);
    // The name in 0.1.0: still exported in the next release (0.2), removed after it so that existing rules and
    // dashboards keep working.
    Family ttl_old(
        "memsight_container_seconds_to_limit",
        "Deprecated alias of memsight_container_time_to_limit_seconds (the name in 0.1.0); removed after 0.2.",
        MetricType::Gauge);
    for (const auto& c : s.containers) {
        const Labels l{
            {"container_id", c.identity.container_id}, {"pod_uid", c.identity.pod_uid}, {"cgroup", c.cgroup}};
        const auto& m = c.memory;
        usage.add(l, d(m.usage));
        if (m.limit)
            limit.add(l, d(*m.limit));
        ws.add(l, d(m.working_set));
        rss.add(with(l, "kind", "anon"), d(m.anon));
        rss.add(with(l, "kind", "file"), d(m.file));
        rss.add(with(l, "kind", "shmem"), d(m.shmem));
        swap.add(l, d(m.swap));
        if (m.peak)
            peak.add(l, d(m.peak));
        if (m.oom_kills)
            ooms.add(l, d(*m.oom_kills));
        procs.add(l, d(c.processes));
        cgrowth.add(l, c.growth_bytes_per_second);
        csusp.add(l, c.leak_suspicion);
        if (c.seconds_to_limit) {
            ttl.add(l, *c.seconds_to_limit);
            ttl_old.add(l, *c.seconds_to_limit);
        }
    }
    for (Family* f : {&usage, &limit, &ws, &rss, &swap, &peak, &ooms, &procs, &cgrowth, &csusp, &ttl, &ttl_old})
        f->into(out);
}

void render_ooms_and_exits(const analysis::AgentSnapshot& s, std::vector<MetricFamily>& out)
{
    Family kills("memsight_oom_kills_total", "Processes killed by the OOM killer, by victim.", MetricType::Counter);
    for (const auto& k : s.oom_series)
        kills.add({{"comm", k.comm}, {"container_id", k.container_id}, {"pod_uid", k.pod_uid}}, d(k.kills));
    kills.into(out);

    Family victims("memsight_oom_victim_resident_bytes", "Resident memory of recent OOM victims at the kill.",
                   MetricType::Gauge);
    for (const auto& k : s.recent_oom_victims) {
        const Labels l = process_labels(k.pid, k.comm, k.identity);
        victims.add(with(l, "kind", "anon"), d(k.anon_rss));
        victims.add(with(l, "kind", "file"), d(k.file_rss));
        victims.add(with(l, "kind", "shmem"), d(k.shmem_rss));
    }
    victims.into(out);

    Family records("memsight_oom_forensic_records_total",
                   "OOM forensic records by outcome: written to oom.forensics_dir, or failed (a write error such as "
                   "a full disk).",
                   MetricType::Counter);
    records.add({{"outcome", "written"}}, d(s.oom_records_written));
    records.add({{"outcome", "failed"}}, d(s.oom_records_failed));
    records.into(out);

    const auto& h = s.exit_histogram;
    Family exits("memsight_process_exits_total", "Processes that exited.", MetricType::Counter);
    exits.add({}, d(h.count));
    exits.into(out);

    Family hist("memsight_process_exit_peak_resident_bytes", "Lifetime peak resident memory of exited processes.",
                MetricType::Histogram);
    ClientMetric hm;
    hm.histogram.sample_count = h.count;
    hm.histogram.sample_sum = h.sum;
    for (size_t i = 0; i < analysis::ExitPeaks::kBuckets.size(); ++i)
        hm.histogram.bucket.push_back({h.cumulative[i], analysis::ExitPeaks::kBuckets[i]});
    hm.histogram.bucket.push_back({h.count, std::numeric_limits<double>::infinity()});
    hist.add(std::move(hm));
    hist.into(out);

    Family recent("memsight_exited_process_peak_resident_bytes",
                  "Lifetime peak resident memory of the largest recently exited processes.", MetricType::Gauge);
    for (const auto& e : s.exit_peaks)
        recent.add(process_labels(e.pid, e.comm, e.identity), d(e.peak_rss));
    recent.into(out);
}

void render_growth_sites(const analysis::AgentSnapshot& s, std::vector<MetricFamily>& out)
{
    Family sites("memsight_process_growth_site_bytes",
                 "Bytes faulted in at a call site over the growth window, estimated from the sampled page faults "
                 "(samples x sample period x page size), for the processes that grow most.",
                 MetricType::Gauge);
    for (const auto& g : s.growth_sites)
        sites.add(with(process_labels(g.pid, g.comm, g.identity), "site", g.site), g.bytes);
    sites.into(out);
    Family csites("memsight_container_growth_site_bytes",
                  "Bytes faulted in at a call site by the container's processes over the growth window, estimated "
                  "from the sampled page faults, for the containers that grow most.",
                  MetricType::Gauge);
    for (const auto& g : s.container_growth_sites)
        csites.add({{"container_id", g.identity.container_id},
                    {"pod_uid", g.identity.pod_uid},
                    {"cgroup", g.cgroup},
                    {"site", g.site}},
                   g.bytes);
    csites.into(out);
}

void render_heap(const analysis::DeepTierView& deep, std::vector<MetricFamily>& out)
{
    Family live("memsight_heap_live_bytes", "Live heap bytes allocated at a call site of a watched process.",
                MetricType::Gauge);
    Family objects("memsight_heap_live_objects", "Live heap blocks allocated at a call site of a watched process.",
                   MetricType::Gauge);
    Family allocated("memsight_heap_allocated_bytes_total", "Bytes allocated at the site since the session started.",
                     MetricType::Counter);
    Family freed("memsight_heap_freed_bytes_total", "Bytes freed from the site since the session started.",
                 MetricType::Counter);
    Family growing("memsight_heap_site_growing", "1 when the site's live bytes keep growing, else 0.",
                   MetricType::Gauge);
    for (const auto& h : deep.heap_sites) {
        const Labels l = with(process_labels(h.pid, h.comm, h.identity), "site", h.site);
        live.add(l, h.live_bytes);
        objects.add(l, h.live_objects);
        allocated.add(l, h.allocated_bytes);
        freed.add(l, h.freed_bytes);
        growing.add(l, h.growing ? 1 : 0);
    }
    for (Family* f : {&live, &objects, &allocated, &freed, &growing})
        f->into(out);

    Family py_live("memsight_python_type_live_objects",
                   "Live instances of a growing Python type in a watched CPython process, at the latest heap census.",
                   MetricType::Gauge);
    Family py_growth("memsight_python_type_growth_objects_per_second",
                     "Growth of the type's live instances since the session's first census, per second.",
                     MetricType::Gauge);
    for (const auto& t : deep.python_types) {
        const Labels l = with(process_labels(t.pid, t.comm, t.identity), "type", t.type);
        py_live.add(l, t.live_objects);
        py_growth.add(l, t.growth_per_second);
    }
    py_live.into(out);
    py_growth.into(out);
    Family censuses("memsight_python_censuses_total",
                    "Heap censuses taken of CPython processes watched by deep-tier sessions, by outcome.",
                    MetricType::Counter);
    if (deep.python_censuses || deep.python_censuses_skipped) {
        censuses.add({{"outcome", "taken"}}, d(deep.python_censuses));
        censuses.add({{"outcome", "skipped"}}, d(deep.python_censuses_skipped));
    }
    censuses.into(out);

    Family sessions("memsight_deep_sessions", "Deep-tier sessions running (person-started and escalated).",
                    MetricType::Gauge);
    sessions.add({}, d(deep.sessions));
    sessions.into(out);
    const auto& c = deep.counters;
    Family lost("memsight_deep_events_lost_total", "Deep-tier allocations or stacks not recorded, by reason.",
                MetricType::Counter);
    lost.add({{"reason", "outstanding_map_full"}}, d(c[MEMSIGHT_ACNT_LOST_OUTSTANDING_FULL]));
    lost.add({{"reason", "site_map_full"}}, d(c[MEMSIGHT_ACNT_LOST_SITES_FULL]));
    lost.add({{"reason", "stack"}}, d(c[MEMSIGHT_ACNT_LOST_STACK]));
    lost.add({{"reason", "entry_map_full"}}, d(c[MEMSIGHT_ACNT_LOST_ENTRY_FULL]));
    lost.add({{"reason", "ringbuf_full"}}, d(c[MEMSIGHT_ACNT_LOST_RINGBUF_FULL]));
    lost.into(out);

    Family overhead("memsight_deep_session_overhead_ratio",
                    "Estimated fraction of the traced processes' CPU time spent in the deep-tier probes, per session.",
                    MetricType::Gauge);
    for (const auto& o : deep.overheads)
        overhead.add(with(process_labels(o.pid, o.comm, o.identity), "origin", o.origin), o.estimate);
    overhead.into(out);
    Family cost("memsight_deep_probe_hit_cost_seconds",
                "Calibrated CPU cost of one deep-tier probe hit on this machine.", MetricType::Gauge);
    if (deep.probe_cost_seconds)
        cost.add({}, *deep.probe_cost_seconds);
    cost.into(out);
    Family stops("memsight_deep_overhead_stops_total", "Deep-tier sessions stopped by the overhead budget.",
                 MetricType::Counter);
    stops.add({}, d(deep.overhead_stops));
    stops.into(out);

    Family running("memsight_escalation_sessions", "Automatically escalated deep-tier sessions running.",
                   MetricType::Gauge);
    running.add({}, d(deep.escalation_sessions));
    running.into(out);
    Family started("memsight_escalations_started_total", "Deep-tier sessions started automatically on suspected leaks.",
                   MetricType::Counter);
    started.add({}, d(deep.escalations_started));
    started.into(out);
    Family refused("memsight_escalations_refused_total",
                   "Suspected leaks not escalated: the deep tier refused the process, or every slot was busy.",
                   MetricType::Counter);
    for (const auto& [reason, n] : deep.escalations_refused)
        refused.add({{"reason", reason}}, d(n));
    refused.into(out);
    Family finished("memsight_escalations_finished_total", "Automatically escalated sessions that ended, by reason.",
                    MetricType::Counter);
    for (const auto& [reason, n] : deep.escalations_finished)
        finished.add({{"reason", reason}}, d(n));
    finished.into(out);
    Family profiles("memsight_escalation_profiles_total",
                    "Profile files of escalated sessions by outcome: written to escalation.profile_dir, or failed (a "
                    "write error such as a full disk; nothing is left behind).",
                    MetricType::Counter);
    profiles.add({{"outcome", "written"}}, d(deep.profiles_written));
    profiles.add({{"outcome", "failed"}}, d(deep.profiles_failed));
    profiles.into(out);
}

void render_self(const analysis::AgentSnapshot& s, double last_scrape_seconds, std::vector<MetricFamily>& out)
{
    Family build("memsight_build_info", "memsight build and runtime versions.", MetricType::Gauge);
    build.add({{"version", s.version}, {"kernel", s.kernel}, {"libbpf", s.libbpf}}, 1);
    build.into(out);
    Family start("memsight_start_time_seconds",
                 "When this agent started, in seconds since the Unix epoch: a new value means a restart and counters "
                 "that start again from 0.",
                 MetricType::Gauge);
    start.add({}, s.start_time_seconds);
    start.into(out);

    const auto& c = s.kernel_counters;
    Family events("memsight_events_total", "Events seen by the BPF programs.", MetricType::Counter);
    events.add({{"type", "exec"}}, d(c.exec_seen));
    events.add({{"type", "exit"}}, d(c.exit_seen));
    events.add({{"type", "oom"}}, d(c.oom_seen));
    events.add({{"type", "fault_sample"}}, d(c.fault_samples));
    events.into(out);

    Family lost("memsight_events_lost_total", "Events or samples lost, by reason.", MetricType::Counter);
    lost.add({{"reason", "ringbuf_full"}}, d(c.lost_ringbuf_full));
    lost.add({{"reason", "stack_map"}}, d(c.lost_stack_map));
    lost.add({{"reason", "fault_map_full"}}, d(c.lost_fault_map_full));
    lost.add({{"reason", "oom_map_full"}}, d(c.lost_oom_map_full));
    lost.add({{"reason", "fault_stack_ring"}}, d(c.lost_fault_stack_ring));
    lost.add({{"reason", "malformed"}}, d(c.malformed_records));
    lost.add({{"reason", "event_queue_full"}}, d(s.event_queue_full));
    lost.add({{"reason", "growth_site_stacks"}}, d(s.growth_site_samples_folded));
    lost.into(out);

    Family unwound("memsight_fault_stacks_unwound_total",
                   "Copied page-fault stacks unwound in the agent, by method: cfi (the binaries' call-frame "
                   "information) or frame_pointer (no view of the process could be opened in time).",
                   MetricType::Counter);
    unwound.add({{"method", "cfi"}}, d(c.fault_stacks_cfi));
    unwound.add({{"method", "frame_pointer"}}, d(c.fault_stacks_frame_pointer));
    unwound.into(out);

    auto gauge = [&](const char* name, const char* help, double v) {
        Family f(name, help, MetricType::Gauge);
        f.add({}, v);
        f.into(out);
    };
    gauge("memsight_tracked_processes", "Processes in the agent's table.", d(s.tracked_processes));
    gauge("memsight_exported_processes", "Processes with per-process series.", d(s.processes.size()));
    gauge("memsight_tracked_containers", "Containers with per-container series.", d(s.containers.size()));
    gauge("memsight_growth_site_stacks",
          "Distinct (process, fault stack) pairs kept for growth sites (at most 8192, plus one folded per process).",
          d(s.growth_site_stacks));
    gauge("memsight_scan_duration_seconds", "Duration of the last /proc and cgroupfs pass.", s.scan_seconds);
    gauge("memsight_scrape_duration_seconds", "Time taken to build the previous scrape.", last_scrape_seconds);

    Family attach("memsight_attach_failures_total", "Optional BPF attachments that failed.", MetricType::Counter);
    attach.add({{"program", "page_fault_sampler"}}, d(s.attach_failures));
    attach.into(out);
}

} // namespace

std::vector<MetricFamily> render(const analysis::AgentSnapshot& s, double last_scrape_seconds)
{
    std::vector<MetricFamily> out;
    render_processes(s, out);
    render_containers(s, out);
    render_ooms_and_exits(s, out);
    render_growth_sites(s, out);
    render_heap(s.deep, out);
    render_self(s, last_scrape_seconds, out);
    return out;
}

std::string render_text(const std::vector<MetricFamily>& families)
{
    return prometheus::TextSerializer().Serialize(families);
}

std::vector<MetricFamily> SnapshotCollectable::Collect() const
{
    const auto start = std::chrono::steady_clock::now();
    auto families = render(source_(), last_scrape_seconds_.load());
    last_scrape_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return families;
}

} // namespace memsight::exporter
