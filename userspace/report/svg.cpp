#include "report/svg.h"

#include "report/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace memsight::report {
namespace {

std::string num(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f", v);
    return buf;
}

std::string value_text(double v, Unit unit)
{
    switch (unit) {
    case Unit::Bytes:
        return bytes(v);
    case Unit::Ratio:
        return ratio(v);
    case Unit::Count:
        return count(v);
    }
    return ratio(v);
}

std::string axis_time(double t, double span)
{
    const auto tt = static_cast<std::time_t>(std::floor(t));
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), span > 2 * 86400 ? "%m-%d %H:%M" : span > 600 ? "%H:%M" : "%H:%M:%S", &tm);
    return buf;
}

std::string open_svg(const ChartGeometry& g, int height, const std::string& title)
{
    std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(g.width) + "\" height=\"" +
                    std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(g.width) + " " +
                    std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n";
    s += "<title>" + escape_html(title) + "</title>\n";
    s += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(g.width) + "\" height=\"" + std::to_string(height) +
         "\" fill=\"#ffffff\"/>\n";
    s += "<text x=\"" + std::to_string(g.left) + "\" y=\"20\" font-size=\"14\" font-weight=\"bold\" fill=\"#222222\">" +
         escape_html(title) + "</text>\n";
    return s;
}

std::string no_data(const ChartGeometry& g, const std::string& title)
{
    std::string s = open_svg(g, g.top + 60, title);
    s += "<rect x=\"" + std::to_string(g.left) + "\" y=\"" + std::to_string(g.top) + "\" width=\"" +
         std::to_string(g.width - g.left - g.right) + "\" height=\"40\" fill=\"none\" stroke=\"#cccccc\"/>\n";
    s += "<text x=\"" + std::to_string(g.left + 10) + "\" y=\"" + std::to_string(g.top + 25) +
         "\" fill=\"#666666\">no data in this period</text>\n</svg>\n";
    return s;
}

} // namespace

const std::vector<std::string>& palette()
{
    static const std::vector<std::string> colours = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                                     "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
    return colours;
}

double nice_max(double max, Unit unit)
{
    if (!(max > 0) || !std::isfinite(max))
        return 1;
    if (unit == Unit::Ratio && max <= 1)
        return 1;
    double base = 1;
    if (unit == Unit::Bytes)
        while (max / base >= 1024)
            base *= 1024;
    const double m = max / base;
    double p = std::pow(10.0, std::floor(std::log10(m)));
    for (const double f : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (f * p >= m * (1 - 1e-12))
            return f * p * base;
    return 10 * p * base;
}

std::string line_chart(const std::string& title, const std::vector<Series>& series, double t0, double t1, Unit unit,
                       const ChartGeometry& g)
{
    double lo = 0, hi = 0;
    bool any = false;
    for (const auto& s : series)
        for (const auto& p : s.points)
            if (std::isfinite(p.v)) {
                lo = std::min(lo, p.v);
                hi = std::max(hi, p.v);
                any = true;
            }
    if (!any || !(t1 > t0))
        return no_data(g, title);
    const double ymax = nice_max(hi, unit);
    const double ymin = lo < 0 ? -nice_max(-lo, unit) : 0;
    const int plot_w = g.width - g.left - g.right;
    const int plot_h = g.height - g.top - g.bottom;
    const int height = g.height + g.legend_line * static_cast<int>(series.size()) + 8;
    const auto x = [&](double t) { return g.left + (t - t0) / (t1 - t0) * plot_w; };
    const auto y = [&](double v) { return g.top + plot_h - (v - ymin) / (ymax - ymin) * plot_h; };

    std::string s = open_svg(g, height, title);
    // Grid and y labels: 5 lines.
    for (int i = 0; i <= 4; ++i) {
        const double v = ymin + (ymax - ymin) * i / 4;
        const std::string yy = num(y(v));
        s += "<line x1=\"" + std::to_string(g.left) + "\" y1=\"" + yy + "\" x2=\"" + std::to_string(g.left + plot_w) +
             "\" y2=\"" + yy + "\" stroke=\"#e5e5e5\"/>\n";
        s += "<text x=\"" + std::to_string(g.left - 6) + "\" y=\"" + num(y(v) + 4) +
             "\" text-anchor=\"end\" fill=\"#444444\">" + escape_html(value_text(v, unit)) + "</text>\n";
    }
    // x labels: 5 times.
    for (int i = 0; i <= 4; ++i) {
        const double t = t0 + (t1 - t0) * i / 4;
        s += "<text x=\"" + num(x(t)) + "\" y=\"" + std::to_string(g.top + plot_h + 18) + "\" text-anchor=\"" +
             (i == 0   ? "start"
              : i == 4 ? "end"
                       : "middle") +
             "\" fill=\"#444444\">" + escape_html(axis_time(t, t1 - t0)) + "</text>\n";
    }
    s += "<rect x=\"" + std::to_string(g.left) + "\" y=\"" + std::to_string(g.top) + "\" width=\"" +
         std::to_string(plot_w) + "\" height=\"" + std::to_string(plot_h) + "\" fill=\"none\" stroke=\"#999999\"/>\n";
    const auto& colours = palette();
    for (size_t i = 0; i < series.size(); ++i) {
        const std::string& colour = colours[i % colours.size()];
        std::string points;
        size_t n = 0;
        for (const auto& p : series[i].points) {
            if (!std::isfinite(p.v) || p.t < t0 || p.t > t1)
                continue;
            points += (n++ ? " " : "") + num(x(p.t)) + "," + num(y(p.v));
        }
        if (n == 1) // one reading: a dot
            s += "<circle cx=\"" + points.substr(0, points.find(',')) + "\" cy=\"" +
                 points.substr(points.find(',') + 1) + "\" r=\"3\" fill=\"" + colour + "\"/>\n";
        else if (n > 1)
            s += "<polyline fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\" points=\"" + points + "\"/>\n";
        const int ly = g.height + 4 + g.legend_line * static_cast<int>(i);
        s += "<rect x=\"" + std::to_string(g.left) + "\" y=\"" + std::to_string(ly) +
             "\" width=\"14\" height=\"10\" fill=\"" + colour + "\"/>\n";
        s += "<text x=\"" + std::to_string(g.left + 20) + "\" y=\"" + std::to_string(ly + 10) + "\" fill=\"#222222\">" +
             escape_html(series[i].label) + "</text>\n";
    }
    s += "</svg>\n";
    return s;
}

std::string bar_chart(const std::string& title, const std::vector<std::pair<std::string, double>>& bars, Unit unit,
                      const ChartGeometry& g)
{
    double hi = 0;
    for (const auto& [label, v] : bars)
        hi = std::max(hi, v);
    if (bars.empty() || !(hi > 0))
        return no_data(g, title);
    const int bar_h = 18, gap = 8;
    const int label_w = 260; // labels left of the bars
    const int plot_x = label_w + 10;
    const int plot_w = g.width - plot_x - g.right - 60;
    const int height = g.top + static_cast<int>(bars.size()) * (bar_h + gap) + 10;
    const double xmax = nice_max(hi, unit);
    const auto& colours = palette();
    std::string s = open_svg(g, height, title);
    for (size_t i = 0; i < bars.size(); ++i) {
        const int by = g.top + static_cast<int>(i) * (bar_h + gap);
        const double w = std::max(0.0, bars[i].second) / xmax * plot_w;
        std::string label = bars[i].first;
        if (label.size() > 40)
            label = label.substr(0, 37) + "...";
        s += "<text x=\"" + std::to_string(label_w) + "\" y=\"" + std::to_string(by + 13) +
             "\" text-anchor=\"end\" fill=\"#222222\">" + escape_html(label) + "</text>\n";
        s += "<rect x=\"" + std::to_string(plot_x) + "\" y=\"" + std::to_string(by) + "\" width=\"" + num(w) +
             "\" height=\"" + std::to_string(bar_h) + "\" fill=\"" + colours[1] + "\"/>\n";
        s += "<text x=\"" + num(plot_x + w + 6) + "\" y=\"" + std::to_string(by + 13) + "\" fill=\"#222222\">" +
             escape_html(value_text(bars[i].second, unit)) + "</text>\n";
    }
    s += "</svg>\n";
    return s;
}

} // namespace memsight::report
