/* retry v2 against the mock: the upstream's word on waiting (Retry-After in
 * seconds and as a date, retry-after-ms first, x-should-retry both ways),
 * the per-call time budget, retries before and never after content, the
 * per-upstream retry budget, and the idempotency key. Times are on the
 * loop's clock. */
#include "resil_fixture.h"

#define RETRY(extra)                                                                               \
  "{\"name\":\"retry\",\"max_attempts\":4,\"base_delay_ms\":5,\"max_delay_ms\":50" extra "}"

static void setup1(const char *plugins, const char *controls) {
  char err[512];
  const char *c[1] = {controls};
  if (rfx_setup("o", c, plugins, err, sizeof err)) TEST_FAIL_("configure: %s", err);
}

static void test_retry_after_seconds(void) {
  rcall_t r;
  setup1(RETRY(""), NULL);
  rfx_call(&r, NULL, "status=429,retry_after=1,fail_first=1,id=ra1");
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  ASSERT_EQ(r.c.attempts, 2);
  ASSERT_GE(r.t_ms, 990);
  ASSERT_LE(r.t_ms, 1000 + 1500 * SLOWX);
  ASSERT_CONTAINS(rfx_attr(&r, "retry.delays"), "1000:status 429, retry-after");
  ASSERT_STR_EQ(rfx_attr(&r, "retry.attempts"), "2");
  rfx_teardown();
}

static void test_retry_after_ms_wins(void) {
  rcall_t r;
  setup1(RETRY(""), NULL);
  rfx_call(&r, NULL, "status=503,retry_after=5,retry_after_ms=150,fail_first=1,id=ms");
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  ASSERT_EQ(r.c.attempts, 2);
  ASSERT_GE(r.t_ms, 145);
  ASSERT_LE(r.t_ms, 150 + 1500 * SLOWX); /* not the 5 s of Retry-After */
  ASSERT_CONTAINS(rfx_attr(&r, "retry.delays"), "150:status 503, retry-after-ms");
  rfx_teardown();
}

static void test_retry_after_http_date(void) {
  rcall_t r;
  setup1(RETRY(""), NULL);
  /* A date 2 s ahead, with one-second resolution: a wait of 1 to 2 s. */
  rfx_call(&r, NULL, "status=503,retry_after_date=2,fail_first=1,id=date");
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  ASSERT_EQ(r.c.attempts, 2);
  ASSERT_GE(r.t_ms, 900);
  ASSERT_LE(r.t_ms, 2000 + 1500 * SLOWX);
  ASSERT_CONTAINS(rfx_attr(&r, "retry.delays"), "retry-after-date");
  /* The obsolete forms a server may still send. */
  rfx_call(&r, NULL, "status=503,retry_after_date=1,date_form=rfc850,fail_first=1,id=d850");
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  ASSERT_CONTAINS(rfx_attr(&r, "retry.delays"), "retry-after-date");
  ASSERT_LE(r.t_ms, 1000 + 1500 * SLOWX);
  rfx_call(&r, NULL, "status=503,retry_after_date=1,date_form=asctime,fail_first=1,id=dasc");
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  ASSERT_CONTAINS(rfx_attr(&r, "retry.delays"), "retry-after-date");
  rfx_teardown();
}

static void test_delay_past_budget(void) {
  rcall_t r;
  setup1(RETRY(",\"time_budget_ms\":1000,\"max_server_delay_ms\":600000"), NULL);
  rfx_call(&r, NULL, "status=429,retry_after=30,id=past");
  ASSERT_ERR(r.c.status, LLMRT_ERATELIMIT);
  ASSERT_EQ(r.c.attempts, 1);
  ASSERT_LE(r.t_ms, 500 * SLOWX); /* at once, not after a sleep */
  ASSERT_CONTAINS(r.c.errmsg, "asked for a wait of 30000 ms (retry-after)");
  ASSERT_CONTAINS(r.c.errmsg, "time budget");
  ASSERT_STR_EQ(rfx_attr(&r, "retry.gave_up"), "time_budget");
  rfx_teardown();
  /* The ceiling on honored delays says so too. */
  setup1(RETRY(",\"max_server_delay_ms\":2000"), NULL);
  rfx_call(&r, NULL, "status=429,retry_after=30,id=ceil");
  ASSERT_ERR(r.c.status, LLMRT_ERATELIMIT);
  ASSERT_CONTAINS(r.c.errmsg, "max_server_delay_ms");
  rfx_teardown();
}

static void test_should_retry_header(void) {
  rcall_t r;
  setup1(RETRY(""), NULL);
  rfx_call(&r, NULL, "status=500,should_retry=false,fail_first=1,id=sr0");
  ASSERT(r.c.status != 0);
  ASSERT_EQ(r.c.attempts, 1);
  ASSERT_EQ(rfx_requests(0), 1);
  rfx_call(&r, NULL, "status=400,should_retry=true,fail_first=1,id=sr1");
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  ASSERT_EQ(r.c.attempts, 2);
  ASSERT_CONTAINS(rfx_attr(&r, "retry.reason"), "status 400, x-should-retry");
  /* Without the header a 400 is the caller's fault: not retried. */
  rfx_call(&r, NULL, "status=400,fail_first=1,id=sr2");
  ASSERT_ERR(r.c.status, LLMRT_EUPSTREAM);
  ASSERT_EQ(r.c.attempts, 1);
  rfx_teardown();
}

static void test_reset_before_and_after_content(void) {
  rcall_t r, clean;
  setup1(RETRY(""), NULL);
  rfx_call(&clean, NULL, "id=clean");
  rfx_call(&r, NULL, "fault=reset,after=0,fail_first=1,id=rb");
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  ASSERT_EQ(r.c.attempts, 2);
  /* One clean stream: every token once, as an unfailed call sees them. */
  ASSERT_EQ(r.c.n_tokens, clean.c.n_tokens);
  ASSERT_STR_EQ(r.c.tokens, clean.c.tokens);
  ASSERT_STR_EQ(r.c.text, clean.c.text);
  rfx_call(&r, NULL, "fault=reset,after=3,token_ms=30,fail_first=1,id=ra");
  if (r.c.status != LLMRT_ECONNRESET && r.c.status != LLMRT_ECLOSED)
    TEST_FAIL_("got %s: %s", llmrt_err_name(r.c.status), r.c.errmsg);
  ASSERT_EQ(r.c.attempts, 1);
  ASSERT_EQ(r.c.n_tokens, 3);
  ASSERT_STR_EQ(r.c.text, r.c.tokens); /* the partial text is kept */
  ASSERT_STR_EQ(rfx_attr(&r, "retry.gave_up"), "committed");
  rfx_teardown();
}

static void test_time_budget_exhausted(void) {
  rcall_t r;
  setup1("{\"name\":\"retry\",\"max_attempts\":100,\"base_delay_ms\":80,\"max_delay_ms\":80,"
         "\"time_budget_ms\":400,\"retry_budget\":false}",
         "status=503");
  rfx_call(&r, NULL, NULL);
  ASSERT_ERR(r.c.status, LLMRT_EOVERLOADED);
  ASSERT_CONTAINS(r.c.errmsg, "time budget (time_budget_ms 400) is spent");
  ASSERT(r.c.attempts > 1 && r.c.attempts < 100);
  ASSERT_LE(r.t_ms, 400 + 1000 * SLOWX);
  rfx_teardown();
}

static void test_retry_budget_caps_retries(void) {
  rcall_t r;
  int refused = 0;
  /* Without a budget, 20 calls of 3 attempts each: 60 requests. */
  setup1("{\"name\":\"retry\",\"max_attempts\":3,\"base_delay_ms\":1,\"max_delay_ms\":1,"
         "\"retry_budget\":{\"ratio\":0.1,\"window_ms\":60000,\"min_retries\":2}}",
         "status=503");
  for (int i = 0; i < 20; i++) {
    rfx_call(&r, NULL, NULL);
    ASSERT(r.c.status != 0);
    if (strstr(r.c.errmsg, "retry budget of upstream 'a' is spent")) {
      refused++;
      ASSERT_STR_EQ(rfx_attr(&r, "retry.budget_refused"), "1");
    }
  }
  /* At most min_retries + ratio * calls = 2 + 0.1 * 20 retries. */
  ASSERT_GE(rfx_requests(0), 20);
  ASSERT_LE(rfx_requests(0), 24);
  ASSERT_GE(refused, 16);
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  ASSERT_CONTAINS(text, "llmrt_retry_budget_refused_total{upstream=\"a\"}");
  llmrt_free(text);
  rfx_teardown();
}

static void test_idempotency_key(void) {
  rcall_t r;
  setup1(RETRY(",\"idempotency_header\":\"Idempotency-Key\""), NULL);
  ASSERT_EQ(llmrt_mock_record_header(mocks[0], "idempotency-key"), 0);
  rfx_call(&r, NULL, "status=503,fail_first=2,id=ik1");
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  rfx_call(&r, NULL, "id=ik2");
  ASSERT_EQ(llmrt_mock_n_recorded(mocks[0]), 4);
  const char *k0 = llmrt_mock_recorded(mocks[0], 0);
  ASSERT(strlen(k0) >= 16);
  ASSERT_STR_EQ(llmrt_mock_recorded(mocks[0], 1), k0);
  ASSERT_STR_EQ(llmrt_mock_recorded(mocks[0], 2), k0);
  ASSERT(strcmp(llmrt_mock_recorded(mocks[0], 3), k0) != 0);
  rfx_teardown();
  /* Off by default: no such header at all. */
  setup1(RETRY(""), NULL);
  ASSERT_EQ(llmrt_mock_record_header(mocks[0], "idempotency-key"), 0);
  rfx_call(&r, NULL, NULL);
  ASSERT_STR_EQ(llmrt_mock_recorded(mocks[0], 0), "");
  rfx_teardown();
}

static void test_configured_statuses_and_errors(void) {
  rcall_t r;
  setup1(RETRY(",\"retry_on_status\":[503],\"retry_on_errors\":[\"ECONNRESET\"]"), NULL);
  rfx_call(&r, NULL, "status=429,fail_first=1,id=c1");
  ASSERT_ERR(r.c.status, LLMRT_ERATELIMIT);
  ASSERT_EQ(r.c.attempts, 1);
  rfx_call(&r, NULL, "status=503,fail_first=1,id=c2");
  ASSERT_EQ(r.c.status, 0);
  ASSERT_EQ(r.c.attempts, 2);
  rfx_call(&r, NULL, "fault=eof,after=0,fail_first=1,id=c3");
  ASSERT(r.c.status != 0); /* ECLOSED is not in the list */
  ASSERT_EQ(r.c.attempts, 1);
  rfx_teardown();
  char err[512];
  ASSERT(rfx_setup("o", NULL, RETRY(",\"retry_on_errors\":[\"EBOGUS\"]"), err, sizeof err) != 0);
  ASSERT_CONTAINS(err, "EBOGUS");
  rfx_teardown();
  ASSERT(rfx_setup("o", NULL, RETRY(",\"retry_on_status\":[200]"), err, sizeof err) != 0);
  ASSERT_CONTAINS(err, "retry_on_status");
  rfx_teardown();
}

static void test_529_and_metrics(void) {
  rcall_t r;
  setup1(RETRY(""), NULL);
  rfx_call(&r, NULL, "status=529,fail_first=2,id=529");
  if (r.c.status) TEST_FAIL_("%s", r.c.errmsg);
  ASSERT_EQ(r.c.attempts, 3);
  ASSERT_CONTAINS(rfx_attr(&r, "retry.delays"), "status 529");
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  ASSERT_CONTAINS(text, "llmrt_retries_total{upstream=\"a\",reason=\"status\"} 2");
  ASSERT_CONTAINS(text, "llmrt_retry_delay_seconds_count{upstream=\"a\"} 2");
  llmrt_free(text);
  rfx_teardown();
}

int main(void) {
  RUN_TEST(test_retry_after_seconds);
  RUN_TEST(test_retry_after_ms_wins);
  RUN_TEST(test_retry_after_http_date);
  RUN_TEST(test_delay_past_budget);
  RUN_TEST(test_should_retry_header);
  RUN_TEST(test_reset_before_and_after_content);
  RUN_TEST(test_time_budget_exhausted);
  RUN_TEST(test_retry_budget_caps_retries);
  RUN_TEST(test_idempotency_key);
  RUN_TEST(test_configured_statuses_and_errors);
  RUN_TEST(test_529_and_metrics);
  return 0;
}
