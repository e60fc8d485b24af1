#!/usr/bin/env python3
"""Bad input and missing privileges give one clear line and a non-zero exit."""

import os
import shutil
import socket
import subprocess
import tempfile
import unittest

import memsight_e2e as e2e


def run(*argv, timeout=30):
    return subprocess.run([e2e.MEMSIGHT, *argv], capture_output=True, text=True, timeout=timeout)


class CliErrors(unittest.TestCase):
    def assertOneLineError(self, r, expected_regex):
        self.assertNotEqual(r.returncode, 0)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], expected_regex)

    def test_port_in_use(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            r = run("agent", "--listen", f"127.0.0.1:{port}")
        self.assertOneLineError(r, rf"^memsight: cannot listen on 127\.0\.0\.1:{port}: Address already in use$")

    def test_unknown_config_key_names_file_and_line(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("profile: dev\ninterval: 5s\nintervall: 10s\n")
        try:
            r = run("agent", "--config", f.name)
        finally:
            os.unlink(f.name)
        self.assertOneLineError(r, rf"^memsight: {f.name}:3: unknown key 'intervall'")

    def test_malformed_config_value(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("processes:\n  top_by_rss: lots\n")
        try:
            r = run("agent", "--config", f.name)
        finally:
            os.unlink(f.name)
        self.assertOneLineError(r, rf"^memsight: {f.name}:2: processes\.top_by_rss: ")

    def test_unreadable_config(self):
        r = run("agent", "--config", "/nonexistent/memsight.yaml")
        self.assertOneLineError(r, r"^memsight: cannot read config /nonexistent/memsight.yaml: No such file")

    def test_bad_interval_flag(self):
        r = run("agent", "--interval", "soon")
        self.assertOneLineError(r, r"^memsight: --interval: ")

    @unittest.skipUnless(shutil.which("setpriv"), "setpriv (util-linux) not installed")
    def test_missing_capability_is_named(self):
        # Root without any capability: the agent must name what it lacks instead of failing in libbpf.
        r = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", e2e.MEMSIGHT, "agent",
                            "--listen", f"127.0.0.1:{e2e.free_port()}"], capture_output=True, text=True, timeout=30)
        self.assertOneLineError(r, r"^memsight: missing capability CAP_BPF \(or CAP_SYS_ADMIN\)")

    def test_bad_usage_is_one_line_and_exit_2(self):
        for argv, message in ((["agent", "--bogus"], "The following argument was not expected: --bogus"),
                              (["leaks", "--pid"], "--pid: 1 required INT missing"),
                              ([], "A subcommand is required")):
            r = run(*argv)
            self.assertOneLineError(r, "^memsight: " + message)
            self.assertEqual(r.returncode, 2, argv)
        self.assertEqual(run("agent", "--help").returncode, 0)

    def test_bad_flag_values_fail_before_any_work(self):
        self.assertOneLineError(run("top", "--once", "-n", "-3"), r"^memsight: -n/--rows must be at least 1, got -3$")
        # Checked before the 30 s session, not after it.
        target = subprocess.Popen(["sleep", "60"])
        try:
            r = run("profile", "--pid", str(target.pid), "--output", os.devnull, "--format", "folded", "--value",
                    "bogus", timeout=10)
        finally:
            target.kill()
            target.wait()
        self.assertOneLineError(r, r"^memsight: --value must be inuse_space, inuse_objects, alloc_space or "
                                   r"alloc_objects, got 'bogus'$")
        self.assertEqual(r.returncode, 1)

    def test_version(self):
        r = run("version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^memsight \d+\.\d+\.\d+ \(libbpf \d+\.\d+, kernel ")


if __name__ == "__main__":
    e2e.main()
