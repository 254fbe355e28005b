/* The limits plugin's cost and its pacing.
 *
 * Part 1, admission cost: calls answered by a plugin inside the chain (no
 * socket), through the empty chain (the baseline), through limits with local
 * rules, and through limits with its buckets in Redis (redis-server on
 * loopback, started here). Prints microseconds per call and the ratio to the
 * baseline; medians of RUNS runs.
 *
 * Part 2, pacing: a burst of 10,000 streamed calls against the mock's
 * simulated provider limit of 3,000 requests and 200,000 tokens per window,
 * the window compressed to 6 s (so the figures come in seconds, not
 * minutes; the plugin is told the same window). Without the plugin, then
 * with it (adaptive pacing from the mock's x-ratelimit-* headers, no rules):
 * 429s seen, throughput as a share of the limit after the first bucketful,
 * and the p50/p99 queue wait.
 *
 * usage: bench_limits [calls_part2]   (default 10000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "llmrt.h"
#include "redis_server.h"

#define RUNS 5
#define CALLS1 20000
#define CONC1 64

/* ---- The responder: answers every call itself ---- */
static const llmrt_host_t *H;

static int resp_on_request(llmrt_ctx_t *ctx) {
  llmrt_event_t ev = {.type = LLMRT_EV_TEXT, .text = "tok ", .len = 4};
  H->emit(ctx, &ev);
  llmrt_result_t res = {0};
  res.finish_reason = "stop";
  res.input_tokens = 5;
  res.output_tokens = 1;
  H->respond(ctx, &res);
  return LLMRT_STOP;
}

static const llmrt_plugin_t responder = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "responder",
    .on_request = resp_on_request,
};

static const llmrt_plugin_t *responder_entry(const llmrt_host_t *host) {
  H = host;
  return &responder;
}

/* ---- Driving calls ---- */
typedef struct {
  llmrt_t *rt;
  llmrt_request_t req;
  int total, started, done, concurrency;
  int failed, rate_limited;
  double *waits; /* limits.wait_ms per call, or NULL */
  int n_waits;
  double *done_at; /* seconds, per successful call in completion order, or NULL */
  int n_ok;
} drive_t;

static void start_one(drive_t *d);

static void on_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  (void)c;
  drive_t *d = user;
  d->done++;
  if (status) d->failed++;
  if (!status && d->done_at) d->done_at[d->n_ok++] = bench_now();
  if (res->http_status == 429) d->rate_limited++;
  if (d->waits)
    for (size_t i = 0; i < res->n_attrs; i++)
      if (!strcmp(res->attrs[i].name, "limits.wait_ms")) d->waits[d->n_waits++] = res->attrs[i].num;
  if (d->started < d->total) start_one(d);
}

static const llmrt_callbacks_t cbs = {NULL, NULL, on_done};

static void start_one(drive_t *d) {
  d->started++;
  if (llmrt_call(d->rt, &d->req, &cbs, d, NULL) != 0) {
    fprintf(stderr, "llmrt_call: %s\n", llmrt_errmsg(d->rt));
    exit(1);
  }
}

static llmrt_message_t msg = {.role = "user", .content = "benchmark the limits"};

static void drive(uv_loop_t *loop, drive_t *d) {
  for (int i = 0; i < d->concurrency && d->started < d->total; i++)
    start_one(d);
  while (d->done < d->total)
    uv_run(loop, UV_RUN_ONCE);
}

static llmrt_t *make_rt(uv_loop_t *loop, const char *url, const char *plugins, int responder_on) {
  llmrt_t *rt;
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_max_queue = 100000; /* the whole burst reaches the provider (or the plugin) */
  if (llmrt_new(loop, &o, &rt) != 0) exit(1);
  if (responder_on) llmrt_add_plugin(rt, "responder", responder_entry);
  char cfg[2048], err[256] = "";
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"BENCH_KEY\","
           "\"max_connections\":128}},\"plugins\":[%s]}",
           url, plugins);
  if (llmrt_configure(rt, cfg, err, sizeof err) != 0) {
    fprintf(stderr, "configure: %s\n", err);
    exit(1);
  }
  return rt;
}

static void close_rt(uv_loop_t *loop, llmrt_t *rt) {
  llmrt_close(rt, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
}

static void on_settled(uv_timer_t *t) {
  (void)t;
}

/* Microseconds per call through `plugins` (then the responder). */
static double admission_us(uv_loop_t *loop, const char *plugins) {
  char list[1024];
  snprintf(list, sizeof list, "%s%s{\"name\":\"responder\"}", plugins, *plugins ? "," : "");
  llmrt_t *rt = make_rt(loop, "http://127.0.0.1:9/v1", list, 1);
  drive_t d = {.rt = rt, .total = CALLS1, .concurrency = CONC1};
  llmrt_request_init(&d.req);
  d.req.model = "mock";
  d.req.messages = &msg;
  d.req.n_messages = 1;
  d.req.max_tokens = 16;
  d.req.tenant = "acme";
  /* Let a Redis connection come up first. */
  uv_timer_t t;
  uv_timer_init(loop, &t);
  uv_timer_start(&t, on_settled, 200, 0);
  while (uv_is_active((uv_handle_t *)&t))
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  double t0 = bench_now();
  drive(loop, &d);
  double us = (bench_now() - t0) * 1e6 / CALLS1;
  if (d.failed) {
    fprintf(stderr, "%d calls failed\n", d.failed);
    exit(1);
  }
  close_rt(loop, rt);
  return us;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void part1(uv_loop_t *loop, int redis_port) {
  static const char *const names[] = {"empty chain", "limits, local", "limits, redis"};
  char redis_cfg[512];
  snprintf(redis_cfg, sizeof redis_cfg,
           "{\"name\":\"limits\",\"adaptive\":false,\"limits\":[{\"per\":\"upstream\","
           "\"max_in_flight\":1000,\"rpm\":100000000,\"tpm\":1000000000},{\"per\":\"tenant\","
           "\"rpm\":100000000}],\"redis\":{\"port\":%d,\"timeout_ms\":1000}}",
           redis_port);
  const char *cfgs[] = {"",
                        "{\"name\":\"limits\",\"adaptive\":false,\"limits\":[{\"per\":\"upstream\","
                        "\"max_in_flight\":1000,\"rpm\":100000000,\"tpm\":1000000000},"
                        "{\"per\":\"tenant\",\"rpm\":100000000}]}",
                        redis_cfg};
  double med[3];
  for (int k = 0; k < 3; k++) {
    double v[RUNS];
    for (int r = 0; r < RUNS; r++)
      v[r] = admission_us(loop, cfgs[k]);
    med[k] = bench_median(v, RUNS);
  }
  printf(
      "Part 1: admission cost, %d calls answered inside the chain, %d at a time (median of %d)\n",
      CALLS1, CONC1, RUNS);
  for (int k = 0; k < 3; k++)
    printf("  %-16s %8.2f us/call   ratio %.2fx\n", names[k], med[k], med[k] / med[0]);
}

static void part2(uv_loop_t *loop, int n) {
  bench_mock_t bm;
  const char *ctl = "rl_rpm=3000,rl_tpm=200000,rl_window_ms=6000,tokens=40";
  const double window_s = 6.0, rpm = 3000;
  printf("Part 2: a burst of %d calls against a simulated 3,000 RPM / 200k TPM provider "
         "(window compressed to 6 s)\n",
         n);
  for (int with = 0; with < 2; with++) {
    if (bench_mock_start(&bm, ctl) != 0) exit(1);
    llmrt_t *rt = make_rt(loop, bm.url,
                          with ? "{\"name\":\"limits\",\"adaptive\":{\"window_ms\":6000},"
                                 "\"queue\":{\"max_length\":100000,\"timeout_ms\":3600000}}"
                               : "",
                          0);
    drive_t d = {.rt = rt, .total = n, .concurrency = n};
    d.waits = calloc((size_t)n, sizeof *d.waits);
    d.done_at = calloc((size_t)n, sizeof *d.done_at);
    llmrt_request_init(&d.req);
    d.req.model = "mock";
    d.req.messages = &msg;
    d.req.n_messages = 1;
    d.req.max_tokens = 50;
    d.req.stream = 1;
    double t0 = bench_now();
    drive(loop, &d);
    double el = bench_now() - t0;
    llmrt_mock_stats_t st;
    llmrt_mock_stats(bm.mock, &st);
    if (!with) {
      printf("  without limits: %d calls in %.2f s, %llu answered 429 by the provider, %d failed\n",
             n, el, (unsigned long long)st.rate_limited, d.failed);
    } else {
      /* After the first bucketful, the limit allows rpm per window. */
      double ideal = n > rpm ? (n - rpm) / (rpm / window_s) : 0;
      qsort(d.waits, (size_t)d.n_waits, sizeof *d.waits, cmp_d);
      double p50 = d.n_waits ? d.waits[d.n_waits / 2] : 0;
      double p99 = d.n_waits ? d.waits[(int)(d.n_waits * 0.99)] : 0;
      printf("  with limits:    %d calls in %.2f s, %llu answered 429, %d failed\n", n, el,
             (unsigned long long)st.rate_limited, d.failed);
      /* Steady state: the rate of answers once the first bucketful (and
       * half a window more) went, against the limit's rate. */
      int a = (int)rpm + (int)(rpm / 2);
      double steady = 0;
      if (d.n_ok > a + 100)
        steady = (d.n_ok - 1 - a) / (d.done_at[d.n_ok - 1] - d.done_at[a]) / (rpm / window_s);
      printf("                  throughput: whole burst %.1f%% of the limit's ideal (%.2f s past "
             "the first bucketful); steady state %.1f%% of %.0f requests/s\n",
             ideal > 0 ? 100.0 * ideal / el : 100.0, ideal, 100.0 * steady, rpm / window_s);
      printf("                  queue wait p50 %.0f ms, p99 %.0f ms\n", p50, p99);
    }
    free(d.waits);
    free(d.done_at);
    close_rt(loop, rt);
    bench_mock_stop(&bm);
  }
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 10000;
  if (n < 1) n = 10000;
  setenv("BENCH_KEY", "k", 1);
  uv_loop_t loop;
  uv_loop_init(&loop);
  test_redis_t rs;
  test_redis_start(&rs, NULL);
  part1(&loop, rs.port);
  test_redis_stop(&rs);
  part2(&loop, n);
  uv_loop_close(&loop);
  return 0;
}
