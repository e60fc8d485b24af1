#pragma once
// Start-up checks that turn a missing privilege or kernel feature into one clear line, and the drop of the
// capabilities the agent no longer needs once it has started.
#include <cstdint>
#include <string>

namespace memsight::util {

// Throws UserError naming the capability when the effective set lacks what loading BPF needs:
// CAP_BPF + CAP_PERFMON (Linux >= 5.8) or CAP_SYS_ADMIN.
void require_bpf_capabilities();
// Throws UserError when /sys/kernel/btf/vmlinux is missing (kernel built without CONFIG_DEBUG_INFO_BTF).
void require_kernel_btf();
// Makes sure tracefs is reachable for tracepoint attachment: returns the events directory in use.
// Mounts tracefs at /sys/kernel/tracing when neither it nor debugfs' tracing is mounted (logged);
// throws UserError when that fails.
std::string ensure_tracefs();
// Throws UserError naming the tracepoint when <tracefs>/events/<category>/<name> does not exist.
void require_tracepoint(const std::string& events_dir, const std::string& category, const std::string& name);

std::string kernel_release();

// Capability sets as the kernel's bit masks (bit N = capability N, as in /proc/PID/status).
using CapSet = uint64_t;

// What decides which capabilities the running agent still needs.
struct CapabilityFacts {
    CapSet permitted = 0;      // what the agent holds
    bool uprobe_multi = false; // the kernel has uprobe_multi links (deep-tier attaches need no perf event)
};

// The capabilities kept after start-up (a subset of facts.permitted). After start the agent still attaches deep-tier
// uprobes (CAP_BPF + CAP_PERFMON), opens other processes' files through /proc/PID/root and reads their memory
// (CAP_SYS_PTRACE), reads other users' /proc/PID/auxv for symbols (CAP_DAC_READ_SEARCH), and identifies mapped files
// through /proc/PID/map_files (CAP_CHECKPOINT_RESTORE, or CAP_SYS_ADMIN; Linux >= 5.9). CAP_SYS_ADMIN is
// kept only where those attaches need it: no CAP_BPF/CAP_PERFMON (kernels < 5.8 or not granted), or no
// uprobe_multi links (perf-event uprobes, kernels < 6.6). Everything else was for start-up only.
CapSet capabilities_to_keep(const CapabilityFacts& facts);

// "CAP_BPF CAP_PERFMON" ("none" for the empty set); unknown bits as "cap_N".
std::string capability_names(CapSet set);

struct CapabilityDrop {
    CapSet kept = 0;             // permitted (and effective) after the drop
    CapSet dropped = 0;          // removed from the permitted set
    CapSet bounding_dropped = 0; // removed from the bounding set (needs CAP_SETPCAP, else left as is)
    bool no_new_privs = false;   // PR_SET_NO_NEW_PRIVS is set
    int threads = 0;             // threads changed, the caller's included
    std::string problem;         // empty, or why a part of the drop failed (the rest was still done)
};

// Drops from every thread of the process the capabilities capabilities_to_keep() does not keep: effective,
// permitted, inheritable and bounding sets, all ambient capabilities, and sets no_new_privs. Capabilities are
// per thread in Linux, so the other threads (the HTTP server's) are asked by a signal to drop theirs; threads
// they start afterwards inherit the lowered sets. Never throws: an agent without capabilities has nothing to drop,
// and a refused part (a seccomp filter, say) is reported in `problem`. Logs one info line.
CapabilityDrop drop_unneeded_capabilities(bool uprobe_multi);

} // namespace memsight::util
