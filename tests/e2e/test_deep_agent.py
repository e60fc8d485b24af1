#!/usr/bin/env python3
"""The agent runs a deep-tier session on a named process and exports its top call sites; `leaks --cgroup`
traces every process of a container."""

import os
import subprocess
import time
import unittest
import uuid

import memsight_e2e as e2e


class DeepAgent(unittest.TestCase):
    def test_agent_exports_heap_sites_of_watched_process(self):
        proc = subprocess.Popen([e2e.scenario("leaker"), "3000", "1000", "2"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            pid = int(proc.stdout.readline().split()[1])
            cfg = "deep:\n  sample_bytes: 1\n  top_sites: 3\n"
            # Exact mode on a busy allocator: the overhead governor would stop the session; opt out explicitly.
            with e2e.Agent("--deep-pid", str(pid), "--deep-overhead-budget", "0", config_text=cfg) as agent:
                agent.wait_for(lambda m: e2e.select(m, "memsight_deep_sessions") and
                               e2e.select(m, "memsight_deep_sessions")[0][1] == 1, what="deep session")
                proc.stdin.write("go\n")
                proc.stdin.flush()
                self.assertEqual(proc.stdout.readline().split()[0], "done")

                def leaked(m):
                    rows = e2e.select(m, "memsight_heap_live_bytes", pid=pid, site="leak_one_record")
                    return rows if rows and rows[0][1] == 3000 * 1000 else None

                rows = agent.wait_for(leaked, what="exact live bytes of leak_one_record")
                self.assertEqual(rows[0][0]["comm"], "leaker")
                m = agent.scrape()
                sites = {l["site"] for l, _ in e2e.select(m, "memsight_heap_live_bytes", pid=pid)}
                self.assertLessEqual(len(sites), 3)  # deep.top_sites bounds the series
                self.assertEqual(e2e.select(m, "memsight_heap_site_growing", pid=pid, site="leak_one_record")[0][1], 1)
                churn = e2e.select(m, "memsight_heap_live_bytes", pid=pid, site="churn_one")
                self.assertEqual(churn[0][1], 0)

                proc.stdin.close()  # the process exits: the session ends and its series go away
                proc.wait(timeout=10)
                agent.wait_for(lambda m: e2e.select(m, "memsight_deep_sessions")[0][1] == 0 and
                               not e2e.select(m, "memsight_heap_live_bytes", pid=pid), what="session end")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def test_leaks_by_container_id_traces_every_process_of_the_container(self):
        from test_containers import FakeContainer
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        with FakeContainer(f"/docker/{cid}", 256 << 20) as c:
            procs = []
            try:
                for k in ("1000", "3000"):
                    script = f'echo $$ > "{c.path}/cgroup.procs" && exec "$@"'
                    p = subprocess.Popen(["sh", "-c", script, "sh", e2e.scenario("leaker"), "200", k, "1"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                    p.stdout.readline()
                    procs.append(p)
                leaks = subprocess.Popen([e2e.MEMSIGHT, "leaks", "--cgroup", cid[:12], "--duration", "20s",
                                          "--interval", "500ms", "--min-age", "0s", "--format", "json",
                                          "--overhead-budget", "0"],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                time.sleep(2.0)
                for p in procs:
                    p.stdin.write("go\n")
                    p.stdin.flush()
                    self.assertEqual(p.stdout.readline().split()[0], "done")
                time.sleep(1.0)
                leaks.send_signal(2)
                out, err = leaks.communicate(timeout=60)
                self.assertEqual(leaks.returncode, 0, err)
                import json
                report = json.loads(out)
                self.assertEqual(len(report["targets"]), 2)
                per_pid = {}
                for s in report["sites"]:
                    if s["site"] == "leak_one_record":
                        per_pid[s["pid"]] = per_pid.get(s["pid"], 0) + s["live_bytes"]
                self.assertEqual(sorted(per_pid.values()), [200 * 1000, 200 * 3000])
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.stdin.close()
                        p.wait(timeout=10)


if __name__ == "__main__":
    e2e.main()
