"""The three CPython builds of python_builds.py start as the Python tests expect: the pid a script prints is the
interpreter itself (not pyenv's shim, not chroot), its executable and libpython are the build's own, and the
trixie one runs 3.13 in the trixie root. Needs root for chroot (skips without it, fails under
MEMSIGHT_REQUIRE_BPF=1); a missing trixie root is a failure (see python_builds.trixie_root)."""

import os
import subprocess
import tempfile
import unittest

import memsight_e2e
import python_builds

SCRIPT = """\
import os, sys
class LeakyThing:
    def __init__(self, i):
        self.i = i
CACHE = [LeakyThing(i) for i in range(int(sys.argv[1]))]
print("ready", os.getpid(), "%d.%d" % sys.version_info[:2], len(CACHE), flush=True)
sys.stdin.read()
"""


def libpython_paths(maps):
    return sorted({line.split()[-1] for line in maps.splitlines() if "libpython" in line})


class PythonBuildsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="memsight-pybuilds-")
        cls.script = os.path.join(cls.tmp.name, "leaky_thing.py")
        with open(cls.script, "w") as f:
            f.write(SCRIPT)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def start(self, build):
        proc = subprocess.Popen(python_builds.argv(build, self.script, "1000"), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.stdin.close)
        word, pid, version, count = proc.stdout.readline().split()
        self.assertEqual((word, count), ("ready", "1000"))
        pid = int(pid)
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
        return pid, version, os.readlink(f"/proc/{pid}/exe"), maps

    def test_shared_311(self):
        pid, version, exe, maps = self.start("shared-3.11")
        self.assertEqual(version, "3.11")
        self.assertEqual(exe, python_builds.shared_python())
        self.assertEqual(len(libpython_paths(maps)), 1, "python3 on PATH should map one libpython3.11.so")
        self.assertIn("libpython3.11.so", libpython_paths(maps)[0])

    def test_static_311(self):
        pid, version, exe, maps = self.start("static-3.11")
        self.assertEqual((version, exe), ("3.11", "/usr/bin/python3.11"))
        self.assertEqual(libpython_paths(maps), [])

    def test_trixie_313(self):
        root = python_builds.trixie_root()
        pid, version, exe, maps = self.start("trixie-3.13")
        self.assertEqual(version, "3.13")
        self.assertEqual(os.readlink(f"/proc/{pid}/root"), os.path.realpath(root))
        # /proc/PID/maps names files from the mount root, not the chroot: the host path of the root's binary.
        self.assertEqual(exe, os.path.realpath(root) + "/usr/bin/python3.13")
        self.assertEqual(libpython_paths(maps), [])


if __name__ == "__main__":
    memsight_e2e.main()
