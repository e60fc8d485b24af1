#pragma once
// Start-up checks that turn a missing privilege or kernel feature into one clear line.
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

} // namespace memsight::util
