#pragma once
// Unwinds the user stacks copied at sampled page faults, for every process on the host, at a bounded cost: one
// libdwfl view per process (opening one costs milliseconds: it reads the process's ELF files and their CFI), kept
// for the most recently sampled processes only, and opened at a limited rate. A sample that finds no view, and
// none can be opened now, is walked by frame pointers within its copy instead, as the kernel would have.
#include "symbolize/symbolizer.h"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <list>
#include <set>
#include <memory>
#include <unordered_map>
#include <vector>

namespace memsight::symbolize {

struct UnwinderLimits {
    // Measured with tests/bench/growth_sites_memory.py (docs/leak-detection.md): a view holds ~1 MiB and costs
    // 4-9 ms to open, so these bound the unwinder at ~32 MiB and < 5% of a core; the processes whose growth sites
    // are named (prioritize()) are opened regardless.
    size_t processes = 32;       // libdwfl views kept (least recently sampled evicted)
    double opens_per_second = 5; // new views per second, at most (bursts of that size too)
    std::chrono::seconds max_age{60}; // a view older than this is reopened (pid reuse, exec without an event)
};

class StackUnwinder {
public:
    using Clock = std::chrono::steady_clock;
    explicit StackUnwinder(UnwinderLimits limits = {});
    ~StackUnwinder();

    // Innermost first, in the form of bpf_get_stack (symbolize_stack's input). Never empty: at least the
    // faulting instruction.
    std::vector<uint64_t> unwind(pid_t tgid, const UserStackCopy& copy, Clock::time_point now = Clock::now());
    // The process exited or exec'd: its view is stale.
    void forget(pid_t tgid);
    // Processes whose stacks matter most (those whose growth sites are named): their views are opened whatever
    // the open rate and evicted last. Replaces the previous set.
    void prioritize(std::set<pid_t> tgids);

    struct Stats {
        uint64_t cfi = 0;           // unwound with call-frame information
        uint64_t frame_pointer = 0; // no view (process gone, or the open rate spent): frame pointers in the copy
        uint64_t opens = 0;         // views opened
        size_t cached = 0;          // views kept now
    };
    Stats stats() const;

private:
    struct View {
        pid_t tgid = 0;
        std::unique_ptr<ProcessSymbolizer> sym; // nullptr: the process could not be opened (gone, no access)
        Clock::time_point opened;
        bool reopened_for_miss = false; // one reopen per view when an address is outside every module (dlopen)
    };
    View* view_for(pid_t tgid, uint64_t ip, Clock::time_point now);
    bool take_open_token(pid_t tgid, Clock::time_point now);
    void evict_beyond_limit();

    UnwinderLimits limits_;
    std::list<View> lru_; // most recently used first
    std::unordered_map<pid_t, std::list<View>::iterator> by_pid_;
    std::set<pid_t> priority_;
    double tokens_;
    Clock::time_point refilled_{};
    Stats stats_;
};

} // namespace memsight::symbolize
