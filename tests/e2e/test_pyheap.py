"""memsight pyheap: live objects per Python type, read from outside a running CPython.

Runs tests/scenarios/python/leak_class.py (a handle_request() that appends 200 Session objects a second to a
module-level list) under every interpreter build found here: pyenv's python3 (3.11, shared libpython), Debian's
/usr/bin/python3.11 (static, in the executable), pyenv's 3.12 / 3.13 when installed, and Debian trixie's 3.13 in a
chroot (the root the ctest fixture makes, python_builds.py; a missing root fails the test). Checks the leaking class's count against the program's own, its growth rate,
and, with the target stopped, every type name and count against the program's own gc.get_objects() census.
"""
import json
import os
import shutil
import subprocess
import unittest

import memsight_e2e as e2e
import python_builds

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "scenarios", "python", "leak_class.py")
RATE = 200  # Session objects a second
# Every collection untracks the tuples and dicts that hold only atomic values, so their counts move between the
# census (target stopped) and the program's own one (after SIGCONT, while its thread keeps allocating).
UNTRACKED_BY_GC = {"tuple", "dict"}


def interpreters():
    """(label, argv prefix, script path as the interpreter sees it) for every build present."""
    found = []
    py3 = shutil.which("python3")
    if py3:
        found.append(("python3 on PATH", [py3], SCRIPT))
    for label, path in (("Debian static 3.11", "/usr/bin/python3.11"),
                        ("pyenv 3.12", "/root/.pyenv/versions/3.12.1/bin/python3.12"),
                        ("pyenv 3.13", "/root/.pyenv/versions/3.13.0/bin/python3.13")):
        if os.access(path, os.X_OK):
            found.append((label, [path], SCRIPT))
    # Trixie's 3.13 in its own root, made by the ctest fixture: a missing root fails the test, it is not skipped.
    found.append(("trixie 3.13 in chroot", ["chroot", python_builds.trixie_root(), "python3"],
                  python_builds.install_in_trixie_root(SCRIPT)))
    return found


class Target:
    def __init__(self, argv, script, initial=1000):
        self.proc = subprocess.Popen(argv + [script, str(RATE), str(initial)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "ready", f"scenario did not start: {line}"
        self.pid = int(line[1])

    def ask(self, what):
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline()

    def sessions(self):
        return int(self.ask("sessions").split()[1])

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def pyheap(pid, *args):
    r = subprocess.run([e2e.MEMSIGHT, "pyheap", "--pid", str(pid), "--format", "json", *args], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, f"memsight pyheap failed ({r.returncode}): {r.stderr}"
    return json.loads(r.stdout)


def by_type(entries):
    return {e["type"]: e for e in entries}


class PyheapTest(unittest.TestCase):
    def test_leaking_class_count_and_growth(self):
        found = interpreters()
        self.assertTrue(found, "no Python interpreter found")
        for label, argv, script in found:
            with self.subTest(label):
                t = Target(argv, script)
                try:
                    doc = pyheap(t.pid, "--count", "2", "--interval", "3s", "--top", "40")
                    truth = t.sessions()
                finally:
                    t.close()
                last = doc["censuses"][-1]
                print(f"{label}: Python {doc['python']} ({doc['layout']}, static={doc['static']}): "
                      f"{last['objects']} objects in {last['walk_s']:.3f} s; Session {truth} alive")
                session = by_type(last["types"]).get("__main__.Session")
                self.assertIsNotNone(session, f"{label}: no __main__.Session in {last['types'][:5]}")
                self.assertLess(abs(session["count"] - truth), 0.1 * truth, f"{label}: {session} vs {truth}")
                self.assertGreater(session["bytes"], 0)
                self.assertEqual(last["skipped_objects"], 0)
                grown = by_type(doc["growth"]).get("__main__.Session")
                self.assertIsNotNone(grown, f"{label}: no growth of Session: {doc['growth']}")
                self.assertLess(abs(grown["count_per_s"] - RATE), 0.1 * RATE, f"{label}: {grown}")
                self.assertEqual(doc["growth"][0]["type"], "__main__.Session", f"{label}: {doc['growth'][:3]}")

    def test_every_name_matches_the_programs_own_census(self):
        for label, argv, script in interpreters():
            with self.subTest(label):
                t = Target(argv, script, initial=5000)
                try:
                    doc = pyheap(t.pid, "--stop", "--top", "100000")
                    own = json.loads(t.ask("types"))
                finally:
                    t.close()
                ours = {e["type"]: e["count"] for e in doc["censuses"][0]["types"]}
                for name, count in ours.items():
                    if count >= 20:
                        self.assertIn(name, own, f"{label}: memsight names a type the program does not have")
                for name, count in own.items():
                    if count >= 20:
                        self.assertIn(name, ours, f"{label}: {name} ({count}) missing")
                        if name in UNTRACKED_BY_GC:
                            continue
                        self.assertLess(abs(ours[name] - count), 0.1 * count + 20, f"{label}: {name}")

    def test_errors_are_one_line(self):
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            r = subprocess.run([e2e.MEMSIGHT, "pyheap", "--pid", str(sleeper.pid)], capture_output=True, text=True)
        finally:
            sleeper.kill()
            sleeper.wait()
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^memsight: pid \d+ is not a Python process \(.*\)\n$")
        old = "/root/.pyenv/versions/3.10.13/bin/python3.10"
        if os.access(old, os.X_OK):
            p = subprocess.Popen([old, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                p.stdout.readline()
                r = subprocess.run([e2e.MEMSIGHT, "pyheap", "--pid", str(p.pid)], capture_output=True, text=True)
            finally:
                p.stdin.close()
                p.wait()
            self.assertEqual(r.returncode, 1)
            self.assertRegex(r.stderr, r"^memsight: pid \d+: Python older than 3.11 .*not supported\n$")


if __name__ == "__main__":
    e2e.main()
