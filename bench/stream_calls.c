/* Streamed calls per second and tokens per second delivered to callbacks, at
 * concurrency 1, 16, 64 and 256, against the mock upstream (no delays) on a
 * thread of its own. Prints medians of several runs and the ratio to
 * concurrency 1. Not a test: nothing here gates CI. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "llmrt.h"

#define RUNS 3
#define TOKENS 64

typedef struct {
  llmrt_t *rt;
  int inflight, target, started, done, failed;
  uint64_t tokens, bytes;
} load_t;

static void start_one(load_t *l);

static void on_token(llmrt_call_t *c, const char *t, size_t len, void *user) {
  load_t *l = user;
  l->tokens++;
  l->bytes += len;
}

static void on_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  load_t *l = user;
  l->inflight--;
  l->done++;
  if (status) {
    if (!l->failed) fprintf(stderr, "call failed: %s\n", res->error_message);
    l->failed++;
  }
  if (l->started < l->target) start_one(l);
}

static void start_one(load_t *l) {
  static llmrt_message_t m = {.role = "user", .content = "Benchmark prompt: say something."};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "mock";
  req.messages = &m;
  req.n_messages = 1;
  req.stream = 1;
  req.max_tokens = TOKENS;
  llmrt_callbacks_t cbs = {on_token, NULL, on_done};
  if (llmrt_call(l->rt, &req, &cbs, l, NULL) == 0) {
    l->started++;
    l->inflight++;
  }
}

static void on_closed(llmrt_t *rt, void *u) {
}

/* One measured run: n calls kept `conc` at a time in flight. */
static void run(const char *url, int conc, int n, double *calls_s, double *tokens_s) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_max_per_origin = 256;
  load_t l = {0};
  llmrt_new(&loop, &o, &l.rt);
  char cfg[512];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"BENCH_KEY\"}}}", url);
  llmrt_configure(l.rt, cfg, NULL, 0);
  /* Warm the pool so the figures are steady-state calls, not connects. */
  l.target = conc;
  for (int i = 0; i < conc; i++) start_one(&l);
  while (l.done < conc) uv_run(&loop, UV_RUN_ONCE);
  memset(&l.started, 0, sizeof l - offsetof(load_t, started));
  l.target = n;
  double t0 = bench_now();
  for (int i = 0; i < conc && l.started < n; i++) start_one(&l);
  while (l.done < n) uv_run(&loop, UV_RUN_ONCE);
  double dt = bench_now() - t0;
  *calls_s = n / dt;
  *tokens_s = l.tokens / dt;
  if (l.failed) fprintf(stderr, "  (%d of %d calls failed)\n", l.failed, n);
  llmrt_close(l.rt, on_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

int main(int argc, char **argv) {
  setenv("BENCH_KEY", "bench", 1);
  bench_mock_t bm;
  char controls[64];
  snprintf(controls, sizeof controls, "tokens=%d", TOKENS);
  if (bench_mock_start(&bm, controls)) {
    fprintf(stderr, "cannot start the mock\n");
    return 1;
  }
  int concs[] = {1, 16, 64, 256};
  double base = 0;
  printf("stream_calls: streamed calls of %d tokens against the in-process mock (own thread)\n",
         TOKENS);
  printf("%11s %12s %14s %10s\n", "concurrency", "calls/s", "tokens/s", "vs c=1");
  for (size_t i = 0; i < sizeof concs / sizeof concs[0]; i++) {
    int c = concs[i];
    int n = c == 1 ? 1000 : 3000;
    double cs[RUNS], ts[RUNS];
    for (int r = 0; r < RUNS; r++) run(bm.url, c, n, &cs[r], &ts[r]);
    double mc = bench_median(cs, RUNS), mt = bench_median(ts, RUNS);
    if (i == 0) base = mc;
    printf("%11d %12.0f %14.0f %9.2fx\n", c, mc, mt, mc / base);
  }
  bench_mock_stop(&bm);
  return 0;
}
