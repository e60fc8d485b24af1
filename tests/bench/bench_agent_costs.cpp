// What the agent's userspace work costs per item, so the interval and top-N settings can be chosen
// knowingly: ./build/tests/bench/bench_agent_costs
#include "analysis/proc_scanner.h"
#include "export/prometheus_exporter.h"
#include "procfs/container.h"
#include "procfs/proc_parse.h"
#include "procfs/read_file.h"

#include <benchmark/benchmark.h>

namespace {

using namespace memsight;

std::string fixture(const char* name)
{
    return *procfs::read_file(std::string(MEMSIGHT_FIXTURES) + "/procfs/" + name);
}

void BM_ParseStatus(benchmark::State& state)
{
    const std::string text = fixture("status_process");
    for (auto _ : state)
        benchmark::DoNotOptimize(procfs::parse_status(text));
}
BENCHMARK(BM_ParseStatus);

void BM_ParseStat(benchmark::State& state)
{
    const std::string text = fixture("stat_weird_comm");
    for (auto _ : state)
        benchmark::DoNotOptimize(procfs::parse_stat(text));
}
BENCHMARK(BM_ParseStat);

void BM_IdentifyContainer(benchmark::State& state)
{
    const std::string path = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_aaaa_bbbb_cccc_"
                             "0123456789ab.slice/cri-containerd-"
                             "4a3b2c1d4a3b2c1d4a3b2c1d4a3b2c1d4a3b2c1d4a3b2c1d4a3b2c1d4a3b2c1d.scope";
    for (auto _ : state)
        benchmark::DoNotOptimize(procfs::identify_container(path));
}
BENCHMARK(BM_IdentifyContainer);

// One reading of every process on this machine, as the agent does each interval.
void BM_ScanProc(benchmark::State& state)
{
    analysis::ProcScanner scanner;
    analysis::ProcessTable table(std::chrono::minutes(5));
    size_t n = 0;
    for (auto _ : state)
        n = scanner.scan(table);
    state.counters["processes"] = static_cast<double>(n);
    state.counters["per_process_us"] =
        benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ScanProc)->Unit(benchmark::kMillisecond);

// Rendering a scrape with N exported processes and N/4 containers.
void BM_RenderScrape(benchmark::State& state)
{
    analysis::AgentSnapshot s;
    const auto n = static_cast<size_t>(state.range(0));
    for (size_t i = 0; i < n; ++i) {
        analysis::ProcessView p;
        p.sample.pid = static_cast<pid_t>(1000 + i);
        p.sample.comm = "proc" + std::to_string(i);
        p.sample.rss_anon = 1000000 * i;
        s.processes.push_back(p);
        if (i % 4 == 0) {
            analysis::ContainerView c;
            c.identity.container_id = std::string(64, 'a');
            c.cgroup = "/docker/" + c.identity.container_id + std::to_string(i);
            s.containers.push_back(c);
        }
    }
    for (auto _ : state)
        benchmark::DoNotOptimize(exporter::render_text(exporter::render(s, 0)));
}
BENCHMARK(BM_RenderScrape)->Arg(30)->Arg(300)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
