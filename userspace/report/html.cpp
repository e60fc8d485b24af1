// The HTML report: one file, inline CSS and SVG, no script and no external resource (a Content-Security-Policy that
// forbids loading anything says so to the browser too).
#include "report/format.h"
#include "report/render.h"

namespace memsight::report {
namespace {

constexpr const char* kStyle = R"(body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.empty{color:#666;font-style:italic;border:none;padding-left:0}
nav a{margin-right:12px}.chart{margin:10px 0}p.meta{color:#555})";

void table_html(std::string& out, const Table& t)
{
    if (t.rows.empty()) {
        if (!t.empty.empty())
            out += "<p class=\"empty\"><i>" + escape_html(t.empty) + "</i></p>\n";
        return;
    }
    out += "<table>\n<tr>";
    for (const auto& h : t.head)
        out += "<th>" + escape_html(h) + "</th>";
    out += "</tr>\n";
    for (const auto& row : t.rows) {
        out += "<tr>";
        for (const auto& cell : row)
            out += "<td>" + escape_html(cell) + "</td>";
        out += "</tr>\n";
    }
    out += "</table>\n";
}

} // namespace

std::string render_html(const Report& r)
{
    const auto sections = layout(r);
    std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                      "style-src 'unsafe-inline'; img-src data:\">\n";
    const std::string title = "memsight report " + utc_time(r.start) + " to " + utc_time(r.end);
    out += "<title>" + escape_html(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
    out += "<h1>" + escape_html(title) + "</h1>\n";
    out += "<p class=\"meta\">Generated " + escape_html(utc_time(r.generated_at)) + " by memsight report from " +
           escape_html(r.prometheus) + ".</p>\n<nav>";
    for (const auto& s : sections)
        out += "<a href=\"#" + escape_html(s.id) + "\">" + escape_html(s.title) + "</a>";
    out += "</nav>\n";
    for (const auto& s : sections) {
        out += "<h2 id=\"" + escape_html(s.id) + "\">" + escape_html(s.title) + "</h2>\n";
        for (const auto& b : s.blocks) {
            switch (b.kind) {
            case Block::Kind::Text:
                out += "<p>" + escape_html(b.text) + "</p>\n";
                break;
            case Block::Kind::Table:
                table_html(out, b.table);
                break;
            case Block::Kind::Chart:
                // The SVG is ours; every label in it is escaped by svg.cpp.
                out += "<div class=\"chart\" id=\"chart-" + escape_html(b.chart_name) + "\">\n" + b.svg + "</div>\n";
                break;
            }
        }
    }
    out += "</body>\n</html>\n";
    return out;
}

} // namespace memsight::report
