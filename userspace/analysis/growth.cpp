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

Assessment assess_growth(std::span<const Point> series, std::optional<double> limit, const GrowthPolicy& policy)
{
    Assessment a;
    a.growth_bytes_per_second = theil_sen_slope(series);
    if (series.size() < policy.min_points || series.size() < 2 * policy.segments) {
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

    // Confirmation: the window is cut in parts and each part's median level must rise over the previous one
    // (steady, slow and bursty/step growth all do; noise does not). The troughs (each part's minimum) must rise
    // too: a sawtooth or GC cycle grows within parts but not from trough to trough.
    const size_t n = series.size();
    const size_t parts = policy.segments;
    size_t confirming = 0;
    std::vector<Point> troughs;
    double previous_median = 0;
    double last_slope = 0;
    for (size_t k = 0; k < parts; ++k) {
        const auto part = series.subspan(k * n / parts, (k + 1) * n / parts - k * n / parts);
        std::vector<double> values;
        for (const auto& p : part)
            values.push_back(p.bytes);
        const double med = median(values);
        const double part_span = part.back().t - part.front().t;
        if (k > 0 && med - previous_median > 0.25 * slope * std::max(part_span, span / static_cast<double>(parts)))
            ++confirming;
        previous_median = med;
        troughs.push_back(*std::min_element(part.begin(), part.end(),
                                            [](const Point& x, const Point& y) { return x.bytes < y.bytes; }));
        if (k == parts - 1) {
            // A step inside the last part makes its median slope 0 although it grew: use the net change too.
            const double net = (part.back().bytes - part.front().bytes) / std::max(1e-9, part_span);
            last_slope = std::max(theil_sen_slope(part), net);
        }
    }
    if (last_slope < policy.plateau_ratio * slope) {
        a.reasons.push_back("plateau"); // warm-up that stopped, a cache that filled
        return a;
    }
    const double trough_rise = troughs.back().bytes - troughs.front().bytes;
    if (trough_rise < 0.5 * threshold) {
        a.reasons.push_back("cyclic"); // grows and gives back: sawtooth heap, GC cycles
        return a;
    }
    a.reasons.push_back("growing");
    a.reasons.push_back("confirmed_" + std::to_string(confirming) + "_of_" + std::to_string(parts - 1));
    const double confirmation = static_cast<double>(confirming) / static_cast<double>(parts - 1);
    const double significance = std::min(1.0, growth / (4 * threshold));
    a.suspicion = confirmation * (0.5 + 0.5 * significance);
    if (limit && *limit > level)
        a.seconds_to_limit = (*limit - level) / slope;
    else if (limit)
        a.seconds_to_limit = 0.0;
    return a;
}

} // namespace memsight::analysis
