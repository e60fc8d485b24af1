#!/usr/bin/env python3
"""Accuracy of memsight's leak suspicion on a labelled corpus of memory shapes.

Starts `memsight agent` with a config it writes (short interval and growth window, every process
exported, a free port on 127.0.0.1), launches every program of the corpus at once
(tests/scenarios/corpus/corpus.json: name, program, args, label leak / not-leak), scrapes /metrics
every second for --duration seconds and records, per program, the first time its
`memsight_process_leak_suspicion` reaches --threshold (seconds since the program printed "ready").

A program is classified a leak if its suspicion reached the threshold at any scrape of the run:
that is what an alert without a `for:` clause would do, so one transient crossing on a non-leak
counts as a false positive. For fork-heavy programs only the parent (the pid in "ready") is judged.

Prints per-program results, the confusion matrix (TP, FN, FP, TN), the false-positive rate
(FP / not-leaks), the detection rate (TP / leaks) and the median detection latency (over the
detected leaks). The issue's targets: false positives <= 5 %, detection >= 95 %.

    sudo python3 tests/bench/leak_accuracy.py [--memsight build/userspace/memsight] \\
        [--corpus build/tests/scenarios/corpus] [--manifest tests/scenarios/corpus/corpus.json] \\
        [--duration 300] [--window 120] [--interval 1] [--threshold 0.5] [--runs 1] \\
        [--only NAME,NAME] [--json FILE] [--require-targets]

Exit status: 0 after a complete run (1 when it could not run: not root, a binary missing, the
agent failed, a corpus program did not start or died; 3 with --require-targets when a target was
missed). Python 3 standard library only.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_agent import Agent, BenchError, ScenarioProcess, log  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TARGET_FP_RATE = 0.05
TARGET_DETECTION = 0.95
FAMILIES = {
    "memsight_process_leak_suspicion": "suspicion",
    "memsight_process_growth_bytes_per_second": "growth",
    "memsight_process_resident_bytes": "rss",  # summed over kind
}


# --------------------------------------------------------------------------- metrics

LINE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}\s+(\S+)')
PID_RE = re.compile(r'(?:^|,)pid="(\d+)"')


def parse_process_metrics(text, pids):
    """{pid: {"suspicion": x, "growth": x, "rss": x}} for the wanted pids (rss summed over kind)."""
    out = {}
    for line in text.splitlines():
        if not line.startswith("memsight_process_"):
            continue
        m = LINE_RE.match(line)
        if not m or m.group(1) not in FAMILIES:
            continue
        p = PID_RE.search(m.group(2))
        if not p or int(p.group(1)) not in pids:
            continue
        row = out.setdefault(int(p.group(1)), {})
        key = FAMILIES[m.group(1)]
        row[key] = row.get(key, 0.0) + float(m.group(3))
    return out


# --------------------------------------------------------------------------- agent

def duration_text(seconds):
    """Seconds as a config duration: whole seconds, else milliseconds (the agent takes no fractions)."""
    return f"{seconds:.0f}s" if float(seconds).is_integer() else f"{seconds * 1000:.0f}ms"


# --------------------------------------------------------------------------- corpus

def load_manifest(path, only):
    try:
        with open(path) as f:
            entries = json.load(f)["programs"]
    except (OSError, ValueError, KeyError) as e:
        raise BenchError(f"cannot read the corpus manifest {path}: {e}")
    for e in entries:
        if e.get("label") not in ("leak", "not-leak"):
            raise BenchError(f"{path}: entry {e.get('name')!r} has label {e.get('label')!r}, not leak / not-leak")
    if only:
        wanted = [n.strip() for n in only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - {e["name"] for e in entries})
        if unknown:
            raise BenchError(f"--only: not in {path}: {', '.join(unknown)}")
        entries = [e for e in entries if e["name"] in wanted]
    if not entries:
        raise BenchError("no corpus programs to run")
    return entries


class Program(ScenarioProcess):
    """One running corpus program and what was scraped about it."""

    def __init__(self, entry, corpus_dir, run_seconds, seed, workdir):
        self.entry = entry
        self.label = entry["label"]
        binary = os.path.join(corpus_dir, entry["program"])
        # The run time is a safety net: stdin EOF stops the program too (also if this script dies).
        # CORPUS_SEED varies the random choices of the noisy shapes from run to run (corpus.h).
        super().__init__(entry["name"], [binary, *entry["args"], str(run_seconds)],
                         os.path.join(workdir, f"{entry['name']}.stderr"),
                         env=dict(os.environ, CORPUS_SEED=str(seed)))
        self.seed = seed
        self.samples = []          # [seconds since ready, suspicion, growth B/s, rss B]
        self.first_detection = None
        self.died = None

    def result(self, threshold, window, with_samples):
        e = self.entry
        sus = [s[1] for s in self.samples]
        after_window = [s for s in self.samples if s[0] >= window]
        flagged_after = [s for s in after_window if s[1] >= threshold]
        detected = self.first_detection is not None
        return {
            "name": self.name,
            "program": e["program"],
            "args": e["args"],
            "label": e["label"],
            "shape": e.get("shape", ""),
            "expected_bytes_per_second": e.get("expected_bytes_per_second"),
            "pid": self.pid,
            "detected": detected,
            "correct": detected == (self.label == "leak"),
            "first_detection_seconds": self.first_detection,
            "max_suspicion": max(sus) if sus else None,
            "final_suspicion": sus[-1] if sus else None,
            "final_growth_bytes_per_second": self.samples[-1][2] if self.samples else None,
            "final_rss_bytes": self.samples[-1][3] if self.samples else None,
            # Share of the scrapes after one full window at or above the threshold (how steady the verdict is).
            "flagged_fraction_after_window": (len(flagged_after) / len(after_window)) if after_window else None,
            "scrapes": len(self.samples),
            "corpus_seed": self.seed,
            "died": self.died,
            "samples": ([[round(t, 2), round(s, 4), round(g, 1), int(r)] for t, s, g, r in self.samples]
                        if with_samples else None),
        }


# --------------------------------------------------------------------------- one run

def run_once(args, entries, memsight, run_index, seed):
    workdir = tempfile.mkdtemp(prefix="memsight-leak-accuracy-")
    # A private copy of the binary: other people rebuild the tree while this runs for minutes.
    agent_bin = os.path.join(workdir, "memsight")
    shutil.copy2(memsight, agent_bin)
    # Every process exported (the corpus must be, whatever else runs); 1 s readings and a short growth window so
    # that the run takes minutes, not hours. Escalation off: this measures the always-on detector, and escalated
    # sessions would slow the leakers and write profile files.
    agent = Agent(agent_bin, workdir, f"interval: {duration_text(args.interval)}\n"
                                      f"processes:\n"
                                      f"  top_by_rss: 10000\n"
                                      f"  top_by_growth: 10000\n"
                                      f"  growth_window: {duration_text(args.window)}\n"
                                      f"escalation:\n"
                                      f"  enabled: false\n")
    programs = [Program(e, args.corpus, int(args.duration) + 60, seed, workdir) for e in entries]
    try:
        agent.start()
        time.sleep(2 * args.interval)  # the agent's first scans, so the programs are seen from their start
        for p in programs:
            p.start()
        for p in programs:
            p.wait_ready()
        pids = {p.pid: p for p in programs}
        log(f"run {run_index}: agent on 127.0.0.1:{agent.port} (window {args.window:g} s, interval "
            f"{args.interval:g} s), {len(programs)} programs started (CORPUS_SEED={seed}), "
            f"watching for {args.duration:g} s")
        t0 = time.monotonic()
        next_report = t0 + 30
        while True:
            now = time.monotonic()
            if now - t0 >= args.duration:
                break
            agent.check_alive()
            try:
                text = agent.scrape()
            except (OSError, urllib.error.URLError) as e:
                agent.check_alive()
                log(f"warning: scrape failed: {e}")
                time.sleep(args.scrape_interval)
                continue
            at = time.monotonic()
            rows = parse_process_metrics(text, pids)
            for pid, p in pids.items():
                if p.died is None and p.proc.poll() is not None:
                    p.died = round(at - p.started, 1)
                row = rows.get(pid)
                if row is None or "suspicion" not in row:
                    continue
                t = at - p.started
                p.samples.append([t, row["suspicion"], row.get("growth", 0.0), row.get("rss", 0.0)])
                if p.first_detection is None and row["suspicion"] >= args.threshold:
                    p.first_detection = round(t, 1)
                    log(f"  {t:6.1f} s  {p.name:16s} ({p.label}) suspicion {row['suspicion']:.2f}")
            if at >= next_report:
                flagged = sum(p.first_detection is not None for p in programs)
                log(f"  {at - t0:6.0f} s  {flagged}/{len(programs)} programs flagged so far")
                next_report += 30
            time.sleep(max(0.0, args.scrape_interval - (time.monotonic() - at)))
        dead = [p for p in programs if p.died is not None]
        if dead:
            raise BenchError("corpus programs died during the run: " +
                             ", ".join(f"{p.name} (pid {p.pid}, after {p.died} s, status {p.proc.returncode})"
                                       for p in dead))
        never = [p.name for p in programs if not p.samples]
        if never:
            raise BenchError(f"never exported by the agent: {', '.join(never)} (is top_by_rss honoured?)")
        return [p.result(args.threshold, args.window, args.samples) for p in programs], agent.config
    finally:
        for p in programs:
            p.stop()
        agent.stop()
        if args.keep_logs:
            log(f"agent log, config and the programs' stderr kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- summary

def summarize(results):
    tp = sum(r["label"] == "leak" and r["detected"] for r in results)
    fn = sum(r["label"] == "leak" and not r["detected"] for r in results)
    fp = sum(r["label"] == "not-leak" and r["detected"] for r in results)
    tn = sum(r["label"] == "not-leak" and not r["detected"] for r in results)
    lat = sorted(r["first_detection_seconds"] for r in results if r["label"] == "leak" and r["detected"])
    return {
        "tp": tp, "fn": fn, "fp": fp, "tn": tn,
        "false_positive_rate": fp / (fp + tn) if fp + tn else None,
        "detection_rate": tp / (tp + fn) if tp + fn else None,
        "median_detection_latency_seconds": statistics.median(lat) if lat else None,
        "detection_latencies_seconds": lat,
    }


def pct(x):
    return "n/a" if x is None else f"{100 * x:.1f} %"


def print_run(results, threshold):
    log(f"\n{'program':16s} {'label':9s} {'verdict':9s} {'first>=' + format(threshold, 'g'):>9s} "
        f"{'max':>5s} {'final':>5s} {'flag%':>6s} {'growth KiB/s':>12s} {'expected':>9s}  shape")
    for r in results:
        verdict = "leak" if r["detected"] else "not-leak"
        mark = "" if r["correct"] else "  <-- " + ("FN" if r["label"] == "leak" else "FP")
        first = "-" if r["first_detection_seconds"] is None else f"{r['first_detection_seconds']:.0f} s"
        frac = r["flagged_fraction_after_window"]
        growth = r["final_growth_bytes_per_second"]
        expected = r["expected_bytes_per_second"]
        log(f"{r['name']:16s} {r['label']:9s} {verdict:9s} {first:>9s} {r['max_suspicion']:5.2f} "
            f"{r['final_suspicion']:5.2f} {'-' if frac is None else format(100 * frac, '.0f'):>6s} "
            f"{growth / 1024:12.1f} {'-' if expected is None else format(expected / 1024, '.0f'):>9s}  "
            f"{r['shape']}{mark}")


def print_summary(s, title):
    log(f"\n{title}")
    log("                  detected   not detected")
    log(f"  leak           TP {s['tp']:4d}    FN {s['fn']:4d}")
    log(f"  not-leak       FP {s['fp']:4d}    TN {s['tn']:4d}")
    ok_fp = s["false_positive_rate"] is None or s["false_positive_rate"] <= TARGET_FP_RATE
    ok_det = s["detection_rate"] is None or s["detection_rate"] >= TARGET_DETECTION
    log(f"  false-positive rate   {pct(s['false_positive_rate']):>8s}  (target <= {TARGET_FP_RATE:.0%}: "
        f"{'met' if ok_fp else 'MISSED'})")
    log(f"  detection rate        {pct(s['detection_rate']):>8s}  (target >= {TARGET_DETECTION:.0%}: "
        f"{'met' if ok_det else 'MISSED'})")
    med = s["median_detection_latency_seconds"]
    log(f"  median detection latency  {'n/a' if med is None else format(med, '.0f') + ' s'} "
        f"(from the program's start; latencies {s['detection_latencies_seconds']})")
    return ok_fp and ok_det


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--memsight", default=os.path.join(REPO, "build", "userspace", "memsight"),
                    help="the memsight binary (default: BUILD/userspace/memsight of this tree)")
    ap.add_argument("--corpus", default=os.path.join(REPO, "build", "tests", "scenarios", "corpus"),
                    help="folder of the built corpus programs")
    ap.add_argument("--manifest", default=os.path.join(REPO, "tests", "scenarios", "corpus", "corpus.json"),
                    help="corpus manifest (name, program, args, label)")
    ap.add_argument("--duration", type=float, default=300, help="seconds to watch after the start (default 300)")
    ap.add_argument("--window", type=float, default=120,
                    help="agent processes.growth_window, seconds (default 120)")
    ap.add_argument("--interval", type=float, default=1, help="agent interval, seconds (default 1)")
    ap.add_argument("--scrape-interval", type=float, default=1, help="seconds between scrapes (default 1)")
    ap.add_argument("--threshold", type=float, default=0.5,
                    help="suspicion at which a process counts as flagged (default 0.5)")
    ap.add_argument("--runs", type=int, default=1, help="repeat the whole run N times (default 1)")
    ap.add_argument("--only", help="comma-separated corpus names to run (default: all)")
    ap.add_argument("--seed", type=int,
                    help="CORPUS_SEED of the first run (then +1 per run); default: random, printed and recorded")
    ap.add_argument("--json", help="write the results (per program, per run, pooled) to FILE")
    ap.add_argument("--samples", action="store_true",
                    help="also write every scrape per program to --json ([s since ready, suspicion, growth, rss])")
    ap.add_argument("--keep-logs", action="store_true", help="keep the agent's log and config and the programs' stderr (path printed)")
    ap.add_argument("--require-targets", action="store_true",
                    help=f"exit 3 unless FP rate <= {TARGET_FP_RATE:.0%} and detection >= {TARGET_DETECTION:.0%}"
                    .replace("%", "%%"))  # argparse formats help with %
    args = ap.parse_args()

    try:
        if os.geteuid() != 0:
            raise BenchError("must run as root: the agent loads BPF programs (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)")
        if not (os.path.isfile(args.memsight) and os.access(args.memsight, os.X_OK)):
            raise BenchError(f"memsight binary not found or not executable: {args.memsight} (build it, or --memsight)")
        entries = load_manifest(args.manifest, args.only)
        missing = sorted({e["program"] for e in entries
                          if not os.access(os.path.join(args.corpus, e["program"]), os.X_OK)})
        if missing:
            raise BenchError(f"corpus programs not built in {args.corpus}: {', '.join(missing)} "
                             f"(cmake --build BUILD, or --corpus)")
        if args.window < args.interval or args.duration <= 0 or args.runs < 1:
            raise BenchError("need --window >= --interval, --duration > 0, --runs >= 1")

        runs = []
        config = None
        first_seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(3), "little")
        for i in range(1, args.runs + 1):
            started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            seed = first_seed + i - 1
            results, config = run_once(args, entries, args.memsight, i, seed)
            print_run(results, args.threshold)
            s = summarize(results)
            ok = print_summary(s, f"run {i}/{args.runs} (threshold {args.threshold:g}, {len(results)} programs)")
            runs.append({"started": started, "corpus_seed": seed, "results": results, "summary": s,
                         "load_average": os.getloadavg()})
        pooled = summarize([r for run in runs for r in run["results"]])
        if args.runs > 1:
            log("\nper program over the runs (detected / runs, first detection in seconds):")
            for e in entries:
                rs = [r for run in runs for r in run["results"] if r["name"] == e["name"]]
                det = [r["first_detection_seconds"] for r in rs if r["detected"]]
                log(f"  {e['name']:16s} {e['label']:9s} {len(det)}/{len(rs)}  {det}")
            ok = print_summary(pooled, f"all runs pooled ({args.runs} runs, "
                                       f"{sum(len(r['results']) for r in runs)} program runs)")
        if args.json:
            out = {
                "command": " ".join([sys.executable, *sys.argv]),
                "threshold": args.threshold,
                "window_seconds": args.window,
                "interval_seconds": args.interval,
                "duration_seconds": args.duration,
                "agent_config": config,
                "manifest": os.path.abspath(args.manifest),
                "host": {"kernel": platform.release(), "cpus": os.cpu_count()},
                "targets": {"false_positive_rate_max": TARGET_FP_RATE, "detection_rate_min": TARGET_DETECTION},
                "runs": runs,
                "pooled": pooled,
                "targets_met": ok,
            }
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)
            log(f"results written to {args.json}")
        if args.require_targets and not ok:
            log("targets missed (--require-targets)")
            return 3
        return 0
    except BenchError as e:
        print(f"leak_accuracy: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("leak_accuracy: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
