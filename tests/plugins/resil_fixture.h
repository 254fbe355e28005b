/* Fixture for the resilience plugin tests (retry, route, breaker): up to
 * four mock upstreams on the test's loop, a runtime configured with them
 * (upstream "a", "b", "c", "d" in the given APIs) and a plugin list, and a
 * call recorder that also keeps the call's attributes.
 *
 * Timing is measured on the loop's clock (uv_now); tolerances are scaled
 * by SLOWX, larger under valgrind (LLMRT_TEST_SLOW) and sanitizers. */
#ifndef LLMRT_TEST_RESIL_FIXTURE_H
#define LLMRT_TEST_RESIL_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_fixture.h"
#include "llmrt.h"
#include "llmrt_mock.h"
#include "test.h"

#define SLOWX (getenv("LLMRT_TEST_SLOW") ? 10 : 1)

typedef struct {
  chainfx_call_t c; /* first: the chainfx callbacks take the same pointer */
  char attrs[4096]; /* "name=value\n" for each attribute */
  uint64_t t_ms;    /* loop time from llmrt_call to on_done */
  uint64_t t0;
} rcall_t;

static uv_loop_t loop;
static llmrt_t *rt;
static llmrt_mock_t *mocks[4];
static int n_mocks;

static void rfx_on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  rcall_t *r = user;
  chainfx_on_done(call, status, res, user);
  size_t o = 0;
  r->attrs[0] = '\0';
  for (size_t i = 0; i < res->n_attrs && o + 200 < sizeof r->attrs; i++) {
    const llmrt_attr_t *a = &res->attrs[i];
    if (a->str)
      o += (size_t)snprintf(r->attrs + o, sizeof r->attrs - o, "%s=%s\n", a->name, a->str);
    else
      o += (size_t)snprintf(r->attrs + o, sizeof r->attrs - o, "%s=%g\n", a->name, a->num);
  }
  uv_update_time(&loop);
  r->t_ms = uv_now(&loop) - r->t0;
}

static const llmrt_callbacks_t rfx_callbacks = {chainfx_on_token, NULL, rfx_on_done};

static void rfx_stopped(llmrt_mock_t *m, void *u) {
  (void)m, (void)u;
}

/* apis: one letter per mock, 'o' OpenAI or 'a' Anthropic ("oo", "oa").
 * controls: the mocks' default controls (NULL entries for none). */
static int rfx_setup(const char *apis, const char *const *controls, const char *plugins, char *err,
                     size_t errlen) {
  uv_loop_init(&loop);
  n_mocks = (int)strlen(apis);
  char ups[2048];
  size_t o = 0;
  setenv("RESIL_TEST_KEY", "sk-resil-test-0123456789", 1);
  for (int i = 0; i < n_mocks; i++) {
    llmrt_mock_options_t mo;
    llmrt_mock_options_init(&mo);
    mo.controls = controls ? controls[i] : NULL;
    ASSERT_EQ(llmrt_mock_start(&loop, &mo, &mocks[i]), 0);
    o += (size_t)snprintf(ups + o, sizeof ups - o,
                          "%s\"%c\":{\"base_url\":\"%s\",\"api\":\"%s\","
                          "\"api_key_env\":\"RESIL_TEST_KEY\"}",
                          i ? "," : "", 'a' + i, llmrt_mock_url(mocks[i]),
                          apis[i] == 'a' ? "anthropic" : "openai");
  }
  ASSERT_EQ(llmrt_new(&loop, NULL, &rt), 0);
  char *cfg = malloc(strlen(plugins) + sizeof ups + 128);
  ASSERT(cfg != NULL);
  sprintf(cfg, "{\"upstreams\":{%s},\"default_upstream\":\"a\",\"plugins\":[%s]}", ups, plugins);
  int rc = llmrt_configure(rt, cfg, err, errlen);
  free(cfg);
  return rc;
}

static void rfx_teardown(void) {
  int closed = 0;
  for (int i = 0; i < n_mocks; i++)
    llmrt_mock_stop(mocks[i], rfx_stopped, NULL);
  llmrt_close(rt, chainfx_on_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* Starts a call (upstream NULL: the default; model "mock"). */
static void rfx_start(rcall_t *r, const char *upstream, const char *xmock, const char *content) {
  memset(r, 0, sizeof *r);
  chainfx_call_init(&r->c);
  static llmrt_message_t m;
  m = (llmrt_message_t){.role = "user", .content = content ? content : "resilience"};
  llmrt_header_t h = {"x-mock", xmock};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.upstream = upstream;
  req.model = "mock";
  req.messages = &m;
  req.n_messages = 1;
  req.stream = 1;
  if (xmock) {
    req.headers = &h;
    req.n_headers = 1;
  }
  uv_update_time(&loop);
  r->t0 = uv_now(&loop);
  ASSERT_EQ(llmrt_call(rt, &req, &rfx_callbacks, r, NULL), 0);
}

static void rfx_wait(rcall_t *r) {
  while (!r->c.done)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(r->c.done, 1);
}

static void rfx_call(rcall_t *r, const char *upstream, const char *xmock) {
  rfx_start(r, upstream, xmock, NULL);
  rfx_wait(r);
}

static uint64_t rfx_requests(int i) {
  llmrt_mock_stats_t st;
  llmrt_mock_stats(mocks[i], &st);
  return st.requests;
}

/* The value of attribute name in r ("" if absent). */
static const char *rfx_attr(const rcall_t *r, const char *name) {
  static char v[512];
  char key[80];
  snprintf(key, sizeof key, "%s=", name);
  const char *p = r->attrs;
  while (p && *p) {
    if (!strncmp(p, key, strlen(key))) {
      const char *s = p + strlen(key), *e = strchr(s, '\n');
      size_t n = e ? (size_t)(e - s) : strlen(s);
      if (n >= sizeof v) n = sizeof v - 1;
      memcpy(v, s, n);
      v[n] = '\0';
      return v;
    }
    p = strchr(p, '\n');
    if (p) p++;
  }
  return "";
}

#endif
