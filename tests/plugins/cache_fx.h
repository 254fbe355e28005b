/* Shared helpers of the cache plugin's tests: a runtime with the cache in
 * front of the mock (both on one loop, so the mock's request count is
 * exact), and a recorder of every event a call delivered. Header only. */
#ifndef LLMRT_TEST_CACHE_FX_H
#define LLMRT_TEST_CACHE_FX_H

#include <stdlib.h>
#include <string.h>

#include "chain_fixture.h"
#include "llmrt.h"
#include "llmrt_mock.h"
#include "logcap.h"
#include "test.h"

#define FX_MAX_EV 600

typedef struct {
  int type;
  uint32_t index;
  char text[96];
  size_t len;
  char id[48], name[48], finish[24];
  int64_t in, out;
  uint64_t t_us;
} fx_ev_t;

typedef struct {
  chainfx_call_t r; /* first: the chainfx callbacks take it as user */
  fx_ev_t ev[FX_MAX_EV];
  int n_ev;
  char result[32]; /* the cache.result attribute */
  int hit_attr;
  double saved_in, saved_out;
  uint64_t id;
  int cancel_at_first_token;
} fx_call_t;

static uint64_t fx_now_us(void) {
  return uv_hrtime() / 1000;
}

static void fx_on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  fx_call_t *f = user;
  chainfx_on_token(call, text, len, &f->r);
  if (f->cancel_at_first_token && f->r.n_tokens == 1) llmrt_call_cancel(call);
}

static void fx_on_event(llmrt_call_t *call, const llmrt_event_t *ev, void *user) {
  fx_call_t *f = user;
  ASSERT(f->n_ev < FX_MAX_EV);
  fx_ev_t *e = &f->ev[f->n_ev++];
  memset(e, 0, sizeof *e);
  e->type = ev->type;
  e->index = ev->index;
  e->len = ev->len;
  if (ev->text) snprintf(e->text, sizeof e->text, "%.*s", (int)ev->len, ev->text);
  if (ev->id) snprintf(e->id, sizeof e->id, "%s", ev->id);
  if (ev->name) snprintf(e->name, sizeof e->name, "%s", ev->name);
  if (ev->finish_reason) snprintf(e->finish, sizeof e->finish, "%s", ev->finish_reason);
  e->in = ev->input_tokens;
  e->out = ev->output_tokens;
  e->t_us = fx_now_us();
}

static void fx_on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  fx_call_t *f = user;
  chainfx_on_done(call, status, res, &f->r);
  for (size_t i = 0; i < res->n_attrs; i++) {
    if (!strcmp(res->attrs[i].name, "cache.result") && res->attrs[i].str)
      snprintf(f->result, sizeof f->result, "%s", res->attrs[i].str);
    if (!strcmp(res->attrs[i].name, "cache.hit")) f->hit_attr = (int)res->attrs[i].num;
    if (!strcmp(res->attrs[i].name, "cache.saved_input_tokens")) f->saved_in = res->attrs[i].num;
    if (!strcmp(res->attrs[i].name, "cache.saved_output_tokens")) f->saved_out = res->attrs[i].num;
  }
}

static const llmrt_callbacks_t fx_cbs = {fx_on_token, fx_on_event, fx_on_done};

/* The two event sequences are the same, event by event (times aside). */
static void fx_same_events(const fx_call_t *a, const fx_call_t *b) {
  if (a->n_ev != b->n_ev) TEST_FAIL_("event counts differ: %d != %d", a->n_ev, b->n_ev);
  for (int i = 0; i < a->n_ev; i++) {
    const fx_ev_t *x = &a->ev[i], *y = &b->ev[i];
    if (x->type != y->type || x->index != y->index || x->len != y->len ||
        strcmp(x->text, y->text) || strcmp(x->id, y->id) || strcmp(x->name, y->name) ||
        strcmp(x->finish, y->finish) || x->in != y->in || x->out != y->out)
      TEST_FAIL_("event %d differs: type %d/%d text \"%s\"/\"%s\" finish \"%s\"/\"%s\"", i, x->type,
                 y->type, x->text, y->text, x->finish, y->finish);
  }
}

#endif
