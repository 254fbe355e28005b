/* Allocation failures over a call the metrics plugin records, and over the
 * expositions: the N-th allocation of the client thread fails, for N = 1,
 * 2, ... until a round reaches no N. Every round ends cleanly (an error
 * returned, or exactly one on_done), the runtime closes, and every block the
 * client allocated is freed; an exposition either succeeds or returns
 * LLMRT_ENOMEM with nothing handed out. Also: once a series exists,
 * recording into it allocates nothing. */
#include <stdlib.h>
#include <string.h>

#include "chain/metrics.h"
#include "chain_fixture.h"
#include "failalloc.h"
#include "mock_thread.h"

static mock_thread_t mt;

static void expose(llmrt_t *rt) {
  char *out = (char *)1;
  size_t len = 7;
  int r = llmrt_metrics_prometheus(rt, &out, &len);
  if (r) {
    ASSERT_ERR(r, LLMRT_ENOMEM);
    ASSERT(out == NULL && len == 0);
  }
  llmrt_free(out);
  out = (char *)1;
  r = llmrt_metrics_json(rt, &out, &len);
  if (r) {
    ASSERT_ERR(r, LLMRT_ENOMEM);
    ASSERT(out == NULL);
  }
  llmrt_free(out);
}

static int run_round(long fail_at, int stream, int *outcome) {
  long live0 = failalloc_thread_live();
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  chainfx_call_t r;
  chainfx_call_init(&r);
  int closed = 0;
  failalloc_arm_thread(fail_at);
  llmrt_t *rt = NULL;
  int rc = llmrt_new(&loop, NULL, &rt);
  if (rc == 0) {
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api\":\"openai\",\"api_key_env\":"
             "\"OOM_KEY\"}},\"plugins\":[{\"name\":\"metrics\",\"attributes\":{\"x.y\":"
             "\"counter\"}},{\"name\":\"retry\",\"max_attempts\":2,\"base_delay_ms\":1}]}",
             mt.url);
    rc = llmrt_configure(rt, cfg, NULL, 0);
    if (rc == 0) {
      llmrt_message_t m = {.role = "user", .content = "torture"};
      llmrt_request_t req;
      llmrt_request_init(&req);
      req.model = "mock\"model";
      req.messages = &m;
      req.n_messages = 1;
      req.stream = stream;
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
    expose(rt);
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
    TEST_FAIL_("round %ld (stream=%d): %ld allocations leaked", fail_at, stream,
               failalloc_thread_live() - live0);
  *outcome = rc ? rc : r.status;
  return failalloc_failed();
}

static void torture(int stream) {
  long rounds = 0, ok = 0;
  for (long n = 1; n < 100000; n++) {
    int outcome = 0;
    int reached = run_round(n, stream, &outcome);
    rounds++;
    if (outcome == 0) ok++;
    if (!reached) {
      ASSERT_EQ(outcome, 0);
      break;
    }
  }
  fprintf(stderr, "   stream=%d: %ld rounds (%ld still succeeded)\n", stream, rounds, ok);
  ASSERT_GE(rounds, 10);
}

static void test_torture_stream(void) {
  torture(1);
}

static void test_torture_whole(void) {
  torture(0);
}

/* The hot path: an existing series takes no allocation, whatever the kind,
 * and neither does a value folded into an existing "other" series. */
static void test_no_allocation_per_update(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.metrics_max_label_values = 2;
  llmrt_t *rt = NULL;
  ASSERT_ERR(llmrt_new(NULL, &o, &rt), 0);
  llmrt_metric_t *h = NULL, *c = NULL, *g = NULL;
  ASSERT_ERR(llmrt__metric_get(rt, LLMRT_METRIC_HISTOGRAM, "t_seconds", "h", &h), 0);
  ASSERT_ERR(llmrt__metric_get(rt, LLMRT_METRIC_COUNTER, "t_total", "c", &c), 0);
  ASSERT_ERR(llmrt__metric_get(rt, LLMRT_METRIC_GAUGE, "t_gauge", "g", &g), 0);
  const char *labels[] = {"m=\"a\"", "m=\"b\"", "m=\"c\"", "m=\"d\""};
  for (int i = 0; i < 4; i++) { /* creates a, b, other, and the fold counter's series */
    llmrt__metric_observe(h, labels[i], 0.5);
    llmrt__metric_add(c, labels[i], 1);
    llmrt__metric_set(g, labels[i], 1);
  }
  failalloc_arm_thread(1); /* any allocation now fails and is counted */
  for (int n = 0; n < 1000; n++) {
    for (int i = 0; i < 4; i++) {
      llmrt__metric_observe(h, labels[i], n * 0.001);
      llmrt__metric_add(c, labels[i], 1);
      llmrt__metric_set(g, labels[i], n);
    }
  }
  long count = failalloc_count();
  failalloc_disarm();
  ASSERT_EQ(count, 0);
  ASSERT_EQ(h->n_series, 3);
  ASSERT_EQ(c->n_series, 3);
  chainfx_rt_close(rt, NULL);
}

int main(void) {
  failalloc_install();
  setenv("OOM_KEY", "k", 1);
  ASSERT_EQ(mock_thread_start(&mt, "tokens=4"), 0);
  RUN_TEST(test_no_allocation_per_update);
  RUN_TEST(test_torture_stream);
  RUN_TEST(test_torture_whole);
  mock_thread_stop(&mt);
  return 0;
}
