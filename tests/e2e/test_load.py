#!/usr/bin/env python3
"""The agent under load, CI-sized (issue 15): 1,000 idle processes, 50 containers, a storm of 5,000 short processes
and 10 concurrent scrapers, with tests/bench/load.py's logic (the full-size run is `load.py --check`).

Always asserted: every exit of the storm is counted or counted lost, per-process series stay within
processes.top_by_rss + processes.top_by_growth, every concurrent scrape is a whole 200. Asserted too, except when the
agent is sanitized (MEMSIGHT_SANITIZED=1 or a sanitizer runtime mapped in the agent): VmRSS <= 64 MiB, single-scrape
p99 <= 250 ms and idle CPU <= 1 % of a core at the default 10 s interval (over 30 s).
"""

import os
import sys
import unittest

import memsight_e2e as e2e

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import load  # noqa: E402


class Load(unittest.TestCase):
    def test_thousand_processes_fifty_containers_storm_and_scrapers(self):
        r = load.run_size(1000, containers=50, storm_n=5000, scrapers=10, scrapes_each=5, single_scrapes=20,
                          cpu_window=30.0, interval="10s")
        print(load.markdown([r]), file=sys.stderr)
        results = load.checks(r, budgets=True)
        for ok, line in results:
            print(("ok   " if ok else "MISS ") + line, file=sys.stderr)
        self.assertEqual([line for ok, line in results if not ok], [])
        if r["sanitized"]:
            print("sanitized agent: memory, CPU and latency budgets not asserted", file=sys.stderr)
        # The population was really there (a scan saw it) and the containers were told apart.
        self.assertGreaterEqual(r["tracked_processes"], 950)
        self.assertGreaterEqual(r["tracked_containers"], 50)
        self.assertGreaterEqual(r["container_series"], 50)


if __name__ == "__main__":
    e2e.main()
