"""The CPython builds the Python e2e tests run programs on, and how to start a script on each.

  shared-3.11  python3 on PATH: a CPython 3.11 with a shared libpython3.11.so (here pyenv's; resolved to
               the real executable, not pyenv's shell shim, so the program's pid is the interpreter's)
  static-3.11  Debian's /usr/bin/python3.11, libpython linked in statically (the one python3-django and
               gunicorn run on)
  trixie-3.13  Debian trixie's python3 (3.13) in its own root, started as `chroot ROOT python3 ...`

The trixie root is made once per build tree by the ctest fixture e2e_python_trixie_root
(tests/scenarios/python/make_trixie_root.sh), whose path ctest passes in MEMSIGHT_TRIXIE_ROOT. A missing root is
an environment failure, never a skip: trixie_root() raises with what to run.
"""

import os
import shutil
import subprocess

ROOT_ENV = "MEMSIGHT_TRIXIE_ROOT"
MAKE_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scenarios", "python",
                                          "make_trixie_root.sh"))
IN_ROOT_DIR = "/opt/memsight"  # where install_in_trixie_root() puts scripts, inside the root


def shared_python():
    """The real executable of python3 on PATH (shared libpython)."""
    exe = subprocess.run(["python3", "-c", "import sys; print(sys.executable)"], check=True, capture_output=True,
                         text=True).stdout.strip()
    return os.path.realpath(exe)


def trixie_root():
    root = os.environ.get(ROOT_ENV)
    if not root:
        raise AssertionError(f"{ROOT_ENV} is not set: run this test through ctest, or set it to a root made by "
                             f"{MAKE_ROOT} DIR")
    if not os.path.exists(os.path.join(root, ".complete")):
        raise AssertionError(f"no Debian trixie root at {root} (it is made by the ctest fixture "
                             f"e2e_python_trixie_root; by hand: {MAKE_ROOT} {root}; it needs root and the Debian "
                             "mirror)")
    return root


def install_in_trixie_root(path):
    """Copies a script into the trixie root; returns its path as seen inside the root."""
    root = trixie_root()
    os.makedirs(root + IN_ROOT_DIR, exist_ok=True)
    inside = f"{IN_ROOT_DIR}/{os.path.basename(path)}"
    shutil.copyfile(path, root + inside)
    return inside


def argv(build, script, *args):
    """The command line that runs `script` (a host path) with `args` on one of the builds above."""
    if build == "shared-3.11":
        return [shared_python(), script, *args]
    if build == "static-3.11":
        return ["/usr/bin/python3.11", script, *args]
    if build == "trixie-3.13":
        return ["chroot", trixie_root(), "python3", install_in_trixie_root(script), *args]
    raise ValueError(f"unknown CPython build {build!r}")


BUILDS = ("shared-3.11", "static-3.11", "trixie-3.13")
