#!/usr/bin/env python3
"""Deep-tier overhead: ns per malloc+free pair of a churn workload (bench_pairs), side by side in one run:

  untraced        no tracer
  floor           bpftrace counting only on malloc entry, malloc return and free entry (the bare probe cost)
  bookkeeping     bpftrace keeping exact live blocks with no stacks: size per thread at malloc entry, a map
                  insert at return, a delete at free (the least any exact tracker must do per pair)
  exact           memsight leaks --sample-bytes 1
  sampled         memsight leaks --sample-bytes 65536

Each rep runs every configuration once in a rotating order so drift hits all alike; the summary gives the
median ns/pair per configuration and the ratios exact/floor and sampled/floor (the issue's target: exact <=
1.05 x floor), with the per-rep ratios.

With --perf-stat, `perf stat -e instructions -p PID` also counts the instructions the workload process
executes per pair, user and kernel (the traps and the BPF programs run in its context). On this shared VM
wall time scatters by tens of percent between identical runs; instruction counts do not, so their ratios
are the stable measure of the work each tracer adds.

    python3 tests/bench/deep_overhead.py --memsight build/userspace/memsight --bench-dir build/tests/bench \
        [--reps 5] [--pairs 200000] [--depth 0] [--perf-stat] [--json FILE]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def run_once(cfg, args):
    work = subprocess.Popen([os.path.join(args.bench_dir, "bench_pairs"), str(args.pairs), str(args.depth)],
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    pid = int(work.stdout.readline().split()[1])
    tracer = None
    try:
        if cfg in ("floor", "bookkeeping"):
            if cfg == "floor":
                prog = (f"uprobe:{LIBC}:malloc {{ @entry = count(); }} uretprobe:{LIBC}:malloc {{ @ret = count(); }} "
                        f"uprobe:{LIBC}:free {{ @free = count(); }}")
            else:
                prog = (f"uprobe:{LIBC}:malloc {{ @size[tid] = arg0; }} "
                        f"uretprobe:{LIBC}:malloc {{ @live[retval] = @size[tid]; }} "
                        f"uprobe:{LIBC}:free {{ delete(@live[arg0]); }} END {{ clear(@live); clear(@size); }}")
            tracer = subprocess.Popen(["bpftrace", "-p", str(pid), "-e", prog], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
            seen = []
            while True:  # bpftrace may warn first (e.g. about RLIMIT_MEMLOCK) and still attach
                line = tracer.stdout.readline()
                if not line:
                    raise RuntimeError("bpftrace exited: " + "".join(seen))
                seen.append(line)
                if line.startswith("Attaching"):
                    break
            time.sleep(0.5)
        elif cfg in ("exact", "sampled"):
            sample = "1" if cfg == "exact" else "65536"
            tracer = subprocess.Popen([args.memsight, "leaks", "--pid", str(pid), "--sample-bytes", sample,
                                       "--duration", "10m", "--interval", "1s", "--format", "json",
                                       "--overhead-budget", "0"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            while True:
                line = tracer.stderr.readline()
                if not line:
                    raise RuntimeError("memsight leaks exited before attaching")
                if "hooked" in line:
                    break
            time.sleep(0.5)
        perf_out = None
        if args.perf_stat:
            fd, perf_out = tempfile.mkstemp(prefix="memsight-deep-perf-", suffix=".csv")
            os.close(fd)
            perf = subprocess.Popen(["perf", "stat", "-e", "instructions", "-x", ",", "-o", perf_out,
                                     "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
        work.stdin.write("go\n")
        work.stdin.flush()
        out = work.stdout.readline().split()
        work.wait(timeout=600)
        instr = None
        if perf_out:
            perf.wait(timeout=60)  # perf stat -p ends with its target
            instr = read_instructions(perf_out) / args.pairs
            os.unlink(perf_out)
        return float(out[1]), instr
    finally:
        if tracer:
            tracer.send_signal(2)
            try:
                tracer.wait(timeout=60)
            except subprocess.TimeoutExpired:
                tracer.kill()
        if work.poll() is None:
            work.kill()


def read_instructions(path):
    with open(path) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[2].startswith("instructions"):
                if not fields[0].replace(".", "").isdigit():
                    sys.exit(f"deep_overhead.py: perf stat could not count instructions ({fields[0]}); drop --perf-stat")
                return float(fields[0])
    sys.exit(f"deep_overhead.py: perf stat printed no instruction count ({path})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memsight", required=True)
    ap.add_argument("--bench-dir", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=200000)
    ap.add_argument("--depth", type=int, default=0,
                    help="calls between main and the churn loop: deeper allocation stacks (default 0)")
    ap.add_argument("--perf-stat", action="store_true", help="also count instructions per pair (perf stat)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("deep_overhead.py: needs root (uprobes)")
    if not shutil.which("bpftrace"):
        sys.exit("deep_overhead.py: bpftrace not installed (scripts/setup.sh installs it)")
    if args.perf_stat and not shutil.which("perf"):
        sys.exit("deep_overhead.py: --perf-stat needs perf (Debian linux-perf)")
    configs = ["untraced", "floor", "bookkeeping", "exact", "sampled"]
    results = {c: [] for c in configs}
    instructions = {c: [] for c in configs}
    load = []
    for rep in range(args.reps):
        order = configs[rep % len(configs):] + configs[:rep % len(configs)]
        for cfg in order:
            ns, instr = run_once(cfg, args)
            results[cfg].append(ns)
            instructions[cfg].append(instr)
        load.append(os.getloadavg()[0])
        line = ", ".join(f"{c} {results[c][-1]:.0f} ns" for c in configs)
        if args.perf_stat:
            line += " | instructions/pair " + ", ".join(f"{c} {instructions[c][-1]:.0f}" for c in configs)
        print(f"rep {rep + 1}: {line}", flush=True)
    med = {c: statistics.median(v) for c, v in results.items()}
    print("\nns per malloc+free pair (median of %d reps, %d pairs each; load avg %.2f..%.2f)" %
          (args.reps, args.pairs, min(load), max(load)))
    for c in configs:
        print(f"  {c:9s} {med[c]:10.1f}")
    summary = {"reps": args.reps, "pairs": args.pairs, "depth": args.depth, "load_avg": load, "ns_per_pair": results, "median": med}
    for c in ("bookkeeping", "exact", "sampled"):
        per_rep = [x / f for x, f in zip(results[c], results["floor"])]
        summary[f"{c}_over_floor"] = {"median_ratio": med[c] / med["floor"], "per_rep": per_rep}
        print(f"  {c}/floor = {med[c] / med['floor']:.3f}  (per rep: {', '.join(f'{r:.3f}' for r in per_rep)})")
    print(f"  floor/untraced = {med['floor'] / med['untraced']:.1f}  exact/untraced = {med['exact'] / med['untraced']:.1f}")
    if args.perf_stat:
        imed = {c: statistics.median(v) for c, v in instructions.items()}
        summary["instructions_per_pair"] = instructions
        print("\ninstructions per pair, user + kernel (median of %d reps)" % args.reps)
        for c in configs:
            print(f"  {c:9s} {imed[c]:10.0f}")
        for c in ("bookkeeping", "exact", "sampled"):
            per_rep = [x / f for x, f in zip(instructions[c], instructions["floor"])]
            summary[f"{c}_over_floor_instructions"] = {"median_ratio": imed[c] / imed["floor"], "per_rep": per_rep}
            print(f"  {c}/floor = {imed[c] / imed['floor']:.3f}  (per rep: {', '.join(f'{r:.3f}' for r in per_rep)})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
