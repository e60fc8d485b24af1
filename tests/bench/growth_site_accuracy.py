#!/usr/bin/env python3
"""Accuracy of memsight's growth sites on the growth-site corpus, at the agent's default sample period.

Starts `memsight agent` (escalation off, every process exported, growth sites of up to 100 processes, top 3 sites
each; the page-fault sample period left at its default unless --agent-config sets it), then runs every program of
tests/scenarios/growth_site_corpus.json (each grows from one known leak_* function, built -O2 -g without frame
pointers) once per --rates value, all at once. At each --minutes checkpoint (minutes since the programs started)
it scrapes /metrics and reports, per program instance, per program and overall:
  - top1: the true function is the top `memsight_process_growth_site_bytes` site of the pid;
  - top3: it is among the exported top 3;
  - its site bytes against the actual growth, VmRSS now minus VmRSS one growth window ago (or at the start, if
    the program is younger than the window), from /proc/PID/status; and the samples behind the sites (site bytes /
    (sample period x 4096)).

    sudo python3 tests/bench/growth_site_accuracy.py [--memsight build/userspace/memsight] \\
        [--scenario-dir build/tests/scenarios] [--minutes 3,10] [--rates 256,1024] \\
        [--agent-config FILE] [--json FILE]

--agent-config FILE: a YAML config (e.g. tests/bench/results/configs/period-100.yaml) laid over the bench's own
(block maps of scalars; its keys win). Memory: each instance holds rate x run time (10 min at 256 + 1024 KiB/s x 5
programs: ~3.8 GiB). Exit status: 0 after a complete run, 1 when it could not run (not root, a binary missing, the
agent failed, a program did not start or died). Python 3 standard library only.
"""

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_agent import Agent, BenchError, ScenarioProcess, log  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PAGE = 4096
DEFAULT_PERIOD = 1000          # kernel.page_faults.sample_period 0 = the built-in default
DEFAULT_WINDOW_SECONDS = 300   # processes.growth_window of the default profile
RSS_EVERY = 5                  # seconds between VmRSS readings

BASE_CONFIG = {
    "processes": {"top_by_rss": "10000"},
    "growth_sites": {"processes": "100", "top": "3"},
    "escalation": {"enabled": "false"},
}


# --------------------------------------------------------------------------- config

def parse_block_yaml(text, path):
    """Nested block maps of scalars ("key: value", "key:" + indented keys) -> dict of dicts/str. Flow values
    (`[a, b]`, `{k: v}`) are kept as text."""
    root = {}
    stack = [(-1, root)]
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip() or line.strip() == "---":
            continue
        indent = len(line) - len(line.lstrip(" "))
        m = re.match(r"^([A-Za-z0-9_.-]+):(?:\s+(.*))?$", line.strip())
        if not m:
            raise BenchError(f"{path}:{n}: only block maps of scalars are understood here: {raw!r}")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if m.group(2) is None or m.group(2) == "":
            child = parent.setdefault(m.group(1), {})
            if not isinstance(child, dict):
                raise BenchError(f"{path}:{n}: {m.group(1)} is both a value and a map")
            stack.append((indent, child))
        else:
            parent[m.group(1)] = m.group(2)
    return root


def merge(base, over):
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def dump_block_yaml(d, indent=0):
    lines = []
    for k, v in d.items():
        if isinstance(v, dict):
            lines.append(" " * indent + f"{k}:")
            lines.append(dump_block_yaml(v, indent + 2))
        else:
            lines.append(" " * indent + f"{k}: {v}")
    return "\n".join(l for l in lines if l)


def seconds_of(duration):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*", str(duration))
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


# --------------------------------------------------------------------------- agent

LINE_RE = re.compile(r'^memsight_process_growth_site_bytes\{(.*)\}\s+(\S+)')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def growth_sites(text):
    """{pid: [(site, bytes)], most bytes first}."""
    out = {}
    for line in text.splitlines():
        m = LINE_RE.match(line)
        if not m:
            continue
        labels = dict(LABEL_RE.findall(m.group(1)))
        site = labels.get("site", "").replace('\\"', '"').replace("\\\\", "\\")
        out.setdefault(int(labels["pid"]), []).append((site, float(m.group(2))))
    for rows in out.values():
        rows.sort(key=lambda sv: -sv[1])
    return out


def lost_stacks(text):
    m = re.search(r'^memsight_events_lost_total\{[^}]*reason="growth_site_stacks"[^}]*\}\s+(\S+)', text, re.M)
    return float(m.group(1)) if m else None


# --------------------------------------------------------------------------- programs

class Instance(ScenarioProcess):
    def __init__(self, entry, rate, scenario_dir, workdir):
        self.program = entry["program"]
        self.site = entry["site"]
        self.rate = rate
        name = f"{self.program}@{rate}"
        super().__init__(name, [os.path.join(scenario_dir, self.program), str(rate)],
                         os.path.join(workdir, f"{name}.stderr"))
        self.rss = []   # [(monotonic, VmRSS bytes)]

    def wait_ready(self, timeout=10):
        super().wait_ready(timeout)
        self.read_rss()

    def read_rss(self):
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} (pid {self.pid}) died with status {self.proc.returncode}")
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    self.rss.append((time.monotonic(), int(line.split()[1]) * 1024))
                    return

    def growth_over(self, window):
        """(VmRSS now - VmRSS about `window` s ago or at the start, seconds actually covered)."""
        now_t, now_rss = self.rss[-1]
        then_t, then_rss = next(((t, r) for t, r in self.rss if t >= now_t - window), self.rss[0])
        return now_rss - then_rss, now_t - then_t


def checkpoint(instances, text, minute, window, period):
    sites = growth_sites(text)
    rows = []
    for i in instances:
        got = sites.get(i.pid, [])
        names = [s for s, _ in got]
        true_bytes = sum(v for s, v in got if s == i.site)
        grown, covered = i.growth_over(window)
        rows.append({
            "instance": i.name, "program": i.program, "rate_kib_per_second": i.rate, "pid": i.pid,
            "expected_site": i.site,
            "top1": bool(names) and names[0] == i.site,
            "top3": i.site in names[:3],
            "sites": [{"site": s, "bytes": v, "samples": round(v / (period * PAGE))} for s, v in got],
            "true_site_bytes": true_bytes,
            "exported_site_bytes": sum(v for _, v in got),
            "rss_growth_bytes": grown,
            "rss_growth_seconds": round(covered, 1),
            "true_site_over_rss_growth": (true_bytes / grown) if grown > 0 else None,
        })
    return {"minute": minute, "rows": rows, "lost_growth_site_stacks": lost_stacks(text)}


def mib(x):
    return f"{x / (1 << 20):.1f}"


def print_checkpoint(cp, period):
    log(f"\n== {cp['minute']:g} min after start (sample period {period}; growth_site_stacks lost: "
        f"{cp['lost_growth_site_stacks']})")
    log(f"{'instance':20s} {'top1':>4s} {'top3':>4s} {'site MiB':>8s} {'RSS+ MiB':>8s} {'ratio':>5s} "
        f"{'samples':>7s}  top sites (MiB)")
    for r in cp["rows"]:
        ratio = "-" if r["true_site_over_rss_growth"] is None else f"{r['true_site_over_rss_growth']:.2f}"
        samples = sum(s["samples"] for s in r["sites"])
        top = ", ".join(f"{s['site']} {mib(s['bytes'])}" for s in r["sites"][:3]) or "(no sites)"
        log(f"{r['instance']:20s} {'yes' if r['top1'] else 'no':>4s} {'yes' if r['top3'] else 'no':>4s} "
            f"{mib(r['true_site_bytes']):>8s} {mib(r['rss_growth_bytes']):>8s} {ratio:>5s} {samples:7d}  {top}")
    summary = summarize(cp["rows"])
    log(f"{'program':20s} {'top1':>6s} {'top3':>6s}  expected site")
    for name, s in summary["programs"].items():
        log(f"{name:20s} {s['top1']:>2d}/{s['n']:<3d} {s['top3']:>2d}/{s['n']:<3d}  {s['expected_site']}")
    o = summary["overall"]
    log(f"{'overall':20s} {o['top1']:>2d}/{o['n']:<3d} {o['top3']:>2d}/{o['n']:<3d}  "
        f"(top1 {100 * o['top1'] / o['n']:.0f} %, top3 {100 * o['top3'] / o['n']:.0f} %)")
    cp["summary"] = summary


def summarize(rows):
    programs = {}
    for r in rows:
        s = programs.setdefault(r["program"], {"expected_site": r["expected_site"], "n": 0, "top1": 0, "top3": 0})
        s["n"] += 1
        s["top1"] += r["top1"]
        s["top3"] += r["top3"]
    overall = {"n": len(rows), "top1": sum(r["top1"] for r in rows), "top3": sum(r["top3"] for r in rows)}
    return {"programs": programs, "overall": overall}


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--memsight", default=os.path.join(REPO, "build", "userspace", "memsight"),
                    help="the memsight binary (default: build/userspace/memsight of this tree)")
    ap.add_argument("--scenario-dir", default=os.path.join(REPO, "build", "tests", "scenarios"),
                    help="folder of the built corpus programs (default: build/tests/scenarios)")
    ap.add_argument("--manifest", default=os.path.join(REPO, "tests", "scenarios", "growth_site_corpus.json"))
    ap.add_argument("--minutes", default="3,10", help="checkpoints, minutes after the programs start (default 3,10)")
    ap.add_argument("--rates", default="256,1024", help="one instance of each program per rate, KiB/s "
                    "(default 256,1024)")
    ap.add_argument("--agent-config", help="YAML laid over the bench's config (e.g. another sample period)")
    ap.add_argument("--growth-window", type=float,
                    help="seconds of RSS growth to compare site bytes with (default: the config's "
                         "processes.growth_window, else 300)")
    ap.add_argument("--json", help="write every checkpoint (per instance, per program, overall) to FILE")
    ap.add_argument("--keep-logs", action="store_true", help="keep the agent log and config (path printed)")
    args = ap.parse_args()

    workdir = None
    agent = None
    instances = []
    try:
        if os.geteuid() != 0:
            raise BenchError("must run as root: the agent loads BPF programs (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)")
        if not (os.path.isfile(args.memsight) and os.access(args.memsight, os.X_OK)):
            raise BenchError(f"memsight binary not found or not executable: {args.memsight} (--memsight)")
        try:
            minutes = sorted({float(x) for x in args.minutes.split(",") if x.strip()})
            rates = [int(x) for x in args.rates.split(",") if x.strip()]
        except ValueError:
            raise BenchError("--minutes and --rates take comma-separated numbers")
        if not minutes or minutes[0] <= 0 or not rates or min(rates) < 1:
            raise BenchError("need --minutes > 0 and --rates >= 1")
        with open(args.manifest) as f:
            entries = json.load(f)["programs"]
        built = []
        for e in entries:
            if os.access(os.path.join(args.scenario_dir, e["program"]), os.X_OK):
                built.append(e)
            elif e.get("optional"):
                log(f"note: {e['program']} not built in {args.scenario_dir}; skipped")
            else:
                raise BenchError(f"{e['program']} not built in {args.scenario_dir} (cmake --build BUILD, "
                                 f"or --scenario-dir)")

        config = BASE_CONFIG
        if args.agent_config:
            with open(args.agent_config) as f:
                config = merge(BASE_CONFIG, parse_block_yaml(f.read(), args.agent_config))
        config_text = dump_block_yaml(config)
        period = int(config.get("kernel", {}).get("page_faults", {}).get("sample_period", "0")) or DEFAULT_PERIOD
        window = args.growth_window or seconds_of(config.get("processes", {}).get("growth_window", "")) \
            or DEFAULT_WINDOW_SECONDS
        n = len(built) * len(rates)
        if str(config.get("escalation", {}).get("enabled", "false")).lower() != "false":
            log("warning: escalation is on: deep sessions will slow the programs down")
        if int(config.get("growth_sites", {}).get("processes", "5")) < n:
            log(f"warning: growth_sites.processes < {n} instances: some will have no sites")

        workdir = tempfile.mkdtemp(prefix="memsight-growth-site-accuracy-")
        agent_bin = os.path.join(workdir, "memsight")  # a private copy: others rebuild the tree meanwhile
        shutil.copy2(args.memsight, agent_bin)
        agent = Agent(agent_bin, workdir, config_text)
        agent.start()
        time.sleep(2)
        instances = [Instance(e, r, args.scenario_dir, workdir) for e in built for r in rates]
        for i in instances:
            i.start()
        for i in instances:
            i.wait_ready()
        t0 = min(i.started for i in instances)
        log(f"agent on 127.0.0.1:{agent.port}, sample period {period}, growth window {window:g} s; "
            f"{n} instances ({', '.join(e['program'] for e in built)} x {rates} KiB/s); checkpoints at "
            f"{', '.join(f'{m:g}' for m in minutes)} min")
        log("config:\n  " + config_text.replace("\n", "\n  "))
        checkpoints = []
        next_progress = t0 + 60
        for minute in minutes:
            due = t0 + 60 * minute
            while time.monotonic() < due:
                time.sleep(min(RSS_EVERY, max(0.0, due - time.monotonic())))
                agent.check_alive()
                for i in instances:
                    i.read_rss()
                if time.monotonic() >= next_progress:
                    sites = growth_sites(agent.scrape())
                    top1 = sum(bool(sites.get(i.pid)) and sites[i.pid][0][0] == i.site for i in instances)
                    log(f"  {time.monotonic() - t0:5.0f} s: true site on top for {top1}/{n} instances")
                    next_progress += 60
            cp = checkpoint(instances, agent.scrape(), minute, window, period)
            print_checkpoint(cp, period)
            checkpoints.append(cp)
        if args.json:
            out = {
                "command": " ".join([sys.executable, *sys.argv]),
                "agent_config": config_text,
                "sample_period": period,
                "growth_window_seconds": window,
                "rates_kib_per_second": rates,
                "manifest": os.path.abspath(args.manifest),
                "host": {"kernel": platform.release(), "cpus": os.cpu_count(), "load_average": os.getloadavg()},
                "checkpoints": checkpoints,
            }
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)
            log(f"results written to {args.json}")
        return 0
    except (BenchError, OSError, urllib.error.URLError) as e:
        if agent is not None and isinstance(e, (OSError, urllib.error.URLError)):
            e = f"{e}; last agent log lines:\n{agent.log_tail()}"
        print(f"growth_site_accuracy: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("growth_site_accuracy: interrupted", file=sys.stderr)
        return 1
    finally:
        for i in instances:
            i.stop()
        if agent is not None:
            agent.stop()
        if workdir:
            if args.keep_logs:
                log(f"agent log and config kept in {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
