/* Resilience plugins: what the caller sees under a failing upstream, and
 * what the plugins cost when nothing fails.
 *
 * Part 1: a mock that fails 20% of calls (alternately 429 and 503, evenly
 * spread by request count), with and without Retry-After: 1; the caller's
 * success rate and p50/p99 latency with no plugin, with retry, and with
 * route + retry falling back to a healthy second mock.
 * Part 2: the cost per call on the success path of retry, route (a group of
 * one), breaker and all three, as a ratio to the empty chain: answered by
 * an innermost responder plugin (no socket: the plugins' own cost), and
 * against the mock (end to end). Medians of several runs, each in a fresh
 * runtime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "llmrt.h"

static const llmrt_host_t *H;

static int resp_on_request(llmrt_ctx_t *ctx) {
  llmrt_event_t ev = {.type = LLMRT_EV_TEXT, .text = "tok ", .len = 4};
  for (int i = 0; i < 8; i++)
    H->emit(ctx, &ev);
  llmrt_result_t res = {0};
  res.finish_reason = "stop";
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

typedef struct {
  llmrt_t *rt;
  uv_loop_t *loop;
  const char *upstream;
  int target, started, done, ok, inflight, conc;
  double *lat; /* seconds per call */
} load_t;

typedef struct {
  load_t *l;
  double t0;
} one_t;

static void start_one(load_t *l);

static void on_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  (void)c, (void)res;
  one_t *o = user;
  load_t *l = o->l;
  l->lat[l->done] = bench_now() - o->t0;
  free(o);
  l->done++;
  l->inflight--;
  if (status == 0) l->ok++;
  if (l->started < l->target) start_one(l);
}

static void on_token(llmrt_call_t *c, const char *t, size_t n, void *u) {
  (void)c, (void)t, (void)n, (void)u;
}

static void start_one(load_t *l) {
  static llmrt_message_t m = {.role = "user", .content = "bench"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.upstream = l->upstream;
  req.model = "mock";
  req.messages = &m;
  req.n_messages = 1;
  req.stream = 1;
  req.max_tokens = 16;
  llmrt_callbacks_t cbs = {on_token, NULL, on_done};
  one_t *o = malloc(sizeof *o);
  o->l = l;
  o->t0 = bench_now();
  l->started++;
  l->inflight++;
  if (llmrt_call(l->rt, &req, &cbs, o, NULL) != 0) {
    fprintf(stderr, "llmrt_call failed\n");
    exit(1);
  }
}

static void on_closed(llmrt_t *rt, void *u) {
  (void)rt, (void)u;
}

/* n calls, conc in flight, through `plugins` (JSON list items). Returns the
 * wall time; lat gets each call's latency. */
static double run(const char *url_a, const char *url_b, const char *plugins, const char *upstream,
                  int n, int conc, double *lat, int *ok) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  load_t l = {0};
  l.loop = &loop;
  l.upstream = upstream;
  l.conc = conc;
  llmrt_new(&loop, NULL, &l.rt);
  llmrt_add_plugin(l.rt, "responder", responder_entry);
  char cfg[4096];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"a\":{\"base_url\":\"%s\",\"api_key_env\":\"BENCH_KEY\"},"
           "\"b\":{\"base_url\":\"%s\",\"api_key_env\":\"BENCH_KEY\"}},\"default_upstream\":"
           "\"a\",\"plugins\":[%s]}",
           url_a, url_b, plugins);
  char err[512];
  if (llmrt_configure(l.rt, cfg, err, sizeof err)) {
    fprintf(stderr, "configure: %s\n", err);
    exit(1);
  }
  double *warm = malloc(sizeof(double) * (size_t)conc);
  l.lat = warm;
  l.target = conc;
  for (int i = 0; i < conc; i++)
    start_one(&l);
  while (l.done < conc)
    uv_run(&loop, UV_RUN_ONCE);
  free(warm);
  l.started = l.done = l.ok = 0;
  l.target = n;
  l.lat = lat;
  double t0 = bench_now();
  for (int i = 0; i < conc && i < n; i++)
    start_one(&l);
  while (l.done < n)
    uv_run(&loop, UV_RUN_ONCE);
  double dt = bench_now() - t0;
  llmrt_close(l.rt, on_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (ok) *ok = l.ok;
  return dt;
}

static double pct(double *v, int n, double p) {
  bench_median(v, (size_t)n); /* sorts */
  int i = (int)(p * (n - 1) + 0.5);
  return v[i];
}

#define RETRY "{\"name\":\"retry\",\"max_attempts\":3,\"base_delay_ms\":50,\"max_delay_ms\":500}"
#define ROUTE "{\"name\":\"route\",\"fallbacks\":{\"a\":[{\"upstream\":\"b\"}]}}"

static void failing(const char *label, const char *controls, int n) {
  static const struct {
    const char *name, *plugins;
  } cfgs[] = {
      {"no plugin", ""},
      {"retry", RETRY},
      {"route+retry", ROUTE "," RETRY},
  };
  printf("\n%s (%d calls, 16 in flight; mock ttft 20 ms, 16 tokens)\n", label, n);
  printf("  %-14s %9s %9s %9s\n", "chain", "success", "p50 ms", "p99 ms");
  double *lat = malloc(sizeof(double) * (size_t)n);
  for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
    bench_mock_t a, b;
    if (bench_mock_start(&a, controls) || bench_mock_start(&b, "ttft_ms=20")) exit(1);
    int ok = 0;
    run(a.url, b.url, cfgs[i].plugins, "a", n, 16, lat, &ok);
    printf("  %-14s %8.1f%% %9.1f %9.1f\n", cfgs[i].name, 100.0 * ok / n, pct(lat, n, 0.5) * 1e3,
           pct(lat, n, 0.99) * 1e3);
    bench_mock_stop(&a);
    bench_mock_stop(&b);
  }
  free(lat);
}

static const struct {
  const char *name, *plugins;
} cost_cfgs[] = {
    {"empty chain", ""},
    {"retry", RETRY},
    {"route", "{\"name\":\"route\",\"groups\":{\"g\":{\"members\":[\"a\"]}}}"},
    {"breaker", "{\"name\":\"breaker\"}"},
    {"all three", "{\"name\":\"breaker\"},{\"name\":\"route\",\"groups\":{\"g\":{\"members\":"
                  "[\"a\"]}}}," RETRY},
};

/* One configuration in this process: ns per call. */
static double cost_one(int responder_on, int i, int n) {
  char plugins[1024];
  snprintf(plugins, sizeof plugins, "%s%s%s", cost_cfgs[i].plugins,
           responder_on && cost_cfgs[i].plugins[0] ? "," : "",
           responder_on ? "{\"name\":\"responder\"}" : "");
  const char *up = strstr(cost_cfgs[i].plugins, "\"g\"") ? "g" : "a";
  double *lat = malloc(sizeof(double) * (size_t)n);
  bench_mock_t m;
  const char *url = "http://127.0.0.1:9/v1";
  if (!responder_on) {
    if (bench_mock_start(&m, "tokens=16")) exit(1);
    url = m.url;
  }
  double ns = run(url, url, plugins, up, n, responder_on ? 64 : 16, lat, NULL) / n * 1e9;
  if (!responder_on) bench_mock_stop(&m);
  free(lat);
  return ns;
}

/* Each run in a fresh process (this program, re-executed): a runtime's heap
 * and loop state after earlier runs skew later ones more than the
 * differences measured here. */
static double spawn(int responder_on, int i, int n) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "BENCH_RESIL_ONE=%d,%d,%d /proc/%d/exe", responder_on, i, n,
           (int)getpid());
  FILE *f = popen(cmd, "r");
  double ns = -1;
  if (f) {
    char line[128];
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "ns: ", 4)) ns = atof(line + 4);
    pclose(f);
  }
  if (ns < 0) {
    fprintf(stderr, "bench child %d,%d,%d failed\n", responder_on, i, n);
    exit(1);
  }
  return ns;
}

static void cost(int responder_on, int n, int runs) {
  enum { NCFG = sizeof cost_cfgs / sizeof cost_cfgs[0] };
  printf("\nsuccess-path cost, %s (%d calls, %s in flight, median of %d runs, each in a fresh "
         "process, configurations interleaved)\n",
         responder_on ? "answered by a responder plugin (no socket)" : "against the mock", n,
         responder_on ? "64" : "16", runs);
  printf("  %-12s %12s %8s\n", "chain", "ns/call", "ratio");
  double t[NCFG][15];
  /* Interleaved, so the machine's drift (other processes) spreads over all. */
  for (int r = 0; r < runs; r++)
    for (int i = 0; i < (int)NCFG; i++)
      t[i][r] = spawn(responder_on, i, n);
  double base = bench_median(t[0], (size_t)runs);
  for (int i = 0; i < (int)NCFG; i++) {
    double med = bench_median(t[i], (size_t)runs);
    printf("  %-12s %12.0f %8.2f\n", cost_cfgs[i].name, med, med / base);
  }
}

int main(int argc, char **argv) {
  setenv("BENCH_KEY", "bench-key-0123456789", 1);
  const char *one = getenv("BENCH_RESIL_ONE"); /* "responder,config,calls" */
  if (one) {
    int ro = 0, i = 0, c = 0;
    if (sscanf(one, "%d,%d,%d", &ro, &i, &c) != 3) return 2;
    printf("ns: %.1f\n", cost_one(ro, i, c));
    return 0;
  }
  int n = argc > 1 ? atoi(argv[1]) : 400;
  if (n < 10) n = 10;
  failing("20% of calls fail with 429/503, no Retry-After", "ttft_ms=20,fail_rate=20", n);
  failing("20% of calls fail with 429/503 and Retry-After: 1",
          "ttft_ms=20,fail_rate=20,retry_after=1", n);
  cost(1, 20000, 9);
  cost(0, 5000, 7);
  return 0;
}
