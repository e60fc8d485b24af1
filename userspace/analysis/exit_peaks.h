#pragma once
// Peak RSS of processes at exit: a histogram over all exits and the largest recent ones, so a
// short-lived process that spiked stays visible after it is gone. Thread-safe.
#include "analysis/process_table.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <vector>

namespace memsight::analysis {

struct ExitRecord {
    pid_t pid = 0;
    std::string comm;
    procfs::ContainerIdentity identity;
    uint64_t peak_rss = 0;
    Clock::time_point when;
};

class ExitPeaks {
public:
    // Upper bounds of the histogram buckets (bytes): 1 MiB .. 16 GiB, powers of 4.
    static constexpr std::array<double, 8> kBuckets = {1.0 * (1 << 20),    4.0 * (1 << 20),    16.0 * (1 << 20),
                                                       64.0 * (1 << 20),   256.0 * (1 << 20),  1.0 * (1ull << 30),
                                                       4.0 * (1ull << 30), 16.0 * (1ull << 30)};
    struct Histogram {
        std::array<uint64_t, kBuckets.size()> cumulative{}; // count <= bucket bound
        uint64_t count = 0;
        double sum = 0;
    };

    // Keeps up to max(1000, 10 * top) exits of the window so that when a large one expires the next
    // largest are still known; beyond that the smallest are forgotten.
    ExitPeaks(size_t top, Clock::duration window)
        : top_(top), capacity_(std::max<size_t>(1000, 10 * top)), window_(window)
    {
    }

    void record(ExitRecord r);
    // The largest `top` exits of the last window, largest first.
    std::vector<ExitRecord> recent(Clock::time_point now) const;
    Histogram histogram() const;

private:
    void expire(Clock::time_point now) const;

    size_t top_;
    size_t capacity_;
    Clock::duration window_;
    mutable std::mutex mu_;
    mutable std::vector<ExitRecord> recent_; // at most capacity_, sorted by peak, largest first
    Histogram hist_;
};

} // namespace memsight::analysis
