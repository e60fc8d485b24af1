#!/usr/bin/env python3
"""Growth sites where users look: `memsight growth` samples one process's page faults (no uprobes) or reads a
running agent's growth sites, next to a deep session's heap sites; `memsight top` shows each growing process's top
growth site. Ground truth: tests/scenarios/grow_sites grows 2/3 from grow_main_site, 1/3 from grow_side_site."""

import json
import shutil
import subprocess
import time
import unittest

import memsight_e2e as e2e

KIB = 1024
RATE_KIB = 2048
# A sample every 10 faults per CPU, so a test-sized run has enough samples; the default is 1000. Sites for every
# growing process: on a busy host (other tests' scenarios) the test's process may not rank among the first ten.
CONFIG = """profile: dev
processes:
  top_by_rss: 10000
growth_sites:
  processes: 100
kernel:
  page_faults:
    sample_period: 10
escalation:
  enabled: false
deep:
  sample_bytes: 1
"""


def run(*argv, timeout=90):
    return subprocess.run([e2e.MEMSIGHT, *argv], capture_output=True, text=True, timeout=timeout)


def last_line(stderr):
    lines = [l for l in stderr.splitlines() if l.strip()]
    return lines[-1] if lines else ""


class GrowthSampling(unittest.TestCase):
    def test_json_ranks_the_growing_functions_with_their_stacks(self):
        with e2e.running([e2e.scenario("grow_sites"), str(RATE_KIB)]) as (_, pid):
            r = run("growth", "--pid", str(pid), "--period", "10", "--duration", "5s", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        report = json.loads(r.stdout)
        self.assertEqual(report["source"], "sampling")
        self.assertEqual((report["pid"], report["comm"], report["sample_period"]), (pid, "grow_sites", 10))
        self.assertFalse(report["process_exited"])
        sites = report["sites"]
        self.assertEqual([s["site"] for s in sites[:2]], ["grow_main_site", "grow_side_site"], sites)
        main, side = sites[0], sites[1]
        # Estimated bytes = samples x period x page size, within a factor of two of 2/3 of the rate.
        self.assertEqual(main["bytes"], main["samples"] * 10 * report["page_size"])
        truth = RATE_KIB * KIB * report["duration_seconds"] * 2 / 3
        self.assertGreater(main["bytes"], 0.5 * truth, main)
        self.assertLess(main["bytes"], 2.0 * truth, main)
        self.assertGreater(main["samples"] / side["samples"], 1.4, sites)
        self.assertLess(main["samples"] / side["samples"], 2.8, sites)
        self.assertAlmostEqual(sum(s["share"] for s in sites), 1.0, places=6)
        # The heaviest stack of each site, symbolized, innermost first.
        self.assertTrue(main["stacks"][0]["frames"][0].startswith("grow_main_site+"), main["stacks"])
        self.assertTrue(side["stacks"][0]["frames"][0].startswith("grow_side_site+"), side["stacks"])
        self.assertLessEqual(sum(s["samples"] for s in main["stacks"]), main["samples"])

    def test_text_with_stacks(self):
        with e2e.running([e2e.scenario("grow_sites"), str(RATE_KIB)]) as (_, pid):
            r = run("growth", "--pid", str(pid), "--period", "10", "--duration", "3s", "--stacks", "--top", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith(f"memsight growth: pid {pid} (grow_sites)"), lines)
        self.assertIn("SITE", lines[3])
        row = lines[4].split()
        self.assertEqual(row[-1], "grow_main_site", lines)
        self.assertIn("stack 1 of", lines[5])
        self.assertTrue(lines[6].strip().startswith("grow_main_site+"), lines)
        self.assertNotIn("grow_side_site", r.stdout)  # --top 1

    def test_errors(self):
        gone = subprocess.Popen(["true"])
        gone.wait()
        r = run("growth", "--pid", str(gone.pid), "--duration", "1s")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(last_line(r.stderr), f"memsight: no such process: {gone.pid}")
        r = run("growth", "--pid", "1", "--format", "yaml")
        self.assertEqual((r.returncode, last_line(r.stderr)),
                         (1, "memsight: --format must be text or json, got 'yaml'"))
        r = run("growth", "--pid", "1", "--agent", "http://127.0.0.1:9756", "--duration", "3s")
        self.assertEqual(r.returncode, 2)  # bad usage: sampling flags with --agent
        port = e2e.free_port()
        r = run("growth", "--pid", "1", "--agent", f"http://127.0.0.1:{port}")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(last_line(r.stderr), rf"^memsight: agent unreachable at http://127\.0\.0\.1:{port}/metrics: ")
        r = run("growth", "--pid", "1", "--agent", "https://127.0.0.1:9756")
        self.assertEqual((r.returncode, last_line(r.stderr)),
                         (1, "memsight: --agent: https is not supported by memsight's HTTP client "
                             "(docs/security.md), got 'https://127.0.0.1:9756'"))


class GrowthFromTheAgent(unittest.TestCase):
    def test_agent_sites_and_why_a_process_has_none(self):
        with e2e.Agent(config_text=CONFIG) as agent, \
                e2e.running([e2e.scenario("grow_sites"), str(RATE_KIB)]) as (_, pid), \
                subprocess.Popen(["sleep", "300"]) as flat:
            try:
                def sites(m):
                    named = {l["site"] for l, _ in e2e.select(m, "memsight_process_growth_site_bytes", pid=pid)}
                    return {"grow_main_site", "grow_side_site"} <= named

                agent.wait_for(sites, timeout=30, what="growth sites of grow_sites")
                time.sleep(3)
                r = run("growth", "--pid", str(pid), "--agent", f"http://127.0.0.1:{agent.port}", "--format", "json")
                self.assertEqual(r.returncode, 0, r.stderr)
                report = json.loads(r.stdout)
                self.assertEqual(report["source"], "agent")
                self.assertEqual(report["comm"], "grow_sites")
                self.assertEqual([s["site"] for s in report["sites"][:2]], ["grow_main_site", "grow_side_site"])
                self.assertGreater(report["growth_bytes_per_second"], 0)
                self.assertEqual(report["heap_sites"], [])
                self.assertEqual(report["comparison"]["agreement"], "no_heap_sites")

                r = run("growth", "--pid", str(pid), "--agent", f"127.0.0.1:{agent.port}")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("GROWTH SITE", r.stdout)
                self.assertIn("no deep-tier session on pid", r.stdout)

                # A process that does not grow has no growth sites, and the error says why.
                r = run("growth", "--pid", str(flat.pid), "--agent", f"http://127.0.0.1:{agent.port}/metrics")
                self.assertEqual(r.returncode, 1)
                self.assertRegex(last_line(r.stderr),
                                 rf"^memsight: no growth sites for pid {flat.pid} at http://127\.0\.0\.1:{agent.port}"
                                 rf"/metrics: pid {flat.pid} \(sleep\) neither grows nor is suspected of leaking")
            finally:
                flat.kill()

    def test_deep_session_heap_sites_side_by_side(self):
        # leaker: 20,000 x 1 KiB from leak_one_record, one every ~1 ms: ~20 s of growth under an exact deep session.
        proc = subprocess.Popen([e2e.scenario("leaker"), "20000", "1024", "2"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            pid = int(proc.stdout.readline().split()[1])
            with e2e.Agent("--deep-pid", str(pid), "--deep-overhead-budget", "0", config_text=CONFIG) as agent:
                agent.wait_for(lambda m: e2e.select(m, "memsight_deep_sessions") and
                               e2e.select(m, "memsight_deep_sessions")[0][1] == 1, what="deep session")
                proc.stdin.write("go\n")
                proc.stdin.flush()

                def both(m):
                    return (e2e.select(m, "memsight_process_growth_site_bytes", pid=pid) and
                            e2e.select(m, "memsight_heap_live_bytes", pid=pid, site="leak_one_record"))

                agent.wait_for(both, timeout=40, what="growth and heap sites of leaker")
                r = run("growth", "--pid", str(pid), "--agent", f"http://127.0.0.1:{agent.port}", "--format", "json")
                self.assertEqual(r.returncode, 0, r.stderr)
                report = json.loads(r.stdout)
                self.assertTrue(report["sites"], report)
                self.assertIn("leak_one_record", [h["site"] for h in report["heap_sites"]])
                cmp = report["comparison"]
                self.assertEqual(cmp["heap_site"], "leak_one_record", cmp)
                # The uretprobe on malloc hides malloc's caller behind the kernel's trampoline; the sampler puts
                # the original return address back into the copied stack, so the two tiers name the same code.
                self.assertEqual(cmp["agreement"], "agree", cmp)
                self.assertEqual(cmp["growth_site"], report["sites"][0]["site"])
                print(f"growth --agent on leaker: {cmp['text']}")

                r = run("growth", "--pid", str(pid), "--agent", f"http://127.0.0.1:{agent.port}")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("DEEP-TIER HEAP SITE", r.stdout)
                self.assertIn("deep tier vs growth sites: pid", r.stdout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdin.close()
            proc.stdout.close()


class TopSiteColumn(unittest.TestCase):
    def row_of(self, stdout, pid):
        for line in stdout.splitlines():
            f = line.split()
            if f and f[0] == str(pid):
                return f
        self.fail(f"pid {pid} not in the table:\n{stdout}")

    def test_top_shows_the_top_growth_site_of_a_growing_process(self):
        with e2e.running([e2e.scenario("grow_sites"), str(RATE_KIB)]) as (_, pid):
            r = run("top", "--once", "--interval", "4s", "--period", "10", "--sort", "growth", "-n", "200")
        self.assertEqual(r.returncode, 0, r.stderr)
        header = r.stdout.splitlines()[1].split()
        self.assertEqual(header[-1], "SITE")
        row = self.row_of(r.stdout, pid)
        self.assertEqual(len(row), len(header), row)
        self.assertEqual(row[-1], "grow_main_site", r.stdout)
        # No site is wider than 28 characters.
        for line in r.stdout.splitlines()[2:]:
            self.assertLessEqual(len(line.split()[-1]), 28, line)

    def test_no_sites_drops_the_column(self):
        r = run("top", "--once", "--interval", "1s", "--no-sites", "-n", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[1].split()[-1], "LEAK?")
        self.assertEqual(run("top", "--no-sites", "--period", "10").returncode, 2)

    @unittest.skipUnless(shutil.which("setpriv"), "setpriv (util-linux) not installed")
    def test_without_privilege_the_column_shows_dashes_and_says_why(self):
        r = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", e2e.MEMSIGHT, "top", "--once",
                            "--interval", "1s", "-n", "5"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip().splitlines(),
                         ["memsight: top: no growth sites (SITE shows -): missing capability CAP_BPF (or "
                          "CAP_SYS_ADMIN): run memsight as root or grant it; --no-sites skips them"])
        lines = r.stdout.splitlines()
        self.assertEqual(lines[1].split()[-1], "SITE")
        for line in lines[2:]:
            self.assertEqual(line.split()[-1], "-", line)


if __name__ == "__main__":
    e2e.main()
