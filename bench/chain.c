/* Cost of the middleware chain: chains of 0, 1, 4 and 16 no-op plugins
 * loaded as .so files.
 *
 * Part 1 isolates the chain: the innermost plugin answers every call itself
 * (emitting E text events), so no socket is involved, and the difference to
 * the empty chain is the chain's cost per call and per event.
 * Part 2 runs streamed calls against the mock upstream (own thread) and
 * prints calls/s as a ratio to the empty chain. Medians of several runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "llmrt.h"

#define RUNS 5

/* ---- The responder: answers with E text events, never goes upstream ---- */
static const llmrt_host_t *H;
static int g_events;

static int resp_on_request(llmrt_ctx_t *ctx) {
  llmrt_event_t ev = {.type = LLMRT_EV_TEXT, .text = "tok ", .len = 4};
  for (int i = 0; i < g_events; i++) H->emit(ctx, &ev);
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

/* ---- The pauser: holds the event flow at every event and resumes at once
 * (inside its hook, so the flow goes on on the next loop turn): the cost of
 * one event-phase pause/resume cycle. ---- */
static int g_pause;

static int pause_on_event(llmrt_ctx_t *ctx, llmrt_event_t *ev) {
  (void)ev;
  H->resume(ctx);
  return LLMRT_PAUSE;
}

static const llmrt_plugin_t pauser = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "pauser",
    .on_event = pause_on_event,
};

static const llmrt_plugin_t *pauser_entry(const llmrt_host_t *host) {
  H = host;
  return &pauser;
}

typedef struct {
  llmrt_t *rt;
  int target, started, done, inflight;
} load_t;

static void start_one(load_t *l);

static void on_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  load_t *l = user;
  l->done++;
  l->inflight--;
  if (status) {
    fprintf(stderr, "call failed: %s\n", res->error_message);
    exit(1);
  }
  if (l->started < l->target) start_one(l);
}

static void on_token(llmrt_call_t *c, const char *t, size_t n, void *u) {
}

static void start_one(load_t *l) {
  static llmrt_message_t m = {.role = "user", .content = "bench"};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = "mock";
  req.messages = &m;
  req.n_messages = 1;
  req.stream = 1;
  req.max_tokens = 16;
  llmrt_callbacks_t cbs = {on_token, NULL, on_done};
  if (llmrt_call(l->rt, &req, &cbs, l, NULL) == 0) {
    l->started++;
    l->inflight++;
  }
}

static void on_closed(llmrt_t *rt, void *u) {
}

/* Seconds for n calls, 64 in flight, through `plugins` noops (+ responder). */
static double run(int plugins, int responder_on, const char *url, int n) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  load_t l = {0};
  llmrt_new(&loop, NULL, &l.rt);
  llmrt_add_plugin(l.rt, "responder", responder_entry);
  llmrt_add_plugin(l.rt, "pauser", pauser_entry);
  char cfg[8192];
  int o = snprintf(cfg, sizeof cfg,
                   "{\"upstreams\":{\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"BENCH_KEY\"}},"
                   "\"plugins\":[",
                   url);
  if (g_pause) o += snprintf(cfg + o, sizeof cfg - (size_t)o, "{\"name\":\"pauser\"},");
  for (int i = 0; i < plugins; i++)
    o += snprintf(cfg + o, sizeof cfg - (size_t)o, "%s{\"name\":\"%s\",\"n\":%d}", i ? "," : "",
                  LLMRT_BENCH_NOOP, i);
  if (responder_on)
    o += snprintf(cfg + o, sizeof cfg - (size_t)o, "%s{\"name\":\"responder\"}", plugins ? "," : "");
  snprintf(cfg + o, sizeof cfg - (size_t)o, "]}");
  char err[512];
  if (llmrt_configure(l.rt, cfg, err, sizeof err)) {
    fprintf(stderr, "configure: %s\n", err);
    exit(1);
  }
  l.target = 64;
  for (int i = 0; i < 64; i++) start_one(&l); /* warm-up */
  while (l.done < 64) uv_run(&loop, UV_RUN_ONCE);
  l.started = l.done = 0;
  l.target = n;
  double t0 = bench_now();
  for (int i = 0; i < 64; i++) start_one(&l);
  while (l.done < n) uv_run(&loop, UV_RUN_ONCE);
  double dt = bench_now() - t0;
  llmrt_close(l.rt, on_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return dt;
}

/* Runs one configuration in a fresh process (this program, re-executed):
 * a runtime's heap and loop state after earlier runs skew later ones far
 * more than the few hundred nanoseconds being measured. */
static double spawn(const char *var, int p, int e, int n) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s=%d,%d,%d /proc/%d/exe", var, p, e, n, (int)getpid());
  FILE *f = popen(cmd, "r");
  double ns = -1;
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f)) {
      const char *at = strstr(line, ": ");
      if (at) ns = atof(at + 2);
    }
    pclose(f);
  }
  if (ns < 0) {
    fprintf(stderr, "bench child %s=%d,%d,%d failed\n", var, p, e, n);
    exit(1);
  }
  return ns;
}

int main(void) {
  setenv("BENCH_KEY", "bench", 1);
  const char *one = getenv("BENCH_CHAIN_ONE"); /* "plugins,events,calls" */
  if (one) {
    int p = 0, e = 0, c = 0;
    if (sscanf(one, "%d,%d,%d", &p, &e, &c) != 3) return 2;
    g_events = e;
    printf("%d plugins, %d events: %.1f\n", p, e, run(p, 1, "http://127.0.0.1:9/v1", c) / c * 1e9);
    return 0;
  }
  const char *pz = getenv("BENCH_CHAIN_PAUSE"); /* "0,events,calls": pauser outermost */
  if (pz) {
    int p = 0, e = 0, c = 0;
    if (sscanf(pz, "%d,%d,%d", &p, &e, &c) != 3) return 2;
    g_events = e;
    g_pause = 1;
    printf("pauser, %d events: %.1f\n", e, run(p, 1, "http://127.0.0.1:9/v1", c) / c * 1e9);
    return 0;
  }
  const char *mock = getenv("BENCH_CHAIN_MOCK"); /* "plugins,0,calls" */
  if (mock) {
    int p = 0, e = 0, c = 0;
    if (sscanf(mock, "%d,%d,%d", &p, &e, &c) != 3) return 2;
    bench_mock_t bm;
    if (bench_mock_start(&bm, "tokens=16")) return 1;
    printf("%d plugins via mock: %.1f\n", p, run(p, 0, bm.url, c) / c * 1e9);
    bench_mock_stop(&bm);
    return 0;
  }

  enum { NS = 4 };
  int sizes[NS] = {0, 1, 4, 16};
  const int n = 200000, events = 64, nm = 3000;
  /* Each configuration runs in its own process, interleaved run by run so
   * that machine noise hits them alike; medians are reported. */
  double t0[NS][RUNS], t64[NS][RUNS], tm[NS][RUNS], tp[RUNS];
  for (int r = 0; r < RUNS; r++) {
    for (int i = 0; i < NS; i++) {
      t0[i][r] = spawn("BENCH_CHAIN_ONE", sizes[i], 0, n);
      t64[i][r] = spawn("BENCH_CHAIN_ONE", sizes[i], events, n / 4);
      tm[i][r] = spawn("BENCH_CHAIN_MOCK", sizes[i], 0, nm);
    }
    tp[r] = spawn("BENCH_CHAIN_PAUSE", 0, events, n / 4);
  }
  printf("chain, part 1: calls answered by the innermost plugin (no sockets), 64 in flight;\n"
         "each configuration in a fresh process, median of %d interleaved runs\n", RUNS);
  printf("%8s %12s %16s %16s\n", "plugins", "ns/call", "ns/call vs 0", "ns/event vs 0");
  double m0[NS], m64[NS];
  for (int i = 0; i < NS; i++) {
    m0[i] = bench_median(t0[i], RUNS);
    m64[i] = bench_median(t64[i], RUNS);
  }
  for (int i = 0; i < NS; i++) {
    double per_event = ((m64[i] - m0[i]) - (m64[0] - m0[0])) / events;
    printf("%8d %12.0f %16.0f %16.1f\n", sizes[i], m0[i], m0[i] - m0[0], per_event);
  }
  double mp = bench_median(tp, RUNS);
  printf("\nchain, part 3: an outer plugin pauses the flow at every event and resumes at once\n"
         "(the event goes on on the next loop turn): %.0f ns per pause/resume cycle, loop turn\n"
         "included, over the empty chain's %.1f ns per event\n",
         (mp - m64[0]) / events, (m64[0] - m0[0]) / events);
  printf("\nchain, part 2: streamed calls of 16 tokens against the mock (own thread), %d calls\n",
         nm);
  printf("%8s %12s %12s\n", "plugins", "calls/s", "vs 0");
  double b = bench_median(tm[0], RUNS);
  for (int i = 0; i < NS; i++) {
    double t = bench_median(tm[i], RUNS);
    printf("%8d %12.0f %11.3fx\n", sizes[i], 1e9 / t, b / t);
  }
  return 0;
}
