#!/usr/bin/env python3
"""The agent started as root drops, once started, every capability it no longer needs, in every thread, and sets
no_new_privs; what it still does after that keeps working: /metrics, a person-started deep-tier session on another
user's process with named call sites, and an escalated session attached after the drop to a root process that holds
every capability (docs/privileges.md)."""

import glob
import os
import platform
import shutil
import subprocess
import tempfile
import unittest

import memsight_e2e as e2e
from test_escalation import Leaker, agent_config, read_pprof, value

CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE = 2, 19, 21, 38, 39, 40


def bit(cap):
    return 1 << cap


def kernel_has_uprobe_multi():
    # Linux 6.6 added uprobe_multi links; the agent asks the kernel itself, the test goes by the release.
    major, minor = (int(x) for x in platform.release().split(".")[:2])
    return (major, minor) >= (6, 6)


def status_fields(path):
    out = {}
    with open(path) as f:
        for line in f:
            key, _, rest = line.partition(":")
            out[key] = rest.strip()
    return out


def expected_kept():
    """What the agent keeps of what this (root) test holds."""
    held = int(status_fields("/proc/self/status")["CapPrm"], 16)
    keep = bit(CAP_BPF) | bit(CAP_PERFMON) | bit(CAP_SYS_PTRACE) | bit(CAP_DAC_READ_SEARCH) | bit(CAP_CHECKPOINT_RESTORE)
    if not kernel_has_uprobe_multi():
        keep |= bit(CAP_SYS_ADMIN)  # perf-event uprobes for the deep tier
    return held & keep, held


class Privileges(unittest.TestCase):
    def check_dropped(self, agent):
        kept, held = expected_kept()
        self.assertNotEqual(held & ~kept, 0, "the test must hold capabilities that the agent drops")
        tasks = glob.glob(f"/proc/{agent.proc.pid}/task/*/status")
        # The HTTP server's threads exist by now: capabilities are per thread, each one must have dropped.
        self.assertGreater(len(tasks), 1)
        for path in tasks:
            s = status_fields(path)
            self.assertEqual(int(s["CapEff"], 16), kept, f"{path}: CapEff {s['CapEff']}")
            self.assertEqual(int(s["CapPrm"], 16), kept, f"{path}: CapPrm {s['CapPrm']}")
            self.assertEqual(int(s["CapInh"], 16), 0, path)
            self.assertEqual(int(s["CapAmb"], 16), 0, path)
            # Root holds CAP_SETPCAP at start, so the bounding set goes too: nothing can be regained by exec.
            self.assertEqual(int(s["CapBnd"], 16), kept, f"{path}: CapBnd {s['CapBnd']}")
            self.assertEqual(s["NoNewPrivs"], "1", path)
        lines = [l for l in agent.logs().splitlines() if "privileges:" in l]
        self.assertEqual(len(lines), 1, agent.logs())
        self.assertIn("CAP_BPF", lines[0])
        self.assertIn("dropped", lines[0])
        self.assertIn("CAP_SYS_MODULE", lines[0].split("dropped", 1)[1])

    def test_person_started_session_on_another_users_process_after_the_drop(self):
        # The leaker runs as nobody: the deep tier opens its allocator through /proc/PID/root (CAP_SYS_PTRACE) and
        # names its call sites from /proc/PID/auxv, mode 0400 and owned by nobody (CAP_DAC_READ_SEARCH).
        proc = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                 e2e.scenario("leaker"), "3000", "1000", "2"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            ready = proc.stdout.readline().split()
            self.assertEqual(ready[0], "ready")
            pid = int(ready[1])
            self.assertNotEqual(os.stat(f"/proc/{pid}").st_uid, 0)
            cfg = "deep:\n  sample_bytes: 1\n  top_sites: 3\n"
            with e2e.Agent("--deep-pid", str(pid), "--deep-overhead-budget", "0", config_text=cfg) as agent:
                self.check_dropped(agent)
                agent.wait_for(lambda m: value(m, "memsight_deep_sessions") == 1, what="deep session")
                proc.stdin.write("go\n")
                proc.stdin.flush()
                self.assertEqual(proc.stdout.readline().split()[0], "done")
                rows = agent.wait_for(
                    lambda m: [r for r in e2e.select(m, "memsight_heap_live_bytes", pid=pid, site="leak_one_record")
                               if r[1] == 3000 * 1000],
                    what="exact live bytes of the named site leak_one_record")
                self.assertEqual(rows[0][0]["comm"], "leaker")
                # Still the same sets after the session's work.
                self.check_dropped(agent)
                self.assertNotIn("Operation not permitted", agent.logs())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def test_escalation_attaches_after_the_drop(self):
        tmp = tempfile.mkdtemp(prefix="memsight-privileges-")
        leaker = None
        try:
            # A root process with every capability: more than the agent keeps, so only CAP_SYS_PTRACE lets the agent
            # open its /proc/PID/root.
            leaker = Leaker(tmp, "leaker_priv", churn=2)
            profiles = os.path.join(tmp, "profiles")
            with e2e.Agent(config_text=agent_config(profiles, ["leaker_priv"], "0", 1), interval="1s") as agent:
                self.check_dropped(agent)

                def escalated(m):
                    sites = e2e.select(m, "memsight_heap_live_bytes", pid=leaker.pid, site="leak_one_record")
                    return m if value(m, "memsight_escalation_sessions") == 1 and sites and sites[0][1] > 0 else None

                agent.wait_for(escalated, timeout=200, what="an escalated session with named sites")
                agent.wait_for(lambda m: value(m, "memsight_escalations_finished_total", reason="duration") == 1,
                               timeout=60, what="the session's end")
                files = glob.glob(os.path.join(profiles, f"memsight-leaker_priv-{leaker.pid}-*Z.pb.gz"))
                self.assertEqual(len(files), 1, os.listdir(profiles))
                _, samples, strings, _ = read_pprof(files[0])
                self.assertTrue(samples)
                self.assertIn("leak_one_record", strings)
                self.check_dropped(agent)
        finally:
            if leaker:
                leaker.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    e2e.main()
