#!/usr/bin/env python3
"""An OOM kill inside a memory cgroup: counted for the victim (not the killer), and streamed by `memsight oom`."""

import json
import subprocess
import time
import unittest

import memsight_e2e as e2e


class OomKills(unittest.TestCase):
    def test_oom_kill_in_memcg_is_counted_and_streamed(self):
        oom_cli = subprocess.Popen([e2e.MEMSIGHT, "oom"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            with e2e.Agent() as agent:
                time.sleep(1.0)  # let `memsight oom` attach too
                self.assertIsNone(oom_cli.poll(), oom_cli.stderr.read() if oom_cli.poll() is not None else "")
                before = sum(v for _, v in e2e.select(agent.scrape(), "memsight_oom_kills_total", comm="oom_victim"))
                run = subprocess.run([e2e.scenario("oom_memcg"), "64"], capture_output=True, text=True, timeout=60)
                self.assertEqual(run.returncode, 0, run.stderr)
                truth = json.loads(run.stdout.strip().splitlines()[-1])

                def counted(m):
                    rows = e2e.select(m, "memsight_oom_kills_total", comm="oom_victim")
                    return rows if sum(v for _, v in rows) >= before + 1 else None

                rows = agent.wait_for(counted, what="memsight_oom_kills_total{comm=oom_victim}")
                self.assertEqual(sum(v for _, v in rows), before + 1)
                victims = e2e.select(agent.scrape(), "memsight_oom_victim_resident_bytes",
                                     pid=truth["victim_pid"], kind="anon")
                self.assertEqual(len(victims), 1)
                self.assertGreater(victims[0][1], 32 << 20)  # it died near its 64 MiB limit
                self.assertLessEqual(victims[0][1], 64 << 20)
        finally:
            time.sleep(0.5)
            oom_cli.terminate()
            out, err = oom_cli.communicate(timeout=15)
        lines = [json.loads(l) for l in out.splitlines() if l.strip()]
        mine = [l for l in lines if l["pid"] == truth["victim_pid"]]
        self.assertEqual(len(mine), 1, f"memsight oom printed: {out!r} {err!r}")
        kill = mine[0]
        self.assertEqual(kill["comm"], "oom_victim")
        self.assertEqual(kill["cgroup"], truth["cgroup"])  # the victim's own memcg
        self.assertEqual(kill["attribution"], "exit")
        self.assertGreater(kill["anon_rss_bytes"], 32 << 20)
        self.assertRegex(kill["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(oom_cli.returncode, 0, err)


if __name__ == "__main__":
    e2e.main()
