#pragma once
// Growth sites: the sampled page-fault stacks of each process over the growth window. Resident memory only grows
// through page faults, so the stacks that fault in new pages are the code that grows a process. This keeps the
// counts (bounded); naming the stacks is the agent's (it symbolizes only the processes it exports).
#include "analysis/process_table.h"

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <utility>
#include <vector>

namespace memsight::analysis {

// Whose growth sites the agent names, and in what order: processes (and containers) that grow or are suspected
// of leaking, the most suspected first, then the fastest-growing. `memsight growth --agent` ranks by it too.
inline bool names_growth_sites(double leak_suspicion, double growth_bytes_per_second)
{
    return leak_suspicion > 0 || growth_bytes_per_second > 0;
}
inline bool named_before(double suspicion_a, double growth_a, double suspicion_b, double growth_b)
{
    return suspicion_a != suspicion_b ? suspicion_a > suspicion_b : growth_a > growth_b;
}

class GrowthSites {
public:
    // Distinct (process, stack) pairs kept at most, and per process, so that one process with many stacks (a
    // compiler) cannot crowd out the others. The samples of a new stack beyond either bound are not lost: they are
    // folded into the process's empty stack (named "[stack not kept]") and counted in folded_samples().
    // 8192 x (up to 64 frames + one reading per scan in the window) is at most ~9 MiB at the defaults, plus one
    // folded entry per process.
    static constexpr size_t kDefaultMaxStacks = 8192;
    static constexpr size_t kDefaultMaxStacksPerProcess = 512;

    explicit GrowthSites(Clock::duration window, size_t max_stacks = kDefaultMaxStacks,
                         size_t max_per_process = kDefaultMaxStacksPerProcess)
        : window_(window), max_stacks_(max_stacks), max_per_process_(max_per_process)
    {
    }

    // Samples of one stack (user stack, innermost first) since the last drain of the sampler.
    void add(pid_t pid, const std::vector<uint64_t>& stack, uint64_t samples, Clock::time_point now);
    // Forgets readings older than the window, and processes that are not in `live`.
    void expire(Clock::time_point now, const std::set<pid_t>& live);

    struct Stack {
        std::vector<uint64_t> ips; // innermost first
        uint64_t samples = 0;      // within the window
    };
    std::vector<Stack> stacks_of(pid_t pid) const; // most samples first
    size_t stacks() const { return count_; }
    uint64_t folded_samples() const { return folded_; }

private:
    using Readings = std::deque<std::pair<Clock::time_point, uint64_t>>;
    Clock::duration window_;
    size_t max_stacks_;
    size_t max_per_process_;
    size_t count_ = 0;
    uint64_t folded_ = 0;
    std::map<pid_t, std::map<std::vector<uint64_t>, Readings>> by_pid_;
};

} // namespace memsight::analysis
