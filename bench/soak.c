/* Soak: many calls through the whole chain (retry plugin included) against
 * the mock upstream on its own thread, with about 10% of them meeting a
 * fault: error statuses (with and without Retry-After), resets before and
 * after the first token, stalls ended by a short deadline, truncated and
 * malformed streams, error events, application cancels (right after
 * llmrt_call, from on_token, from a timer) and deadlines shorter than the
 * upstream's first token.
 *
 * The mock picks its behaviour from the request's x-mock header. Requests
 * cannot carry headers of their own through llmrt_call, so every behaviour
 * is an upstream in the configuration (all pointing at the mock, each with
 * its own static x-mock header) and each call picks its upstream.
 *
 * Checked and printed:
 *   - on_done runs exactly once per started call (a record per call; a second
 *     on_done is reported at once, a missing one at the end). Any violation
 *     makes the exit status 1. A call llmrt_call refused must get none.
 *   - outcomes by kind of call and by error code (llmrt_err_name);
 *   - calls of the fault-free kinds that failed anyway (reported, flagged);
 *   - RSS (/proc/self/statm) sampled through the run, with the slope over
 *     the second half (after the caches warmed up); growth is flagged;
 *   - the retry plugin's counters, the mock's counters, pool statistics.
 *
 * Usage: bench_soak [calls (default 1000000)] [concurrency (default 64)]
 * `bench_soak 20000 64` is the short mode ctest runs (label soak). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "llmrt.h"

#define TOKENS 8
#define MAX_CODES 48
#define MAX_SAMPLES 64

enum { ACT_NONE, ACT_CANCEL_SYNC, ACT_CANCEL_TOKEN, ACT_CANCEL_TIMER };

/* Upstreams: name and the x-mock header its requests carry (NULL: none). */
static const struct {
  const char *name, *xmock;
} upstreams[] = {
    {"ok", NULL},
    {"s429", "status=429,retry_after=0"},
    {"s500", "status=500"},
    {"s503", "status=503,retry_after=5"}, /* longer than max_delay_ms: no wait */
    {"reset", "fault=reset"},             /* streamed: after half the tokens */
    {"reset0", "fault=reset,after=0"},    /* before the first token: retried */
    {"stall", "fault=stall"},
    {"truncate", "fault=truncate"},
    {"eof", "fault=eof"},
    {"malformed", "fault=malformed"},
    {"error", "fault=error"},
    {"slow", "ttft_ms=20"},
};
#define N_UPSTREAMS (sizeof upstreams / sizeof upstreams[0])

/* Kinds of call, with their share in permille (they add up to 1000) and
 * whether they are expected to succeed. */
typedef struct {
  const char *name;
  const char *upstream;
  int stream;
  int permille;
  int action;
  uint32_t deadline_ms;
  int expect_ok;
} kind_t;

static const kind_t kinds[] = {
    {"ok", "ok", 0, 450, ACT_NONE, 0, 1},
    {"ok_stream", "ok", 1, 450, ACT_NONE, 0, 1},
    {"429", "s429", 1, 8, ACT_NONE, 0, 0},
    {"500", "s500", 0, 8, ACT_NONE, 0, 0},
    {"503_retry_after", "s503", 1, 6, ACT_NONE, 0, 0},
    {"reset_mid_stream", "reset", 1, 8, ACT_NONE, 0, 0},
    {"reset_first_token", "reset0", 1, 6, ACT_NONE, 0, 0},
    {"reset_not_streamed", "reset", 0, 6, ACT_NONE, 0, 0},
    {"stall_stream", "stall", 1, 5, ACT_NONE, 30, 0},
    {"stall_not_streamed", "stall", 0, 5, ACT_NONE, 30, 0},
    {"truncate_stream", "truncate", 1, 8, ACT_NONE, 0, 0},
    {"truncate_not_streamed", "truncate", 0, 5, ACT_NONE, 0, 0},
    {"eof_stream", "eof", 1, 5, ACT_NONE, 0, 0},
    {"malformed_stream", "malformed", 1, 5, ACT_NONE, 0, 0},
    {"error_event", "error", 1, 5, ACT_NONE, 0, 0},
    {"cancel_at_once", "ok", 1, 5, ACT_CANCEL_SYNC, 0, 0},
    {"cancel_on_token", "ok", 1, 5, ACT_CANCEL_TOKEN, 0, 0},
    {"cancel_by_timer", "slow", 0, 5, ACT_CANCEL_TIMER, 0, 0},
    {"short_deadline", "slow", 1, 5, ACT_NONE, 5, 0},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

/* One record per call: its state, so a second on_done, or one for a call
 * llmrt_call refused, is caught. */
enum { ST_IDLE = 0, ST_STARTED, ST_DONE, ST_REFUSED };
typedef struct {
  uint8_t state;
  uint8_t kind;
  uint16_t slot;
} rec_t;

typedef struct slot_s slot_t;

typedef struct {
  llmrt_t *rt;
  uv_loop_t *loop;
  rec_t *recs;
  slot_t *slots;
  long n, started, finished, inflight;
  long violations, refused, unexpected_fail;
  int codes[MAX_CODES];
  long outcome[N_KINDS][MAX_CODES];
  int n_codes;
  long sample_every;
  int n_samples;
  double sample_calls[MAX_SAMPLES], sample_rss[MAX_SAMPLES]; /* calls done, MiB */
  int stopping;
} soak_t;

struct slot_s {
  soak_t *s;
  uint16_t id;
  long idx;           /* call in this slot, -1 if none */
  uint64_t call; /* the running call's id (0: none) */
  uv_timer_t timer;
};

static soak_t S;

static int code_slot(int code) {
  for (int i = 0; i < S.n_codes; i++)
    if (S.codes[i] == code) return i;
  if (S.n_codes == MAX_CODES) return MAX_CODES - 1; /* lumps the rest in the last */
  S.codes[S.n_codes] = code;
  return S.n_codes++;
}

static double rss_mib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, res = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
    fclose(f);
  }
  return (double)res * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void sample(void) {
  if (S.n_samples == MAX_SAMPLES) return;
  S.sample_calls[S.n_samples] = (double)S.finished;
  S.sample_rss[S.n_samples] = rss_mib();
  S.n_samples++;
}

/* Deterministic kind of call i (splitmix64), so a failing run repeats. */
static int kind_of(long i) {
  uint64_t z = (uint64_t)i + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  int p = (int)(z % 1000);
  for (size_t k = 0; k < N_KINDS; k++) {
    if (p < kinds[k].permille) return (int)k;
    p -= kinds[k].permille;
  }
  return 0;
}

static void start_next(slot_t *sl);

static void on_token(llmrt_call_t *c, const char *text, size_t len, void *user) {
  rec_t *r = user;
  if (kinds[r->kind].action == ACT_CANCEL_TOKEN) llmrt_call_cancel(c);
}

static void on_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  rec_t *r = user;
  long idx = (long)(r - S.recs);
  if (r->state != ST_STARTED) {
    S.violations++;
    fprintf(stderr, "soak: VIOLATION: on_done for call %ld in state %s (status %s)\n", idx,
            r->state == ST_DONE ? "done (second on_done)" : "refused/idle", llmrt_err_name(status));
    return; /* touch nothing else: the slot has moved on */
  }
  r->state = ST_DONE;
  S.finished++;
  S.inflight--;
  int cs = code_slot(status);
  S.outcome[r->kind][cs]++;
  if (kinds[r->kind].expect_ok && status != 0 && S.unexpected_fail++ < 5)
    fprintf(stderr, "soak: call %ld (%s) failed: %s: %s\n", idx, kinds[r->kind].name,
            llmrt_err_name(status), res->error_message ? res->error_message : "");
  if (S.finished % S.sample_every == 0) sample();
  slot_t *sl = &S.slots[r->slot];
  if (sl->idx == idx) {
    uv_timer_stop(&sl->timer);
    sl->idx = -1;
    sl->call = 0;
    start_next(sl);
  }
}

static const llmrt_callbacks_t cbs = {on_token, NULL, on_done};

static void on_cancel_timer(uv_timer_t *t) {
  slot_t *sl = t->data;
  if (sl->idx >= 0 && S.recs[sl->idx].state == ST_STARTED) llmrt_cancel(S.rt, sl->call);
}

static void start_next(slot_t *sl) {
  static const llmrt_message_t m = {.role = "user", .content = "Soak prompt: say something."};
  while (S.started < S.n) {
    long idx = S.started++;
    rec_t *r = &S.recs[idx];
    const kind_t *k = &kinds[r->kind];
    llmrt_request_t req;
    llmrt_request_init(&req);
    req.upstream = k->upstream;
    req.model = "mock";
    req.messages = &m;
    req.n_messages = 1;
    req.stream = k->stream;
    req.max_tokens = TOKENS;
    req.deadline_ms = k->deadline_ms;
    r->slot = sl->id;
    r->state = ST_STARTED;
    sl->idx = idx;
    S.inflight++;
    uint64_t call = 0;
    int rc = llmrt_call(S.rt, &req, &cbs, r, &call);
    if (rc != 0) {
      if (r->state != ST_STARTED) {
        S.violations++;
        fprintf(stderr, "soak: VIOLATION: llmrt_call returned %s but on_done ran\n",
                llmrt_err_name(rc));
      } else {
        S.inflight--;
      }
      r->state = ST_REFUSED;
      sl->idx = -1;
      if (S.refused++ < 5) fprintf(stderr, "soak: llmrt_call refused: %s\n", llmrt_err_name(rc));
      continue; /* the slot takes the next call */
    }
    if (r->state != ST_STARTED || sl->idx != idx) return; /* on_done already ran */
    sl->call = call;
    if (k->action == ACT_CANCEL_SYNC) llmrt_cancel(S.rt, call);
    if (k->action == ACT_CANCEL_TIMER) uv_timer_start(&sl->timer, on_cancel_timer, 2, 0);
    return;
  }
}

static int rt_closed;
static void on_rt_closed(llmrt_t *rt, void *u) {
  rt_closed = 1;
}

/* The retry plugin's counters, from the Prometheus text. */
static void print_retry_metrics(void) {
  char *text;
  size_t len;
  if (llmrt_metrics_text(S.rt, &text, &len) != 0) return;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
    if (!strncmp(line, "llmrt_retries_total", 19) ||
        !strncmp(line, "llmrt_retries_exhausted_total", 29))
      printf("  %s\n", line);
  llmrt_free(text);
}

/* Least-squares slope of RSS over calls, samples [from, n). */
static double slope(int from, int n) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int k = n - from;
  if (k < 2) return 0;
  for (int i = from; i < n; i++) {
    sx += S.sample_calls[i];
    sy += S.sample_rss[i];
    sxx += S.sample_calls[i] * S.sample_calls[i];
    sxy += S.sample_calls[i] * S.sample_rss[i];
  }
  double d = k * sxx - sx * sx;
  return d != 0 ? (k * sxy - sx * sy) / d : 0;
}

static void build_config(char *cfg, size_t cap, const char *url) {
  size_t n = (size_t)snprintf(cfg, cap, "{\"upstreams\":{");
  for (size_t i = 0; i < N_UPSTREAMS; i++) {
    n += (size_t)snprintf(cfg + n, cap - n,
                          "%s\"%s\":{\"base_url\":\"%s\",\"api_key_env\":\"SOAK_KEY\"",
                          i ? "," : "", upstreams[i].name, url);
    if (upstreams[i].xmock)
      n += (size_t)snprintf(cfg + n, cap - n, ",\"headers\":{\"x-mock\":\"%s\"}",
                            upstreams[i].xmock);
    n += (size_t)snprintf(cfg + n, cap - n, "}");
  }
  snprintf(cfg + n, cap - n,
           "},\"default_upstream\":\"ok\","
           "\"plugins\":[{\"name\":\"retry\",\"max_attempts\":3,\"base_delay_ms\":1,"
           "\"max_delay_ms\":20}]}");
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  int conc = argc > 2 ? atoi(argv[2]) : 64;
  if (n < 1 || conc < 1 || conc > 60000) {
    fprintf(stderr, "usage: bench_soak [calls (default 1000000)] [concurrency (default 64)]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  setenv("SOAK_KEY", "soak", 1);

  bench_mock_t bm;
  char controls[64];
  snprintf(controls, sizeof controls, "tokens=%d", TOKENS);
  if (bench_mock_start(&bm, controls)) {
    fprintf(stderr, "soak: cannot start the mock\n");
    return 1;
  }

  /* Every page of the records is touched now, so they do not show up as
   * growth in the RSS series. */
  S.n = n;
  S.recs = malloc((size_t)n * sizeof *S.recs);
  S.slots = calloc((size_t)conc, sizeof *S.slots);
  if (!S.recs || !S.slots) {
    fprintf(stderr, "soak: out of memory\n");
    return 1;
  }
  memset(S.recs, 0, (size_t)n * sizeof *S.recs);
  long per_kind[N_KINDS] = {0};
  for (long i = 0; i < n; i++) {
    S.recs[i].kind = (uint8_t)kind_of(i);
    per_kind[S.recs[i].kind]++;
  }
  S.sample_every = n / 32 > 0 ? n / 32 : 1;

  uv_loop_t loop;
  uv_loop_init(&loop);
  S.loop = &loop;
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_max_per_origin = (uint32_t)(conc < 256 ? conc + 8 : 256);
  if (llmrt_new(&loop, &o, &S.rt) != 0) return 1;
  char cfg[4096], err[256];
  build_config(cfg, sizeof cfg, bm.url);
  if (llmrt_configure(S.rt, cfg, err, sizeof err) != 0) {
    fprintf(stderr, "soak: llmrt_configure: %s\n", err);
    return 1;
  }
  for (int i = 0; i < conc; i++) {
    S.slots[i] = (slot_t){&S, (uint16_t)i, -1, 0, {0}};
    uv_timer_init(&loop, &S.slots[i].timer);
    S.slots[i].timer.data = &S.slots[i];
  }

  printf("soak: %ld calls, concurrency %d, against the mock (own thread), retry plugin "
         "(3 attempts, 1..20 ms backoff); ~10%% faults\n",
         n, conc);
  sample();
  double t0 = bench_now();
  for (int i = 0; i < conc && S.started < S.n; i++)
    start_next(&S.slots[i]);
  while (S.inflight > 0)
    uv_run(&loop, UV_RUN_ONCE);
  double dt = bench_now() - t0;
  if (S.sample_calls[S.n_samples - 1] != (double)S.finished) sample();

  /* Missing on_done: a started call that never ended. */
  long missing = 0;
  for (long i = 0; i < n; i++)
    if (S.recs[i].state == ST_STARTED || S.recs[i].state == ST_IDLE) {
      if (missing++ < 5)
        fprintf(stderr, "soak: VIOLATION: call %ld got no on_done (or never started)\n", i);
    }
  S.violations += missing;

  llmrt_pool_stats_t ps;
  llmrt_pool_stats(S.rt, NULL, &ps);
  printf("\n%ld calls in %.1f s: %.0f calls/s; %ld refused by llmrt_call\n", S.finished, dt,
         (double)S.finished / dt, S.refused);
  printf("\noutcomes by kind (share, then count per status):\n");
  for (size_t k = 0; k < N_KINDS; k++) {
    printf("  %-22s %5.1f%%  n=%-7ld", kinds[k].name, 100.0 * (double)per_kind[k] / (double)n,
           per_kind[k]);
    for (int c = 0; c < S.n_codes; c++)
      if (S.outcome[k][c])
        printf(" %s=%ld", S.codes[c] ? llmrt_err_name(S.codes[c]) : "ok", S.outcome[k][c]);
    printf("\n");
  }
  printf("\nerrors by code (all calls):\n");
  for (int c = 0; c < S.n_codes; c++) {
    long tot = 0;
    for (size_t k = 0; k < N_KINDS; k++)
      tot += S.outcome[k][c];
    printf("  %-26s %8ld\n", S.codes[c] ? llmrt_err_name(S.codes[c]) : "ok (0)", tot);
  }
  printf("\nretry plugin:\n");
  print_retry_metrics();
  llmrt_mock_stats_t ms;
  llmrt_mock_stats(bm.mock, &ms); /* counters only: a racy read is fine here */
  printf("mock: %llu connections, %llu requests, %llu completions, %llu error answers, %llu "
         "faults, %llu cut short by the client\n",
         (unsigned long long)ms.connections, (unsigned long long)ms.requests,
         (unsigned long long)ms.completions, (unsigned long long)ms.errors,
         (unsigned long long)ms.faults, (unsigned long long)ms.aborted);
  printf("pool: %llu opened, %llu reused, %llu closed, %llu stale retries\n",
         (unsigned long long)ps.opened, (unsigned long long)ps.reused,
         (unsigned long long)ps.closed, (unsigned long long)ps.stale_retries);

  printf("\nRSS (MiB) by calls done:");
  int step = S.n_samples > 12 ? S.n_samples / 12 : 1;
  for (int i = 0; i < S.n_samples; i++)
    if (i % step == 0 || i == S.n_samples - 1)
      printf(" %.0f:%.1f", S.sample_calls[i], S.sample_rss[i]);
  int half = S.n_samples / 2;
  double sl = slope(half, S.n_samples) * 100000.0 * 1024.0; /* KiB per 100k calls */
  double grew = S.sample_rss[S.n_samples - 1] - S.sample_rss[half];
  int growth = sl > 256.0 && grew > 2.0;
  printf("\nRSS slope over the second half: %.1f KiB per 100k calls (%+.2f MiB)%s\n", sl, grew,
         growth ? "  <-- GROWTH: possible leak" : "");

  for (int i = 0; i < conc; i++)
    uv_close((uv_handle_t *)&S.slots[i].timer, NULL);
  llmrt_close(S.rt, on_rt_closed, NULL);
  while (!rt_closed)
    uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  bench_mock_stop(&bm);

  if (S.unexpected_fail)
    printf("WARNING: %ld calls of fault-free kinds failed\n", S.unexpected_fail);
  if (S.violations) {
    printf("FAIL: %ld calls did not get exactly one on_done\n", S.violations);
    return 1;
  }
  printf("PASS: every one of %ld started calls got exactly one on_done\n", n - S.refused);
  free(S.recs);
  free(S.slots);
  return 0;
}
