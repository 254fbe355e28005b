#!/bin/sh
# `llmrt mock -v`: each request on stderr as it arrives (peer, method, path,
# body size, model, a few headers), credentials redacted, and its outcome.
# usage: test_mock_verbose.sh LLMRT_TOOL PYTHON3
set -u
bin=$1
py=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmrt-mockv.XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- mock output:"
  cat "$tmp/out"
  exit 1
}

"$bin" mock -v --port 0 >"$tmp/out" 2>&1 &
pid=$!
i=0
url=""
while [ $i -lt 100 ] && [ -z "$url" ]; do
  url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/out")
  [ -n "$url" ] || sleep 0.05
  i=$((i + 1))
done
[ -n "$url" ] || fail "llmrt mock did not start"

"$py" - "$url" <<'PY' || fail "requests failed"
import json, sys, urllib.request, urllib.error
url = sys.argv[1]
def post(path, body, headers):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers=headers)
    try:
        urllib.request.urlopen(req).read()
    except urllib.error.HTTPError as e:
        e.read()
post("/chat/completions", {"model": "gpt-4o-mini", "stream": True,
     "messages": [{"role": "user", "content": "hello"}]},
     {"Authorization": "Bearer sk-SECRET-openai", "x-mock": "tokens=3",
      "Content-Type": "application/json"})
post("/messages", {"model": "claude-x", "max_tokens": 5,
     "messages": [{"role": "user", "content": "hi"}]},
     {"x-api-key": "sk-ant-SECRET", "anthropic-version": "2023-06-01"})
post("/chat/completions", {"model": "m\u0001odel", "messages": []},
     {"Authorization": "Bearer sk-SECRET-2"})
PY
kill "$pid"
wait "$pid"
pid=""

grep -q 'SECRET' "$tmp/out" && fail "a key reached the log"
grep -Eq '^mock: 127\.0\.0\.1:[0-9]+ POST /v1/chat/completions body=[0-9]+ bytes model=gpt-4o-mini stream .*authorization=<redacted>.*x-mock=tokens=3' "$tmp/out" ||
  fail "no line for the OpenAI request"
grep -Eq '^mock: 127\.0\.0\.1:[0-9]+ openai stream -> 200' "$tmp/out" || fail "no outcome line"
grep -Eq '^mock: 127\.0\.0\.1:[0-9]+ POST /v1/messages body=[0-9]+ bytes model=claude-x .*x-api-key=<redacted>.*anthropic-version=2023-06-01' "$tmp/out" ||
  fail "no line for the Anthropic request"
# A control character from the network is escaped, not written raw.
grep -q 'model=m\\x01odel' "$tmp/out" || fail "the hostile model name was not escaped"
grep -Eq 'POST /v1/chat/completions -> 400' "$tmp/out" || fail "the bad request's outcome"
echo "ok: llmrt mock -v"
