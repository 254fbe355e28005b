#!/bin/sh
# llmrt chat's options as a user meets them: every error case with its
# message and exit code, the base URL conventions (the URL `llmrt mock`
# prints works for both providers, from the flag or the variables), --config,
# --retries, -H, User-Agent, --json and --multi, and `llmrt help CMD`.
# usage: test_cli_chat.sh path/to/llmrt
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
export OPENAI_API_KEY=sk-chat-test-key
unset ANTHROPIC_API_KEY OPENAI_BASE_URL ANTHROPIC_BASE_URL HTTPS_PROXY https_proxy

# expect WANT_RC PATTERN args...: runs chat, checks exit code and stderr.
expect() {
  want=$1; pat=$2; shift 2
  "$bin" chat "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?
  [ $rc -eq "$want" ] || fail "chat $*: exit $rc, want $want: $(cat "$tmp/err")"
  grep -q -- "$pat" "$tmp/err" || fail "chat $*: message '$(cat "$tmp/err")' lacks '$pat'"
  grep -q "sk-chat-test-key" "$tmp/err" "$tmp/out" && fail "chat $*: the API key was printed"
  return 0
}

# Numbers: strict, in range, the message quotes what was typed.
expect 2 "bad value for --temperature: 'hot'" --mock -t hot x
expect 2 "bad value for --temperature: '3'" --mock -t 3 x
expect 2 "bad value for --timeout: 'abc'" --mock --timeout abc x
expect 2 "bad value for --timeout: '0'" --mock --timeout 0 x
expect 2 "bad value for --max-tokens: '12k'" --mock -n 12k x
expect 2 "bad value for --retries: 'many'" --mock --retries many x
expect 2 "bad value for --retries: '11'" --mock --retries 11 x
ok "numbers are validated, the message quotes the value"

# Headers: 'Name: value'; a bad one is named without its value.
expect 2 "bad -H header '(no name)'" --mock -H "no colon here" x
expect 2 "bad -H header 'X Bad'" --mock -H "X Bad: secret-value" x
grep -q secret-value "$tmp/err" && fail "-H error echoed the value"
expect 2 "needs a value" --mock -H
ok "-H: malformed headers refused"

# --ca-file is checked before any network activity, with a message about the file.
expect 2 "cannot read --ca-file '$tmp/none.pem': No such file" --ca-file "$tmp/none.pem" x
echo "not a certificate" >"$tmp/bad.pem"
expect 2 "--ca-file '$tmp/bad.pem' holds no usable PEM certificate" --ca-file "$tmp/bad.pem" x
ok "--ca-file checked at start"

# --config: unreadable, not JSON, refused by the runtime (7), conflicting flags.
expect 2 "cannot read --config '$tmp/none.json'" --mock --config "$tmp/none.json" x
echo "[1,2" >"$tmp/bad.json"
expect 2 "is not a JSON object" --mock --config "$tmp/bad.json" x
echo '{"plugins":[{"name":"no_such_plugin"}]}' >"$tmp/noplug.json"
expect 7 "plugin no_such_plugin" --mock --config "$tmp/noplug.json" x
echo '{"plugins":[],"bogus":1}' >"$tmp/badkey.json"
expect 7 "bogus: unknown key" --mock --config "$tmp/badkey.json" x
echo '{"upstreams":{"mine":{"base_url":"http://127.0.0.1:1/v1"}}}' >"$tmp/ups.json"
expect 2 "defines its upstreams: drop --base-url" --config "$tmp/ups.json" --base-url http://x/v1 x
echo '{"plugins":[{"name":"retry"}]}' >"$tmp/retry.json"
expect 2 "has its own retry plugin" --mock --config "$tmp/retry.json" --retries 1 x
# The file's own upstream: the error names it, not anything made up.
expect 4 "upstream 'mine'" --config "$tmp/ups.json" --retries 0 x
ok "--config errors"

# Other usage errors.
expect 2 "drop the prompt argument" --mock --multi x
expect 2 "exclude each other" --mock --base-url http://127.0.0.1:1 x
expect 2 "bad base URL 'localhost:8080' (from --base-url)" --base-url localhost:8080 x
OPENAI_BASE_URL="ftp://x" expect 2 "(from OPENAI_BASE_URL)" x
expect 2 "empty prompt" --mock ""
ok "usage errors"

# Unreachable: the message names the host the user gave, no internal name.
expect 4 "upstream '127.0.0.1:1'" --base-url http://127.0.0.1:1 --retries 0 x
grep -q "'cli'\|'openai'" "$tmp/err" && fail "message names an internal upstream: $(cat "$tmp/err")"
ok "network error names the user's host"

# A mock that fails its first two requests with 503, logging requests.
"$bin" mock --port 0 -v --controls "status=503,fail_first=2" >"$tmp/mock.out" 2>"$tmp/mock.err" &
mock_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/mock.out")
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || fail "llmrt mock did not start"
base=${url%/v1}

# --retries default 2 rides over both 503s; --json shows it.
"$bin" chat --base-url "$url" --json hi >"$tmp/out" 2>"$tmp/err" || fail "retries: $(cat "$tmp/err")"
[ "$(jq -r .attempts "$tmp/out")" = 3 ] || fail "want 3 attempts: $(cat "$tmp/out")"
[ "$(jq -r .ok "$tmp/out")" = true ] || fail "--json ok: $(cat "$tmp/out")"
[ "$(jq -r '.text | length > 0' "$tmp/out")" = true ] || fail "--json text"
[ "$(jq -r .error "$tmp/out")" = null ] || fail "--json error"
ok "--retries defaults to 2 (3 attempts), --json carries the whole result"

# The pasted URL works with and without /v1, from the flag and the variables.
for u in "$url" "$base" "$url/"; do
  "$bin" chat --base-url "$u" hi >/dev/null 2>"$tmp/err" || fail "openai --base-url $u: $(cat "$tmp/err")"
  OPENAI_BASE_URL=$u "$bin" chat hi >/dev/null 2>"$tmp/err" || fail "OPENAI_BASE_URL=$u: $(cat "$tmp/err")"
  ANTHROPIC_API_KEY=sk-ant-x "$bin" chat -p anthropic --base-url "$u" hi >/dev/null 2>"$tmp/err" ||
    fail "anthropic --base-url $u: $(cat "$tmp/err")"
  ANTHROPIC_API_KEY=sk-ant-x ANTHROPIC_BASE_URL=$u "$bin" chat -p anthropic hi >/dev/null 2>"$tmp/err" ||
    fail "ANTHROPIC_BASE_URL=$u: $(cat "$tmp/err")"
done
ok "base URL with or without /v1, flag or variable, both providers"

# -H headers are sent; those llmrt sets itself are refused up front.
"$bin" chat --base-url "$url" -H "X-Trace: t-123" -H "User-Agent: mine/1" hi >/dev/null 2>"$tmp/err" ||
  fail "-H: $(cat "$tmp/err")"
expect 2 "-H 'Authorization': llmrt sets this header itself" --base-url "$url" -H "Authorization: Bearer x" hi
grep -q "Bearer" "$tmp/err" && fail "-H error echoed the value"
ok "-H sent; reserved headers refused"

# Errors as JSON: exit code and error code in the object.
"$bin" chat --base-url http://127.0.0.1:1 --retries 0 --json hi >"$tmp/out" 2>/dev/null; rc=$?
[ $rc -eq 4 ] || fail "--json error exit $rc"
[ "$(jq -r .error.code "$tmp/out")" = LLMRT_ECONNECT ] || fail "--json error code: $(cat "$tmp/out")"
[ "$(jq -r .exit_code "$tmp/out")" = 4 ] || fail "--json exit_code"
ok "--json on failure"

kill "$mock_pid"; wait "$mock_pid" 2>/dev/null; mock_pid=""

# --multi: each line a turn; the history grows (input tokens grow).
printf 'first question\n\nsecond question\nthird\n' | "$bin" chat --mock --multi --json >"$tmp/out" 2>"$tmp/err" ||
  fail "--multi: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/out")" -eq 3 ] || fail "--multi: want 3 answers: $(cat "$tmp/out")"
jq -s -e '.[0].input_tokens < .[1].input_tokens and .[1].input_tokens < .[2].input_tokens' \
  "$tmp/out" >/dev/null || fail "--multi history does not grow: $(cat "$tmp/out")"
ok "--multi carries the conversation"

# --config with plugins on the call (the retry plugin from the file).
echo '{"plugins":[{"name":"retry","max_attempts":1}]}' >"$tmp/r1.json"
"$bin" chat --mock --config "$tmp/r1.json" --json hi >"$tmp/out" 2>"$tmp/err" || fail "--config: $(cat "$tmp/err")"
ok "--config with plugins"

# Ctrl-C cancels: exit 130.
"$bin" mock --port 0 --ttft-ms 5000 >"$tmp/mock.out" 2>&1 &
mock_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/mock.out")
  [ -n "$url" ] && break
  sleep 0.05
done
"$bin" chat --base-url "$url" hi >/dev/null 2>"$tmp/err" &
cpid=$!
sleep 0.5
kill -INT $cpid
wait $cpid; rc=$?
[ $rc -eq 130 ] || fail "SIGINT: exit $rc, want 130: $(cat "$tmp/err")"
grep -q interrupted "$tmp/err" || fail "SIGINT message: $(cat "$tmp/err")"
kill "$mock_pid"; wait "$mock_pid" 2>/dev/null; mock_pid=""
ok "SIGINT: exit 130"

# help CMD and CMD --help print the same help for every command.
for c in chat bench demo mock version help; do
  "$bin" help $c >"$tmp/a" 2>&1; rc=$?
  [ $rc -eq 0 ] || fail "help $c: exit $rc"
  "$bin" $c --help >"$tmp/b" 2>&1
  cmp -s "$tmp/a" "$tmp/b" || fail "help $c differs from $c --help"
  grep -q "usage: llmrt" "$tmp/a" || fail "help $c: no usage"
done
"$bin" help nope >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown command 'nope'" "$tmp/err" || fail "help nope: $rc"
ok "llmrt help CMD for every command"

echo "$pass passed, 0 failed"
