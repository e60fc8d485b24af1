#include "analysis/exit_peaks.h"

#include <algorithm>

namespace memsight::analysis {

void ExitPeaks::record(ExitRecord r)
{
    std::lock_guard lock(mu_);
    const double peak = static_cast<double>(r.peak_rss);
    ++hist_.count;
    hist_.sum += peak;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
        if (peak <= kBuckets[i])
            ++hist_.cumulative[i];
    }
    if (top_ == 0)
        return;
    expire(r.when);
    auto larger = [](const ExitRecord& a, const ExitRecord& b) { return a.peak_rss > b.peak_rss; };
    if (recent_.size() == capacity_) {
        if (recent_.back().peak_rss >= r.peak_rss)
            return;
        recent_.pop_back();
    }
    recent_.insert(std::upper_bound(recent_.begin(), recent_.end(), r, larger), std::move(r));
}

void ExitPeaks::expire(Clock::time_point now) const
{
    std::erase_if(recent_, [&](const ExitRecord& e) { return now - e.when > window_; });
}

std::vector<ExitRecord> ExitPeaks::recent(Clock::time_point now) const
{
    std::lock_guard lock(mu_);
    expire(now);
    return {recent_.begin(), recent_.begin() + static_cast<std::ptrdiff_t>(std::min(top_, recent_.size()))};
}

ExitPeaks::Histogram ExitPeaks::histogram() const
{
    std::lock_guard lock(mu_);
    return hist_;
}

} // namespace memsight::analysis
