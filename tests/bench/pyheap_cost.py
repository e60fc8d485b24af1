"""The cost of `memsight pyheap`: time per 1 M objects walked, and the target's slowdown while censuses run.

    python3 tests/bench/pyheap_cost.py --memsight BUILD/userspace/memsight [--python python3] [--objects 1000000]

1. Walk time: a target with --objects live instances (pyheap_target.py), censuses taken 5 times; prints the
   median walk time, scaled to 1 M objects, with and without --stop.
2. Slowdown: the target's CPU-bound loop (its throughput in loops/s) over alternating 10 s phases without and
   with a census every second (`memsight pyheap --count 10 --interval 1s`), 3 of each; prints the ratio.
Needs root (or the right to ptrace the target). Prints one JSON object at the end.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def census(memsight, pid, *extra):
    r = subprocess.run([memsight, "pyheap", "--pid", str(pid), "--format", "json", "--top", "3", *extra],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--memsight", required=True)
    ap.add_argument("--python", default="python3")
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--phases", type=int, default=3)
    a = ap.parse_args()

    target = subprocess.Popen([a.python, os.path.join(HERE, "pyheap_target.py"), str(a.objects)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pid = int(target.stdout.readline().split()[1])

    def rate():
        target.stdin.write("\n")
        target.stdin.flush()
        return float(target.stdout.readline().split()[1])

    result = {"python": None, "objects": None}
    for stop in (False, True):
        walks = []
        for _ in range(5):
            doc = census(a.memsight, pid, *(["--stop"] if stop else []))
            c = doc["censuses"][0]
            walks.append(c["walk_s"])
            result["python"], result["objects"] = doc["python"], c["objects"]
            result.setdefault("reads_per_census", c["reads"])
        key = "walk_s_stopped" if stop else "walk_s"
        result[key] = statistics.median(walks)
        result[key + "_per_1M_objects"] = statistics.median(walks) / c["objects"] * 1e6
        print(f"{'--stop ' if stop else ''}census of {c['objects']} objects: median {result[key]:.3f} s "
              f"({result[key + '_per_1M_objects']:.3f} s per 1 M objects)", flush=True)

    base, loaded = [], []
    rate()
    for _ in range(a.phases):
        time.sleep(10)
        base.append(rate())
        subprocess.run([a.memsight, "pyheap", "--pid", str(pid), "--count", "10", "--interval", "1s",
                        "--format", "json", "--top", "1"], capture_output=True, check=True)
        loaded.append(rate())
        print(f"loops/s without censuses {base[-1]:.1f}, with a census every second {loaded[-1]:.1f}", flush=True)
    if base:
        result["loops_per_s_without"] = statistics.median(base)
        result["loops_per_s_with_census_every_1s"] = statistics.median(loaded)
        result["slowdown"] = 1 - result["loops_per_s_with_census_every_1s"] / result["loops_per_s_without"]
    target.stdin.close()
    target.wait()
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
