#!/usr/bin/env python3
"""Injected faults (docs/reliability.md): what a user sees when things go wrong around the agent.

  * KilledAgent: the agent SIGKILLed during a person-started (--deep-pid) session leaves the target running,
    allocating, and without a breakpoint in its allocator (its libc text equals the file's again);
  * TargetChanges: the traced process forks (the child is not probed, the session goes on) or execs (the session
    follows the pid into the new program) mid-session; exits: test_deep_agent.py and test_deep_targets.py already
    prove the session ends with `exited` and the agent goes on;
  * Seccomp: a target under a strict seccomp allowlist (KILL_PROCESS for anything else) survives a session;
  * Churn: short processes and short-lived cgroups vanishing under a 100 ms scan: no crash, no error line,
    /metrics always served, counters never go backwards, no duplicate series;
  * FullDisk (and the escalated SIGKILL): profile and forensic files on a full tmpfs: one error line each,
    counted, the agent keeps serving, no partial file; then the agent SIGKILLed during an escalated session;
  * Restart: SIGTERM and a new agent on the same port.
"""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request
import uuid

import memsight_e2e as e2e
from test_containers import FakeContainer, memory_cgroup_root
from test_escalation import Leaker

MiB = 1 << 20
ALLOCATOR_SYMBOLS = ("malloc", "free", "calloc", "realloc")


# ---- is the target's allocator still probed? ------------------------------------------------------------------
# A uprobe is an int3 written into the probed process's private copy of the library's text page; unregistering it
# writes the original bytes back. So the first bytes of malloc in the target, read through /proc/PID/mem, equal
# those of this (never traced) process's malloc from the same libc file exactly when no memsight probe is left.

def _libc_base(pid):
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and fields[5].endswith("/libc.so.6") and int(fields[2], 16) == 0:
                return int(fields[0].split("-")[0], 16), fields[5], fields[3], fields[4]
    raise AssertionError(f"no libc.so.6 mapping in /proc/{pid}/maps")


_own_libc = ctypes.CDLL("libc.so.6")


def allocator_text(pid, n=8):
    """{symbol: first n bytes} of libc's allocator functions in process `pid`."""
    own_base, own_path, own_dev, own_inode = _libc_base("self")
    base, path, dev, inode = _libc_base(pid)
    assert (dev, inode) == (own_dev, own_inode), f"{pid} maps another libc ({path}) than the test ({own_path})"
    out = {}
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for sym in ALLOCATOR_SYMBOLS:
            offset = ctypes.cast(getattr(_own_libc, sym), ctypes.c_void_p).value - own_base
            mem.seek(base + offset)
            out[sym] = mem.read(n)
    return out


def pristine_text(n=8):
    return allocator_text("self", n)


def probed_symbols(pid):
    """Allocator functions of `pid` whose entry differs from the library's: where a uprobe sits."""
    clean = pristine_text()
    return sorted(s for s, b in allocator_text(pid).items() if b != clean[s])


def uprobe_events():
    for base in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        try:
            with open(os.path.join(base, "uprobe_events")) as f:
                return f.read()
        except OSError:
            continue
    return ""


def bpf_link_fds(pid):
    """The BPF link fds process `pid` holds (bpftool here cannot name a link's holder: that needs BPF iterators)."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:bpf_link"
        except OSError:
            pass
    return n


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.time() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def value(metrics, name, **labels):
    rows = e2e.select(metrics, name, **labels)
    return rows[0][1] if rows else None


def rss_kb(pid):
    return e2e.status_kb(pid, "VmRSS")


def sigkill(agent):
    """SIGKILLs the agent of an e2e.Agent (no clean-up runs) and makes its __exit__ a no-op."""
    pid = agent.proc.pid
    agent.proc.kill()
    agent.proc.wait(timeout=10)
    return pid


def check_unharmed_and_unprobed(test, leaker, agent_pid, events_before):
    """After the agent died: no probe left in the target, no BPF object of the agent, and the target keeps running
    and allocating."""
    wait_until(lambda: not probed_symbols(leaker.pid), 15, f"the breakpoints to leave pid {leaker.pid}")
    test.assertFalse(os.path.exists(f"/proc/{agent_pid}"))
    test.assertEqual(uprobe_events(), events_before)
    test.assertNotIn("memsight", uprobe_events())
    before = rss_kb(leaker.pid)
    time.sleep(2.0)
    test.assertIsNone(leaker.proc.poll(), "the target died")
    with open(f"/proc/{leaker.pid}/stat") as f:
        state = f.read().rsplit(")", 1)[1].split()[0]
    test.assertIn(state, ("R", "S"), f"target state {state}")
    test.assertGreater(rss_kb(leaker.pid), before + 256, "the target stopped allocating (500 bytes/ms leak)")


class KilledAgent(unittest.TestCase):
    def test_sigkill_during_a_person_started_session(self):
        tmp = tempfile.mkdtemp(prefix="memsight-faults-")
        leaker = Leaker(tmp, "leaker_fkm", churn=2)
        try:
            events_before = uprobe_events()
            self.assertEqual(probed_symbols(leaker.pid), [])
            agent = e2e.Agent("--deep-pid", str(leaker.pid), "--deep-overhead-budget", "0").__enter__()
            try:
                agent.wait_for(lambda m: e2e.select(m, "memsight_heap_live_bytes", pid=leaker.pid,
                                                    site="leak_one_record"), what="the session's heap sites")
                # The probes are really there (so the check after the kill can fail).
                self.assertEqual(probed_symbols(leaker.pid), sorted(ALLOCATOR_SYMBOLS))
                self.assertGreater(bpf_link_fds(agent.proc.pid), 0)
            except BaseException:
                agent.__exit__(None, None, None)
                raise
            agent_pid = sigkill(agent)
            os.unlink(agent.log.name)
            check_unharmed_and_unprobed(self, leaker, agent_pid, events_before)
        finally:
            leaker.stop()
            shutil.rmtree(tmp, ignore_errors=True)


class TargetChanges(unittest.TestCase):
    def test_forked_child_is_not_traced_and_the_session_goes_on(self):
        # sh (the target) forks the leaker and waits: the child's allocator must not be probed (children forked
        # after the start are not followed, docs/deep-tier.md), and the child runs to its end unharmed.
        proc = subprocess.Popen(["sh", "-c", 'read line; "$0" 2000 1000 2; read line || true', e2e.scenario("leaker")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            with e2e.Agent("--deep-pid", str(proc.pid), "--deep-overhead-budget", "0") as agent:
                agent.wait_for(lambda m: value(m, "memsight_deep_sessions") == 1, what="the session on sh")
                self.assertEqual(probed_symbols(proc.pid), sorted(ALLOCATOR_SYMBOLS))
                proc.stdin.write("start\n")
                proc.stdin.flush()
                ready = proc.stdout.readline().split()
                self.assertEqual(ready[0], "ready", ready)
                child = int(ready[1])
                self.assertNotEqual(child, proc.pid)
                proc.stdin.write("go\n")
                proc.stdin.flush()
                time.sleep(0.5)
                self.assertEqual(probed_symbols(child), [], "the forked child is probed")
                self.assertEqual(proc.stdout.readline().split(), ["done", "2000"])
                m = agent.scrape()
                self.assertEqual(value(m, "memsight_deep_sessions"), 1, "the session on the parent ended")
                self.assertFalse(e2e.select(m, "memsight_heap_live_bytes", pid=child))
                proc.stdin.close()  # the child exits at EOF, then sh reads EOF and exits: the session ends
                self.assertEqual(proc.wait(timeout=10), 0)
                agent.wait_for(lambda m: value(m, "memsight_deep_sessions") == 0, what="the session's end")
                self.assertIn(f"session on pid {proc.pid} (sh) ended (exited)", agent.logs())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def test_exec_is_followed_into_the_new_program(self):
        # sh (the target) execs the leaker: a new program in the same pid. The probes are tied to the process, so
        # the kernel puts them into the new program's copy of the same libc: the session goes on and sees its leak.
        proc = subprocess.Popen(["sh", "-c", 'read line; exec "$0" 200000 500 2', e2e.scenario("leaker")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            with e2e.Agent("--deep-pid", str(proc.pid), "--deep-overhead-budget", "0",
                           config_text="deep:\n  sample_bytes: 1\n") as agent:  # exact: live bytes only grow
                agent.wait_for(lambda m: value(m, "memsight_deep_sessions") == 1, what="the session on sh")
                proc.stdin.write("start\n")
                proc.stdin.flush()
                self.assertEqual(proc.stdout.readline().split(), ["ready", str(proc.pid)])
                proc.stdin.write("go\n")
                proc.stdin.flush()
                self.assertEqual(probed_symbols(proc.pid), sorted(ALLOCATOR_SYMBOLS))
                first = agent.wait_for(lambda m: value(m, "memsight_heap_live_bytes", pid=proc.pid,
                                                       site="leak_one_record"), what="the new program's leak")
                time.sleep(2.5)
                m = agent.scrape()
                self.assertEqual(value(m, "memsight_deep_sessions"), 1)
                self.assertGreater(value(m, "memsight_heap_live_bytes", pid=proc.pid, site="leak_one_record"),
                                   first + 500 * 1000)  # ~1 ms per 500-byte block: > 1000 blocks in 2.5 s
                self.assertIsNone(proc.poll())
                self.assertEqual(error_lines(agent.logs()), [])
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


class Seccomp(unittest.TestCase):
    def test_strict_seccomp_target_survives_a_session(self):
        proc = subprocess.Popen([e2e.scenario("seccomp_strict"), "300"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        alive = []

        def read_out():
            for line in proc.stdout:
                f = line.split()
                if len(f) == 2 and f[0] == "alive":
                    alive.append((time.monotonic(), int(f[1])))
        try:
            ready = proc.stdout.readline().split()
            self.assertEqual(ready[0], "ready", ready)
            pid = int(ready[1])
            threading.Thread(target=read_out, daemon=True).start()
            with open(f"/proc/{pid}/status") as f:
                self.assertIn("Seccomp:\t2", f.read())  # filter mode
            with e2e.Agent("--deep-pid", str(pid), "--deep-overhead-budget", "0") as agent:
                rows = agent.wait_for(lambda m: e2e.select(m, "memsight_heap_live_bytes", pid=pid,
                                                           site="seccomp_leak_one"), what="its heap sites")
                self.assertEqual(probed_symbols(pid), sorted(ALLOCATOR_SYMBOLS))
                t0 = time.monotonic()
                time.sleep(3.0)  # thousands of traced malloc returns through the uretprobe trampoline
                self.assertIsNone(proc.poll(), "killed under the session")
                later = [n for ts, n in alive if ts > t0 + 1]
                self.assertTrue(later and later[-1] > rows[0][1] / 1000, alive[-3:])
                m = agent.scrape()
                live = value(m, "memsight_heap_live_bytes", pid=pid, site="seccomp_leak_one")
                self.assertGreater(live, 1000 * 1000)  # > 1000 blocks of 1000 bytes seen by the return probes
            self.assertIsNone(proc.poll(), "killed when the session ended")
            wait_until(lambda: not probed_symbols(pid), 15, "the probes to leave")
        finally:
            if proc.poll() is None:
                proc.terminate()
            rc = proc.wait(timeout=10)
            self.assertNotEqual(rc, -signal.SIGSYS, "the seccomp filter killed the target")


def counters_of(metrics):
    """{(name, labels): value} of the counters and histogram counts in one scrape, without per-process series."""
    out = {}
    for name, labels, v in metrics:
        if "pid" in labels:
            continue
        if name.endswith("_total") or name.endswith("_count") or name.endswith("_bucket") or name.endswith("_sum"):
            out[(name, tuple(sorted(labels.items())))] = v
    return out


def duplicates(metrics):
    seen, dup = set(), []
    for name, labels, _ in metrics:
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            dup.append(key)
        seen.add(key)
    return dup


def error_lines(log):
    return [l for l in log.splitlines() if re.match(r"\S+ (error|critical) ", l)]


def warning_lines(log):
    return [l for l in log.splitlines() if re.match(r"\S+ warning ", l)]


class Churn(unittest.TestCase):
    def test_vanishing_processes_and_cgroups_under_a_short_interval(self):
        root, version = memory_cgroup_root()
        stop = threading.Event()
        made = {"cgroups": 0, "processes": 0}
        errors = []

        def churn_cgroups():
            tag = uuid.uuid4().hex[:12]
            i = 0
            while not stop.is_set():
                path = os.path.join(root, f"memsight-churn-{tag}-{i}")
                try:
                    os.mkdir(path)
                    p = subprocess.Popen(["sh", "-c", f'echo $$ > "{path}/cgroup.procs" && exec sleep 0.05'])
                    p.wait()
                    for _ in range(50):
                        try:
                            os.rmdir(path)
                            break
                        except OSError:
                            time.sleep(0.01)
                    made["cgroups"] += 1
                except OSError as e:
                    errors.append(str(e))
                i += 1

        def churn_processes():
            while not stop.is_set():
                procs = [subprocess.Popen(["true"]) for _ in range(20)]
                for p in procs:
                    p.wait()
                made["processes"] += len(procs)

        with e2e.Agent(interval="100ms") as agent:
            threads = [threading.Thread(target=churn_cgroups), threading.Thread(target=churn_processes)]
            for t in threads:
                t.start()
            scrapes, last, failures = 0, {}, []
            try:
                deadline = time.time() + 15
                while time.time() < deadline:
                    m = agent.scrape()  # raises when not served
                    scrapes += 1
                    self.assertEqual(duplicates(m), [])
                    now = counters_of(m)
                    for key, v in now.items():
                        if key in last and v < last[key]:
                            failures.append(f"{key}: {last[key]} -> {v}")
                    last.update(now)
                    self.assertIsNone(agent.proc.poll(), "the agent exited")
                    time.sleep(0.1)
            finally:
                stop.set()
                for t in threads:
                    t.join(30)
            self.assertEqual(failures, [])
            self.assertEqual(errors, [])
            self.assertGreater(made["cgroups"], 50, made)
            self.assertGreater(made["processes"], 500, made)
            self.assertGreater(scrapes, 50)
            with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/healthz", timeout=10) as r:
                self.assertEqual(r.status, 200)
            log = agent.logs()
            self.assertEqual(error_lines(log), [])
            warnings = warning_lines(log)
            self.assertLessEqual(len(warnings), 3, "\n".join(warnings[:20]))
            print(f"\nchurn: {made}, {scrapes} scrapes, {len(warnings)} warnings", flush=True)


class Restart(unittest.TestCase):
    def test_restart_on_the_same_port(self):
        with e2e.running([e2e.scenario("grow_rss"), "32"]) as (_, pid):
            first = e2e.Agent(interval="500ms")
            with first:
                m1 = first.wait_for(lambda m: m if e2e.select(m, "memsight_process_resident_bytes", pid=pid) else None,
                                    what="the running process")
                series = [first.scrape() for _ in range(6) if time.sleep(0.5) is None]
                self.check_life([m1] + series)
                start1 = value(series[-1], "memsight_start_time_seconds")
                # 500 exits this agent counts; the next one starts from 0 and has not seen them.
                for _ in range(25):
                    for p in [subprocess.Popen(["true"]) for _ in range(20)]:
                        p.wait()
                exits1 = first.wait_for(lambda m: value(m, "memsight_process_exits_total") >= 500 and
                                        value(m, "memsight_process_exits_total"), what="500 exits counted")
                build1 = e2e.select(series[-1], "memsight_build_info")
            second = e2e.Agent(interval="500ms")
            second.port = first.port  # the same address, right after the first one let go of it
            t0 = time.time()
            with second:
                took = time.time() - t0
                m2 = second.scrape()
                exits2 = value(m2, "memsight_process_exits_total")
                seen = second.wait_for(lambda m: m if e2e.select(m, "memsight_process_resident_bytes", pid=pid)
                                       else None, what="the running process after the restart")
                series2 = [seen] + [second.scrape() for _ in range(4) if time.sleep(0.5) is None]
                self.check_life([m2] + series2)
                start2 = value(m2, "memsight_start_time_seconds")
                build2 = e2e.select(m2, "memsight_build_info")
        self.assertLess(took, 10)
        self.assertIsNotNone(start1)
        self.assertGreater(start2, start1)
        self.assertAlmostEqual(start2, t0, delta=10)
        self.assertEqual(len(build1), 1)
        self.assertEqual(build1, build2)  # the same binary
        # The new agent counts from 0: it has seen less than the first one had after ~4 s of life.
        self.assertLess(exits2, exits1 - 400)

    def check_life(self, scrapes):
        last = {}
        for m in scrapes:
            self.assertEqual(duplicates(m), [])
            now = counters_of(m)
            for key, v in now.items():
                if key in last:
                    self.assertGreaterEqual(v, last[key], key)
            last.update(now)


class FullDisk(unittest.TestCase):
    """One agent with its forensic and profile directories on a full 16 KiB tmpfs, escalating copies of the leaker
    (growth window 61 s: escalation ~60 s after start, docs/leak-detection.md)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="memsight-fulldisk-")
        cls.full = os.path.join(cls.tmp, "full")
        os.mkdir(cls.full)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "memsight-full", cls.full], check=True)
        cls.leakers, cls.agent = [], None
        try:
            cls.records = os.path.join(cls.full, "records")
            cls.profiles = os.path.join(cls.full, "profiles")
            os.mkdir(cls.records)
            os.mkdir(cls.profiles)
            fd = os.open(os.path.join(cls.full, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while os.write(fd, b"x" * 512) > 0:
                    pass
            except OSError:
                pass  # full
            finally:
                os.close(fd)
            config = (f"interval: 1s\n"
                      f"processes:\n  growth_window: 61s\n"
                      f"oom:\n  forensics_dir: {cls.records}\n"
                      f"deep:\n  sample_bytes: 1\n  overhead_budget: 0\n"
                      f"escalation:\n  enabled: true\n  threshold: 0.3\n  duration: 10s\n  cooldown: 1h\n"
                      f"  max_concurrent: 2\n  selector:\n    include_comm: [leaker_fpf, leaker_fkk]\n"
                      f"  profile_dir: {cls.profiles}\n")
            cls.agent = e2e.Agent(config_text=config, interval="1s").__enter__()
            cls.t_start = time.time()
            cls.leakers.append(Leaker(cls.tmp, "leaker_fpf", churn=2))  # its session ends: the profile write fails
            cls.oom_pid, cls.oom_rc = cls.oom_kill()
            # The second one is escalated ~15 s after the first, whose session (10 s) has ended by then: the test
            # catches it running and SIGKILLs the agent.
            time.sleep(max(0.0, cls.t_start + 15 - time.time()))
            cls.leakers.append(Leaker(cls.tmp, "leaker_fkk", churn=2))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def oom_kill(cls):
        with FakeContainer(f"/memsight-fulldisk-{uuid.uuid4().hex[:12]}", 32 * MiB) as box:
            for name, v in (("memory.memsw.limit_in_bytes", str(32 * MiB)), ("memory.swap.max", "0")):
                if os.path.exists(os.path.join(box.path, name)):
                    with open(os.path.join(box.path, name), "w") as f:
                        f.write(v)
            victim = subprocess.Popen(e2e.in_cgroup(box.path, [e2e.scenario("grow_until_oom"), "16", "512"]),
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True)
            pid = int(victim.stdout.readline().split()[1])
            rc = victim.wait(timeout=60)
            victim.stdout.close()
            return pid, rc

    @classmethod
    def tearDownClass(cls):
        if cls.agent is not None:
            if cls.agent.proc.poll() is None:
                cls.agent.__exit__(None, None, None)
            elif os.path.exists(cls.agent.log.name):
                os.unlink(cls.agent.log.name)
        for leaker in cls.leakers:
            leaker.stop()
        subprocess.run(["umount", cls.full], check=False)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_1_full_disk_is_one_error_each_counted_and_leaves_no_file(self):
        agent = self.agent
        self.assertEqual(self.oom_rc, -9)
        m = agent.wait_for(lambda m: m if value(m, "memsight_oom_forensic_records_total", outcome="failed") else None,
                           what="the failed forensic record")
        self.assertEqual(value(m, "memsight_oom_forensic_records_total", outcome="written"), 0)
        m = agent.wait_for(lambda m: m if value(m, "memsight_escalation_profiles_total", outcome="failed") == 1
                           else None, timeout=150, what="the failed profile of the escalated session")
        self.assertEqual(value(m, "memsight_escalation_profiles_total", outcome="written"), 0)
        self.assertEqual(value(m, "memsight_escalations_finished_total", reason="duration"), 1)
        log = agent.logs()
        oom_errors = [l for l in error_lines(log) if f"no forensic record for pid {self.oom_pid}" in l]
        self.assertEqual(len(oom_errors), 1, log)
        self.assertIn("No space left on device", oom_errors[0])
        fpf = self.leakers[0]
        profile_errors = [l for l in error_lines(log) if f"no profile for pid {fpf.pid} (leaker_fpf)" in l]
        self.assertEqual(len(profile_errors), 1, log)
        self.assertIn("No space left on device", profile_errors[0])
        self.assertEqual(os.listdir(self.records), [])  # no temporary, no partial record
        self.assertEqual(os.listdir(self.profiles), [])
        self.assertEqual(sorted(os.listdir(self.full)), ["filler", "profiles", "records"])
        for path in ("/healthz", "/readyz", "/metrics", "/oom"):
            with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}{path}", timeout=10) as r:
                self.assertEqual(r.status, 200, path)
        # Nothing else logged an error meanwhile.
        self.assertEqual(len(error_lines(log)), 2, error_lines(log))

    def test_2_sigkill_during_an_escalated_session(self):
        agent = self.agent
        leaker = self.leakers[1]
        events_before = uprobe_events()
        agent.wait_for(lambda m: e2e.select(m, "memsight_deep_session_overhead_ratio", pid=leaker.pid,
                                            origin="escalation") or None, timeout=100, what="the escalated session")
        self.assertEqual(probed_symbols(leaker.pid), sorted(ALLOCATOR_SYMBOLS))
        agent_pid = sigkill(agent)
        check_unharmed_and_unprobed(self, leaker, agent_pid, events_before)
        self.assertIsNone(self.leakers[0].proc.poll())
        self.assertEqual(probed_symbols(self.leakers[0].pid), [])


if __name__ == "__main__":
    e2e.main()
