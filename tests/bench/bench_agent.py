"""What the benchmarks that run `memsight agent` share: the agent on a free port with a config file and a log,
scraped over HTTP, stopped with SIGTERM; and the scenario programs they run under it. Python 3 standard library
only."""

import os
import select
import signal
import socket
import subprocess
import time
import urllib.request


class BenchError(Exception):
    """The benchmark cannot run or cannot go on; the message says why."""


def log(msg=""):
    print(msg, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    """`memsight agent --listen 127.0.0.1:PORT --config FILE` (FILE holds `config_text`), output in a log file."""

    def __init__(self, memsight, workdir, config_text):
        self.port = free_port()
        self.config = config_text if config_text.endswith("\n") else config_text + "\n"
        self.config_path = os.path.join(workdir, "memsight.yaml")
        self.log_path = os.path.join(workdir, "agent.log")
        with open(self.config_path, "w") as f:
            f.write(self.config)
        self.argv = [memsight, "agent", "--listen", f"127.0.0.1:{self.port}", "--config", self.config_path]
        self.proc = None
        self.logf = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/metrics"

    def log_tail(self, n=20):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def start(self, timeout=30):
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"agent exited with status {self.proc.returncode} at start-up; "
                                 f"last log lines:\n{self.log_tail()}")
            try:
                self.scrape()
                return
            except OSError:
                time.sleep(0.2)
        raise BenchError(f"agent did not serve {self.url} within {timeout} s; last log lines:\n{self.log_tail()}")

    def scrape(self):
        with urllib.request.urlopen(self.url, timeout=10) as r:
            return r.read().decode()

    def check_alive(self):
        if self.proc.poll() is not None:
            raise BenchError(f"agent exited with status {self.proc.returncode} during the run; "
                             f"last log lines:\n{self.log_tail()}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log("warning: agent ignored SIGTERM for 20 s; killing it")
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.logf.close()


class ScenarioProcess:
    """A scenario program (tests/scenarios/scenario_common.h protocol: prints "ready <pid>", exits on stdin EOF),
    its stderr in a file."""

    def __init__(self, name, argv, stderr_path, env=None):
        self.name = name
        self.argv = argv
        self.stderr_path = stderr_path
        self.env = env
        self.proc = None
        self.pid = None
        self.started = None

    def start(self):
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                         text=True, env=self.env)

    def wait_ready(self, timeout=10):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().split() if ready else []
        if len(line) != 2 or line[0] != "ready":
            self.stop()
            with open(self.stderr_path) as f:
                err = f.read().strip()
            raise BenchError(f"{self.name}: {' '.join(self.argv)} did not print 'ready <pid>' "
                             f"(got {line}, status {self.proc.returncode}): {err}")
        self.pid = int(line[1])
        self.started = time.monotonic()

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.close()  # EOF: the program exits (after reaping its children)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
