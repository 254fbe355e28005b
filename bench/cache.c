/* Cache benchmark: time from llmrt_call to on_done for
 *   - an uncached call to the mock (on its own thread): the baseline,
 *   - an in-memory hit, not streamed and streamed (64 events, all at once),
 *   - a Redis hit on loopback (a redis-server the benchmark starts),
 * in one run, as medians and as ratios to the baseline; hits per second on
 * one core (64 hits in flight); and memory per stored entry against the
 * entry's payload (heap growth measured with mallinfo2).
 *
 *   bench_cache [N]   (N hits per figure, default 20000)
 *
 * Figures are from a shared machine: compare ratios, not absolute times. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "llmrt.h"
#include "redis_server.h"

static uv_loop_t loop;
static bench_mock_t bm;
static test_redis_t redis;

typedef struct {
  double t0, t1;
  int done, status, hit;
  size_t text_len;
} one_t;

static void on_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  one_t *o = user;
  o->t1 = bench_now();
  o->done = 1;
  o->status = status;
  o->hit = res->cache_hit;
  o->text_len = res->text_len;
}

static const llmrt_callbacks_t cbs = {NULL, NULL, on_done};

static llmrt_t *make_rt(const char *cache_cfg) {
  llmrt_t *rt;
  if (llmrt_new(&loop, NULL, &rt)) abort();
  char cfg[1024], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"BENCH_KEY\"}},"
           "\"plugins\":[%s]}",
           bm.url, cache_cfg);
  if (llmrt_configure(rt, cfg, err, sizeof err)) {
    fprintf(stderr, "configure: %s\n", err);
    exit(1);
  }
  return rt;
}

static void close_rt(llmrt_t *rt) {
  llmrt_close(rt, NULL, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

static void req_init(llmrt_request_t *req, llmrt_message_t *m, const char *text, int stream,
                     int mode) {
  *m = (llmrt_message_t){.role = "user", .content = text};
  llmrt_request_init(req);
  req->model = "mock";
  req->messages = m;
  req->n_messages = 1;
  req->temperature = 0;
  req->stream = stream;
  req->cache = mode;
}

/* One call, timed from llmrt_call to on_done, in µs. */
static double one_call(llmrt_t *rt, const char *text, int stream, int mode, int *hit) {
  llmrt_message_t m;
  llmrt_request_t req;
  req_init(&req, &m, text, stream, mode);
  one_t o = {0};
  o.t0 = bench_now();
  if (llmrt_call(rt, &req, &cbs, &o, NULL)) abort();
  while (!o.done)
    uv_run(&loop, UV_RUN_ONCE);
  if (o.status) {
    fprintf(stderr, "call failed: %s\n", llmrt_strerror(o.status));
    exit(1);
  }
  if (hit) *hit = o.hit;
  return (o.t1 - o.t0) * 1e6;
}

static double median_of(llmrt_t *rt, const char *text, int stream, int mode, int n, int want_hit) {
  double *v = malloc(sizeof *v * (size_t)n);
  for (int i = 0; i < n; i++) {
    int hit;
    v[i] = one_call(rt, text, stream, mode, &hit);
    if (hit != want_hit) {
      fprintf(stderr, "expected hit=%d\n", want_hit);
      exit(1);
    }
  }
  double med = bench_median(v, (size_t)n);
  free(v);
  return med;
}

/* Hits per second with 64 in flight, for about a second. */
typedef struct {
  llmrt_t *rt;
  long done;
  double end;
  llmrt_request_t req;
  llmrt_message_t m;
} tput_t;

static void tput_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user);
static const llmrt_callbacks_t tcbs = {NULL, NULL, tput_done};

static void tput_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  tput_t *t = user;
  if (status || !res->cache_hit) abort();
  t->done++;
  if (bench_now() < t->end) llmrt_call(t->rt, &t->req, &tcbs, t, NULL);
}

static double hits_per_second(llmrt_t *rt, const char *text) {
  tput_t t = {.rt = rt};
  req_init(&t.req, &t.m, text, 0, LLMRT_CACHE_DEFAULT);
  double t0 = bench_now();
  t.end = t0 + 1.0;
  for (int i = 0; i < 64; i++)
    llmrt_call(rt, &t.req, &tcbs, &t, NULL);
  long before = -1;
  while (before != t.done || bench_now() < t.end + 0.2) {
    before = t.done;
    uv_run(&loop, UV_RUN_NOWAIT);
    if (bench_now() > t.end + 2) break;
  }
  return (double)t.done / (bench_now() - t0 - 0.0);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  if (n < 100) n = 100;
  setenv("BENCH_KEY", "k", 1);
  setenv("BENCH_REDIS_PW", "bench-pw", 1);
  uv_loop_init(&loop);
  if (bench_mock_start(&bm, "tokens=64")) return 1;
  test_redis_start(&redis, "bench-pw");

  llmrt_t *rt = make_rt("{\"name\":\"cache\"}");
  /* Baseline: uncached calls to the mock, 64 tokens. */
  int nb = n / 40 < 200 ? 200 : n / 40;
  double base_whole = median_of(rt, "baseline", 0, LLMRT_CACHE_BYPASS, nb, 0);
  double base_stream = median_of(rt, "baseline", 1, LLMRT_CACHE_BYPASS, nb, 0);
  /* In-memory hits. */
  one_call(rt, "hit me", 0, LLMRT_CACHE_DEFAULT, NULL);
  one_call(rt, "hit me", 1, LLMRT_CACHE_DEFAULT, NULL);
  double hit_whole = median_of(rt, "hit me", 0, LLMRT_CACHE_DEFAULT, n, 1);
  double hit_stream = median_of(rt, "hit me", 1, LLMRT_CACHE_DEFAULT, n, 1);
  double hps = hits_per_second(rt, "hit me");

  /* Memory per entry: 500 distinct 64-token answers. */
  char text[64];
  malloc_trim(0);
  struct mallinfo2 mi0 = mallinfo2();
  size_t payload = 0;
  for (int i = 0; i < 500; i++) {
    snprintf(text, sizeof text, "entry %d", i);
    llmrt_message_t m;
    llmrt_request_t req;
    req_init(&req, &m, text, 1, LLMRT_CACHE_DEFAULT);
    one_t o = {0};
    llmrt_call(rt, &req, &cbs, &o, NULL);
    while (!o.done)
      uv_run(&loop, UV_RUN_ONCE);
    payload += o.text_len;
  }
  struct mallinfo2 mi1 = mallinfo2();
  double per_entry = (double)(mi1.uordblks - mi0.uordblks) / 500;
  double per_payload = (double)payload / 500;
  close_rt(rt);

  /* Redis hits: one runtime stores distinct answers, another (empty memory)
   * is answered from Redis. */
  char rcfg[256];
  snprintf(rcfg, sizeof rcfg,
           "{\"name\":\"cache\",\"redis\":{\"address\":\"127.0.0.1:%d\",\"password_env\":"
           "\"BENCH_REDIS_PW\",\"lookup_timeout_ms\":200}}",
           redis.port);
  llmrt_t *w = make_rt(rcfg), *r = make_rt(rcfg);
  double until = bench_now() + 1;
  while (bench_now() < until)
    uv_run(&loop, UV_RUN_NOWAIT);
  int nr = nb;
  for (int i = 0; i < nr; i++) {
    snprintf(text, sizeof text, "redis %d", i);
    one_call(w, text, 1, LLMRT_CACHE_DEFAULT, NULL);
  }
  until = bench_now() + 0.3;
  while (bench_now() < until)
    uv_run(&loop, UV_RUN_NOWAIT);
  double *v = malloc(sizeof *v * (size_t)nr);
  int redis_hits = 0;
  for (int i = 0; i < nr; i++) {
    snprintf(text, sizeof text, "redis %d", i);
    int hit;
    v[i] = one_call(r, text, 1, LLMRT_CACHE_DEFAULT, &hit);
    redis_hits += hit;
  }
  double redis_stream = bench_median(v, (size_t)nr);
  free(v);
  close_rt(w);
  close_rt(r);

  printf("cache benchmark (medians, llmrt_call -> on_done)\n");
  printf("  uncached call to the mock, whole       %9.1f us  (baseline)\n", base_whole);
  printf("  uncached call to the mock, 64-event stream %5.1f us  (baseline)\n", base_stream);
  printf("  memory hit, whole                      %9.1f us  speedup %5.1fx\n", hit_whole,
         base_whole / hit_whole);
  printf("  memory hit, 64-event stream at once    %9.1f us  speedup %5.1fx\n", hit_stream,
         base_stream / hit_stream);
  printf("  redis hit (loopback), 64-event stream  %9.1f us  speedup %5.1fx  (%d/%d hits)\n",
         redis_stream, base_stream / redis_stream, redis_hits, nr);
  printf("  memory hits per second, one core       %9.0f\n", hps);
  printf("  heap per stored entry                  %9.0f bytes for %.0f bytes of text "
         "(%.1fx)\n",
         per_entry, per_payload, per_entry / per_payload);
  uv_run(&loop, UV_RUN_DEFAULT);
  bench_mock_stop(&bm);
  test_redis_stop(&redis);
  return 0;
}
