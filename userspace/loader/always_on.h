#pragma once
// Owner of the always-on BPF programs: loads the skeleton, attaches the tracepoints and the sampled
// page-fault perf events, and hands out typed kernel events, named counters and the fault profile.
#include "memsight/kernel_events.h"
#include "python/frames.h"

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace memsight::loader {

// Faults per sample per CPU, chosen by measurement (docs/performance.md).
inline constexpr uint64_t kDefaultFaultSamplePeriod = 1000;
// Stack copied per sample: 8 KiB reached the leaking function in 99.4-99.8% of samples
// (docs/design/growth-site-unwinding.md).
inline constexpr uint32_t kDefaultStackWindow = 8192;
// The copies wait in this ring between drains (every poll of the agent's ring-buffer thread, <= 200 ms).
inline constexpr uint32_t kFaultStackRingBytes = 8u << 20;

struct AlwaysOnOptions {
    uint32_t ringbuf_bytes = 1u << 20;
    bool lifecycle = true;            // sched_process_exec / sched_process_exit
    bool oom = true;                  // oom:mark_victim
    bool page_faults = true;          // sampled page faults (raw tracepoint page_fault_user, else perf events)
    uint64_t fault_sample_period = 0; // 0 = kDefaultFaultSamplePeriod
    // Bytes of user stack copied per sample and unwound in userspace with the binaries' CFI (raw tracepoint only);
    // 0 = the kernel walks frame pointers, which stop inside glibc (docs/design/growth-site-unwinding.md).
    uint32_t stack_window = kDefaultStackWindow;
    pid_t fault_tgid = 0;         // only this process's faults are sampled (0 = every process)
    bool fault_addresses = false; // FaultStack::addresses: each sample's faulting address (copied stacks only)
    bool python_allocs = false;   // room for attach_python_allocs() (a 2 MiB ring)
};

// A new object of a watched Python type, and the Python stack that made it (python::is_python_frame entries).
struct PythonAlloc {
    uint32_t tgid = 0;
    uint64_t type = 0, object = 0;
    std::vector<uint64_t> stack;
};

struct FaultStack {
    uint32_t tgid = 0;
    std::string comm;
    // Innermost first; empty when the stack was lost. Entries python::is_python_frame() are CPython frames of a
    // process registered with watch_python(), in place of the eval loop's native frames.
    std::vector<uint64_t> user_stack;
    uint64_t samples = 0;
    std::vector<uint64_t> addresses; // with AlwaysOnOptions::fault_addresses: where each sample faulted
};

class AlwaysOnProbes {
public:
    // Called on the thread that polls, once per decoded record.
    using EventHandler = std::function<void(const KernelEvent&)>;

    // Loads and attaches; throws UserError naming what is missing (capability, BTF, tracepoint).
    AlwaysOnProbes(const AlwaysOnOptions& opts, EventHandler handler);
    ~AlwaysOnProbes();
    AlwaysOnProbes(const AlwaysOnProbes&) = delete;
    AlwaysOnProbes& operator=(const AlwaysOnProbes&) = delete;

    // Waits up to timeout_ms for records and dispatches them on this thread, then unwinds the fault stacks copied
    // since the last call. Returns records handled.
    int poll(int timeout_ms);
    // Kernel-side counters summed over CPUs, and the records that could not be decoded.
    KernelCounters counters() const;
    // Processes whose copied stacks are unwound first (symbolize::StackUnwinder::prioritize).
    void prioritize_unwinding(std::set<pid_t> tgids);
    // Python stacks (copied stacks only): the samples of `tgid` carry its CPython frames from now on, until it
    // exits or execs. Throws UserError when the BPF map is full (MEMSIGHT_PY_MAX_PROCS processes).
    void watch_python(pid_t tgid, const python::StackSource& source);
    // The same for a process that may be Python (python::stack_source_of): true when its frames are read from now
    // on; false when it is not Python, its frames cannot be read (one warning line), or stacks are not copied.
    bool watch_python_process(pid_t tgid);
    // Records the new objects of the watched types of `tgid` (after watch_python()): a return probe on
    // PyType_GenericAlloc in `binary` (a path this process can open, e.g. through /proc/PID/root), where CPython
    // allocates instances of classes. Needs AlwaysOnOptions::python_allocs. Throws UserError naming what failed.
    void attach_python_allocs(pid_t tgid, const std::string& binary);
    void watch_python_type(pid_t tgid, uint64_t type);
    // Takes the new objects recorded since the last call.
    std::vector<PythonAlloc> drain_python_allocs();
    // Takes (and removes) the fault samples aggregated since the last drain.
    std::vector<FaultStack> drain_faults();
    uint64_t fault_sample_period() const { return fault_period_; }
    // "raw_tracepoint" or "perf_event" (empty when page faults are not sampled).
    const std::string& fault_source() const { return fault_source_; }
    // Bytes of stack copied per sample; 0 when stacks are frame-pointer walks in the kernel.
    uint32_t stack_window() const { return stack_window_; }
    // Programs that failed to attach in optional parts (e.g. perf events on some CPUs).
    uint64_t attach_failures() const { return attach_failures_; }

private:
    void attach_fault_sampler();

    struct Impl;
    std::unique_ptr<Impl> impl_;
    uint64_t fault_period_ = 0;
    uint32_t stack_window_ = 0;
    std::string fault_source_;
    uint64_t attach_failures_ = 0;
};

// "1.1" etc. of the libbpf linked in.
std::string libbpf_version();

} // namespace memsight::loader
