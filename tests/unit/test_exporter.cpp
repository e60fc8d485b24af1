// Tests for the Prometheus exposition of an AgentSnapshot: exact text per family, checked against the
// contract in docs/metrics.md (names, types, labels, presence rules).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "export/prometheus_exporter.h"

namespace memsight::exporter {
namespace {

using namespace std::chrono_literals;

const std::string kDockerId = "3f1b0a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
const std::string kPodId = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
const std::string kPodUid = "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab";
const std::string kDockerCgroup = "/docker/" + kDockerId;
const std::string kPodCgroup = "/kubepods/burstable/pod" + kPodUid + "/" + kPodId;
const analysis::Clock::time_point kT0 = analysis::Clock::time_point{} + 1000h;

// The lines of one family: from its "# HELP" line up to the next family's.
std::string block(const std::string& text, const std::string& family)
{
    const std::string head = "# HELP " + family + " ";
    const auto start = text.find(head);
    if (start == std::string::npos)
        return "";
    const auto next = text.find("# HELP ", start + head.size());
    return text.substr(start, next == std::string::npos ? std::string::npos : next - start);
}

std::vector<std::string> family_names(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("# TYPE ", 0) == 0)
            out.push_back(line.substr(7, line.find(' ', 7) - 7));
    }
    return out;
}

// Counts the sample lines of `family` whose label set is exactly `labels`.
size_t samples_with(const std::string& text, const std::string& family, const std::string& labels)
{
    size_t n = 0;
    const std::string prefix = family + "{" + labels + "} ";
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        n += line.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
}

analysis::ProcessView process()
{
    analysis::ProcessView p;
    p.sample.pid = 4242;
    p.sample.comm = "postgres";
    p.sample.rss_anon = 4096;
    p.sample.rss_file = 8192;
    p.sample.rss_shmem = 1024;
    p.sample.swap = 512;
    p.sample.peak_rss = 20000;
    p.sample.minflt = 7;
    p.sample.majflt = 3;
    p.cgroup = kPodCgroup;
    p.identity = procfs::identify_container(kPodCgroup);
    p.growth_bytes_per_second = 12.5;
    return p;
}

analysis::ContainerView limited_container()
{
    analysis::ContainerView c;
    c.cgroup = kDockerCgroup;
    c.identity = procfs::identify_container(kDockerCgroup);
    c.memory.usage = 412090368;
    c.memory.limit = 536870912;
    c.memory.working_set = 349175808;
    c.memory.anon = 318767104;
    c.memory.file = 83886080;
    c.memory.shmem = 2097152;
    c.memory.swap = 8388608;
    c.memory.peak = 530579456;
    c.memory.oom_kills = 1;
    c.processes = 3;
    return c;
}

analysis::ContainerView unlimited_container()
{
    analysis::ContainerView c;
    c.cgroup = kPodCgroup;
    c.identity = procfs::identify_container(kPodCgroup);
    c.memory.usage = 9748480;
    c.memory.working_set = 2408448;
    c.memory.anon = 1048576;
    c.memory.file = 8388608;
    c.processes = 1;
    return c; // no limit, no peak, no OOM counter
}

analysis::AgentSnapshot full_snapshot()
{
    analysis::AgentSnapshot s;
    s.processes = {process()};
    s.tracked_processes = 57;
    s.containers = {limited_container(), unlimited_container()};
    s.oom_series = {{"java", kDockerId, "", 2}, {"_other_", "", "", 5}};
    analysis::OomKill k;
    k.pid = 999;
    k.comm = "java";
    k.identity = procfs::identify_container(kDockerCgroup);
    k.anon_rss = 300;
    k.file_rss = 20;
    k.shmem_rss = 4;
    s.recent_oom_victims = {k};
    s.oom_records_written = 3;
    s.oom_records_failed = 1;
    analysis::ExitPeaks exits(10, 5min);
    for (uint64_t peak : {uint64_t{1} << 19, uint64_t{3} << 20, uint64_t{2} << 30}) {
        analysis::ExitRecord r;
        r.pid = static_cast<pid_t>(peak >> 19);
        r.comm = "job";
        r.peak_rss = peak;
        r.when = kT0;
        exits.record(r);
    }
    s.exit_histogram = exits.histogram();
    s.exit_peaks = exits.recent(kT0);
    s.kernel_counters = KernelCounters{.exec_seen = 10,
                                       .exit_seen = 20,
                                       .oom_seen = 30,
                                       .fault_samples = 40,
                                       .lost_ringbuf_full = 50,
                                       .lost_stack_map = 60,
                                       .lost_fault_map_full = 70,
                                       .lost_oom_map_full = 80,
                                       .lost_fault_stack_ring = 90,
                                       .fault_stacks_cfi = 35,
                                       .fault_stacks_frame_pointer = 5,
                                       .malformed_records = 4};
    s.attach_failures = 1;
    s.event_queue_full = 5;
    s.scan_seconds = 0.25;
    s.deep.escalations_refused = {{"untraceable", 0}, {"max_concurrent", 0}};
    s.deep.escalations_finished = {{"duration", 0}};
    s.version = "0.1.0";
    s.kernel = "6.18.0";
    s.libbpf = "1.1.0";
    return s;
}

const std::string kProcLabels =
    "pid=\"4242\",comm=\"postgres\",container_id=\"" + kPodId + "\",pod_uid=\"" + kPodUid + "\"";
const std::string kDockerLabels = "container_id=\"" + kDockerId + "\",pod_uid=\"\",cgroup=\"" + kDockerCgroup + "\"";
const std::string kPodLabels =
    "container_id=\"" + kPodId + "\",pod_uid=\"" + kPodUid + "\",cgroup=\"" + kPodCgroup + "\"";

TEST(PrometheusRender, FamiliesOfAFullSnapshotInOrder)
{
    const std::string text = render_text(render(full_snapshot(), 0.125));
    const std::vector<std::string> want = {
        "memsight_process_resident_bytes",
        "memsight_process_swap_bytes",
        "memsight_process_peak_resident_bytes",
        "memsight_process_page_faults_total",
        "memsight_process_growth_bytes_per_second",
        "memsight_process_leak_suspicion",
        "memsight_container_memory_usage_bytes",
        "memsight_container_memory_limit_bytes",
        "memsight_container_memory_working_set_bytes",
        "memsight_container_resident_bytes",
        "memsight_container_swap_bytes",
        "memsight_container_memory_peak_bytes",
        "memsight_container_oom_kills_total",
        "memsight_container_processes",
        "memsight_container_growth_bytes_per_second",
        "memsight_container_leak_suspicion",
        "memsight_oom_kills_total",
        "memsight_oom_victim_resident_bytes",
        "memsight_oom_forensic_records_total",
        "memsight_process_exits_total",
        "memsight_process_exit_peak_resident_bytes",
        "memsight_exited_process_peak_resident_bytes",
        "memsight_deep_sessions",
        "memsight_deep_events_lost_total",
        "memsight_deep_overhead_stops_total",
        "memsight_escalation_sessions",
        "memsight_escalations_started_total",
        "memsight_escalations_refused_total",
        "memsight_escalations_finished_total",
        "memsight_escalation_profiles_total",
        "memsight_build_info",
        "memsight_start_time_seconds",
        "memsight_events_total",
        "memsight_events_lost_total",
        "memsight_fault_stacks_unwound_total",
        "memsight_tracked_processes",
        "memsight_exported_processes",
        "memsight_tracked_containers",
        "memsight_growth_site_stacks",
        "memsight_scan_duration_seconds",
        "memsight_scrape_duration_seconds",
        "memsight_attach_failures_total",
    };
    EXPECT_EQ(family_names(text), want);
}

TEST(PrometheusRender, ProcessFamilies)
{
    const std::string text = render_text(render(full_snapshot(), 0));
    EXPECT_EQ(block(text, "memsight_process_resident_bytes"),
              "# HELP memsight_process_resident_bytes Resident memory of the process by kind (/proc/PID/status).\n"
              "# TYPE memsight_process_resident_bytes gauge\n"
              "memsight_process_resident_bytes{" +
                  kProcLabels +
                  ",kind=\"anon\"} 4096\n"
                  "memsight_process_resident_bytes{" +
                  kProcLabels +
                  ",kind=\"file\"} 8192\n"
                  "memsight_process_resident_bytes{" +
                  kProcLabels + ",kind=\"shmem\"} 1024\n");
    EXPECT_EQ(block(text, "memsight_process_swap_bytes"),
              "# HELP memsight_process_swap_bytes Swapped-out memory of the process.\n"
              "# TYPE memsight_process_swap_bytes gauge\n"
              "memsight_process_swap_bytes{" +
                  kProcLabels + "} 512\n");
    EXPECT_EQ(block(text, "memsight_process_peak_resident_bytes"),
              "# HELP memsight_process_peak_resident_bytes Peak resident memory of the process (VmHWM).\n"
              "# TYPE memsight_process_peak_resident_bytes gauge\n"
              "memsight_process_peak_resident_bytes{" +
                  kProcLabels + "} 20000\n");
    EXPECT_EQ(block(text, "memsight_process_page_faults_total"),
              "# HELP memsight_process_page_faults_total Page faults of the process by kind.\n"
              "# TYPE memsight_process_page_faults_total counter\n"
              "memsight_process_page_faults_total{" +
                  kProcLabels +
                  ",kind=\"minor\"} 7\n"
                  "memsight_process_page_faults_total{" +
                  kProcLabels + ",kind=\"major\"} 3\n");
    EXPECT_EQ(block(text, "memsight_process_growth_bytes_per_second"),
              "# HELP memsight_process_growth_bytes_per_second Theil-Sen trend of the process's resident "
              "memory over the growth window.\n"
              "# TYPE memsight_process_growth_bytes_per_second gauge\n"
              "memsight_process_growth_bytes_per_second{" +
                  kProcLabels + "} 12.5\n");
}

TEST(PrometheusRender, NegativeGrowthIsExported)
{
    auto s = full_snapshot();
    s.processes[0].growth_bytes_per_second = -2048;
    const std::string text = render_text(render(s, 0));
    EXPECT_NE(text.find("memsight_process_growth_bytes_per_second{" + kProcLabels + "} -2048\n"), std::string::npos);
}

TEST(PrometheusRender, ContainerFamiliesLimitAbsentWhenUnlimited)
{
    const std::string text = render_text(render(full_snapshot(), 0));
    EXPECT_EQ(block(text, "memsight_container_memory_usage_bytes"),
              "# HELP memsight_container_memory_usage_bytes Memory charged to the container's cgroup.\n"
              "# TYPE memsight_container_memory_usage_bytes gauge\n"
              "memsight_container_memory_usage_bytes{" +
                  kDockerLabels +
                  "} 412090368\n"
                  "memsight_container_memory_usage_bytes{" +
                  kPodLabels + "} 9748480\n");
    EXPECT_EQ(block(text, "memsight_container_memory_limit_bytes"),
              "# HELP memsight_container_memory_limit_bytes Memory limit of the container's cgroup (absent: none).\n"
              "# TYPE memsight_container_memory_limit_bytes gauge\n"
              "memsight_container_memory_limit_bytes{" +
                  kDockerLabels + "} 536870912\n");
    EXPECT_EQ(block(text, "memsight_container_memory_working_set_bytes"),
              "# HELP memsight_container_memory_working_set_bytes Usage minus inactive file cache.\n"
              "# TYPE memsight_container_memory_working_set_bytes gauge\n"
              "memsight_container_memory_working_set_bytes{" +
                  kDockerLabels +
                  "} 349175808\n"
                  "memsight_container_memory_working_set_bytes{" +
                  kPodLabels + "} 2408448\n");
    EXPECT_EQ(block(text, "memsight_container_swap_bytes"),
              "# HELP memsight_container_swap_bytes Swap used by the container.\n"
              "# TYPE memsight_container_swap_bytes gauge\n"
              "memsight_container_swap_bytes{" +
                  kDockerLabels +
                  "} 8388608\n"
                  "memsight_container_swap_bytes{" +
                  kPodLabels + "} 0\n");
    // Peak and OOM kills: absent where the kernel does not provide them.
    EXPECT_EQ(block(text, "memsight_container_memory_peak_bytes"),
              "# HELP memsight_container_memory_peak_bytes Peak memory usage of the container's cgroup.\n"
              "# TYPE memsight_container_memory_peak_bytes gauge\n"
              "memsight_container_memory_peak_bytes{" +
                  kDockerLabels + "} 530579456\n");
    EXPECT_EQ(block(text, "memsight_container_oom_kills_total"),
              "# HELP memsight_container_oom_kills_total OOM kills counted by the container's cgroup.\n"
              "# TYPE memsight_container_oom_kills_total counter\n"
              "memsight_container_oom_kills_total{" +
                  kDockerLabels + "} 1\n");
    EXPECT_EQ(block(text, "memsight_container_processes"),
              "# HELP memsight_container_processes Live processes of the container.\n"
              "# TYPE memsight_container_processes gauge\n"
              "memsight_container_processes{" +
                  kDockerLabels +
                  "} 3\n"
                  "memsight_container_processes{" +
                  kPodLabels + "} 1\n");
}

// Renamed in 0.2 (unit as suffix); the 0.1.0 name stays for one release with the same series.
TEST(PrometheusRender, TimeToLimitUnderItsNameAndItsDeprecatedAlias)
{
    auto s = full_snapshot();
    s.containers[0].seconds_to_limit = 700.0;
    const std::string text = render_text(render(s, 0));
    EXPECT_EQ(block(text, "memsight_container_time_to_limit_seconds"),
              "# HELP memsight_container_time_to_limit_seconds Projected time until the working set reaches the "
              "memory limit at the current trend.\n"
              "# TYPE memsight_container_time_to_limit_seconds gauge\n"
              "memsight_container_time_to_limit_seconds{" +
                  kDockerLabels + "} 700\n");
    EXPECT_EQ(block(text, "memsight_container_seconds_to_limit"),
              "# HELP memsight_container_seconds_to_limit Deprecated alias of "
              "memsight_container_time_to_limit_seconds (the name in 0.1.0); removed after 0.2.\n"
              "# TYPE memsight_container_seconds_to_limit gauge\n"
              "memsight_container_seconds_to_limit{" +
                  kDockerLabels + "} 700\n");
}

TEST(PrometheusRender, ContainerResidentKinds)
{
    // The container's memory.stat figures as read (file as the cgroup reports it).
    const std::string text = render_text(render(full_snapshot(), 0));
    EXPECT_EQ(block(text, "memsight_container_resident_bytes"),
              "# HELP memsight_container_resident_bytes Container memory by kind (memory.stat).\n"
              "# TYPE memsight_container_resident_bytes gauge\n"
              "memsight_container_resident_bytes{" +
                  kDockerLabels +
                  ",kind=\"anon\"} 318767104\n"
                  "memsight_container_resident_bytes{" +
                  kDockerLabels +
                  ",kind=\"file\"} 83886080\n"
                  "memsight_container_resident_bytes{" +
                  kDockerLabels +
                  ",kind=\"shmem\"} 2097152\n"
                  "memsight_container_resident_bytes{" +
                  kPodLabels +
                  ",kind=\"anon\"} 1048576\n"
                  "memsight_container_resident_bytes{" +
                  kPodLabels +
                  ",kind=\"file\"} 8388608\n"
                  "memsight_container_resident_bytes{" +
                  kPodLabels + ",kind=\"shmem\"} 0\n");
}

TEST(PrometheusRender, OomFamilies)
{
    const std::string text = render_text(render(full_snapshot(), 0));
    EXPECT_EQ(block(text, "memsight_oom_kills_total"),
              "# HELP memsight_oom_kills_total Processes killed by the OOM killer, by victim.\n"
              "# TYPE memsight_oom_kills_total counter\n"
              "memsight_oom_kills_total{comm=\"java\",container_id=\"" +
                  kDockerId +
                  "\",pod_uid=\"\"} 2\n"
                  "memsight_oom_kills_total{comm=\"_other_\",container_id=\"\",pod_uid=\"\"} 5\n");
    const std::string v = "pid=\"999\",comm=\"java\",container_id=\"" + kDockerId + "\",pod_uid=\"\"";
    EXPECT_EQ(block(text, "memsight_oom_victim_resident_bytes"),
              "# HELP memsight_oom_victim_resident_bytes Resident memory of recent OOM victims at the kill.\n"
              "# TYPE memsight_oom_victim_resident_bytes gauge\n"
              "memsight_oom_victim_resident_bytes{" +
                  v +
                  ",kind=\"anon\"} 300\n"
                  "memsight_oom_victim_resident_bytes{" +
                  v +
                  ",kind=\"file\"} 20\n"
                  "memsight_oom_victim_resident_bytes{" +
                  v + ",kind=\"shmem\"} 4\n");
    EXPECT_EQ(block(text, "memsight_oom_forensic_records_total"),
              "# HELP memsight_oom_forensic_records_total OOM forensic records by outcome: written to "
              "oom.forensics_dir, or failed (a write error such as a full disk).\n"
              "# TYPE memsight_oom_forensic_records_total counter\n"
              "memsight_oom_forensic_records_total{outcome=\"written\"} 3\n"
              "memsight_oom_forensic_records_total{outcome=\"failed\"} 1\n");
}

TEST(PrometheusRender, ExitFamiliesHistogramIsCumulativeWithInfEqualToCount)
{
    const std::string text = render_text(render(full_snapshot(), 0));
    EXPECT_EQ(block(text, "memsight_process_exits_total"),
              "# HELP memsight_process_exits_total Processes that exited.\n"
              "# TYPE memsight_process_exits_total counter\n"
              "memsight_process_exits_total 3\n");
    // Peaks 512 KiB, 3 MiB, 2 GiB; sum = 524288 + 3145728 + 2147483648.
    const std::string h = "memsight_process_exit_peak_resident_bytes";
    EXPECT_EQ(block(text, h), "# HELP " + h +
                                  " Lifetime peak resident memory of exited processes.\n"
                                  "# TYPE " +
                                  h + " histogram\n" + h + "_count 3\n" + h + "_sum 2151153664\n" + h +
                                  "_bucket{le=\"1048576\"} 1\n" + h + "_bucket{le=\"4194304\"} 2\n" + h +
                                  "_bucket{le=\"16777216\"} 2\n" + h + "_bucket{le=\"67108864\"} 2\n" + h +
                                  "_bucket{le=\"268435456\"} 2\n" + h + "_bucket{le=\"1073741824\"} 2\n" + h +
                                  "_bucket{le=\"4294967296\"} 3\n" + h + "_bucket{le=\"17179869184\"} 3\n" + h +
                                  "_bucket{le=\"+Inf\"} 3\n");
    const std::string e = "memsight_exited_process_peak_resident_bytes";
    EXPECT_EQ(block(text, e), "# HELP " + e +
                                  " Lifetime peak resident memory of the largest recently exited processes.\n"
                                  "# TYPE " +
                                  e + " gauge\n" + e +
                                  "{pid=\"4096\",comm=\"job\",container_id=\"\",pod_uid=\"\"} 2147483648\n" + e +
                                  "{pid=\"6\",comm=\"job\",container_id=\"\",pod_uid=\"\"} 3145728\n" + e +
                                  "{pid=\"1\",comm=\"job\",container_id=\"\",pod_uid=\"\"} 524288\n");
}

TEST(PrometheusRender, SelfMetrics)
{
    const std::string text = render_text(render(full_snapshot(), 0.125));
    EXPECT_EQ(block(text, "memsight_build_info"),
              "# HELP memsight_build_info memsight build and runtime versions.\n"
              "# TYPE memsight_build_info gauge\n"
              "memsight_build_info{version=\"0.1.0\",kernel=\"6.18.0\",libbpf=\"1.1.0\"} 1\n");
    EXPECT_EQ(block(text, "memsight_events_total"), "# HELP memsight_events_total Events seen by the BPF programs.\n"
                                                    "# TYPE memsight_events_total counter\n"
                                                    "memsight_events_total{type=\"exec\"} 10\n"
                                                    "memsight_events_total{type=\"exit\"} 20\n"
                                                    "memsight_events_total{type=\"oom\"} 30\n"
                                                    "memsight_events_total{type=\"fault_sample\"} 40\n");
    EXPECT_EQ(block(text, "memsight_events_lost_total"),
              "# HELP memsight_events_lost_total Events or samples lost, by reason.\n"
              "# TYPE memsight_events_lost_total counter\n"
              "memsight_events_lost_total{reason=\"ringbuf_full\"} 50\n"
              "memsight_events_lost_total{reason=\"stack_map\"} 60\n"
              "memsight_events_lost_total{reason=\"fault_map_full\"} 70\n"
              "memsight_events_lost_total{reason=\"oom_map_full\"} 80\n"
              "memsight_events_lost_total{reason=\"fault_stack_ring\"} 90\n"
              "memsight_events_lost_total{reason=\"malformed\"} 4\n"
              "memsight_events_lost_total{reason=\"event_queue_full\"} 5\n"
              "memsight_events_lost_total{reason=\"growth_site_stacks\"} 0\n");
    EXPECT_EQ(block(text, "memsight_fault_stacks_unwound_total"),
              "# HELP memsight_fault_stacks_unwound_total Copied page-fault stacks unwound in the agent, by method: "
              "cfi (the binaries' call-frame information) or frame_pointer (no view of the process could be opened "
              "in time).\n"
              "# TYPE memsight_fault_stacks_unwound_total counter\n"
              "memsight_fault_stacks_unwound_total{method=\"cfi\"} 35\n"
              "memsight_fault_stacks_unwound_total{method=\"frame_pointer\"} 5\n");
    EXPECT_EQ(block(text, "memsight_tracked_processes"),
              "# HELP memsight_tracked_processes Processes in the agent's table.\n"
              "# TYPE memsight_tracked_processes gauge\n"
              "memsight_tracked_processes 57\n");
    EXPECT_EQ(block(text, "memsight_exported_processes"),
              "# HELP memsight_exported_processes Processes with per-process series.\n"
              "# TYPE memsight_exported_processes gauge\n"
              "memsight_exported_processes 1\n");
    EXPECT_EQ(block(text, "memsight_tracked_containers"),
              "# HELP memsight_tracked_containers Containers with per-container series.\n"
              "# TYPE memsight_tracked_containers gauge\n"
              "memsight_tracked_containers 2\n");
    EXPECT_EQ(block(text, "memsight_scan_duration_seconds"),
              "# HELP memsight_scan_duration_seconds Duration of the last /proc and cgroupfs pass.\n"
              "# TYPE memsight_scan_duration_seconds gauge\n"
              "memsight_scan_duration_seconds 0.25\n");
    EXPECT_EQ(block(text, "memsight_scrape_duration_seconds"),
              "# HELP memsight_scrape_duration_seconds Time taken to build the previous scrape.\n"
              "# TYPE memsight_scrape_duration_seconds gauge\n"
              "memsight_scrape_duration_seconds 0.125\n");
    EXPECT_EQ(block(text, "memsight_attach_failures_total"),
              "# HELP memsight_attach_failures_total Optional BPF attachments that failed.\n"
              "# TYPE memsight_attach_failures_total counter\n"
              "memsight_attach_failures_total{program=\"page_fault_sampler\"} 1\n");
}

TEST(PrometheusRender, HeapSitesOfADeepSession)
{
    analysis::AgentSnapshot s;
    s.deep.sessions = 1;
    analysis::HeapSite h;
    h.pid = 42;
    h.comm = "leaker";
    h.site = "leak_one_record";
    h.live_bytes = 3000000;
    h.live_objects = 3000;
    h.allocated_bytes = 3500000;
    h.freed_bytes = 500000;
    h.growing = true;
    s.deep.heap_sites = {h};
    s.deep.counters[MEMSIGHT_ACNT_LOST_STACK] = 7;
    const std::string text = render_text(render(s, 0));
    const std::string l = "{pid=\"42\",comm=\"leaker\",container_id=\"\",pod_uid=\"\",site=\"leak_one_record\"}";
    EXPECT_NE(text.find("memsight_heap_live_bytes" + l + " 3000000\n"), std::string::npos) << text;
    EXPECT_NE(text.find("memsight_heap_live_objects" + l + " 3000\n"), std::string::npos);
    EXPECT_NE(text.find("memsight_heap_allocated_bytes_total" + l + " 3500000\n"), std::string::npos);
    EXPECT_NE(text.find("memsight_heap_freed_bytes_total" + l + " 500000\n"), std::string::npos);
    EXPECT_NE(text.find("memsight_heap_site_growing" + l + " 1\n"), std::string::npos);
    EXPECT_NE(text.find("memsight_deep_sessions 1\n"), std::string::npos);
    EXPECT_NE(text.find("memsight_deep_events_lost_total{reason=\"stack\"} 7\n"), std::string::npos);
}

TEST(PrometheusRender, GrowingPythonTypesOfAWatchedProcess)
{
    analysis::AgentSnapshot s;
    s.deep.sessions = 1;
    for (const auto& [type, live, rate] :
         {std::tuple{"__main__.Session", 5000.0, 200.5}, std::tuple{"dict", 1200.0, 3.25}}) {
        analysis::PythonType t;
        t.pid = 42;
        t.comm = "python3.11";
        t.identity = procfs::identify_container(kDockerCgroup);
        t.type = type;
        t.live_objects = live;
        t.growth_per_second = rate;
        s.deep.python_types.push_back(t);
    }
    s.deep.python_censuses = 7;
    s.deep.python_censuses_skipped = 2;
    const std::string text = render_text(render(s, 0));
    const std::string l = "{pid=\"42\",comm=\"python3.11\",container_id=\"" + kDockerId + "\",pod_uid=\"\",type=";
    EXPECT_EQ(block(text, "memsight_python_type_live_objects"),
              "# HELP memsight_python_type_live_objects Live instances of a growing Python type in a watched CPython "
              "process, at the latest heap census.\n"
              "# TYPE memsight_python_type_live_objects gauge\n"
              "memsight_python_type_live_objects" + l + "\"__main__.Session\"} 5000\n"
              "memsight_python_type_live_objects" + l + "\"dict\"} 1200\n");
    EXPECT_EQ(block(text, "memsight_python_type_growth_objects_per_second"),
              "# HELP memsight_python_type_growth_objects_per_second Growth of the type's live instances since the "
              "session's first census, per second.\n"
              "# TYPE memsight_python_type_growth_objects_per_second gauge\n"
              "memsight_python_type_growth_objects_per_second" + l + "\"__main__.Session\"} 200.5\n"
              "memsight_python_type_growth_objects_per_second" + l + "\"dict\"} 3.25\n");
    EXPECT_EQ(block(text, "memsight_python_censuses_total"),
              "# HELP memsight_python_censuses_total Heap censuses taken of CPython processes watched by deep-tier "
              "sessions, by outcome.\n"
              "# TYPE memsight_python_censuses_total counter\n"
              "memsight_python_censuses_total{outcome=\"taken\"} 7\n"
              "memsight_python_censuses_total{outcome=\"skipped\"} 2\n");
}

TEST(PrometheusRender, NoPythonFamiliesWithoutACensus)
{
    analysis::AgentSnapshot s;
    s.deep.sessions = 1;
    const std::string text = render_text(render(s, 0));
    EXPECT_EQ(text.find("memsight_python_"), std::string::npos) << text;
}

TEST(PrometheusRender, GovernorAndEscalationFamilies)
{
    analysis::AgentSnapshot s;
    analysis::DeepTierView& d = s.deep;
    analysis::SessionOverhead o;
    o.pid = 42;
    o.comm = "leaker";
    o.identity = procfs::identify_container(kDockerCgroup);
    o.origin = "escalation";
    o.estimate = 0.375;
    d.overheads = {o};
    d.probe_cost_seconds = 6.25e-06;
    d.overhead_stops = 3;
    d.escalation_sessions = 1;
    d.escalations_started = 4;
    d.escalations_refused = {{"untraceable", 2}, {"max_concurrent", 5}};
    d.escalations_finished = {{"duration", 1}, {"exited", 0}, {"overhead", 2}, {"shutdown", 0}};
    d.profiles_written = 6;
    d.profiles_failed = 1;
    s.start_time_seconds = 1795985288.5;
    const std::string text = render_text(render(s, 0));
    EXPECT_NE(text.find("memsight_escalation_profiles_total{outcome=\"written\"} 6\n"), std::string::npos) << text;
    EXPECT_NE(text.find("memsight_escalation_profiles_total{outcome=\"failed\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE memsight_start_time_seconds gauge\nmemsight_start_time_seconds 1795985288.5\n"),
              std::string::npos)
        << text;
    EXPECT_EQ(block(text, "memsight_deep_session_overhead_ratio"),
              "# HELP memsight_deep_session_overhead_ratio Estimated fraction of the traced processes' CPU time "
              "spent in the deep-tier probes, per session.\n"
              "# TYPE memsight_deep_session_overhead_ratio gauge\n"
              "memsight_deep_session_overhead_ratio{pid=\"42\",comm=\"leaker\",container_id=\"" +
                  kDockerId + "\",pod_uid=\"\",origin=\"escalation\"} 0.375\n");
    EXPECT_EQ(block(text, "memsight_deep_probe_hit_cost_seconds"),
              "# HELP memsight_deep_probe_hit_cost_seconds Calibrated CPU cost of one deep-tier probe hit on this "
              "machine.\n"
              "# TYPE memsight_deep_probe_hit_cost_seconds gauge\n"
              "memsight_deep_probe_hit_cost_seconds 6.25e-06\n");
    EXPECT_NE(text.find("memsight_deep_overhead_stops_total 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("memsight_escalation_sessions 1\n"), std::string::npos);
    EXPECT_NE(text.find("memsight_escalations_started_total 4\n"), std::string::npos);
    EXPECT_EQ(block(text, "memsight_escalations_refused_total"),
              "# HELP memsight_escalations_refused_total Suspected leaks not escalated: the deep tier refused the "
              "process, or every slot was busy.\n"
              "# TYPE memsight_escalations_refused_total counter\n"
              "memsight_escalations_refused_total{reason=\"untraceable\"} 2\n"
              "memsight_escalations_refused_total{reason=\"max_concurrent\"} 5\n");
    EXPECT_EQ(block(text, "memsight_escalations_finished_total"),
              "# HELP memsight_escalations_finished_total Automatically escalated sessions that ended, by reason.\n"
              "# TYPE memsight_escalations_finished_total counter\n"
              "memsight_escalations_finished_total{reason=\"duration\"} 1\n"
              "memsight_escalations_finished_total{reason=\"exited\"} 0\n"
              "memsight_escalations_finished_total{reason=\"overhead\"} 2\n"
              "memsight_escalations_finished_total{reason=\"shutdown\"} 0\n");
    const auto names = family_names(text);
    const auto at = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) - names.begin(); };
    EXPECT_EQ(at("memsight_deep_session_overhead_ratio"), at("memsight_deep_events_lost_total") + 1);
    EXPECT_EQ(at("memsight_deep_probe_hit_cost_seconds"), at("memsight_deep_session_overhead_ratio") + 1);
    EXPECT_EQ(at("memsight_deep_overhead_stops_total"), at("memsight_deep_probe_hit_cost_seconds") + 1);
}

TEST(PrometheusRender, SeveralSessionsAreAllExported)
{
    analysis::AgentSnapshot s;
    s.deep.sessions = 2;
    for (pid_t pid : {41, 42}) {
        analysis::HeapSite h;
        h.pid = pid;
        h.comm = "leaker";
        h.site = "leak_one_record";
        h.live_bytes = 1000.0 * pid;
        s.deep.heap_sites.push_back(h);
    }
    for (pid_t pid : {41, 42}) {
        analysis::SessionOverhead o;
        o.pid = pid;
        o.comm = "leaker";
        o.origin = pid == 41 ? "manual" : "escalation";
        o.estimate = 0.01 * pid;
        s.deep.overheads.push_back(o);
    }
    const std::string text = render_text(render(s, 0));
    for (pid_t pid : {41, 42}) {
        const std::string l = "pid=\"" + std::to_string(pid) + "\",comm=\"leaker\",container_id=\"\",pod_uid=\"\"";
        EXPECT_EQ(samples_with(text, "memsight_heap_live_bytes", l + ",site=\"leak_one_record\""), 1u) << text;
        EXPECT_EQ(samples_with(text, "memsight_deep_session_overhead_ratio",
                               l + ",origin=\"" + (pid == 41 ? "manual" : "escalation") + "\""),
                  1u)
            << text;
    }
    EXPECT_NE(text.find("memsight_deep_sessions 2\n"), std::string::npos);
}

TEST(PrometheusRender, GrowthSitesPerProcess)
{
    analysis::AgentSnapshot s;
    analysis::GrowthSite g;
    g.pid = 42;
    g.comm = "parser";
    g.identity = procfs::identify_container(kDockerCgroup);
    g.site = "leaky_parser_feed";
    g.bytes = 4096000;
    s.growth_sites = {g};
    const std::string text = render_text(render(s, 0));
    EXPECT_EQ(block(text, "memsight_process_growth_site_bytes"),
              "# HELP memsight_process_growth_site_bytes Bytes faulted in at a call site over the growth window, "
              "estimated from the sampled page faults (samples x sample period x page size), for the processes "
              "that grow most.\n"
              "# TYPE memsight_process_growth_site_bytes gauge\n"
              "memsight_process_growth_site_bytes{pid=\"42\",comm=\"parser\",container_id=\"" +
                  kDockerId + "\",pod_uid=\"\",site=\"leaky_parser_feed\"} 4096000\n");
    s.container_growth_sites = {{g.identity, kDockerCgroup, "leaky_parser_feed", 8192000}};
    const std::string with_container = render_text(render(s, 0));
    EXPECT_EQ(block(with_container, "memsight_container_growth_site_bytes"),
              "# HELP memsight_container_growth_site_bytes Bytes faulted in at a call site by the container's "
              "processes over the growth window, estimated from the sampled page faults, for the containers that "
              "grow most.\n"
              "# TYPE memsight_container_growth_site_bytes gauge\n"
              "memsight_container_growth_site_bytes{container_id=\"" +
                  kDockerId + "\",pod_uid=\"\",cgroup=\"" + kDockerCgroup + "\",site=\"leaky_parser_feed\"} 8192000\n");
}

TEST(PrometheusRender, EmptySnapshotLeavesOutFamiliesWithoutSeries)
{
    const std::string text = render_text(render(analysis::AgentSnapshot{}, 0));
    const std::vector<std::string> want = {
        "memsight_oom_forensic_records_total", // both outcomes, at 0
        "memsight_process_exits_total",
        "memsight_process_exit_peak_resident_bytes",
        "memsight_deep_sessions",
        "memsight_deep_events_lost_total",
        "memsight_deep_overhead_stops_total",
        "memsight_escalation_sessions",
        "memsight_escalations_started_total",
        "memsight_escalation_profiles_total", // both outcomes, at 0
        "memsight_build_info",
        "memsight_start_time_seconds",
        "memsight_events_total",
        "memsight_events_lost_total",
        "memsight_fault_stacks_unwound_total",
        "memsight_tracked_processes",
        "memsight_exported_processes",
        "memsight_tracked_containers",
        "memsight_growth_site_stacks",
        "memsight_scan_duration_seconds",
        "memsight_scrape_duration_seconds",
        "memsight_attach_failures_total",
    };
    EXPECT_EQ(family_names(text), want);
    const std::string h = "memsight_process_exit_peak_resident_bytes";
    EXPECT_NE(text.find(h + "_count 0\n"), std::string::npos);
    EXPECT_NE(text.find(h + "_bucket{le=\"+Inf\"} 0\n"), std::string::npos);
    EXPECT_NE(text.find("memsight_process_exits_total 0\n"), std::string::npos);
}

TEST(PrometheusRender, PidReuseMustNotProduceDuplicateSeries)
{
    // Two exits of the same command under the same (reused) pid in one window, and two OOM kills of the
    // same pid within the hour: the exposition must not carry two samples with the same label set.
    auto s = full_snapshot();
    analysis::ExitRecord a;
    a.pid = 31000;
    a.comm = "sort";
    a.peak_rss = 900u << 20;
    analysis::ExitRecord b = a;
    b.peak_rss = 800u << 20;
    s.exit_peaks = {a, b};
    s.recent_oom_victims.push_back(s.recent_oom_victims[0]);
    const std::string text = render_text(render(s, 0));
    const size_t exits = samples_with(text, "memsight_exited_process_peak_resident_bytes",
                                      "pid=\"31000\",comm=\"sort\",container_id=\"\",pod_uid=\"\"");
    const size_t victims =
        samples_with(text, "memsight_oom_victim_resident_bytes",
                     "pid=\"999\",comm=\"java\",container_id=\"" + kDockerId + "\",pod_uid=\"\",kind=\"anon\"");
    EXPECT_EQ(exits, 1u);
    EXPECT_EQ(victims, 1u);
    // The first entry (the larger exit) wins.
    EXPECT_NE(text.find("memsight_exited_process_peak_resident_bytes{pid=\"31000\",comm=\"sort\",container_id=\"\","
                        "pod_uid=\"\"} 943718400\n"),
              std::string::npos);
}

TEST(PrometheusRender, LabelValuesAreEscaped)
{
    auto s = full_snapshot();
    s.processes[0].sample.comm = "a\"b\\c\nd";
    s.containers = {};
    const std::string text = render_text(render(s, 0));
    const std::string labels =
        "pid=\"4242\",comm=\"a\\\"b\\\\c\\nd\",container_id=\"" + kPodId + "\",pod_uid=\"" + kPodUid + "\"";
    EXPECT_NE(text.find("memsight_process_swap_bytes{" + labels + "} 512\n"), std::string::npos) << text;
}

TEST(PrometheusRender, CounterAndGaugeValuesInTheFamilies)
{
    // Through the MetricFamily structures (what the exposer serializes), not only the text.
    const auto families = render(full_snapshot(), 0);
    bool saw_counter = false, saw_gauge = false;
    for (const auto& f : families) {
        if (f.name == "memsight_process_page_faults_total") {
            EXPECT_EQ(f.type, prometheus::MetricType::Counter);
            ASSERT_EQ(f.metric.size(), 2u);
            EXPECT_EQ(f.metric[0].counter.value, 7.0);
            EXPECT_EQ(f.metric[1].counter.value, 3.0);
            saw_counter = true;
        }
        if (f.name == "memsight_process_swap_bytes") {
            EXPECT_EQ(f.type, prometheus::MetricType::Gauge);
            ASSERT_EQ(f.metric.size(), 1u);
            EXPECT_EQ(f.metric[0].gauge.value, 512.0);
            saw_gauge = true;
        }
        EXPECT_EQ(f.name.rfind("memsight_", 0), 0u) << f.name;
        if (f.type == prometheus::MetricType::Counter) {
            EXPECT_TRUE(f.name.ends_with("_total")) << f.name;
        }
    }
    EXPECT_TRUE(saw_counter);
    EXPECT_TRUE(saw_gauge);
}

TEST(PrometheusRender, SnapshotCollectableRendersTheSourceAndTimesTheScrape)
{
    int calls = 0;
    SnapshotCollectable c([&] {
        ++calls;
        return full_snapshot();
    });
    const auto first = c.Collect();
    EXPECT_EQ(calls, 1);
    const std::string text1 = render_text(first);
    EXPECT_NE(text1.find("memsight_scrape_duration_seconds 0\n"), std::string::npos); // no previous scrape
    const std::string text2 = render_text(c.Collect());
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(text2.find("memsight_scrape_duration_seconds 0\n"), std::string::npos); // the first one's time
    EXPECT_NE(text2.find("memsight_scrape_duration_seconds "), std::string::npos);
}

} // namespace
} // namespace memsight::exporter
