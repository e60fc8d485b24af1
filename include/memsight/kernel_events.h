#pragma once
// The always-on tier's kernel records as C++ values: what loader::AlwaysOnProbes hands its users, decoded
// from the ring-buffer ABI (memsight/events.h, which stays between the BPF programs and the loader).
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <variant>

namespace memsight {

// sched:sched_process_exec
struct ExecEvent {
    pid_t pid = 0;
    std::string comm; // the new program's
};

// sched:sched_process_exit of a process's last thread.
struct ExitEvent {
    pid_t pid = 0;
    std::string comm;
    uint64_t peak_rss_bytes = 0; // lifetime high-water RSS (signal->maxrss)
    uint64_t cgroup_id = 0;      // memory cgroup kernfs id (= inode of its directory); 0 when unknown
    bool oom_victim = false;     // the OOM killer chose it
};

// oom:mark_victim. comm and the sizes come from the tracepoint on Linux >= 6.1; empty/0 before.
struct OomEvent {
    pid_t victim = 0;
    std::string comm;
    pid_t trigger = 0; // the task whose allocation triggered the kill
    std::string trigger_comm;
    int32_t oom_score_adj = 0;
    uint32_t uid = 0;
    uint64_t total_vm_bytes = 0, anon_rss_bytes = 0, file_rss_bytes = 0, shmem_rss_bytes = 0, pgtables_bytes = 0;
    uint64_t ts_ns = 0; // the kernel's time of the record, bpf_ktime_get_ns() (CLOCK_MONOTONIC); 0 = unknown
};

using KernelEvent = std::variant<ExecEvent, ExitEvent, OomEvent>;

// The always-on programs' counters, summed over CPUs, plus what userspace could not decode.
struct KernelCounters {
    uint64_t exec_seen = 0, exit_seen = 0, oom_seen = 0, fault_samples = 0;
    uint64_t lost_ringbuf_full = 0;   // a record could not be reserved
    uint64_t lost_stack_map = 0;      // a fault sample's stack could not be stored
    uint64_t lost_fault_map_full = 0; // the (process, stack) aggregation was full
    uint64_t lost_oom_map_full = 0;   // the pending OOM-victim map was full
    uint64_t lost_fault_stack_ring = 0; // a copied fault stack found the ring full
    uint64_t fault_stacks_cfi = 0;            // copied stacks unwound with call-frame information
    uint64_t fault_stacks_frame_pointer = 0;  // copied stacks walked by frame pointers (no libdwfl view of the process)
    uint64_t malformed_records = 0;   // records too short for their type, or of an unknown type
    uint64_t python_alloc_calls = 0;      // returns of PyType_GenericAlloc seen by an attached allocation probe
    uint64_t lost_python_alloc_ring = 0;  // new objects of watched types that found the ring full
};

} // namespace memsight
