/* Shared by the call benchmarks: the mock upstream on a thread of its own
 * (so client and server each get a core), and small statistics helpers. */
#ifndef LLMRT_BENCH_COMMON_H
#define LLMRT_BENCH_COMMON_H

#include <stddef.h>
#include <uv.h>

#include "llmrt_mock.h"

typedef struct {
  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t stop;
  uv_sem_t ready;
  llmrt_mock_t *mock;
  const char *controls;
  int status;
  char url[128];
} bench_mock_t;

/* Starts the mock on its own thread with the given default controls. */
int bench_mock_start(bench_mock_t *bm, const char *controls);
void bench_mock_stop(bench_mock_t *bm);

double bench_now(void); /* seconds, monotonic */
double bench_median(double *v, size_t n); /* sorts v */

#endif
