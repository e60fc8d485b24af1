#!/usr/bin/env bash
# The two commands of README.md:
#   scripts/dev.sh run [agent flags...]   set up, build, run the agent (embedded default config)
#   scripts/dev.sh test                   set up, build, run every test (unit, deploy, e2e)
# BUILD_DIR (default ./build) and BUILD_TYPE (default RelWithDebInfo) can be overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}

build() {
  scripts/setup.sh
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
  # "$@" are cmake --build options (e.g. --target memsight); they go before "--", which starts make's own.
  cmake --build "$BUILD_DIR" -j"$(nproc)" "$@" -- --no-print-directory >"$BUILD_DIR/build.log" 2>&1 || {
    tail -50 "$BUILD_DIR/build.log"; echo "build failed (full log: $BUILD_DIR/build.log)" >&2; exit 1; }
}

# Tracepoints are attached through tracefs; the agent mounts it itself when missing, the tests expect it.
mount_tracefs() {
  if [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ] && [ "$(id -u)" -eq 0 ]; then
    mount -t tracefs tracefs /sys/kernel/tracing && echo "mounted tracefs at /sys/kernel/tracing"
  fi
}

case "${1:-}" in
  run)
    shift
    mkdir -p "$BUILD_DIR"
    build --target memsight
    mount_tracefs
    exec "$BUILD_DIR/userspace/memsight" agent "$@"
    ;;
  test)
    mkdir -p "$BUILD_DIR"
    build
    mount_tracefs
    cd "$BUILD_DIR"
    # --no-tests=error: a run that executes no test fails loudly.
    ctest --output-on-failure --no-tests=error --timeout 600
    ;;
  *)
    echo "usage: scripts/dev.sh run [agent flags...] | scripts/dev.sh test" >&2
    exit 2
    ;;
esac
