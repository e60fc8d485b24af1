// The Markdown report: the same sections as HTML, tables in GitHub's pipe syntax, charts as image links (SVG files
// next to the report, or data: URIs).
#include "report/format.h"
#include "report/render.h"

namespace memsight::report {
namespace {

void table_markdown(std::string& out, const Table& t)
{
    if (t.rows.empty()) {
        if (!t.empty.empty())
            out += "*" + escape_markdown(t.empty) + "*\n\n";
        return;
    }
    out += "|";
    for (const auto& h : t.head)
        out += " " + escape_markdown(h) + " |";
    out += "\n|";
    for (size_t i = 0; i < t.head.size(); ++i)
        out += " --- |";
    out += "\n";
    for (const auto& row : t.rows) {
        out += "|";
        for (const auto& cell : row)
            out += " " + (cell.empty() ? std::string(" ") : escape_markdown(cell)) + " |";
        out += "\n";
    }
    out += "\n";
}

} // namespace

std::string data_uri_sink(const std::string&, const std::string& svg)
{
    return "data:image/svg+xml;base64," + base64(svg);
}

std::string render_markdown(const Report& r, const ChartSink& sink)
{
    std::string out = "# memsight report " + escape_markdown(utc_time(r.start)) + " to " +
                      escape_markdown(utc_time(r.end)) + "\n\nGenerated " + escape_markdown(utc_time(r.generated_at)) +
                      " by memsight report from " + escape_markdown(r.prometheus) + ".\n\n";
    for (const auto& s : layout(r)) {
        out += "## " + escape_markdown(s.title) + "\n\n";
        for (const auto& b : s.blocks) {
            switch (b.kind) {
            case Block::Kind::Text:
                out += escape_markdown(b.text) + "\n\n";
                break;
            case Block::Kind::Table:
                table_markdown(out, b.table);
                break;
            case Block::Kind::Chart:
                out += "![" + escape_markdown(b.chart_title) + "](" + sink(b.chart_name, b.svg) + ")\n\n";
                break;
            }
        }
    }
    return out;
}

std::string summary_text(const Report& r)
{
    std::string out = "memsight report " + utc_time(r.start) + " to " + utc_time(r.end) + " (" + r.since + ", " +
                      std::to_string(r.fleet.nodes.size()) + " agents): " + count(r.oom_kills_total) +
                      " OOM kill(s), " + std::to_string(r.leak_suspects.size()) + " leak suspect(s), " +
                      std::to_string(r.near_limit.size()) + " container(s) near their limit.";
    for (size_t i = 0; i < r.oom_victims.size() && i < 3; ++i)
        out +=
            "\nOOM victim: " + sanitize(subject_name(r.oom_victims[i].who) + " on " + r.oom_victims[i].who.instance) +
            ", " + bytes(r.oom_victims[i].resident_bytes) + " resident";
    for (size_t i = 0; i < r.leak_suspects.size() && i < 3; ++i)
        out += "\nLeak suspect: " +
               sanitize(subject_name(r.leak_suspects[i].who) + " on " + r.leak_suspects[i].who.instance) +
               ", suspicion " + ratio(r.leak_suspects[i].max_suspicion);
    if (!r.top_growers.empty())
        out +=
            "\nTop grower: " + sanitize(subject_name(r.top_growers[0].who) + " on " + r.top_growers[0].who.instance) +
            ", " + rate(r.top_growers[0].slope_bytes_per_second);
    return out;
}

} // namespace memsight::report
