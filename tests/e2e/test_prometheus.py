#!/usr/bin/env python3
"""A real Prometheus server scrapes the agent; promtool lints the exposition."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import memsight_e2e as e2e

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class PrometheusScrape(unittest.TestCase):
    def test_exposition_passes_promtool_lint(self):
        with e2e.Agent() as agent:
            agent.wait_for(lambda m: e2e.select(m, "memsight_process_resident_bytes"), what="process series")
            text = agent.scrape_text()
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
        # promtool also lints the prometheus-cpp library's own exposer_* families; only ours must be clean.
        problems = [l for l in (r.stdout + r.stderr).splitlines() if l.startswith("memsight_")]
        self.assertEqual(problems, [], r.stdout + r.stderr)
        names = {l.split("{")[0].split(" ")[0] for l in text.splitlines() if l and not l.startswith("#")}
        for family in ["memsight_build_info", "memsight_events_total", "memsight_events_lost_total",
                       "memsight_tracked_processes", "memsight_scrape_duration_seconds",
                       "memsight_process_swap_bytes", "memsight_process_exits_total"]:
            self.assertIn(family, names)

    def test_prometheus_server_scrapes_agent(self):
        with e2e.Agent() as agent, tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "prometheus.yml")
            with open(cfg, "w") as f:
                f.write(f"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: memsight\n"
                        f"    static_configs:\n      - targets: ['127.0.0.1:{agent.port}']\n")
            port = e2e.free_port()
            prom = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data",
                                     f"--web.listen-address=127.0.0.1:{port}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                query = urllib.parse.quote('memsight_build_info{job="memsight"}')
                deadline = time.time() + 60
                result = []
                while time.time() < deadline and not result:
                    time.sleep(1)
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?query={query}",
                                                    timeout=5) as r:
                            result = json.load(r)["data"]["result"]
                    except OSError:
                        pass
                self.assertEqual(len(result), 1, "Prometheus never stored memsight_build_info")
                self.assertEqual(result[0]["value"][1], "1")
                self.assertRegex(result[0]["metric"]["version"], r"^\d+\.\d+\.\d+$")
            finally:
                prom.terminate()
                prom.wait(timeout=30)


if __name__ == "__main__":
    e2e.main()
