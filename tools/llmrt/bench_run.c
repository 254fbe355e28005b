/* llmrt bench's scheduler: a closed loop (a fixed number of calls in
 * flight) or an open loop (calls started at a fixed rate whatever the
 * answers do). In the open loop each call's latency counts from the time it
 * was due, not from when it was sent, so a client or server that falls
 * behind shows in the figures (no coordinated omission). With two sides,
 * calls alternate between them, so both see the same conditions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct {
  bench_t *b;
  bench_side_t *s;
  uint64_t due_ns;  /* when it was due (open loop) or sent (closed loop) */
  uint64_t sent_ns; /* when llmrt_call was made */
} bench_call_t;

uint64_t bench_pct(const uint64_t *v, size_t n, double p) {
  if (!n) return 0;
  /* Nearest rank, so the reported value is one that was measured. */
  size_t k = (size_t)((p / 100.0) * (double)n + 0.999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1];
}

static int push(uint64_t **arr, size_t *n, size_t *cap, uint64_t v) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 1024;
    uint64_t *p = realloc(*arr, c * sizeof *p);
    if (!p) return -1;
    *arr = p;
    *cap = c;
  }
  (*arr)[(*n)++] = v;
  return 0;
}

static void count_error(bench_side_t *s, int status, int http_status) {
  for (size_t i = 0; i < s->n_errs; i++) {
    if (s->errs[i].status == status && s->errs[i].http_status == http_status) {
      s->errs[i].count++;
      return;
    }
  }
  size_t i = s->n_errs < BENCH_MAX_ERRKINDS ? s->n_errs++ : BENCH_MAX_ERRKINDS - 1;
  if (i == BENCH_MAX_ERRKINDS - 1 && s->errs[i].count) {
    s->errs[i].name = "other"; /* the last slot collects the rest */
    s->errs[i].status = 1;
    s->errs[i].http_status = 0;
    s->errs[i].count++;
    return;
  }
  s->errs[i] = (bench_errkind_t){llmrt_err_name(status), status, http_status, 1};
}

static int total_wanted_reached(const bench_t *b) {
  return b->requests && b->issued >= (uint64_t)b->requests * (uint64_t)b->n_sides;
}

static uint64_t in_flight(const bench_t *b) {
  uint64_t n = 0;
  for (int i = 0; i < b->n_sides; i++)
    n += b->side[i].in_flight;
  return n;
}

static void stop_timers(bench_t *b) {
  if (!uv_is_closing((uv_handle_t *)&b->tick)) uv_close((uv_handle_t *)&b->tick, NULL);
  if (!uv_is_closing((uv_handle_t *)&b->progress_timer))
    uv_close((uv_handle_t *)&b->progress_timer, NULL);
  if (!uv_is_closing((uv_handle_t *)&b->sigint)) uv_close((uv_handle_t *)&b->sigint, NULL);
}

static void maybe_finish(bench_t *b) {
  if (b->finished || !b->stopping || in_flight(b)) return;
  b->finished = 1;
  b->end_ns = uv_hrtime();
  stop_timers(b);
}

static void send_one(bench_t *b, uint64_t due_ns);

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  bench_call_t *bc = user;
  bench_t *b = bc->b;
  bench_side_t *s = bc->s;
  (void)call;
  uint64_t now = uv_hrtime();
  s->in_flight--;
  s->attempts += (uint64_t)(res->attempts > 0 ? res->attempts : 0);
  s->in_tokens += (uint64_t)(res->input_tokens > 0 ? res->input_tokens : 0);
  s->out_tokens += (uint64_t)(res->output_tokens > 0 ? res->output_tokens : 0);
  if (status == 0) {
    s->ok++;
    int r = push(&s->lat_us, &s->n_lat, &s->cap_lat, (now - bc->due_ns) / 1000);
    if (r == 0 && res->timings.first_token_us)
      r = push(&s->ttft_us, &s->n_ttft, &s->cap_ttft,
               (bc->sent_ns - bc->due_ns) / 1000 + res->timings.first_token_us);
    if (r) count_error(s, LLMRT_ENOMEM, 0);
  } else {
    s->failed++;
    count_error(s, status, res->http_status);
  }
  free(bc);
  if (b->rate <= 0 && !b->stopping) send_one(b, uv_hrtime()); /* closed loop: refill */
  maybe_finish(b);
}

static void send_one(bench_t *b, uint64_t due_ns) {
  if (total_wanted_reached(b)) b->stopping = 1;
  if (b->stopping) return;
  bench_side_t *s = &b->side[b->issued % (uint64_t)b->n_sides];
  const bench_prompt_t *p = &b->prompts[(b->issued / (uint64_t)b->n_sides) % b->n_prompts];
  b->issued++;
  bench_call_t *bc = calloc(1, sizeof *bc);
  s->sent++;
  if (!bc) {
    s->failed++;
    count_error(s, LLMRT_ENOMEM, 0);
    return;
  }
  bc->b = b;
  bc->s = s;
  bc->due_ns = due_ns;
  bc->sent_ns = uv_hrtime();
  if (!b->first_send_ns) b->first_send_ns = bc->sent_ns;
  b->last_send_ns = bc->sent_ns;
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.model = s->model;
  req.messages = p->msgs;
  req.n_messages = p->n;
  req.max_tokens = b->max_tokens;
  req.stream = b->stream;
  req.headers = b->headers;
  req.n_headers = b->n_headers;
  static const llmrt_callbacks_t cbs = {NULL, NULL, on_done};
  s->in_flight++;
  int r = llmrt_call(s->rt, &req, &cbs, bc, NULL);
  if (r) { /* no callback runs: count it here */
    s->in_flight--;
    s->failed++;
    count_error(s, r, 0);
    free(bc);
    /* A refused request (a bad header, a closed runtime) would be refused
     * again every time: end the run rather than spin. */
    b->stopping = 1;
    b->refused = r;
  }
}

/* Open loop: every call whose due time has come is sent now; the timer is
 * set for the next one. Late sends keep their due time for the latency. */
static void on_tick(uv_timer_t *t) {
  bench_t *b = t->data;
  uint64_t now = uv_hrtime();
  double per_ns = 1e9 / b->rate;
  for (;;) {
    if (b->duration_s > 0 && now - b->start_ns >= (uint64_t)(b->duration_s * 1e9)) b->stopping = 1;
    if (total_wanted_reached(b)) b->stopping = 1;
    if (b->stopping) break;
    uint64_t due = b->start_ns + (uint64_t)((double)b->issued * per_ns);
    if (due > now) {
      uint64_t wait_ms = (due - now + 999999) / 1000000;
      uv_timer_start(&b->tick, on_tick, wait_ms, 0);
      return;
    }
    send_one(b, due);
  }
  maybe_finish(b);
}

/* Closed loop with a duration: the deadline stops new sends. */
static void on_deadline(uv_timer_t *t) {
  bench_t *b = t->data;
  b->stopping = 1;
  maybe_finish(b);
}

static void on_progress(uv_timer_t *t) {
  bench_t *b = t->data;
  double el = (uv_hrtime() - b->start_ns) / 1e9;
  uint64_t done = 0, failed = 0;
  for (int i = 0; i < b->n_sides; i++) {
    done += b->side[i].ok + b->side[i].failed;
    failed += b->side[i].failed;
  }
  fprintf(stderr, "\r\033[K%6.1f s  %llu done (%llu failed), %llu in flight, %.1f/s", el,
          (unsigned long long)done, (unsigned long long)failed, (unsigned long long)in_flight(b),
          el > 0 ? done / el : 0.0);
}

static void on_sigint(uv_signal_t *sg, int signum) {
  bench_t *b = sg->data;
  (void)signum;
  /* Stop sending; calls in flight finish (or time out) and are counted. */
  b->stopping = 1;
  b->interrupted = 1;
  maybe_finish(b);
}

int bench_run(bench_t *b) {
  uv_timer_init(b->loop, &b->tick);
  uv_timer_init(b->loop, &b->progress_timer);
  uv_signal_init(b->loop, &b->sigint);
  b->tick.data = b->progress_timer.data = b->sigint.data = b;
  uv_signal_start(&b->sigint, on_sigint, SIGINT);
  uv_update_time(b->loop);
  b->start_ns = uv_hrtime();
  if (b->progress) uv_timer_start(&b->progress_timer, on_progress, 250, 250);
  if (b->rate > 0) {
    on_tick(&b->tick);
  } else {
    if (b->duration_s > 0)
      uv_timer_start(&b->tick, on_deadline, (uint64_t)(b->duration_s * 1000), 0);
    for (long i = 0; i < b->concurrency && !b->stopping; i++)
      send_one(b, uv_hrtime());
    maybe_finish(b);
  }
  while (!b->finished)
    uv_run(b->loop, UV_RUN_ONCE);
  if (b->progress) fprintf(stderr, "\r\033[K");
  return 0;
}
