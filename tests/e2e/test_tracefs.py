#!/usr/bin/env python3
"""Without tracefs mounted the agent mounts it itself and says so (in a private mount namespace, so the
host's mounts are untouched)."""

import shutil
import subprocess
import unittest

import memsight_e2e as e2e


@unittest.skipUnless(shutil.which("unshare"), "unshare (util-linux) not installed")
class Tracefs(unittest.TestCase):
    def test_agent_mounts_missing_tracefs(self):
        port = e2e.free_port()
        script = (
            "for m in /sys/kernel/debug/tracing /sys/kernel/tracing; do "
            "  while mountpoint -q $m; do umount -l $m || exit 3; done; done; "
            "test ! -d /sys/kernel/tracing/events || exit 4; "
            f'"{e2e.MEMSIGHT}" agent --listen 127.0.0.1:{port} & pid=$!; '
            f"for i in $(seq 1 100); do curl -sf http://127.0.0.1:{port}/metrics >/dev/null && break; sleep 0.2; done; "
            f"curl -sf http://127.0.0.1:{port}/metrics | grep -c '^memsight_build_info'; "
            "kill $pid; wait $pid"
        )
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), "1", r.stderr)
        self.assertIn("tracefs was not mounted: mounted it at /sys/kernel/tracing", r.stderr)


if __name__ == "__main__":
    e2e.main()
