#!/usr/bin/env python3
"""Per-process memory and exit peaks, scraped from a real agent watching real scenario programs."""

import subprocess
import time
import unittest

import memsight_e2e as e2e

MiB = 1 << 20
# Export every process so the scenario is present whatever else the machine runs.
CONFIG = """
processes:
  top_by_rss: 10000
exit_peaks:
  top: 100
"""


class ProcessMetrics(unittest.TestCase):
    def test_resident_bytes_match_proc_within_5_percent(self):
        with e2e.Agent(config_text=CONFIG) as agent, e2e.running([e2e.scenario("grow_rss"), "200"]) as (_, pid):
            vmrss = e2e.status_kb(pid, "VmRSS") * 1024

            def exported(m):
                rows = e2e.select(m, "memsight_process_resident_bytes", pid=pid)
                return rows if len(rows) == 3 else None

            rows = agent.wait_for(exported, what=f"resident bytes of pid {pid}")
            total = sum(v for _, v in rows)
            self.assertEqual(rows[0][0]["comm"], "grow_rss")
            self.assertAlmostEqual(total, vmrss, delta=0.05 * vmrss,
                                   msg=f"scraped {total} vs VmRSS {vmrss}")
            anon = [v for l, v in rows if l["kind"] == "anon"][0]
            self.assertGreater(anon, 195 * MiB)
            peak = e2e.select(agent.scrape(), "memsight_process_peak_resident_bytes", pid=pid)
            self.assertGreaterEqual(peak[0][1], 0.95 * vmrss)
            faults = e2e.select(agent.scrape(), "memsight_process_page_faults_total", pid=pid, kind="minor")
            self.assertGreater(faults[0][1], 200 * MiB / 4096 * 0.9)  # one minor fault per touched page

    def test_process_series_are_bounded_by_top_n(self):
        with e2e.Agent(config_text="processes:\n  top_by_rss: 3\n  top_by_growth: 0\n") as agent:
            agent.wait_for(lambda m: e2e.select(m, "memsight_exported_processes"), what="exported processes")
            m = agent.scrape()
            pids = {l["pid"] for n, l, _ in m if n == "memsight_process_resident_bytes"}
            self.assertEqual(len(pids), 3)
            tracked = e2e.select(m, "memsight_tracked_processes")[0][1]
            self.assertGreater(tracked, 3)

    def test_short_lived_spike_shows_in_exit_peaks(self):
        with e2e.Agent(config_text=CONFIG) as agent:
            before = e2e.select(agent.scrape(), "memsight_process_exit_peak_resident_bytes_count")[0][1]
            start = time.monotonic()
            out = subprocess.run([e2e.scenario("spike_exit"), "200"], capture_output=True, text=True, check=True)
            elapsed = time.monotonic() - start
            pid = out.stdout.split()[1]

            def seen(m):
                return e2e.select(m, "memsight_exited_process_peak_resident_bytes", pid=pid)

            rows = agent.wait_for(seen, what=f"exit peak of pid {pid}")
            labels, peak = rows[0]
            self.assertEqual(labels["comm"], "spike_exit")
            self.assertGreaterEqual(peak, 200 * MiB)
            self.assertLess(peak, 200 * MiB + 16 * MiB)
            m = agent.scrape()
            after = e2e.select(m, "memsight_process_exit_peak_resident_bytes_count")[0][1]
            self.assertGreater(after, before)
            big = e2e.select(m, "memsight_process_exit_peak_resident_bytes_bucket", le="67108864")[0][1]
            self.assertLess(big, after, "the 200 MiB exit must fall above the 64 MiB bucket")
            print(f"spike_exit 200 ran {elapsed:.2f}s, exit peak {peak / MiB:.1f} MiB")

    def test_top_once_lists_the_scenario(self):
        with e2e.running([e2e.scenario("grow_rss"), "150"]) as (_, pid):
            out = subprocess.run([e2e.MEMSIGHT, "top", "--once", "--interval", "500ms", "-n", "500"],
                                 capture_output=True, text=True, timeout=30, check=True).stdout
            line = next((l for l in out.splitlines() if l.split()[:2] == [str(pid), "grow_rss"]), None)
            self.assertIsNotNone(line, out)
            self.assertRegex(line, r"\b15\d\.\dM\b")  # RSS column ~150 MiB


if __name__ == "__main__":
    e2e.main()
