/* The mock upstream (tools/mock) on a thread and loop of its own, so a test
 * or benchmark can drive its client on the main thread (and, in torture
 * tests, fail only the client's allocations). Link with llmrt_mock. */
#ifndef LLMRT_TEST_MOCK_THREAD_H
#define LLMRT_TEST_MOCK_THREAD_H

#include <uv.h>

#include "llmrt_mock.h"

typedef struct {
  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t stop;
  uv_sem_t ready;
  llmrt_mock_t *mock;
  const char *controls;
  int status;    /* llmrt_mock_start's result */
  char url[128]; /* the mock's base URL, once started */
} mock_thread_t;

/* Starts the mock on its own thread with the given default controls (may be
 * NULL) and waits until it listens. Returns llmrt_mock_start's result; on
 * error the thread has ended and mock_thread_stop must not be called. */
int mock_thread_start(mock_thread_t *mt, const char *controls);

/* Stops the mock, runs its loop until everything is closed, and joins the
 * thread. */
void mock_thread_stop(mock_thread_t *mt);

#endif
