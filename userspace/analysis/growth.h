#pragma once
// Robust growth and leak suspicion from a memory time series (always-on data: RSS of a process, usage of a
// container). See docs/leak-detection.md for the method, what the score means and how accurate it is.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace memsight::analysis {

struct Point {
    double t = 0; // seconds
    double bytes = 0;
};

// Theil–Sen estimator: the median of the slopes of all point pairs (bytes/second). Robust to outliers (up
// to ~29% of the points) and to noise. 0 with fewer than two points.
double theil_sen_slope(std::span<const Point> points);

// Robust spread of a series around the line through it with the given slope: 1.4826 × the median absolute
// deviation of the residuals (the standard deviation for Gaussian noise; for a sawtooth or GC cycles it
// grows with their amplitude). 0 with fewer than two points.
double residual_spread(std::span<const Point> points, double slope);

// The memory a series keeps: for each reading i whose time is at least `horizon` before the last one, the
// lowest reading in [t_i, t_i + horizon] (same t). A leak raises it as fast as the readings; a sawtooth, GC
// cycles or noise that come back down within the horizon keep it near their base, however high they peak.
// A low first reading (taken before a program allocated anything) lowers only the first point.
std::vector<Point> kept_floor(std::span<const Point> points, double horizon);

struct GrowthPolicy {
    size_t min_points = 6; // fewer readings: too early to say
    // Less history than this: too early to tell a leak from warm-up (a cache filling, a first sawtooth rise),
    // which look exactly like a leak while they last. Process and container tables keep one growth window of
    // readings, so this is the age at which a young process can first be suspected; a growth window shorter
    // than this never yields a suspicion.
    double min_span_seconds = 60;
    double min_bytes = 1 << 20;     // growth over the window below this is not worth a suspicion
    double min_relative = 0.02;     // ... nor below this fraction of the current level
    size_t segments = 4;            // parts for the plateau test and for confirmation (each part above the last)
    double plateau_ratio = 0.15;    // the last part growing slower than this fraction of the overall slope: plateau
    double horizon_fraction = 0.25; // kept_floor() horizon, as a fraction of the series' span
    // The kept floor's recent half must rise at least at this fraction of its pace over the window (the larger
    // of its median slope and its net change): growth that slows down (a cache filling, allocator slack
    // settling) is not sustained; a leak keeps its pace.
    double sustain_ratio = 0.7;
    // The kept floor's rise over the window must be at least this multiple of the readings' spread around
    // their trend (residual_spread): a rise smaller than the series' own swing — the troughs of a sawtooth
    // caught a little later or earlier, the lows of random noise — is not evidence of a leak.
    double noise_ratio = 1;
};

struct Assessment {
    double growth_bytes_per_second = 0;     // Theil–Sen over the whole series
    double suspicion = 0;                   // 0..1
    std::vector<std::string> reasons;       // machine-readable: see docs/leak-detection.md
    std::optional<double> seconds_to_limit; // when growing and a limit is known
};

// Assesses a series (time-ordered). `limit` is the memory limit the series runs into (a container's memcg
// limit), if any.
Assessment assess_growth(std::span<const Point> series, std::optional<double> limit, const GrowthPolicy& policy = {});

} // namespace memsight::analysis
