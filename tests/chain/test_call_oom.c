/* Allocation-failure torture of a whole call (curl's torture idea): the
 * N-th allocation of the client fails, for N = 1, 2, ... until a call runs
 * without reaching N. Every round must end cleanly: either an API function
 * returns an error (and no callback runs), or exactly one on_done arrives;
 * then the runtime closes, the loop has no handle left, and every byte the
 * client allocated is freed. The mock upstream runs on its own thread, where
 * nothing fails. */
#include <stdlib.h>
#include <string.h>

#include "llmrt.h"
#include "llmrt_mock.h"
#include "test.h"

static _Thread_local int t_inject; /* only the client thread fails */
static long g_fail_at, g_count;
static int g_failed;

static int should_fail(void) {
  if (!t_inject) return 0;
  if (++g_count == g_fail_at) {
    g_failed = 1;
    return 1;
  }
  return 0;
}

/* Live counts are kept per thread: the mock's thread allocates and frees its
 * own memory, the client thread must end where it started. */
static _Thread_local long t_live;

static void *t_malloc(size_t n) {
  if (should_fail()) return NULL;
  void *p = malloc(n);
  if (p) t_live++;
  return p;
}

static void *t_calloc(size_t a, size_t b) {
  if (should_fail()) return NULL;
  void *p = calloc(a, b);
  if (p) t_live++;
  return p;
}

static void *t_realloc(void *p, size_t n) {
  if (should_fail()) return NULL;
  void *q = realloc(p, n);
  if (q && !p) t_live++;
  return q;
}

static void t_free(void *p) {
  if (p) t_live--;
  free(p);
}

/* ---- The mock on its own thread ---- */
static uv_loop_t mock_loop;
static uv_async_t mock_stop;
static llmrt_mock_t *mock;
static uv_sem_t mock_ready;
static char mock_url[128];

static void on_mock_stopped(llmrt_mock_t *m, void *u) {
}

static void on_mock_stop(uv_async_t *a) {
  llmrt_mock_stop(mock, on_mock_stopped, NULL);
  uv_close((uv_handle_t *)a, NULL);
}

static void mock_thread(void *arg) {
  uv_loop_init(&mock_loop);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = "tokens=6";
  ASSERT_EQ(llmrt_mock_start(&mock_loop, &mo, &mock), 0);
  snprintf(mock_url, sizeof mock_url, "%s", llmrt_mock_url(mock));
  uv_async_init(&mock_loop, &mock_stop, on_mock_stop);
  uv_sem_post(&mock_ready);
  uv_run(&mock_loop, UV_RUN_DEFAULT);
  uv_loop_close(&mock_loop);
}

/* ---- One round ---- */
typedef struct {
  int done, status, closed;
} round_t;

static void on_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  round_t *r = user;
  r->done++;
  r->status = status;
  if (status) ASSERT(res->error_message != NULL);
}

static void on_token(llmrt_call_t *c, const char *t, size_t n, void *u) {
}

static void on_closed(llmrt_t *rt, void *user) {
  ((round_t *)user)->closed++;
}

static void walk_cb(uv_handle_t *h, void *arg) {
  fprintf(stderr, "left open: handle type %d\n", (int)h->type);
}

/* Returns 1 when the allocation to fail was reached (so another round with
 * a later one is needed). */
static int run_round(long fail_at, int stream, const char *api, int *outcome) {
  long live0 = t_live; /* before the loop: uv_loop_close frees its own */
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  round_t r = {0};
  g_fail_at = fail_at;
  g_count = 0;
  g_failed = 0;
  t_inject = 1;

  llmrt_t *rt = NULL;
  int rc = llmrt_new(&loop, NULL, &rt);
  if (rc == 0) {
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api\":\"%s\",\"api_key_env\":"
             "\"OOM_KEY\"}},\"plugins\":[{\"name\":\"retry\",\"max_attempts\":2,"
             "\"base_delay_ms\":1}]}",
             mock_url, api);
    rc = llmrt_configure(rt, cfg, NULL, 0);
    if (rc == 0) {
      llmrt_message_t m = {.role = "user", .content = "torture"};
      llmrt_request_t req;
      llmrt_request_init(&req);
      req.model = "mock";
      req.messages = &m;
      req.n_messages = 1;
      req.stream = stream;
      llmrt_callbacks_t cbs = {on_token, NULL, on_done};
      rc = llmrt_call(rt, &req, &cbs, &r, NULL);
      if (rc == 0) {
        while (!r.done) ASSERT(uv_run(&loop, UV_RUN_ONCE) != 0 || r.done);
        ASSERT_EQ(r.done, 1);
      } else {
        ASSERT_ERR(rc, LLMRT_ENOMEM);
      }
    } else {
      ASSERT(rc == LLMRT_ENOMEM || rc == LLMRT_ECONFIG || rc == LLMRT_EPLUGIN);
    }
    llmrt_close(rt, on_closed, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(r.closed, 1);
  } else {
    ASSERT_ERR(rc, LLMRT_ENOMEM);
  }
  /* Exactly-once: the call ended once, or never started. */
  ASSERT_LE(r.done, 1);
  t_inject = 0;
  if (uv_loop_close(&loop) != 0) {
    uv_walk(&loop, walk_cb, NULL);
    TEST_FAIL_("round %ld: handles left open", fail_at);
  }
  if (t_live != live0)
    TEST_FAIL_("round %ld (%s, stream=%d): %ld allocations leaked", fail_at, api, stream,
               t_live - live0);
  *outcome = rc ? rc : r.status;
  return g_failed;
}

static void torture(int stream, const char *api) {
  long rounds = 0, ok = 0;
  for (long n = 1; n < 100000; n++) {
    int outcome = 0;
    int reached = run_round(n, stream, api, &outcome);
    rounds++;
    if (outcome == 0) ok++;
    if (!reached) {
      ASSERT_EQ(outcome, 0); /* nothing failed: the call must succeed */
      break;
    }
  }
  fprintf(stderr, "   %s stream=%d: %ld rounds (%ld still succeeded)\n", api, stream, rounds, ok);
  ASSERT_GE(rounds, 10);
}

static void test_torture_openai_stream(void) {
  torture(1, "openai");
}

static void test_torture_openai_whole(void) {
  torture(0, "openai");
}

static void test_torture_anthropic_stream(void) {
  torture(1, "anthropic");
}

int main(void) {
  /* First, before libuv allocates anything. */
  ASSERT_EQ(llmrt_set_allocator(t_malloc, t_realloc, t_calloc, t_free), 0);
  setenv("OOM_KEY", "k", 1);
  uv_sem_init(&mock_ready, 0);
  uv_thread_t th;
  ASSERT_EQ(uv_thread_create(&th, mock_thread, NULL), 0);
  uv_sem_wait(&mock_ready);

  RUN_TEST(test_torture_openai_stream);
  RUN_TEST(test_torture_openai_whole);
  RUN_TEST(test_torture_anthropic_stream);

  uv_async_send(&mock_stop);
  uv_thread_join(&th);
  uv_sem_destroy(&mock_ready);
  return 0;
}
