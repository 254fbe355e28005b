/* The mock upstream on its own thread: see mock_thread.h. */
#include "mock_thread.h"

#include <stdio.h>

static void on_stopped(llmrt_mock_t *m, void *user) {}

/* Runs on the mock's thread, woken by mock_thread_stop. */
static void on_stop(uv_async_t *a) {
  mock_thread_t *mt = a->data;
  llmrt_mock_stop(mt->mock, on_stopped, NULL);
  uv_close((uv_handle_t *)a, NULL);
}

static void mock_thread(void *arg) {
  mock_thread_t *mt = arg;
  uv_loop_init(&mt->loop);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  mo.controls = mt->controls;
  mt->status = llmrt_mock_start(&mt->loop, &mo, &mt->mock);
  if (mt->status == 0) {
    snprintf(mt->url, sizeof mt->url, "%s", llmrt_mock_url(mt->mock));
    uv_async_init(&mt->loop, &mt->stop, on_stop);
    mt->stop.data = mt;
  }
  uv_sem_post(&mt->ready);
  if (mt->status == 0) uv_run(&mt->loop, UV_RUN_DEFAULT);
  uv_loop_close(&mt->loop);
}

int mock_thread_start(mock_thread_t *mt, const char *controls) {
  mt->controls = controls;
  mt->status = 0;
  uv_sem_init(&mt->ready, 0);
  uv_thread_create(&mt->thread, mock_thread, mt);
  uv_sem_wait(&mt->ready);
  uv_sem_destroy(&mt->ready);
  if (mt->status) uv_thread_join(&mt->thread);
  return mt->status;
}

void mock_thread_stop(mock_thread_t *mt) {
  uv_async_send(&mt->stop);
  uv_thread_join(&mt->thread);
}
