#pragma once
// Charts as self-contained SVG (no script, no external resource), written by hand: a line chart of series over
// time and a horizontal bar chart. Labels are escaped (they are comm and cgroup names).
#include "report/report.h"

#include <string>
#include <utility>
#include <vector>

namespace memsight::report {

enum class Unit { Bytes, Ratio, Count };

struct ChartGeometry {
    int width = 880;
    int height = 300;
    int left = 80; // plot area margins
    int right = 20;
    int top = 36;
    int bottom = 40;
    int legend_line = 18; // per legend entry, below the plot
};

// The palette the charts draw with, in order (the e2e test looks for these colours in a screenshot).
const std::vector<std::string>& palette();

// A line chart of `series` over [t0, t1]. y from 0 (or the lowest value when negative) to a rounded maximum
// (Ratio: 0..1). The legend below the plot names each series in its colour. No series: a box that says "no data".
std::string line_chart(const std::string& title, const std::vector<Series>& series, double t0, double t1, Unit unit,
                       const ChartGeometry& g = {});

// Horizontal bars, one per (label, value), largest first as given.
std::string bar_chart(const std::string& title, const std::vector<std::pair<std::string, double>>& bars, Unit unit,
                      const ChartGeometry& g = {});

// The y-axis maximum for data up to `max`: 1, 2, 2.5 or 5 times a power of ten (of 1024 for bytes above 1 KiB)
// at or above it; 1 for max <= 0.
double nice_max(double max, Unit unit);

} // namespace memsight::report
