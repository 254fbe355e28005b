/* Allocation-failure torture (curl's torture idea) of a retried call and of
 * a call that falls back to another upstream, through route, breaker and
 * retry: the N-th allocation of the client fails, for N = 1, 2, ... until a
 * round runs without reaching N. Every round ends cleanly: an API function
 * returns an error (and no callback runs), or exactly one on_done arrives;
 * the runtime closes, no handle is left, and every byte is freed. The mocks
 * run on threads of their own, where nothing fails. */
#include <stdlib.h>
#include <string.h>

#include "chain_fixture.h"
#include "failalloc.h"
#include "llmrt.h"
#include "mock_thread.h"
#include "test.h"

static mock_thread_t ma, mb; /* a: answers 503 unless fail_first says otherwise; b: healthy */
static long round_id;

/* 1 when the allocation to fail was reached. */
static int run_round(long fail_at, int fallback, int *outcome) {
  long live0 = failalloc_thread_live();
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  chainfx_call_t r;
  chainfx_call_init(&r);
  int closed = 0;
  char xmock[64];
  snprintf(xmock, sizeof xmock, "fail_first=1,id=%ld", ++round_id);
  failalloc_arm_thread(fail_at);

  llmrt_t *rt = NULL;
  int rc = llmrt_new(&loop, NULL, &rt);
  if (rc == 0) {
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"upstreams\":{\"a\":{\"base_url\":\"%s\",\"api_key_env\":\"OOM_KEY\"},"
             "\"b\":{\"base_url\":\"%s\",\"api\":\"anthropic\",\"api_key_env\":\"OOM_KEY\"}},"
             "\"default_upstream\":\"a\",\"plugins\":["
             "{\"name\":\"route\",\"groups\":{\"g\":{\"members\":[\"a\"]}},"
             "\"fallbacks\":{\"g\":[{\"upstream\":\"b\",\"model\":\"m2\",\"max_tokens\":50}]}},"
             "{\"name\":\"breaker\",\"failures\":100},"
             "{\"name\":\"retry\",\"max_attempts\":2,\"base_delay_ms\":1,\"max_delay_ms\":1,"
             "\"idempotency_header\":\"Idempotency-Key\"}]}",
             ma.url, mb.url);
    rc = llmrt_configure(rt, cfg, NULL, 0);
    if (rc == 0) {
      llmrt_message_t m = {.role = "user", .content = "torture"};
      llmrt_header_t h = {"x-mock", xmock};
      llmrt_request_t req;
      llmrt_request_init(&req);
      req.upstream = "g";
      req.model = "mock";
      req.messages = &m;
      req.n_messages = 1;
      req.stream = 1;
      if (!fallback) {
        req.headers = &h;
        req.n_headers = 1;
      }
      rc = llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL);
      if (rc == 0) {
        while (!r.done)
          ASSERT(uv_run(&loop, UV_RUN_ONCE) != 0 || r.done);
        ASSERT_EQ(r.done, 1);
      } else {
        ASSERT_ERR(rc, LLMRT_ENOMEM);
      }
    } else {
      ASSERT(rc == LLMRT_ENOMEM || rc == LLMRT_ECONFIG || rc == LLMRT_EPLUGIN);
    }
    llmrt_close(rt, chainfx_on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(closed, 1);
  } else {
    ASSERT_ERR(rc, LLMRT_ENOMEM);
  }
  ASSERT_LE(r.done, 1);
  failalloc_disarm();
  ASSERT_EQ(uv_loop_close(&loop), 0);
  if (failalloc_thread_live() != live0)
    TEST_FAIL_("round %ld (fallback=%d): %ld allocations leaked", fail_at, fallback,
               failalloc_thread_live() - live0);
  *outcome = rc ? rc : r.status;
  return failalloc_failed();
}

static void torture(int fallback) {
  long rounds = 0, ok = 0;
  for (long n = 1; n < 100000; n++) {
    int outcome = 0;
    int reached = run_round(n, fallback, &outcome);
    rounds++;
    if (outcome == 0) ok++;
    if (!reached) {
      ASSERT_EQ(outcome, 0); /* nothing failed: the call must succeed */
      break;
    }
  }
  fprintf(stderr, "   fallback=%d: %ld rounds (%ld still succeeded)\n", fallback, rounds, ok);
  ASSERT_GE(rounds, 10);
}

static void test_torture_retried(void) {
  torture(0);
}

static void test_torture_fallen_back(void) {
  torture(1);
}

int main(void) {
  failalloc_install();
  setenv("OOM_KEY", "sk-oom-0123456789", 1);
  ASSERT_EQ(mock_thread_start(&ma, "tokens=6,status=503"), 0);
  ASSERT_EQ(mock_thread_start(&mb, "tokens=6"), 0);
  RUN_TEST(test_torture_retried);
  RUN_TEST(test_torture_fallen_back);
  mock_thread_stop(&ma);
  mock_thread_stop(&mb);
  return 0;
}
