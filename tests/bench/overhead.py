#!/usr/bin/env python3
"""Overhead of the memsight agent on two workloads, measured side by side.

For each rep and each workload it runs the workload once without the agent (A) and once
with `memsight agent` running (B), in the order A B, B A, A B, ... (alternating per rep, so
that neither side always runs second; --order ab keeps A first), so that machine drift hits
both sides alike. A "with" run starts the agent, waits until its /metrics endpoint answers
200, lets it settle, runs the workload, then stops the agent with SIGTERM and waits for it.
Only the workload's own run counts: its wall time and its CPU time (user + sys of the
workload process, from os.wait4), the latter being less sensitive to other load on a shared
machine. The summary gives, per workload, the median wall time without and with the agent,
the ratio of the medians, the smallest per-rep ratio, the median of the per-rep ratios
with a distribution-free ~95 % confidence interval (from order statistics; needs >= 6
reps) and every per-rep ratio (with / without), and the same for CPU time.

    python3 tests/bench/overhead.py --memsight BUILD/userspace/memsight \
        --bench-dir BUILD/tests/bench [--reps 7] [--agent-config FILE] [--agent-args "..."] \
        [--json FILE]

Testing the runner without an agent:
    python3 tests/bench/overhead.py --memsight unused --bench-dir BUILD/tests/bench \
        --agent-cmd "sleep 1000" --no-wait-http --reps 2

Python 3 standard library only.
"""

import argparse
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

DEFAULT_AGENT_CMD = "{memsight} agent --listen 127.0.0.1:{port} {agent_args}"


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- workloads

PERF_EVENTS = ("instructions:u", "instructions:k", "cycles:u", "cycles:k")


class Run:
    """One workload run: wall seconds, user and sys CPU seconds, minor faults, metric, and
    hardware counter values ({event: count}) when --perf-stat is on."""

    def __init__(self, wall, user, sys_, minflt, metric, counters=None):
        self.wall, self.user, self.sys, self.minflt, self.metric = wall, user, sys_, minflt, metric
        self.counters = counters or {}
        self.bpf = None  # (run_time_ns, run_cnt) of the page-fault sampler during the run (--bpf-stats)

    @property
    def cpu(self):
        return self.user + self.sys


class Workload:
    """A benchmark binary whose size argument is calibrated to a target wall time."""

    def __init__(self, name, binary, metric, make_args, start_size, fixed_size=None, perf=None):
        self.perf = perf              # path of perf(1) for --perf-stat, else None
        self.name = name
        self.binary = binary
        self.metric = metric          # the "<metric> <value>" line the binary prints
        self.make_args = make_args    # size -> argv tail
        self.size = fixed_size
        self.start_size = start_size

    def argv(self):
        return [self.binary] + [str(a) for a in self.make_args(self.size)]

    def run(self):
        """Runs once; returns a Run (wall and CPU seconds, minor faults, the metric value)."""
        argv = self.argv()
        exec_argv = argv
        perf_out = None
        if self.perf:
            # perf stat forks the workload and waits for it, so os.wait4 on perf still
            # returns the workload's rusage (a reaped child's usage is included).
            fd, perf_out = tempfile.mkstemp(prefix="memsight-overhead-perf-", suffix=".csv")
            os.close(fd)
            exec_argv = [self.perf, "stat", "-x", ",", "-o", perf_out,
                         "-e", ",".join(PERF_EVENTS), "--"] + argv
        try:
            return self._run(argv, exec_argv, perf_out)
        finally:
            if perf_out:
                os.unlink(perf_out)

    def _run(self, argv, exec_argv, perf_out):
        # Output goes to unlinked temp files, not pipes, so that this script reaps the child
        # itself with os.wait4 and gets the rusage of exactly this process.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            try:
                proc = subprocess.Popen(exec_argv, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=err)
            except OSError as e:
                raise BenchError("cannot run %s: %s" % (argv[0], e))
            try:
                _, status, ru = os.wait4(proc.pid, 0)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace")
        if proc.returncode != 0:
            raise BenchError("%s exited with %d: %s" % (" ".join(argv), proc.returncode,
                                                         stderr.strip()))
        value = None
        for line in stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == self.metric:
                value = float(parts[1])
        if value is None:
            raise BenchError("%s printed no '%s <x>' line: %r" % (" ".join(argv), self.metric,
                                                                   stdout))
        counters = read_perf_stat(perf_out) if perf_out else None
        return Run(wall, ru.ru_utime, ru.ru_stime, ru.ru_minflt, value, counters)

    def calibrate(self, target_seconds):
        """Grows the size until a run takes >= 0.25 s, then scales it to the target."""
        if self.size is not None:
            return
        size = self.start_size
        while True:
            self.size = size
            wall = self.run().wall
            if wall >= 0.25 or size >= 1 << 40:
                break
            size *= 4
        self.size = max(1, int(round(size * target_seconds / wall)))


def read_perf_stat(path):
    """{event: count} from a `perf stat -x ,` output file; every PERF_EVENTS must be there."""
    counters = {}
    with open(path) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) < 3 or line.startswith("#"):
                continue
            if fields[2] in PERF_EVENTS:
                try:
                    counters[fields[2]] = float(fields[0])
                except ValueError:
                    raise BenchError("perf stat could not count %s (%s); hardware counters "
                                     "are not available here: drop --perf-stat" % (fields[2],
                                                                                  fields[0]))
    missing = [e for e in PERF_EVENTS if e not in counters]
    if missing:
        raise BenchError("perf stat printed no count for %s (output in %s)" % (missing, path))
    return counters


def make_workloads(args):
    def binary(name):
        path = os.path.join(args.bench_dir, name)
        if not os.access(path, os.X_OK):
            raise BenchError("workload binary not found or not executable: %s" % path)
        return path

    perf = None
    if args.perf_stat:
        perf = shutil.which(args.perf)
        if not perf:
            raise BenchError("--perf-stat: %s not found (install linux-perf)" % args.perf)
    wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
    known = {"churn", "fault_storm"}
    unknown = [w for w in wanted if w not in known]
    if unknown or not wanted:
        raise BenchError("--workloads takes a comma list of %s, got %r" % (sorted(known),
                                                                           args.workloads))
    out = []
    for name in wanted:
        if name == "churn":
            out.append(Workload("churn", binary("bench_churn"), "ns_per_op",
                                lambda n: [n], 1 << 20, args.churn_iterations, perf))
        else:
            mib = args.fault_mib
            out.append(Workload("fault_storm", binary("bench_fault_storm"), "ns_per_page",
                                lambda n, mib=mib: [n, mib], 1, args.fault_rounds, perf))
    return out


# --------------------------------------------------------------------------- the agent

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


FAULT_PROGRAMS = ("handle_fault_tp", "handle_fault_sample")


def bpf_prog_time():
    """(run_time_ns, run_cnt) summed over the loaded page-fault sampler programs (kernel.bpf_stats_enabled=1)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    if out.returncode != 0:
        raise BenchError("--bpf-stats: bpftool prog show failed: %s" % out.stderr.strip())
    ns = cnt = 0
    for p in json.loads(out.stdout or "[]"):
        if p.get("name") in FAULT_PROGRAMS:
            ns += p.get("run_time_ns", 0)
            cnt += p.get("run_cnt", 0)
    return ns, cnt


class BpfStats:
    """kernel.bpf_stats_enabled on for the run, restored after."""

    def __enter__(self):
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            self.old = f.read().strip()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        return self

    def __exit__(self, *exc):
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(self.old)
        return False


def full_agent_args(args):
    """--agent-args, plus "--config FILE" when --agent-config is given."""
    extra = args.agent_args
    if args.agent_config:
        extra = ("%s --config %s" % (extra, shlex.quote(args.agent_config))).strip()
    return extra


class Agent:
    """One agent process for one "with" run; a context manager that always stops it."""

    def __init__(self, args, log_path, warnings):
        self.args = args
        self.log_path = log_path
        self.warnings = warnings
        self.port = free_port()
        try:
            text = args.agent_cmd.format(memsight=shlex.quote(args.memsight), port=self.port,
                                         agent_args=full_agent_args(args))
        except (KeyError, IndexError, ValueError) as e:
            raise BenchError("bad --agent-cmd template %r: %s (fields: {memsight} {port} "
                             "{agent_args})" % (args.agent_cmd, e))
        self.argv = shlex.split(text)
        if not self.argv:
            raise BenchError("--agent-cmd expands to an empty command")
        self.proc = None

    def __enter__(self):
        self.log = open(self.log_path, "a")
        self.log.write("\n==> %s\n" % " ".join(shlex.quote(a) for a in self.argv))
        self.log.flush()
        try:
            # Own session: a Ctrl-C on the terminal reaches only this script, which then
            # stops the agent itself.
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            self.log.close()
            raise BenchError("cannot start the agent %r: %s" % (self.argv[0], e))
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def check_alive(self, when):
        if self.proc.poll() is not None:
            raise BenchError("the agent exited with %d %s; last lines of %s:\n%s"
                             % (self.proc.returncode, when, self.log_path, tail(self.log_path)))

    def _wait_ready(self):
        if self.args.no_wait_http:
            time.sleep(1.0)
            self.check_alive("during its first second")
        else:
            url = "http://127.0.0.1:%d/metrics" % self.port
            deadline = time.monotonic() + self.args.ready_timeout
            while True:
                self.check_alive("before %s answered" % url)
                try:
                    with urllib.request.urlopen(url, timeout=2) as resp:
                        if resp.status == 200:
                            resp.read()
                            break
                except (urllib.error.URLError, ConnectionError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise BenchError("%s did not answer 200 within %.0f s; last lines of %s:\n%s"
                                     % (url, self.args.ready_timeout, self.log_path,
                                        tail(self.log_path)))
                time.sleep(0.1)
        if self.args.settle > 0:
            time.sleep(self.args.settle)
            self.check_alive("while settling")

    def stop(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.args.stop_timeout)
            except subprocess.TimeoutExpired:
                self.warnings.append("agent pid %d ignored SIGTERM for %.0f s; killed its "
                                     "process group" % (proc.pid, self.args.stop_timeout))
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: children too
                except ProcessLookupError:
                    pass
                proc.wait()
            rc = proc.returncode
            # 0 is a clean shutdown; -SIGTERM is what a plain test command (sleep) gives.
            if rc not in (0, -signal.SIGTERM, -signal.SIGKILL):
                self.warnings.append("agent pid %d exited with %d after SIGTERM" % (proc.pid, rc))
        self.log.close()


# --------------------------------------------------------------------------- measuring

def median_ci(values, level=0.95):
    """Distribution-free confidence interval of the median (binomial order statistics):
    (low, high, actual coverage), or None when there are too few values (n < 6 at 95 %)."""
    xs = sorted(values)
    n = len(xs)
    tail, k = 0.0, 0
    # k = the largest count with P(Binomial(n, 1/2) < k) <= (1 - level) / 2.
    while True:
        p_next = tail + math.comb(n, k) / 2.0 ** n
        if p_next > (1 - level) / 2:
            break
        tail, k = p_next, k + 1
    if k == 0:
        return None
    return xs[k - 1], xs[n - k], 1 - 2 * tail


def summarize_counters(runs_without, runs_with):
    """Per hardware event (--perf-stat): counts without/with, medians and ratios."""
    out = {}
    for event in PERF_EVENTS:
        a = [r.counters.get(event) for r in runs_without]
        b = [r.counters.get(event) for r in runs_with]
        if None in a or None in b:
            continue
        ratios = [y / x if x > 0 else float("nan") for x, y in zip(a, b)]
        ci = median_ci(ratios)
        med_a, med_b = statistics.median(a), statistics.median(b)
        out[event] = {"without": a, "with": b, "median_without": med_a, "median_with": med_b,
                      "ratio_of_medians": med_b / med_a if med_a > 0 else float("nan"),
                      "min_ratio": min(ratios), "ratios": ratios,
                      "median_ratio": statistics.median(ratios),
                      "median_ratio_ci": list(ci) if ci else None}
    return out


def summarize(workload, runs_without, runs_with):
    without = [r.wall for r in runs_without]
    with_ = [r.wall for r in runs_with]
    m_without = [r.metric for r in runs_without]
    m_with = [r.metric for r in runs_with]
    cpu_a = [r.cpu for r in runs_without]
    cpu_b = [r.cpu for r in runs_with]
    ratios = [b / a for a, b in zip(without, with_)]
    cpu_ratios = [b / a if a > 0 else float("nan") for a, b in zip(cpu_a, cpu_b)]
    med_a, med_b = statistics.median(without), statistics.median(with_)
    cmed_a, cmed_b = statistics.median(cpu_a), statistics.median(cpu_b)
    ci, cpu_ci = median_ci(ratios), median_ci(cpu_ratios)
    return {
        "argv": [os.path.basename(workload.binary)] + workload.argv()[1:],
        "metric": workload.metric,
        "without_s": without,
        "with_s": with_,
        "median_without_s": med_a,
        "median_with_s": med_b,
        "ratio_of_medians": med_b / med_a,
        "min_ratio": min(ratios),
        "max_ratio": max(ratios),
        "ratios": ratios,
        # Median of the per-rep ratios and a distribution-free ~95 % interval for it.
        "median_ratio": statistics.median(ratios),
        "median_ratio_ci": list(ci) if ci else None,
        "metric_without": m_without,
        "metric_with": m_with,
        "median_metric_without": statistics.median(m_without),
        "median_metric_with": statistics.median(m_with),
        # CPU time (user + sys) of the workload process itself, from os.wait4.
        "cpu_without_s": cpu_a,
        "cpu_with_s": cpu_b,
        "user_without_s": [r.user for r in runs_without],
        "user_with_s": [r.user for r in runs_with],
        "sys_without_s": [r.sys for r in runs_without],
        "sys_with_s": [r.sys for r in runs_with],
        "median_cpu_without_s": cmed_a,
        "median_cpu_with_s": cmed_b,
        "cpu_ratio_of_medians": cmed_b / cmed_a if cmed_a > 0 else float("nan"),
        "cpu_min_ratio": min(cpu_ratios),
        "cpu_max_ratio": max(cpu_ratios),
        "cpu_ratios": cpu_ratios,
        "cpu_median_ratio": statistics.median(cpu_ratios),
        "cpu_median_ratio_ci": list(cpu_ci) if cpu_ci else None,
        "minflt_without": [r.minflt for r in runs_without],
        "minflt_with": [r.minflt for r in runs_with],
        "counters": summarize_counters(runs_without, runs_with),
        # --bpf-stats: the page-fault sampler's own run time while the "with" run ran (any process's faults),
        # per program run (= per fault) and as a fraction of the workload's CPU time.
        "bpf_ns_per_run": [r.bpf[0] / r.bpf[1] if r.bpf and r.bpf[1] else None for r in runs_with],
        "bpf_fraction_of_cpu": [r.bpf[0] / 1e9 / r.cpu if r.bpf and r.cpu > 0 else None for r in runs_with],
    }


def print_report(results, warnings, loads=(), out=sys.stdout):
    def ci_text(ci):
        return "[%.3f,%.3f]" % (ci[0], ci[1]) if ci else "[n<6]"

    tables = (("workload", "", "median_without_s", "median_with_s", "ratio_of_medians",
               "min_ratio", "median_ratio", "median_ratio_ci", "ratios"),
              ("cpu (u+s)", "cpu_", "median_cpu_without_s", "median_cpu_with_s",
               "cpu_ratio_of_medians", "cpu_min_ratio", "cpu_median_ratio",
               "cpu_median_ratio_ci", "cpu_ratios"))
    for title, _, k_a, k_b, k_ratio, k_min, k_rmed, k_ci, k_ratios in tables:
        print("", file=out)
        header = "%-12s %4s %9s %9s %7s %9s %7s %15s  %s" % (
            title, "reps", "without_s", "with_s", "ratio", "min_ratio", "rep_med", "rep_med_95%ci",
            "per-rep ratios")
        print(header, file=out)
        print("-" * len(header), file=out)
        for name, r in results.items():
            print("%-12s %4d %9.4f %9.4f %7.4f %9.4f %7.4f %15s  %s" % (
                name, len(r[k_ratios]), r[k_a], r[k_b], r[k_ratio], r[k_min], r[k_rmed],
                ci_text(r[k_ci]), " ".join("%.3f" % x for x in r[k_ratios])), file=out)
    counted = [(name, event, c) for name, r in results.items()
               for event, c in r["counters"].items()]
    if counted:
        print("", file=out)
        header = "%-12s %-15s %12s %12s %7s %7s %15s  %s" % (
            "perf stat", "event", "without", "with", "ratio", "rep_med", "rep_med_95%ci",
            "per-rep ratios")
        print(header, file=out)
        print("-" * len(header), file=out)
        for name, event, c in counted:
            print("%-12s %-15s %12.4g %12.4g %7.4f %7.4f %15s  %s" % (
                name, event, c["median_without"], c["median_with"], c["ratio_of_medians"],
                c["median_ratio"], ci_text(c["median_ratio_ci"]),
                " ".join("%.3f" % x for x in c["ratios"])), file=out)
    for name, r in results.items():
        per_run = [x for x in r["bpf_ns_per_run"] if x is not None]
        frac = [x for x in r["bpf_fraction_of_cpu"] if x is not None]
        if per_run:
            print("%-12s bpf page-fault sampler: median %.1f ns per fault, %.4f of the workload's CPU time "
                  "(min %.4f, max %.4f)" % (name, statistics.median(per_run), statistics.median(frac), min(frac),
                                            max(frac)), file=out)
    print("", file=out)
    for name, r in results.items():
        print("%-12s %s: median %.2f without, %.2f with (%s)" % (
            name, r["metric"], r["median_metric_without"], r["median_metric_with"],
            " ".join(r["argv"])), file=out)
    if loads:
        print("load average (1 min) at start %.2f, during reps %.2f..%.2f, at end %.2f" % (
            loads[0][0], min(l[0] for l in loads), max(l[0] for l in loads), loads[-1][0]),
            file=out)
    for w in warnings:
        print("warning: %s" % w, file=out)


def json_text(doc):
    """Indented JSON with lists of numbers (per-rep values) kept on one line each."""
    text = json.dumps(doc, indent=2)
    return re.sub(r"\[\s*([-0-9.eE+,\s]+?)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
                  text) + "\n"


def main():
    ap = argparse.ArgumentParser(
        description="Measure memsight agent overhead: workloads timed without/with the agent, "
                    "A B / B A alternating per rep.")
    ap.add_argument("--memsight", required=True, help="path of the memsight binary")
    ap.add_argument("--bench-dir", required=True,
                    help="directory holding bench_churn and bench_fault_storm")
    ap.add_argument("--reps", type=int, default=7, help="repetitions per side (default 7)")
    ap.add_argument("--agent-args", default="", help="extra arguments for the agent")
    ap.add_argument("--agent-config", metavar="FILE",
                    help="YAML config for the agent: adds '--config FILE' to its arguments")
    ap.add_argument("--agent-cmd", default=DEFAULT_AGENT_CMD,
                    help="agent command template with {memsight} {port} {agent_args} "
                         "(default: %(default)r)")
    ap.add_argument("--ready-timeout", type=float, default=30.0,
                    help="seconds to wait for /metrics to answer 200 (default 30)")
    ap.add_argument("--no-wait-http", action="store_true",
                    help="the agent command is not an HTTP server: just wait 1 s after start")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds to wait after the agent is ready, before the workload "
                         "(default 0.5)")
    ap.add_argument("--stop-timeout", type=float, default=20.0,
                    help="seconds to wait for the agent to exit after SIGTERM before SIGKILL")
    ap.add_argument("--order", choices=("alternate", "ab"), default="alternate",
                    help="alternate: A B in odd reps, B A in even reps, so that neither side "
                         "always runs second (default); ab: A B in every rep")
    ap.add_argument("--workloads", default="churn,fault_storm",
                    help="comma list of churn, fault_storm (default both)")
    ap.add_argument("--target-seconds", type=float, default=1.5,
                    help="calibrate each workload to about this wall time (default 1.5)")
    ap.add_argument("--churn-iterations", type=int, help="fix bench_churn's size (no calibration)")
    ap.add_argument("--fault-rounds", type=int,
                    help="fix bench_fault_storm's rounds (no calibration)")
    ap.add_argument("--fault-mib", type=int, default=32,
                    help="MiB mapped per bench_fault_storm round (default 32)")
    ap.add_argument("--perf-stat", action="store_true",
                    help="also count %s of each workload run with `perf stat` (hardware "
                         "counters; instruction counts barely move with other load)"
                         % ",".join(PERF_EVENTS))
    ap.add_argument("--bpf-stats", action="store_true",
                    help="also measure the page-fault sampler's BPF run time during each 'with' run "
                         "(sets kernel.bpf_stats_enabled=1 for the run; needs bpftool)")
    ap.add_argument("--perf", default="perf", help="perf binary for --perf-stat (default perf)")
    ap.add_argument("--agent-log", help="append agent output here (default: a temp file)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps must be >= 1")
    if args.agent_config:
        if not os.access(args.agent_config, os.R_OK):
            ap.error("--agent-config: cannot read %s" % args.agent_config)
        args.agent_config = os.path.abspath(args.agent_config)

    warnings = []
    loads = []  # os.getloadavg() before the first rep and after each workload of each rep
    log_path = args.agent_log or tempfile.NamedTemporaryFile(
        prefix="memsight-overhead-agent-", suffix=".log", delete=False).name
    stats = BpfStats().__enter__() if args.bpf_stats else None
    try:
        Agent(args, log_path, warnings)  # checks the --agent-cmd template before any run
        workloads = make_workloads(args)
        for w in workloads:
            w.calibrate(args.target_seconds)
            print("calibrated %-12s %s" % (w.name, " ".join(w.argv())), flush=True)

        data = {w.name: ([], []) for w in workloads}  # runs without, runs with
        loads.append(os.getloadavg())
        for rep in range(1, args.reps + 1):
            a_first = args.order == "ab" or rep % 2 == 1
            for w in workloads:
                runs_a, runs_b = data[w.name]
                if a_first:
                    a = w.run()
                with Agent(args, log_path, warnings) as agent:
                    before = bpf_prog_time() if args.bpf_stats else None
                    b = w.run()
                    if before:
                        after = bpf_prog_time()
                        b.bpf = (after[0] - before[0], after[1] - before[1])
                    agent.check_alive("while %s ran" % w.name)
                if not a_first:
                    a = w.run()
                runs_a.append(a)
                runs_b.append(b)
                loads.append(os.getloadavg())
                print("rep %d/%d %s %-12s without %.4f s  with %.4f s  ratio %.4f  "
                      "cpu %.4f / %.4f s  ratio %.4f  load %.2f"
                      % (rep, args.reps, "AB" if a_first else "BA", w.name, a.wall, b.wall, b.wall / a.wall, a.cpu, b.cpu,
                         b.cpu / a.cpu if a.cpu > 0 else float("nan"), loads[-1][0]),
                      flush=True)
    except BenchError as e:
        print("overhead.py: error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("overhead.py: interrupted", file=sys.stderr)
        return 130

    finally:
        if stats:
            stats.__exit__(None, None, None)

    results = {w.name: summarize(w, *data[w.name]) for w in workloads}
    print_report(results, warnings, loads)
    print("agent log: %s" % log_path)

    if args.json:
        doc = {
            "agent_cmd": args.agent_cmd,
            "memsight": args.memsight,
            "agent_args": args.agent_args,
            "agent_config": args.agent_config,
            "agent_argv_example": Agent(args, log_path, []).argv,
            "reps": args.reps,
            "order": ("A B in odd reps, B A in even reps" if args.order == "alternate" else
                      "A B in every rep") + " (A = without agent, B = with agent), per workload",
            "host": {"kernel": platform.release(), "machine": platform.machine(),
                     "cpus": os.cpu_count()},
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "loadavg": {"start": list(loads[0]), "end": list(loads[-1]),
                        "max_1min": max(l[0] for l in loads),
                        "min_1min": min(l[0] for l in loads)},
            "workloads": results,
            "warnings": warnings,
        }
        with open(args.json, "w") as f:
            f.write(json_text(doc))
        print("wrote %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
