#!/usr/bin/env python3
"""Deep tier on every kind of target it must handle: C++ (operator new/new[]), jemalloc and tcmalloc, a Go
program (refused, and left unharmed), a process that exits mid-session, a process in another mount namespace
whose libc path does not exist on the host; plus the deep-tier CLI errors and the profile outputs (pprof,
folded). Ground truth: tests/scenarios/README.md and the header comment of each scenario."""

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import memsight_e2e as e2e
from memsight_e2e import Traced, live

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO_SRC = os.path.join(HERE, "..", "scenarios")

# Sessions here check what the probes see on busy allocators; the overhead governor (default budget 2% of the
# target's CPU) would stop them within seconds, so they opt out explicitly.
NO_BUDGET = ["--overhead-budget", "0"]

WIDGET_SIZE = 64  # sizeof(Widget) in cxx_leaker.cpp (static_assert there; also printed on its stderr)


def lines_of(text):
    return [l for l in text.splitlines() if l.strip()]


def require_scenario(test, name, why):
    path = e2e.scenario(name)
    if not os.path.exists(path):
        test.skipTest(f"{name} was not built ({why}); see tests/scenarios/CMakeLists.txt")
    return path


class DeepSession:
    """A leak scenario under a deep-tier command other than Traced's fixed `leaks` call: starts the scenario,
    starts `memsight <argv>` against its pid, waits for the "hooked" line, sends "go" and records when the
    scenario printed "done" and (if it exits on its own) when it exited. Timestamps are time.monotonic()."""

    def __init__(self, scenario_argv, memsight_argv):
        self.scenario_argv = scenario_argv
        self.memsight_argv = memsight_argv  # "{pid}" is replaced by the scenario's pid

    def __enter__(self):
        self.proc = subprocess.Popen(self.scenario_argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.tool = None
        try:
            ready = self.proc.stdout.readline().split()
            assert ready and ready[0] == "ready", f"scenario not ready: {ready}"
            self.pid = int(ready[1])
            argv = [a.replace("{pid}", str(self.pid)) for a in self.memsight_argv]
            self.tool = subprocess.Popen([e2e.MEMSIGHT, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)
            self.err = []  # (monotonic time, line)
            attached = threading.Event()

            def read_err():
                for line in self.tool.stderr:
                    self.err.append((time.monotonic(), line))
                    if "hooked" in line:
                        attached.set()
            self.out = []
            self.err_thread = threading.Thread(target=read_err, daemon=True)
            self.err_thread.start()
            # stdout in its own thread too: communicate() would race read_err for stderr's lines.
            self.out_thread = threading.Thread(target=lambda: self.out.append(self.tool.stdout.read()), daemon=True)
            self.out_thread.start()
            attached.wait(30)
            assert attached.is_set(), f"memsight never attached: {self.stderr()}"
            return self
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        done = self.proc.stdout.readline().split()
        self.t_done = time.monotonic()
        assert done and done[0] == "done", f"scenario did not finish: {done}"
        return int(done[1])

    def finish(self, timeout=120):
        """Waits for memsight to exit on its own; returns (returncode, stdout)."""
        self.tool.wait(timeout=timeout)
        self.t_tool_exit = time.monotonic()
        self.err_thread.join(5)
        self.out_thread.join(5)
        return self.tool.returncode, "".join(self.out)

    def stderr(self):
        return "".join(line for _, line in self.err)

    def __exit__(self, *exc):
        if self.tool is not None and self.tool.poll() is None:
            self.tool.send_signal(signal.SIGINT)
            try:
                self.tool.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.tool.kill()
                self.tool.wait()
        if self.tool is not None:
            self.tool.stdout.close()
            self.tool.stderr.close()
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        return False


class DeepTargets(unittest.TestCase):
    # --- 1. C++: operator new / new[] are probed, so the leaks are attributed to their real callers -------------
    def test_cxx_leaker_attributes_new_to_member_function_and_factory(self):
        iterations, k = 2000, 1000  # ~2.8 s of workload under probes
        r = Traced([e2e.scenario("cxx_leaker"), str(iterations), str(k)], ["--top", "20", *NO_BUDGET]).run()
        self.assertEqual(r.returncode, 0, r.stderr)
        sites = r.report["sites"]
        dump = json.dumps(sites[:4], indent=1)
        self.assertTrue(r.report["exact"])
        self.assertTrue(any(h.startswith("libstdc++ ") and "_Znwm" in h and "_Znam" in h
                            for h in r.report["targets"][0]["hooked"]), r.report["targets"][0]["hooked"])

        remember, widget = "Session::remember(unsigned long)", "make_widget(long)"  # demangled (JSON "site")
        self.assertEqual([s["site"] for s in sites[:2]], [remember, widget], dump)
        self.assertAlmostEqual(live(r.sites(remember)), iterations * k, delta=0.01 * iterations * k)
        self.assertAlmostEqual(sum(s["live_count"] for s in r.sites(remember)), iterations, delta=1)
        self.assertAlmostEqual(live(r.sites(widget)), iterations * WIDGET_SIZE, delta=0.01 * iterations * WIDGET_SIZE)
        self.assertAlmostEqual(sum(s["live_count"] for s in r.sites(widget)), iterations, delta=1)
        for name in (remember, widget):
            with self.subTest(site=name):
                top = r.sites(name)[0]
                self.assertTrue(top["stack"][0].startswith(name + "+"), top["stack"])
                self.assertTrue(top["stack"][1].startswith("process_message(long, unsigned long)+"), top["stack"])
                self.assertTrue(top["growing"], top["live_bytes_series"])

        # Everything else (churn_temporaries' vector and strings, wherever their frames land) is freed.
        self.assertTrue(r.sites("churn_temporaries(long)"), "churn_temporaries site missing:\n" + dump)
        others = [s for s in sites if s["site"] not in (remember, widget)]
        for s in others:
            with self.subTest(site=s["site"]):
                self.assertLess(s["live_bytes"], 4096, s)
                self.assertFalse(s["growing"], s)
        self.assertFalse([s for s in sites if s["site"].startswith("process_message")],
                         "leaks attributed to process_message: operator new was not probed")

    # --- 2. jemalloc / tcmalloc linked ahead of glibc --------------------------------------------------------------
    def check_linked_allocator(self, allocator, library):
        path = require_scenario(self, f"leaker_{allocator}", f"lib{allocator} not found at configure time")
        iterations, k = 2000, 1000  # ~2.5 s of workload
        r = Traced([path, str(iterations), str(k), "4"], NO_BUDGET).run()
        self.assertEqual(r.returncode, 0, r.stderr)
        target = r.report["targets"][0]
        self.assertEqual(target["allocator"], allocator)
        self.assertTrue(any(h.startswith(allocator + " ") and library in h for h in target["hooked"]),
                        target["hooked"])
        self.assertIn(f"hooked {allocator} ", r.stderr)
        self.assertTrue(r.report["exact"])
        top = r.report["sites"][0]
        self.assertEqual(top["site"], "leak_one_record", json.dumps(r.report["sites"][:3], indent=1))
        self.assertEqual([f.split("+")[0] for f in top["stack"][:3]],
                         ["leak_one_record", "parse_record", "handle_request"], top["stack"])
        self.assertAlmostEqual(live(r.sites("leak_one_record")), iterations * k, delta=0.01 * iterations * k)
        self.assertAlmostEqual(sum(s["live_count"] for s in r.sites("leak_one_record")), iterations, delta=1)
        churn = r.sites("churn_one")
        self.assertTrue(churn, "churn site missing")
        self.assertLess(live(churn), 4096)
        self.assertFalse(any(s["growing"] for s in churn))

    def test_jemalloc_linked_leaker(self):
        self.check_linked_allocator("jemalloc", "libjemalloc.so")

    def test_tcmalloc_linked_leaker(self):
        self.check_linked_allocator("tcmalloc", "libtcmalloc.so")

    def test_mimalloc_linked_leaker(self):
        self.check_linked_allocator("mimalloc", "libmimalloc.so")

    # --- 3. Go: refused with one clear line, and the process is unharmed ------------------------------------------
    def test_go_program_is_refused_and_keeps_running(self):
        path = require_scenario(self, "go_allocator", "no Go toolchain at configure time")
        proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            ready = proc.stdout.readline().split()
            self.assertEqual(ready[:1], ["ready"], ready)
            pid = int(ready[1])
            alive = []  # (monotonic time, n)

            def read_out():
                for line in proc.stdout:
                    f = line.split()
                    if len(f) == 2 and f[0] == "alive":
                        alive.append((time.monotonic(), int(f[1])))
            t = threading.Thread(target=read_out, daemon=True)
            t.start()

            r = subprocess.run([e2e.MEMSIGHT, "leaks", "--pid", str(pid), "--duration", "3s"], capture_output=True,
                               text=True, timeout=60)
            t_exit = time.monotonic()
            self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
            err = lines_of(r.stderr)
            self.assertEqual(len(err), 1, r.stderr)
            self.assertIn("Go program", err[0])
            self.assertIn(str(pid), err[0])
            self.assertRegex(err[0], r"uretprobe.*Go moves goroutine stacks", "the reason is missing")

            # Unharmed: "alive <n>" keeps coming, n increasing, for at least 2 s after memsight exited.
            deadline = t_exit + 6
            while time.monotonic() < deadline and not (alive and alive[-1][0] >= t_exit + 2.0):
                self.assertIsNone(proc.poll(), "go_allocator exited while being observed")
                time.sleep(0.1)
            after = [n for ts, n in alive if ts >= t_exit]
            self.assertTrue(alive and alive[-1][0] >= t_exit + 2.0,
                            f"no 'alive' line 2 s after memsight exited: {alive}")
            self.assertGreaterEqual(len(after), 2, alive)
            ns = [n for _, n in alive]
            self.assertEqual(ns, sorted(set(ns)), f"alive counts not strictly increasing: {ns}")
            with open(f"/proc/{pid}/status") as f:
                state = next(l for l in f if l.startswith("State:")).split()[1]
            self.assertNotIn(state, ("Z", "X", "T", "t"), f"go_allocator state {state}")
            proc.stdin.close()
            self.assertEqual(proc.wait(timeout=10), 0, "go_allocator did not exit cleanly on stdin EOF")
            t.join(5)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()

    # --- 4. The traced process exits on its own in the middle of the session --------------------------------------
    def test_process_exiting_midway_ends_session_with_symbolized_report(self):
        ms = 1500
        argv = ["leaks", "--pid", "{pid}", "--format", "json", "--interval", "500ms", "--min-age", "500ms",
                "--duration", "20s", *NO_BUDGET]
        with DeepSession([e2e.scenario("exit_midway"), str(ms)], argv) as s:
            t_start = time.monotonic()
            blocks = s.go()
            self.assertEqual(s.proc.wait(timeout=10), 0)
            t_proc_exit = time.monotonic()
            rc, out = s.finish(timeout=60)
            self.assertEqual(rc, 0, s.stderr())
            self.assertLess(s.t_tool_exit - t_start, 10, "the session ran on after its only process exited")
            # The session notices the exit at once; the rest is detaching the probes (~2.5 s here).
            noticed = [ts for ts, line in s.err if "every traced process exited" in line]
            self.assertTrue(noticed, s.stderr())
            self.assertLess(noticed[0] - t_proc_exit, 1.5, s.stderr())
            self.assertLess(s.t_tool_exit - t_proc_exit, 5.0, f"memsight exited {s.t_tool_exit - t_proc_exit:.1f} s "
                            "after the process")
        report = json.loads(out)
        self.assertGreater(blocks, 0)
        sites = [x for x in report["sites"] if x["site"] == "leak_before_exit"]
        self.assertTrue(sites, json.dumps(report["sites"][:3], indent=1))
        self.assertGreater(live(sites), 0)
        # Truth: blocks x 1000 bytes were live when the process exited.
        self.assertAlmostEqual(live(sites), blocks * 1000, delta=0.01 * blocks * 1000)
        stack = sites[0]["stack"]
        self.assertTrue(stack[0].startswith("leak_before_exit+"), stack)  # symbolized while the process lived
        self.assertTrue(stack[1].startswith("main+"), stack)
        self.assertEqual(sites[0]["comm"], "exit_midway")

    # --- 5. Another mount namespace: the libc path in /proc/PID/maps does not exist on the host -------------------
    def test_process_in_other_mount_namespace(self):
        self.assertFalse(os.path.exists("/opt/altlibc"), "/opt/altlibc exists on the host: the test needs a libc "
                         "path that only exists inside the other root")
        if not shutil.which("unshare"):
            self.skipTest("unshare (util-linux) not installed")
        root = tempfile.mkdtemp(prefix="memsight-altroot-")
        try:
            subprocess.run(["sh", os.path.join(SCENARIO_SRC, "make_alt_root.sh"), root, e2e.scenario("leaker")],
                           check=True, capture_output=True, timeout=60)
            iterations, k = 1500, 1000
            r = Traced(["sh", os.path.join(SCENARIO_SRC, "run_in_alt_root.sh"), root, "leaker", str(iterations),
                        str(k), "4"], NO_BUDGET).run()
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("hooked glibc /opt/altlibc/libc.so.6:", r.stderr)
            target = r.report["targets"][0]
            self.assertEqual(target["comm"], "leaker")
            self.assertEqual(target["allocator"], "glibc")
            self.assertTrue(any(h.startswith("glibc /opt/altlibc/libc.so.6:") for h in target["hooked"]),
                            target["hooked"])
            self.assertEqual(target["attach_errors"], [])
            top = r.report["sites"][0]
            self.assertEqual(top["site"], "leak_one_record", json.dumps(r.report["sites"][:3], indent=1))
            self.assertEqual(live(r.sites("leak_one_record")), iterations * k)
            self.assertEqual(sum(s["live_count"] for s in r.sites("leak_one_record")), iterations)
        finally:
            self.cleanup_alt_root(root)

    def cleanup_alt_root(self, root):
        # Our own descendants still running from the other root (a failed run): kill them by pid.
        me = os.getpid()
        parents = {}
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open(f"/proc/{p}/stat") as f:
                        parents[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    pass
        for pid in parents:
            q = pid
            while q in parents and q not in (me, 0, 1):
                q = parents[q]
            if q == me and pid != me:
                try:
                    if os.readlink(f"/proc/{pid}/exe").startswith("/opt/"):
                        os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        # The mounts live in the private namespace and vanish with it; detach any that propagated anyway.
        with open("/proc/self/mounts") as f:
            mounts = [l.split()[1] for l in f]
        for m in sorted((m for m in mounts if m == root or m.startswith(root + "/")), key=len, reverse=True):
            subprocess.run(["umount", "--lazy", m], check=False)
        shutil.rmtree(root, ignore_errors=True)

    # --- 6. CLI errors and profile outputs --------------------------------------------------------------------------
    def test_unknown_pid_is_one_line(self):
        r = subprocess.run([e2e.MEMSIGHT, "leaks", "--pid", "999999999"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(lines_of(r.stderr), ["memsight: no such process: 999999999"])
        self.assertEqual(r.stdout, "")

    def test_leaks_without_pid_prints_usage(self):
        r = subprocess.run([e2e.MEMSIGHT, "leaks"], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--pid", r.stderr)

    def profile_leaker(self, fmt, output, iterations, k):
        argv = ["profile", "--pid", "{pid}", "--output", output, "--format", fmt, "--duration", "4s", *NO_BUDGET]
        with DeepSession([e2e.scenario("leaker"), str(iterations), str(k), "4"], argv) as s:
            s.go()
            rc, _ = s.finish(timeout=60)
            self.assertEqual(rc, 0, s.stderr())
        self.assertTrue(os.path.getsize(output) > 0)

    def test_profile_pprof(self):
        iterations, k = 1000, 1000  # ~1.4 s of workload inside a 4 s profile
        with tempfile.TemporaryDirectory(prefix="memsight-pprof-") as tmp:
            out = os.path.join(tmp, "heap.pb.gz")
            self.profile_leaker("pprof", out, iterations, k)
            with open(out, "rb") as f:
                raw = f.read()
            self.assertEqual(raw[:2], b"\x1f\x8b", "not gzip")
            self.assertIn(b"leak_one_record", gzip.decompress(raw))
            with self.subTest("go tool pprof"):
                go = shutil.which("go")
                if not go:
                    self.skipTest("go not installed: the profile was only checked as gzip holding leak_one_record")
                env = dict(os.environ, HOME=tmp, GOCACHE=os.path.join(tmp, "gocache"),
                           GOPATH=os.path.join(tmp, "gopath"), GOFLAGS="", GOPROXY="off", PPROF_TMPDIR=tmp)
                r = subprocess.run([go, "tool", "pprof", "-top", "-sample_index=inuse_space", out], capture_output=True,
                                   text=True, timeout=120, env=env, cwd=tmp)
                self.assertEqual(r.returncode, 0, r.stderr)
                rows = r.stdout.splitlines()
                header = next(i for i, l in enumerate(rows) if l.split()[:2] == ["flat", "flat%"])
                top = rows[header + 1].split()
                self.assertEqual(top[-1], "leak_one_record", r.stdout)
                self.assertAlmostEqual(pprof_bytes(top[0]), iterations * k, delta=0.01 * iterations * k)

    def test_profile_folded(self):
        iterations, k = 1000, 1000
        with tempfile.TemporaryDirectory(prefix="memsight-folded-") as tmp:
            out = os.path.join(tmp, "heap.folded")
            self.profile_leaker("folded", out, iterations, k)
            with open(out) as f:
                text = f.read()
        rows = []
        for line in lines_of(text):
            m = re.fullmatch(r"(\S.*) (\d+)", line)
            self.assertTrue(m, f"not a folded line: {line!r}")
            rows.append((m.group(1).split(";"), int(m.group(2))))
        self.assertTrue(rows, "empty folded profile")
        frames, value = max(rows, key=lambda r: r[1])
        self.assertEqual(frames[-4:], ["main", "handle_request", "parse_record", "leak_one_record"], frames)
        leaks = sum(v for f, v in rows if f[-1] == "leak_one_record")  # inuse_space by default
        self.assertAlmostEqual(leaks, iterations * k, delta=0.01 * iterations * k)


def pprof_bytes(text):
    """`go tool pprof` sizes: 976.56kB, 1.91MB, 512B (binary units)."""
    m = re.fullmatch(r"([\d.]+)(B|kB|MB|GB)", text)
    assert m, text
    return float(m.group(1)) * {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3}[m.group(2)]


if __name__ == "__main__":
    e2e.main()
