// Reading an agent's /metrics back (`memsight growth --agent`): the exposition parsed, one process's growth and
// heap sites picked out, and why a process has no growth sites.
#include "export/metrics_text.h"
#include "export/prometheus_exporter.h"

#include <gtest/gtest.h>

#include <cmath>

namespace memsight::exporter {
namespace {

TEST(MetricsText, ParsesSamplesLabelsAndEscapes)
{
    const auto s = parse_metrics_text("# HELP x help\n"
                                      "# TYPE x gauge\n"
                                      "x 1\n"
                                      "y{a=\"1\",b=\"q\\\"uote\\\\ \\n\"} 2.5e3\r\n"
                                      "z{} -Inf\n"
                                      "\n"
                                      "broken{a=\"1\" 3\n"
                                      "novalue{a=\"1\"}\n"
                                      "w{site=\"std::vector<int, std::allocator<int> >::push_back\",} 7 1700000000\n");
    ASSERT_EQ(s.size(), 4u);
    EXPECT_EQ(s[0].name, "x");
    EXPECT_EQ(s[0].value, 1);
    EXPECT_EQ(s[1].labels.at("a"), "1");
    EXPECT_EQ(s[1].labels.at("b"), "q\"uote\\ \n");
    EXPECT_EQ(s[1].value, 2500);
    EXPECT_TRUE(std::isinf(s[2].value));
    EXPECT_EQ(s[3].labels.at("site"), "std::vector<int, std::allocator<int> >::push_back");
    EXPECT_EQ(s[3].value, 7);
}

analysis::ProcessView process(pid_t pid, const char* comm, double growth, double suspicion)
{
    analysis::ProcessView p;
    p.sample.pid = pid;
    p.sample.comm = comm;
    p.sample.rss_anon = 10 << 20;
    p.growth_bytes_per_second = growth;
    p.leak_suspicion = suspicion;
    return p;
}

analysis::AgentSnapshot snapshot()
{
    analysis::AgentSnapshot s;
    s.version = "test";
    s.processes = {process(10, "leaky", 4096, 0.9), process(11, "grower", 2048, 0), process(12, "flat", 0, 0),
                   process(13, "slow", 100, 0)};
    s.growth_sites = {{10, "leaky", {}, "leak_here", 3 << 20},
                      {10, "leaky", {}, "other", 8 << 20},
                      {11, "grower", {}, "fill", 1 << 20}};
    analysis::HeapSite h;
    h.pid = 10;
    h.comm = "leaky";
    h.site = "leak_here";
    h.live_bytes = 5 << 20;
    h.live_objects = 5;
    h.growing = true;
    s.deep.heap_sites = {h};
    h.site = "cache";
    h.live_bytes = 1 << 20;
    h.growing = false;
    s.deep.heap_sites.push_back(h);
    return s;
}

// Through the real exporter's text, as `memsight growth --agent` reads it.
std::vector<Sample> exposition()
{
    return parse_metrics_text(render_text(render(snapshot(), 0)));
}

TEST(AgentProcessView, PicksOutOneProcessesSitesFromTheExporterText)
{
    const auto v = agent_process_view(exposition(), 10);
    EXPECT_TRUE(v.is_memsight);
    EXPECT_TRUE(v.exported);
    EXPECT_EQ(v.comm, "leaky");
    EXPECT_EQ(v.rss_bytes, 10 << 20);
    EXPECT_DOUBLE_EQ(v.leak_suspicion, 0.9);
    ASSERT_EQ(v.growth_sites.size(), 2u);
    EXPECT_EQ(v.growth_sites[0].site, "other"); // most bytes first
    EXPECT_EQ(v.growth_sites[1].site, "leak_here");
    ASSERT_EQ(v.heap_sites.size(), 2u);
    EXPECT_EQ(v.heap_sites[0].site, "leak_here");
    EXPECT_TRUE(v.heap_sites[0].growing);
    EXPECT_EQ(v.heap_sites[0].live_objects, 5);
    EXPECT_EQ(v.rank, 1u);
    EXPECT_EQ(v.processes_with_sites, 2u);
    EXPECT_EQ(why_no_growth_sites(v, 10), "");
}

TEST(AgentProcessView, SaysWhyAProcessHasNoGrowthSites)
{
    const auto samples = exposition();
    EXPECT_NE(why_no_growth_sites(agent_process_view(samples, 99), 99).find("exports no series for pid 99"),
              std::string::npos);
    const auto flat = why_no_growth_sites(agent_process_view(samples, 12), 12);
    EXPECT_NE(flat.find("neither grows nor is suspected"), std::string::npos) << flat;
    // Ranked third (after the suspected one and the faster grower) while two processes have sites.
    const auto slow = agent_process_view(samples, 13);
    EXPECT_EQ(slow.rank, 3u);
    const auto why = why_no_growth_sites(slow, 13);
    EXPECT_NE(why.find("not among the top growth_sites.processes: it ranks #3"), std::string::npos) << why;
}

TEST(AgentProcessView, AChosenProcessWithoutSamplesIsSaidToHaveNoneYet)
{
    auto s = snapshot();
    s.growth_sites = {{11, "grower", {}, "fill", 1 << 20}};
    const auto v = agent_process_view(parse_metrics_text(render_text(render(s, 0))), 10); // ranked first, yet no sites
    const auto why = why_no_growth_sites(v, 10);
    EXPECT_NE(why.find("no page-fault samples in the growth window yet"), std::string::npos) << why;
    s.growth_sites.clear();
    const auto none = why_no_growth_sites(agent_process_view(parse_metrics_text(render_text(render(s, 0))), 10), 10);
    EXPECT_NE(none.find("no growth sites for any process yet"), std::string::npos) << none;
}

TEST(AgentProcessView, TextThatIsNotAnAgentsIsSaidSo)
{
    EXPECT_FALSE(agent_process_view(parse_metrics_text("up 1\n"), 1).is_memsight);
}

} // namespace
} // namespace memsight::exporter
