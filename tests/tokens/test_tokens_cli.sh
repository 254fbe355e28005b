#!/bin/sh
# `llmrt tokens` as a user runs it: counts and ids against tiktoken's
# reference (tests/tokens/data/reference.txt), files and stdin, the estimate
# note, and the exit codes of its --help.
# usage: test_tokens_cli.sh path/to/llmrt SOURCE_DIR
set -u
bin=$1
src=$2
data=$src/tests/tokens/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok - $*"; }

# --ids prints tiktoken's ids, one per line, for a whole corpus file.
for enc in o200k_base cl100k_base; do
  for f in english.txt cjk.txt invalid.bin whitespace.txt; do
    grep "^$enc $f all " "$data/reference.txt" | cut -d' ' -f5- | tr ' ' '\n' >"$tmp/want"
    "$bin" tokens --encoding "$enc" --ids "$data/corpus/$f" >"$tmp/got" || fail "--ids $enc $f exited $?"
    cmp -s "$tmp/want" "$tmp/got" || fail "--ids $enc $f differs from tiktoken"
    want=$(grep "^$enc $f all " "$data/reference.txt" | cut -d' ' -f4)
    got=$("$bin" tokens -e "$enc" <"$data/corpus/$f") || fail "count $enc $f exited $?"
    [ "$got" = "$want" ] || fail "count $enc $f: $got, tiktoken $want"
  done
done
ok "ids and counts equal tiktoken's, from a file and from stdin"

# A model picks its encoding; several files give one line each and a total.
want=$(grep "^cl100k_base english.txt all " "$data/reference.txt" | cut -d' ' -f4)
out=$("$bin" tokens --model gpt-4 "$data/corpus/english.txt" "$data/corpus/english.txt")
echo "$out" | grep -qx "$want $data/corpus/english.txt" || fail "per-file line: $out"
echo "$out" | grep -qx "$((want * 2)) total" || fail "total line: $out"
ok "--model gpt-4 counts in cl100k_base, one line per file and a total"

# A model without an exact tokenizer is estimated, and stderr says so.
"$bin" tokens --model claude-sonnet-4-5 "$data/sample/english.txt" >"$tmp/out" 2>"$tmp/err" ||
  fail "estimate exited $?"
grep -q "estimates" "$tmp/err" || fail "no estimate note: $(cat "$tmp/err")"
grep -qE '^[0-9]+ ' "$tmp/out" || fail "no count: $(cat "$tmp/out")"
ok "other models are estimated, with a note on stderr"

# Exit codes: 2 for usage, 1 for an unreadable file, 0 for --help.
"$bin" tokens --help | grep -q "usage: llmrt tokens" || fail "--help"
for args in "--bogus" "-e p50k_base" "-m gpt-4o -e o200k_base" "--ids -m claude-3 -" \
            "--ids a b" "--model"; do
  # shellcheck disable=SC2086
  "$bin" tokens $args </dev/null >/dev/null 2>"$tmp/err"; rc=$?
  [ $rc -eq 2 ] || fail "'$args': exit $rc, want 2"
  [ -s "$tmp/err" ] || fail "'$args': no message"
done
"$bin" tokens "$tmp/none" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "missing file: exit $rc, want 1"
grep -q "none" "$tmp/err" || fail "missing file message: $(cat "$tmp/err")"
[ "$(printf '' | "$bin" tokens)" = "0" ] || fail "empty stdin is not 0 tokens"
ok "exit codes: 2 usage, 1 unreadable file; empty input is 0 tokens"
