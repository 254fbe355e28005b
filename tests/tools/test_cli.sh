#!/bin/sh
# The llmrt tool as a user runs it: `llmrt chat` against the in-process mock
# and against `llmrt mock` started here, with its exit codes and messages for
# a missing key, an unreachable host and an upstream error.
# usage: test_cli.sh path/to/llmrt
set -u
bin=$1
tmp=$(mktemp -d)
mock_pid=""
cleanup() {
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
pass=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }

# Streamed answer from the in-process mock; the prompt from stdin.
out=$(echo "hello from stdin" | "$bin" chat --mock 2>"$tmp/err"); rc=$?
[ $rc -eq 0 ] || fail "chat --mock exited $rc: $(cat "$tmp/err")"
[ -n "$out" ] || fail "chat --mock printed nothing"
ok "chat --mock streams an answer"

# Same prompt, same answer (the mock is deterministic), with or without streaming.
out2=$("$bin" chat --mock --no-stream "hello from stdin" 2>/dev/null)
[ "$out" = "$out2" ] || fail "streamed and whole answers differ: '$out' vs '$out2'"
ok "chat --no-stream prints the same answer"

# -v prints timings on stderr, not stdout.
"$bin" chat --mock -v "timings please" >"$tmp/out" 2>"$tmp/err" || fail "chat -v failed"
grep -q "first token" "$tmp/err" || fail "no timings on stderr: $(cat "$tmp/err")"
grep -q "first token" "$tmp/out" && fail "timings leaked to stdout"
ok "chat -v prints timings on stderr"

# Missing key: exit 3, and the message names the variable.
env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY "$bin" chat "hi" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 3 ] || fail "missing key: exit $rc, want 3"
grep -q OPENAI_API_KEY "$tmp/err" || fail "missing key message: $(cat "$tmp/err")"
ok "missing key: exit 3 naming OPENAI_API_KEY"

# Unreachable host (nothing listens on port 1): exit 4, message names it.
OPENAI_API_KEY=sk-cli-test OPENAI_BASE_URL=http://127.0.0.1:1/v1 "$bin" chat "hi" \
  >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 4 ] || fail "unreachable: exit $rc, want 4: $(cat "$tmp/err")"
grep -q "127.0.0.1:1" "$tmp/err" || fail "unreachable message: $(cat "$tmp/err")"
grep -q "sk-cli-test" "$tmp/err" && fail "the API key appeared in a message"
ok "unreachable host: exit 4"

# `llmrt mock` on a free port, answering 429 to everything.
"$bin" mock --port 0 --controls "status=429,retry_after=7" >"$tmp/mock.out" 2>&1 &
mock_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/mock.out")
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || fail "llmrt mock did not start: $(cat "$tmp/mock.out")"
OPENAI_API_KEY=sk-cli-test OPENAI_BASE_URL=$url "$bin" chat "hi" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 5 ] || fail "upstream 429: exit $rc, want 5: $(cat "$tmp/err")"
grep -q "429" "$tmp/err" || fail "upstream error message: $(cat "$tmp/err")"
ok "upstream error: exit 5 with the status"

# Anthropic through the same mock (the SDK convention: base URL without /v1).
base=${url%/v1}
ANTHROPIC_API_KEY=sk-ant-cli ANTHROPIC_BASE_URL=$base "$bin" chat -p anthropic "hi" \
  >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 5 ] || fail "anthropic 429: exit $rc, want 5: $(cat "$tmp/err")"
ok "anthropic provider reaches the mock"

# SIGTERM stops the mock cleanly.
kill -TERM "$mock_pid"; wait "$mock_pid"; rc=$?; mock_pid=""
[ $rc -eq 0 ] || fail "llmrt mock exited $rc on SIGTERM"
ok "llmrt mock stops on SIGTERM"

# Bad usage: exit 2.
"$bin" chat --provider nope "hi" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "bad provider: exit $rc, want 2"
"$bin" frobnicate >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown command: exit $rc, want 2"
ok "usage errors: exit 2"

echo "$pass passed, 0 failed"
