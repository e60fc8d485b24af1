#!/usr/bin/env python3
"""Automatic escalation and the overhead governor, with real BPF.

Two agents run side by side on copies of the `leaker` scenario (copies, so each agent's selector can pick its
own processes by comm and leave every other process of the machine alone):
  * agent A, no overhead budget, two slots: both leakers are escalated by themselves once their RSS trend is
    suspicious, their memsight_heap_* series and overhead estimates are exported at the same time, both sessions
    end after escalation.duration, each writes a readable pprof file, and the cool-down keeps them from being
    escalated again although they are still suspicious;
  * agent B, a tiny budget (0.1%): its session is stopped by the governor, counted and logged in one line.
And `memsight leaks` is stopped by the governor on a malloc-heavy process with a tiny budget, and is not with
--overhead-budget 0.
"""

import glob
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import memsight_e2e as e2e

# The always-on tier needs about a minute of readings before it calls a trend a leak (docs/leak-detection.md);
# the window must hold that much.
GROWTH_WINDOW_S = 70
ESCALATION_TIMEOUT_S = 200
SESSION_S = 8


def agent_config(profile_dir, comms, budget, max_concurrent):
    return (f"interval: 1s\n"
            f"processes:\n  growth_window: {GROWTH_WINDOW_S}s\n"
            f"deep:\n  sample_bytes: 1\n  overhead_budget: {budget}\n"
            f"escalation:\n"
            f"  enabled: true\n"
            f"  threshold: 0.3\n"
            f"  duration: {SESSION_S}s\n"
            f"  cooldown: 1h\n"
            f"  max_concurrent: {max_concurrent}\n"
            f"  selector:\n    include_comm: [{', '.join(comms)}]\n"
            f"  profile_dir: {profile_dir}\n"
            f"  retention:\n    max_files: 10\n    max_age: 1h\n")


# ---- a minimal reader of the pprof protobuf (wire format only; no protobuf module needed)

def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """The fields of one message: [(number, int or bytes)]."""
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise AssertionError(f"invalid protobuf wire type {wire}")
        out.append((number, value))
    return out


def _packed(value):
    if isinstance(value, int):
        return [value]
    out, i = [], 0
    while i < len(value):
        v, i = _varint(value, i)
        out.append(v)
    return out


def read_pprof(path):
    """(sample type names, [sample values], string table, comments) of a gzipped profile.proto."""
    with gzip.open(path) as f:
        top = _fields(f.read())
    strings = [v.decode() for n, v in top if n == 6]
    types = [strings[dict(_fields(v)).get(1, 0)] for n, v in top if n == 1]
    samples = []
    for n, v in top:
        if n == 2:
            samples.append([x for fn, fv in _fields(v) if fn == 2 for x in _packed(fv)])
    comments = [strings[x] for n, v in top if n == 13 for x in _packed(v)]
    return types, samples, strings, comments


def value(metrics, name, **labels):
    rows = e2e.select(metrics, name, **labels)
    return rows[0][1] if rows else None


class Leaker:
    """A copy of the leaker scenario under another name (its comm), leaking from the start."""

    def __init__(self, directory, name, churn):
        self.path = os.path.join(directory, name)
        shutil.copy(e2e.scenario("leaker"), self.path)
        self.name = name
        # ~1 ms per iteration: 500 bytes leaked per iteration, `churn` malloc+free pairs besides.
        self.proc = subprocess.Popen([self.path, "200000", "500", str(churn)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ready = self.proc.stdout.readline().split()
        assert ready and ready[0] == "ready", f"{name} not ready: {ready}"
        self.pid = int(ready[1])
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc.stdin.close()
        self.proc.stdout.close()


class Escalation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="memsight-escalation-")
        cls.dir_a = os.path.join(cls.tmp, "profiles-a")
        cls.dir_b = os.path.join(cls.tmp, "profiles-b")  # created by the agent
        cls.leakers = []
        cls.agents = []
        try:
            cls.a1 = Leaker(cls.tmp, "leaker_a", churn=2)
            cls.a2 = Leaker(cls.tmp, "leaker_b", churn=2)
            cls.gov = Leaker(cls.tmp, "leaker_gov", churn=20)
            cls.leakers = [cls.a1, cls.a2, cls.gov]
            cls.agent_a = e2e.Agent(config_text=agent_config(cls.dir_a, ["leaker_a", "leaker_b"], "0", 2),
                                    interval="1s").__enter__()
            cls.agents.append(cls.agent_a)
            cls.agent_b = e2e.Agent(config_text=agent_config(cls.dir_b, ["leaker_gov"], "0.1%", 1),
                                    interval="1s").__enter__()
            cls.agents.append(cls.agent_b)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for agent in cls.agents:
            agent.__exit__(None, None, None)
        for leaker in cls.leakers:
            leaker.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_suspected_leaks_are_escalated_exported_profiled_and_cooled_down(self):
        agent, pids = self.agent_a, [self.a1.pid, self.a2.pid]

        def both_running(m):
            running = value(m, "memsight_escalation_sessions") == 2
            sites = all(e2e.select(m, "memsight_heap_live_bytes", pid=p, site="leak_one_record") for p in pids)
            overhead = all(e2e.select(m, "memsight_deep_session_overhead_ratio", pid=p, origin="escalation")
                           for p in pids)
            return m if running and sites and overhead else None

        try:
            m = agent.wait_for(both_running, timeout=ESCALATION_TIMEOUT_S, what="two escalated sessions exported")
        except AssertionError:
            print(agent.logs())
            raise
        self.assertEqual(value(m, "memsight_escalations_started_total"), 2)
        self.assertEqual(value(m, "memsight_deep_sessions"), 2)
        for leaker in (self.a1, self.a2):
            rows = e2e.select(m, "memsight_heap_live_bytes", pid=leaker.pid, site="leak_one_record")
            self.assertEqual(rows[0][0]["comm"], leaker.name)
            self.assertGreater(rows[0][1], 0)
            self.assertGreaterEqual(value(m, "memsight_process_leak_suspicion", pid=leaker.pid), 0.3)
            ratio = value(m, "memsight_deep_session_overhead_ratio", pid=leaker.pid, origin="escalation")
            self.assertGreater(ratio, 0)  # budget 0 stops nothing, but the estimate is exported
            self.assertLessEqual(ratio, 1)
        self.assertIsNotNone(value(m, "memsight_deep_probe_hit_cost_seconds"))
        self.assertFalse(e2e.select(m, "memsight_heap_live_bytes", pid=self.gov.pid))  # not this agent's

        m = agent.wait_for(lambda m: m if value(m, "memsight_escalations_finished_total", reason="duration") == 2
                           and value(m, "memsight_escalation_sessions") == 0 else None,
                           timeout=SESSION_S + 30, what="both sessions ending after escalation.duration")
        for leaker in (self.a1, self.a2):
            self.assertFalse(e2e.select(m, "memsight_heap_live_bytes", pid=leaker.pid))
        self.assertEqual(value(m, "memsight_escalations_finished_total", reason="overhead"), 0)

        # One readable profile per session, with the leaking function and its live bytes.
        for leaker in (self.a1, self.a2):
            files = glob.glob(os.path.join(self.dir_a, f"memsight-{leaker.name}-{leaker.pid}-*Z.pb.gz"))
            self.assertEqual(len(files), 1, os.listdir(self.dir_a))
            types, samples, strings, comments = read_pprof(files[0])
            self.assertEqual(types, ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"])
            self.assertIn("leak_one_record", strings)
            inuse = sum(s[3] for s in samples)
            self.assertGreater(inuse, 500 * 100, "less than 100 leaked blocks in the profile")
            self.assertTrue(any(f"pid {leaker.pid} ({leaker.name})" in c and "escalated" in c for c in comments),
                            comments)
        self.assertEqual(len(os.listdir(self.dir_a)), 2, os.listdir(self.dir_a))  # no temporaries left

        # Still suspicious, still leaking, but cooling down: no new session.
        time.sleep(4)
        m = agent.scrape()
        for leaker in (self.a1, self.a2):
            self.assertIsNone(leaker.proc.poll())
            self.assertGreaterEqual(value(m, "memsight_process_leak_suspicion", pid=leaker.pid), 0.3)
        self.assertEqual(value(m, "memsight_escalations_started_total"), 2)
        self.assertEqual(value(m, "memsight_escalation_sessions"), 0)
        logs = agent.logs()
        for leaker in (self.a1, self.a2):
            self.assertIn(f"escalation: pid {leaker.pid} ({leaker.name}) leak suspicion", logs)
            self.assertIn(f"escalated session on pid {leaker.pid} ({leaker.name}) ended (duration)", logs)

    def test_governor_stops_an_escalated_session_over_its_budget(self):
        agent, pid = self.agent_b, self.gov.pid
        try:
            m = agent.wait_for(lambda m: m if value(m, "memsight_escalations_finished_total", reason="overhead") == 1
                               else None, timeout=ESCALATION_TIMEOUT_S, what="a session stopped by the budget")
        except AssertionError:
            print(agent.logs())
            raise
        self.assertEqual(value(m, "memsight_escalations_started_total"), 1)
        self.assertEqual(value(m, "memsight_deep_overhead_stops_total"), 1)
        self.assertEqual(value(m, "memsight_escalation_sessions"), 0)
        self.assertFalse(e2e.select(m, "memsight_heap_live_bytes", pid=pid))
        stops = [line for line in agent.logs().splitlines() if "stopping the session" in line]
        self.assertEqual(len(stops), 1, stops)
        self.assertIn(f"stopping the session on pid {pid} (leaker_gov): estimated overhead", stops[0])
        self.assertIn("exceeds the budget 0.1%", stops[0])
        # What it saw until the stop is still written.
        files = glob.glob(os.path.join(self.dir_b, f"memsight-leaker_gov-{pid}-*Z.pb.gz"))
        self.assertEqual(len(files), 1, os.listdir(self.dir_b))
        _, _, _, comments = read_pprof(files[0])
        self.assertTrue(any("ended: overhead" in c for c in comments), comments)
        # Cooling down: not started again right away.
        time.sleep(3)
        self.assertEqual(value(agent.scrape(), "memsight_escalations_started_total"), 1)


class LeaksBudget(unittest.TestCase):
    def run_leaks(self, *extra, duration="60s"):
        proc = subprocess.Popen([e2e.scenario("churner"), "100000000", "64"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            pid = int(proc.stdout.readline().split()[1])
            proc.stdin.write("go\n")
            proc.stdin.flush()
            start = time.monotonic()
            r = subprocess.run([e2e.MEMSIGHT, "leaks", "--pid", str(pid), "--format", "json", "--interval", "500ms",
                                "--duration", duration, *extra], capture_output=True, text=True, timeout=120)
            took = time.monotonic() - start
            self.assertEqual(r.returncode, 0, r.stderr)
            return pid, json.loads(r.stdout), r.stderr, took
        finally:
            proc.stdin.close()
            proc.terminate()
            proc.wait(timeout=10)
            proc.stdout.close()

    def test_tiny_budget_stops_a_session_on_a_malloc_heavy_process(self):
        pid, report, err, took = self.run_leaks("--overhead-budget", "0.1%")
        self.assertEqual(report["ended"], "overhead", err)
        self.assertLess(took, 30, "the session was not stopped early")
        self.assertLess(report["duration_seconds"], 20)
        o = report["overhead"]
        self.assertEqual(o["budget"], 0.001)
        self.assertGreater(o["estimate"], 0.001)
        self.assertLessEqual(o["estimate"], 1)
        self.assertTrue(o["cost_measured"])
        self.assertGreater(o["cost_per_hit_seconds"], 0)
        stops = [line for line in err.splitlines() if "stopping the session" in line]
        self.assertEqual(len(stops), 1, err)
        self.assertIn(f"pid {pid} (churner)", stops[0])
        self.assertIn("exceeds the budget 0.1%", stops[0])
        # The report holds what the session saw until the stop: the calls the probes counted.
        self.assertGreater(report["counters"]["alloc_calls"] + report["counters"]["free_calls"], 1000)

    def test_budget_zero_opts_out(self):
        _, report, err, _ = self.run_leaks("--overhead-budget", "0", duration="4s")
        self.assertEqual(report["ended"], "duration", err)
        self.assertEqual(report["overhead"]["budget"], 0)
        self.assertIsNone(report["overhead"]["estimate"])
        self.assertNotIn("stopping the session", err)

    def test_bad_budget_is_one_line(self):
        r = subprocess.run([e2e.MEMSIGHT, "leaks", "--pid", str(os.getpid()), "--overhead-budget", "2"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(),
                         "memsight: --overhead-budget: must be between 0 and 1 (0% and 100%; 0 = no limit), got '2'")
        r = subprocess.run([e2e.MEMSIGHT, "agent", "--deep-overhead-budget", "0"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("--deep-overhead-budget applies to the session of --deep-pid or --deep-cgroup", r.stderr)


if __name__ == "__main__":
    e2e.main()
