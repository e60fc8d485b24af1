#pragma once
// What one deep-tier probe hit costs on this machine, measured once per process and mode in a forked, orphaned
// calibrating process (docs/escalation.md, "Calibration"). The overhead governor (deep/governor.h) uses it.
#include "deep/governor.h"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace memsight::deep {

// The result of one calibration run.
struct Calibration {
    double seconds_per_hit = 0; // (traced - untraced CPU) / hits
    double untraced_pair_s = 0; // one malloc+free pair without probes (CPU seconds)
    double traced_pair_s = 0;   // ... with a deep session attached
    double hits_per_pair = 0;   // counted probe hits per pair (2: one allocation call, one free call)
    double took_s = 0;          // wall time of the whole calibration
    bool exact = true;          // the session mode it measured (sample_bytes <= 1)
};

// Measures `pairs` malloc(64)+free pairs (thread CPU time) in a worker process untraced, then traced by a deep
// session with `sample_bytes`, and returns the difference per counted hit. The measuring happens in a forked,
// orphaned process that reports through a pipe and exits without detaching its probes one by one (that takes
// seconds; the kernel does it as the process exits), so this returns in well under a second. Call it before the
// process starts other threads: the forked process loads BPF and parses ELF files. Throws UserError when the
// session cannot attach (no privilege, no BTF) or the calibrating process fails.
Calibration calibrate_probe_cost(uint64_t sample_bytes, size_t pairs = 5000);

// The cost per hit for sessions in this mode (exact or sampled), calibrated on the first call in this process and
// cached for its lifetime. A failed calibration is logged once and gives kFallbackCostPerHit (measured = false).
struct ProbeCost {
    double seconds_per_hit = kFallbackCostPerHit;
    bool measured = false;
};
ProbeCost probe_cost(uint64_t sample_bytes);
// The cost already known for this mode, without calibrating (nullopt when probe_cost was never called for it).
std::optional<ProbeCost> cached_probe_cost(uint64_t sample_bytes);

} // namespace memsight::deep
