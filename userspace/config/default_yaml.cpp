#include "config/config.h"

namespace memsight::config {

namespace {

// Keep in sync with defaults_for(Profile::Prod); tests/unit/test_config.cpp checks that they are equal.
constexpr std::string_view kDefaultYaml = R"yaml(# memsight agent configuration (the built-in defaults, profile "prod").
#
# Precedence, lowest first: built-in defaults < the profile's defaults < this file
# < command-line flags (memsight agent --listen ADDR:PORT --interval DURATION).
# Every key is optional; remove a key to get the selected profile's default for it.
# Durations are whole numbers with a unit, one or more in a row: 250ms, 10s, 5m, 1h, 1h30m.
# Reference: docs/configuration.md
#
# NOTE: every key below is set explicitly to the prod value. If you change `profile:`,
# delete the keys that the profile should choose, or they keep overriding it.

# Which defaults to start from: dev | staging | prod. Applied before every other key,
# wherever it appears in the file.
profile: prod

# Prometheus endpoint (and /healthz, /readyz), ADDR:PORT. Port 1..65535. A host name must resolve at start-up;
# the agent listens on each of its IPv4 addresses.
# Use 0.0.0.0:9756 to expose the endpoint on every IPv4 address (e.g. in a DaemonSet).
listen: 127.0.0.1:9756

# HTTP path of the metrics endpoint; must start with '/'.
metrics_path: /metrics

# How often /proc and cgroupfs are read (RSS, swap, memcg readings). 100ms..1h.
interval: 10s

# Agent log verbosity: trace | debug | info | warn | error | off.
log_level: info

# Per-process series are exported only for the top-N processes, which bounds cardinality.
processes:
  # Processes with the largest RSS. 0..10000.
  top_by_rss: 20
  # Processes with the fastest RSS growth over growth_window. 0..10000.
  top_by_growth: 10
  # Window over which growth is measured. At least `interval`, at most 24h.
  growth_window: 5m

# Peak RSS of short-lived processes: the largest `top` exits seen in the last `window`.
exit_peaks:
  # Number of exits exported. 0..1000.
  top: 10
  # Look-back window. 1s..24h.
  window: 5m

# OOM kills are counted per (comm, container).
oom:
  # Distinct (comm, container) series; further ones fold into comm="_other_". 1..100000.
  max_series: 500

# Kernel-side (BPF) settings.
kernel:
  # Size of the shared BPF ring buffer for rare events (OOM, exit, samples), in bytes.
  # A power of two, 4096..1073741824 (4 KiB..1 GiB).
  ringbuf_bytes: 1048576
  # Sampled page-fault stacks ("where new memory is being touched").
  page_faults:
    # Turn the page-fault sampler on or off: true | false.
    enabled: true
    # Page faults per sample, per CPU; 0 = the built-in measured default. 0..1000000000.
    sample_period: 0

# Deep-tier sessions the agent runs on request (memsight agent --deep-pid PID / --deep-cgroup ID):
# uprobes on the process's allocator, exported as memsight_heap_* per call site.
deep:
  # Mean bytes between sampled allocations; 1 = every allocation (exact, costlier). 1..1073741824.
  sample_bytes: 65536
  # Call sites exported per watched process, largest live bytes first. 1..100.
  top_sites: 5
  # A session ends after this long (its series disappear). 1s..24h.
  max_duration: 10m
  # Overhead governor: a session is stopped when its probes take more than this fraction of the traced
  # processes' CPU time (docs/escalation.md). A fraction (0.02) or a percentage (2%); 0 = no limit.
  overhead_budget: 2%

# Automatic escalation: a deep-tier session on a process whose leak suspicion crosses the threshold,
# time-boxed, exported as memsight_heap_* and written as a pprof file at its end (docs/escalation.md).
escalation:
  # Turn automatic escalation on or off: true | false.
  enabled: true
  # Leak suspicion (memsight_process_leak_suspicion) that starts a session. Greater than 0, at most 1.
  threshold: 0.8
  # Length of one escalated session. 1s..24h.
  duration: 2m
  # No new session on the same process (pid and start time) for this long after one ended. 1s..168h.
  cooldown: 1h
  # Escalated sessions running at once (sessions started with --deep-pid are not counted). 1..16.
  max_concurrent: 1
  # Which processes may be escalated. Empty include lists allow every process; an exclude match wins.
  selector:
    # Command names (/proc/PID/comm), fnmatch globs like java or python*.
    include_comm: []
    # Command names never escalated.
    exclude_comm: []
    # Memory-cgroup paths (that cgroup and below) or container ids (12 to 64 hex digits).
    include_cgroup: []
    # Cgroups or containers never escalated.
    exclude_cgroup: []
  # Directory of the pprof files written at each session's end (created if missing); "" = no files.
  profile_dir: /var/lib/memsight/profiles
  # Profile files kept in profile_dir; the oldest are removed first.
  retention:
    # At most this many files. 1..100000.
    max_files: 50
    # None older than this. 1m..8784h.
    max_age: 168h
)yaml";

} // namespace

std::string_view embedded_default_yaml()
{
    return kDefaultYaml;
}

} // namespace memsight::config
