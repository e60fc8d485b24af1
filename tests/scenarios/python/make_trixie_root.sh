#!/bin/sh
# make_trixie_root.sh DIR
#
# Makes in DIR a Debian trixie root with python3 (CPython 3.13, Debian's build) for the Python tests, which
# run it as `chroot DIR python3 ...`: another root and another interpreter build than the host's 3.11s.
#   mmdebstrap --variant=apt --include=python3 trixie DIR
# Idempotent: when DIR/.complete exists (written last, after python3 ran in the root) it prints the version
# and does nothing else. A half-made root (an interrupted run) is removed and made again. The root is made in
# DIR.tmp and renamed, so DIR is either absent or complete.
#
# Needs root (mmdebstrap's root mode, chroot) and the Debian mirror (deb.debian.org). Measured on these
# machines (2 cores): 16-41 s (the mirror's speed varies) and 148 MB on disk the first time, 30 ms after.
# It is also the ctest fixture e2e_python_trixie_root (tests/e2e/CMakeLists.txt), hence the e2e tests' rule:
# without root it exits 77 (skip), except under MEMSIGHT_REQUIRE_BPF=1, where that is a failure.
# Exit status: 0 when DIR holds a working root, 1 when it could not be made, 2 on bad usage, 77 without root.
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1

check() { # prints the root's python3 version; fails when it does not run
  chroot "$dir" python3 -c 'import sys; print("trixie root:", sys.version.split()[0], sys.executable)'
}

if [ -e "$dir/.complete" ]; then
  check
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  if [ "${MEMSIGHT_REQUIRE_BPF:-0}" = 1 ]; then
    echo "FAIL: make_trixie_root.sh needs root (mmdebstrap, chroot), and MEMSIGHT_REQUIRE_BPF=1 forbids skipping" >&2
    exit 1
  fi
  echo "SKIP: make_trixie_root.sh needs root (mmdebstrap, chroot) to make $dir" >&2
  exit 77
fi
if ! command -v mmdebstrap >/dev/null; then
  echo "make_trixie_root.sh: mmdebstrap not installed (Debian: apt-get install mmdebstrap; scripts/setup.sh)" >&2
  exit 1
fi

rm -rf "$dir" "$dir.tmp"
mkdir -p "$(dirname "$dir")"
start=$(date +%s)
# No manual pages or documentation: the tests only run python3. The apt variant keeps apt, so a test could
# add a package later (chroot DIR apt-get install ...).
if ! mmdebstrap --quiet --variant=apt --include=python3 \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    trixie "$dir.tmp"; then
  rm -rf "$dir.tmp"
  echo "make_trixie_root.sh: mmdebstrap could not make a trixie root in $dir (is the Debian mirror reachable?)" >&2
  exit 1
fi
mv "$dir.tmp" "$dir"
if ! check; then
  echo "make_trixie_root.sh: python3 does not run in $dir" >&2
  exit 1
fi
touch "$dir/.complete"
echo "make_trixie_root.sh: made $dir in $(($(date +%s) - start)) s, $(du -sh "$dir" | cut -f1)" >&2
