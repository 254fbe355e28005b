#!/bin/sh
# llmrt bench against the in-process mock: its counts match the mock's own
# counters (calls, attempts, tokens), the open loop holds its rate within 5%,
# --vs interleaves two configurations and gives their ratios, prompts come
# from a JSON-lines file, and every usage error has its message and exit code.
# usage: test_bench.sh path/to/llmrt
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
pass=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
unset OPENAI_API_KEY ANTHROPIC_API_KEY OPENAI_BASE_URL ANTHROPIC_BASE_URL

# Closed loop, count: the bench's figures equal the mock's counters.
"$bin" bench --mock -N 300 -c 12 --json "$tmp/r.json" >"$tmp/out" 2>"$tmp/err" ||
  fail "bench -N 300: $(cat "$tmp/err")"
j() { jq -r "$1" "$tmp/r.json"; }
[ "$(j '.targets[0].calls')" = 300 ] || fail "calls: $(j '.targets[0].calls')"
[ "$(j '.targets[0].ok')" = "$(j .mock.completions)" ] || fail "ok vs mock completions"
[ "$(j '.targets[0].attempts')" = "$(j .mock.requests)" ] || fail "attempts vs mock requests"
[ "$(j '.targets[0].output_tokens')" = "$(j .mock.tokens)" ] || fail "tokens vs mock tokens"
[ "$(j '.mock.streams')" = 300 ] || fail "streams: $(j .mock.streams)"
[ "$(j '.mock.connections')" -le 12 ] || fail "more connections than the concurrency"
grep -q "latency_p99_ms" "$tmp/out" || fail "no text report: $(cat "$tmp/out")"
ok "closed loop: calls, attempts and tokens match the mock's counters"

# Errors by type, counted like the mock counted them (no retries by default).
"$bin" bench --mock -N 40 -c 4 --no-stream --mock-controls "status=429,fail_first=10" \
  --json "$tmp/r.json" >/dev/null 2>"$tmp/err" || fail "bench 429s: $(cat "$tmp/err")"
[ "$(j '.targets[0].failed')" = 10 ] || fail "failed: $(j '.targets[0].failed')"
[ "$(j '.mock.errors')" = 10 ] || fail "mock errors: $(j .mock.errors)"
[ "$(j '.targets[0].errors[0].http_status')" = 429 ] || fail "error kind: $(j '.targets[0].errors')"
[ "$(j '.targets[0].errors[0].count')" = 10 ] || fail "error count"
[ "$(j '.mock.streams')" = 0 ] || fail "--no-stream streamed"
ok "errors by type match the mock's"

# Open loop: 100 calls/s for 3 s with answers slower than the interval; the
# rate sent stays within 5% and latency counts from the due time.
"$bin" bench --mock -r 100 -d 3 --mock-controls "ttft_ms=30,token_ms=3" --json "$tmp/r.json" \
  >/dev/null 2>"$tmp/err" || fail "bench -r: $(cat "$tmp/err")"
jq -e '(.rate_sent - 100 | fabs) <= 5' "$tmp/r.json" >/dev/null || fail "rate: $(j .rate_sent)"
calls=$(j '.targets[0].calls')
[ "$calls" -ge 285 ] && [ "$calls" -le 315 ] || fail "open loop calls: $calls"
[ "$(j '.targets[0].ok')" = "$(j .mock.completions)" ] || fail "open loop ok vs mock"
jq -e '.targets[0].ttft_p50_ms >= 30 and .targets[0].latency_p50_ms >= 120' "$tmp/r.json" \
  >/dev/null || fail "latency below the mock's pacing: $(cat "$tmp/r.json")"
ok "open loop holds 100/s within 5% ($(j .rate_sent))"

# --vs: A without retries, B with them, interleaved against one mock whose
# first 4 requests fail: B (4 retries) hides its failures, A shows them.
"$bin" bench --mock -N 50 -c 2 --mock-controls "status=503,fail_first=4" --vs retries=4 \
  --json "$tmp/r.json" >"$tmp/out" 2>"$tmp/err" || fail "bench --vs: $(cat "$tmp/err")"
[ "$(j '.targets | length')" = 2 ] || fail "--vs: two targets"
[ "$(j '.targets[0].calls')" = 50 ] && [ "$(j '.targets[1].calls')" = 50 ] || fail "--vs calls"
[ "$(j '.targets[1].failed')" = 0 ] || fail "B failed: $(j '.targets[1].failed')"
[ "$(j '.targets[0].failed')" -ge 1 ] || fail "A did not fail"
sum=$(( $(j '.targets[0].attempts') + $(j '.targets[1].attempts') ))
[ "$sum" = "$(j .mock.requests)" ] || fail "--vs attempts $sum vs mock $(j .mock.requests)"
jq -e '.ratio_b_over_a.calls == 1' "$tmp/r.json" >/dev/null || fail "ratio"
grep -q "B/A" "$tmp/out" || fail "no B/A column: $(cat "$tmp/out")"
ok "--vs interleaves two configurations and prints ratios"

# --vs config=FILE: a plugin chain on B only.
echo '{"plugins":[{"name":"retry","max_attempts":3,"base_delay_ms":1}]}' >"$tmp/cfg.json"
"$bin" bench --mock -N 20 --vs config="$tmp/cfg.json" --json - >"$tmp/r.json" 2>"$tmp/out" ||
  fail "--vs config: $(cat "$tmp/out")"
[ "$(j '.targets[1].config_file')" = "$tmp/cfg.json" ] || fail "--vs config not shown"
grep -q "B/A" "$tmp/out" || fail "--json -: text report not on stderr"
ok "--vs config=FILE; --json - writes JSON to stdout"

# Prompts from JSON lines: strings, prompt objects and conversations.
cat >"$tmp/p.jsonl" <<'EOF'
"a plain prompt"
{"prompt": "with a system prompt", "system": "be brief"}

{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}]}
EOF
"$bin" bench --mock -N 9 -c 1 --prompts "$tmp/p.jsonl" --json "$tmp/r.json" >/dev/null 2>"$tmp/err" ||
  fail "--prompts: $(cat "$tmp/err")"
[ "$(j '.targets[0].ok')" = 9 ] || fail "--prompts ok"
ok "--prompts JSON lines"

# Usage errors: message and exit code.
expect() {
  want=$1; pat=$2; shift 2
  "$bin" bench "$@" >/dev/null 2>"$tmp/err" </dev/null; rc=$?
  [ $rc -eq "$want" ] || fail "bench $*: exit $rc, want $want: $(cat "$tmp/err")"
  grep -q -- "$pat" "$tmp/err" || fail "bench $*: '$(cat "$tmp/err")' lacks '$pat'"
}
expect 2 "bad value for --concurrency: 'many'" --mock -c many
expect 2 "bad value for --rate: '0'" --mock -r 0
expect 2 "bad value for --duration: '1m'" --mock -d 1m
expect 2 "bad value for --requests: '-3'" --mock -N -3
expect 2 "exclude each other" --mock -r 10 -c 4
expect 2 "needs --mock" --mock-controls x
expect 2 "bad value for --vs" --mock --vs colour=blue
printf 'not json\n' >"$tmp/nj.jsonl"
expect 2 "line 1: not a JSON string or object" --mock --prompts "$tmp/nj.jsonl"
: >"$tmp/empty.jsonl"
expect 2 "no prompts" --mock --prompts "$tmp/empty.jsonl"
printf '{"nope": 1}\n' >"$tmp/bad.jsonl"
expect 2 "line 1: an object needs" --mock --prompts "$tmp/bad.jsonl"
expect 2 "cannot read --prompts" --mock --prompts "$tmp/none.jsonl"
expect 2 "unexpected argument 'extra'" --mock extra
expect 2 "unknown option '--bogus'" --bogus
expect 3 "OPENAI_API_KEY is not set" -N 1
echo '{"plugins":[{"name":"no_such"}]}' >"$tmp/np.json"
expect 7 "plugin no_such" --mock --vs config="$tmp/np.json" -N 1
ok "usage errors: exit 2, 3 and 7 with their messages"

echo "$pass passed, 0 failed"
