/* The cache plugin against the mock upstream (on the same loop, so its
 * request count says exactly how many calls went upstream): keys, replay,
 * what is never stored, TTL and max age, eviction under a replay,
 * coalescing, per-request controls. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cache_fx.h"

static uv_loop_t loop;
static llmrt_t *rt;
static llmrt_mock_t *mock;
static logcap_t lc;

static void on_stopped(llmrt_mock_t *m, void *u) {}

#define CACHE_CFG "{\"name\":\"cache\",\"key_headers\":[\"x-mock\",\"anthropic-version\"]}"

static void setup(const char *cache_cfg, const char *controls) {
  ASSERT_EQ(uv_loop_init(&loop), 0);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = controls;
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mock), 0);
  rt = chainfx_rt_new(&loop, &lc);
  char cfg[2048], err[256] = "";
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"oa\":{\"base_url\":\"%s\",\"api_key_env\":\"CACHE_TEST_KEY\"},"
           "\"an\":{\"base_url\":\"%s\",\"api\":\"anthropic\",\"api_key_env\":"
           "\"CACHE_TEST_KEY\"}},\"default_upstream\":\"oa\",\"plugins\":[%s]}",
           llmrt_mock_url(mock), llmrt_mock_url(mock), cache_cfg);
  int rc = llmrt_configure(rt, cfg, err, sizeof err);
  if (rc) TEST_FAIL_("configure: %s", err);
}

static void teardown(void) {
  llmrt_mock_stop(mock, on_stopped, NULL);
  chainfx_rt_close(rt, &loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  logcap_clear(&lc);
}

static uint64_t upstream_requests(void) {
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  return st.requests;
}

typedef struct {
  llmrt_request_t req;
  llmrt_message_t msg[2];
  llmrt_header_t hdr[2];
  const char *stop[2];
} req_t;

static void req_init(req_t *q, const char *text) {
  memset(q, 0, sizeof *q);
  llmrt_request_init(&q->req);
  q->msg[0] = (llmrt_message_t){.role = "user", .content = text};
  q->req.model = "mock";
  q->req.messages = q->msg;
  q->req.n_messages = 1;
  q->req.temperature = 0;
  q->req.stream = 1;
}

static void set_mock(req_t *q, const char *controls) {
  q->hdr[0] = (llmrt_header_t){"x-mock", controls};
  q->req.headers = q->hdr;
  q->req.n_headers = 1;
}

static void start(fx_call_t *f, const req_t *q) {
  memset(f, 0, sizeof *f);
  chainfx_call_init(&f->r);
  ASSERT_EQ(llmrt_call(rt, &q->req, &fx_cbs, f, &f->id), 0);
}

static void wait_done(fx_call_t *f) {
  while (!f->r.done)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(f->r.done, 1);
}

static void call(fx_call_t *f, const req_t *q) {
  start(f, q);
  wait_done(f);
}

/* Runs q and says whether it went upstream (and succeeded). */
static int went_upstream(const req_t *q) {
  static fx_call_t f;
  uint64_t n0 = upstream_requests();
  call(&f, q);
  if (f.r.status) TEST_FAIL_("call failed: %s", f.r.errmsg);
  int up = upstream_requests() != n0;
  ASSERT_EQ(f.r.cache_hit, !up);
  return up;
}

static char *metrics(void) {
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  return text;
}

static void assert_metric(const char *line) {
  char *m = metrics();
  ASSERT_CONTAINS(m, line);
  llmrt_free(m);
}

/* ---- Keys ---- */

static void test_equal_requests_hit(void) {
  setup(CACHE_CFG, "tokens=5");
  req_t q;
  req_init(&q, "same question");
  q.req.extra_json = "{\"response_format\": {\"type\": \"text\"}, \"top_k\": 1.0, "
                     "\"tools\": [{\"type\":\"function\",\"function\":{\"name\":\"f\","
                     "\"parameters\":{\"a\":1e2}}}]}";
  ASSERT(went_upstream(&q));
  /* The same JSON written differently: keys reordered, whitespace, 1.0 as
   * 1 and 1e2 as 100, a string escaped. */
  q.req.extra_json = "{\"tools\":[{\"function\":{\"parameters\":{\"a\":100},\"name\":\"\\u0066\"},"
                     "\"type\":\"function\"}],\"top_k\":1,\"response_format\":{\"type\":\"text\"}}";
  ASSERT(!went_upstream(&q));
  /* temperature 0.0 is 0. */
  q.req.temperature = 0.0;
  ASSERT(!went_upstream(&q));
  assert_metric("llmrt_cache_hits_total{tier=\"memory\"} 2");
  teardown();
}

static void test_differences_miss(void) {
  setup(CACHE_CFG, "tokens=4");
  req_t base, q;
  req_init(&base, "base question");
  base.req.extra_json = "{\"tool_choice\":\"auto\"}";
  ASSERT(went_upstream(&base));
  ASSERT(!went_upstream(&base));
  const char *stop[] = {"END"};
  for (int i = 0; i < 13; i++) {
    q = base;
    q.req.messages = q.msg;
    switch (i) {
    case 0:
      q.req.model = "mock-2";
      break;
    case 1:
      q.msg[0].content = "base question!";
      break;
    case 2:
      q.msg[0].role = "system";
      q.msg[1] = (llmrt_message_t){.role = "user", .content = "x"};
      q.req.n_messages = 2;
      break;
    case 3:
      q.msg[0].name = "alice";
      break;
    case 4:
      q.req.max_tokens = 100;
      break;
    case 5:
      q.req.seed = 7;
      q.req.has_seed = 1;
      break;
    case 6:
      q.req.top_p = 0.5;
      break;
    case 7:
      q.req.stop = stop;
      q.req.n_stop = 1;
      break;
    case 8:
      q.req.extra_json = "{\"tool_choice\":\"none\"}";
      break;
    case 9:
      q.req.extra_json = "{\"tool_choice\":\"auto\",\"response_format\":{\"type\":"
                         "\"json_object\"}}";
      break;
    case 10:
      q.req.upstream = "an";
      q.req.max_tokens = 0;
      break;
    case 11:
      q.hdr[0] = (llmrt_header_t){"anthropic-version", "2099-01-01"};
      q.req.headers = q.hdr;
      q.req.n_headers = 1;
      break;
    case 12:
      q.req.stream = 0;
      break;
    }
    if (!went_upstream(&q)) TEST_FAIL_("difference %d hit the cache", i);
    if (went_upstream(&q)) TEST_FAIL_("difference %d: its own repeat missed", i);
  }
  /* temperature 0.1 (not stored by default: a miss each time). */
  q = base;
  q.req.messages = q.msg;
  q.req.temperature = 0.1;
  ASSERT(went_upstream(&q));
  ASSERT(went_upstream(&q));
  /* A tool message with an assistant's tool calls: id and arguments count. */
  llmrt_message_t conv[3] = {{.role = "user", .content = "weather?"},
                             {.role = "assistant",
                              .tool_calls_json = "[{\"id\":\"c1\",\"type\":\"function\","
                                                 "\"function\":{\"name\":\"w\",\"arguments\":"
                                                 "\"{}\"}}]"},
                             {.role = "tool", .content = "sunny", .tool_call_id = "c1"}};
  q = base;
  q.req.messages = conv;
  q.req.n_messages = 3;
  ASSERT(went_upstream(&q));
  ASSERT(!went_upstream(&q));
  conv[2].content = "rainy";
  ASSERT(went_upstream(&q));
  conv[2].content = "sunny";
  conv[1].tool_calls_json = "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
                            "\"w\",\"arguments\":\"{\\\"x\\\":1}\"}}]";
  ASSERT(went_upstream(&q));
  teardown();
}

static void test_tenant_and_key_isolation(void) {
  setup(CACHE_CFG, "tokens=4");
  req_t q;
  req_init(&q, "private question");
  q.req.tenant = "acme";
  ASSERT(went_upstream(&q));
  ASSERT(!went_upstream(&q));
  q.req.tenant = "globex";
  ASSERT(went_upstream(&q));
  q.req.tenant = NULL;
  ASSERT(went_upstream(&q));
  /* Per-call API keys: each its own partition. */
  q.req.tenant = "acme";
  q.req.api_key = "sk-other-key-1";
  ASSERT(went_upstream(&q));
  ASSERT(!went_upstream(&q));
  q.req.api_key = "sk-other-key-2";
  ASSERT(went_upstream(&q));
  /* No key in clear in the log or the metrics. */
  char *m = metrics();
  ASSERT(!strstr(m, "sk-other"));
  llmrt_free(m);
  ASSERT(!strstr(lc.text, "sk-other"));
  teardown();
}

/* ---- Replay ---- */

static void replay_equals(const char *upstream, const char *controls) {
  req_t q;
  req_init(&q, "stream me");
  q.req.upstream = upstream;
  if (!strcmp(upstream, "an")) q.req.max_tokens = 500;
  if (controls) set_mock(&q, controls);
  static fx_call_t a, b;
  uint64_t n0 = upstream_requests();
  call(&a, &q);
  ASSERT_ERR(a.r.status, 0);
  call(&b, &q);
  ASSERT_ERR(b.r.status, 0);
  ASSERT_EQ(upstream_requests(), n0 + 1);
  ASSERT_EQ(b.r.cache_hit, 1);
  ASSERT_EQ(a.r.cache_hit, 0);
  ASSERT_STR_EQ(b.result, "hit");
  ASSERT_STR_EQ(a.result, "miss");
  ASSERT(a.n_ev > 3);
  fx_same_events(&a, &b);
  ASSERT_STR_EQ(a.r.text, b.r.text);
  ASSERT_STR_EQ(a.r.tokens, b.r.tokens);
  ASSERT_EQ(a.r.n_tokens, b.r.n_tokens);
  ASSERT_STR_EQ(a.r.finish, b.r.finish);
  ASSERT_EQ(a.r.in_tok, b.r.in_tok);
  ASSERT_EQ(a.r.out_tok, b.r.out_tok);
  ASSERT_EQ(b.hit_attr, 1);
  ASSERT_EQ(a.hit_attr, 0);
  ASSERT_EQ((int64_t)b.saved_out, b.r.out_tok);
  ASSERT_EQ((int64_t)b.saved_in, b.r.in_tok);
  ASSERT(b.saved_out > 0);
  /* Its own timings: an immediate replay is far faster than the original. */
  ASSERT(b.r.timings.total_us > 0);
  ASSERT(b.r.timings.total_us < a.r.timings.total_us);
}

static void test_stream_replay_both_providers(void) {
  setup(CACHE_CFG, "tokens=24,token_ms=1");
  replay_equals("oa", NULL);
  replay_equals("an", NULL);
  replay_equals("oa", "tool=lookup");
  replay_equals("an", "tool=lookup");
  replay_equals("oa", "lang=zh");
  teardown();
}

static void test_paced_replay(void) {
  setup("{\"name\":\"cache\",\"pace\":\"original\"}", "tokens=12,token_ms=25,ttft_ms=10");
  req_t q;
  req_init(&q, "paced");
  static fx_call_t a, b;
  call(&a, &q);
  ASSERT_ERR(a.r.status, 0);
  call(&b, &q);
  ASSERT_ERR(b.r.status, 0);
  ASSERT_EQ(b.r.cache_hit, 1);
  fx_same_events(&a, &b);
  /* Gaps between content events within 40% (plus a few ms) of the original. */
  ASSERT(a.r.timings.n_gaps >= 10);
  double ga = (double)a.r.timings.gap_mean_us, gb = (double)b.r.timings.gap_mean_us;
  double slack = getenv("LLMRT_TEST_SLOW") ? 4 : 1; /* valgrind: 20-50x slower */
  if (fabs(ga - gb) > slack * (0.4 * ga + 5000))
    TEST_FAIL_("paced gap mean %.0f us vs original %.0f us", gb, ga);
  uint64_t span_a = a.ev[a.n_ev - 1].t_us - a.ev[0].t_us;
  uint64_t span_b = b.ev[b.n_ev - 1].t_us - b.ev[0].t_us;
  if ((double)span_b < 0.6 * (double)span_a ||
      (double)span_b > slack * (1.4 * (double)span_a + 20000))
    TEST_FAIL_("paced span %llu us vs original %llu us", (unsigned long long)span_b,
               (unsigned long long)span_a);
  teardown();
}

/* ---- Never stored ---- */

static void test_never_stored(void) {
  setup(CACHE_CFG, "tokens=6,token_ms=2");
  req_t q;
  static fx_call_t f;
  const char *faults[] = {"status=500",          "status=429",          "fault=truncate",
                          "fault=reset,after=2", "fault=error,after=2", "status=400"};
  for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) {
    req_init(&q, "fail");
    set_mock(&q, faults[i]);
    for (int k = 0; k < 2; k++) {
      uint64_t n0 = upstream_requests();
      call(&f, &q);
      if (!f.r.status) TEST_FAIL_("%s succeeded", faults[i]);
      ASSERT_EQ(f.r.cache_hit, 0);
      if (upstream_requests() != n0 + 1)
        TEST_FAIL_("%s: an error was answered from cache", faults[i]);
    }
  }
  /* Canceled mid-stream. */
  req_init(&q, "cancel me");
  set_mock(&q, "tokens=20,token_ms=5");
  start(&f, &q);
  f.cancel_at_first_token = 1;
  wait_done(&f);
  ASSERT_ERR(f.r.status, LLMRT_ECANCELED);
  ASSERT(went_upstream(&q));
  /* Cut by max_tokens. */
  req_init(&q, "long answer");
  q.req.max_tokens = 3;
  call(&f, &q);
  ASSERT_ERR(f.r.status, 0);
  ASSERT_STR_EQ(f.r.finish, "length");
  ASSERT(went_upstream(&q));
  /* Non-deterministic: temperature unset (the provider's default), 0.7. */
  req_init(&q, "creative");
  q.req.temperature = -1;
  ASSERT(went_upstream(&q));
  ASSERT(went_upstream(&q));
  q.req.temperature = 0.7;
  ASSERT(went_upstream(&q));
  ASSERT(went_upstream(&q));
  /* ... unless the request says so, or has a seed. */
  q.req.cache_nondeterministic = 1;
  ASSERT(went_upstream(&q));
  ASSERT(!went_upstream(&q));
  q.req.cache_nondeterministic = 0;
  q.req.seed = 42;
  q.req.has_seed = 1;
  ASSERT(went_upstream(&q));
  ASSERT(!went_upstream(&q));
  teardown();
  /* store_length: length finishes are stored when configured. */
  setup("{\"name\":\"cache\",\"store_length\":true}", "tokens=6");
  req_init(&q, "long answer");
  q.req.max_tokens = 3;
  ASSERT(went_upstream(&q));
  ASSERT(!went_upstream(&q));
  teardown();
}

/* ---- TTL and max age ---- */

static void sleep_loop_ms(int ms) {
  uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000;
  while (uv_hrtime() < end) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(5);
  }
}

static void test_ttl_and_max_age(void) {
  setup("{\"name\":\"cache\",\"ttl_s\":600,\"rules\":[{\"model\":\"short-*\",\"ttl_s\":1},"
        "{\"tenant\":\"nocache\",\"cache\":false}]}",
        "tokens=3");
  req_t q, r, s, t;
  req_init(&q, "ttl per request");
  q.req.cache_ttl_s = 1;
  req_init(&r, "ttl by rule");
  r.req.model = "short-model";
  req_init(&s, "max age");
  req_init(&t, "rule off");
  t.req.tenant = "nocache";
  ASSERT(went_upstream(&q));
  ASSERT(went_upstream(&r));
  ASSERT(went_upstream(&s));
  ASSERT(went_upstream(&t));
  ASSERT(went_upstream(&t));
  ASSERT(!went_upstream(&q));
  ASSERT(!went_upstream(&r));
  s.req.cache_max_age_s = 1;
  ASSERT(!went_upstream(&s));
  sleep_loop_ms(1150);
  ASSERT(went_upstream(&q)); /* expired */
  ASSERT(went_upstream(&r));
  ASSERT(went_upstream(&s)); /* too old for this caller (and now stored anew) */
  s.req.cache_max_age_s = 0;
  ASSERT(!went_upstream(&s));
  teardown();
}

/* ---- Eviction while a replay holds the entry ---- */

static void test_evict_during_replay(void) {
  setup("{\"name\":\"cache\",\"max_bytes\":8192,\"pace\":\"original\"}", "tokens=20,token_ms=20");
  req_t a, b;
  req_init(&a, "entry A");
  ASSERT(went_upstream(&a));
  static fx_call_t slow, other, ref;
  call(&ref, &a); /* a hit, for its events */
  ASSERT_EQ(ref.r.cache_hit, 1);
  start(&slow, &a); /* a paced replay of A */
  char text[32];
  for (int i = 0; i < 12; i++) {
    /* Other answers fill the budget: A, least recently used, is evicted. */
    snprintf(text, sizeof text, "filler %d", i);
    req_init(&b, text);
    set_mock(&b, "tokens=20,token_ms=0");
    call(&other, &b);
    ASSERT_ERR(other.r.status, 0);
  }
  ASSERT(!slow.r.done);
  char *m = metrics();
  ASSERT(!strstr(m, "llmrt_cache_evictions_total 0"));
  ASSERT_CONTAINS(m, "llmrt_cache_evictions_total");
  llmrt_free(m);
  wait_done(&slow);
  ASSERT_ERR(slow.r.status, 0);
  ASSERT_EQ(slow.r.cache_hit, 1);
  fx_same_events(&ref, &slow);
  ASSERT(went_upstream(&a)); /* A is gone */
  teardown();
}

/* ---- Coalescing ---- */

static void test_coalesce_100(void) {
  setup(CACHE_CFG, "tokens=16,token_ms=2,ttft_ms=20");
  req_t q;
  req_init(&q, "everyone asks this");
  static fx_call_t f[100];
  uint64_t n0 = upstream_requests();
  for (int i = 0; i < 100; i++)
    start(&f[i], &q);
  for (int i = 0; i < 100; i++)
    wait_done(&f[i]);
  ASSERT_EQ(upstream_requests(), n0 + 1);
  int leaders = 0;
  for (int i = 0; i < 100; i++) {
    ASSERT_ERR(f[i].r.status, 0);
    ASSERT_STR_EQ(f[i].r.text, f[0].r.text);
    ASSERT_STR_EQ(f[i].r.finish, "stop");
    if (!f[i].r.cache_hit) {
      leaders++;
    } else {
      ASSERT_STR_EQ(f[i].result, "coalesced");
      ASSERT_EQ((int64_t)f[i].saved_out, f[i].r.out_tok);
    }
    fx_same_events(&f[0], &f[i]);
  }
  ASSERT_EQ(leaders, 1);
  assert_metric("llmrt_cache_coalesced_total 99");
  teardown();
  /* Bounded: past max_followers, calls go upstream themselves. */
  setup("{\"name\":\"cache\",\"max_followers\":3}", "tokens=4,ttft_ms=20");
  n0 = upstream_requests();
  for (int i = 0; i < 10; i++)
    start(&f[i], &q);
  for (int i = 0; i < 10; i++)
    wait_done(&f[i]);
  ASSERT_EQ(upstream_requests(), n0 + 7);
  teardown();
}

static void test_late_follower(void) {
  setup(CACHE_CFG, "tokens=20,token_ms=10");
  req_t q;
  req_init(&q, "late joiner");
  static fx_call_t lead, late;
  start(&lead, &q);
  while (lead.r.n_tokens < 5)
    uv_run(&loop, UV_RUN_ONCE);
  start(&late, &q);
  wait_done(&lead);
  wait_done(&late);
  ASSERT_ERR(late.r.status, 0);
  ASSERT_EQ(late.r.cache_hit, 1);
  ASSERT_STR_EQ(late.result, "coalesced");
  fx_same_events(&lead, &late);
  ASSERT_STR_EQ(lead.r.tokens, late.r.tokens);
  /* It got the first tokens at once, then the rest live: its last event
   * came when the leader's did, not all at the end. */
  ASSERT(late.ev[late.n_ev - 1].t_us - late.ev[0].t_us > 50000);
  teardown();
}

static void test_leader_fails_before_content(void) {
  /* The first request fails (503, before any content); the next succeeds. */
  setup(CACHE_CFG, "tokens=5,ttft_ms=20");
  req_t q;
  req_init(&q, "leader fails early");
  set_mock(&q, "status=503,fail_first=1,id=early");
  static fx_call_t f[4];
  uint64_t n0 = upstream_requests();
  for (int i = 0; i < 4; i++)
    start(&f[i], &q);
  for (int i = 0; i < 4; i++)
    wait_done(&f[i]);
  ASSERT(f[0].r.status != 0);
  for (int i = 1; i < 4; i++) {
    ASSERT_ERR(f[i].r.status, 0);
    ASSERT_STR_EQ(f[i].r.text, f[1].r.text);
  }
  ASSERT_EQ(upstream_requests(), n0 + 2);
  ASSERT_EQ(f[1].r.cache_hit, 0); /* the new leader */
  ASSERT_EQ(f[2].r.cache_hit, 1);
  teardown();
}

static void test_leader_fails_after_content(void) {
  setup(CACHE_CFG, "tokens=10,token_ms=10");
  req_t q;
  req_init(&q, "leader fails late");
  set_mock(&q, "fault=reset,after=4");
  static fx_call_t f[3];
  uint64_t n0 = upstream_requests();
  start(&f[0], &q);
  start(&f[1], &q);
  while (f[0].r.n_tokens < 2)
    uv_run(&loop, UV_RUN_ONCE);
  start(&f[2], &q); /* late joiner */
  for (int i = 0; i < 3; i++)
    wait_done(&f[i]);
  ASSERT_EQ(upstream_requests(), n0 + 1);
  ASSERT(f[0].r.status != 0);
  for (int i = 1; i < 3; i++) {
    ASSERT_ERR(f[i].r.status, f[0].r.status);
    ASSERT_STR_EQ(f[i].r.tokens, f[0].r.tokens);
    ASSERT_CONTAINS(f[i].r.errmsg, "cache");
  }
  teardown();
}

static void test_leader_cancel(void) {
  setup(CACHE_CFG, "tokens=5,ttft_ms=30");
  req_t q;
  req_init(&q, "leader cancels");
  static fx_call_t f[3];
  uint64_t n0 = upstream_requests();
  for (int i = 0; i < 3; i++)
    start(&f[i], &q);
  for (int i = 0; i < 3; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_EQ(llmrt_cancel(rt, f[0].id), 0);
  for (int i = 0; i < 3; i++)
    wait_done(&f[i]);
  ASSERT_ERR(f[0].r.status, LLMRT_ECANCELED);
  ASSERT_ERR(f[1].r.status, 0);
  ASSERT_ERR(f[2].r.status, 0);
  ASSERT_STR_EQ(f[1].r.text, f[2].r.text);
  ASSERT(upstream_requests() - n0 <= 2);
  /* A follower that cancels leaves the others be. */
  req_init(&q, "follower cancels");
  for (int i = 0; i < 3; i++)
    start(&f[i], &q);
  uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_EQ(llmrt_cancel(rt, f[1].id), 0);
  for (int i = 0; i < 3; i++)
    wait_done(&f[i]);
  ASSERT_ERR(f[0].r.status, 0);
  ASSERT_ERR(f[1].r.status, LLMRT_ECANCELED);
  ASSERT_ERR(f[2].r.status, 0);
  teardown();
}

/* The leader's caller cancels after content reached a follower: the
 * follower's answer is cut, but it did not cancel, and must not be told so
 * (a caller or retry plugin reads LLMRT_ECANCELED as its own doing). */
static void test_leader_cancel_after_content(void) {
  setup(CACHE_CFG, "tokens=10,token_ms=20");
  req_t q;
  req_init(&q, "leader cancels late");
  static fx_call_t f[2];
  start(&f[0], &q);
  start(&f[1], &q);
  while (f[1].r.n_tokens < 2)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(llmrt_cancel(rt, f[0].id), 0);
  wait_done(&f[0]);
  wait_done(&f[1]);
  ASSERT_ERR(f[0].r.status, LLMRT_ECANCELED);
  ASSERT_ERR(f[1].r.status, LLMRT_ETRUNCATED);
  ASSERT_CONTAINS(f[1].r.errmsg, "canceled");
  teardown();
}

/* The runtime closes with a leader in flight, followers waiting (one of
 * them fed already) and a paced replay running: every call ends once. */
static void test_close_with_flight(void) {
  setup("{\"name\":\"cache\",\"key_headers\":[\"x-mock\"],\"pace\":\"original\"}",
        "tokens=10,token_ms=200");
  req_t q, p;
  req_init(&q, "closing flight");
  req_init(&p, "closing replay");
  static fx_call_t f[4], r;
  call(&r, &p);
  ASSERT_ERR(r.r.status, 0);
  start(&f[0], &q);
  start(&f[1], &q);
  while (f[1].r.n_tokens < 2)
    uv_run(&loop, UV_RUN_ONCE);
  start(&f[2], &q);
  start(&r, &p); /* paced replay of the stored answer */
  for (int i = 0; i < 3; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_EQ(r.r.done, 0);
  teardown();
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(f[i].r.done, 1);
    ASSERT(f[i].r.status != 0);
  }
  ASSERT_EQ(r.r.done, 1);
}

/* Outermost, as documented, with route inside: a request naming a route
 * group (an alias, not an upstream) is cached like any other, and its key
 * still keeps tenants apart. */
static void test_route_group_inside(void) {
  setup(CACHE_CFG ",{\"name\":\"route\",\"groups\":{\"g\":{\"members\":[\"oa\"]}}}", "tokens=3");
  req_t q;
  req_init(&q, "group question");
  q.req.upstream = "g";
  uint64_t n0 = upstream_requests();
  static fx_call_t f;
  call(&f, &q);
  ASSERT_ERR(f.r.status, 0);
  call(&f, &q);
  ASSERT_ERR(f.r.status, 0);
  ASSERT_STR_EQ(f.result, "hit");
  ASSERT_EQ(upstream_requests(), n0 + 1);
  q.req.tenant = "other";
  call(&f, &q);
  ASSERT_ERR(f.r.status, 0);
  ASSERT_STR_EQ(f.result, "miss");
  ASSERT_EQ(upstream_requests(), n0 + 2);
  teardown();
}

/* With retry outside the cache, a failed attempt re-enters the cache's
 * on_request: the leader stays the leader; with retry inside, the cache sees
 * only the final outcome. Either way the followers get the answer. */
static void retry_and_coalesce(const char *plugins) {
  setup(plugins, "tokens=5,ttft_ms=20");
  req_t q;
  req_init(&q, "retried leader");
  set_mock(&q, "status=503,fail_first=1,id=retry");
  static fx_call_t f[3];
  uint64_t n0 = upstream_requests();
  for (int i = 0; i < 3; i++)
    start(&f[i], &q);
  for (int i = 0; i < 3; i++)
    wait_done(&f[i]);
  for (int i = 0; i < 3; i++) {
    ASSERT_ERR(f[i].r.status, 0);
    ASSERT_STR_EQ(f[i].r.text, f[0].r.text);
  }
  ASSERT_EQ(f[0].r.attempts, 2);
  ASSERT_EQ(upstream_requests(), n0 + 2);
  ASSERT(!went_upstream(&q));
  teardown();
}

static void test_with_retry(void) {
  retry_and_coalesce("{\"name\":\"retry\",\"base_delay_ms\":5}," CACHE_CFG);
  retry_and_coalesce(CACHE_CFG ",{\"name\":\"retry\",\"base_delay_ms\":5}");
}

/* ---- Per-request controls ---- */

static void test_request_controls(void) {
  setup(CACHE_CFG, "tokens=3");
  req_t q;
  req_init(&q, "controls");
  q.req.cache = LLMRT_CACHE_NO_STORE;
  ASSERT(went_upstream(&q));
  ASSERT(went_upstream(&q)); /* nothing was stored */
  q.req.cache = LLMRT_CACHE_DEFAULT;
  ASSERT(went_upstream(&q));
  ASSERT(!went_upstream(&q));
  q.req.cache = LLMRT_CACHE_NO_STORE;
  ASSERT(!went_upstream(&q)); /* may still be answered */
  q.req.cache = LLMRT_CACHE_BYPASS;
  ASSERT(went_upstream(&q));
  q.req.cache = LLMRT_CACHE_REFRESH;
  static fx_call_t f;
  call(&f, &q);
  ASSERT_EQ(f.r.cache_hit, 0);
  ASSERT_STR_EQ(f.result, "refresh");
  q.req.cache = LLMRT_CACHE_DEFAULT;
  ASSERT(!went_upstream(&q));
  /* An old-layout request (struct_size of ABI 2.0) still works. */
  q.req.struct_size = 0;
  ASSERT(!went_upstream(&q));
  teardown();
}

static void test_config_errors(void) {
  ASSERT_EQ(uv_loop_init(&loop), 0);
  rt = chainfx_rt_new(&loop, &lc);
  const char *bad[] = {"{\"name\":\"cache\",\"max_byte\":1}",
                       "{\"name\":\"cache\",\"pace\":\"fast\"}",
                       "{\"name\":\"cache\",\"rules\":[{\"model\":1}]}",
                       "{\"name\":\"cache\",\"redis\":{\"address\":\"redis.example:6379\"}}",
                       "{\"name\":\"cache\",\"redis\":{\"password_env\":\"CACHE_NO_SUCH_VAR\"}}",
                       "{\"name\":\"cache\",\"ttl_s\":0}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char cfg[512], err[256] = "";
    snprintf(cfg, sizeof cfg,
             "{\"upstreams\":{\"m\":{\"base_url\":\"http://127.0.0.1:1/v1\"}},\"plugins\":[%s]}",
             bad[i]);
    if (llmrt_configure(rt, cfg, err, sizeof err) == 0) TEST_FAIL_("accepted: %s", bad[i]);
    ASSERT(err[0]);
  }
  chainfx_rt_close(rt, &loop);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

int main(void) {
  setenv("CACHE_TEST_KEY", "sk-test-upstream", 1);
  RUN_TEST(test_equal_requests_hit);
  RUN_TEST(test_differences_miss);
  RUN_TEST(test_tenant_and_key_isolation);
  RUN_TEST(test_stream_replay_both_providers);
  RUN_TEST(test_paced_replay);
  RUN_TEST(test_never_stored);
  RUN_TEST(test_ttl_and_max_age);
  RUN_TEST(test_evict_during_replay);
  RUN_TEST(test_coalesce_100);
  RUN_TEST(test_late_follower);
  RUN_TEST(test_leader_fails_before_content);
  RUN_TEST(test_leader_fails_after_content);
  RUN_TEST(test_leader_cancel);
  RUN_TEST(test_leader_cancel_after_content);
  RUN_TEST(test_close_with_flight);
  RUN_TEST(test_route_group_inside);
  RUN_TEST(test_with_retry);
  RUN_TEST(test_request_controls);
  RUN_TEST(test_config_errors);
  return 0;
}
