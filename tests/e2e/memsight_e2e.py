"""Shared helpers of the end-to-end tests: the real memsight binary, real scenario programs, real BPF.

Each test file is run by ctest as `python3 <file>`; the environment gives the paths:
  MEMSIGHT_BIN        the memsight binary
  MEMSIGHT_SCENARIOS  the folder of the built scenario programs
Privilege: the tests load BPF, so they need root. Without it they exit 77 (ctest: skipped) with the
reason, except under MEMSIGHT_REQUIRE_BPF=1, where a skip is a failure.
"""

import base64
import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

MEMSIGHT = os.environ.get("MEMSIGHT_BIN", "memsight")
SCENARIOS = os.environ.get("MEMSIGHT_SCENARIOS", ".")
SKIP = 77


def require_bpf_privilege():
    """Exit 77 (skip) without root, or fail under MEMSIGHT_REQUIRE_BPF=1."""
    if os.geteuid() == 0:
        return
    reason = "end-to-end tests load BPF programs and need root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)"
    if os.environ.get("MEMSIGHT_REQUIRE_BPF") == "1":
        print(f"FAIL: {reason}, and MEMSIGHT_REQUIRE_BPF=1 forbids skipping", file=sys.stderr)
        sys.exit(1)
    print(f"SKIP: {reason}", file=sys.stderr)
    sys.exit(SKIP)


def main():
    """Runs the calling module's unittest tests after the privilege check."""
    require_bpf_privilege()
    unittest.main(verbosity=2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scenario(name):
    return os.path.join(SCENARIOS, name)


def parse_metrics(text):
    """Prometheus text format -> list of (name, {label: value}, float)."""
    out = []
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            continue
        labels = dict(label_re.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def select(metrics, name, **labels):
    return [(l, v) for n, l, v in metrics if n == name and all(l.get(k) == str(w) for k, w in labels.items())]


class Agent:
    """`memsight agent` on a free port, stopped with SIGTERM on exit. Logs go to a temp file."""

    def __init__(self, *extra, config_text=None, interval="1s", wrap=(), scheme="http", auth=None, cafile=None):
        self.port = free_port()
        # With a web config (--web-config): "https" and the CA file that verifies the agent's certificate, and the
        # (user, password) of its basic authentication.
        self.scheme = scheme
        self.auth = auth
        self.cafile = cafile
        self.extra = list(extra)
        self.wrap = list(wrap)  # a command prefix that execs the agent, e.g. ["unshare", "-C"]
        self.interval = interval
        self.config_text = config_text
        self.proc = None
        self.log = tempfile.NamedTemporaryFile("w+", prefix="memsight-agent-", suffix=".log", delete=False)
        self.config_path = None

    def __enter__(self):
        argv = [MEMSIGHT, "agent", "--listen", f"127.0.0.1:{self.port}", "--interval", self.interval]
        if self.config_text is not None:
            fd, self.config_path = tempfile.mkstemp(prefix="memsight-", suffix=".yaml")
            with os.fdopen(fd, "w") as f:
                f.write(self.config_text)
            argv += ["--config", self.config_path]
        self.proc = subprocess.Popen(self.wrap + argv + self.extra, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                self.scrape_text()
                return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"agent did not serve /metrics within 30 s:\n{self.logs()}")

    def __exit__(self, *exc):
        # Only the agent's own exit status says how it stopped (a wrapper's says how the wrapper did), and only when
        # a test did not stop or kill it itself.
        running = self.proc.poll() is None and not self.wrap
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.config_path:
            os.unlink(self.config_path)
        logs = self.logs()
        os.unlink(self.log.name)
        if exc[0] is not None:
            print(f"--- agent log ---\n{logs}", file=sys.stderr)
        elif running and self.proc.returncode != 0:
            # SIGTERM must stop the agent with 0: anything else is a failed shutdown, or a sanitizer's report
            # (a leak found at exit, say) in a sanitized build.
            raise AssertionError(f"agent exited with {self.proc.returncode} on SIGTERM:\n{logs}")
        return False

    def logs(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}/metrics"

    def scrape_text(self):
        req = urllib.request.Request(self.url)
        if self.auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(":".join(self.auth).encode()).decode())
        context = ssl.create_default_context(cafile=self.cafile) if self.scheme == "https" else None
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.read().decode()

    def scrape(self):
        return parse_metrics(self.scrape_text())

    def wait_for(self, predicate, timeout=20, what="condition"):
        """Scrapes until predicate(metrics) returns a truthy value; returns it."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.scrape()
            got = predicate(last)
            if got:
                return got
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextlib.contextmanager
def running(argv, ready_prefix="ready"):
    """Starts a scenario that prints `ready <pid>` and waits for stdin EOF; yields (proc, pid)."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        if not line or line[0] != ready_prefix:
            raise AssertionError(f"{argv[0]} did not become ready: {line}")
        yield proc, int(line[1])
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


class Traced:
    """Starts a scenario (protocol: "ready <pid>", waits for "go"), attaches `memsight leaks` to it, lets it
    run, and returns the parsed JSON report."""

    def __init__(self, argv, leaks_args=(), duration="30s", wait_done=True, settle=1.5):
        self.argv = argv
        self.leaks_args = list(leaks_args)
        self.duration = duration
        self.wait_done = wait_done
        self.settle = settle

    def run(self):
        proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            ready = proc.stdout.readline().split()
            assert ready and ready[0] == "ready", f"scenario not ready: {ready}"
            pid = int(ready[1])
            leaks = subprocess.Popen([MEMSIGHT, "leaks", "--pid", str(pid), "--format", "json", "--interval", "500ms",
                                      "--min-age", "500ms", "--duration", self.duration, *self.leaks_args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            err_lines = []
            attached = threading.Event()

            def read_err():
                for line in leaks.stderr:
                    err_lines.append(line)
                    if "hooked" in line:
                        attached.set()
            t = threading.Thread(target=read_err, daemon=True)
            t.start()
            attached.wait(30)
            assert attached.is_set(), f"leaks never attached: {''.join(err_lines)}"
            proc.stdin.write("go\n")
            proc.stdin.flush()
            if self.wait_done:
                done = proc.stdout.readline().split()
                assert done and done[0] == "done", f"scenario did not finish: {done}"
                self.done = int(done[1])
                time.sleep(self.settle)  # a few more readings with the memory held
                leaks.send_signal(signal.SIGINT)
            out, _ = leaks.communicate(timeout=120)
            t.join(5)
            self.stderr = "".join(err_lines)
            self.returncode = leaks.returncode
            self.pid = pid
            self.report = json.loads(out) if leaks.returncode == 0 else None
            return self
        finally:
            if proc.poll() is None:
                proc.stdin.close()
                proc.wait(timeout=10)

    def sites(self, name):
        return [s for s in self.report["sites"] if s["site"] == name]


def traced_with_truth(argv, leaks_args=()):
    """Runs a scenario that writes its ground truth (`--truth FILE`) under Traced. Returns (result, truth); truth is
    None when the scenario failed (the caller asserts the return code first)."""
    fd, path = tempfile.mkstemp(prefix="memsight-truth-", suffix=".json")
    os.close(fd)
    try:
        r = Traced([*argv, "--truth", path], leaks_args).run()
        truth = None
        if r.returncode == 0:
            with open(path) as f:
                truth = json.load(f)
        return r, truth
    finally:
        os.unlink(path)


def live(report_sites):
    return sum(s["live_bytes"] for s in report_sites)


def line_containing(path, text):
    """The 1-based number of the first line of `path` containing `text` (where a test expects a Python frame)."""
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if text in line:
                return number
    raise AssertionError(f"{text!r} not in {path}")


def check_python_maker(test, entry, function, file_name, line, context=""):
    """Checks a growing type of `memsight leaks --format json` (python.growing_types[i]): its top site is made by
    `function`, whose Python frame in the site's stack is in a file named `file_name` at `line`; that site holds at
    least 90 % of the instances attributed to any site, and those are at least a quarter of the instances the type
    gained over the session (the allocation probe starts after a warm-up; objects made before are not attributed)."""
    sites = entry.get("sites")
    test.assertTrue(sites, f"{context}: no sites for {entry['type']}: {entry}")
    top = sites[0]
    summary = [(s["function"], s["objects"]) for s in sites]
    test.assertEqual(top["function"], function, f"{context}: {summary}")
    frames = [f for f in top["frames"] if f["python"] and f["function"] == function]
    test.assertTrue(frames, f"{context}: {function} is not a Python frame of its stack: {top['frames']}")
    test.assertEqual(os.path.basename(frames[0]["file"]), file_name, f"{context}: {frames[0]}")
    test.assertEqual(frames[0]["line"], line, f"{context}: {frames[0]}")
    attributed = entry["objects_by_allocation"] + entry["objects_by_page"]
    test.assertGreaterEqual(top["objects"], 0.9 * attributed, f"{context}: {summary} of {attributed} attributed")
    test.assertGreaterEqual(attributed, 0.25 * entry["count_delta"],
                            f"{context}: {attributed} of {entry['count_delta']} new {entry['type']} attributed")


class PrometheusServer:
    """A real Prometheus (Debian's /usr/bin/prometheus) on a free loopback port that scrapes `targets` as job="memsight"
    every second, with its data in a temp dir. `with PrometheusServer([agent_addr]) as prom:` waits until every target
    is up; prom.values(expr) runs an instant query."""

    def __init__(self, targets, scrape_interval="1s", extra_config=""):
        import shutil
        self.binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self.targets = list(targets)
        self.scrape_interval = scrape_interval
        self.extra_config = extra_config
        self.port = None
        self.proc = None
        self.tmp = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="memsight-prometheus-")
        cfg = os.path.join(self.tmp, "prometheus.yml")
        targets = ", ".join(f"'{t}'" for t in self.targets)
        with open(cfg, "w") as f:
            f.write(f"global:\n  scrape_interval: {self.scrape_interval}\n  evaluation_interval: {self.scrape_interval}\n"
                    f"scrape_configs:\n  - job_name: memsight\n    static_configs:\n      - targets: [{targets}]\n"
                    f"{self.extra_config}")
        self.port = free_port()
        self.log = open(os.path.join(self.tmp, "prometheus.log"), "w")
        self.proc = subprocess.Popen([self.binary, f"--config.file={cfg}", f"--storage.tsdb.path={self.tmp}/data",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                up = self.values('up{job="memsight"}')
                if len(up) == len(self.targets) and all(v == 1 for v in up.values()):
                    return self
            except (OSError, ValueError, AssertionError):
                pass
            time.sleep(0.5)
        self.__exit__(None, None, None)
        raise AssertionError("Prometheus did not scrape every target within 60 s")

    def __exit__(self, *exc):
        import shutil
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if exc and exc[0] is not None:
            print(f"--- prometheus log (tail) ---\n{self.logs()[-3000:]}", file=sys.stderr)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def logs(self):
        self.log.flush()
        with open(os.path.join(self.tmp, "prometheus.log")) as f:
            return f.read()

    def values(self, expr):
        """{frozenset(labels.items()): float} of an instant query now; AssertionError on an API error."""
        import urllib.parse
        with urllib.request.urlopen(f"{self.url}/api/v1/query?query={urllib.parse.quote(expr)}", timeout=30) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise AssertionError(f"{expr}: {body}")
        return {frozenset(s["metric"].items()): float(s["value"][1]) for s in body["data"]["result"]}

    def wait_for(self, expr, timeout=30, what=None):
        """Queries until `expr` returns a series; returns the values."""
        deadline = time.time() + timeout
        while True:
            got = self.values(expr)
            if got:
                return got
            if time.time() >= deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what or expr}")
            time.sleep(0.5)


def in_cgroup(cgroup_dir, argv):
    """argv prefixed so that it runs inside the cgroup directory `cgroup_dir` (the shell moves itself in, then execs)."""
    return ["sh", "-c", f'echo $$ > "{cgroup_dir}/cgroup.procs" && exec "$@"', "sh", *argv]
