#!/usr/bin/env python3
"""What naming growth sites costs the agent on a host whose growing processes come and go (issue 15; the finding of
results/load.md: compilers, one short process per source file, each re-read by the growth-site namer).

The load, without compilers: a generated program with --functions global functions (a large symbol table, as a
compiler's) whose processes each live --life seconds, growing --rate MiB/s through one of 16 call chains 24 frames
deep; a new one starts every --every seconds, so a dozen grow at any time and new ones keep being named.

Up to two agents run at once against the same load (--memsight, and --baseline to compare another build side by
side: same processes, same host noise), each at the default interval and config. After --warmup seconds, over
--window seconds: each agent's CPU (utime + stime, /proc/PID/stat) as % of a core, its VmRSS/RssAnon/RssFile
(/proc/PID/status, sampled every 5 s: max and last), and the growth sites it exports
(memsight_process_growth_site_bytes) for the processes both name. Python 3 standard library and a C compiler
(cc, to build the generated program once); needs root. See README.md ("Growth-site naming under churn").
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, HERE)

import memsight_e2e as e2e  # noqa: E402
from load import cpu_seconds, proc_status  # noqa: E402

CHAINS = 16
DEPTH = 24


def grower_source(functions, seed=15):
    """C source: `functions` global functions; CHAINS chains of DEPTH of them end in grow(), which mallocs and
    touches 64 KiB blocks at the given rate for the given life (argv: chain, MiB/s, seconds)."""
    rnd = random.Random(seed)
    chains = [rnd.sample(range(functions), DEPTH) for _ in range(CHAINS)]
    out = ["#include <stdlib.h>\n#include <string.h>\n#include <time.h>\n",
           "typedef void (*fn)(int, int);\nextern const fn chains[%d][%d];\n" % (CHAINS, DEPTH),
           "volatile long sink; double rate_mib; long life_s;\n",
           "__attribute__((noinline)) void grow(void) {\n"
           "  struct timespec t0, now; clock_gettime(CLOCK_MONOTONIC, &t0);\n"
           "  const long block = 64 << 10; long done = 0;\n"
           "  for (;;) {\n"
           "    clock_gettime(CLOCK_MONOTONIC, &now);\n"
           "    double s = (now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;\n"
           "    if (s >= life_s) return;\n"
           "    while (done < (long)(s * rate_mib * 1048576)) { char *p = malloc(block); memset(p, 1, block);"
           " sink += p[block - 1]; done += block; }\n"
           "    struct timespec d = {0, 20000000}; nanosleep(&d, 0);\n"
           "  }\n}\n"]
    for i in range(functions):
        out.append(f"__attribute__((noinline)) void f_{i}(int c, int d) {{ if (d + 1 == {DEPTH}) grow(); "
                   f"else chains[c][d + 1](c, d + 1); sink += {i}; }}\n")
    out.append("const fn chains[%d][%d] = {\n" % (CHAINS, DEPTH))
    for c in chains:
        out.append("  {" + ", ".join(f"f_{i}" for i in c) + "},\n")
    out.append("};\nint main(int argc, char **argv) {\n"
               "  if (argc != 4) return 2;\n"
               "  int c = atoi(argv[1]) %% %d; rate_mib = atof(argv[2]); life_s = atol(argv[3]);\n" % CHAINS +
               "  chains[c][0](c, 0);\n  return 0;\n}\n")
    return "".join(out)


def build_grower(workdir, functions):
    src = os.path.join(workdir, "churn_grower.c")
    exe = os.path.join(workdir, "churn_grower")
    with open(src, "w") as f:
        f.write(grower_source(functions))
    # Frame pointers: the kernel's stacks go through every frame of the chain.
    subprocess.run(["cc", "-O1", "-fno-omit-frame-pointer", "-o", exe, src], check=True)
    return exe


class Churn:
    """Starts a grower every `every` seconds until stopped; each lives `life` seconds."""

    def __init__(self, exe, rate, life, every):
        self.exe, self.rate, self.life, self.every = exe, rate, life, every
        self.stop = threading.Event()
        self.procs = []
        self.started = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.procs.append(subprocess.Popen([self.exe, str(self.started), str(self.rate), str(self.life)]))
            self.started += 1
            self.procs = [p for p in self.procs if p.poll() is None]
            self.stop.wait(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        for p in self.procs:
            p.kill()
            p.wait()


def growth_sites(agent):
    """{pid: sorted site names} of memsight_process_growth_site_bytes."""
    out = {}
    for name, labels, _ in e2e.parse_metrics(agent.scrape_text()):
        if name == "memsight_process_growth_site_bytes":
            out.setdefault(labels.get("pid"), set()).add(labels.get("site"))
    return {pid: sorted(s) for pid, s in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memsight", default=os.path.join(REPO, "build", "userspace", "memsight"))
    ap.add_argument("--baseline", help="another memsight binary, run side by side against the same load")
    ap.add_argument("--functions", type=int, default=30000, help="global functions of the generated grower")
    ap.add_argument("--rate", type=float, default=1.0, help="MiB/s each grower grows")
    ap.add_argument("--life", type=int, default=30, help="seconds each grower lives")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between grower starts")
    ap.add_argument("--warmup", type=float, default=40.0)
    ap.add_argument("--window", type=float, default=120.0)
    ap.add_argument("--interval", default="10s", help="the agents' scan interval (default: the default, 10s)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    e2e.require_bpf_privilege()

    agents = [("memsight", os.path.abspath(args.memsight))]
    if args.baseline:
        agents.insert(0, ("baseline", os.path.abspath(args.baseline)))
    workdir = tempfile.mkdtemp(prefix="memsight-namer-load-")
    try:
        exe = build_grower(workdir, args.functions)
        started = []
        try:
            for label, path in agents:
                e2e.MEMSIGHT = path
                started.append((label, path, e2e.Agent(interval=args.interval).__enter__()))
            with Churn(exe, args.rate, args.life, args.every) as churn:
                time.sleep(args.warmup)
                cpu0 = {label: cpu_seconds(a.proc.pid) for label, _, a in started}
                t0 = time.monotonic()
                rss = {label: [] for label, _, _ in started}
                while time.monotonic() - t0 < args.window:
                    for label, _, a in started:
                        rss[label].append(proc_status(a.proc.pid))
                    time.sleep(5)
                elapsed = time.monotonic() - t0
                results = {"host": {"loadavg_end": os.getloadavg()[0], "growers_started": churn.started,
                                    "functions": args.functions, "rate_mib_s": args.rate, "life_s": args.life,
                                    "every_s": args.every, "window_s": round(elapsed, 1)}}
                sites = {}
                for label, path, a in started:
                    cpu = cpu_seconds(a.proc.pid) - cpu0[label]
                    samples = rss[label]
                    results[label] = {
                        "binary": path,
                        "cpu_percent_of_core": round(100 * cpu / elapsed, 2),
                        **{f"{k}_mib_{w}": round(f(s[k] for s in samples) / (1 << 20), 1)
                           for k in ("VmRSS", "RssAnon", "RssFile") for w, f in (("max", max), ("last", lambda x: list(x)[-1]))},
                    }
                    sites[label] = growth_sites(a)
                    results[label]["processes_with_sites"] = len(sites[label])
                if len(started) == 2:
                    both = set(sites["baseline"]) & set(sites["memsight"])
                    same = [pid for pid in both if sites["baseline"][pid] == sites["memsight"][pid]]
                    results["sites_compared"] = {"processes_both_name": len(both), "same_site_names": len(same),
                                                 "differences": {pid: {"baseline": sites["baseline"][pid],
                                                                       "memsight": sites["memsight"][pid]}
                                                                 for pid in both if pid not in same}}
        finally:
            for _, _, a in reversed(started):
                a.__exit__(None, None, None)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
