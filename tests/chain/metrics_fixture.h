/* A runtime and the mock (plain or TLS) on one loop, for the metrics tests:
 * calls by name through a configuration the test writes, run until they
 * end. Header only. */
#ifndef LLMRT_TEST_METRICS_FIXTURE_H
#define LLMRT_TEST_METRICS_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_fixture.h"
#include "llmrt_mock.h"

typedef struct {
  uv_loop_t loop;
  llmrt_mock_t *mock;
  llmrt_t *rt;
  int closed;
  char url[160]; /* the mock's base URL with host "localhost" (through DNS) */
} mfx_t;

static inline void mfx_closed(llmrt_t *rt, void *user) {
  (void)rt;
  ((mfx_t *)user)->closed = 1;
}

/* Starts the mock and a runtime with options o (NULL: defaults with the test
 * CA). The URL names localhost, so connections go through the DNS cache. */
static inline void mfx_start(mfx_t *f, int tls, const char *controls, llmrt_options_t *o) {
  memset(f, 0, sizeof *f);
  ASSERT_EQ(uv_loop_init(&f->loop), 0);
  llmrt_mock_options_t mo;
  llmrt_mock_options_init(&mo);
  if (tls) {
    mo.tls_cert = LLMRT_TEST_CERTS "/server.pem";
    mo.tls_key = LLMRT_TEST_CERTS "/server.key";
  }
  mo.controls = controls;
  ASSERT_EQ(llmrt_mock_start(&f->loop, &mo, &f->mock), 0);
  llmrt_options_t dflt;
  if (!o) {
    llmrt_options_init(&dflt);
    o = &dflt;
  }
  o->ca_file = LLMRT_TEST_CERTS "/ca.pem";
  ASSERT_EQ(llmrt_new(&f->loop, o, &f->rt), 0);
  snprintf(f->url, sizeof f->url, "%s://localhost:%u/v1", tls ? "https" : "http",
           (unsigned)llmrt_mock_port(f->mock));
  setenv("TEST_MOCK_KEY", "sk-test-secret-123", 1);
}

/* Configures upstreams "oa" (OpenAI) and "an" (Anthropic) at the mock, and
 * plugins (a JSON array's inside, may be ""). */
static inline void mfx_configure(mfx_t *f, const char *plugins) {
  char cfg[2048], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"oa\":{\"base_url\":\"%s\",\"api\":\"openai\",\"api_key_env\":"
           "\"TEST_MOCK_KEY\"},\"an\":{\"base_url\":\"%s\",\"api\":\"anthropic\",\"api_key_env\":"
           "\"TEST_MOCK_KEY\"}},\"default_upstream\":\"oa\",\"plugins\":[%s]}",
           f->url, f->url, plugins ? plugins : "");
  if (llmrt_configure(f->rt, cfg, err, sizeof err) != 0) TEST_FAIL_("configure: %s", err);
}

/* Starts a call with the mock controls in an x-mock header (may be NULL). */
static inline void mfx_call(mfx_t *f, chainfx_call_t *r, const char *upstream, const char *model,
                            int stream, const char *controls, const llmrt_callbacks_t *cbs) {
  chainfx_call_init(r);
  llmrt_message_t msg = {.role = "user", .content = "Tell me about event loops."};
  llmrt_header_t h = {"x-mock", controls};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.upstream = upstream;
  req.model = model;
  req.messages = &msg;
  req.n_messages = 1;
  req.max_tokens = 64;
  req.stream = stream;
  if (controls) {
    req.headers = &h;
    req.n_headers = 1;
  }
  ASSERT_EQ(llmrt_call(f->rt, &req, cbs ? cbs : &chainfx_callbacks, r, NULL), 0);
}

/* Runs the loop until every one of n recorders saw its on_done. */
static inline void mfx_wait(mfx_t *f, chainfx_call_t *r, int n) {
  for (int guard = 0; guard < 1000000; guard++) {
    int all = 1;
    for (int i = 0; i < n; i++)
      all &= r[i].done == 1;
    if (all) return;
    uv_run(&f->loop, UV_RUN_ONCE);
  }
  TEST_FAIL_("calls did not end");
}

static inline void mfx_one(mfx_t *f, const char *upstream, const char *model, int stream,
                           const char *controls) {
  chainfx_call_t r;
  mfx_call(f, &r, upstream, model, stream, controls, NULL);
  mfx_wait(f, &r, 1);
}

static inline void mfx_timer_cb(uv_timer_t *t) {
  (void)t; /* only wakes the loop */
}

/* Runs the loop for about ms milliseconds. */
static inline void mfx_sleep(mfx_t *f, uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(&f->loop, &t);
  uv_update_time(&f->loop);
  uint64_t until = uv_now(&f->loop) + ms;
  while (uv_now(&f->loop) < until) {
    uv_timer_start(&t, mfx_timer_cb, until - uv_now(&f->loop), 0);
    uv_run(&f->loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

static inline void mfx_stop(mfx_t *f) {
  llmrt_mock_stop(f->mock, NULL, NULL);
  llmrt_close(f->rt, mfx_closed, f);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(f->closed, 1);
  ASSERT_EQ(uv_loop_close(&f->loop), 0);
}

#endif
