#!/usr/bin/env python3
"""Throughput of a Django worker under HTTP load, without memsight and with it, side by side in one run.

    sudo python3 tests/bench/python_overhead.py [--memsight build/userspace/memsight] [--rounds 6] [--seconds 20]
        [--n 50[,500]] [--agent-config FILE] [--conditions A,B,C] [--json FILE]

The app is tests/scenarios/python/django_app served by Debian's gunicorn on /usr/bin/python3.11 with one sync
worker (tests/e2e/django_harness.DjangoApp). A load generator (this script with --client: one thread, a
selector and --concurrency connections in flight; gunicorn's sync worker closes every connection after its
response, so each request is a new connection) keeps the worker busy with GET /ok?n=N, the view that makes N
objects and drops them. By default the worker is pinned to CPU 0 and the load generator to CPU 1
(--worker-cpu, --client-cpu, --no-pin); the agent and the census are not pinned. --nice -10 gives the worker
and the load generator priority over other work on a shared host.

Conditions (make_conditions() below; --conditions picks some, A is always the baseline):
  A  no memsight running;
  B  `memsight agent` always-on: the embedded defaults (an empty config file: profile prod), or --agent-config;
  C  B plus a heap census of the worker every --census-interval seconds: `memsight pyheap --pid W --count K
     --interval 10s`, started with the phase (K = phase seconds / interval: censuses at 0 s, 10 s, ...).
Each round runs every (n, condition) phase once; the order of the conditions rotates by one each round (ABC,
BCA, CAB, ...) so that drift hits all alike; 6 rounds put each condition twice in each position. An agent is
started before its phase (until /metrics answers, then --settle seconds) and stopped after it; A waits the same
--settle. Only the load generator's window counts.

Reported per n and condition: requests/s per round, their median, and the ratio to A (median of the per-round
ratios, with a distribution-free ~95 % interval from order statistics, needs >= 6 rounds) and the worker's CPU
time per request; per phase also the latency percentiles, the agent's and the census's CPU time, each census's
walk time, the CPUs' busy and steal time and the load average. A phase is "clean" when the worker was busy
>= 90 % of it and no memsight of someone else ran; the ratios are also given over the rounds whose phases were
clean. The issue's target: always-on plus a periodic census costs <= 2 % of the throughput. Raw JSON:
tests/bench/results/python-overhead/<date>.json (--json).

Needs root (the agent loads BPF; the census reads the worker's memory). Python 3 standard library only.
"""

import argparse
import array
import hashlib
import json
import math
import os
import platform
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, HERE)

if sys.argv[1:2] != ["--client"]:  # the load generator runs from a copy of this file: standard library only
    from bench_agent import Agent, BenchError, log  # noqa: E402
    from django_harness import GUNICORN, INTERPRETER, DjangoApp  # noqa: E402
    from overhead import median_ci  # noqa: E402

RESULTS_DIR = os.path.join(HERE, "results", "python-overhead")
TARGET_LOSS = 0.02  # issue 12: always-on plus a periodic census <= 2 % throughput loss
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Condition:
    """One way the host runs while the load generator measures: with or without the agent (and its config
    text), with or without a periodic census of the worker."""

    def __init__(self, name, label, agent_config=None, census=False):
        self.name = name
        self.label = label
        self.agent_config = agent_config  # None: no agent; "" or text: the agent with that config file
        self.census = census

    def describe(self):
        return {"name": self.name, "label": self.label, "agent": self.agent_config is not None,
                "agent_config": self.agent_config, "census": self.census}


EMPTY_CONFIG = "# empty: the agent's embedded defaults (profile prod)\n"


def make_conditions(args):
    """The conditions of this run, A first. Another condition is one more entry here (and a flag)."""
    if args.agent_config:
        with open(args.agent_config) as f:
            config, what = f.read(), f"config {args.agent_config}"
    else:
        config, what = EMPTY_CONFIG, "default config"
    every = f"census every {args.census_interval} s"
    conditions = [
        Condition("A", "no memsight"),
        Condition("B", f"agent ({what})", agent_config=config),
        Condition("C", f"agent ({what}) + {every}", agent_config=config, census=True),
    ]
    wanted = [c.strip() for c in args.conditions.split(",") if c.strip()]
    names = [c.name for c in conditions]
    for w in wanted:
        if w not in names:
            raise BenchError(f"--conditions: unknown condition {w!r} (known: {','.join(names)})")
    if "A" not in wanted:
        wanted.insert(0, "A")  # the baseline of every ratio
    return [c for c in conditions if c.name in wanted]


# --------------------------------------------------------------------------- the load generator (--client)

def client_main(argv):
    """Runs in its own process: GET PATH with CONCURRENCY connections in flight for SECONDS, one new
    connection per request; prints "go" when it starts and one JSON line at the end."""
    ap = argparse.ArgumentParser(prog="python_overhead.py --client")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--expect", default="", help="a string every response body must contain")
    ap.add_argument("--cpu", type=int, default=None)
    ap.add_argument("--nice", type=int, default=0)
    a = ap.parse_args(argv)
    if a.cpu is not None:
        os.sched_setaffinity(0, {a.cpu})
    if a.nice:
        os.setpriority(os.PRIO_PROCESS, 0, a.nice)
    addr = ("127.0.0.1", a.port)
    request = f"GET {a.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    expect = a.expect.encode()
    sel = selectors.DefaultSelector()
    latencies = array.array("d")
    buckets = [0] * (int(math.ceil(a.seconds)) + 1)
    errors, error_samples = 0, []

    def fail(what):
        nonlocal errors
        errors += 1
        if len(error_samples) < 5:
            error_samples.append(what)

    def open_one(now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.connect_ex(addr)  # EINPROGRESS: writable once connected
        sel.register(s, selectors.EVENT_WRITE, [now, bytearray()])

    def drop(s):
        sel.unregister(s)
        s.close()

    print("go", flush=True)
    cpu0 = os.times()
    t0 = time.monotonic()
    end = t0 + a.seconds
    for _ in range(a.concurrency):
        open_one(t0)
    while True:
        now = time.monotonic()
        if now >= end:
            break
        for key, ev in sel.select(end - now):
            s, st = key.fileobj, key.data
            if ev & selectors.EVENT_WRITE:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                try:
                    if err:
                        raise OSError(err, os.strerror(err))
                    if s.send(request) != len(request):
                        raise OSError("short send")
                except OSError as e:
                    fail(f"connect/send: {e}")
                    drop(s)
                    open_one(time.monotonic())
                    continue
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            try:
                data = s.recv(65536)
            except OSError as e:
                data = None
                fail(f"recv: {e}")
            if data:
                st[1] += data
                continue
            drop(s)
            t = time.monotonic()
            if t >= end:
                break
            if data is not None:
                if st[1].startswith(b"HTTP/1.1 200") and expect in st[1]:
                    latencies.append(t - st[0])
                    buckets[int(t - t0)] += 1
                else:
                    fail(f"response: {bytes(st[1][:200])!r}")
            open_one(t)
    for key in list(sel.get_map().values()):
        drop(key.fileobj)
    sel.close()
    cpu1 = os.times()
    lat = sorted(latencies)

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1e3 if lat else None

    print(json.dumps({
        "requests": len(lat), "errors": errors, "error_samples": error_samples, "seconds": a.seconds,
        "req_per_s": len(lat) / a.seconds, "per_second": buckets[:int(math.ceil(a.seconds))],
        "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": lat[-1] * 1e3 if lat else None},
        "cpu_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)}), flush=True)
    return 0


# --------------------------------------------------------------------------- measuring

def proc_cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def vm_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_times():
    """{"cpu": [...], "cpu0": [...], ...}: the jiffies of /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu"):
                name, *vals = line.split()
                out[name] = [int(v) for v in vals]
    return out


def cpu_usage(before, after):
    """Per CPU line of /proc/stat: the busy fraction (not idle, not iowait) and the steal fraction."""
    out = {}
    for name, b in before.items():
        d = [y - x for x, y in zip(b, after.get(name, b))]
        total = sum(d[:8]) or 1  # user nice system idle iowait irq softirq steal (guest is in user)
        out[name] = {"busy": round((total - d[3] - d[4]) / total, 4), "steal": round(d[7] / total, 4)}
    return out


class Census:
    """`memsight pyheap --pid W --count K --interval Ns --format json` for one phase; CPU time from wait4."""

    def __init__(self, memsight, pid, count, interval_s, workdir):
        self.argv = [memsight, "pyheap", "--pid", str(pid), "--count", str(count), "--interval",
                     f"{interval_s}s", "--format", "json", "--top", "5"]
        self.out_path = os.path.join(workdir, "pyheap.json")
        self.err_path = os.path.join(workdir, "pyheap.err")
        self.proc = None

    def start(self):
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def finish(self, timeout):
        """Waits for it; returns {"walk_s": [...], "objects": [...], "cpu_s", ...}."""
        deadline = time.monotonic() + timeout
        while True:  # wait4, not Popen.wait: its rusage is the census's CPU time
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                self.kill()
                raise BenchError(f"{' '.join(self.argv)} did not finish within {timeout:.0f} s after the phase")
            time.sleep(0.05)
        with open(self.err_path) as f:
            err = f.read().strip()
        if self.proc.returncode != 0:
            raise BenchError(f"{' '.join(self.argv)} exited with {self.proc.returncode}: {err}")
        with open(self.out_path) as f:
            doc = json.load(f)
        cs = doc["censuses"]
        return {"walk_s": [c["walk_s"] for c in cs], "objects": [c["objects"] for c in cs],
                "offset_s": [c["offset_s"] for c in cs], "reads": [c["reads"] for c in cs],
                "retries": [c["retries"] for c in cs], "incomplete_lists": [c["incomplete_lists"] for c in cs],
                "skipped_objects": [c["skipped_objects"] for c in cs],
                "cpu_s": ru.ru_utime + ru.ru_stime, "python": doc.get("python"),
                "stderr": err}

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def other_memsight(ours):
    """Pids of memsight processes this run did not start (another test's agent or deep session adds load and
    may probe the allocator of every process). Those without a command line are left out: the agent's own
    calibration child is orphaned at start-up and takes a few seconds to exit (a zombie of init's)."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) not in ours:
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() != "memsight":
                        continue
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if f.read():
                        found.append(int(d))
            except OSError:
                pass
    return found


def metric_values(text, name):
    """Sum of the samples of metric `name` (any labels) in a Prometheus text page."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(None, 1)[1])
            seen = True
    return total if seen else None


def run_phase(args, app, cond, n, workdir, memsight):
    """One measured phase of one condition at GET /ok?n=N; returns its record."""
    agent = census = None
    rec = {"condition": cond.name, "n": n}
    try:
        if cond.agent_config is not None:
            agent = Agent(memsight, workdir, cond.agent_config)
            t = time.monotonic()
            agent.start(timeout=args.ready_timeout)
            rec["agent_ready_s"] = round(time.monotonic() - t, 3)
        time.sleep(args.settle)
        if agent:
            agent.check_alive()
        argv = [sys.executable, args.client_script, "--client", "--port", str(app.port),
                "--path", f"/ok?n={n}", "--seconds", str(args.seconds), "--concurrency", str(args.concurrency),
                "--expect", f'"made": {n},']
        if not args.no_pin:
            argv += ["--cpu", str(args.client_cpu)]
        if args.nice:
            argv += ["--nice", str(args.nice)]
        client = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        go = client.stdout.readline().strip()
        if go != "go":
            client.wait()
            raise BenchError(f"the load generator did not start (printed {go!r}, status {client.returncode})")
        w0, cpus0 = proc_cpu_s(app.worker_pid), cpu_times()
        a0 = proc_cpu_s(agent.proc.pid) if agent else None
        if cond.census:
            count = max(1, int(args.seconds // args.census_interval))
            census = Census(memsight, app.worker_pid, count, args.census_interval, workdir)
            census.start()
        ours = {p.pid for p in (agent and agent.proc, census and census.proc) if p}
        others = set(other_memsight(ours))
        out = client.stdout.read()
        client.wait()
        others.update(other_memsight(ours))
        rec["other_memsight_pids"] = sorted(others)
        w1, cpus1 = proc_cpu_s(app.worker_pid), cpu_times()
        a1 = proc_cpu_s(agent.proc.pid) if agent else None
        if client.returncode != 0:
            raise BenchError(f"the load generator exited with {client.returncode}")
        rec.update(json.loads(out))
        if not rec["requests"]:
            raise BenchError(f"no request succeeded in {args.seconds:g} s: {rec['error_samples']}")
        if census:
            rec["census"] = census.finish(timeout=60)
            census = None
        if agent:
            agent.check_alive()
            page = agent.scrape()
            rec["escalations_started"] = metric_values(page, "memsight_escalations_started_total")
            rec["deep_sessions"] = metric_values(page, "memsight_deep_sessions")
            rec["agent_cpu_s"] = round(a1 - a0, 3) if a0 is not None and a1 is not None else None
        if not app.alive():
            raise BenchError(f"the gunicorn worker {app.worker_pid} is gone")
        rec["worker_cpu_s"] = round(w1 - w0, 3)
        rec["worker_cpu_us_per_req"] = (w1 - w0) / rec["requests"] * 1e6 if rec["requests"] else None
        rec["worker_rss_kib"] = vm_rss_kib(app.worker_pid)
        rec["cpu_usage"] = cpu_usage(cpus0, cpus1)
        rec["load_average"] = os.getloadavg()[0]
    finally:
        if census:
            census.kill()
        if agent:
            agent.stop()
    return rec


def phase_line(r, rounds, rec):
    parts = [f"round {r + 1}/{rounds}", f"n={rec['n']:<4}", rec["condition"],
             f"{rec['req_per_s']:8.1f} req/s", f"worker cpu {rec['worker_cpu_s'] / rec['seconds']:.2f}",
             f"{rec['worker_cpu_us_per_req']:6.1f} us cpu/req",
             f"p50 {rec['latency_ms']['p50']:.2f} p99 {rec['latency_ms']['p99']:.2f} max {rec['latency_ms']['max']:.1f} ms"]
    if "agent_cpu_s" in rec:
        parts.append(f"agent cpu {rec['agent_cpu_s']:.2f} s")
    if "census" in rec:
        c = rec["census"]
        parts.append("census walks " + ",".join(f"{w * 1e3:.0f}" for w in c["walk_s"]) + " ms (" +
                     ",".join(str(o) for o in c["objects"]) + " objects, unfinished lists " +
                     ",".join(str(i) for i in c["incomplete_lists"]) + f"), pyheap cpu {c['cpu_s']:.2f} s")
    cpus = sorted(k for k in rec["cpu_usage"] if k != "cpu")
    steal = max(rec["cpu_usage"][k]["steal"] for k in cpus)
    parts.append("busy " + " ".join(f"{rec['cpu_usage'][k]['busy']:.2f}" for k in cpus) +
                 f" steal {steal:.2f} load {rec['load_average']:.2f}")
    if rec["errors"]:
        parts.append(f"ERRORS {rec['errors']}")
    if rec["other_memsight_pids"]:
        parts.append(f"OTHER memsight {rec['other_memsight_pids']}")
    return "  ".join(parts)


# --------------------------------------------------------------------------- summary

CLEAN_WORKER_SHARE = 0.9  # a phase whose worker ran less than this share of the time shared its CPU


def is_clean(rec):
    """The worker was busy >= 90 % of the phase (nothing else on its CPU, the load generator kept up) and no
    memsight process of someone else ran. memsight's own CPU (agent + census) is well under 1 % of a core, so
    it cannot by itself push a phase under the bar."""
    return rec["worker_cpu_s"] >= CLEAN_WORKER_SHARE * rec["seconds"] and not rec["other_memsight_pids"]


def ratio_stats(ratios):
    ci = median_ci(ratios) if len(ratios) >= 2 else None
    return {"ratio_per_round": ratios, "ratio_median": statistics.median(ratios) if ratios else None,
            "ratio_min": min(ratios) if ratios else None, "ratio_max": max(ratios) if ratios else None,
            "ratio_ci95": [ci[0], ci[1]] if ci else None, "ratio_ci_coverage": ci[2] if ci else None,
            "loss": 1 - statistics.median(ratios) if ratios else None}


def summarize(phases, conditions, ns, rounds):
    out = {}
    for n in ns:
        by = {c.name: [None] * rounds for c in conditions}
        for p in phases:
            if p["n"] == n:
                by[p["condition"]][p["round"]] = p
        per_n = {}
        base = by["A"]
        for c in conditions:
            recs = by[c.name]
            pairs = [(p, b) for p, b in zip(recs, base) if p and b]
            rps = [p["req_per_s"] for p in recs if p]
            cpr = [p["worker_cpu_us_per_req"] for p in recs if p]
            s = {"label": c.label, "rounds": len(rps), "req_per_s": rps, "median_req_per_s": statistics.median(rps),
                 "spread": (max(rps) - min(rps)) / statistics.median(rps),
                 "worker_cpu_share": [round(p["worker_cpu_s"] / p["seconds"], 3) for p in recs if p],
                 "clean_phases": [is_clean(p) for p in recs if p]}
            s.update(ratio_stats([p["req_per_s"] / b["req_per_s"] for p, b in pairs]))
            clean_pairs = [(p, b) for p, b in pairs if is_clean(p) and is_clean(b)]
            s["clean_rounds"] = len(clean_pairs)
            s["clean"] = ratio_stats([p["req_per_s"] / b["req_per_s"] for p, b in clean_pairs])
            s["worker_cpu_us_per_req"] = cpr
            s["latency_ms_p50_median"] = statistics.median(p["latency_ms"]["p50"] for p in recs if p)
            s["latency_ms_p99_median"] = statistics.median(p["latency_ms"]["p99"] for p in recs if p)
            s["latency_ms_max"] = [p["latency_ms"]["max"] for p in recs if p]
            s["median_worker_cpu_us_per_req"] = statistics.median(cpr)
            s["cpu_per_req"] = ratio_stats([p["worker_cpu_us_per_req"] / b["worker_cpu_us_per_req"] for p, b in pairs])
            walks = [w for p in recs if p and "census" in p for w in p["census"]["walk_s"]]
            if walks:
                s["census_walk_s_median"] = statistics.median(walks)
                s["census_walk_s_max"] = max(walks)
                s["census_objects_median"] = statistics.median(
                    [o for p in recs if p and "census" in p for o in p["census"]["objects"]])
                s["census_cpu_s_median"] = statistics.median([p["census"]["cpu_s"] for p in recs if p and "census" in p])
                objects = [o for p in recs if p and "census" in p for o in p["census"]["objects"]]
                s["census_objects_range"] = [min(objects), max(objects)]
                s["censuses"] = len(walks)
                s["censuses_with_unfinished_lists"] = sum(
                    1 for p in recs if p and "census" in p for i in p["census"]["incomplete_lists"] if i)
            agent_cpu = [p["agent_cpu_s"] / p["seconds"] for p in recs if p and p.get("agent_cpu_s") is not None]
            if agent_cpu:
                s["agent_cpu_share_median"] = statistics.median(agent_cpu)
            per_n[c.name] = s
        out[str(n)] = per_n
    return out


def verdict(st):
    """The target against the per-round ratios: by the median, and what the ~95 % interval of the median can
    exclude (met at 95 % only when its lower end is >= 1 - 2 %)."""
    if st["ratio_median"] is None:
        return "no rounds"
    text = (f"median loss {st['loss'] * 100:.1f} %: {'met' if st['loss'] <= TARGET_LOSS else 'NOT met'} by the "
            "median")
    if not st["ratio_ci95"]:
        return text + " (fewer than 6 rounds: no interval)"
    lo, hi = st["ratio_ci95"]
    bound = (1 - lo) * 100
    if lo >= 1 - TARGET_LOSS:
        return text + f"; the ~95 % interval [{lo:.3f},{hi:.3f}] excludes a loss above {bound:.1f} %: met at 95 %"
    if hi < 1 - TARGET_LOSS:
        return text + f"; the ~95 % interval [{lo:.3f},{hi:.3f}] is entirely below the target: NOT met at 95 %"
    return (text + f"; the ~95 % interval [{lo:.3f},{hi:.3f}] excludes only a loss above {bound:.1f} %: "
            "not confirmed at 95 % (more rounds or a quieter host narrow it)")


def fmt_ratio_row(name, st, cost=False):
    if st["ratio_median"] is None:
        return f"{name:<4} {'-':>6}"
    ci = f"[{st['ratio_ci95'][0]:.3f},{st['ratio_ci95'][1]:.3f}]" if st["ratio_ci95"] else "-"
    change = (st["ratio_median"] - 1) if cost else st["loss"]
    return (f"{name:<4} {st['ratio_median']:6.3f} {change * 100:5.1f}% "
            f"{'[%.3f,%.3f]' % (st['ratio_min'], st['ratio_max']):>16} {ci:>15}  "
            + " ".join(f"{x:.3f}" for x in st["ratio_per_round"]))


def print_summary(summary, conditions, out=sys.stdout):
    for n, per_n in summary.items():
        print(f"\nGET /ok?n={n}: requests/s", file=out)
        head = f"{'cond':<4} {'median':>8} {'spread':>6} {'clean':>5}  per-round req/s (* = not clean)"
        print(head + "\n" + "-" * len(head), file=out)
        for c in conditions:
            s = per_n[c.name]
            print(f"{c.name:<4} {s['median_req_per_s']:8.1f} {s['spread'] * 100:5.1f}% "
                  f"{sum(s['clean_phases']):>2}/{s['rounds']:<2}  "
                  + " ".join(f"{x:.0f}{'' if ok else '*'}" for x, ok in zip(s["req_per_s"], s["clean_phases"])), file=out)
        for title, key in (("throughput ratio to A, all rounds", None),
                           ("throughput ratio to A, clean rounds only (both phases clean)", "clean"),
                           ("worker CPU time per request, ratio to A (all rounds)", "cpu_per_req")):
            head = (f"{'cond':<4} {'ratio':>6} {'cost' if key == 'cpu_per_req' else 'loss':>6} {'range of ratios':>16} "
                    f"{'95% ci':>15}  per-round ratios (to A of the same round)")
            print(f"\n{title}", file=out)
            print(head + "\n" + "-" * len(head), file=out)
            for c in conditions[1:]:
                st = per_n[c.name][key] if key else per_n[c.name]
                print(fmt_ratio_row(c.name, st, cost=key == "cpu_per_req"), file=out)
        print(file=out)
        for c in conditions:
            s = per_n[c.name]
            extra = [f"worker CPU {s['median_worker_cpu_us_per_req']:.1f} us per request",
                     f"latency p50 {s['latency_ms_p50_median']:.2f} ms, p99 {s['latency_ms_p99_median']:.2f} ms "
                     f"(medians), max {min(s['latency_ms_max']):.1f}..{max(s['latency_ms_max']):.1f} ms"]
            if "agent_cpu_share_median" in s:
                extra.append(f"agent cpu {s['agent_cpu_share_median'] * 100:.2f} % of a core")
            if "census_walk_s_median" in s:
                extra.append(f"census walk median {s['census_walk_s_median'] * 1e3:.0f} ms, max "
                             f"{s['census_walk_s_max'] * 1e3:.0f} ms ({s['census_objects_median']:.0f} objects, "
                             f"{s['census_objects_range'][0]}..{s['census_objects_range'][1]}; "
                             f"{s['censuses_with_unfinished_lists']} of {s['censuses']} censuses left a GC list "
                             f"unfinished), pyheap cpu {s['census_cpu_s_median']:.2f} s per phase")
            print(f"{c.name}: {c.label}: " + "; ".join(extra), file=out)
        for c in conditions:
            if c.census:
                s = per_n[c.name]
                print(f"target (always-on + periodic census, loss <= {TARGET_LOSS * 100:.0f} %), condition {c.name}:\n"
                      f"  all {s['rounds']} rounds: {verdict(s)}", file=out)
                if s["clean_rounds"] != s["rounds"]:
                    print(f"  {s['clean_rounds']} clean rounds: {verdict(s['clean'])}", file=out)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git_head():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def default_json_path():
    base = os.path.join(RESULTS_DIR, time.strftime("%Y-%m-%d"))
    path = base + ".json"
    if os.path.exists(path):
        path = base + time.strftime("-%H%M%S") + ".json"
    return path


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        return client_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memsight", default=os.path.join(REPO, "build", "userspace", "memsight"),
                    help="the memsight binary (copied to a temp folder first; default build/userspace/memsight)")
    ap.add_argument("--rounds", type=int, default=6, help="rounds of all phases (default 6)")
    ap.add_argument("--seconds", type=float, default=20, help="measured seconds per phase (default 20)")
    ap.add_argument("--n", default="50", help="objects per request, comma-separated phase sets (default 50)")
    ap.add_argument("--conditions", default="A,B,C", help="conditions to run (default A,B,C; A always)")
    ap.add_argument("--agent-config", default=None, help="config file of the agent in B and C "
                    "(default: none, the embedded defaults)")
    ap.add_argument("--census-interval", type=int, default=10, help="seconds between censuses in C (default 10)")
    ap.add_argument("--concurrency", type=int, default=2, help="connections in flight (default 2)")
    ap.add_argument("--worker-cpu", type=int, default=0, help="CPU the worker is pinned to (default 0)")
    ap.add_argument("--client-cpu", type=int, default=1, help="CPU the load generator is pinned to (default 1)")
    ap.add_argument("--no-pin", action="store_true", help="pin neither the worker nor the load generator")
    ap.add_argument("--nice", type=int, default=0, help="nice value of the worker and the load generator, e.g. -10 "
                    "on a host others use (default 0: unchanged)")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds before each phase, after the agent "
                    "answers (default 3)")
    ap.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds of load first (default 5)")
    ap.add_argument("--ready-timeout", type=float, default=30)
    ap.add_argument("--json", default=None, help="raw results (default tests/bench/results/python-overhead/"
                    "<date>.json; '-' for none)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (agent log, census output)")
    args = ap.parse_args()
    ns = [int(x) for x in args.n.split(",") if x.strip()]
    if args.rounds < 1 or args.seconds <= 0 or not ns or args.concurrency < 1 or args.census_interval < 1:
        ap.error("--rounds, --seconds, --n, --concurrency and --census-interval must be positive")
    if os.geteuid() != 0:
        ap.error("needs root: the agent loads BPF programs and the census reads the worker's memory")
    if not os.access(args.memsight, os.X_OK):
        ap.error(f"{args.memsight} not found (cmake --build build --target memsight)")
    try:
        conditions = make_conditions(args)
    except (BenchError, OSError) as e:
        ap.error(str(e))

    workdir = tempfile.mkdtemp(prefix="memsight-pyoverhead-")
    memsight = os.path.join(workdir, "memsight")
    shutil.copy2(args.memsight, memsight)  # others may rebuild the tree during the run
    args.client_script = os.path.join(workdir, "load_generator.py")  # and edit this file
    shutil.copy2(os.path.abspath(__file__), args.client_script)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    doc = {"benchmark": "python_overhead", "started": started, "command": sys.argv,
           "settings": {"rounds": args.rounds, "seconds": args.seconds, "n": ns, "concurrency": args.concurrency,
                        "pinning": None if args.no_pin else {"worker": args.worker_cpu, "client": args.client_cpu},
                        "nice": args.nice, "settle_s": args.settle, "warmup_s": args.warmup, "census_interval_s": args.census_interval},
           "conditions": [c.describe() for c in conditions],
           "memsight": {"path": args.memsight, "sha256": sha256(memsight),
                        "mtime": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(os.stat(args.memsight).st_mtime))},
           "git_head": git_head(), "gunicorn": GUNICORN, "interpreter": INTERPRETER,
           "host": {"kernel": platform.release(), "cpus": os.cpu_count(), "load_average_start": os.getloadavg()},
           "phases": [], "warnings": []}
    warnings = doc["warnings"]
    log(f"memsight {args.memsight} (copied to {memsight}); conditions: "
        + "; ".join(f"{c.name} = {c.label}" for c in conditions))
    log(f"{args.rounds} rounds x {len(ns)} n x {len(conditions)} conditions x {args.seconds:g} s, "
        f"concurrency {args.concurrency}, nice {args.nice}, " + ("no pinning" if args.no_pin else
                                               f"worker on CPU {args.worker_cpu}, load generator on CPU {args.client_cpu}")
        + f"; load average {os.getloadavg()[0]:.2f}")
    if os.getloadavg()[0] > 0.5:
        warnings.append(f"load average {os.getloadavg()[0]:.2f} at the start: other work on the host adds noise")
        log("warning: " + warnings[-1])
    rc = 0
    try:
        with DjangoApp() as app:
            if not args.no_pin:
                os.sched_setaffinity(app.worker_pid, {args.worker_cpu})
            if args.nice:
                os.setpriority(os.PRIO_PROCESS, app.worker_pid, args.nice)
            doc["worker_pid"] = app.worker_pid
            log(f"gunicorn worker {app.worker_pid} on port {app.port}")
            if args.warmup > 0:
                subprocess.run([sys.executable, args.client_script, "--client", "--port", str(app.port),
                                "--path", f"/ok?n={ns[0]}", "--seconds", str(args.warmup),
                                "--concurrency", str(args.concurrency), "--nice", str(args.nice)]
                               + ([] if args.no_pin else ["--cpu", str(args.client_cpu)]),
                               stdout=subprocess.DEVNULL, check=True)
            for r in range(args.rounds):
                order = conditions[r % len(conditions):] + conditions[:r % len(conditions)]
                for n in ns:
                    for cond in order:
                        rec = run_phase(args, app, cond, n, workdir, memsight)
                        rec["round"] = r
                        doc["phases"].append(rec)
                        log(phase_line(r, args.rounds, rec))
                        if rec["errors"]:
                            warnings.append(f"round {r + 1} n={n} {cond.name}: {rec['errors']} failed requests, "
                                            f"e.g. {rec['error_samples'][:1]}")
                        rec["clean"] = is_clean(rec)
                        if rec["worker_cpu_s"] < CLEAN_WORKER_SHARE * rec["seconds"]:
                            warnings.append(f"round {r + 1} n={n} {cond.name}: the worker ran only "
                                            f"{rec['worker_cpu_s'] / rec['seconds'] * 100:.0f} % of the time "
                                            "(other load on its CPU, or the load generator could not keep up)")
                        if rec["other_memsight_pids"]:
                            warnings.append(f"round {r + 1} n={n} {cond.name}: memsight processes not of this run "
                                            f"were running: pids {rec['other_memsight_pids']}")
                        if rec.get("escalations_started") or rec.get("deep_sessions"):
                            warnings.append(f"round {r + 1} n={n} {cond.name}: the agent escalated "
                                            f"({rec['escalations_started']} started, {rec['deep_sessions']} running)")
            doc["worker_live"] = app.stats()
    except BenchError as e:
        log(f"error: {e}")
        rc = 1
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    doc["host"]["load_average_end"] = os.getloadavg()
    doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if rc == 0:
        doc["summary"] = summarize(doc["phases"], conditions, ns, args.rounds)
        print_summary(doc["summary"], conditions)
        loads = [p["load_average"] for p in doc["phases"]]
        log(f"load average (1 min): at start {doc['host']['load_average_start'][0]:.2f}, during phases "
            f"{min(loads):.2f}..{max(loads):.2f}, at end {doc['host']['load_average_end'][0]:.2f}")
    for w in warnings:
        log("warning: " + w)
    if args.json != "-" and doc["phases"]:
        path = args.json or default_json_path()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        log(f"raw results: {path}")
    if args.keep or rc:
        log(f"temp folder kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return rc


def on_sigterm(*_):
    raise KeyboardInterrupt  # stop the agent, the census and gunicorn on the way out


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    sys.exit(main())
