/* llmrt bench: shared state of bench_cmd.c (options, report) and
 * bench_run.c (scheduling and measurement). */
#ifndef LLMRT_TOOL_BENCH_H
#define LLMRT_TOOL_BENCH_H

#include <stdint.h>

#include "cmds.h"
#include "llmrt.h"
#include "llmrt_mock.h"

#define BENCH_MAX_ERRKINDS 32
#define BENCH_MAX_HEADERS 32

/* One prompt: a conversation (OWNED strings). */
typedef struct {
  llmrt_message_t *msgs;
  size_t n;
} bench_prompt_t;

typedef struct {
  const char *name; /* llmrt_err_name(), or "HTTP 429" style */
  int status;
  int http_status;
  uint64_t count;
} bench_errkind_t;

/* One side of the run (A, or B with --vs): a runtime and what it measured. */
typedef struct {
  const char *label;
  llmrt_tool_target_t target;
  const char *model;
  llmrt_t *rt;
  uint64_t sent, ok, failed, in_flight;
  uint64_t in_tokens, out_tokens, attempts;
  uint64_t *lat_us, *ttft_us; /* per successful call, from the intended send time */
  size_t n_lat, cap_lat, n_ttft, cap_ttft;
  bench_errkind_t errs[BENCH_MAX_ERRKINDS];
  size_t n_errs;
} bench_side_t;

typedef struct {
  /* Options. */
  long concurrency; /* closed loop: calls in flight (default 8) */
  double rate;      /* open loop: calls per second (0: closed loop) */
  double duration_s;
  long requests; /* per side; 0 with duration */
  int stream;
  int32_t max_tokens;
  int progress; /* stderr is a terminal */
  const char *json_path;
  bench_prompt_t *prompts;
  size_t n_prompts;
  llmrt_header_t headers[BENCH_MAX_HEADERS + 1];
  size_t n_headers;
  /* Run state. */
  bench_side_t side[2];
  int n_sides;
  llmrt_mock_t *mock;
  uv_loop_t *loop;
  uv_timer_t tick, progress_timer;
  uint64_t start_ns, end_ns, last_send_ns, first_send_ns;
  uint64_t issued; /* over both sides: which side and prompt goes next */
  int stopping;    /* no more sends */
  int finished;
  int interrupted;
  int refused; /* llmrt_call's error that ended the run, 0 if none */
  uv_signal_t sigint;
} bench_t;

/* Runs the workload to completion on b->loop (runtimes configured). */
int bench_run(bench_t *b);
/* Percentile p (0..100) of a sorted array. */
uint64_t bench_pct(const uint64_t *v, size_t n, double p);

#endif
