#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>

int bench_mock_start(bench_mock_t *bm, const char *controls) {
  return mock_thread_start(bm, controls);
}

void bench_mock_stop(bench_mock_t *bm) {
  mock_thread_stop(bm);
}

double bench_now(void) {
  return uv_hrtime() / 1e9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp);
  return n ? v[n / 2] : 0;
}
