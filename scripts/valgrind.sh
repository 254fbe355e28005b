#!/usr/bin/env bash
# Runs the test binaries under valgrind memcheck: any invalid access or
# definite/indirect leak fails. Tests labelled "script" (shell scripts: the
# out-of-tree install check, the CLI) have no binary of their own.
set -euo pipefail
build=${1:-build}
labels=${2:-'core|transport|http|llm|chain|tools|plugins'}
tests=$(ctest --test-dir "$build" -N -L "$labels" -LE script | sed -n 's/^ *Test *#[0-9]*: *//p')
[ -n "$tests" ] || { echo "valgrind: no tests found in $build"; exit 1; }
# Tests with long loops of calls take fewer rounds under valgrind (the same
# paths, 20-50x slower): they read LLMRT_TEST_SLOW.
export LLMRT_TEST_SLOW=1
fail=0; n=0
for t in $tests; do
  bin=$(find "$build/tests" -maxdepth 1 -type f -name "$t" | head -1)
  [ -x "$bin" ] || { echo "valgrind: $t: binary not found"; fail=1; continue; }
  n=$((n+1))
  vg() { valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
           --error-exitcode=99 "$bin" > "$build/valgrind-$t.log" 2>&1; }
  rc=0; vg || rc=$?
  # A memory error (99) fails at once. A test's own assertion under
  # valgrind's 20-50x slowdown may be a timing margin: once more, and say so.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 99 ] &&
     ! grep -qE "Invalid (read|write|free)|uninitialised|definitely lost|indirectly lost" \
       "$build/valgrind-$t.log"; then
    echo "valgrind: $t: exit $rc (not a memory error); running it once more"
    cp "$build/valgrind-$t.log" "$build/valgrind-$t.first.log"
    rc=0; vg || rc=$?
  fi
  if [ "$rc" -eq 0 ]; then
    echo "valgrind: $t: clean"
  else
    echo "valgrind: $t: FAILED (see $build/valgrind-$t.log)"; tail -40 "$build/valgrind-$t.log"; fail=1
  fi
done
echo "valgrind: $n binaries checked"
exit $fail
