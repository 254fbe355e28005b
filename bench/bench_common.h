/* Shared by the call benchmarks: the mock upstream on a thread of its own
 * (so client and server each get a core), and small statistics helpers. */
#ifndef LLMRT_BENCH_COMMON_H
#define LLMRT_BENCH_COMMON_H

#include <stddef.h>
#include <uv.h>

#include "mock_thread.h"

/* The mock on its own thread is the tests' fixture (tests/common/mock_thread.h). */
typedef mock_thread_t bench_mock_t;

/* Starts the mock on its own thread with the given default controls. */
int bench_mock_start(bench_mock_t *bm, const char *controls);
void bench_mock_stop(bench_mock_t *bm);

double bench_now(void); /* seconds, monotonic */
double bench_median(double *v, size_t n); /* sorts v */

#endif
