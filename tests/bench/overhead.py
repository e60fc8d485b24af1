#!/usr/bin/env python3
"""Overhead of the memsight agent on two workloads, measured side by side.

For each rep and each workload it runs the workload once without the agent (A) and once
with `memsight agent` running (B), in the order A B A B ..., so that machine drift hits
both sides alike. A "with" run starts the agent, waits until its /metrics endpoint answers
200, lets it settle, runs the workload, then stops the agent with SIGTERM and waits for it.
Only the workload's wall time counts. The summary gives, per workload, the median time
without and with the agent, the ratio of the medians, the smallest per-rep ratio and every
per-rep ratio (with / without).

    python3 tests/bench/overhead.py --memsight BUILD/userspace/memsight \
        --bench-dir BUILD/tests/bench [--reps 7] [--agent-args "..."] [--json FILE]

Testing the runner without an agent:
    python3 tests/bench/overhead.py --memsight unused --bench-dir BUILD/tests/bench \
        --agent-cmd "sleep 1000" --no-wait-http --reps 2

Python 3 standard library only.
"""

import argparse
import json
import os
import platform
import shlex
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

class Workload:
    """A benchmark binary whose size argument is calibrated to a target wall time."""

    def __init__(self, name, binary, metric, make_args, start_size, fixed_size=None):
        self.name = name
        self.binary = binary
        self.metric = metric          # the "<metric> <value>" line the binary prints
        self.make_args = make_args    # size -> argv tail
        self.size = fixed_size
        self.start_size = start_size

    def argv(self):
        return [self.binary] + [str(a) for a in self.make_args(self.size)]

    def run(self):
        """Runs once; returns (wall seconds, value of the metric line)."""
        argv = self.argv()
        start = time.perf_counter()
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise BenchError("%s exited with %d: %s" % (" ".join(argv), proc.returncode,
                                                         proc.stderr.strip()))
        value = None
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == self.metric:
                value = float(parts[1])
        if value is None:
            raise BenchError("%s printed no '%s <x>' line: %r" % (" ".join(argv), self.metric,
                                                                   proc.stdout))
        return wall, value

    def calibrate(self, target_seconds):
        """Grows the size until a run takes >= 0.25 s, then scales it to the target."""
        if self.size is not None:
            return
        size = self.start_size
        while True:
            self.size = size
            wall, _ = self.run()
            if wall >= 0.25 or size >= 1 << 40:
                break
            size *= 4
        self.size = max(1, int(round(size * target_seconds / wall)))


def make_workloads(args):
    def binary(name):
        path = os.path.join(args.bench_dir, name)
        if not os.access(path, os.X_OK):
            raise BenchError("workload binary not found or not executable: %s" % path)
        return path

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
                                lambda n: [n], 1 << 20, args.churn_iterations))
        else:
            mib = args.fault_mib
            out.append(Workload("fault_storm", binary("bench_fault_storm"), "ns_per_page",
                                lambda n, mib=mib: [n, mib], 1, args.fault_rounds))
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


class Agent:
    """One agent process for one "with" run; a context manager that always stops it."""

    def __init__(self, args, log_path, warnings):
        self.args = args
        self.log_path = log_path
        self.warnings = warnings
        self.port = free_port()
        try:
            text = args.agent_cmd.format(memsight=shlex.quote(args.memsight), port=self.port,
                                         agent_args=args.agent_args)
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

def summarize(workload, without, with_, m_without, m_with):
    ratios = [b / a for a, b in zip(without, with_)]
    med_a, med_b = statistics.median(without), statistics.median(with_)
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
        "metric_without": m_without,
        "metric_with": m_with,
        "median_metric_without": statistics.median(m_without),
        "median_metric_with": statistics.median(m_with),
    }


def print_report(results, warnings, out=sys.stdout):
    print("", file=out)
    header = "%-12s %4s %11s %11s %8s %9s  %s" % ("workload", "reps", "without_s", "with_s",
                                                  "ratio", "min_ratio", "per-rep ratios")
    print(header, file=out)
    print("-" * len(header), file=out)
    for name, r in results.items():
        print("%-12s %4d %11.4f %11.4f %8.4f %9.4f  %s" % (
            name, len(r["ratios"]), r["median_without_s"], r["median_with_s"],
            r["ratio_of_medians"], r["min_ratio"], " ".join("%.3f" % x for x in r["ratios"])),
            file=out)
    print("", file=out)
    for name, r in results.items():
        print("%-12s %s: median %.2f without, %.2f with (%s)" % (
            name, r["metric"], r["median_metric_without"], r["median_metric_with"],
            " ".join(r["argv"])), file=out)
    for w in warnings:
        print("warning: %s" % w, file=out)


def main():
    ap = argparse.ArgumentParser(
        description="Measure memsight agent overhead: workloads timed without/with the agent, "
                    "interleaved A B A B per rep.")
    ap.add_argument("--memsight", required=True, help="path of the memsight binary")
    ap.add_argument("--bench-dir", required=True,
                    help="directory holding bench_churn and bench_fault_storm")
    ap.add_argument("--reps", type=int, default=7, help="repetitions per side (default 7)")
    ap.add_argument("--agent-args", default="", help="extra arguments for the agent")
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
    ap.add_argument("--workloads", default="churn,fault_storm",
                    help="comma list of churn, fault_storm (default both)")
    ap.add_argument("--target-seconds", type=float, default=1.5,
                    help="calibrate each workload to about this wall time (default 1.5)")
    ap.add_argument("--churn-iterations", type=int, help="fix bench_churn's size (no calibration)")
    ap.add_argument("--fault-rounds", type=int,
                    help="fix bench_fault_storm's rounds (no calibration)")
    ap.add_argument("--fault-mib", type=int, default=32,
                    help="MiB mapped per bench_fault_storm round (default 32)")
    ap.add_argument("--agent-log", help="append agent output here (default: a temp file)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps must be >= 1")

    warnings = []
    log_path = args.agent_log or tempfile.NamedTemporaryFile(
        prefix="memsight-overhead-agent-", suffix=".log", delete=False).name
    try:
        Agent(args, log_path, warnings)  # checks the --agent-cmd template before any run
        workloads = make_workloads(args)
        for w in workloads:
            w.calibrate(args.target_seconds)
            print("calibrated %-12s %s" % (w.name, " ".join(w.argv())), flush=True)

        data = {w.name: ([], [], [], []) for w in workloads}  # without, with, metric A, B
        for rep in range(1, args.reps + 1):
            for w in workloads:
                without, with_, m_a, m_b = data[w.name]
                wall, metric = w.run()
                without.append(wall)
                m_a.append(metric)
                with Agent(args, log_path, warnings) as agent:
                    wall_b, metric_b = w.run()
                    agent.check_alive("while %s ran" % w.name)
                with_.append(wall_b)
                m_b.append(metric_b)
                print("rep %d/%d %-12s without %.4f s  with %.4f s  ratio %.4f"
                      % (rep, args.reps, w.name, wall, wall_b, wall_b / wall), flush=True)
    except BenchError as e:
        print("overhead.py: error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("overhead.py: interrupted", file=sys.stderr)
        return 130

    results = {w.name: summarize(w, *data[w.name]) for w in workloads}
    print_report(results, warnings)
    print("agent log: %s" % log_path)

    if args.json:
        doc = {
            "agent_cmd": args.agent_cmd,
            "memsight": args.memsight,
            "agent_args": args.agent_args,
            "reps": args.reps,
            "order": "ABAB (A = without agent, B = with agent), per workload per rep",
            "host": {"kernel": platform.release(), "machine": platform.machine(),
                     "cpus": os.cpu_count()},
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "workloads": results,
            "warnings": warnings,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print("wrote %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
