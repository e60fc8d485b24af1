#include "report/svg.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

using namespace memsight::report;

namespace {

size_t occurrences(const std::string& s, const std::string& what)
{
    size_t n = 0;
    for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1))
        ++n;
    return n;
}

std::string points_of(const std::string& svg)
{
    std::smatch m;
    if (!std::regex_search(svg, m, std::regex("<polyline[^>]*points=\"([^\"]*)\"")))
        return "";
    return m[1];
}

} // namespace

TEST(ReportSvg, NiceMaximum)
{
    EXPECT_EQ(nice_max(0, Unit::Count), 1);
    EXPECT_EQ(nice_max(3, Unit::Count), 5);
    EXPECT_EQ(nice_max(7, Unit::Count), 10);
    EXPECT_EQ(nice_max(20, Unit::Count), 20);
    EXPECT_EQ(nice_max(21, Unit::Count), 25);
    EXPECT_EQ(nice_max(0.3, Unit::Ratio), 1);
    EXPECT_EQ(nice_max(300.0 * 1048576, Unit::Bytes), 500.0 * 1048576);
    EXPECT_EQ(nice_max(1048576, Unit::Bytes), 1048576);
    EXPECT_EQ(nice_max(1.5 * 1073741824, Unit::Bytes), 2.0 * 1073741824);
}

TEST(ReportSvg, LineChartMapsTimeAndValueOntoThePlotArea)
{
    ChartGeometry g; // 880 x 300, plot from (80, 36) to (860, 260)
    // 0 at t0 to 5 MiB (the nice maximum itself) at t1, through 2.5 MiB halfway.
    const Series s{"grower", {{1000, 0}, {1050, 2.5 * 1048576}, {1100, 5 * 1048576}}};
    const std::string svg = line_chart("Memory", {s}, 1000, 1100, Unit::Bytes, g);
    EXPECT_EQ(points_of(svg), "80.0,260.0 470.0,148.0 860.0,36.0");
    EXPECT_NE(svg.find("width=\"880\""), std::string::npos);
    // The height grows by one legend line per series.
    EXPECT_NE(svg.find("height=\"" + std::to_string(300 + 18 + 8) + "\""), std::string::npos);
    EXPECT_NE(svg.find(">5.00 MiB<"), std::string::npos); // the top y label
    EXPECT_NE(svg.find(">0 B<"), std::string::npos);
    EXPECT_NE(svg.find(palette()[0]), std::string::npos);
}

TEST(ReportSvg, LineChartDrawsOneLinePerSeriesAndSkipsPointsOutsideThePeriod)
{
    const Series a{"a", {{0, 1}, {10, 2}}};
    const Series b{"b", {{-5, 1}, {0, 1}, {10, 1}, {20, 3}}};
    const Series dot{"dot", {{5, 0.5}}};
    const std::string svg = line_chart("t", {a, b, dot}, 0, 10, Unit::Count);
    EXPECT_EQ(occurrences(svg, "<polyline"), 2u);
    EXPECT_EQ(occurrences(svg, "<circle"), 1u); // a single reading is a dot
    EXPECT_NE(svg.find(palette()[1]), std::string::npos);
    // b keeps only its points at 0 and 10.
    std::smatch m;
    const std::string rest = svg.substr(svg.find(palette()[1]) - 40);
    ASSERT_TRUE(std::regex_search(rest, m, std::regex("points=\"([^\"]*)\"")));
    const std::string points = m[1];
    EXPECT_EQ(std::count(points.begin(), points.end(), ','), 2);
}

TEST(ReportSvg, LegendAndTitleAreEscaped)
{
    const Series evil{"<script>alert(1)</script>&\"'", {{0, 1}, {1, 2}}};
    const std::string svg = line_chart("</title><script>x</script>", {evil}, 0, 1, Unit::Count);
    EXPECT_EQ(svg.find("<script"), std::string::npos);
    EXPECT_NE(svg.find("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"), std::string::npos);
    const std::string bars = bar_chart("t", {{"<b>x</b>", 2}}, Unit::Count);
    EXPECT_EQ(bars.find("<b>"), std::string::npos);
    EXPECT_NE(bars.find("&lt;b&gt;x&lt;/b&gt;"), std::string::npos);
}

TEST(ReportSvg, EmptyChartsSayNoData)
{
    EXPECT_NE(line_chart("t", {}, 0, 10, Unit::Bytes).find("no data in this period"), std::string::npos);
    EXPECT_NE(line_chart("t", {{"x", {}}}, 0, 10, Unit::Bytes).find("no data"), std::string::npos);
    EXPECT_NE(line_chart("t", {{"x", {{1, 1}}}}, 10, 10, Unit::Bytes).find("no data"), std::string::npos);
    EXPECT_NE(bar_chart("t", {}, Unit::Count).find("no data"), std::string::npos);
    EXPECT_EQ(line_chart("t", {}, 0, 10, Unit::Bytes).find("<polyline"), std::string::npos);
}

TEST(ReportSvg, BarLengthsAreProportional)
{
    // Bars from x = 270 over 880 - 270 - 20 - 60 = 530 px, the axis maximum nice_max(4) = 5.
    const std::string svg = bar_chart("OOM kills", {{"a", 4}, {"b", 1}}, Unit::Count);
    EXPECT_NE(svg.find("width=\"424.0\""), std::string::npos); // 4 / 5 * 530
    EXPECT_NE(svg.find("width=\"106.0\""), std::string::npos); // 1 / 5 * 530
    EXPECT_NE(svg.find(">4<"), std::string::npos);
}

TEST(ReportSvg, NegativeValuesGetANegativeAxis)
{
    const std::string svg = line_chart("t", {{"s", {{0, -1}, {1, 1}}}}, 0, 1, Unit::Count);
    // y from -1 to 1: -1 at the bottom (260), 1 at the top (36).
    EXPECT_EQ(points_of(svg), "80.0,260.0 860.0,36.0");
}
