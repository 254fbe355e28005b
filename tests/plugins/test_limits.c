/* The limits plugin over whole calls against the mock (on the test's loop):
 * concurrency and its queue (full, timeout, priorities, aging), RPM pacing
 * measured on the loop's clock, TPM reservations and refunds, unfittable
 * calls, pacing from the mock's simulated provider limit (zero 429s with
 * the plugin, 429s without), and Retry-After pauses.
 *
 * Timing assertions are lower bounds (a limit must hold calls back at least
 * this long) with generous upper bounds, so they hold under ASan and
 * valgrind, which only make everything slower. */
#include <stdlib.h>
#include <string.h>

#include "chain_fixture.h"
#include "llmrt.h"
#include "llmrt_mock.h"
#include "test.h"

typedef struct {
  int idx;
  int done, status;
  char errmsg[512];
  double wait_ms; /* the limits.wait_ms attribute, -1 if absent */
  uint64_t done_ms;
  uint64_t queued_us;
} rec_t;

static uv_loop_t loop;
static llmrt_t *rt;
static llmrt_mock_t *mock;
static int n_done;
static int order[256];
static uint64_t t0;

static void on_stopped(llmrt_mock_t *m, void *u) {
  (void)m, (void)u;
}

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  (void)call;
  rec_t *r = user;
  r->done++;
  r->status = status;
  if (status) ASSERT(res->error_message != NULL);
  snprintf(r->errmsg, sizeof r->errmsg, "%s", res->error_message ? res->error_message : "");
  r->wait_ms = -1;
  for (size_t i = 0; i < res->n_attrs; i++)
    if (!strcmp(res->attrs[i].name, "limits.wait_ms")) r->wait_ms = res->attrs[i].num;
  r->done_ms = uv_now(&loop) - t0;
  r->queued_us = res->timings.queued_us;
  if (n_done < 256) order[n_done] = r->idx;
  n_done++;
}

static const llmrt_callbacks_t cbs = {NULL, NULL, on_done};

/* A mock with `controls` and a runtime whose upstream "m" speaks `api`,
 * with `plugins` (a JSON array's inside). */
static void setup(const char *api, const char *controls, const char *plugins) {
  ASSERT_EQ(uv_loop_init(&loop), 0);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = controls;
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mock), 0);
  ASSERT_EQ(llmrt_new(&loop, NULL, &rt), 0);
  setenv("LIMITS_TEST_KEY", "sk-test-0123", 1);
  char cfg[2048], err[256] = "";
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api\":\"%s\",\"api_key_env\":"
           "\"LIMITS_TEST_KEY\",\"max_connections\":256}},\"plugins\":[%s]}",
           llmrt_mock_url(mock), api, plugins);
  if (llmrt_configure(rt, cfg, err, sizeof err) != 0) TEST_FAIL_("configure: %s", err);
  n_done = 0;
  t0 = uv_now(&loop);
}

static void teardown(void) {
  int closed = 0;
  llmrt_mock_stop(mock, on_stopped, NULL);
  llmrt_close(rt, chainfx_on_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static llmrt_message_t msg = {.role = "user", .content = "hi"};

static void start(rec_t *r, int idx, int32_t max_tokens, int32_t priority) {
  memset(r, 0, sizeof *r);
  r->idx = idx;
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.struct_size = sizeof req; /* priority is a field added after ABI 2.0 */
  req.model = "mock";
  req.messages = &msg;
  req.n_messages = 1;
  req.stream = 1;
  req.max_tokens = max_tokens;
  req.priority = priority;
  ASSERT_EQ(llmrt_call(rt, &req, &cbs, r, NULL), 0);
}

static void run_until(int n) {
  while (n_done < n)
    ASSERT(uv_run(&loop, UV_RUN_ONCE) != 0 || n_done >= n);
}

static double metric(const char *name) {
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  double v = 0; /* a counter never incremented is not printed: it is 0 */
  for (const char *p = text; (p = strstr(p, name)); p++) {
    if ((p == text || p[-1] == '\n') && p[strlen(name)] == ' ') {
      v = strtod(p + strlen(name) + 1, NULL);
      break;
    }
  }
  llmrt_free(text);
  return v;
}

static int slow(void) {
  return getenv("LLMRT_TEST_SLOW") != NULL;
}

/* ---- Concurrency ---- */

static rec_t recs[1000];

static void test_thousand_calls_never_exceed_eight(void) {
  int n = slow() ? 200 : 1000;
  setup("openai", "ttft_ms=2,token_ms=1,tokens=4",
        "{\"name\":\"limits\",\"adaptive\":false,\"queue\":{\"max_length\":2000},"
        "\"limits\":[{\"per\":\"upstream\",\"max_in_flight\":8}]}");
  for (int i = 0; i < n; i++)
    start(&recs[i], i, 0, 0);
  run_until(n);
  for (int i = 0; i < n; i++) {
    ASSERT_EQ(recs[i].done, 1);
    if (recs[i].status) TEST_FAIL_("call %d: %s", i, recs[i].errmsg);
  }
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.completions, (uint64_t)n);
  ASSERT_LE(st.active_max, 8);
  ASSERT_EQ(st.active_max, 8); /* and the limit is used, not undershot */
  ASSERT_EQ(metric("llmrt_limits_in_flight"), 0);
  ASSERT_EQ(metric("llmrt_limits_queued"), 0);
  teardown();
}

/* The same burst without the plugin goes past 8: the assertion above can fail. */
/* Failed attempts give their slot back whichever side of limits retry sits
 * on, and calls still queued when the runtime closes end once each. */
static void slots_across_retries(const char *plugins) {
  setup("openai", "status=503", plugins);
  for (int i = 0; i < 6; i++)
    start(&recs[i], i, 0, 0);
  run_until(6);
  for (int i = 0; i < 6; i++) {
    ASSERT_EQ(recs[i].done, 1);
    ASSERT_ERR(recs[i].status, LLMRT_EOVERLOADED);
  }
  ASSERT_EQ(metric("llmrt_limits_in_flight"), 0);
  ASSERT_EQ(metric("llmrt_limits_queued"), 0);
  ASSERT_EQ(llmrt_mock_set_controls(mock, "ttft_ms=3000,tokens=2"), 0);
  for (int i = 0; i < 4; i++)
    start(&recs[i], i, 0, 0);
  for (int i = 0; i < 5; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_EQ(metric("llmrt_limits_in_flight"), 1);
  ASSERT_EQ(metric("llmrt_limits_queued"), 3);
  teardown(); /* closes with one call in flight and three queued */
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(recs[i].done, 1);
}

#define LIM1                                                                                       \
  "{\"name\":\"limits\",\"adaptive\":false,\"limits\":[{\"per\":\"upstream\",\"max_in_flight\":1}" \
  "]}"
#define RETRY3 "{\"name\":\"retry\",\"max_attempts\":3,\"base_delay_ms\":1,\"max_delay_ms\":2}"

static void test_slots_across_retries(void) {
  slots_across_retries(RETRY3 "," LIM1);
  slots_across_retries(LIM1 "," RETRY3);
}

static void test_without_plugin_exceeds_eight(void) {
  setup("openai", "ttft_ms=20,tokens=4", "");
  for (int i = 0; i < 50; i++)
    start(&recs[i], i, 0, 0);
  run_until(50);
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_GE(st.active_max, 9);
  teardown();
}

static void test_queue_full(void) {
  setup("openai", "ttft_ms=200,tokens=2",
        "{\"name\":\"limits\",\"adaptive\":false,\"queue\":{\"max_length\":2},"
        "\"limits\":[{\"per\":\"upstream\",\"max_in_flight\":1}]}");
  for (int i = 0; i < 4; i++)
    start(&recs[i], i, 0, 0);
  run_until(1);
  ASSERT_EQ(order[0], 3); /* the fourth fails at once, before the first ends */
  ASSERT_ERR(recs[3].status, LLMRT_EQUEUEFULL);
  ASSERT_CONTAINS(recs[3].errmsg, "queue full");
  ASSERT_CONTAINS(recs[3].errmsg, "max_in_flight 1 of upstream \"m\"");
  run_until(4);
  for (int i = 0; i < 3; i++)
    ASSERT_ERR(recs[i].status, 0);
  ASSERT_CONTAINS(recs[3].errmsg, "limits");
  ASSERT_EQ(metric("llmrt_limits_rejected_total{reason=\"queue_full\"}"), 1);
  teardown();
}

static void test_queue_timeout(void) {
  setup("openai", "ttft_ms=1500,tokens=2",
        "{\"name\":\"limits\",\"adaptive\":false,\"queue\":{\"timeout_ms\":150},"
        "\"limits\":[{\"per\":\"model\",\"max_in_flight\":1}]}");
  start(&recs[0], 0, 0, 0);
  start(&recs[1], 1, 0, 0);
  run_until(1);
  ASSERT_EQ(order[0], 1);
  ASSERT_ERR(recs[1].status, LLMRT_EQUEUETIMEOUT);
  ASSERT_CONTAINS(recs[1].errmsg, "queue timeout: waited 150 ms");
  ASSERT_CONTAINS(recs[1].errmsg, "max_in_flight 1 of model \"mock\" on \"m\"");
  ASSERT_GE(recs[1].done_ms, 150);
  ASSERT_GE(recs[1].queued_us, 150000);
  ASSERT_GE(recs[1].wait_ms, 150);
  run_until(2);
  ASSERT_ERR(recs[0].status, 0);
  ASSERT_EQ(recs[0].wait_ms, 0);
  ASSERT_EQ(metric("llmrt_limits_rejected_total{reason=\"queue_timeout\"}"), 1);
  teardown();
}

static void test_priorities(void) {
  setup("openai", "ttft_ms=30,tokens=2",
        "{\"name\":\"limits\",\"adaptive\":false,\"queue\":{\"max_age_ms\":60000},"
        "\"limits\":[{\"per\":\"upstream\",\"max_in_flight\":1}]}");
  static const int32_t prio[] = {0, 1, 5, 9, 5, 0, 9};
  for (int i = 0; i < 7; i++)
    start(&recs[i], i, 0, prio[i]);
  run_until(7);
  /* The first goes at once; then higher first, FIFO within a priority. */
  static const int want[] = {0, 3, 6, 2, 4, 1, 5};
  for (int i = 0; i < 7; i++) {
    ASSERT_ERR(recs[i].status, 0);
    if (order[i] != want[i]) TEST_FAIL_("position %d: call %d, want %d", i, order[i], want[i]);
  }
  teardown();
}

static void test_aging_prevents_starvation(void) {
  setup("openai", "ttft_ms=40,tokens=2",
        "{\"name\":\"limits\",\"adaptive\":false,\"queue\":{\"max_age_ms\":100},"
        "\"limits\":[{\"per\":\"upstream\",\"max_in_flight\":1}]}");
  start(&recs[0], 0, 0, 0);
  start(&recs[1], 1, 0, -5); /* the low one, queued first */
  for (int i = 2; i < 12; i++)
    start(&recs[i], i, 0, 9);
  run_until(12);
  int pos = -1;
  for (int i = 0; i < 12; i++)
    if (order[i] == 1) pos = i;
  /* Without aging it would be last (11): once it waited 100 ms it goes
   * before the high ones still queued. */
  ASSERT_GE(pos, 1); /* 1 when everything runs slowly (valgrind): aged at once */
  ASSERT_LE(pos, 6);
  teardown();
}

/* ---- Budgets ---- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_rpm_paces_a_burst(void) {
  /* 1200 a minute, a bucket of 1: one call every 50 ms. */
  setup("openai", "tokens=2",
        "{\"name\":\"limits\",\"adaptive\":false,"
        "\"limits\":[{\"per\":\"upstream\",\"rpm\":1200,\"rpm_burst\":1}]}");
  for (int i = 0; i < 8; i++)
    start(&recs[i], i, 0, 0);
  run_until(8);
  uint64_t done[8];
  for (int i = 0; i < 8; i++) {
    ASSERT_ERR(recs[i].status, 0);
    done[i] = recs[i].done_ms;
  }
  qsort(done, 8, sizeof done[0], cmp_u64);
  /* The k-th answer cannot come before the k-th admission at k * 50 ms (on
   * the loop's clock, which the bucket also uses). */
  for (int k = 0; k < 8; k++)
    ASSERT_GE(done[k] + 1, (uint64_t)k * 50);
  ASSERT_LE(done[7], 350 + 5000);
  teardown();
}

static void test_tpm_reserves_and_refunds(void) {
  /* Each call reserves its prompt's estimate (8 tokens for "hi") plus
   * max_tokens 500 = 508: four fit in 2040, a fifth does not. The mock
   * answers 5 tokens: the refunds let the next ones in long before the
   * bucket would refill (a minute). */
  setup("openai", "ttft_ms=100,tokens=5",
        "{\"name\":\"limits\",\"adaptive\":false,"
        "\"limits\":[{\"per\":\"upstream\",\"tpm\":2040}]}");
  for (int i = 0; i < 10; i++)
    start(&recs[i], i, 500, 0);
  run_until(10);
  for (int i = 0; i < 10; i++)
    ASSERT_ERR(recs[i].status, 0);
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.active_max, 4);
  ASSERT_LE(recs[9].done_ms, 20000);
  ASSERT_GE(metric("llmrt_limits_reserved_tokens_total"), 10 * 508);
  ASSERT_GE(metric("llmrt_limits_refunded_tokens_total"), 10 * 400);
  teardown();
}

static void on_tick(uv_timer_t *t) {
  (void)t;
}

static void run_for(uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, on_tick, ms, 0);
  while (uv_is_active((uv_handle_t *)&t))
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT); /* the close completes before t goes */
}

static void test_cut_short_keeps_its_reservation(void) {
  /* 1100 tokens: two reservations of 508 fit. The first call is canceled
   * mid-stream: no refund, so after it only one more fits at once. */
  setup("openai", "token_ms=40,tokens=20",
        "{\"name\":\"limits\",\"adaptive\":false,\"queue\":{\"timeout_ms\":300},"
        "\"limits\":[{\"per\":\"upstream\",\"tpm\":1100}]}");
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "mock";
  req.messages = &msg;
  req.n_messages = 1;
  req.stream = 1;
  req.max_tokens = 500;
  uint64_t id;
  memset(&recs[0], 0, sizeof recs[0]);
  ASSERT_EQ(llmrt_call(rt, &req, &cbs, &recs[0], &id), 0);
  run_for(100);
  ASSERT_EQ(recs[0].done, 0);
  ASSERT_EQ(llmrt_cancel(rt, id), 0);
  run_until(1);
  ASSERT_ERR(recs[0].status, LLMRT_ECANCELED);
  ASSERT_EQ(metric("llmrt_limits_refunded_tokens_total"), 0);
  start(&recs[1], 1, 500, 0);
  start(&recs[2], 2, 500, 0);
  run_until(3);
  ASSERT_ERR(recs[1].status, 0);
  ASSERT_ERR(recs[2].status, LLMRT_EQUEUETIMEOUT);
  ASSERT_CONTAINS(recs[2].errmsg, "the tokens budget (1100) of upstream \"m\"");
  teardown();
}

static void test_unfittable_fails_at_once(void) {
  setup("openai", "tokens=2",
        "{\"name\":\"limits\",\"adaptive\":false,\"default_max_tokens\":4000,"
        "\"limits\":[{\"per\":\"upstream\",\"tpm\":1000}]}");
  start(&recs[0], 0, 2000, 0);
  start(&recs[1], 1, 0, 0); /* default_max_tokens 4000 */
  start(&recs[2], 2, 100, 0);
  run_until(3);
  ASSERT_ERR(recs[0].status, LLMRT_ELIMITUNFIT);
  ASSERT_CONTAINS(recs[0].errmsg, "reserves 2008 tokens, more than upstream \"m\" allows (1000)");
  ASSERT_ERR(recs[1].status, LLMRT_ELIMITUNFIT);
  ASSERT_ERR(recs[2].status, 0);
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.requests, 1);
  ASSERT_LE(recs[0].done_ms, 1000);
  teardown();
}

static void test_tenant_limits_apart(void) {
  setup("openai", "ttft_ms=50,tokens=2",
        "{\"name\":\"limits\",\"adaptive\":false,"
        "\"limits\":[{\"per\":\"tenant\",\"max_in_flight\":1}]}");
  /* Two tenants, three calls each: at most two in flight at once, so the
   * mock sees two at a time, never three. */
  for (int i = 0; i < 6; i++) {
    memset(&recs[i], 0, sizeof recs[i]);
    recs[i].idx = i;
    llmrt_request_t req;
    llmrt_request_init(&req);
    req.model = "mock";
    req.messages = &msg;
    req.n_messages = 1;
    req.tenant = i % 2 ? "beta" : "acme";
    ASSERT_EQ(llmrt_call(rt, &req, &cbs, &recs[i], NULL), 0);
  }
  run_until(6);
  for (int i = 0; i < 6; i++)
    ASSERT_ERR(recs[i].status, 0);
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.active_max, 2);
  teardown();
}

/* ---- Pacing from the provider's headers ---- */

static int count_status(int n, int status) {
  int k = 0;
  for (int i = 0; i < n; i++)
    k += recs[i].status == status;
  return k;
}

static void burst_against_simulated_limit(const char *api, const char *controls, int n,
                                          int32_t max_tokens) {
  /* Without the plugin: the burst meets 429s. */
  setup(api, controls, "");
  for (int i = 0; i < n; i++)
    start(&recs[i], i, max_tokens, 0);
  run_until(n);
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_GE(st.rate_limited, 1);
  ASSERT_GE(count_status(n, LLMRT_ERATELIMIT), 1);
  teardown();

  /* With it: none, and every call succeeds. */
  setup(api, controls, "{\"name\":\"limits\",\"adaptive\":{\"window_ms\":1000}}");
  for (int i = 0; i < n; i++)
    start(&recs[i], i, max_tokens, 0);
  run_until(n);
  llmrt_mock_stats(mock, &st);
  for (int i = 0; i < n; i++)
    if (recs[i].status) TEST_FAIL_("%s call %d: %s", api, i, recs[i].errmsg);
  ASSERT_EQ(st.rate_limited, 0);
  ASSERT_EQ(st.completions, (uint64_t)n);
  ASSERT_GE(metric("llmrt_limits_paced_total"), 1);
  ASSERT_EQ(metric("llmrt_limits_upstream_429_total"), 0);
  teardown();
}

static void test_adaptive_requests_openai(void) {
  /* 20 requests a second: 60 calls need two seconds past the first 20. */
  burst_against_simulated_limit("openai", "rl_rpm=20,rl_window_ms=1000,tokens=3", 60, 0);
}

static void test_adaptive_tokens_anthropic(void) {
  /* 400 tokens a second; each call costs 2 + 20 at the mock. */
  burst_against_simulated_limit("anthropic", "rl_tpm=400,rl_window_ms=1000,tokens=20", 30, 20);
}

static void test_retry_after_pauses(void) {
  setup("openai", "status=429,retry_after=1,fail_first=1,tokens=2", "{\"name\":\"limits\"}");
  start(&recs[0], 0, 0, 0);
  run_until(1);
  ASSERT_ERR(recs[0].status, LLMRT_ERATELIMIT);
  uint64_t t429 = uv_now(&loop) - t0;
  start(&recs[1], 1, 0, 0);
  run_until(2);
  ASSERT_ERR(recs[1].status, 0);
  /* Retry-After: 1 held the next call back about a second. */
  ASSERT_GE(recs[1].done_ms, t429 + 900);
  ASSERT_GE(recs[1].wait_ms, 900);
  ASSERT_GE(recs[1].queued_us, 900000);
  ASSERT_EQ(metric("llmrt_limits_upstream_429_total"), 1);
  ASSERT_EQ(metric("llmrt_limits_paced_total"), 1);
  teardown();
}

/* ---- Loading and configuration ---- */

static void test_loaded_as_so(void) {
  setup("openai", "ttft_ms=20,tokens=2",
        "{\"name\":\"" LLMRT_BINARY_DIR "/plugins/limits.so\",\"adaptive\":false,"
        "\"limits\":[{\"per\":\"upstream\",\"max_in_flight\":2}]}");
  for (int i = 0; i < 10; i++)
    start(&recs[i], i, 0, 0);
  run_until(10);
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mock, &st);
  ASSERT_EQ(st.active_max, 2);
  teardown();
}

static void bad_config(const char *plugin, const char *want) {
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(llmrt_new(&loop, NULL, &rt), 0);
  char cfg[1024], err[512] = "";
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"http://127.0.0.1:9/v1\"}},\"plugins\":[%s]}",
           plugin);
  ASSERT(llmrt_configure(rt, cfg, err, sizeof err) != 0);
  ASSERT_CONTAINS(err, want);
  int closed = 0;
  llmrt_close(rt, chainfx_on_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void test_config_errors(void) {
  bad_config("{\"name\":\"limits\",\"limit\":[]}", "unknown key \"limit\"");
  bad_config("{\"name\":\"limits\",\"limits\":[{\"per\":\"region\",\"rpm\":1}]}",
             "limits[0].per must be");
  bad_config("{\"name\":\"limits\",\"limits\":[{\"per\":\"model\"}]}", "sets no limit");
  bad_config("{\"name\":\"limits\",\"limits\":[{\"per\":\"model\",\"rpm\":-1}]}",
             "limits[0].rpm must be an integer");
  bad_config("{\"name\":\"limits\",\"queue\":{\"timeout_ms\":0}}", "queue.timeout_ms");
  bad_config("{\"name\":\"limits\",\"adaptive\":{\"window\":1}}", "adaptive: unknown key");
}

int main(void) {
  RUN_TEST(test_config_errors);
  RUN_TEST(test_thousand_calls_never_exceed_eight);
  RUN_TEST(test_slots_across_retries);
  RUN_TEST(test_without_plugin_exceeds_eight);
  RUN_TEST(test_queue_full);
  RUN_TEST(test_queue_timeout);
  RUN_TEST(test_priorities);
  RUN_TEST(test_aging_prevents_starvation);
  RUN_TEST(test_rpm_paces_a_burst);
  RUN_TEST(test_tpm_reserves_and_refunds);
  RUN_TEST(test_cut_short_keeps_its_reservation);
  RUN_TEST(test_unfittable_fails_at_once);
  RUN_TEST(test_tenant_limits_apart);
  RUN_TEST(test_adaptive_requests_openai);
  RUN_TEST(test_adaptive_tokens_anthropic);
  RUN_TEST(test_retry_after_pauses);
  RUN_TEST(test_loaded_as_so);
  return 0;
}
