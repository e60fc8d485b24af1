#include "report/render.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace memsight::report;

namespace {

const std::string kEvil = "<script>alert(1)</script>|*x*";

Report sample()
{
    Report r;
    r.prometheus = "http://127.0.0.1:9090";
    r.since = "24h";
    r.end = 1795976401;
    r.start = r.end - 86400;
    r.step = 360;
    r.generated_at = r.end;
    r.fleet.nodes = {{"node-a:9756", "0.1.0", "6.18.0", 1.0}};
    r.fleet.memory_in_use_bytes = 3 * 1073741824.0;
    const Subject victim{"node-a:9756", "4242", kEvil, std::string(64, 'a'), "pod-1", "/docker/" + kEvil};
    r.top_processes = {{victim, 512 * 1048576.0, std::nullopt, std::nullopt}};
    r.top_growers = {{{"node-a:9756", "77", "grower", "", "", ""},
                      3 * 1048576.0,
                      180 * 1048576.0,
                      60,
                      2.5 * 1048576.0,
                      400 * 1048576.0}};
    r.oom_kills_total = 1;
    r.oom_kills = {{victim, 1}};
    OomVictim v;
    v.who = victim;
    v.resident_bytes = 60 * 1048576.0;
    v.first_seen = r.end - 100;
    v.forensic = nlohmann::json{{"schema", 1},
                                {"time", "2026-11-29T18:18:21.000Z"},
                                {"victim", {{"pid", 4242}, {"comm", kEvil}, {"cmdline", "/bin/" + kEvil}}},
                                {"kill", {{"trigger", {{"pid", 4242}, {"comm", kEvil}}}}},
                                {"profiles", {"/var/lib/memsight/profiles/p.pb.gz"}}};
    r.oom_victims = {v};
    r.memory_over_time = {{"grower (pid 77)", {{r.start, 0}, {r.end, 400 * 1048576.0}}}};
    r.warnings = {"the agent at http://x:9756 answered HTTP 404"};
    return r;
}

} // namespace

TEST(ReportRender, HtmlEscapesEveryLabelAndLoadsNothing)
{
    const std::string html = render_html(sample());
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;|*x*"), std::string::npos);
    // Self-contained: no script, no external stylesheet, image or frame; a policy that forbids loading anything.
    for (const char* bad : {"<link", "<img", "<iframe", "src=", "@import", "url("})
        EXPECT_EQ(html.find(bad), std::string::npos) << bad;
    EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
    EXPECT_NE(html.find("<svg"), std::string::npos);
    EXPECT_NE(html.find("grower"), std::string::npos);
    EXPECT_NE(html.find("triggered by &lt;script&gt;"), std::string::npos);
    EXPECT_NE(html.find("answered HTTP 404"), std::string::npos);
}

TEST(ReportRender, HtmlOfAnEmptyReportSaysSoInEachSection)
{
    Report r;
    r.prometheus = "http://p:9090";
    r.since = "1h";
    r.end = 3600;
    const std::string html = render_html(r);
    for (const char* text :
         {"No process series in this period.", "Nothing grew in this period.", "No leak suspects", "No OOM kills.",
          "No exit peaks recorded.", "No deep sessions in this period.", "no data in this period"})
        EXPECT_NE(html.find(text), std::string::npos) << text;
    EXPECT_EQ(html.find("<h2 id=\"warnings\""), std::string::npos);
}

TEST(ReportRender, MarkdownEscapesCellsAndEmbedsCharts)
{
    const std::string md = render_markdown(sample());
    EXPECT_EQ(md.find("<script"), std::string::npos);
    EXPECT_NE(md.find("&lt;script&gt;alert(1)&lt;/script&gt;\\|\\*x\\*"), std::string::npos);
    EXPECT_NE(md.find("![Resident memory of the top users](data:image/svg+xml;base64,"), std::string::npos);
    EXPECT_NE(md.find("| grower | 77 |"), std::string::npos);
    // Each table row has as many cells as its header.
    size_t pos = md.find("| process | pid |");
    ASSERT_NE(pos, std::string::npos);
    const auto line = [&](size_t at) { return md.substr(at, md.find('\n', at) - at); };
    const auto cells = [](const std::string& l) {
        size_t n = 0;
        for (size_t i = 0; i < l.size(); ++i)
            if (l[i] == '|' && (i == 0 || l[i - 1] != '\\'))
                ++n;
        return n;
    };
    const size_t head = cells(line(pos));
    pos = md.find('\n', pos) + 1; // separator
    pos = md.find('\n', pos) + 1; // first row
    EXPECT_EQ(cells(line(pos)), head) << line(pos);
}

TEST(ReportRender, MarkdownChartsCanGoToFiles)
{
    std::vector<std::string> names;
    const std::string md = render_markdown(sample(), [&](const std::string& name, const std::string& svg) {
        EXPECT_NE(svg.find("<svg"), std::string::npos);
        names.push_back(name);
        return "report-" + name + ".svg";
    });
    EXPECT_NE(md.find("](report-memory.svg)"), std::string::npos);
    EXPECT_NE(std::find(names.begin(), names.end(), "oom-kills"), names.end());
}

TEST(ReportRender, JsonHasTheStableKeys)
{
    const auto j = to_json(sample());
    EXPECT_EQ(j["schema"], 1);
    for (const char* key :
         {"generated_at", "prometheus", "period", "filters", "fleet", "top_processes", "top_containers", "top_growers",
          "leak_suspects", "oom_kills", "exits", "near_limit", "deep", "changes", "charts", "warnings"})
        EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_EQ(j["period"]["end"], "2026-11-29T18:20:01Z");
    EXPECT_EQ(j["period"]["seconds"], 86400);
    EXPECT_EQ(j["fleet"]["agents"], 1);
    const auto& victim = j["oom_kills"]["victims"][0];
    EXPECT_EQ(victim["pid"], 4242);   // a number, not the label's string
    EXPECT_EQ(victim["comm"], kEvil); // raw in JSON: escaping is the reader's business
    EXPECT_EQ(victim["container_id"], std::string(64, 'a'));
    EXPECT_EQ(victim["forensic"]["schema"], 1);
    EXPECT_EQ(j["top_processes"][0]["last_bytes"], nullptr); // gone: null, not left out
    EXPECT_EQ(j["top_growers"][0]["comm"], "grower");
    EXPECT_EQ(j["top_growers"][0]["slope_bytes_per_second"], 3 * 1048576.0);
    EXPECT_EQ(j["top_growers"][0]["grown_bytes"], 180 * 1048576.0);
    EXPECT_EQ(j["top_growers"][0]["observed_seconds"], 60);
    EXPECT_EQ(j["oom_kills"]["total"], 1);
    EXPECT_EQ(j["oom_kills"]["forensic_records"], nullptr);
    for (const char* key : {"memory_in_use_bytes", "oom_kills", "leak_suspects", "top_growers", "previous_period"})
        EXPECT_TRUE(j["changes"].contains(key)) << key;
    EXPECT_EQ(j["charts"]["memory"][0]["points"][1][1], 400 * 1048576.0);
}

TEST(ReportRender, JsonOfInvalidUtf8StillDumps)
{
    Report r = sample();
    r.top_processes[0].who.comm = "bad\xff";
    const auto j = to_json(r);
    EXPECT_NO_THROW((void)j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

TEST(ReportRender, SummaryNamesVictimsAndTheTopGrower)
{
    const std::string s = summary_text(sample());
    EXPECT_NE(s.find("1 OOM kill(s)"), std::string::npos);
    EXPECT_NE(s.find("OOM victim: "), std::string::npos);
    EXPECT_NE(s.find("Top grower: grower (pid 77) on node-a:9756, 3.00 MiB/s"), std::string::npos);
}
