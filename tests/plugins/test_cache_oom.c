/* Allocation-failure torture of the cache plugin (curl's torture idea): the
 * N-th allocation of the client thread fails, for N = 1, 2, ... until a
 * round runs without reaching N, over three paths: a hit (replay of a
 * stored entry), a store (a miss whose answer is recorded and stored), and
 * a coalesced call (a leader and two followers). Every call must end
 * exactly once, the runtime must close, and nothing may leak. The mock runs
 * on its own thread, where nothing fails. */
#include <stdlib.h>
#include <string.h>

#include "chain_fixture.h"
#include "failalloc.h"
#include "llmrt.h"
#include "mock_thread.h"
#include "test.h"

static mock_thread_t mt;

enum { PATH_HIT, PATH_STORE, PATH_COALESCE };

static void req_init(llmrt_request_t *req, llmrt_message_t *m) {
  *m = (llmrt_message_t){.role = "user", .content = "torture the cache"};
  llmrt_request_init(req);
  req->model = "mock";
  req->messages = m;
  req->n_messages = 1;
  req->temperature = 0;
  req->stream = 1;
  req->extra_json = "{\"b\":1,\"a\":[1.0,{\"y\":2,\"x\":3}]}";
}

static void run_calls(llmrt_t *rt, uv_loop_t *loop, chainfx_call_t *r, int n, int *started) {
  llmrt_message_t m;
  llmrt_request_t req;
  req_init(&req, &m);
  for (int i = 0; i < n; i++) {
    chainfx_call_init(&r[i]);
    int rc = llmrt_call(rt, &req, &chainfx_callbacks, &r[i], NULL);
    if (rc) ASSERT_ERR(rc, LLMRT_ENOMEM);
    started[i] = rc == 0;
  }
  for (int i = 0; i < n; i++)
    while (started[i] && !r[i].done)
      ASSERT(uv_run(loop, UV_RUN_ONCE) != 0 || r[i].done);
  for (int i = 0; i < n; i++)
    ASSERT_EQ(r[i].done, started[i]);
}

/* 1 when the allocation to fail was reached. */
static int run_round(int path, long fail_at, int *all_ok) {
  long live0 = failalloc_thread_live();
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  int closed = 0;
  *all_ok = 1;
  if (path != PATH_HIT) failalloc_arm_thread(fail_at);
  llmrt_t *rt = NULL;
  int rc = llmrt_new(&loop, NULL, &rt);
  if (rc == 0) {
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"OOM_KEY\"}},"
             "\"plugins\":[{\"name\":\"cache\"}]}",
             mt.url);
    rc = llmrt_configure(rt, cfg, NULL, 0);
    if (rc == 0) {
      chainfx_call_t r[3];
      int started[3];
      if (path == PATH_HIT) {
        run_calls(rt, &loop, r, 1, started); /* stores, unarmed */
        ASSERT_ERR(r[0].status, 0);
        failalloc_arm_thread(fail_at);
      }
      int n = path == PATH_COALESCE ? 3 : 1;
      run_calls(rt, &loop, r, n, started);
      for (int i = 0; i < n; i++)
        if (!started[i] || r[i].status) *all_ok = 0;
      if (path == PATH_HIT && !failalloc_failed()) ASSERT_EQ(r[0].cache_hit, 1);
    } else {
      ASSERT(rc == LLMRT_ENOMEM || rc == LLMRT_ECONFIG || rc == LLMRT_EPLUGIN);
      *all_ok = 0;
    }
    llmrt_close(rt, chainfx_on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(closed, 1);
  } else {
    ASSERT_ERR(rc, LLMRT_ENOMEM);
    *all_ok = 0;
  }
  failalloc_disarm();
  ASSERT_EQ(uv_loop_close(&loop), 0);
  if (failalloc_thread_live() != live0)
    TEST_FAIL_("path %d round %ld: %ld allocations leaked", path, fail_at,
               failalloc_thread_live() - live0);
  return failalloc_failed();
}

static void torture(int path) {
  long rounds = 0, ok = 0;
  for (long n = 1; n < 100000; n++) {
    int all_ok;
    int reached = run_round(path, n, &all_ok);
    rounds++;
    ok += all_ok;
    if (!reached) {
      ASSERT(all_ok); /* nothing failed: every call must succeed */
      break;
    }
  }
  fprintf(stderr, "   path %d: %ld rounds (%ld still succeeded)\n", path, rounds, ok);
  ASSERT_GE(rounds, 10);
}

static void test_torture_hit(void) {
  torture(PATH_HIT);
}

static void test_torture_store(void) {
  torture(PATH_STORE);
}

static void test_torture_coalesced(void) {
  torture(PATH_COALESCE);
}

int main(void) {
  failalloc_install();
  setenv("OOM_KEY", "k", 1);
  ASSERT_EQ(mock_thread_start(&mt, "tokens=6,ttft_ms=5"), 0);
  RUN_TEST(test_torture_hit);
  RUN_TEST(test_torture_store);
  RUN_TEST(test_torture_coalesced);
  mock_thread_stop(&mt);
  return 0;
}
