#!/usr/bin/env python3
"""`memsight report` end to end: the real agent (--interval 1s), a real Prometheus scraping it as job="memsight" every
second, a process that grows in a memory-limited cgroup until the kernel OOM-kills it, and a steady grower that stays
alive (the period's biggest grower). Then `memsight report --prometheus URL --since 10m --agent URL` in json, md and
html: the JSON names the victim (comm, pid, container) and the grower; the Markdown has both; the HTML is opened in
headless Chromium and its screenshot must show the charts (decoded with Debian's python3-pil). One screenshot is kept
as the docs' example when MEMSIGHT_REPORT_SCREENSHOT=PATH is set.

Both workloads are copies of the corpus program leak_steady (a steady leak of KiB/s, pages written) under their own
names, so that their comm is theirs: the victim grows 2 MiB/s in a 40 MiB container, the grower 3 MiB/s on the host.
"""

import datetime
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request
import uuid

import memsight_e2e as e2e
from test_containers import FakeContainer

MiB = 1 << 20
VICTIM = "rpt_victim"
GROWER = "rpt_grower"
VICTIM_KIB_S = 2048
GROWER_KIB_S = 3072
LIMIT = 40 * MiB
GROWER_RUN_S = 90  # how long the grower has grown when the reports are made (growers must be seen >= 60 s)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DEBIAN_PYTHON = "/usr/bin/python3"  # Debian's python3, which python3-pil is installed for
SCREENSHOT_COPY = os.environ.get("MEMSIGHT_REPORT_SCREENSHOT")
PALETTE_FIRST = (0x1F, 0x77, 0xB4)  # report/svg.cpp: the first series' colour
BAR = (0xD6, 0x27, 0x28)            # the bars' colour (palette()[1])

# Counts pixels in the screenshot: all of them, distinct colours, and those near each given colour; JSON on stdout.
PIXEL_COUNTER = r"""
import json, sys
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGB")
want = json.loads(sys.argv[2])
near = [0] * len(want)
colours = img.getcolors(maxcolors=1 << 24)
for n, (r, g, b) in colours:
    for i, (wr, wg, wb) in enumerate(want):
        if abs(r - wr) + abs(g - wg) + abs(b - wb) <= 30:
            near[i] += n
white = sum(n for n, c in colours if c == (255, 255, 255))
print(json.dumps({"size": img.size, "distinct": len(colours), "white": white, "near": near}))
"""


class Webhook:
    """Records the bodies POSTed to it."""

    def __init__(self):
        self.bodies = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                outer.bodies.append((self.path, self.headers.get("Content-Type"),
                                     self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/report"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def report(*args, timeout=120):
    return subprocess.run([e2e.MEMSIGHT, "report", *args], capture_output=True, text=True, timeout=timeout)


class Report(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t0 = time.time()
        cls.tmp = tempfile.mkdtemp(prefix="memsight-report-")
        cls.procs = []
        try:
            cls.run_workloads_and_reports()
        except BaseException:
            cls.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.cleanup()
        print(f"report: wall time {time.time() - cls.t0:.0f} s", flush=True)

    @classmethod
    def cleanup(cls):
        for p in cls.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for stream in (p.stdin, p.stdout):
                if stream:
                    stream.close()
        for ctx in getattr(cls, "contexts", [])[::-1]:
            ctx.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def start(cls, argv):
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        cls.procs.append(p)
        line = p.stdout.readline().split()
        if not line or line[0] != "ready":
            raise AssertionError(f"{argv} did not become ready: {line}")
        return p, int(line[1])

    @classmethod
    def run_workloads_and_reports(cls):
        cls.contexts = []
        cls.cid = uuid.uuid4().hex + uuid.uuid4().hex
        box = FakeContainer(f"/docker/{cls.cid}", LIMIT).__enter__()
        cls.contexts.append(box)
        cls.agent = e2e.Agent(config_text="processes:\n  top_by_rss: 10000\n  growth_window: 60s\n",
                              interval="1s").__enter__()
        cls.contexts.append(cls.agent)
        cls.prom = e2e.PrometheusServer([f"127.0.0.1:{cls.agent.port}"]).__enter__()
        cls.contexts.append(cls.prom)
        leak_steady = os.path.join(e2e.SCENARIOS, "corpus", "leak_steady")
        for name in (VICTIM, GROWER):
            shutil.copy(leak_steady, os.path.join(cls.tmp, name))

        cls.grower, cls.grower_pid = cls.start([os.path.join(cls.tmp, GROWER), str(GROWER_KIB_S)])
        grower_started = time.time()
        cls.victim, cls.victim_pid = cls.start(e2e.in_cgroup(box.path, [os.path.join(cls.tmp, VICTIM),
                                                                         str(VICTIM_KIB_S)]))
        cls.victim.wait(timeout=90)
        if cls.victim.returncode != -9:
            raise AssertionError(f"{VICTIM} was not OOM-killed: exit {cls.victim.returncode}")
        print(f"report: {VICTIM} pid {cls.victim_pid} OOM-killed in /docker/{cls.cid[:12]}... after "
              f"{time.time() - grower_started:.0f} s", flush=True)
        cls.prom.wait_for(f'memsight_oom_kills_total{{comm="{VICTIM}", container_id="{cls.cid}"}}', 30,
                          "the OOM kill in Prometheus")
        cls.prom.wait_for(f'memsight_oom_victim_resident_bytes{{pid="{cls.victim_pid}"}}', 30,
                          "the victim's series in Prometheus")
        time.sleep(max(0.0, grower_started + GROWER_RUN_S - time.time()))

        common = ["--prometheus", cls.prom.url, "--since", "10m", "--agent", f"http://127.0.0.1:{cls.agent.port}"]
        cls.webhook = Webhook()
        try:
            cls.json_run = report(*common, "--format", "json", "--post-url", cls.webhook.url, "--post-format",
                                  "summary")
            cls.md_path = os.path.join(cls.tmp, "out", "report.md")
            os.makedirs(os.path.dirname(cls.md_path))
            cls.md_run = report(*common, "--format", "md", "--output", cls.md_path)
            cls.html_path = os.path.join(cls.tmp, "out", "report.html")
            cls.html_run = report(*common, "--format", "html", "--output", cls.html_path, "--post-url", cls.webhook.url)
            cls.container_run = report(*common, "--format", "json", "--container", cls.cid)
        finally:
            cls.webhook.close()
        for run in (cls.json_run, cls.md_run, cls.html_run):
            print(f"report: stderr: {run.stderr.strip()}", flush=True)
        cls.screenshot()

    @classmethod
    def screenshot(cls):
        cls.png = os.path.join(cls.tmp, "report.png")
        profile = tempfile.mkdtemp(prefix="memsight-chromium-", dir=cls.tmp)
        if not os.path.exists(cls.html_path):
            cls.chromium = None
            return
        cls.chromium = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--screenshot={cls.png}", "--window-size=1280,2400",
             f"file://{cls.html_path}"], capture_output=True, text=True, timeout=120)
        if os.path.exists(cls.png) and SCREENSHOT_COPY:
            shutil.copy(cls.png, SCREENSHOT_COPY)

    # ---- the tests

    def test_json_names_the_victim_and_the_biggest_grower(self):
        self.assertEqual(self.json_run.returncode, 0, self.json_run.stderr)
        j = json.loads(self.json_run.stdout)
        self.assertEqual(j["schema"], 1)
        self.assertEqual(j["period"]["since"], "10m")
        self.assertIn(f"127.0.0.1:{self.agent.port}", [n["instance"] for n in j["fleet"]["nodes"]])
        victims = [v for v in j["oom_kills"]["victims"] if v["pid"] == self.victim_pid]
        self.assertEqual(len(victims), 1, j["oom_kills"])
        self.assertEqual(victims[0]["comm"], VICTIM)
        self.assertEqual(victims[0]["container_id"], self.cid)
        self.assertGreater(victims[0]["resident_bytes"], LIMIT / 2)
        kills = [k for k in j["oom_kills"]["by_series"] if k["comm"] == VICTIM and k["container_id"] == self.cid]
        self.assertEqual([k["kills"] for k in kills], [1], j["oom_kills"]["by_series"])  # the series' first kill
        self.assertGreaterEqual(j["oom_kills"]["total"], 1)
        self.assertTrue(j["top_growers"], j)
        top = j["top_growers"][0]
        self.assertEqual((top["comm"], top["pid"]), (GROWER, self.grower_pid), j["top_growers"])
        slope = top["slope_bytes_per_second"] / 1024
        self.assertGreater(slope, GROWER_KIB_S * 0.7, top)
        self.assertLess(slope, GROWER_KIB_S * 1.3, top)
        # The top users are the host's: other processes may be larger than the grower.
        self.assertTrue(j["top_processes"])
        near = [n for n in j["near_limit"] if n["container_id"] == self.cid]
        self.assertTrue(near, f"the victim's container is not near its limit: {j['near_limit']}")
        self.assertGreater(near[0]["max_ratio"], 0.8)
        self.assertEqual(near[0]["limit_bytes"], LIMIT)
        self.assertTrue(any(len(s["points"]) > 10 for s in j["charts"]["memory"]), j["charts"]["memory"])
        if GROWER in [p["comm"] for p in j["top_processes"][:5]]:
            self.assertIn(GROWER, [s["label"].split()[0] for s in j["charts"]["memory"]])
        # The agent's forensic record of the kill (GET /oom), attached to the victim: its memory history.
        self.assertIsNotNone(j["oom_kills"]["forensic_records"])
        record = victims[0]["forensic"]
        self.assertIsNotNone(record, "the victim has no forensic record from the agent's /oom")
        self.assertEqual(record["victim"]["pid"], self.victim_pid)
        history = record["history"]
        self.assertGreaterEqual(history["readings"], 3, history)
        self.assertEqual(history["readings"], len(history["process"]))
        self.assertEqual(history["interval_seconds"], 1.0)
        times = [datetime.datetime.fromisoformat(p["time"].replace("Z", "+00:00")) for p in history["process"]]
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        self.assertTrue(all(0.5 < g < 2.5 for g in gaps), f"readings not ~1 s apart: {gaps}")
        print(f"report: top grower {top['comm']} {slope:.0f} KiB/s; leak suspects "
              f"{[(s['comm'], round(s['max_suspicion'], 2)) for s in j['leak_suspects']]}; "
              f"victim's forensic record: {history['readings']} readings", flush=True)

    def test_container_filter_keeps_only_that_container(self):
        self.assertEqual(self.container_run.returncode, 0, self.container_run.stderr)
        j = json.loads(self.container_run.stdout)
        self.assertEqual(j["filters"]["container_id"], self.cid)
        self.assertEqual([(v["comm"], v["pid"]) for v in j["oom_kills"]["victims"]], [(VICTIM, self.victim_pid)])
        self.assertEqual(j["oom_kills"]["total"], 1)
        for section in ("top_processes", "top_growers", "exits"):
            rows = j[section]["peaks"] if section == "exits" else j[section]
            self.assertEqual({r["container_id"] for r in rows} - {self.cid}, set(), section)

    def test_summary_reached_the_webhook(self):
        bodies = [b for b in self.webhook.bodies]
        self.assertEqual(len(bodies), 2, bodies)
        summary = [json.loads(body) for path, ctype, body in bodies if b'"text"' in body]
        self.assertEqual(len(summary), 1, bodies)
        self.assertIn(f"OOM victim: {VICTIM} (pid {self.victim_pid}", summary[0]["text"])
        self.assertIn(f"Top grower: {GROWER} (pid {self.grower_pid})", summary[0]["text"])
        full = [json.loads(body) for path, ctype, body in bodies if b'"schema"' in body]
        self.assertEqual(len(full), 1)
        self.assertEqual(full[0]["schema"], 1)
        self.assertEqual({path for path, _, _ in bodies}, {"/hooks/report"})
        self.assertEqual({ctype for _, ctype, _ in bodies}, {"application/json"})

    def test_markdown_contains_both_and_its_charts(self):
        self.assertEqual(self.md_run.returncode, 0, self.md_run.stderr)
        self.assertEqual(self.md_run.stdout, "")
        with open(self.md_path) as f:
            md = f.read()
        self.assertIn(f"| {VICTIM.replace('_', chr(92) + '_')} | {self.victim_pid} | {self.cid[:12]} |", md)
        self.assertIn(f"| {GROWER.replace('_', chr(92) + '_')} | {self.grower_pid} |", md)
        self.assertIn("](report-memory.svg)", md)
        with open(os.path.join(os.path.dirname(self.md_path), "report-memory.svg")) as f:
            svg = f.read()
        self.assertIn("<polyline", svg)
        self.assertTrue(os.path.exists(os.path.join(os.path.dirname(self.md_path), "report-oom-kills.svg")))

    def test_html_is_self_contained(self):
        self.assertEqual(self.html_run.returncode, 0, self.html_run.stderr)
        with open(self.html_path) as f:
            html = f.read()
        for bad in ("<script", "<link", "<img", "src=", "url("):
            self.assertNotIn(bad, html)
        self.assertIn(VICTIM, html)
        self.assertIn(GROWER, html)
        self.assertGreaterEqual(html.count("<svg"), 2)

    def test_html_renders_the_charts_in_chromium(self):
        self.assertIsNotNone(self.chromium, "no HTML report to open")
        self.assertTrue(os.path.exists(self.png), f"chromium made no screenshot: {self.chromium.returncode}\n"
                                                  f"{self.chromium.stderr[-2000:]}")
        r = subprocess.run([DEBIAN_PYTHON, "-c", PIXEL_COUNTER, self.png, json.dumps([PALETTE_FIRST, BAR])],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, f"{r.stderr} (python3-pil: scripts/setup.sh installs it)")
        stats = json.loads(r.stdout)
        print(f"report: screenshot {stats['size']}, {os.path.getsize(self.png)} bytes, {stats['distinct']} colours, "
              f"{stats['white']} white pixels, near the line colour {stats['near'][0]}, near the bar colour "
              f"{stats['near'][1]}", flush=True)
        self.assertEqual(stats["size"], [1280, 2400])
        total = 1280 * 2400
        self.assertLess(stats["white"], 0.98 * total, "the screenshot is blank")
        self.assertGreater(stats["distinct"], 20, "the screenshot has almost no colours: nothing rendered")
        self.assertGreater(stats["near"][0], 300, "no chart line (or its legend) in the screenshot")
        self.assertGreater(stats["near"][1], 300, "no OOM bar chart (or second line) in the screenshot")

    def test_unreachable_agent_leaves_out_the_forensic_records_with_one_warning(self):
        port = e2e.free_port()
        r = report("--prometheus", self.prom.url, "--since", "10m", "--agent", f"http://127.0.0.1:{port}",
                   "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertIsNone(j["oom_kills"]["forensic_records"])
        self.assertTrue(any(w.startswith(f"agent unreachable at http://127.0.0.1:{port}: ") and
                            w.endswith("forensic records left out") for w in j["warnings"]), j["warnings"])
        self.assertEqual(sum("forensic records left out" in l for l in r.stderr.splitlines()), 1, r.stderr)

    def test_errors_are_one_line(self):
        port = e2e.free_port()
        r = report("--prometheus", f"127.0.0.1:{port}", "--since", "1h")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr.strip(), rf"^memsight: Prometheus server unreachable at http://127.0.0.1:{port}: ")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        r = report("--prometheus", self.prom.url, "--since", "yesterday")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(),
                         "memsight: --since: bad period 'yesterday' (whole numbers with units, e.g. 30m, 24h, 7d, 1w)")
        r = report("--prometheus", self.prom.url, "--cluster", "no-such-cluster")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"memsight: no memsight_build_info in Prometheus at {self.prom.url}", r.stderr)
        self.assertIn('is it scraping the agents (job="memsight")?', r.stderr)
        # A Prometheus API error is reported with its message: the agent's port speaks HTTP but not the API.
        r = report("--prometheus", f"127.0.0.1:{self.agent.port}")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"memsight: the Prometheus server at http://127.0.0.1:{self.agent.port} answered HTTP", r.stderr)
        r = report("--prometheus", self.prom.url, "--format", "pdf")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(), "memsight: --format must be html, md or json, got 'pdf'")
        r = report("--since", "1h")
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    e2e.main()
