/* Thread mode overhead: the same non-streamed calls against the mock (on its
 * own thread), made (a) on the runtime's own loop thread, the baseline, and
 * (b) through the thread mode from 1 and from 8 submitting threads, keeping
 * WINDOW calls in flight in all (through inboxes). Prints calls/s (median of
 * ROUNDS) and each mode's ratio to the baseline measured in the same run.
 *
 * usage: bench_thread_mode [CALLS [ROUNDS]]   (default 20000, 3) */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt.h>

#include "bench_common.h"

#define WINDOW 64

static char config[512];
static int n_calls;
static llmrt_message_t msg = {.role = "user", .content = "bench"};

static void fill(llmrt_request_t *req) {
  llmrt_request_init(req);
  req->model = "m";
  req->messages = &msg;
  req->n_messages = 1;
}

/* ---- Baseline: llmrt_call on the loop's thread ---- */

static int started, done;
static atomic_int failures;

static void base_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user);

static void base_start(llmrt_t *rt) {
  llmrt_request_t req;
  fill(&req);
  llmrt_callbacks_t cbs = {NULL, NULL, base_done};
  if (llmrt_call(rt, &req, &cbs, NULL, NULL) != 0) {
    fprintf(stderr, "llmrt_call refused: %s\n", llmrt_errmsg(rt));
    exit(1);
  }
  started++;
}

static void base_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  if (status) failures++;
  if (++done == n_calls)
    llmrt_close(llmrt_call_runtime(call), NULL, NULL);
  else if (started < n_calls)
    base_start(llmrt_call_runtime(call));
}

static double run_baseline(void) {
  llmrt_t *rt;
  char err[256];
  if (llmrt_new(NULL, NULL, &rt) || llmrt_configure(rt, config, err, sizeof err)) exit(1);
  started = done = 0;
  double t0 = bench_now();
  for (int i = 0; i < WINDOW && i < n_calls; i++)
    base_start(rt);
  llmrt_run(rt, UV_RUN_DEFAULT);
  return n_calls / (bench_now() - t0);
}

/* ---- Thread mode: submitting threads with inboxes ---- */

typedef struct {
  llmrt_thread_t *th;
  int calls;
  int window;
  uv_thread_t tid;
} sub_t;

static void submitter(void *arg) {
  sub_t *s = arg;
  llmrt_inbox_t *in;
  if (llmrt_inbox_new(&in)) exit(1);
  llmrt_request_t req;
  fill(&req);
  int sent = 0, got = 0;
  while (got < s->calls) {
    while (sent < s->calls && sent - got < s->window) {
      if (llmrt_inbox_call(s->th, in, &req, NULL, NULL, NULL)) exit(1);
      sent++;
    }
    llmrt_thread_result_t *r;
    if (llmrt_inbox_wait(in, 60000, &r)) exit(1);
    if (r->status) atomic_fetch_add(&failures, 1);
    llmrt_thread_result_free(r);
    got++;
  }
  llmrt_inbox_free(in);
}

static double run_threads(int threads) {
  llmrt_thread_t *th;
  char err[256];
  if (llmrt_thread_start(NULL, config, err, sizeof err, &th)) exit(1);
  sub_t subs[8];
  double t0 = bench_now();
  for (int i = 0; i < threads; i++) {
    subs[i].th = th;
    subs[i].calls = n_calls / threads;
    subs[i].window = WINDOW / threads; /* the same calls in flight in every mode */
    uv_thread_create(&subs[i].tid, submitter, &subs[i]);
  }
  for (int i = 0; i < threads; i++)
    uv_thread_join(&subs[i].tid);
  double rate = (n_calls / threads) * threads / (bench_now() - t0);
  llmrt_thread_join(th);
  return rate;
}

int main(int argc, char **argv) {
  n_calls = argc > 1 ? atoi(argv[1]) : 20000;
  int rounds = argc > 2 ? atoi(argv[2]) : 3;
  if (n_calls < 8 || rounds < 1 || rounds > 99) return 2;
  setenv("BENCH_KEY", "k", 1);
  bench_mock_t bm;
  if (bench_mock_start(&bm, "tokens=4")) return 1;
  snprintf(config, sizeof config,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"BENCH_KEY\"}}}", bm.url);
  double base[99], one[99], eight[99];
  for (int r = 0; r < rounds; r++) {
    /* Interleaved, so drift on a shared machine hits every mode alike. */
    base[r] = run_baseline();
    one[r] = run_threads(1);
    eight[r] = run_threads(8);
  }
  double b = bench_median(base, rounds), o = bench_median(one, rounds),
         e = bench_median(eight, rounds);
  printf("thread mode, %d non-streamed calls, %d in flight, median of %d rounds\n", n_calls, WINDOW,
         rounds);
  printf("  loop thread (baseline)      %8.0f calls/s\n", b);
  printf("  thread mode, 1 submitter    %8.0f calls/s  ratio %.2f\n", o, o / b);
  printf("  thread mode, 8 submitters   %8.0f calls/s  ratio %.2f\n", e, e / b);
  printf("  failed calls: %d\n", atomic_load(&failures));
  bench_mock_stop(&bm);
  return atomic_load(&failures) ? 1 : 0;
}
