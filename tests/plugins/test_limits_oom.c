/* Allocation-failure torture over the limits plugin with a queued call: two
 * calls against max_in_flight 1 (the second waits in the queue, then goes
 * when the first ends, its tokens settled), with the n-th allocation of the
 * client thread failing, for every n until a round fails none. Every round
 * must end each call exactly once and leak nothing. */
#include <stdlib.h>
#include <string.h>

#include "chain_fixture.h"
#include "failalloc.h"
#include "llmrt.h"
#include "mock_thread.h"
#include "test.h"

static mock_thread_t mt;

static void walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  fprintf(stderr, "open handle: %s\n", uv_handle_type_name(h->type));
}

static int run_round(long fail_at, int *outcome) {
  long live0 = failalloc_thread_live();
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  chainfx_call_t r[2];
  chainfx_call_init(&r[0]);
  chainfx_call_init(&r[1]);
  int closed = 0, started = 0;
  failalloc_arm_thread(fail_at);
  llmrt_t *rt = NULL;
  int rc = llmrt_new(&loop, NULL, &rt);
  if (rc == 0) {
    char cfg[768];
    snprintf(cfg, sizeof cfg,
             "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"OOM_KEY\"}},"
             "\"plugins\":[{\"name\":\"limits\",\"limits\":[{\"per\":\"upstream\","
             "\"max_in_flight\":1,\"tpm\":100000},{\"per\":\"tenant\",\"rpm\":1000}]}]}",
             mt.url);
    rc = llmrt_configure(rt, cfg, NULL, 0);
    if (rc == 0) {
      llmrt_message_t m = {.role = "user", .content = "torture"};
      llmrt_request_t req;
      llmrt_request_init(&req);
      req.model = "mock";
      req.messages = &m;
      req.n_messages = 1;
      req.stream = 1;
      req.tenant = "acme";
      req.max_tokens = 50;
      for (int i = 0; i < 2; i++) {
        int c = llmrt_call(rt, &req, &chainfx_callbacks, &r[i], NULL);
        if (c == 0)
          started++;
        else
          ASSERT_ERR(c, LLMRT_ENOMEM);
        if (i == 0) rc = c;
      }
      while (r[0].done + r[1].done < started)
        ASSERT(uv_run(&loop, UV_RUN_ONCE) != 0 || r[0].done + r[1].done >= started);
    } else {
      ASSERT(rc == LLMRT_ENOMEM || rc == LLMRT_ECONFIG || rc == LLMRT_EPLUGIN);
    }
    llmrt_close(rt, chainfx_on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(closed, 1);
  } else {
    ASSERT_ERR(rc, LLMRT_ENOMEM);
  }
  ASSERT_LE(r[0].done, 1);
  ASSERT_LE(r[1].done, 1);
  failalloc_disarm();
  if (uv_loop_close(&loop) != 0) {
    uv_walk(&loop, walk_cb, NULL);
    TEST_FAIL_("round %ld: handles left open", fail_at);
  }
  if (failalloc_thread_live() != live0)
    TEST_FAIL_("round %ld: %ld allocations leaked", fail_at, failalloc_thread_live() - live0);
  *outcome = rc ? rc : (started == 2 ? (r[0].status ? r[0].status : r[1].status) : -1);
  return failalloc_failed();
}

static void test_torture_queued_call(void) {
  long rounds = 0, ok = 0;
  for (long n = 1; n < 100000; n++) {
    int outcome = 0;
    int reached = run_round(n, &outcome);
    rounds++;
    if (outcome == 0) ok++;
    if (!reached) {
      ASSERT_EQ(outcome, 0); /* nothing failed: both calls must succeed */
      break;
    }
  }
  fprintf(stderr, "   %ld rounds (%ld still succeeded)\n", rounds, ok);
  ASSERT_GE(rounds, 10);
}

int main(void) {
  failalloc_install();
  setenv("OOM_KEY", "k", 1);
  ASSERT_EQ(mock_thread_start(&mt, "tokens=6,ttft_ms=5"), 0);
  RUN_TEST(test_torture_queued_call);
  mock_thread_stop(&mt);
  return 0;
}
