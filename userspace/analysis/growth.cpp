#include "analysis/growth.h"

#include <algorithm>
#include <cmath>

namespace memsight::analysis {
namespace {

double median(std::vector<double>& v)
{
    if (v.empty())
        return 0;
    const size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
    double m = v[mid];
    if (v.size() % 2 == 0) {
        const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
        m = (m + lower) / 2;
    }
    return m;
}

// Growth rate of a stretch of readings: its Theil–Sen slope, or its net change per second when larger (a
// single step inside the stretch leaves the median slope at 0 although the stretch grew).
double rate(std::span<const Point> part)
{
    if (part.size() < 2)
        return 0;
    const double dt = part.back().t - part.front().t;
    const double net = dt > 0 ? (part.back().bytes - part.front().bytes) / dt : 0;
    return std::max(theil_sen_slope(part), net);
}

} // namespace

double theil_sen_slope(std::span<const Point> points)
{
    std::vector<double> slopes;
    slopes.reserve(points.size() * (points.size() - (points.empty() ? 0 : 1)) / 2);
    for (size_t i = 0; i < points.size(); ++i) {
        for (size_t j = i + 1; j < points.size(); ++j) {
            const double dt = points[j].t - points[i].t;
            if (dt > 0)
                slopes.push_back((points[j].bytes - points[i].bytes) / dt);
        }
    }
    return median(slopes);
}

double residual_spread(std::span<const Point> points, double slope)
{
    if (points.size() < 2)
        return 0;
    std::vector<double> r;
    r.reserve(points.size());
    for (const auto& p : points)
        r.push_back(p.bytes - slope * p.t);
    const double centre = median(r);
    for (auto& x : r)
        x = std::abs(x - centre);
    return 1.4826 * median(r);
}

std::vector<Point> kept_floor(std::span<const Point> points, double horizon)
{
    std::vector<Point> out;
    if (points.empty())
        return out;
    const double last = points.back().t;
    // Sliding-window minimum over [t_i, t_i + horizon] with a deque of indices of increasing values: O(n).
    std::vector<size_t> window(points.size());
    size_t head = 0, tail = 0; // window[head..tail) holds candidate indices
    size_t next = 0;           // next reading to enter the window
    for (size_t i = 0; i < points.size() && points[i].t + horizon <= last; ++i) {
        while (next < points.size() && points[next].t <= points[i].t + horizon) {
            while (tail > head && points[window[tail - 1]].bytes >= points[next].bytes)
                --tail;
            window[tail++] = next++;
        }
        while (window[head] < i)
            ++head;
        out.push_back({points[i].t, points[window[head]].bytes});
    }
    return out;
}

Assessment assess_growth(std::span<const Point> series, std::optional<double> limit, const GrowthPolicy& policy)
{
    Assessment a;
    a.growth_bytes_per_second = theil_sen_slope(series);
    if (series.size() < policy.min_points || series.size() < 2 * std::max<size_t>(policy.segments, 2) ||
        series.back().t - series.front().t < policy.min_span_seconds) {
        a.reasons.push_back("too_short");
        return a;
    }
    const double slope = a.growth_bytes_per_second;
    const double span = series.back().t - series.front().t;
    const double level = series.back().bytes;
    if (slope <= 0) {
        a.reasons.push_back(slope < 0 ? "shrinking" : "flat");
        return a;
    }
    const double growth = slope * span;
    const double threshold = std::max(policy.min_bytes, policy.min_relative * level);
    if (growth < threshold) {
        a.reasons.push_back("insignificant");
        return a;
    }

    // Sustained: the last part of the readings must still grow (else a plateau: warm-up that stopped, a cache
    // that filled). A step inside the last part makes its median slope 0 although it grew: the net change
    // counts too.
    const size_t n = series.size();
    const size_t parts = std::max<size_t>(policy.segments, 2);
    const auto last_part = series.subspan(n - n / parts);
    if (rate(last_part) < policy.plateau_ratio * slope) {
        a.reasons.push_back("plateau");
        return a;
    }

    // What the process keeps: the kept floor (lowest reading over the next quarter window) must rise too, by at
    // least the threshold and by more than the readings' own swing around their trend. A sawtooth heap, GC
    // cycles or noise peak high but return to their base, so their floor stays (give or take how close to a
    // trough a reading happened to fall).
    const std::vector<Point> floor = kept_floor(series, policy.horizon_fraction * span);
    if (floor.size() < 2 * parts) {
        a.reasons.push_back("too_short");
        return a;
    }
    const double floor_slope = theil_sen_slope(floor);
    const double kept = floor_slope * span;
    if (kept < threshold) {
        a.reasons.push_back("cyclic"); // grows and gives back
        return a;
    }
    if (kept < policy.noise_ratio * residual_spread(series, slope)) {
        a.reasons.push_back("within_noise");
        return a;
    }
    // Sustained: the floor's recent half must rise at a good fraction of its pace over the whole window, taken
    // as the larger of its median slope and its net change (a fast rise early in the window — the end of a
    // cache fill — followed by a slow creep has a small median slope but a large net change).
    const double floor_span = std::max(1e-9, floor.back().t - floor.front().t);
    const double floor_net = (floor.back().bytes - floor.front().bytes) / floor_span;
    if (rate(std::span<const Point>(floor).subspan(floor.size() / 2)) <
        policy.sustain_ratio * std::max(floor_slope, floor_net)) {
        a.reasons.push_back("plateau"); // the floor rose, but slower and slower
        return a;
    }

    // Confirmation: the floor is cut in parts; a part confirms when its median sits above the previous part's
    // by a quarter of the rise the floor's slope predicts. Steady, slow and step growth confirm every part; one
    // jump (a one-off allocation) confirms one.
    size_t confirming = 0;
    double previous = 0;
    for (size_t k = 0; k < parts; ++k) {
        const size_t begin = k * floor.size() / parts;
        const auto part = std::span<const Point>(floor).subspan(begin, (k + 1) * floor.size() / parts - begin);
        std::vector<double> values;
        for (const auto& p : part)
            values.push_back(p.bytes);
        const double med = median(values);
        const double part_span = part.back().t - part.front().t;
        const double expected = floor_slope * std::max(part_span, floor_span / static_cast<double>(parts));
        if (k > 0 && med - previous > 0.25 * expected)
            ++confirming;
        previous = med;
    }
    a.reasons.push_back("growing");
    a.reasons.push_back("confirmed_" + std::to_string(confirming) + "_of_" + std::to_string(parts - 1));
    // Confirmation times strength. Strength reaches 1 when the kept memory grew by 4 thresholds, so a score of
    // 0.5 needs all parts confirming and twice the threshold (or 2 of 3 and three times): growth barely above
    // the threshold — allocator slack settling for minutes after a cache filled — stays below 0.5.
    const double confirmation = static_cast<double>(confirming) / static_cast<double>(parts - 1);
    const double strength = std::min(1.0, kept / (4 * threshold));
    a.suspicion = confirmation * strength;
    if (limit && *limit > level)
        a.seconds_to_limit = (*limit - level) / slope;
    else if (limit)
        a.seconds_to_limit = 0.0;
    return a;
}

} // namespace memsight::analysis
