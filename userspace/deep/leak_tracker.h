#pragma once
// Follows a deep-tier session over time: per call site, live bytes at each reading, symbolized stacks (taken
// while the process is alive), and the report `memsight leaks` prints.
#include "deep/session.h"
#include "symbolize/symbolizer.h"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace memsight::deep {

struct SiteReport {
    uint32_t tgid = 0;
    std::string comm;
    bool mmap = false;
    uint64_t stack_id = 0; // hash of the user stack; 0 = none
    std::string site;               // first frame outside the allocator and runtime
    std::vector<std::string> stack; // full stack, innermost first
    std::vector<symbolize::Frame> frames;
    double live_bytes = 0, live_count = 0;
    double alloc_bytes = 0, alloc_count = 0, free_bytes = 0, free_count = 0;
    double alloc_bytes_per_second = 0, free_bytes_per_second = 0;
    double live_bytes_older_than_min_age = 0;
    double age_p50_s = 0, age_p90_s = 0, age_max_s = 0;
    std::vector<double> live_series; // live bytes at each reading
    bool growing = false;
};

class LeakTracker {
public:
    LeakTracker(const Session& session, std::chrono::milliseconds min_age) : session_(session), min_age_(min_age) {}

    // Takes one reading (call every interval, and once at the end).
    void sample();
    // Sites by live bytes, largest first. `elapsed_s` is the session's length so far.
    std::vector<SiteReport> report(double elapsed_s) const;

    // The growth rule (exposed for tests): at least 3 readings; live bytes rose in at least half of the steps
    // and fell in at most a tenth; rose by at least 4 KiB and 10% of the peak overall; and some of the live
    // bytes are older than --min-age.
    static bool is_growing(const std::vector<double>& series, double older_than_min_age);

private:
    const std::vector<symbolize::Frame>& frames_of(uint32_t tgid, uint64_t stack_id);

    const Session& session_;
    std::chrono::milliseconds min_age_;
    std::map<uint32_t, std::optional<symbolize::ProcessSymbolizer>> symbolizers_;
    std::map<uint32_t, std::string> comms_;
    std::map<std::pair<uint32_t, uint64_t>, std::vector<symbolize::Frame>> frames_;
    std::map<std::tuple<uint32_t, uint64_t, bool>, std::vector<double>> series_;
    std::vector<SiteReading> last_;
    size_t readings_ = 0;
};

} // namespace memsight::deep
