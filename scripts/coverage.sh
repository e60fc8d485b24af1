#!/usr/bin/env bash
# Line and branch coverage of userspace/ from a build configured with -DMEMSIGHT_COVERAGE=ON, after its tests ran
# (unit, fuzz replays and e2e: the agents the e2e tests start write their counters when they exit).
#   scripts/coverage.sh BUILD_DIR [MIN_LINE_PERCENT]      (default 90; exit 1 below it)
# Prints the summary and the path of the HTML report (BUILD_DIR/coverage/index.html).
# Branch figures exclude the branches the compiler adds for exceptions (--exclude-throw-branches): they are not
# decisions in the code.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:?usage: scripts/coverage.sh BUILD_DIR [MIN_LINE_PERCENT]}")
min=${2:-90}
out="$build/coverage"
rm -rf "$out" && mkdir -p "$out"
gcovr --root . --object-directory "$build" --filter 'userspace/' \
  --exclude-throw-branches --exclude-unreachable-branches \
  --gcov-ignore-parse-errors -j "$(nproc)" \
  --html-details "$out/index.html" --txt "$out/coverage.txt" --json-summary "$out/summary.json" \
  --print-summary --fail-under-line "$min" || {
  rc=$?
  echo "coverage: below ${min}% of lines in userspace/ (or gcovr failed, exit ${rc}); report: $out/index.html" >&2
  exit 1
}
echo "coverage: report $out/index.html (per file: $out/coverage.txt)"
