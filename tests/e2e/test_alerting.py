#!/usr/bin/env python3
"""Alerting and dashboards end to end: the real agent, a real Prometheus evaluating the mixin's rules, the shipped
Alertmanager routing, a webhook receiver, real workloads, and every query of every Grafana dashboard.

Everything runs once, in setUpClass (about 3 minutes), on loopback ports:
  * the agent, with a 70 s growth window so that a leak is suspected after ~1 minute, escalation on for the
    leakers' container (each leaker gets an automatic deep session, still running when the dashboards are queried);
  * a rule file made from deploy/mixin/rules.jsonnet (env prod) with short thresholds (OVERRIDES), checked with
    `promtool check rules`; Prometheus scrapes the agent as job="memsight" every second and evaluates every second;
  * Alertmanager with the shipped deploy/alertmanager/alertmanager.yml, only its receivers' integrations replaced by
    webhooks to this test (one URL path per receiver name), checked with `amtool check-config`;
  * workloads: a real OOM kill in a memcg (oom_memcg); in a docker-named memory cgroup with a limit, a leaker (a
    copy of the leaker scenario) and a CPython leaker (tests/scenarios/python/leak_class.py, so that the Python
    panels have a census); a bounded cache (cache_bounded) in another container; later, in the leakers'
    container, a short-lived process (spike_exit) and a spike that the container's limit OOM-kills, so that the
    container's exit and OOM families have data too.
Then the tests check what reached the webhook (and that it went where the shipped routing sends its severity), that
the critical twin inhibits the warning, that the cache was never alerted on, and that every panel query (and
variable query) of deploy/grafana/*.json returns data with the variables set to this run's instance, leaker
container and leaker pid.

MEMSIGHT_DASHBOARDS=DIR checks the dashboards of DIR instead of deploy/grafana.
"""

import contextlib
import datetime
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

import yaml

import memsight_e2e as e2e
from test_containers import FakeContainer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIXIN = os.path.join(REPO, "deploy", "mixin")
SHIPPED_ALERTMANAGER = os.path.join(REPO, "deploy", "alertmanager", "alertmanager.yml")
DASHBOARDS = os.environ.get("MEMSIGHT_DASHBOARDS", os.path.join(REPO, "deploy", "grafana"))

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
JSONNET = shutil.which("jsonnet") or "/usr/bin/jsonnet"
PYTHON = "/usr/bin/python3.11"  # Debian's CPython (static libpython), one the deep tier reads Python objects of
PY_LEAKER = os.path.join(REPO, "tests", "scenarios", "python", "leak_class.py")

MiB = 1 << 20
# Leak suspicion needs 60 s of readings (docs/leak-detection.md); the window holds that much.
GROWTH_WINDOW_S = 70
# The mixin's prod thresholds, with what this test can wait for: a steady leak scores ~1 once it has been watched
# for a minute, so it crosses both severities together and the critical (pending 10 s) is active long before the
# warning's group is sent (group_wait 30s): the shipped inhibit rule must hold the warning back.
OVERRIDES = ("{ leakSuspicion+: { warning: 0.5, warningFor: '5s', critical: 0.9, criticalFor: '10s' },"
             "  fastGrowth+: { 'for': '30s' } }")
OOM_LATENCY_LIMIT_S = 120
LEAKER = "alert_leaker"   # a copy of the leaker scenario under this name (its comm)
CACHE = "cache_bounded"
CONTAINER_LIMIT = 256 * MiB
# Dashboard variables: what the brief of this test gives them; others get their own default (custom, interval,
# constant, textbox) or .* (query). Grafana's built-ins get the values of a 5-minute view.
ROUTES_CACHE = {}  # labels -> receivers, from amtool
BUILTIN_VARIABLES = {"__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000", "__auto": "15s",
                     "__range": "5m", "__range_s": "300", "__range_ms": "300000"}


def log(message):
    print(f"alerting: {message}", flush=True)


def http_json(url, data=None, timeout=10):
    with urllib.request.urlopen(url, data=data, timeout=timeout) as r:
        return json.load(r)


class QueryError(Exception):
    pass


def wait_until(predicate, timeout, what, interval=1.0):
    deadline = time.time() + timeout
    while True:
        try:
            got = predicate()
        except (OSError, QueryError):
            got = None
        if got:
            return got
        if time.time() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Webhook:
    """An HTTP server on loopback that records every POST: (arrival time, receiver path, Alertmanager payload)."""

    def __init__(self):
        self.posts = []
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived = time.time()
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"unparsable": body.decode(errors="replace")}
                with outer.cond:
                    outer.posts.append((arrived, self.path.strip("/"), payload))
                    outer.cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, receiver):
        return f"http://127.0.0.1:{self.port}/{receiver}"

    def notifications(self):
        """Every alert of every POST: dicts of time, path, receiver (the payload's), status, labels, annotations."""
        with self.cond:
            posts = list(self.posts)
        out = []
        for arrived, path, payload in posts:
            for a in payload.get("alerts", []):
                out.append({"time": arrived, "path": path, "receiver": payload.get("receiver"),
                            "status": a.get("status"), "labels": a.get("labels", {}),
                            "annotations": a.get("annotations", {})})
        return out

    def wait_for(self, predicate, deadline):
        """Waits until predicate(notifications) is truthy (returns it) or the deadline passes (returns None)."""
        while True:
            with self.cond:
                seen = len(self.posts)
            got = predicate(self.notifications())
            if got or time.time() >= deadline:
                return got or None
            with self.cond:
                if len(self.posts) == seen:
                    self.cond.wait(min(1.0, max(0.0, deadline - time.time())))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Server:
    """A server process (Prometheus, Alertmanager) with its output in a log file."""

    def __init__(self, name, argv, directory):
        self.name = name
        self.log_path = os.path.join(directory, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def check_running(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def tail(self, lines=40):
        self.log.flush()
        with open(self.log_path) as f:
            return "".join(f.readlines()[-lines:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Prometheus:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def _get(self, path, **params):
        return http_json(f"{self.base}{path}?{urllib.parse.urlencode(params, doseq=True)}", timeout=30)

    def query(self, expr, at=None):
        """(result list, None) or (None, error text) of an instant query."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self._call("/api/v1/query", params)

    def query_range(self, expr, start, end, step):
        return self._call("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                                  "step": step})

    def label_values(self, label, matchers, start, end):
        params = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
        if matchers:
            params["match[]"] = matchers
        return self._call(f"/api/v1/label/{urllib.parse.quote(label)}/values", params)

    def _call(self, path, params):
        try:
            body = self._get(path, **params)
        except urllib.error.HTTPError as e:
            try:
                return None, json.load(e).get("error", str(e))
            except ValueError:
                return None, str(e)
        except OSError as e:
            return None, str(e)
        if body.get("status") != "success":
            return None, body.get("error", str(body))
        data = body["data"]
        if isinstance(data, dict) and data.get("resultType") == "scalar":
            return [data["result"]], None
        return (data["result"] if isinstance(data, dict) else data), None

    def values(self, expr):
        """{frozenset(labels): float} of an instant query; raises on an error."""
        result, error = self.query(expr)
        if error:
            raise QueryError(f"{expr}: {error}")
        return {frozenset(r["metric"].items()): float(r["value"][1]) for r in result}


# ---- Grafana dashboards: panels, nested row panels, targets[].expr, templating.list

VARIABLE_RE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")


def substitute(text, values):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        return values.get(name, m.group(0))
    return VARIABLE_RE.sub(repl, text)


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def dashboard_panels(board):
    yield from walk_panels(board.get("panels"))
    for row in board.get("rows") or []:  # schema < 16
        yield from walk_panels(row.get("panels"))


def variable_default(v):
    """The value Grafana would start with for a custom/interval/constant/textbox variable."""
    current = (v.get("current") or {}).get("value")
    if isinstance(current, list):
        current = current[0] if current else None
    if current == "$__all":
        return v.get("allValue") or ".*"
    if current not in (None, ""):
        return str(current)
    for option in v.get("options") or []:
        if option.get("value") not in (None, ""):
            return str(option["value"])
    query = v.get("query")
    if isinstance(query, str) and query:
        return query.split(",")[0].strip()
    return ".*"


def dashboard_variables(board, given):
    values = dict(BUILTIN_VARIABLES)
    for v in (board.get("templating") or {}).get("list") or []:
        name, kind = v.get("name"), v.get("type")
        if not name:
            continue
        if name in given:
            values[name] = given[name]
        elif kind == "datasource":
            values[name] = "prometheus"
        elif kind in ("custom", "interval", "constant", "textbox"):
            values[name] = variable_default(v)
        elif kind == "adhoc":
            values[name] = ""
        else:
            values[name] = ".*"
    return values


def variable_query_text(v):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query") or ""
    return q or v.get("definition") or ""


class Alerting(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t0 = time.time()
        cls.tmp = tempfile.mkdtemp(prefix="memsight-alerting-")
        cls.stack = contextlib.ExitStack()
        cls.agent = None
        cls.servers = []
        try:
            cls.run_everything()
        except BaseException:
            cls.print_logs()
            cls.stack.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        log(f"setUpClass took {time.time() - cls.t0:.0f} s")

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        log(f"wall time {time.time() - cls.t0:.0f} s")

    @classmethod
    def print_logs(cls):
        if cls.agent is not None and cls.agent.proc is not None:
            print(f"--- agent log (tail) ---\n{''.join(cls.agent.logs().splitlines(True)[-60:])}", file=sys.stderr)
        for s in cls.servers:
            print(f"--- {s.name} log (tail) ---\n{s.tail()}", file=sys.stderr)

    # ---- setup, in the order things happen

    @classmethod
    def run_everything(cls):
        cls.make_rules()
        cls.webhook = Webhook()
        cls.stack.callback(cls.webhook.close)
        cls.start_alertmanager()
        cls.start_agent()
        cls.start_prometheus()
        cls.start_containers()
        cls.oom_kill()
        cls.wait_for_leak_alerts()
        cls.wait_for_escalation()
        cls.alertmanager_alerts = http_json(f"{cls.am_url}/api/v2/alerts")
        cls.container_exit_and_oom()
        cls.check_dashboards()
        cls.wait_for_container_oom_alert()
        cls.final_observations()
        cls.print_summary()

    @classmethod
    def make_rules(cls):
        r = subprocess.run([JSONNET, "-J", MIXIN, "--tla-str", "env=prod", "--tla-code", f"overrides={OVERRIDES}",
                            os.path.join(MIXIN, "rules.jsonnet")], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"jsonnet failed:\n{r.stderr}")
        cls.rules_path = os.path.join(cls.tmp, "memsight-rules.json")  # JSON is YAML to Prometheus
        rules = json.loads(r.stdout)
        with open(cls.rules_path, "w") as f:
            f.write(r.stdout)
        r = subprocess.run([PROMTOOL, "check", "rules", cls.rules_path], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"promtool check rules failed:\n{r.stdout}{r.stderr}")
        alerts = {rule["alert"] for g in rules["groups"] for rule in g["rules"] if "alert" in rule}
        log(f"rules from the mixin (env prod, overrides {OVERRIDES}): {r.stdout.strip().splitlines()[-1].strip()}, "
            f"{len(alerts)} alert names")

    @classmethod
    def start_alertmanager(cls):
        with open(SHIPPED_ALERTMANAGER) as f:
            config = yaml.safe_load(f)
        cls.receivers = []
        for receiver in config["receivers"]:
            integrations = [v for k, vs in receiver.items() if k.endswith("_configs") for v in vs]
            hook = {"url": cls.webhook.url(receiver["name"])}
            first = integrations[0] if integrations else {}
            for key in ("send_resolved", "max_alerts"):
                if key in first:
                    hook[key] = first[key]
            for key in [k for k in receiver if k.endswith("_configs")]:
                del receiver[key]
            receiver["webhook_configs"] = [hook]
            cls.receivers.append(receiver["name"])
        cls.am_config = os.path.join(cls.tmp, "alertmanager.yml")
        with open(cls.am_config, "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        r = subprocess.run([AMTOOL, "check-config", cls.am_config], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"amtool check-config failed:\n{r.stdout}{r.stderr}")
        port = e2e.free_port()
        cls.am_url = f"http://127.0.0.1:{port}"
        am = Server("alertmanager", [ALERTMANAGER, f"--config.file={cls.am_config}",
                                     f"--storage.path={os.path.join(cls.tmp, 'alertmanager')}",
                                     f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                    cls.tmp)
        cls.servers.append(am)
        cls.stack.callback(am.stop)

        def ready():
            am.check_running()
            with urllib.request.urlopen(f"{cls.am_url}/-/ready", timeout=5) as r:
                return r.status == 200
        wait_until(ready, 60, "Alertmanager ready", interval=0.3)
        log(f"Alertmanager on :{port}, receivers {cls.receivers} -> webhook :{cls.webhook.port}")

    @classmethod
    def start_agent(cls):
        # Only this run's leakers are escalated (by their container; another run's copies have the same comms).
        cls.leaker_cid = uuid.uuid4().hex + uuid.uuid4().hex
        cls.cache_cid = uuid.uuid4().hex + uuid.uuid4().hex
        cls.profile_dir = os.path.join(cls.tmp, "profiles")
        config = (f"interval: 1s\n"
                  f"processes:\n  top_by_rss: 10000\n  growth_window: {GROWTH_WINDOW_S}s\n"
                  f"exit_peaks:\n  top: 1000\n  window: 10m\n"
                  f"deep:\n  overhead_budget: 0\n"
                  f"escalation:\n  enabled: true\n  threshold: 0.5\n  duration: 4m\n  cooldown: 1h\n"
                  f"  max_concurrent: 2\n  selector:\n    include_cgroup: [{cls.leaker_cid}]\n"
                  f"  profile_dir: {cls.profile_dir}\n")
        cls.agent = e2e.Agent(config_text=config, interval="1s").__enter__()
        cls.stack.callback(cls.agent.__exit__, None, None, None)
        cls.instance = f"127.0.0.1:{cls.agent.port}"

    @classmethod
    def start_prometheus(cls):
        port = e2e.free_port()
        cls.prom = Prometheus(port)
        cfg = os.path.join(cls.tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            yaml.safe_dump({
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [cls.rules_path],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [cls.am_url.split("//")[1]]}]}]},
                "scrape_configs": [{"job_name": "memsight", "static_configs": [{"targets": [cls.instance]}]}],
            }, f, sort_keys=False)
        server = Server("prometheus", [PROMETHEUS, f"--config.file={cfg}",
                                       f"--storage.tsdb.path={os.path.join(cls.tmp, 'prometheus')}",
                                       f"--web.listen-address=127.0.0.1:{port}"], cls.tmp)
        cls.servers.append(server)
        cls.stack.callback(server.stop)

        def scraping():
            server.check_running()
            up = cls.prom.values('up{job="memsight"}')
            ams = http_json(f"{cls.prom.base}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
            return list(up.values()) == [1.0] and ams
        wait_until(scraping, 60, "Prometheus scraping the agent with Alertmanager discovered")
        groups = http_json(f"{cls.prom.base}/api/v1/rules")["data"]["groups"]
        log(f"Prometheus on :{port}: scraping {cls.instance} as job=memsight, {len(groups)} rule groups loaded")

    @classmethod
    def start_containers(cls):
        cls.leaker_box = cls.stack.enter_context(FakeContainer(f"/docker/{cls.leaker_cid}", CONTAINER_LIMIT))
        cls.cache_box = cls.stack.enter_context(FakeContainer(f"/docker/{cls.cache_cid}", CONTAINER_LIMIT))
        leaker_path = os.path.join(cls.tmp, LEAKER)
        shutil.copy(e2e.scenario("leaker"), leaker_path)
        # ~1 ms per iteration: 500 bytes leaked per iteration (~450 KB/s), 2 malloc+free pairs besides.
        cls.leaker, cls.leaker_pid = cls.start_in(cls.leaker_box, [leaker_path, "1000000", "500", "2"])
        cls.leaker.stdin.write("go\n")
        cls.leaker.stdin.flush()
        cls.leaker_started = time.time()
        # A CPython leaker beside it, so that the Python panels have a census to show: Session objects at
        # 1000 a second (~200 KB/s), run by Debian's static python3.11.
        cls.pyleaker, cls.pyleaker_pid = cls.start_in(cls.leaker_box, [PYTHON, PY_LEAKER, "1000", "1000"])
        cls.cache, cls.cache_pid = cls.start_in(cls.cache_box, [e2e.scenario(CACHE), "48", "20"])
        log(f"leakers {LEAKER} pid {cls.leaker_pid} and python3.11 pid {cls.pyleaker_pid} (leak_class.py) in "
            f"/docker/{cls.leaker_cid[:12]}..., "
            f"cache {CACHE} pid {cls.cache_pid} (48 MiB in 20 s, then flat) in /docker/{cls.cache_cid[:12]}...")

    @classmethod
    def start_in(cls, box, argv, oom_score_adj=None):
        """Starts argv inside the container's memory cgroup; it prints `ready <pid>` first. Stopped at teardown."""
        proc = subprocess.Popen(cls.in_cgroup(box, argv, oom_score_adj), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)

        def stop():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
        cls.stack.callback(stop)
        line = proc.stdout.readline().split()
        if not line or line[0] != "ready":
            raise AssertionError(f"{argv[0]} did not become ready: {line}")
        return proc, int(line[1])

    @staticmethod
    def in_cgroup(box, argv, oom_score_adj=None):
        """argv prefixed to run inside the container's memory cgroup (the shell moves itself in, then execs)."""
        adj = f" && echo {oom_score_adj} > /proc/self/oom_score_adj" if oom_score_adj is not None else ""
        return ["sh", "-c", f'echo $$ > "{box.path}/cgroup.procs"{adj} && exec "$@"', "sh", *argv]

    @classmethod
    def run_in(cls, box, argv, oom_score_adj=None):
        return subprocess.run(cls.in_cgroup(box, argv, oom_score_adj), capture_output=True, text=True, timeout=60)

    @classmethod
    def oom_kill(cls):
        """A real OOM kill in a memcg; the kill time as `memsight oom` reports it."""
        oom_cli = subprocess.Popen([e2e.MEMSIGHT, "oom"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines, watching = [], threading.Event()

        def read(stream, sink, marker=None):
            for line in stream:
                sink.append(line)
                if marker and marker in line:
                    watching.set()
        err = []
        threads = [threading.Thread(target=read, args=(oom_cli.stdout, lines), daemon=True),
                   threading.Thread(target=read, args=(oom_cli.stderr, err, "watching for OOM kills"), daemon=True)]
        for t in threads:
            t.start()
        try:
            if not watching.wait(30):
                raise AssertionError(f"memsight oom did not start: {''.join(err)}")
            run = subprocess.run([e2e.scenario("oom_memcg"), "64"], capture_output=True, text=True, timeout=60)
            cls.oom_returned = time.time()
            if run.returncode != 0:
                raise AssertionError(f"oom_memcg failed ({run.returncode}): {run.stderr}")
            cls.oom_truth = json.loads(run.stdout.strip().splitlines()[-1])
            cls.oom_kill_time, cls.oom_kill_source = cls.oom_returned, "oom_memcg returned"
            deadline = time.time() + 10
            while time.time() < deadline:
                kills = [json.loads(l) for l in list(lines) if l.strip()]
                mine = [k for k in kills if k.get("pid") == cls.oom_truth["victim_pid"]]
                if mine:
                    stamp = datetime.datetime.strptime(mine[0]["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
                    cls.oom_kill_time = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
                    cls.oom_kill_source = "kill time reported by memsight oom"
                    break
                time.sleep(0.2)
        finally:
            oom_cli.terminate()
            oom_cli.wait(timeout=15)
            for t in threads:
                t.join(5)
            oom_cli.stdout.close()
            oom_cli.stderr.close()
        log(f"OOM kill of oom_victim pid {cls.oom_truth['victim_pid']} in {cls.oom_truth['cgroup']} "
            f"({cls.oom_kill_source}; oom_memcg returned {cls.oom_returned - cls.oom_kill_time:+.2f} s later)")

    @classmethod
    def routes(cls, labels):
        """The receivers the Alertmanager config routes these labels to (amtool config routes test)."""
        key = frozenset((k, v) for k, v in labels.items() if v != "")
        cache = ROUTES_CACHE
        if key not in cache:
            r = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={cls.am_config}",
                                *[f"{k}={v}" for k, v in sorted(key)]], capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise AssertionError(f"amtool config routes test failed: {r.stderr}")
            cache[key] = set(r.stdout.strip().split(","))
        return cache[key]

    @classmethod
    def leaker_alert(cls, alertname, n):
        labels = n["labels"]
        if labels.get("alertname") != alertname:
            return False
        if alertname == "MemsightProcessLeakSuspected":
            return labels.get("pid") == str(cls.leaker_pid)
        return labels.get("container_id") == cls.leaker_cid

    @classmethod
    def delivered(cls, notifications, alertname, severity, match):
        """True when a firing `alertname` of `severity` matching `match` reached every receiver its labels route to."""
        firing = [n for n in notifications if n["status"] == "firing" and n["labels"].get("alertname") == alertname
                  and n["labels"].get("severity") == severity and match(n)]
        return bool(firing) and cls.routes(firing[0]["labels"]) <= {n["path"] for n in firing}

    @classmethod
    def wait_for_leak_alerts(cls):
        """The leaker's process and container alerts, critical and routed (pager and team chat)."""
        names = ["MemsightProcessLeakSuspected", "MemsightContainerLeakSuspected"]

        def done(ns):
            return all(cls.delivered(ns, name, "critical", lambda n, name=name: cls.leaker_alert(name, n))
                       for name in names)
        cls.webhook.wait_for(done, cls.leaker_started + 150)
        log(f"leak alerts for the leaker: {'delivered' if done(cls.webhook.notifications()) else 'NOT all delivered'}"
            f" {time.time() - cls.leaker_started:.0f} s after it started")

    @classmethod
    def wait_for_escalation(cls):
        def running(m):
            return (e2e.select(m, "memsight_escalation_sessions") == [({}, 2.0)]
                    and e2e.select(m, "memsight_heap_live_bytes", pid=cls.leaker_pid)
                    and e2e.select(m, "memsight_python_type_live_objects", pid=cls.pyleaker_pid))
        try:
            cls.agent.wait_for(running, timeout=20, what="the leakers' escalated deep sessions")
            cls.escalated = True
        except AssertionError:
            cls.escalated = False
        log(f"escalated deep sessions on both leakers running, heap sites and Python types exported: {cls.escalated}")

    @classmethod
    def container_exit_and_oom(cls):
        """In the leaker's container: a short-lived process that exits normally, then a spike that the container's
        limit OOM-kills (oom_score_adj 1000 makes it the victim, not the leaker)."""
        run = cls.run_in(cls.leaker_box, [e2e.scenario("spike_exit"), "16"])
        if run.returncode != 0 or not run.stdout.startswith("done "):
            raise AssertionError(f"spike_exit 16 failed ({run.returncode}): {run.stdout} {run.stderr}")
        cls.exit_pid = int(run.stdout.split()[1])
        run = cls.run_in(cls.leaker_box, [e2e.scenario("spike_exit"), str(2 * CONTAINER_LIMIT // MiB)], 1000)
        if run.returncode != -9:  # the shell exec'd it: killed by SIGKILL
            raise AssertionError(f"the spike in the leaker's container was not OOM-killed: {run.returncode} "
                                 f"{run.stdout} {run.stderr}")
        cls.container_oom_time = time.time()
        for proc in (cls.leaker, cls.pyleaker):
            if proc.poll() is not None:
                raise AssertionError(f"a leaker died ({proc.args[-4:]}: {proc.returncode}) with the spike in its "
                                     "container")

        def seen():
            q = (f'memsight_container_oom_kills_total{{container_id="{cls.leaker_cid}"}} > 0 and on() '
                 f'memsight_oom_kills_total{{comm="spike_exit", container_id="{cls.leaker_cid}"}} and on() '
                 f'memsight_exited_process_peak_resident_bytes{{pid="{cls.exit_pid}"}}')
            return cls.prom.values(q)
        wait_until(seen, 30, "the container's exit and OOM kill in Prometheus")
        log(f"in the leaker's container: spike_exit 16 (pid {cls.exit_pid}) exited, a spike_exit "
            f"{2 * CONTAINER_LIMIT // MiB} was OOM-killed")

    @classmethod
    def check_dashboards(cls):
        """Runs every panel query (and variable query) of every dashboard; collects the failures."""
        cls.dashboard_failures, cls.dashboard_passes, cls.dashboard_notes = [], [], []
        files = sorted(f for f in os.listdir(DASHBOARDS) if f.endswith(".json")) if os.path.isdir(DASHBOARDS) else []
        cls.dashboard_files = files
        given = {"cluster": ".*", "job": ".*", "instance": cls.instance, "container": cls.leaker_cid,
                 "container_id": cls.leaker_cid, "pid": str(cls.leaker_pid), "comm": LEAKER}
        now = time.time()
        for name in files:
            with open(os.path.join(DASHBOARDS, name)) as f:
                try:
                    board = json.load(f)
                except ValueError as e:
                    cls.dashboard_failures.append((name, "-", "-", f"invalid JSON: {e}"))
                    continue
            values = dashboard_variables(board, given)
            for v in (board.get("templating") or {}).get("list") or []:
                if v.get("type") == "query":
                    cls.check_variable(name, v, values, now)
            for panel in dashboard_panels(board):
                for target in panel.get("targets") or []:
                    if not target.get("expr"):
                        continue
                    cls.check_target(name, panel, target, values, now)
        log(f"dashboards in {DASHBOARDS}: {files or 'none'}; {len(cls.dashboard_passes)} queries with data, "
            f"{len(cls.dashboard_failures)} failing")
        for what in cls.dashboard_passes:
            print(f"  ok    {what}")
        for note in cls.dashboard_notes:
            print(f"  note  {note}")
        for name, title, expr, problem in cls.dashboard_failures:
            print(f"  FAIL  {name} / {title}: {problem}\n          {expr}")

    @classmethod
    def check_target(cls, name, panel, target, values, now):
        title = f'{panel.get("title", "")} [{target.get("refId", "")}]'
        expr = substitute(target["expr"], values)
        result, error = cls.prom.query(expr, now)
        how = "instant"
        if not error and not result and not (target.get("instant") and not target.get("range")):
            # A time-series panel draws its range: data within the last $__range is data on the panel.
            result, error = cls.prom.query_range(expr, now - 300, now, "15s")
            how = "range"
        if error:
            cls.dashboard_failures.append((name, title, expr, f"error: {error}"))
        elif not result:
            cls.dashboard_failures.append((name, title, expr, "no series"))
        else:
            cls.dashboard_passes.append(f"{name} / {title}: {len(result)} series ({how})")

    @classmethod
    def check_variable(cls, name, v, values, now):
        title = f'variable ${v.get("name")}'
        text = substitute(variable_query_text(v), values)
        m = re.fullmatch(r"\s*label_values\((?:(.*),)?\s*(\w+)\s*\)\s*", text, re.S)
        q = re.fullmatch(r"\s*query_result\((.*)\)\s*", text, re.S)
        if m:
            result, error = cls.prom.label_values(m.group(2), [m.group(1).strip()] if m.group(1) else [],
                                                  now - 300, now)
        elif q:
            result, error = cls.prom.query(q.group(1), now)
        else:
            cls.dashboard_notes.append(f"{name} / {title}: query {text!r} not checked (not label_values/query_result)")
            return
        if error:
            cls.dashboard_failures.append((name, title, text, f"error: {error}"))
        elif not result and v.get("includeAll"):
            # Grafana still offers "All" (allValue), e.g. $cluster where Prometheus adds no cluster label.
            cls.dashboard_notes.append(f"{name} / {title}: no values, only All")
        elif not result:
            cls.dashboard_failures.append((name, title, text, "no values"))
        else:
            cls.dashboard_passes.append(f"{name} / {title}: {len(result)} values")

    @classmethod
    def wait_for_container_oom_alert(cls):
        def done(ns):
            return cls.delivered(ns, "MemsightOOMKill", "warning",
                                 lambda n: n["labels"].get("container_id") == cls.leaker_cid
                                 and n["labels"].get("comm") == "spike_exit")
        # group_wait 30s; the whole run stays well inside ctest's 300 s even when this never comes.
        cls.webhook.wait_for(done, min(cls.container_oom_time + 75, cls.t0 + 260))

    @classmethod
    def final_observations(cls):
        cls.notifications = cls.webhook.notifications()
        span = f"{int(time.time() - cls.t0) + 60}s"
        cls.cache_alerts = cls.prom.values(" or ".join(
            f"count_over_time(ALERTS{{{selector}}}[{span}])"
            for selector in (f'comm="{CACHE}"', f'pid="{cls.cache_pid}"', f'container_id="{cls.cache_cid}"')))
        cls.cache_suspicion = cls.prom.values(
            f'max_over_time(memsight_process_leak_suspicion{{pid="{cls.cache_pid}"}}[{span}])')
        cls.cache_container_suspicion = cls.prom.values(
            f'max_over_time(memsight_container_leak_suspicion{{container_id="{cls.cache_cid}"}}[{span}])')
        cls.leaker_suspicion = cls.prom.values(
            f'max_over_time(memsight_process_leak_suspicion{{pid="{cls.leaker_pid}"}}[{span}])')
        cls.cache_ran_s = time.time() - cls.leaker_started
        alive = cls.cache.poll() is None
        log(f"cache ran {cls.cache_ran_s:.0f} s (alive: {alive}); its max leak suspicion "
            f"{list(cls.cache_suspicion.values())}, its container's {list(cls.cache_container_suspicion.values())}; "
            f"the leaker's {list(cls.leaker_suspicion.values())}")

    @classmethod
    def oom_notifications(cls):
        """Firing MemsightOOMKill of oom_victim outside containers, sent after this run's kill (the alert carries no
        pid: a kill of another run's oom_victim counts in the same series)."""
        return [n for n in cls.notifications if n["status"] == "firing" and n["time"] >= cls.oom_kill_time
                and n["labels"].get("alertname") == "MemsightOOMKill"
                and n["labels"].get("comm") == "oom_victim" and n["labels"].get("container_id", "") == ""]

    @classmethod
    def print_summary(cls):
        first = cls.oom_notifications()
        cls.oom_latency = first[0]["time"] - cls.oom_kill_time if first else None
        if cls.oom_latency is not None:
            log(f"OOM kill to webhook: {cls.oom_latency:.1f} s (from the {cls.oom_kill_source}, "
                f"receiver {first[0]['path']})")
        else:
            log("OOM kill to webhook: never arrived")
        log(f"{len(cls.notifications)} alert notifications received (time after setUpClass start, receiver, "
            f"status, alertname, severity, labels):")
        for n in cls.notifications:
            labels = {k: (v[:12] if k == "container_id" else v) for k, v in n["labels"].items()
                      if k not in ("alertname", "severity", "job", "instance") and v != ""}
            print(f"  {n['time'] - cls.t0:6.1f} s  /{n['path']:<12} {n['status']:<8} "
                  f"{n['labels'].get('alertname', '?'):<32} {n['labels'].get('severity', '-'):<8} {labels}")

    # ---- the tests

    def test_oom_kill_reaches_the_webhook_within_two_minutes(self):
        self.assertIsNotNone(self.oom_latency, "no MemsightOOMKill notification for oom_victim reached the webhook")
        self.assertLess(self.oom_latency, OOM_LATENCY_LIMIT_S)
        firing = self.oom_notifications()
        self.assertEqual({n["labels"]["severity"] for n in firing}, {"warning"})  # one kill: not "repeated"
        self.assertEqual({n["path"] for n in firing}, self.routes(firing[0]["labels"]))
        self.assertEqual(firing[0]["labels"]["instance"], self.instance)

    def test_leaker_alerts_reach_the_receivers_of_their_severity(self):
        for name in ["MemsightProcessLeakSuspected", "MemsightContainerLeakSuspected"]:
            mine = [n for n in self.notifications if n["status"] == "firing" and self.leaker_alert(name, n)]
            self.assertTrue(mine, f"no firing {name} for the leaker reached the webhook\n{self.agent_tail()}")
            for severity in {n["labels"]["severity"] for n in mine}:
                got = {n["path"] for n in mine if n["labels"]["severity"] == severity}
                want = self.routes([n for n in mine if n["labels"]["severity"] == severity][0]["labels"])
                self.assertEqual(got, want, f"{name} {severity}")
            self.assertIn("critical", {n["labels"]["severity"] for n in mine},
                          f"{name}: the leaker's suspicion ({list(self.leaker_suspicion.values())}) never paged")
            labels = mine[0]["labels"]
            self.assertEqual(labels["container_id"], self.leaker_cid)
            self.assertEqual(labels["instance"], self.instance)
            if name == "MemsightProcessLeakSuspected":
                self.assertEqual(labels["comm"], LEAKER)
                self.assertEqual(labels["pid"], str(self.leaker_pid))
            else:
                self.assertEqual(labels["cgroup"], f"/docker/{self.leaker_cid}")

    def test_critical_inhibits_the_warning_of_the_same_leak(self):
        for name in ["MemsightProcessLeakSuspected", "MemsightContainerLeakSuspected"]:
            active = [a for a in self.alertmanager_alerts if self.leaker_alert(name, {"labels": a["labels"]})]
            by_severity = {a["labels"]["severity"]: a for a in active}
            self.assertEqual(set(by_severity), {"warning", "critical"}, f"{name} in Alertmanager: {active}")
            self.assertEqual(by_severity["critical"]["status"]["state"], "active")
            self.assertEqual(by_severity["warning"]["status"]["state"], "suppressed", by_severity["warning"])
            self.assertEqual(by_severity["warning"]["status"]["inhibitedBy"],
                             [by_severity["critical"]["fingerprint"]])
            warnings = [n for n in self.notifications if n["status"] == "firing" and self.leaker_alert(name, n)
                        and n["labels"]["severity"] == "warning"]
            self.assertEqual(warnings, [], f"{name}: the warning was notified beside its critical")

    def test_container_oom_kill_is_alerted_for_its_container(self):
        self.assertTrue(self.delivered(self.notifications, "MemsightOOMKill", "warning",
                                       lambda n: n["labels"].get("container_id") == self.leaker_cid
                                       and n["labels"].get("comm") == "spike_exit"),
                        "no MemsightOOMKill for the spike OOM-killed in the leaker's container")

    def test_every_notification_went_where_the_shipped_routing_sends_it(self):
        self.assertTrue(self.notifications)
        for n in self.notifications:
            self.assertEqual(n["receiver"], n["path"])
            self.assertIn(n["path"], self.routes(n["labels"]), n)

    def test_bounded_cache_is_never_alerted(self):
        # The rules saw it: its suspicion series was exported the whole time (every process is, top_by_rss 10000).
        self.assertEqual(len(self.cache_suspicion), 1, "the cache's leak suspicion never reached Prometheus")
        self.assertIsNone(self.cache.poll(), "the cache did not run to the end")
        self.assertGreater(self.cache_ran_s, GROWTH_WINDOW_S + 30, "the cache did not run long enough to be judged")
        about_cache = [n for n in self.notifications
                       if n["labels"].get("pid") == str(self.cache_pid)
                       or n["labels"].get("container_id") == self.cache_cid
                       or any(CACHE in str(v) for v in list(n["labels"].values()) + list(n["annotations"].values()))]
        self.assertEqual([(n["path"], n["status"], n["labels"].get("alertname"), n["labels"].get("severity"),
                           n["labels"].get("pid"), n["labels"].get("comm")) for n in about_cache], [],
                         "alerts about the bounded cache reached the webhook")
        self.assertEqual(self.cache_alerts, {}, "alerts about the bounded cache were pending or firing in Prometheus")

    def test_dashboard_panels_return_data(self):
        self.assertTrue(self.escalated, "precondition: the leakers' escalated deep sessions were not running")
        self.assertTrue(self.dashboard_files, f"no dashboards (*.json) in {DASHBOARDS}")
        self.assertTrue(self.dashboard_passes or self.dashboard_failures, "the dashboards have no queries")
        if self.dashboard_failures:
            self.fail(f"{len(self.dashboard_failures)} dashboard queries failed:\n" + "\n".join(
                f"  {name} / {title}: {problem}\n    {expr}" for name, title, expr, problem in self.dashboard_failures))

    def agent_tail(self):
        return "--- agent log (tail) ---\n" + "".join(self.agent.logs().splitlines(True)[-30:])


if __name__ == "__main__":
    e2e.main()
