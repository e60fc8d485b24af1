#!/usr/bin/env python3
"""Leak suspicion on a short slice of the labelled corpus, through the real agent (tests/bench/leak_accuracy.py).

Two leaks (a steady 200 KiB/s leak, a leak behind GC cycles) and two non-leaks (an LRU cache that fills then
evicts, a fast sawtooth heap) run at once for 150 s under an agent with a 90 s growth window; each must be
classified right at the 0.5 suspicion line: the leaks reach it, the non-leaks never do. About 2.7 minutes.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import memsight_e2e as e2e

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "bench", "leak_accuracy.py")
MANIFEST = os.path.join(HERE, "..", "scenarios", "corpus", "corpus.json")
SUBSET = ["steady_medium", "gc_leak", "lru_cache", "sawtooth_fast"]


class LeakAccuracy(unittest.TestCase):
    def test_short_corpus_is_classified_right(self):
        fd, out = tempfile.mkstemp(prefix="memsight-leak-accuracy-", suffix=".json")
        os.close(fd)
        try:
            argv = [sys.executable, BENCH, "--memsight", e2e.MEMSIGHT,
                    "--corpus", os.path.join(e2e.SCENARIOS, "corpus"), "--manifest", MANIFEST,
                    "--only", ",".join(SUBSET), "--duration", "150", "--window", "90", "--json", out]
            run = subprocess.run(argv, capture_output=True, text=True, timeout=280)
            print(run.stdout, file=sys.stderr)
            self.assertEqual(run.returncode, 0, f"leak_accuracy.py failed:\n{run.stdout}\n{run.stderr}")
            with open(out) as f:
                results = json.load(f)["runs"][0]["results"]
        finally:
            os.unlink(out)
        self.assertEqual(sorted(r["name"] for r in results), sorted(SUBSET))
        for r in results:
            with self.subTest(program=r["name"]):
                self.assertGreater(r["scrapes"], 100, "the agent must export every corpus process")
                if r["label"] == "leak":
                    self.assertTrue(r["detected"], f"{r['name']} ({r['shape']}) never reached suspicion 0.5: "
                                                   f"max {r['max_suspicion']}")
                else:
                    self.assertFalse(r["detected"], f"{r['name']} ({r['shape']}) reached suspicion "
                                                    f"{r['max_suspicion']} at {r['first_detection_seconds']} s")


if __name__ == "__main__":
    e2e.main()
