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
grep -Eq "^  overhead +[0-9]+\.[0-9]{6} s$" "$tmp/err" || fail "no call metrics: $(cat "$tmp/err")"
grep -Eq "^  first chunk +[0-9]+\.[0-9]{6} s$" "$tmp/err" || fail "no first chunk: $(cat "$tmp/err")"
ok "chat -v prints timings and the call's metrics on stderr"

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
OPENAI_API_KEY=sk-cli-test OPENAI_BASE_URL=$url "$bin" chat --retries 0 "hi" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 5 ] || fail "upstream 429: exit $rc, want 5: $(cat "$tmp/err")"
grep -q "429" "$tmp/err" || fail "upstream error message: $(cat "$tmp/err")"
ok "upstream error: exit 5 with the status"

# Anthropic through the same mock (the SDK convention: base URL without /v1).
base=${url%/v1}
ANTHROPIC_API_KEY=sk-ant-cli ANTHROPIC_BASE_URL=$base "$bin" chat --retries 0 -p anthropic "hi" \
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

# Every command has --help (exit 0, usage on stdout).
for c in chat mock demo version help; do
  "$bin" $c --help >"$tmp/out" 2>"$tmp/err"; rc=$?
  [ $rc -eq 0 ] || fail "$c --help exited $rc"
  grep -q "usage: llmrt" "$tmp/out" || fail "$c --help printed no usage: $(cat "$tmp/out")"
done
ok "every command has --help"

# Unknown options: exit 2, naming only what the user typed (no value, no
# list of possibilities, no "chat:" from getopt).
for c in chat mock demo; do
  "$bin" $c --bogus=sk-secret-value x >/dev/null 2>"$tmp/err"; rc=$?
  [ $rc -eq 2 ] || fail "$c --bogus: exit $rc, want 2"
  grep -q "^llmrt $c: unknown option '--bogus'" "$tmp/err" || fail "$c --bogus: $(cat "$tmp/err")"
  grep -q "sk-secret-value" "$tmp/err" && fail "$c --bogus echoed the value"
done
"$bin" chat --m x >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "chat --m: exit $rc"
grep -q "model\|mock\|max-tokens\|possibilities" "$tmp/err" && fail "chat --m listed options: $(cat "$tmp/err")"
"$bin" chat -q x >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown option '-q'" "$tmp/err" || fail "chat -q: $rc $(cat "$tmp/err")"
"$bin" chat --timeout >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "'--timeout' needs a value" "$tmp/err" || fail "chat --timeout: $(cat "$tmp/err")"
for o in "-n abc" "-n 0" "--timeout 5x" "-t hot"; do
  "$bin" chat --mock $o x >/dev/null 2>"$tmp/err"; rc=$?
  [ $rc -eq 2 ] && grep -q "bad value for" "$tmp/err" || fail "chat $o: exit $rc: $(cat "$tmp/err")"
done
ok "unknown options and bad values: exit 2 naming what the user gave"

# A malformed base URL is a usage error naming the URL and where it came from,
# not the JSON path of a configuration the user never saw.
OPENAI_API_KEY=sk-cli-test "$bin" chat --base-url "ftp://nope" x >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "bad base URL: exit $rc, want 2: $(cat "$tmp/err")"
grep -q "ftp://nope" "$tmp/err" && grep -q -- "--base-url" "$tmp/err" || fail "bad URL: $(cat "$tmp/err")"
grep -q 'upstreams\|\$\.' "$tmp/err" && fail "bad URL message names the internal config: $(cat "$tmp/err")"
ok "bad base URL: exit 2"

# Exit codes of broken answers (a mock per fault): 6 bad response, 4 network, 5 upstream.
fault_exit() { # controls, chat options..., want
  ctl=$1; want=$2; shift 2
  "$bin" mock --port 0 --controls "$ctl" >"$tmp/mock2.out" 2>&1 &
  mock_pid=$!
  u=""
  for _ in $(seq 1 100); do
    u=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/mock2.out")
    [ -n "$u" ] && break
    sleep 0.05
  done
  [ -n "$u" ] || fail "llmrt mock did not start: $(cat "$tmp/mock2.out")"
  OPENAI_API_KEY=sk-cli-test "$bin" chat --base-url "$u" "$@" hi >/dev/null 2>"$tmp/err"; rc=$?
  kill "$mock_pid"; wait "$mock_pid"; mock_pid=""
  [ $rc -eq "$want" ] || fail "$ctl $*: exit $rc, want $want: $(cat "$tmp/err")"
  grep -q "'cli'" "$tmp/err" && fail "message names the internal upstream: $(cat "$tmp/err")"
  grep -q "sk-cli-test" "$tmp/err" && fail "the API key appeared in a message"
  return 0
}
fault_exit "fault=malformed" 6 --no-stream
fault_exit "fault=malformed,after=1" 6
fault_exit "fault=truncate,after=2" 6
fault_exit "fault=reset,after=2" 4
fault_exit "fault=eof,after=2" 4
fault_exit "fault=error,after=2" 5
fault_exit "status=401" 5 --no-stream
ok "bad response: exit 6; reset/eof: 4; upstream errors: 5"

# -v prints the model, finish reason and request id, bounded and with
# control characters escaped (the mock reports the model it was asked for,
# like a hostile upstream could), and never the API key.
esc=$(printf '\033')
LLMRT_MOCK_API_KEY=sk-hostile-key-123 "$bin" chat --mock -v \
  -m "$(printf 'evil\033]0;pwned\007\302\233[2J')" x >"$tmp/out" 2>"$tmp/err" || fail "chat -v hostile model"
grep -q "$esc" "$tmp/err" && fail "-v printed a raw ESC: $(cat -v "$tmp/err")"
grep -q "$(printf '\007')" "$tmp/err" && fail "-v printed a raw BEL"
grep -q 'model  *evil\\x1b\]0;pwned\\x07\\u009b\[2J$' "$tmp/err" || fail "-v model line: $(cat -v "$tmp/err")"
grep -q "finish  *stop" "$tmp/err" || fail "-v finish: $(cat "$tmp/err")"
grep -q "request id  *req_" "$tmp/err" || fail "-v request id: $(cat "$tmp/err")"
long=$(head -c 5000 /dev/zero | tr '\0' a)
"$bin" chat --mock -v -m "$long" x >/dev/null 2>"$tmp/err" || fail "chat -v long model"
line=$(grep "model" "$tmp/err")
[ ${#line} -lt 300 ] || fail "-v model line not bounded: ${#line} bytes"
case $line in *...) ;; *) fail "-v cut model lacks ...";; esac
LLMRT_MOCK_API_KEY=sk-hostile-key-123 "$bin" chat --mock -v -m sk-hostile-key-123 x \
  >"$tmp/out" 2>"$tmp/err" || fail "chat -v key as model"
grep -q "sk-hostile-key-123" "$tmp/err" && fail "-v printed the API key: $(cat "$tmp/err")"
grep -q "model  *\[redacted\]" "$tmp/err" || fail "-v did not redact: $(cat "$tmp/err")"
ok "chat -v: result fields only, bounded, escaped, key redacted"

echo "$pass passed, 0 failed"
