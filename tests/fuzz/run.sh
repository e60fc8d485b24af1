#!/usr/bin/env bash
# Runs every libFuzzer target of a MEMSIGHT_FUZZ=ON build for SECONDS each, two at a time, on a scratch copy of
# the committed seed corpus (the corpus in the tree never changes). Prints each target's runs, coverage and
# corpus size; exits 1 when any target found a crash, leak, UBSan report, timeout or out-of-memory, after
# printing the input that triggers it (copy it to tests/fuzz/regressions/<target>/ once the parser is fixed).
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET [TARGET...]
#
# Build first: CC=clang CXX=clang++ cmake -S . -B BUILD_DIR -DMEMSIGHT_FUZZ=ON && cmake --build BUILD_DIR --target memsight_fuzzers
# MEMSIGHT_FUZZ_JOBS (default 2) sets how many targets run at once; MEMSIGHT_FUZZ_OUT keeps the scratch directory.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS_PER_TARGET [TARGET...]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
bin_dir=$build/tests/fuzz
jobs=${MEMSIGHT_FUZZ_JOBS:-2}

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=()
  for src in "$here"/fuzz_*.cpp; do
    name=$(basename "$src" .cpp)
    targets+=("${name#fuzz_}")
  done
fi
for t in "${targets[@]}"; do
  if [[ ! -x $bin_dir/fuzz_$t ]]; then
    echo "missing $bin_dir/fuzz_$t: build with -DMEMSIGHT_FUZZ=ON and --target memsight_fuzzers" >&2
    exit 2
  fi
done

out=${MEMSIGHT_FUZZ_OUT:-$(mktemp -d /tmp/memsight-fuzz.XXXXXX)}
mkdir -p "$out"
echo "fuzzing ${#targets[@]} targets for ${seconds}s each, $jobs at a time; work in $out"

# One target: scratch corpus = committed seeds + regressions, crash artifacts in $out/<t>/artifacts/.
run_one() {
  local t=$1 dir=$out/$1
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp "$here/corpus/$t"/* "$dir/corpus/" 2>/dev/null || true
  find "$here/regressions/$t" -type f ! -name .gitkeep -exec cp {} "$dir/corpus/" \; 2>/dev/null || true
  # -timeout: one input taking longer is a finding (a parser must not hang on a file); -rss_limit_mb: so is
  # memory beyond 2 GiB; -max_len: the ELF seeds are a few KiB, the text files smaller.
  local rc=0
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin_dir/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=16384 \
    -artifact_prefix="$dir/artifacts/" -print_final_stats=1 "$dir/corpus" >"$dir/log" 2>&1) || rc=$?
  echo "$rc" >"$dir/rc"
}

pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [[ ${#pids[@]} -ge $jobs ]]; then
    wait "${pids[0]}" || true
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || true; done

failed=0
printf '%-16s %10s %8s %8s %8s  %s\n' target runs cov ft corpus result
for t in "${targets[@]}"; do
  dir=$out/$t
  rc=$(cat "$dir/rc")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  # The last status line ("#N DONE cov: X ft: Y corp: Z/...") has the final coverage and corpus size.
  last=$(grep -E '^#[0-9]+' "$dir/log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  artifacts=$(find "$dir/artifacts" -type f | sort)
  result=ok
  if [[ $rc != 0 || -n $artifacts ]]; then
    result="FAILED (exit $rc)"
    failed=1
  fi
  printf '%-16s %10s %8s %8s %8s  %s\n' "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
  if [[ $result != ok ]]; then
    grep -E 'ERROR: |runtime error|SUMMARY|Test unit written' "$dir/log" | head -8 | sed 's/^/    /'
    for a in $artifacts; do echo "    crashing input: $a"; done
    echo "    full log: $dir/log"
  fi
done
exit $failed
