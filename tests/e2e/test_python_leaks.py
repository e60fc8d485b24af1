#!/usr/bin/env python3
"""`memsight leaks --pid P` on a CPython process names, besides the native sites, the class whose live instances
grow, with their count: on each CPython build of python_builds.py (shared and static 3.11, trixie's 3.13 in its
own root), tests/scenarios/python/leak_class.py leaks Session objects at a known rate and counts them itself."""

import json
import os
import subprocess
import unittest

import memsight_e2e as e2e
import python_builds

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scenarios", "python", "leak_class.py")
RATE = 200  # Session objects a second


class PythonLeaks(unittest.TestCase):
    def leaks_on(self, build, argv=None):
        proc = subprocess.Popen(argv or python_builds.argv(build, SCRIPT, str(RATE), "1000"), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            ready = proc.stdout.readline().split()
            self.assertEqual(ready[:1], ["ready"], f"{build}: leak_class.py did not start")
            pid = int(ready[1])
            r = subprocess.run([e2e.MEMSIGHT, "leaks", "--pid", str(pid), "--duration", "6s", "--format", "json"],
                               capture_output=True, text=True, timeout=120)
            proc.stdin.write("sessions\n")
            proc.stdin.flush()
            truth = int(proc.stdout.readline().split()[1])
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
            proc.stdout.close()
        self.assertEqual(r.returncode, 0, f"{build}: {r.stderr}")
        report = json.loads(r.stdout)
        self.assertIn("python", report, f"{build}: no Python section; stderr: {r.stderr}")
        py = report["python"]
        grown = py["growing_types"]
        print(f"{build}: Python {py['version']}, {py['objects']} objects; top growing: "
              f"{grown[:1]}; Session alive after the session: {truth}")
        self.assertTrue(grown, f"{build}: no growing type")
        top = grown[0]
        self.assertEqual(top["type"], "__main__.Session", f"{build}: {grown[:3]}")
        self.assertLess(abs(top["count"] - truth), 0.1 * truth, f"{build}: {top} vs {truth} alive")
        self.assertLess(abs(top["count_per_s"] - RATE), 0.1 * RATE, f"{build}: {top}")
        self.assertEqual(py["skipped_objects"], 0, f"{build}: {py}")
        # Which code made them: handle_request(), where `SESSIONS.append(Session(n))` is. After the warm-up (a
        # quarter of the session) the allocation probe records each new Session with its Python stack; live
        # objects made before are not attributed (check_python_maker says what it requires).
        self.assertTrue(py["python_stacks"], f"{build}: {py}")
        print(f"{build}: sites of Session: {[(s['function'], s['objects']) for s in top['sites']]}; of "
              f"{top['count_delta']} new: {top['objects_by_allocation']} by allocation, {top['objects_by_page']} "
              f"by page; probe {py['allocation_probe']}")
        e2e.check_python_maker(self, top, "handle_request", os.path.basename(SCRIPT),
                               e2e.line_containing(SCRIPT, "SESSIONS.append(Session(n))"), build)
        if build != "trixie-3.13":  # its PyType_GenericAlloc is inlined (LTO): page faults only, docs/python.md
            self.assertGreater(top["sites"][0]["objects_by_allocation"], 0, f"{build}: {top['sites'][0]}")
        # The deep tier's own sites (malloc, mmap) carry the Python frames too: named by Python functions, not
        # by CPython's (_PyObject_ArenaMmap).
        self.assertTrue(report["targets"][0]["python_frames"], f"{build}: {report['targets']}")
        native = [s["site"] for s in report["sites"]]
        print(f"{build}: deep-tier sites {native[:4]}")
        self.assertTrue({"Session.__init__", "handle_request", "leak_forever"} & set(native[:2]), f"{build}: {native}")

    def test_shared_3_11(self):
        self.leaks_on("shared-3.11")

    def test_static_3_11(self):
        self.leaks_on("static-3.11")

    def test_trixie_3_13(self):
        self.leaks_on("trixie-3.13")

    def test_pyenv_3_12_and_3_13(self):
        """pyenv's builds (not LTO): their PyType_GenericAlloc is called, so the sites come by allocation."""
        for build, path in (("pyenv-3.12", "/root/.pyenv/versions/3.12.1/bin/python3.12"),
                            ("pyenv-3.13", "/root/.pyenv/versions/3.13.0/bin/python3.13")):
            if not os.access(path, os.X_OK):
                self.skipTest(f"{path} is not installed (as test_pyheap, these builds are tested when present)")
            self.leaks_on(build, [path, SCRIPT, str(RATE), "1000"])

    def test_a_native_process_gets_no_python_section(self):
        with e2e.running([e2e.scenario("grow_sites"), "256"]) as (_, pid):
            r = subprocess.run([e2e.MEMSIGHT, "leaks", "--pid", str(pid), "--duration", "2s", "--format", "json"],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("python", json.loads(r.stdout))
        self.assertNotIn("python:", r.stderr)


if __name__ == "__main__":
    e2e.main()
