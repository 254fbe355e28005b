/* llmrt demo: shared between demo.c (options, the two runs, the table),
 * demo_work.c (the workload and its scheduler) and demo_wire.c (a plugin
 * that counts what reaches the wire). */
#ifndef LLMRT_TOOL_DEMO_H
#define LLMRT_TOOL_DEMO_H

#include <stdint.h>

#include "cmds.h"
#include "llmrt.h"
#include "llmrt/plugin.h"
#include "llmrt_mock.h"

/* What the innermost plugin saw of every upstream attempt. */
typedef struct {
  uint64_t attempts;         /* requests that went to the upstream */
  uint64_t first_attempts;   /* of which first attempts (the rest are retries) */
  uint64_t tokens_sent;      /* their message bytes / 4 (the mock's own estimate) */
  uint64_t status_429;       /* answers with HTTP 429 */
  uint64_t status_5xx;       /* answers with HTTP 5xx */
  uint64_t status_other_err; /* other 4xx */
} demo_wire_t;

/* The plugin's entry, for llmrt_add_plugin (name "demo_wire"). It adds to
 * *demo_wire_counters, which the demo points at the current run's record
 * (one run at a time, on one thread). */
const llmrt_plugin_t *demo_wire_entry(const llmrt_host_t *host);
extern demo_wire_t *demo_wire_counters;

/* One run's measurements. */
typedef struct {
  const char *label;
  demo_wire_t wire;
  llmrt_mock_stats_t mock;                           /* the run's own mock */
  uint64_t calls, ok, failed, cache_hits, recovered; /* recovered: ok after >1 attempt */
  uint64_t in_tokens, out_tokens;                    /* as the results report them */
  uint64_t *lat_us, *ttft_us;
  size_t n_lat, n_ttft;
  double elapsed_s;
  /* Numeric attributes plugins set on results, summed by name. */
  struct {
    char name[48];
    double sum;
    uint64_t n;
  } attrs[32];
  size_t n_attrs;
  char plugins[256]; /* the chain actually loaded, "none" for the baseline */
} demo_run_t;

typedef struct {
  llmrt_t *rt;
  uv_loop_t *loop;
  demo_run_t *run;
  int stream_first; /* print the first answer token by token */
  int progress;     /* one redrawn status line on stderr */
  int small;        /* --real: a small workload */
  const char *model;
  int has_mock_header; /* send x-mock fault controls (the mock only) */
} demo_ctx_t;

/* Runs the whole workload on ctx->rt (configured) and fills ctx->run.
 * Returns 0 or an llmrt error that stopped it before it could start. */
int demo_workload(demo_ctx_t *ctx);

#endif

/* The mock's behaviour in the demo: one table (demo_work.c), read when the
 * mock starts (phase DEMO_ALL: its default controls) and for every request
 * of the workload (a phase: added as that request's x-mock header when
 * index >= offset and (index - offset) % every == 0). An entry marked
 * optional is used only if the mock knows its controls; entries with
 * fallback_for = i stand in for entry i when it is not. */
enum { DEMO_ALL = -1, DEMO_INTRO = 0, DEMO_FAQ, DEMO_AGENT, DEMO_BURST, DEMO_PHASES };
typedef struct {
  const char *what;
  const char *controls;
  int phase;
  int every, offset;
  int optional;
  int fallback_for; /* -1: none */
} demo_mock_setting_t;
extern const demo_mock_setting_t demo_mock_settings[];
extern const size_t demo_n_mock_settings;
/* Set by demo.c: which optional entries the mock accepted. */
extern int demo_mock_supported[16];
