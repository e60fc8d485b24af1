#!/usr/bin/env python3
"""The agent exports the growing Python types of a CPython process its deep-tier session watches
(memsight_python_type_live_objects, memsight_python_type_growth_objects_per_second): `memsight agent --deep-pid P`
on tests/scenarios/python/leak_class.py, run by the static /usr/bin/python3.11, which leaks Session objects at a
known rate and counts them itself."""

import os
import subprocess
import time
import unittest

import memsight_e2e as e2e
import python_builds

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scenarios", "python", "leak_class.py")
RATE = 200  # Session objects a second
CONFIG = """profile: dev
escalation:
  enabled: false
"""


class PythonAgent(unittest.TestCase):
    def test_deep_session_exports_the_growing_class(self):
        proc = subprocess.Popen(python_builds.argv("static-3.11", SCRIPT, str(RATE), "1000"), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            ready = proc.stdout.readline().split()
            self.assertEqual(ready[:1], ["ready"], "leak_class.py did not start")
            pid = int(ready[1])
            started = time.monotonic()
            with e2e.Agent("--deep-pid", str(pid), "--deep-overhead-budget", "0", config_text=CONFIG) as agent:
                def session_type(m):
                    return e2e.select(m, "memsight_python_type_live_objects", pid=pid, type="__main__.Session")

                agent.wait_for(session_type, timeout=20, what="memsight_python_type_live_objects of Session")
                # A few more censuses, so that the count is large next to one interval of growth (the census is
                # at most one interval older than the program's answer).
                time.sleep(max(0.0, 12 - (time.monotonic() - started)))
                m = agent.scrape()
                proc.stdin.write("sessions\n")
                proc.stdin.flush()
                truth = int(proc.stdout.readline().split()[1])
                live = session_type(m)
                rate = e2e.select(m, "memsight_python_type_growth_objects_per_second", pid=pid,
                                  type="__main__.Session")
                types = sorted((l["type"], v) for l, v in e2e.select(m, "memsight_python_type_growth_objects_per_second",
                                                                     pid=pid))
                censuses = e2e.select(m, "memsight_python_censuses_total")
                logs = agent.logs()
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
            proc.stdout.close()
        print(f"agent on static-3.11 leak_class.py: Session live {live[0][1]:.0f} (program says {truth}), "
              f"growth {rate[0][1]:.1f}/s (program: {RATE}/s); growing types {types}; censuses {censuses}")
        self.assertEqual(len(live), 1, live)
        self.assertEqual(live[0][0]["comm"], "python3.11", live)
        self.assertLess(abs(live[0][1] - truth), 0.1 * truth, f"{live} vs {truth} alive")
        self.assertEqual(len(rate), 1, rate)
        self.assertLess(abs(rate[0][1] - RATE), 0.15 * RATE, rate)
        self.assertLessEqual(len(types), 5, types)  # deep.top_sites
        self.assertTrue(all(v > 0 for _, v in types), types)
        self.assertNotIn("no census", logs)


    def test_growth_sites_of_a_python_process_are_python_functions(self):
        """Without any deep session, the always-on tier's growth sites of a CPython process name its Python
        functions (page-fault samples carry the interpreter's frames), not CPython's own (_PyObject_Malloc)."""
        config = "profile: dev\nkernel:\n  page_faults:\n    sample_period: 10\nescalation:\n  enabled: false\n"
        ours = {"Session.__init__", "handle_request", "leak_forever"}
        for build in ("static-3.11", "trixie-3.13"):
            proc = subprocess.Popen(python_builds.argv(build, SCRIPT, "4000", "1000"), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
            try:
                ready = proc.stdout.readline().split()
                self.assertEqual(ready[:1], ["ready"], f"{build}: leak_class.py did not start")
                pid = int(ready[1])
                with e2e.Agent(config_text=config) as agent:
                    def sites(m):
                        rows = e2e.select(m, "memsight_process_growth_site_bytes", pid=pid)
                        return rows if any(l["site"] in ours for l, _ in rows) else None

                    agent.wait_for(sites, timeout=60, what=f"{build}: a Python function as a growth site")
                    time.sleep(6)
                    rows = e2e.select(agent.scrape(), "memsight_process_growth_site_bytes", pid=pid)
            finally:
                proc.stdin.close()
                proc.wait(timeout=10)
                proc.stdout.close()
            ranked = [l["site"] for l, v in sorted(rows, key=lambda r: -r[1])]
            print(f"{build}: growth sites {[(l['site'], int(v)) for l, v in rows]}")
            self.assertIn(ranked[0], ours, f"{build}: {ranked}")

if __name__ == "__main__":
    e2e.main()
