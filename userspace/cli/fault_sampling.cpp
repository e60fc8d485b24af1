#include "cli/fault_sampling.h"

#include "cli/commands.h"

#include <thread>

namespace memsight::cli {

std::unique_ptr<loader::AlwaysOnProbes> open_fault_sampler(uint64_t period, pid_t only, bool addresses)
{
    loader::AlwaysOnOptions opts;
    opts.fault_tgid = only;
    opts.fault_addresses = addresses;
    opts.lifecycle = false;
    opts.oom = false;
    opts.page_faults = true;
    opts.fault_sample_period = period;
    return std::make_unique<loader::AlwaysOnProbes>(opts, [](const KernelEvent&) {});
}

void sample_faults(loader::AlwaysOnProbes& probes, std::chrono::milliseconds duration,
                   const std::function<void(std::vector<loader::FaultStack>&&)>& take,
                   const std::function<bool()>& done)
{
    const auto& stop = stop_flag();
    const auto end = std::chrono::steady_clock::now() + duration;
    while (!stop.load() && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            kFaultDrainEvery, std::max<std::chrono::steady_clock::duration>(end - std::chrono::steady_clock::now(),
                                                                            std::chrono::milliseconds(1))));
        take(probes.drain_faults());
        if (done && done())
            break;
    }
    take(probes.drain_faults());
}

} // namespace memsight::cli
