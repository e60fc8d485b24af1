#pragma once
// Renderers of a Report: HTML (one self-contained file: inline CSS and SVG, no script, no external resource),
// Markdown (tables; charts as SVG files or data: URIs) and JSON (schema 1, docs/reports.md).
#include "report/report.h"

#include <functional>
#include <string>
#include <vector>

namespace memsight::report {

// The report as sections of paragraphs, tables and charts, in raw (unescaped) text: what HTML and Markdown show.
struct Table {
    std::vector<std::string> head;
    std::vector<std::vector<std::string>> rows;
    std::string empty; // shown instead of an empty table
};

struct Block {
    enum class Kind { Text, Table, Chart } kind = Kind::Text;
    std::string text;       // Text
    Table table;            // Table
    std::string chart_name; // Chart: a file-name stem ("memory", "suspicion", "oom-kills")
    std::string chart_title;
    std::string svg;
};

struct Section {
    std::string id; // anchor
    std::string title;
    std::vector<Block> blocks;
};

std::vector<Section> layout(const Report& r);

std::string render_html(const Report& r);

// Where a Markdown chart goes: given the chart's name and SVG, returns the link target of its image. The default
// embeds it as a data: URI.
using ChartSink = std::function<std::string(const std::string& name, const std::string& svg)>;
std::string data_uri_sink(const std::string& name, const std::string& svg);
std::string render_markdown(const Report& r, const ChartSink& sink = data_uri_sink);

nlohmann::json to_json(const Report& r);
// A few lines for a chat webhook: period, OOM kills, suspects, the top grower, containers near their limit.
std::string summary_text(const Report& r);

} // namespace memsight::report
