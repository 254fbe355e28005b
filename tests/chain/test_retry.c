/* The built-in retry plugin, loaded by its built-in name and as a .so by
 * path, against mock faults. */
#include <stdlib.h>
#include <string.h>

#include "chain_fixture.h"
#include "llmrt.h"
#include "llmrt_mock.h"
#include "test.h"

typedef chainfx_call_t res_t;

static uv_loop_t loop;
static llmrt_t *rt;
static llmrt_mock_t *mock;
static int closed;

static void on_stopped(llmrt_mock_t *m, void *u) {
}

static int setup(const char *plugin, const char *controls, char *err, size_t errlen) {
  closed = 0;
  uv_loop_init(&loop);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = controls;
  ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mock), 0);
  ASSERT_EQ(llmrt_new(&loop, NULL, &rt), 0);
  setenv("RETRY_TEST_KEY", "k", 1);
  char cfg[1024];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"RETRY_TEST_KEY\"}},"
           "\"plugins\":[%s]}",
           llmrt_mock_url(mock), plugin);
  return llmrt_configure(rt, cfg, err, errlen);
}

static void teardown(void) {
  llmrt_mock_stop(mock, on_stopped, NULL);
  llmrt_close(rt, chainfx_on_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void call(res_t *r, const char *upstream_api) {
  chainfx_call_init(r);
  llmrt_message_t m = {.role = "user", .content = "retry me"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "mock";
  req.messages = &m;
  req.n_messages = 1;
  req.stream = 1;
  ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, r, NULL), 0);
  while (!r->done) uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(r->done, 1);
}

#define FAST                                                                                       \
  "{\"name\":\"retry\",\"max_attempts\":4,\"base_delay_ms\":5,\"max_delay_ms\":2000,"              \
  "\"max_server_delay_ms\":2000}"

static void test_transient_then_success(const char *plugin) {
  res_t r;
  char err[256];
  ASSERT_EQ(setup(plugin, "status=503,fail_first=2", err, sizeof err), 0);
  call(&r, "openai");
  if (r.status) TEST_FAIL_("attempt %d: %s", r.attempts, r.errmsg);
  ASSERT_EQ(r.attempts, 3);
  char *text;
  size_t len;
  ASSERT_EQ(llmrt_metrics_text(rt, &text, &len), 0);
  ASSERT_CONTAINS(text, "llmrt_retries_total{upstream=\"m\",reason=\"status\"} 2");
  llmrt_free(text);
  teardown();
}

static void test_builtin(void) {
  test_transient_then_success(FAST);
}

static void test_loaded_as_so(void) {
  test_transient_then_success("{\"name\":\"" LLMRT_BINARY_DIR "/plugins/retry.so\","
                              "\"max_attempts\":4,\"base_delay_ms\":5}");
}

static void test_not_retried(void) {
  res_t r;
  char err[256];
  ASSERT_EQ(setup(FAST, "status=400", err, sizeof err), 0);
  call(&r, "openai");
  ASSERT_ERR(r.status, LLMRT_EUPSTREAM);
  ASSERT_EQ(r.attempts, 1);
  teardown();
  ASSERT_EQ(setup(FAST, "status=401", err, sizeof err), 0);
  call(&r, "openai");
  ASSERT_ERR(r.status, LLMRT_EAUTH);
  ASSERT_EQ(r.attempts, 1);
  teardown();
}

static void test_exhausted(void) {
  res_t r;
  char err[256];
  ASSERT_EQ(setup("{\"name\":\"retry\",\"max_attempts\":2,\"base_delay_ms\":5}", "status=503", err,
                  sizeof err),
            0);
  call(&r, "openai");
  ASSERT(r.status != 0);
  ASSERT_EQ(r.attempts, 2);
  teardown();
}

static void test_retry_after(void) {
  res_t r;
  char err[256];
  ASSERT_EQ(setup(FAST, "status=429,retry_after=1,fail_first=1", err, sizeof err), 0);
  uint64_t t0 = uv_hrtime();
  call(&r, "openai");
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  if (r.status) TEST_FAIL_("%s", r.errmsg);
  ASSERT_EQ(r.attempts, 2);
  ASSERT_GE(ms, 950); /* waited as the server asked, not the 5 ms backoff */
  teardown();

  /* Longer than max_server_delay_ms: give up at once with the upstream's error
   * code and a message that says why. */
  ASSERT_EQ(setup(FAST, "status=429,retry_after=30", err, sizeof err), 0);
  call(&r, "openai");
  ASSERT_ERR(r.status, LLMRT_ERATELIMIT);
  ASSERT_EQ(r.attempts, 1);
  ASSERT_CONTAINS(r.errmsg, "max_server_delay_ms");
  teardown();
}

static void test_reset_before_and_after_commit(void) {
  res_t r;
  char err[256];
  /* Reset before any token: invisible to the user, retried. */
  ASSERT_EQ(setup(FAST, "fault=reset,after=0,fail_first=1", err, sizeof err), 0);
  call(&r, "openai");
  if (r.status) TEST_FAIL_("%s", r.errmsg);
  ASSERT_EQ(r.attempts, 2);
  teardown();
  /* Reset after tokens reached the user (paced, so they are read before the
   * RST discards anything unread): never retried, no token twice. */
  ASSERT_EQ(setup(FAST, "fault=reset,after=3,token_ms=30,fail_first=1", err, sizeof err), 0);
  call(&r, "openai");
  if (r.status != LLMRT_ECONNRESET && r.status != LLMRT_ECLOSED)
    TEST_FAIL_("got %s: %s attempts=%d tokens=%d", llmrt_err_name(r.status), r.errmsg, r.attempts, r.n_tokens);
  ASSERT_EQ(r.attempts, 1);
  ASSERT_EQ(r.n_tokens, 3);
  teardown();
}

static void test_bad_config(void) {
  char err[256];
  int rc = setup("{\"name\":\"retry\",\"max_attempts\":0}", NULL, err, sizeof err);
  ASSERT_ERR(rc, LLMRT_EPLUGIN);
  ASSERT_CONTAINS(err, "max_attempts");
  ASSERT_CONTAINS(err, "$.plugins[0]");
  teardown();
  rc = setup("{\"name\":\"retry\",\"max_attemps\":3}", NULL, err, sizeof err);
  ASSERT(rc != 0);
  ASSERT_CONTAINS(err, "max_attemps");
  teardown();
}

int main(void) {
  RUN_TEST(test_builtin);
  RUN_TEST(test_loaded_as_so);
  RUN_TEST(test_not_retried);
  RUN_TEST(test_exhausted);
  RUN_TEST(test_retry_after);
  RUN_TEST(test_reset_before_and_after_commit);
  RUN_TEST(test_bad_config);
  return 0;
}
