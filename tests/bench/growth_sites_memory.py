#!/usr/bin/env python3
"""What growth sites cost the agent in memory and CPU on a host with many growing processes.

Runs tests/scenarios/many_growers (--processes children, each growing at --rate KiB/s from one of 8 functions
through 0..4 extra frames) under `memsight agent` (escalation off), once per configuration, one after the other:

  faults-off      kernel.page_faults.enabled: false         (no growth sites at all: the baseline)
  frame-pointer   kernel.page_faults.stack_window: 0        (stacks walked by frame pointers in the kernel)
  cfi             the default (8 KiB stack copies unwound with CFI in the agent)

each with the page-fault sample period of --period (default: the built-in 1000; 10 fills the tables as fast as
a busy host would). Every 10 s it reads the agent's VmRSS and CPU time (/proc) and its metrics
memsight_growth_site_stacks, memsight_fault_stacks_unwound_total and the growth-site losses, and reports per
configuration: the agent's RSS before the growers start, at the end and its peak (VmHWM), its CPU seconds over
the run, the (process, stack) pairs kept, and how the stacks were unwound.

    sudo python3 tests/bench/growth_sites_memory.py [--memsight build/userspace/memsight] \\
        [--scenario-dir build/tests/scenarios] [--processes 1000] [--rate 8] [--minutes 3] [--period 10] \\
        [--configs faults-off,frame-pointer,cfi] [--json FILE]

Memory: the growers hold about processes x (rate x run time + ~0.3 MiB). Python 3 standard library only.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_agent import Agent, BenchError, ScenarioProcess, log  # noqa: E402
from growth_site_accuracy import REPO, dump_block_yaml, merge  # noqa: E402

CONFIGS = {
    "faults-off": {"kernel": {"page_faults": {"enabled": "false"}}},
    "frame-pointer": {"kernel": {"page_faults": {"stack_window": "0"}}},
    "cfi": {},
}
BASE = {"processes": {"top_by_rss": "10000"}, "escalation": {"enabled": "false"}}
TICK = os.sysconf("SC_CLK_TCK")


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def metric(text, name, **labels):
    total = None
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = re.match(re.escape(name) + r'(\{[^}]*\})?\s+(\S+)$', line)
        if not m or any(f'{k}="{v}"' not in (m.group(1) or "") for k, v in labels.items()):
            continue
        total = (total or 0) + float(m.group(2))
    return total


def run_config(name, args, workdir):
    config = merge(BASE, CONFIGS[name])
    if args.period:
        config = merge(config, {"kernel": {"page_faults": {"sample_period": str(args.period)}}})
    agent = Agent(args.memsight, workdir, dump_block_yaml(config))
    agent.start()
    growers = None
    try:
        time.sleep(3)  # the start-up scans
        pid = agent.proc.pid
        rss_before = status_kib(pid, "VmRSS")
        cpu_before = cpu_seconds(pid)
        growers = ScenarioProcess("many_growers", [os.path.join(args.scenario_dir, "many_growers"),
                                                   str(args.processes), str(args.rate)],
                                  os.path.join(workdir, "many_growers.stderr"))
        growers.start()
        growers.wait_ready(timeout=120)  # forking the children takes a while
        started = time.monotonic()
        readings = []
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(10)
            agent.check_alive()
            text = agent.scrape()
            readings.append({
                "seconds": round(time.monotonic() - started),
                "rss_kib": status_kib(pid, "VmRSS"),
                "stacks": metric(text, "memsight_growth_site_stacks"),
            })
            log(f"  {name}: {readings[-1]}")
        text = agent.scrape()
        return {
            "config": name,
            "period": args.period or 1000,
            "rss_before_mib": rss_before / 1024,
            "rss_end_mib": status_kib(pid, "VmRSS") / 1024,
            "rss_peak_mib": status_kib(pid, "VmHWM") / 1024,
            "cpu_seconds": cpu_seconds(pid) - cpu_before,
            "stacks_end": metric(text, "memsight_growth_site_stacks"),
            "stacks_max": max((r["stacks"] or 0) for r in readings) if readings else None,
            "lost_growth_site_stacks": metric(text, "memsight_events_lost_total", reason="growth_site_stacks"),
            "lost_fault_stack_ring": metric(text, "memsight_events_lost_total", reason="fault_stack_ring"),
            "unwound_cfi": metric(text, "memsight_fault_stacks_unwound_total", method="cfi"),
            "unwound_frame_pointer": metric(text, "memsight_fault_stacks_unwound_total", method="frame_pointer"),
            "fault_samples": metric(text, "memsight_events_total", type="fault_sample"),
            "readings": readings,
        }
    finally:
        if growers:
            growers.stop()
        agent.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--memsight", default=os.path.join(REPO, "build/userspace/memsight"))
    ap.add_argument("--scenario-dir", default=os.path.join(REPO, "build/tests/scenarios"))
    ap.add_argument("--processes", type=int, default=1000)
    ap.add_argument("--rate", type=int, default=8, help="KiB/s per process (default 8)")
    ap.add_argument("--minutes", type=float, default=3)
    ap.add_argument("--period", type=int, default=0, help="page faults per sample (default: the built-in)")
    ap.add_argument("--configs", default="faults-off,frame-pointer,cfi")
    ap.add_argument("--json")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("growth_sites_memory.py: run as root (the agent loads BPF programs)", file=sys.stderr)
        return 1
    results = []
    try:
        for name in args.configs.split(","):
            if name not in CONFIGS:
                raise BenchError(f"unknown config {name!r} (known: {', '.join(CONFIGS)})")
            log(f"{name}: {args.processes} processes at {args.rate} KiB/s for {args.minutes} min")
            with tempfile.TemporaryDirectory(prefix="memsight-sites-mem-") as workdir:
                results.append(run_config(name, args, workdir))
    except BenchError as e:
        print(f"growth_sites_memory.py: {e}", file=sys.stderr)
        return 1
    log()
    log(f"{'config':<14} {'period':>6} {'RSS before':>10} {'RSS end':>8} {'RSS peak':>8} {'CPU s':>6} "
        f"{'stacks':>7} {'max':>6} {'lost':>5} {'cfi':>7} {'fp':>7}")
    for r in results:
        log(f"{r['config']:<14} {r['period']:>6} {r['rss_before_mib']:>9.1f}M {r['rss_end_mib']:>7.1f}M "
            f"{r['rss_peak_mib']:>7.1f}M {r['cpu_seconds']:>6.1f} {r['stacks_end'] or 0:>7.0f} "
            f"{r['stacks_max'] or 0:>6.0f} {r['lost_growth_site_stacks'] or 0:>5.0f} {r['unwound_cfi'] or 0:>7.0f} "
            f"{r['unwound_frame_pointer'] or 0:>7.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"processes": args.processes, "rate_kib_s": args.rate, "minutes": args.minutes,
                       "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
