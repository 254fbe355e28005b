#!/bin/sh
# `llmrt serve` as a user runs it: --check, SIGHUP reload, SIGTERM with a
# stream in flight (it finishes within the grace), exit status.
# usage: test_serve_signals.sh path/to/llmrt
set -u
bin="$1"
tmp=$(mktemp -d)
mock_pid=""
gw_pid=""
cleanup() {
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/gw.log" ] && sed 's/^/  gw: /' "$tmp/gw.log"; exit 1; }
command -v curl >/dev/null || { echo "curl not found: skipped"; exit 77; }

"$bin" mock --port 0 --token-ms 20 --tokens 40 > "$tmp/mock.out" 2>&1 &
mock_pid=$!
for i in $(seq 100); do grep -q listening "$tmp/mock.out" && break; sleep 0.05; done
url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/mock.out")
[ -n "$url" ] || fail "mock did not start"

conf() { # $1: extra route
  cat > "$tmp/gw.json" <<JSON
{"listen":"127.0.0.1:0","upstreams":{"m":{"base_url":"$url","api_key_env":"UPKEY"}},
 "default_upstream":"m","routes":{"one":{"upstream":"m"}$1},
 "auth":{"keys":[{"key":"gk-signal-test-1","tenant":"t"}]},"shutdown_grace_ms":5000}
JSON
}
conf ""
"$bin" serve --config "$tmp/gw.json" --check > /dev/null || fail "--check refused a valid config"
echo '{"routes":{},"auth":{"open":true},"bogus":1}' > "$tmp/bad.json"
"$bin" serve --config "$tmp/bad.json" --check 2> "$tmp/check.err" && fail "--check accepted a bad config"
grep -q '\$.bogus: unknown key' "$tmp/check.err" || fail "--check did not name the fault: $(cat "$tmp/check.err")"

UPKEY=sk-up "$bin" serve --config "$tmp/gw.json" 2> "$tmp/gw.log" &
gw_pid=$!
for i in $(seq 100); do grep -q "listening on port" "$tmp/gw.log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$tmp/gw.log")
[ -n "$port" ] || fail "gateway did not start"
post() { curl -s -o "$tmp/out" -w '%{http_code}' -H 'Authorization: Bearer gk-signal-test-1' \
  -H 'Content-Type: application/json' "http://127.0.0.1:$port/v1/chat/completions" -d "$1"; }

[ "$(post '{"model":"two","messages":[{"role":"user","content":"x"}],"max_tokens":2}')" = 404 ] ||
  fail "route two should not exist yet"
conf ',"two":{"upstream":"m"}'
kill -HUP "$gw_pid"
for i in $(seq 100); do grep -q "reloaded" "$tmp/gw.log" && break; sleep 0.05; done
[ "$(post '{"model":"two","messages":[{"role":"user","content":"x"}],"max_tokens":2}')" = 200 ] ||
  fail "SIGHUP did not load route two"
echo 'not json' > "$tmp/gw.json"
kill -HUP "$gw_pid"
for i in $(seq 100); do grep -q "reload refused" "$tmp/gw.log" && break; sleep 0.05; done
grep -q "reload refused" "$tmp/gw.log" || fail "a broken config was not refused"
[ "$(post '{"model":"two","messages":[{"role":"user","content":"x"}],"max_tokens":2}')" = 200 ] ||
  fail "the running config did not stay"

# TLS with a configured certificate and key: a client that verifies it gets
# through.
certs="$(dirname "$0")/../certs"
cat > "$tmp/tls.json" <<JSON
{"listen":"127.0.0.1:0","tls":{"cert":"$certs/server.pem","key":"$certs/server.key"},
 "upstreams":{"m":{"base_url":"$url","api_key_env":"UPKEY"}},"default_upstream":"m",
 "routes":{"one":{"upstream":"m"}},"auth":{"open":true},"access_log":"$tmp/access.log"}
JSON
UPKEY=sk-up "$bin" serve --config "$tmp/tls.json" 2> "$tmp/tls.log" &
tls_pid=$!
for i in $(seq 100); do grep -q "listening on port" "$tmp/tls.log" && break; sleep 0.05; done
tport=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$tmp/tls.log")
code=$(curl -s -o "$tmp/tls.out" -w '%{http_code}' --cacert "$certs/ca.pem" \
  -H 'Content-Type: application/json' "https://127.0.0.1:$tport/v1/chat/completions" \
  -d '{"model":"one","messages":[{"role":"user","content":"x"}],"max_tokens":2}')
kill -TERM "$tls_pid"; wait "$tls_pid"
[ "$code" = 200 ] || fail "TLS request: status $code"
grep -q chat.completion "$tmp/tls.out" || fail "TLS answer: $(cat "$tmp/tls.out")"
grep -q '"status":200,"stream":false,"model":"one"' "$tmp/access.log" ||
  fail "no access log line in the file: $(cat "$tmp/access.log")"
# The access log on stderr: one JSON line per call, and never a key.
grep -q '"api":"openai","status":200' "$tmp/gw.log" || fail "no access log line on stderr"
grep -q 'gk-signal-test-1' "$tmp/gw.log" && fail "a gateway key reached the log"

# A stream of 40 tokens at 20 ms (~0.8 s) in flight, then SIGTERM: it ends whole.
curl -s -N -H 'Authorization: Bearer gk-signal-test-1' -H 'Content-Type: application/json' \
  "http://127.0.0.1:$port/v1/chat/completions" \
  -d '{"model":"one","stream":true,"messages":[{"role":"user","content":"x"}]}' > "$tmp/stream" &
curl_pid=$!
for i in $(seq 100); do [ -s "$tmp/stream" ] && break; sleep 0.02; done
kill -TERM "$gw_pid"
wait "$curl_pid"
wait "$gw_pid"
st=$?
gw_pid=""
[ "$st" = 0 ] || fail "serve exited $st after SIGTERM"
grep -q 'data: \[DONE\]' "$tmp/stream" || fail "the stream in flight did not finish: $(tail -c 300 "$tmp/stream")"
grep -q "stopped" "$tmp/gw.log" || fail "no stop message"
echo "ok: --check, SIGHUP reload (and a refused one), SIGTERM with a stream in flight"
