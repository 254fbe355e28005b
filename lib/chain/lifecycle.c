/* The call's lifecycle: one state machine. llmrt__call_enter() is the only
 * place a call changes state; it logs the transition at debug level and runs
 * the new state's entry action from one table (the shape of curl's
 * multi.c). The request walk (outer to inner), the error walk (inner to
 * outer), retries, completion and the deferred actions live here; events
 * are flow.c's, the upstream exchange attempt.c's.
 *
 * Exactly-once completion: CALL_COMPLETING's entry action is the only place
 * that runs on_done, and nothing leaves COMPLETING but to DONE. The memory
 * stays until the timer handle is closed and the HTTP exchange has reported
 * back, so late callbacks from either find a finished call and return. */
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "metrics.h"

static const char *const state_names[CALL_NSTATES] = {
    "NEW",   "REQUEST",    "REQ_PAUSED", "UPSTREAM",   "EVT_PAUSED",
    "ERROR", "ERR_PAUSED", "RETRY_WAIT", "COMPLETING", "DONE"};

static void walk_request(llmrt_call_t *c);
static void walk_error(llmrt_call_t *c);
static void enter_upstream(llmrt_call_t *c);
static void enter_evt_paused(llmrt_call_t *c);
static void enter_retry_wait(llmrt_call_t *c);
static void enter_completing(llmrt_call_t *c);
static void enter_done(llmrt_call_t *c);

/* Entry actions; NULL: the state only waits. */
static void (*const entry_action[CALL_NSTATES])(llmrt_call_t *) = {
    [CALL_REQUEST] = walk_request,         [CALL_UPSTREAM] = enter_upstream,
    [CALL_EVT_PAUSED] = enter_evt_paused,  [CALL_ERROR] = walk_error,
    [CALL_RETRY_WAIT] = enter_retry_wait,  [CALL_COMPLETING] = enter_completing,
    [CALL_DONE] = enter_done,
};

void llmrt__call_enter(llmrt_call_t *c, llmrt__call_state_t s) {
  if (c->state == CALL_DONE || (c->state == CALL_COMPLETING && s != CALL_DONE)) return;
  if (c->rt->opts.log_level >= LLMRT_LOG_DEBUG)
    llmrt__log(c->rt, LLMRT_LOG_DEBUG, "call %llu: %s -> %s", (unsigned long long)c->id,
               state_names[c->state], state_names[s]);
  c->state = s;
  if (entry_action[s]) entry_action[s](c);
}

/* ---- Timer: one per call for the total deadline, first token and retry ---- */

static void on_timer(uv_timer_t *t);

void llmrt__call_timer_init(llmrt_call_t *c) {
  uv_timer_init(c->rt->loop, &c->timer);
  c->timer.data = c;
  c->timer_open = 1;
  uint32_t total_ms = c->req.deadline_ms ? c->req.deadline_ms : c->rt->opts.total_timeout_ms;
  uv_update_time(c->rt->loop);
  if (total_ms) c->deadline_at = uv_now(c->rt->loop) + total_ms;
  llmrt__call_arm_timer(c);
}

void llmrt__call_arm_timer(llmrt_call_t *c) {
  if (c->state >= CALL_COMPLETING) return;
  uint64_t due = 0;
  uint64_t cand[3] = {c->deadline_at, c->first_token_at, c->retry_at};
  for (int i = 0; i < 3; i++)
    if (cand[i] && (!due || cand[i] < due)) due = cand[i];
  if (!due) {
    uv_timer_stop(&c->timer);
    return;
  }
  uint64_t now = uv_now(c->rt->loop);
  uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

static void on_timer(uv_timer_t *t) {
  llmrt_call_t *c = t->data;
  uint64_t now = uv_now(c->rt->loop);
  if (c->deadline_at && now >= c->deadline_at) {
    llmrt__call_complete(c, LLMRT_ETIMEDOUT,
                         "call to upstream '%s' exceeded its total deadline of %llu ms",
                         c->up ? c->up->name : "?",
                         (unsigned long long)(c->req.deadline_ms ? c->req.deadline_ms
                                                                 : c->rt->opts.total_timeout_ms));
    return;
  }
  if (c->first_token_at && now >= c->first_token_at) {
    c->first_token_at = 0;
    if (c->state == CALL_UPSTREAM || c->state == CALL_EVT_PAUSED) {
      llmrt__attempt_abort(c);
      llmrt__flow_drop(c);
      llmrt__call_error(c, llmrt__call_last(c), LLMRT_EFIRSTTOKENTIMEOUT,
                        "upstream '%s' sent no token within %u ms", c->up->name,
                        c->rt->opts.first_token_timeout_ms);
      return;
    }
  }
  if (c->retry_at && now >= c->retry_at) {
    c->retry_at = 0;
    if (c->state == CALL_RETRY_WAIT) llmrt__call_enter(c, CALL_REQUEST);
  }
  /* The total deadline (and any other) keeps running: a pause after a retry
   * must still end at it. A no-op once the call is done. */
  llmrt__call_arm_timer(c);
}

/* ---- The request walk, outer to inner ---- */

static void walk_request(llmrt_call_t *c) {
  size_t n = c->cf->n_plugins;
  for (unsigned i = c->pos; i < n; i++) {
    llmrt_ctx_t *x = &c->ctx[i];
    c->pos = i;
    x->entered = 1;
    if (!x->p->desc->on_request) continue;
    c->answering = -1;
    c->resume_for = -1; /* a resume counts only inside the hook that pauses */
    c->in_hook++;
    int r = x->p->desc->on_request(x);
    c->in_hook--;
    if (c->state != CALL_REQUEST || c->halted) return; /* ended, or the deferred runner ends it */
    if (r == LLMRT_CONTINUE) continue;
    if (r == LLMRT_STOP) {
      if (c->answering == (int)i)
        llmrt__call_complete(c, 0, NULL);
      else
        llmrt__call_error(c, (int)i - 1, LLMRT_EPLUGIN,
                          "plugin %s: on_request returned LLMRT_STOP without responding",
                          x->p->label);
      return;
    }
    if (r == LLMRT_PAUSE) {
      llmrt__call_enter(c, CALL_REQ_PAUSED);
      /* A resume issued inside the hook takes effect now, deferred. */
      if (c->resume_for == (int)i) llmrt__call_act(c, ACT_RESUME);
      return;
    }
    c->resume_for = -1; /* a stray resume from a hook that did not pause */
    llmrt__call_error(c, (int)i - 1, r < 0 ? r : LLMRT_EPLUGIN, "plugin %s: on_request failed: %s",
                      x->p->label, llmrt_strerror(r < 0 ? r : LLMRT_EPLUGIN));
    return;
  }
  llmrt__call_enter(c, CALL_UPSTREAM);
}

static void enter_upstream(llmrt_call_t *c) {
  /* Back from a flow pause: the attempt goes on. Else a new attempt. */
  if (c->attempt_live)
    llmrt__attempt_pause(c, 0);
  else
    llmrt__attempt_start(c);
}

static void enter_evt_paused(llmrt_call_t *c) {
  llmrt__attempt_pause(c, 1);
}

/* ---- The error walk, inner to outer ---- */

static void set_msg(llmrt_call_t *c, const char *fmt, va_list ap) {
  char msg[512];
  if (vsnprintf(msg, sizeof msg, fmt, ap) >= (int)sizeof msg) llmrt__utf8_trim(msg);
  llmrt__call_set_str(&c->error_message, msg, strlen(msg));
}

void llmrt__call_error(llmrt_call_t *c, int from, int err, const char *fmt, ...) {
  if (c->state >= CALL_COMPLETING || c->halted) return;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    set_msg(c, fmt, ap);
    va_end(ap);
  }
  c->err = err;
  if (from < 0) {
    llmrt__call_complete(c, err, NULL);
    return;
  }
  c->pos = (unsigned)from;
  llmrt__call_enter(c, CALL_ERROR);
}

static void schedule_retry(llmrt_call_t *c, unsigned below) {
  c->retry_asked = 0;
  c->pos = below;
  llmrt__call_enter(c, CALL_RETRY_WAIT);
}

static void enter_retry_wait(llmrt_call_t *c) {
  /* The new attempt starts afresh: no partial text survives (none reached
   * the user, or the retry would have been refused). */
  llmrt__attempt_reset(c);
  c->retry_at = uv_now(c->rt->loop) + c->retry_delay_ms;
  if (c->retry_at == 0) c->retry_at = 1;
  llmrt__call_arm_timer(c);
}

static void walk_error(llmrt_call_t *c) {
  int err = c->err;
  for (int i = (int)c->pos; i >= 0; i--) {
    llmrt_ctx_t *x = &c->ctx[i];
    if (!x->entered || !x->p->desc->on_error) continue;
    c->retry_asked = 0;
    c->answering = -1;
    c->pos = (unsigned)i;
    c->err = err;
    c->resume_for = -1;
    c->in_hook++;
    int r = x->p->desc->on_error(x, err);
    c->in_hook--;
    if (c->state != CALL_ERROR || c->halted) return;
    if (r == LLMRT_STOP) {
      if (c->answering == i) {
        llmrt__call_complete(c, 0, NULL);
        return;
      }
      if (c->retry_asked) {
        schedule_retry(c, (unsigned)i + 1);
        return;
      }
      err = LLMRT_EPLUGIN;
      char msg[256];
      snprintf(msg, sizeof msg, "plugin %s: on_error returned LLMRT_STOP without retry or respond",
               x->p->label);
      llmrt__call_set_str(&c->error_message, msg, strlen(msg));
      continue;
    }
    if (r == LLMRT_PAUSE) {
      llmrt__call_enter(c, CALL_ERR_PAUSED);
      if (c->resume_for == i) llmrt__call_act(c, ACT_RESUME);
      return;
    }
    c->resume_for = -1;
    if (r < 0) {
      char msg[512];
      if (snprintf(msg, sizeof msg, "plugin %s: on_error failed: %s (while handling: %s)",
                   x->p->label, llmrt_strerror(r),
                   c->error_message ? c->error_message : llmrt_strerror(err)) >= (int)sizeof msg)
        llmrt__utf8_trim(msg);
      llmrt__call_set_str(&c->error_message, msg, strlen(msg));
      err = r;
    }
  }
  llmrt__call_complete(c, err, NULL);
}

/* ---- Completion ---- */

static void on_timer_closed(uv_handle_t *h) {
  llmrt_call_t *c = h->data;
  c->timer_open = 0;
  llmrt__call_release(c);
}

void llmrt__call_complete(llmrt_call_t *c, int status, const char *fmt, ...) {
  if (c->state >= CALL_COMPLETING) return;
  if (status == 0 && llmrt__flow_queued(c) && !c->halted) {
    /* Events are held back by a pause: they reach the user first. */
    c->after_drain = AFTER_COMPLETE;
    if (c->state != CALL_EVT_PAUSED) llmrt__call_enter(c, CALL_EVT_PAUSED);
    return;
  }
  if (status != 0 && fmt && !c->error_message) {
    va_list ap;
    va_start(ap, fmt);
    set_msg(c, fmt, ap);
    va_end(ap);
  }
  if (status != 0 && !c->error_message)
    llmrt__call_set_str(&c->error_message, llmrt_strerror(status), strlen(llmrt_strerror(status)));
  c->final_status = status;
  c->halted = 1;
  llmrt__attempt_abort(c);
  llmrt__flow_drop(c);
  if (c->timer_open) {
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
  }
  llmrt__call_enter(c, CALL_COMPLETING);
}

static void enter_completing(llmrt_call_t *c) {
  int status = c->final_status;
  /* Whatever the upstream said, the key does not leave in any field. */
  const char *key = llmrt__call_key(c);
  llmrt__redact(&c->error_message, key);
  llmrt__redact(&c->error_type, key);
  llmrt__redact(&c->request_id, key);
  llmrt__redact(&c->model, key);
  llmrt__redact_buf(c->finish_reason, sizeof c->finish_reason, key);

  uint64_t now = llmrt__now_us();
  c->t_end_us = now; /* llmrt_call_metrics: the same duration as res->timings */
  llmrt__measure_upstream_end(c);
  llmrt_attr_t attrs[LLMRT__MAX_ATTRS];
  for (unsigned i = 0; i < c->n_attrs; i++)
    attrs[i] = (llmrt_attr_t){c->attrs[i].name, c->attrs[i].str, c->attrs[i].num};
  llmrt_result_t res;
  memset(&res, 0, sizeof res);
  res.struct_size = sizeof res;
  res.text = c->text.data ? c->text.data : "";
  res.text_len = c->text.len;
  res.finish_reason = c->has_finish ? c->finish_reason : NULL;
  res.model = c->model;
  res.input_tokens = c->input_tokens;
  res.output_tokens = c->output_tokens;
  res.cached_tokens = c->cached_tokens;
  res.http_status = c->http_status;
  res.request_id = c->request_id;
  res.error_type = status ? c->error_type : NULL;
  res.error_message = status ? c->error_message : NULL;
  res.attempts = c->attempts;
  res.cache_hit = c->cache_hit;
  res.timings = c->timings;
  res.timings.total_us = now - c->t_start_us;
  if (c->timings.n_gaps) res.timings.gap_mean_us = c->gap_sum_us / c->timings.n_gaps;
  res.attrs = c->n_attrs ? attrs : NULL;
  res.n_attrs = c->n_attrs;

  c->in_hook++;
  size_t n = c->cf->n_plugins;
  for (size_t i = n; i-- > 0;) {
    llmrt_ctx_t *x = &c->ctx[i];
    if (x->entered && x->p->desc->on_complete) x->p->desc->on_complete(x, status, &res);
  }
  if (c->cbs.on_done) c->cbs.on_done(c, status, &res, c->user);
  for (size_t i = n; i-- > 0;) {
    llmrt_ctx_t *x = &c->ctx[i];
    if (x->p->desc->on_call_end) x->p->desc->on_call_end(x, status);
  }
  c->in_hook--;
  llmrt__call_enter(c, CALL_DONE);
}

static void enter_done(llmrt_call_t *c) {
  llmrt__timers_stop_all(&c->timers);
  c->actions = 0;
  llmrt__call_release(c);
}

/* ---- Deferred actions ---- */

static void run_actions(void *arg) {
  llmrt_call_t *c = arg;
  c->defer_queued = 0;
  unsigned act = c->actions;
  c->actions = 0;
  if (c->state >= CALL_COMPLETING) {
    llmrt__call_release(c);
    return;
  }
  if (act & ACT_SHUTDOWN) {
    llmrt__call_complete(c, LLMRT_ESHUTDOWN, "runtime closed while the call was in flight");
  } else if (act & ACT_CANCEL) {
    llmrt__call_complete(c, LLMRT_ECANCELED, "call canceled by the application");
  } else if (act & ACT_FAIL) {
    c->halted = 0;
    llmrt__attempt_abort(c);
    llmrt__flow_drop(c);
    llmrt__call_error(c, c->fail_from - 1, c->fail_err, NULL);
  } else if (act & ACT_START) {
    c->pos = 0;
    llmrt__call_enter(c, CALL_REQUEST);
  } else {
    int paused = c->state == CALL_REQ_PAUSED || c->state == CALL_ERR_PAUSED;
    if (paused && (act & ACT_RESPOND)) {
      llmrt__call_complete(c, 0, NULL);
    } else if (c->state == CALL_ERR_PAUSED && (act & ACT_RETRY)) {
      schedule_retry(c, c->pos + 1);
    } else if (paused && (act & ACT_RESUME) && c->resume_for == (int)c->pos) {
      c->resume_for = -1;
      if (c->state == CALL_ERR_PAUSED) {
        llmrt__call_error(c, (int)c->pos - 1, c->err, NULL);
      } else {
        c->pos++;
        llmrt__call_enter(c, CALL_REQUEST);
      }
    }
    /* resume/respond/retry queued by a hook that did not pause after all:
     * nothing to do (the hook's return value already decided). */
    if ((act & ACT_DRAIN) && c->state < CALL_COMPLETING) llmrt__flow_drain(c);
  }
  if (c->state == CALL_DONE) llmrt__call_release(c);
}

void llmrt__call_act(llmrt_call_t *c, unsigned act) {
  if (c->state >= CALL_COMPLETING) return;
  c->actions |= act;
  if (act & (ACT_CANCEL | ACT_SHUTDOWN | ACT_FAIL)) c->halted = 1;
  if (!c->defer_queued) {
    c->defer_queued = 1;
    llmrt__defer(c->ch, &c->defer, run_actions, c);
  }
}
