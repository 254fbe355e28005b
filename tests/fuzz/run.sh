#!/usr/bin/env bash
# Runs each libFuzzer target for FUZZ_SECONDS (default 60) on a copy of its
# seed corpus (tests/fuzz/corpus/<target>/, left untouched), and fails if any
# target finds a crash, a leak, a timeout or an out-of-memory. Crashing
# inputs are kept in <build>/fuzz-artifacts/.
#   tests/fuzz/run.sh <build dir> <target>...   (targets without "fuzz_")
set -uo pipefail
build=$1
shift
secs=${FUZZ_SECONDS:-60}
here=$(cd "$(dirname "$0")" && pwd)
work=$build/fuzz-work
art=$build/fuzz-artifacts
mkdir -p "$art"
failed=()
summary=()
for t in "$@"; do
  bin=$build/tests/fuzz/fuzz_$t
  [ -x "$bin" ] || { echo "fuzz: $bin is missing (build target fuzz_all)"; exit 2; }
  rm -rf "${work:?}/$t"
  mkdir -p "$work/$t"
  cp "$here/corpus/$t/"* "$work/$t/" 2>/dev/null || true
  log=$work/$t.log
  echo "=== fuzz_$t: ${secs}s"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb bounds
  # memory; -max_len lets mutations grow past the largest seed.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=131072 \
      -print_final_stats=1 -artifact_prefix="$art/$t-" "$work/$t" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  line=$(printf '%-14s %4ss  %10s runs  %7s exec/s  %s' "$t" "$secs" "${execs:-?}" "${rate:-?}" "$cov")
  if [ $rc -ne 0 ]; then
    line="$line  FAILED (exit $rc)"
    failed+=("$t")
    grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$log" | head -20
  fi
  summary+=("$line")
  echo "$line"
done
echo "=== fuzz summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (logs in $work, inputs in $art)"
  exit 1
fi
