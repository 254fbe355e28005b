/* Allocation-failure torture of a whole call (curl's torture idea): the
 * N-th allocation of the client fails, for N = 1, 2, ... until a call runs
 * without reaching N. Every round must end cleanly: either an API function
 * returns an error (and no callback runs), or exactly one on_done arrives;
 * then the runtime closes, the loop has no handle left, and every byte the
 * client allocated is freed. The mock upstream runs on its own thread, where
 * nothing fails. */
#include <stdlib.h>
#include <string.h>

#include "chain_fixture.h"
#include "failalloc.h"
#include "llmrt.h"
#include "mock_thread.h"
#include "test.h"

/* Allocations fail on the client thread only (failalloc_arm_thread), and
 * live counts are the client thread's: the mock's thread allocates and frees
 * its own memory, the client thread must end where it started. */
static mock_thread_t mt;

/* A plugin on the paths ABI v2 added: a header, attributes, a call timer
 * and a wake it leaves to the runtime, and an event-flow pause resumed from
 * a call timer. Every host call may fail; the plugin then fails the call. */
static const llmrt_host_t *H;
static int seen;

static void noop(llmrt_timer_t *t, void *arg) {
  (void)t, (void)arg;
}

static void on_wake(llmrt_wake_t *w, void *arg) {
  (void)w, (void)arg;
}

static void resume_cb(llmrt_timer_t *t, void *arg) {
  H->timer_stop(t);
  H->resume(arg);
}

static int v2_request(llmrt_ctx_t *x) {
  llmrt_timer_t *t;
  llmrt_wake_t *w;
  int r = H->set_header(x, "x-torture", "1");
  if (!r) r = H->attr_set_str(x, "torture.s", "value");
  if (!r) r = H->attr_set_num(x, "torture.n", 7);
  if (!r) r = H->call_timer_start(x, 60000, 0, noop, NULL, &t);
  if (!r) r = H->wake_new(H->plugin_rt(x), on_wake, NULL, &w);
  seen = 0;
  return r;
}

static int v2_event(llmrt_ctx_t *x, llmrt_event_t *ev) {
  (void)ev;
  if (++seen != 2) return LLMRT_CONTINUE;
  llmrt_timer_t *t;
  int r = H->call_timer_start(x, 0, 0, resume_cb, x, &t);
  return r ? r : LLMRT_PAUSE;
}

static const llmrt_plugin_t v2_desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "v2paths",
    .on_request = v2_request,
    .on_event = v2_event,
};

static const llmrt_plugin_t *v2_entry(const llmrt_host_t *host) {
  H = host;
  return &v2_desc;
}

static int with_v2; /* rounds use the v2 plugin, per-call headers and key */

static void walk_cb(uv_handle_t *h, void *arg) {
  fprintf(stderr, "left open: handle type %d\n", (int)h->type);
}

/* Returns 1 when the allocation to fail was reached (so another round with
 * a later one is needed). */
static int run_round(long fail_at, int stream, const char *api, int *outcome) {
  long live0 = failalloc_thread_live(); /* before the loop: uv_loop_close frees its own */
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  chainfx_call_t r;
  chainfx_call_init(&r);
  int closed = 0;
  failalloc_arm_thread(fail_at);

  llmrt_t *rt = NULL;
  int rc = llmrt_new(&loop, NULL, &rt);
  if (rc == 0) {
    if (with_v2) rc = llmrt_add_plugin(rt, "v2paths", v2_entry);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api\":\"%s\",\"api_key_env\":"
             "\"OOM_KEY\"}},\"plugins\":[{\"name\":\"retry\",\"max_attempts\":2,"
             "\"base_delay_ms\":1}%s]}",
             mt.url, api, with_v2 ? ",{\"name\":\"v2paths\"}" : "");
    if (rc == 0) rc = llmrt_configure(rt, cfg, NULL, 0);
    if (rc == 0) {
      llmrt_message_t m = {.role = "user", .content = "torture"};
      llmrt_request_t req;
      llmrt_request_init(&req);
      req.model = "mock";
      req.messages = &m;
      req.n_messages = 1;
      req.stream = stream;
      llmrt_header_t hd = {"traceparent", "00-torture-01"};
      if (with_v2) {
        req.headers = &hd;
        req.n_headers = 1;
        req.api_key = "sk-torture-call-key";
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
  /* Exactly-once: the call ended once, or never started. */
  ASSERT_LE(r.done, 1);
  failalloc_disarm();
  if (uv_loop_close(&loop) != 0) {
    uv_walk(&loop, walk_cb, NULL);
    TEST_FAIL_("round %ld: handles left open", fail_at);
  }
  if (failalloc_thread_live() != live0)
    TEST_FAIL_("round %ld (%s, stream=%d): %ld allocations leaked", fail_at, api, stream,
               failalloc_thread_live() - live0);
  *outcome = rc ? rc : r.status;
  return failalloc_failed();
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

static void test_torture_v2_paths(void) {
  with_v2 = 1;
  torture(1, "openai");
  torture(0, "anthropic");
  with_v2 = 0;
}

int main(void) {
  /* First, before libuv allocates anything. */
  failalloc_install();
  setenv("OOM_KEY", "k", 1);
  ASSERT_EQ(mock_thread_start(&mt, "tokens=6"), 0);

  RUN_TEST(test_torture_openai_stream);
  RUN_TEST(test_torture_openai_whole);
  RUN_TEST(test_torture_anthropic_stream);
  RUN_TEST(test_torture_v2_paths);

  mock_thread_stop(&mt);
  return 0;
}
