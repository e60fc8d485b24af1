#!/usr/bin/env python3
"""Growth sites from the always-on tier: with escalation off and no deep session, the agent's metrics name the
functions that fault in a growing process's new memory, ranked, with bytes close to what they grew."""

import json
import subprocess
import time
import unittest
import uuid

import memsight_e2e as e2e
from test_containers import MiB, FakeContainer

KIB = 1024
# A sample every 10 faults per CPU, so a test-sized run has enough samples; the default is 1000.
CONFIG = """profile: dev
processes:
  top_by_rss: 10000
kernel:
  page_faults:
    sample_period: 10
escalation:
  enabled: false
"""


class GrowthSites(unittest.TestCase):
    def test_names_the_growing_functions(self):
        rate_kib = 2048
        with e2e.Agent(config_text=CONFIG) as agent, \
                e2e.running([e2e.scenario("grow_sites"), str(rate_kib)]) as (_, pid):
            started = time.time()

            def sites(m):
                rows = e2e.select(m, "memsight_process_growth_site_bytes", pid=pid)
                named = {l["site"]: v for l, v in rows}
                return named if {"grow_main_site", "grow_side_site"} <= named.keys() else None

            agent.wait_for(sites, timeout=30, what="growth sites of grow_sites")
            time.sleep(8)  # a few more scans of steady growth
            m = agent.scrape()
            rows = e2e.select(m, "memsight_process_growth_site_bytes", pid=pid)
            named = {l["site"]: v for l, v in rows}
            elapsed = time.time() - started
            ranked = sorted(named, key=named.get, reverse=True)
            self.assertEqual(ranked[:2], ["grow_main_site", "grow_side_site"], named)
            self.assertEqual(rows[0][0]["comm"], "grow_sites")
            # Ground truth: main grows at 2/3 of the rate, side at 1/3, since start (the window is 2 min).
            grown = rate_kib * KIB * elapsed
            self.assertGreater(named["grow_main_site"], 0.4 * grown * 2 / 3, named)
            self.assertLess(named["grow_main_site"], 1.6 * grown * 2 / 3, named)
            ratio = named["grow_main_site"] / named["grow_side_site"]
            self.assertGreater(ratio, 1.4, named)
            self.assertLess(ratio, 2.8, named)
            # No deep session was involved.
            self.assertEqual(e2e.select(m, "memsight_deep_sessions")[0][1], 0)
            # Its few stacks were all kept, whatever other processes on the host filled the table with.
            self.assertNotIn("[stack not kept]", named)

    def test_names_the_growing_functions_of_a_container(self):
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        with FakeContainer(f"/docker/{cid}", 512 * MiB) as c, e2e.Agent(config_text=CONFIG) as agent, \
                c.start(e2e.scenario("grow_sites"), "2048"):

            def sites(m):
                rows = e2e.select(m, "memsight_container_growth_site_bytes", container_id=cid)
                named = {l["site"]: v for l, v in rows}
                return named if {"grow_main_site", "grow_side_site"} <= named.keys() else None

            named = agent.wait_for(sites, timeout=40, what=f"growth sites of container {cid[:12]}")
            ranked = sorted(named, key=named.get, reverse=True)
            self.assertEqual(ranked[:2], ["grow_main_site", "grow_side_site"], named)
            rows = e2e.select(agent.scrape(), "memsight_container_growth_site_bytes", container_id=cid)
            self.assertEqual(rows[0][0]["cgroup"], f"/docker/{cid}")

    def test_faults_by_site_names_them_without_the_agent(self):
        with e2e.running([e2e.scenario("grow_sites"), "2048"]) as (_, pid):
            r = subprocess.run([e2e.MEMSIGHT, "faults", "--pid", str(pid), "--duration", "4s", "--period", "10",
                                "--by", "site", "--format", "json"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        report = json.loads(r.stdout)
        self.assertEqual(report["by"], "site")
        procs = report["processes"]
        self.assertEqual(len(procs), 1)
        sites = procs[0]["sites"]
        self.assertEqual([s["site"] for s in sites[:2]], ["grow_main_site", "grow_side_site"], sites)
        self.assertEqual(sites[0]["stack"][0].split("+")[0], "grow_main_site")
        # 2/3 of 2 MiB/s for ~4 s: the estimate within a factor of two.
        self.assertGreater(sites[0]["bytes"], 0.5 * 2048 * KIB * 4 * 2 / 3, sites[0])
        self.assertLess(sites[0]["bytes"], 2.0 * 2048 * KIB * 4 * 2 / 3, sites[0])


if __name__ == "__main__":
    e2e.main()
