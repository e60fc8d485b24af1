#pragma once
// The always-on page-fault sampler alone, for the commands that sample faults themselves (faults, growth, top):
// no lifecycle or OOM programs, and drained as often as the agent drains it (the copied fault stacks wait in a
// bounded ring until then).
#include "loader/always_on.h"

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

namespace memsight::cli {

inline constexpr auto kFaultDrainEvery = std::chrono::milliseconds(200);

// Loads and attaches the sampler; throws UserError naming what is missing. period 0 = the built-in default; `only`
// samples that process's faults alone; `addresses` keeps each sample's faulting address (FaultStack::addresses).
std::unique_ptr<loader::AlwaysOnProbes> open_fault_sampler(uint64_t period, pid_t only = 0, bool addresses = false);


// Drains `probes` every kFaultDrainEvery for `duration`, handing each batch to `take`, until the time is up, the
// stop flag is set or `done()` returns true; drains once more at the end.
void sample_faults(loader::AlwaysOnProbes& probes, std::chrono::milliseconds duration,
                   const std::function<void(std::vector<loader::FaultStack>&&)>& take,
                   const std::function<bool()>& done = {});

} // namespace memsight::cli
