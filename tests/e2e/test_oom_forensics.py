#!/usr/bin/env python3
"""OOM forensic records end to end: a process that grows at 8 MiB/s in a docker-named memory cgroup of 64 MiB until
the kernel OOM-kills it (~8 s, so the agent at --interval 1s reads it several times), then: the record file in
oom.forensics_dir, GET /oom (newest first, the victim's readings at ~1 s spacing, growing, RSS at death near the
limit, the memcg limit), `memsight oom --explain` (from the agent and from the directory, text and json), and the
record still served after the agent restarts on the same directory."""

import calendar
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

import memsight_e2e as e2e
from test_containers import FakeContainer

MiB = 1 << 20
LIMIT = 64 * MiB
RATE_MIB = 8  # MiB per second: ~8 s to the limit

# The schema 1 keys (docs/oom-forensics.md, notes/oom_record_schema.md), in order.
SCHEMA = {
    "": ["schema", "id", "time", "victim", "kill", "history", "before_kill", "growth_sites", "profiles"],
    "victim": ["pid", "comm", "cmdline", "uid", "oom_score_adj", "container_id", "pod_uid", "cgroup"],
    "kill": ["resident_bytes", "total_vm_bytes", "pgtables_bytes", "trigger", "memcg", "attribution"],
    "kill.resident_bytes": ["anon", "file", "shmem"],
    "kill.trigger": ["pid", "comm"],
    "kill.memcg": ["limit_bytes", "usage_bytes", "usage_time"],
    "history": ["interval_seconds", "window_seconds", "readings", "process", "container"],
    "history.process[]": ["time", "resident_bytes", "swap_bytes"],
    "history.container[]": ["time", "usage_bytes", "working_set_bytes"],
    "before_kill": ["growth_bytes_per_second", "leak_suspicion", "container_growth_bytes_per_second",
                    "container_leak_suspicion"],
    "growth_sites[]": ["site", "bytes"],
}


def schema_problems(record):
    """The places where `record` does not have the schema's keys in order."""
    problems = []
    for path, keys in SCHEMA.items():
        node, nodes = record, None
        for part in [p for p in path.split(".") if p]:
            if part.endswith("[]"):
                nodes = node[part[:-2]]
            else:
                node = node[part]
        for n in (nodes if nodes is not None else [node]):
            if list(n.keys()) != keys:
                problems.append(f"{path or 'top'}: {list(n.keys())} != {keys}")
    return problems


def parse_time(s):
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + int(s[20:23]) / 1000.0


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def config_for(records_dir, profiles_dir):
    return (f"oom:\n  forensics_dir: {records_dir}\n"
            f"escalation:\n  profile_dir: {profiles_dir}\n"
            # Sample page faults often enough that an 8 s life has growth sites.
            "kernel:\n  page_faults:\n    sample_period: 16\n")


class OomForensics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="memsight-oom-forensics-")
        cls.records_dir = os.path.join(cls.tmp, "records")  # created by the agent
        cls.config = config_for(cls.records_dir, os.path.join(cls.tmp, "profiles"))
        cls.cid = uuid.uuid4().hex + uuid.uuid4().hex
        cls.cgroup = f"/docker/{cls.cid}"
        with FakeContainer(cls.cgroup, LIMIT) as box:
            # No swap inside: the limit is memory + swap (v1 memsw, v2 swap.max), so the kernel kills at 64 MiB.
            for name, value in (("memory.memsw.limit_in_bytes", str(LIMIT)), ("memory.swap.max", "0")):
                path = os.path.join(box.path, name)
                if os.path.exists(path):
                    with open(path, "w") as f:
                        f.write(value)
            with e2e.Agent(config_text=cls.config, interval="1s") as agent:
                cls.agent_log_start = agent.logs()
                script = f'echo $$ > "{box.path}/cgroup.procs" && exec "$@"'
                victim = subprocess.Popen(["sh", "-c", script, "sh", e2e.scenario("grow_until_oom"), str(RATE_MIB),
                                           "512"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True)
                ready = victim.stdout.readline().split()
                assert ready and ready[0] == "ready", f"grow_until_oom not ready: {ready}"
                cls.pid = int(ready[1])
                cls.started = time.time()
                victim.wait(timeout=90)
                cls.lived = time.time() - cls.started
                cls.victim_rc, cls.victim_err = victim.returncode, victim.stderr.read()
                assert cls.victim_rc == -9, f"grow_until_oom was not OOM-killed: {cls.victim_rc} {cls.victim_err}"

                deadline = time.time() + 20
                cls.files = []
                while time.time() < deadline and not cls.files:
                    cls.files = glob.glob(os.path.join(cls.records_dir, f"oom-*-{cls.pid}.json"))
                    time.sleep(0.2)
                base = f"http://127.0.0.1:{agent.port}"
                cls.base = base
                cls.status, cls.content_type, body = get(base + "/oom")
                cls.served = json.loads(body)
                cls.limit_one = json.loads(get(base + "/oom?limit=1")[2])
                try:
                    get(base + "/oom?limit=zero")
                    cls.bad_limit = None
                except urllib.error.HTTPError as e:
                    cls.bad_limit = (e.code, e.read().decode())
                cls.probes = [get(base + p)[0] for p in ("/healthz", "/readyz", "/metrics")]
                cls.metrics = agent.scrape()
                cls.explain = subprocess.run([e2e.MEMSIGHT, "oom", "--explain", "--agent", base], capture_output=True,
                                             text=True, timeout=30)
                cls.explain_json = subprocess.run([e2e.MEMSIGHT, "oom", "--explain", "--agent", base, "--format",
                                                   "json", "--limit", "5"], capture_output=True, text=True,
                                                  timeout=30)
                cls.agent_log = agent.logs()
            # The same directory after a restart.
            with e2e.Agent(config_text=cls.config, interval="1s") as again:
                cls.after_restart = json.loads(get(f"http://127.0.0.1:{again.port}/oom")[2])
                cls.restart_log = again.logs()
        cls.explain_dir = subprocess.run([e2e.MEMSIGHT, "oom", "--explain", "--dir", cls.records_dir],
                                         capture_output=True, text=True, timeout=30)
        cls.record = cls.served["records"][0] if cls.served.get("records") else None
        print(f"\nvictim pid {cls.pid} lived {cls.lived:.1f} s; record {cls.files}\n"
              f"--- memsight oom --explain --agent ---\n{cls.explain.stdout}{cls.explain.stderr}", flush=True)
        if cls.record:
            print("--- record (history) ---\n" + json.dumps(cls.record["history"], indent=1), flush=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_the_record_file_is_in_the_configured_directory(self):
        self.assertEqual(len(self.files), 1, f"{os.listdir(self.records_dir)}\n{self.agent_log}")
        with open(self.files[0]) as f:
            on_disk = json.load(f)
        self.assertEqual(on_disk["victim"]["pid"], self.pid)
        self.assertEqual(os.path.basename(self.files[0]), f"oom-{on_disk['id']}.json")
        self.assertEqual([n for n in os.listdir(self.records_dir) if n.startswith(".")], [])  # no temporaries left

    def test_get_oom_serves_it_first_as_json(self):
        self.assertEqual(self.status, 200)
        self.assertEqual(self.content_type, "application/json")
        self.assertIsNotNone(self.record, self.served)
        self.assertEqual(self.record["victim"]["pid"], self.pid)
        self.assertEqual(self.record["victim"]["comm"], "grow_until_oom")
        self.assertIn("grow_until_oom 8 512", self.record["victim"]["cmdline"])
        self.assertEqual(self.record["victim"]["container_id"], self.cid)
        self.assertEqual(self.record["victim"]["cgroup"], self.cgroup)
        self.assertEqual(self.record["kill"]["attribution"], "exit")
        self.assertEqual(len(self.limit_one["records"]), 1)
        self.assertEqual(self.limit_one["records"][0]["id"], self.record["id"])
        self.assertEqual(self.probes, [200, 200, 200])  # /healthz, /readyz and /metrics as before

    def test_a_bad_limit_is_a_400_with_one_line(self):
        self.assertIsNotNone(self.bad_limit)
        code, body = self.bad_limit
        self.assertEqual(code, 400)
        self.assertEqual(body, "limit must be a whole number from 1 to 100000, got 'zero'\n")

    def test_the_history_holds_growing_readings_at_the_interval(self):
        h = self.record["history"]
        self.assertEqual(h["interval_seconds"], 1.0)
        self.assertGreaterEqual(self.lived, 4.0)
        self.assertGreaterEqual(h["readings"], 3, h)
        self.assertEqual(h["readings"], len(h["process"]))
        times = [parse_time(p["time"]) for p in h["process"]]
        gaps = [b - a for a, b in zip(times, times[1:])]
        for gap in gaps:
            self.assertGreater(gap, 0.5, gaps)
            self.assertLess(gap, 1.6, gaps)
        rss = [p["resident_bytes"] for p in h["process"]]
        # The first reading may be of `sh` before its exec; from the second on it grows by ~8 MiB a reading.
        self.assertEqual(rss[1:], sorted(rss[1:]), rss)
        self.assertGreater(rss[-1] - rss[1], (len(rss) - 3) * 4 * MiB, rss)
        self.assertLessEqual(rss[-1], LIMIT)
        self.assertLess(parse_time(h["process"][-1]["time"]), parse_time(self.record["time"]))
        growth = self.record["before_kill"]["growth_bytes_per_second"]
        self.assertGreater(growth, RATE_MIB * MiB * 0.5)
        self.assertLess(growth, RATE_MIB * MiB * 1.5)
        self.assertIsNotNone(self.record["before_kill"]["leak_suspicion"])
        # Its container: usage and working set read from cgroupfs at the same scans.
        self.assertGreaterEqual(len(h["container"]), 2, h)
        ws = [c["working_set_bytes"] for c in h["container"]]
        self.assertGreater(ws[-1], ws[0])
        self.assertIsNotNone(self.record["before_kill"]["container_growth_bytes_per_second"])

    def test_rss_at_death_is_near_the_limit_and_the_memcg_limit_is_the_cgroups(self):
        k = self.record["kill"]
        rss = k["resident_bytes"]["anon"] + k["resident_bytes"]["file"] + k["resident_bytes"]["shmem"]
        self.assertGreater(rss, LIMIT * 3 // 4, k)
        # Anonymous memory is charged to the cgroup; file pages (the binary, libc) may be charged to whichever
        # cgroup read them first, so RSS can pass the limit by those.
        self.assertLessEqual(k["resident_bytes"]["anon"], LIMIT, k)
        self.assertLessEqual(rss, LIMIT + 4 * MiB, k)
        self.assertEqual(k["memcg"]["limit_bytes"], LIMIT)
        # The usage is the container's last reading before the kill (at most an interval before it), near the limit.
        self.assertGreater(k["memcg"]["usage_bytes"], LIMIT // 2, k)
        before = parse_time(self.record["time"]) - parse_time(k["memcg"]["usage_time"])
        self.assertGreaterEqual(before, 0)
        self.assertLess(before, 1.6)
        self.assertEqual(k["trigger"]["pid"], self.pid)  # it faulted its own page in

    def test_explain_from_the_agent_tells_the_story(self):
        self.assertEqual(self.explain.returncode, 0, self.explain.stderr)
        out = self.explain.stdout
        self.assertIn(f"pid {self.pid} (grow_until_oom)", out)
        self.assertIn(f"container {self.cid[:12]}", out)
        self.assertIn("of the memory limit 64.0 MiB", out)
        self.assertRegex(out, r"growth:   RSS [\d.]+ [KM]iB → [\d.]+ MiB over \d+ readings in [\d.]+ s, \+[\d.]+ MiB/s")
        self.assertIn(f"record:   {self.record['id']}", out)

    def test_explain_json_matches_the_schema(self):
        self.assertEqual(self.explain_json.returncode, 0, self.explain_json.stderr)
        doc = json.loads(self.explain_json.stdout)
        self.assertEqual(list(doc.keys()), ["records"])
        mine = [r for r in doc["records"] if r["victim"]["pid"] == self.pid]
        self.assertEqual(len(mine), 1)
        self.assertEqual(schema_problems(mine[0]), [])
        self.assertEqual(mine[0]["schema"], 1)

    def test_explain_from_the_directory(self):
        self.assertEqual(self.explain_dir.returncode, 0, self.explain_dir.stderr)
        self.assertIn(f"pid {self.pid} (grow_until_oom)", self.explain_dir.stdout)

    def test_the_record_is_counted(self):
        # Every OOM kill on the host gets a record: other tests' kills may be counted too.
        written = e2e.select(self.metrics, "memsight_oom_forensic_records_total", outcome="written")
        failed = e2e.select(self.metrics, "memsight_oom_forensic_records_total", outcome="failed")
        self.assertEqual(len(written), 1)
        self.assertGreaterEqual(written[0][1], 1.0)
        self.assertEqual([v for _, v in failed], [0.0])

    def test_records_survive_an_agent_restart(self):
        ids = [r["id"] for r in self.after_restart["records"]]
        self.assertIn(self.record["id"], ids, self.restart_log)
        kept = re.search(r"oom: forensic records in \S+ \((\d+) kept from before", self.restart_log)
        self.assertIsNotNone(kept, self.restart_log)
        self.assertGreaterEqual(int(kept.group(1)), 1)


class OomExplainErrors(unittest.TestCase):
    def run_explain(self, *args):
        return subprocess.run([e2e.MEMSIGHT, "oom", "--explain", *args], capture_output=True, text=True, timeout=30)

    def test_unreachable_agent(self):
        r = self.run_explain("--agent", f"http://127.0.0.1:{e2e.free_port()}")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr.strip(), r"^memsight: agent unreachable at http://127\.0\.0\.1:\d+: .+$")

    def test_no_records(self):
        with tempfile.TemporaryDirectory() as d:
            r = self.run_explain("--dir", d)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr.strip(), f"memsight: no OOM records in {d}")
            j = self.run_explain("--dir", d, "--format", "json")
            self.assertEqual(j.returncode, 0, j.stderr)
            self.assertEqual(json.loads(j.stdout), {"records": []})

    def test_unreadable_directory(self):
        with tempfile.NamedTemporaryFile() as f:
            r = self.run_explain("--dir", f.name)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr.strip(),
                             f"memsight: {f.name}: cannot read the OOM record directory: Not a directory")

    def test_options_need_explain(self):
        r = subprocess.run([e2e.MEMSIGHT, "oom", "--dir", "/tmp"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)


if __name__ == "__main__":
    e2e.main()
