#pragma once
// Robust growth and leak suspicion from a memory time series (always-on data: RSS of a process, usage of a
// container). See docs/leak-detection.md for the method and what the score means.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace memsight::analysis {

struct Point {
    double t = 0;     // seconds
    double bytes = 0;
};

// Theil–Sen estimator: the median of the slopes of all point pairs (bytes/second). Robust to outliers (up
// to ~29% of the points) and to noise. 0 with fewer than two points.
double theil_sen_slope(std::span<const Point> points);

struct GrowthPolicy {
    size_t min_points = 6;            // fewer readings: too early to say
    double min_bytes = 1 << 20;       // growth over the window below this is not worth a suspicion
    double min_relative = 0.02;       // ... nor below this fraction of the current level
    size_t segments = 4;              // the window is cut into this many parts; each must sit above the previous
    double plateau_ratio = 0.15;      // the last part growing slower than this fraction of the overall slope: plateau
};

struct Assessment {
    double growth_bytes_per_second = 0;    // Theil–Sen over the whole series
    double suspicion = 0;                  // 0..1
    std::vector<std::string> reasons;      // machine-readable, e.g. "growing", "plateau", "cyclic", "too_short"
    std::optional<double> seconds_to_limit; // when growing and a limit is known
};

// Assesses a series (time-ordered). `limit` is the memory limit the series runs into (a container's memcg
// limit), if any.
Assessment assess_growth(std::span<const Point> series, std::optional<double> limit, const GrowthPolicy& policy = {});

} // namespace memsight::analysis
