#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>

static void on_stopped(llmrt_mock_t *m, void *user) {
}

static void on_stop(uv_async_t *a) {
  bench_mock_t *bm = a->data;
  llmrt_mock_stop(bm->mock, on_stopped, NULL);
  uv_close((uv_handle_t *)a, NULL);
}

static void mock_thread(void *arg) {
  bench_mock_t *bm = arg;
  uv_loop_init(&bm->loop);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = bm->controls;
  bm->status = llmrt_mock_start(&bm->loop, &mo, &bm->mock);
  if (bm->status == 0) {
    snprintf(bm->url, sizeof bm->url, "%s", llmrt_mock_url(bm->mock));
    uv_async_init(&bm->loop, &bm->stop, on_stop);
    bm->stop.data = bm;
  }
  uv_sem_post(&bm->ready);
  if (bm->status == 0) uv_run(&bm->loop, UV_RUN_DEFAULT);
  uv_loop_close(&bm->loop);
}

int bench_mock_start(bench_mock_t *bm, const char *controls) {
  bm->controls = controls;
  uv_sem_init(&bm->ready, 0);
  uv_thread_create(&bm->thread, mock_thread, bm);
  uv_sem_wait(&bm->ready);
  uv_sem_destroy(&bm->ready);
  if (bm->status) uv_thread_join(&bm->thread);
  return bm->status;
}

void bench_mock_stop(bench_mock_t *bm) {
  uv_async_send(&bm->stop);
  uv_thread_join(&bm->thread);
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
