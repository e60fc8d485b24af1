#pragma once
// Decodes ring-buffer records and applies them to the agent's state. Runs on the event-pump thread.
#include "analysis/containers.h"
#include "analysis/exit_peaks.h"
#include "analysis/oom.h"
#include "analysis/proc_scanner.h"
#include "analysis/process_table.h"

#include <atomic>
#include <cstddef>

namespace memsight::agent {

class EventRouter {
public:
    EventRouter(analysis::ProcessTable& table, analysis::ExitPeaks* exits, analysis::OomTracker* ooms,
                analysis::CgroupResolver& cgroups, const analysis::ProcScanner& scanner)
        : table_(table), exits_(exits), ooms_(ooms), cgroups_(cgroups), scanner_(scanner)
    {
    }

    void handle(const void* data, size_t size);
    // Records too short for their type (would mean an ABI mismatch); exported as a loss reason.
    uint64_t malformed() const { return malformed_; }

private:
    analysis::ProcessTable& table_;
    analysis::ExitPeaks* exits_;
    analysis::OomTracker* ooms_;
    analysis::CgroupResolver& cgroups_;
    const analysis::ProcScanner& scanner_;
    std::atomic<uint64_t> malformed_{0};
};

} // namespace memsight::agent
