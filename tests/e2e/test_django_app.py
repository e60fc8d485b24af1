"""The Django test app and its harness (django_harness.py), checked without memsight, so that a Python census
test that uses them can trust their ground truth: gunicorn's one worker runs Debian's statically linked
python3.11, /leak keeps exactly the CachedReport objects its responses count (and the worker's resident memory
grows with them), /ok keeps none. Needs no privilege; fails when python3-django or gunicorn is missing."""

import os
import unittest

import django_harness
from django_harness import DjangoApp

REQUESTS = 20
PER_REQUEST = 5000
# Each CachedReport holds a 100-character str and a one-key dict besides its own object: ~480 bytes measured
# on python3.11; less than 250 would mean the objects are not kept.
MIN_LEAK_BYTES_PER_OBJECT = 250
# /ok makes and drops as many objects; pymalloc reuses their memory, so after one warm-up request the
# worker's RSS stays within this (0.2 MiB measured, against ~46 MiB for the same number leaked).
MAX_OK_GROWTH_BYTES = 5 << 20


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


class DjangoAppTest(unittest.TestCase):
    def test_worker_is_a_gunicorn_child_on_static_python311(self):
        with DjangoApp() as app:
            self.assertEqual(os.readlink(f"/proc/{app.worker_pid}/exe"), django_harness.INTERPRETER)
            with open(f"/proc/{app.master_pid}/cmdline") as f:
                master = f.read().split("\0")
            self.assertEqual(master[:2], ["/usr/bin/python3", django_harness.GUNICORN], master)
            with open(f"/proc/{app.worker_pid}/maps") as f:
                maps = f.read()
            self.assertNotIn("libpython", maps, "Debian's python3.11 links libpython in statically")
            self.assertEqual(app.stats(), {"CachedReport": 0, "TransientReport": 0})

    def test_leak_keeps_what_the_responses_count_and_ok_keeps_nothing(self):
        with DjangoApp() as app:
            app.ok(PER_REQUEST)  # warm-up: pymalloc's arenas for these objects
            before = rss_bytes(app.worker_pid)
            app.ok(PER_REQUEST, requests=REQUESTS)
            after_ok = rss_bytes(app.worker_pid)
            self.assertEqual(app.cached, 0)
            self.assertEqual(app.stats(), {"CachedReport": 0, "TransientReport": 0})
            self.assertLess(after_ok - before, MAX_OK_GROWTH_BYTES)

            self.assertEqual(app.leak(PER_REQUEST, requests=REQUESTS), REQUESTS * PER_REQUEST)
            grown = rss_bytes(app.worker_pid) - after_ok
            print(f"worker {app.worker_pid}: RSS +{grown >> 20} MiB for {app.cached} CachedReport objects "
                  f"({grown // app.cached} bytes each); +{(after_ok - before) >> 10} KiB for as many dropped")
            self.assertEqual(app.stats(), {"CachedReport": REQUESTS * PER_REQUEST, "TransientReport": 0})
            self.assertGreater(grown, app.cached * MIN_LEAK_BYTES_PER_OBJECT)
            self.assertTrue(app.alive(), "the worker was replaced: a census would have read another process")


if __name__ == "__main__":
    unittest.main(verbosity=2)
