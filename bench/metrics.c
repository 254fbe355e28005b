/* bench_metrics: what measuring costs.
 *
 * Part 1: calls answered by an innermost test plugin (no sockets), 64 in
 * flight, through the empty chain (that plugin alone) and with the metrics
 * plugin in front: the difference per call is the cost of recording (the
 * plugin's labels and five updates: duration, input and output tokens,
 * overhead, attributes) plus the runtime's own measurement. Interleaved
 * runs, medians, and the ratio to the empty chain.
 * Part 2: the registry alone: four updates of existing series with
 * GenAI-sized label sets (about 200 bytes each), per "call".
 * Part 3: rendering 1,000 series (histograms and counters) as Prometheus
 * text and as JSON.
 * Usage: bench_metrics [calls per run] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "chain/metrics.h"
#include "llmrt.h"

#define RUNS 7
#define IN_FLIGHT 64

static const llmrt_host_t *H;

static int answer(llmrt_ctx_t *ctx) {
  llmrt_result_t res = {.struct_size = sizeof res,
                        .text = "answered",
                        .finish_reason = "stop",
                        .model = "bench-model-2025-01-01",
                        .input_tokens = 812,
                        .output_tokens = 96};
  H->attr_set_num(ctx, "trim.tokens_removed_total", 3);
  if (H->respond(ctx, &res) != 0) return LLMRT_EPLUGIN;
  return LLMRT_STOP;
}

static const llmrt_plugin_t answer_desc = {.abi_version = LLMRT_PLUGIN_ABI_VERSION,
                                           .struct_size = sizeof(llmrt_plugin_t),
                                           .name = "answer",
                                           .on_request = answer};

static const llmrt_plugin_t *answer_entry(const llmrt_host_t *host) {
  H = host;
  return &answer_desc;
}

/* A plugin in the metrics plugin's place with the same hooks and call state
 * size that records nothing: the chain's cost of one more plugin, apart
 * from the cost of recording. */
static int pass_event(llmrt_ctx_t *ctx, llmrt_event_t *ev) {
  (void)ctx, (void)ev;
  return LLMRT_CONTINUE;
}

static void pass_complete(llmrt_ctx_t *ctx, int status, const llmrt_result_t *res) {
  (void)ctx, (void)status, (void)res;
}

static const llmrt_plugin_t pass_desc = {.abi_version = LLMRT_PLUGIN_ABI_VERSION,
                                         .struct_size = sizeof(llmrt_plugin_t),
                                         .name = "pass",
                                         .call_state_size = 144,
                                         .on_event = pass_event,
                                         .on_complete = pass_complete};

static const llmrt_plugin_t *pass_entry(const llmrt_host_t *host) {
  (void)host;
  return &pass_desc;
}

typedef struct {
  llmrt_t *rt;
  long started, done, total;
} run_t;

static void start_one(run_t *r);

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  (void)call;
  run_t *r = user;
  if (status) {
    fprintf(stderr, "call failed: %s\n", res->error_message);
    exit(1);
  }
  r->done++;
  if (r->started < r->total) start_one(r);
}

static void start_one(run_t *r) {
  static const llmrt_message_t msg = {.role = "user", .content = "hello"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "bench-model";
  req.messages = &msg;
  req.n_messages = 1;
  llmrt_callbacks_t cbs = {NULL, NULL, on_done};
  r->started++;
  if (llmrt_call(r->rt, &req, &cbs, r, NULL) != 0) {
    fprintf(stderr, "llmrt_call failed\n");
    exit(1);
  }
}

/* first: NULL (the empty chain: the answering plugin alone), "metrics" or
 * "pass", in front of it. */
static llmrt_t *make_rt(const char *first) {
  llmrt_t *rt = NULL;
  char err[256], cfg[512];
  if (llmrt_new(NULL, NULL, &rt) != 0 || llmrt_add_plugin(rt, "answer", answer_entry) != 0 ||
      llmrt_add_plugin(rt, "pass", pass_entry) != 0)
    exit(1);
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"u\":{\"base_url\":\"http://127.0.0.1:9/v1\",\"api\":\"openai\"}},"
           "\"plugins\":[%s%s%s{\"name\":\"answer\"}]}",
           first ? "{\"name\":\"" : "", first ? first : "", first ? "\"}," : "");
  if (llmrt_configure(rt, cfg, err, sizeof err) != 0) {
    fprintf(stderr, "configure: %s\n", err);
    exit(1);
  }
  return rt;
}

/* Seconds per call over n calls. */
static double run_calls(llmrt_t *rt, long n) {
  run_t r = {.rt = rt, .total = n};
  double t0 = bench_now();
  for (int i = 0; i < IN_FLIGHT && r.started < n; i++)
    start_one(&r);
  while (r.done < n)
    llmrt_run(rt, UV_RUN_ONCE);
  return (bench_now() - t0) / (double)n;
}

static void close_rt(llmrt_t *rt) {
  llmrt_close(rt, NULL, NULL);
  llmrt_run(rt, UV_RUN_DEFAULT);
}

static void part_calls(long n) {
  llmrt_t *empty = make_rt(NULL), *pass = make_rt("pass"), *with = make_rt("metrics");
  run_calls(empty, n / 10 + 1); /* warm up: call blocks cached, series made */
  run_calls(pass, n / 10 + 1);
  run_calls(with, n / 10 + 1);
  double t0[RUNS], tp[RUNS], t1[RUNS], d0[RUNS], dp[RUNS];
  for (int i = 0; i < RUNS; i++) {
    t0[i] = run_calls(empty, n);
    tp[i] = run_calls(pass, n);
    t1[i] = run_calls(with, n);
    d0[i] = t1[i] - t0[i];
    dp[i] = t1[i] - tp[i];
  }
  double m0 = bench_median(t0, RUNS), mp = bench_median(tp, RUNS), m1 = bench_median(t1, RUNS);
  printf("part 1: %ld calls per run, %d in flight, answered by a plugin; median of %d "
         "interleaved runs\n",
         n, IN_FLIGHT, RUNS);
  printf("  empty chain             %8.0f ns/call\n", m0 * 1e9);
  printf("  + a pass-through plugin %8.0f ns/call (ratio %.3f)\n", mp * 1e9, mp / m0);
  printf("  + the metrics plugin    %8.0f ns/call (ratio %.3f to the empty chain)\n", m1 * 1e9,
         m1 / m0);
  printf("  metrics vs empty chain  %8.0f ns/call (median of per-run differences)\n",
         bench_median(d0, RUNS) * 1e9);
  printf("  metrics vs pass-through %8.0f ns/call: the recording itself\n",
         bench_median(dp, RUNS) * 1e9);
  close_rt(empty);
  close_rt(pass);
  close_rt(with);
}

static void part_registry(long n) {
  llmrt_t *rt = NULL;
  if (llmrt_new(NULL, NULL, &rt) != 0) exit(1);
  llmrt_metric_opts_t o = {.struct_size = sizeof o,
                           .kind = LLMRT_METRIC_HISTOGRAM,
                           .name = "gen_ai.client.operation.duration",
                           .unit = "s"};
  llmrt_metric_t *d = NULL, *t = NULL;
  llmrt__metric_new(rt, &o, &d);
  o.name = "gen_ai.client.token.usage";
  o.unit = "{token}";
  llmrt__metric_new(rt, &o, &t);
  const char *base =
      "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-"
      "4o-mini\",gen_ai_response_model=\"gpt-4o-mini-2024-07-18\",server_address=\"api.openai."
      "com\",server_port=\"443\"";
  char in[512], out[512];
  snprintf(in, sizeof in, "%s,gen_ai_token_type=\"input\"", base);
  snprintf(out, sizeof out, "%s,gen_ai_token_type=\"output\"", base);
  const char *sets[4] = {base, in, out, base};
  llmrt_metric_t *ms[4] = {d, t, t, d};
  double v[4] = {0.42, 812, 96, 0.37};
  double times[RUNS];
  for (int r = 0; r < RUNS; r++) {
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
      for (int k = 0; k < 4; k++)
        llmrt__metric_observe(ms[k], sets[k], v[k] + (double)(i & 7));
    times[r] = (bench_now() - t0) / (double)n;
  }
  printf("part 2: registry alone, 4 updates with %zu-byte label sets per call: %.0f ns/call\n",
         strlen(in), bench_median(times, RUNS) * 1e9);
  close_rt(rt);
}

static void part_render(void) {
  llmrt_t *rt = NULL;
  llmrt_options_t opts;
  llmrt_options_init(&opts);
  opts.metrics_max_label_values = 2000;
  if (llmrt_new(NULL, &opts, &rt) != 0) exit(1);
  llmrt_metric_t *h = NULL, *c = NULL;
  llmrt_metric_opts_t o = {.struct_size = sizeof o,
                           .kind = LLMRT_METRIC_HISTOGRAM,
                           .name = "gen_ai.client.operation.duration",
                           .unit = "s"};
  llmrt__metric_new(rt, &o, &h);
  o.kind = LLMRT_METRIC_COUNTER;
  o.name = "llmrt.bench.calls";
  o.unit = NULL;
  llmrt__metric_new(rt, &o, &c);
  char labels[256];
  for (int i = 0; i < 1000; i++) {
    snprintf(labels, sizeof labels,
             "gen_ai_operation_name=\"chat\",gen_ai_request_model=\"model-%d\","
             "server_address=\"api.example.com\"",
             i);
    if (i < 500)
      llmrt__metric_observe(h, labels, 0.05 * (i % 40));
    else
      llmrt__metric_add(c, labels, i);
  }
  double tt[RUNS], tj[RUNS];
  size_t tlen = 0, jlen = 0;
  for (int r = 0; r < RUNS; r++) {
    char *out = NULL;
    double t0 = bench_now();
    llmrt_metrics_prometheus(rt, &out, &tlen);
    tt[r] = bench_now() - t0;
    llmrt_free(out);
    t0 = bench_now();
    llmrt_metrics_json(rt, &out, &jlen);
    tj[r] = bench_now() - t0;
    llmrt_free(out);
  }
  printf("part 3: 1,000 series (500 histograms of 16 lines, 500 counters)\n");
  printf("  Prometheus text  %8.3f ms (%zu bytes)\n", bench_median(tt, RUNS) * 1e3, tlen);
  printf("  JSON             %8.3f ms (%zu bytes)\n", bench_median(tj, RUNS) * 1e3, jlen);
  close_rt(rt);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  if (n < 1000) n = 1000;
  int only = argc > 2 ? atoi(argv[2]) : 0; /* a part alone (for a profiler) */
  if (!only || only == 1) part_calls(n);
  if (!only || only == 2) part_registry(n * 10);
  if (!only || only == 3) part_render();
  return 0;
}
