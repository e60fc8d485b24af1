#!/usr/bin/env python3
"""The sampled page-fault profile names the function that touches the memory."""

import subprocess
import unittest

import memsight_e2e as e2e


class FaultProfile(unittest.TestCase):
    def test_faults_attributed_to_touching_function(self):
        toucher = subprocess.Popen([e2e.scenario("fault_toucher"), "16", "8"], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        try:
            pid = int(toucher.stdout.readline().split()[1])
            out = subprocess.run([e2e.MEMSIGHT, "faults", "--pid", str(pid), "--duration", "3s", "--top", "3",
                                  "--period", "100"], capture_output=True, text=True, timeout=60)
        finally:
            toucher.kill()
            toucher.wait()
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        header = next(i for i, l in enumerate(lines) if l.startswith(f"pid {pid} (fault_toucher)"))
        share = float(lines[header + 1].split("%")[0])
        frames = [l.strip() for l in lines[header + 2:header + 6]]
        self.assertGreaterEqual(share, 90.0, out.stdout)
        self.assertTrue(frames[0].startswith("memsight_touch_pages+"), out.stdout)
        self.assertTrue(frames[1].startswith("middle_work+"), out.stdout)
        self.assertTrue(frames[2].startswith("outer_work+"), out.stdout)

    def test_folded_output(self):
        toucher = subprocess.Popen([e2e.scenario("fault_toucher"), "8", "5"], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        try:
            pid = int(toucher.stdout.readline().split()[1])
            out = subprocess.run([e2e.MEMSIGHT, "faults", "--pid", str(pid), "--duration", "2s", "--format", "folded",
                                  "--period", "100"], capture_output=True, text=True, timeout=60, check=True)
        finally:
            toucher.kill()
            toucher.wait()
        top = max(out.stdout.splitlines(), key=lambda l: int(l.rsplit(" ", 1)[1]))
        stack = top.rsplit(" ", 1)[0].split(";")
        self.assertEqual(stack[0], "fault_toucher")
        self.assertTrue(stack[-1].startswith("memsight_touch_pages+"), top)

    def test_unknown_pid_is_a_clear_error(self):
        out = subprocess.run([e2e.MEMSIGHT, "faults", "--pid", "999999999", "--duration", "1s"],
                             capture_output=True, text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertEqual(out.stderr.strip(), "memsight: no such process: 999999999")


if __name__ == "__main__":
    e2e.main()
