/* The call: its lifecycle state machine and the walk through the plugin
 * chain (request phase outer to inner; events, errors and completion inner
 * to outer). One allocation holds the call, the plugins' contexts, their
 * per-call states and the stream decoder state.
 *
 * Exactly-once completion: llmrt__call_complete() is the only place that
 * runs on_done, and it moves the call to CALL_DONE first. The memory stays
 * until the timer handle is closed and the HTTP exchange has reported back,
 * so late callbacks from either find a DONE call and return. */
#include <stdio.h>
#include <string.h>

#include "call.h"

static const char *state_name(llmrt__call_state_t s) {
  static const char *names[] = {"NEW", "REQUEST", "PAUSED", "UPSTREAM", "RETRY_WAIT", "DONE"};
  return names[s];
}

void llmrt__call_set_state(llmrt_call_t *c, llmrt__call_state_t s) {
  if (c->rt->opts.log_level >= LLMRT_LOG_DEBUG)
    llmrt__log(c->rt, LLMRT_LOG_DEBUG, "call %p: %s -> %s", (void *)c, state_name(c->state),
               state_name(s));
  c->state = s;
}

void llmrt__call_set_str(char **dst, const char *s, size_t n) {
  llmrt__free(*dst);
  *dst = s ? llmrt__strndup(s, n) : NULL;
}

/* ---- Request copy: one block for the request and all its strings ---- */

static size_t sz(const char *s) {
  return s ? strlen(s) + 1 : 0;
}

static char *put(char **at, const char *s, size_t n) {
  if (!s) return NULL;
  char *d = *at;
  memcpy(d, s, n);
  d[n] = '\0';
  *at += n + 1;
  return d;
}

int llmrt__call_copy_request(llmrt_call_t *c, const llmrt_request_t *req) {
  size_t total = sizeof(llmrt_message_t) * req->n_messages + sizeof(char *) * req->n_stop;
  total += sz(req->upstream) + sz(req->model) + sz(req->extra_json) + sz(req->tenant);
  for (size_t i = 0; i < req->n_messages; i++) {
    const llmrt_message_t *m = &req->messages[i];
    if (!m->role || !m->content) return LLMRT_EINVAL;
    size_t clen = m->content_len ? m->content_len : strlen(m->content);
    total += sz(m->role) + clen + 1 + sz(m->name) + sz(m->tool_call_id) + sz(m->tool_calls_json);
  }
  for (size_t i = 0; i < req->n_stop; i++) {
    if (!req->stop[i]) return LLMRT_EINVAL;
    total += sz(req->stop[i]);
  }
  char *block = llmrt__malloc(total + 16);
  if (!block) return LLMRT_ENOMEM;
  llmrt_message_t *msgs = (llmrt_message_t *)block;
  const char **stops = (const char **)(block + sizeof(llmrt_message_t) * req->n_messages);
  char *at = (char *)(stops + req->n_stop);
  llmrt_request_t r = *req;
  r.upstream = put(&at, req->upstream, sz(req->upstream) - !!req->upstream);
  r.model = put(&at, req->model, sz(req->model) - !!req->model);
  r.extra_json = put(&at, req->extra_json, sz(req->extra_json) - !!req->extra_json);
  r.tenant = put(&at, req->tenant, sz(req->tenant) - !!req->tenant);
  for (size_t i = 0; i < req->n_messages; i++) {
    const llmrt_message_t *m = &req->messages[i];
    size_t clen = m->content_len ? m->content_len : strlen(m->content);
    msgs[i].role = put(&at, m->role, strlen(m->role));
    msgs[i].content = put(&at, m->content, clen);
    msgs[i].content_len = clen;
    msgs[i].name = put(&at, m->name, sz(m->name) - !!m->name);
    msgs[i].tool_call_id = put(&at, m->tool_call_id, sz(m->tool_call_id) - !!m->tool_call_id);
    msgs[i].tool_calls_json =
        put(&at, m->tool_calls_json, sz(m->tool_calls_json) - !!m->tool_calls_json);
  }
  for (size_t i = 0; i < req->n_stop; i++) stops[i] = put(&at, req->stop[i], strlen(req->stop[i]));
  r.messages = req->n_messages ? msgs : NULL;
  r.stop = req->n_stop ? stops : NULL;
  llmrt__free(c->req_block);
  c->req_block = block;
  c->req = r;
  return 0;
}

/* ---- Timer: one per call for the total deadline, first token and retry ---- */

static void on_timer(uv_timer_t *t);

void llmrt__call_arm_timer(llmrt_call_t *c) {
  if (c->state == CALL_DONE) return;
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
    llmrt__call_complete(c, LLMRT_ETIMEDOUT, "call to upstream '%s' exceeded its total deadline of %llu ms",
                         c->up ? c->up->name : "?",
                         (unsigned long long)(c->req.deadline_ms ? c->req.deadline_ms
                                                                 : c->rt->opts.total_timeout_ms));
    return;
  }
  if (c->first_token_at && now >= c->first_token_at) {
    c->first_token_at = 0;
    if (c->state == CALL_UPSTREAM) {
      llmrt__attempt_abort(c);
      llmrt__call_error(c, (int)c->ch->n_plugins - 1, LLMRT_EFIRSTTOKENTIMEOUT,
                        "upstream '%s' sent no token within %u ms", c->up->name,
                        c->rt->opts.first_token_timeout_ms);
      return;
    }
  }
  if (c->retry_at && now >= c->retry_at) {
    c->retry_at = 0;
    if (c->state == CALL_RETRY_WAIT) llmrt__call_request_phase(c, c->pos);
  }
  /* The total deadline (and any other) keeps running: a pause after a retry
   * must still end at it. A no-op once the call is done. */
  llmrt__call_arm_timer(c);
}

/* ---- Freeing ---- */

/* Freed calls are kept for reuse, with the capacity of their buffers: a
 * busy runtime then makes calls without touching the allocator for the call
 * block or its buffers (a ~10 KiB malloc/free per call also made glibc trim
 * and regrow the heap with brk, costing microseconds per call). The cache is
 * bounded in count and in the capacity a buffer may keep. */
#define CALL_CACHE_MAX 64
#define KEEP_BUF_MAX (64 * 1024)

static void keep_or_free(llmrt__buf_t *b) {
  if (b->cap > KEEP_BUF_MAX)
    llmrt__buf_free(b);
  else
    llmrt__buf_reset(b);
}

static void call_block_free(llmrt_call_t *c) {
  llmrt__buf_free(&c->body_out);
  llmrt__buf_free(&c->body_in);
  llmrt__buf_free(&c->hdrs);
  llmrt__buf_free(&c->text);
  if (c->sse_inited) llmrt__sse_free(&c->sse);
  llmrt__free(c);
}

void llmrt__call_cache_free(llmrt__chain_t *ch) {
  while (ch->free_calls) {
    llmrt_call_t *c = ch->free_calls;
    ch->free_calls = c->next;
    call_block_free(c);
  }
  ch->n_free_calls = 0;
}

static void call_free_now(llmrt_call_t *c) {
  llmrt__chain_t *ch = c->ch;
  llmrt_t *rt = c->rt;
  if (c->prev)
    c->prev->next = c->next;
  else
    ch->calls = c->next;
  if (c->next) c->next->prev = c->prev;
  ch->n_calls--;
  llmrt__free(c->req_block);
  llmrt__free(c->model);
  llmrt__free(c->request_id);
  llmrt__free(c->error_type);
  llmrt__free(c->error_message);
  if (ch->n_free_calls < CALL_CACHE_MAX && !ch->closing) {
    keep_or_free(&c->body_out);
    keep_or_free(&c->body_in);
    keep_or_free(&c->hdrs);
    keep_or_free(&c->text);
    if (c->sse_inited) llmrt__sse_reset(&c->sse);
    c->next = ch->free_calls;
    ch->free_calls = c;
    ch->n_free_calls++;
  } else {
    call_block_free(c);
  }
  llmrt__chain_maybe_shutdown(ch);
  llmrt__rt_unref(rt);
}

static void run_actions(void *arg);

static void maybe_free(llmrt_call_t *c) {
  if (c->state != CALL_DONE || c->timer_open || c->http) return; /* their callbacks come back here */
  if (c->in_hook > 0 || c->defer_queued) {
    /* Still on the stack of one of our callbacks: free on the next turn. */
    if (!c->defer_queued) {
      c->defer_queued = 1;
      llmrt__defer(c->ch, &c->defer, run_actions, c);
    }
    return;
  }
  call_free_now(c);
}

static void on_timer_closed(uv_handle_t *h) {
  llmrt_call_t *c = h->data;
  c->timer_open = 0;
  maybe_free(c);
}

void llmrt__call_http_gone(llmrt_call_t *c) {
  c->http = NULL;
  maybe_free(c);
}

/* ---- Completion ---- */

/* Some proxies echo the credentials they were given in their error bodies:
 * the key never leaves in an error, whatever the upstream said. */
static void redact_key(llmrt_call_t *c, char *s) {
  const char *key = c->up ? c->up->api_key : NULL;
  size_t klen = key ? strlen(key) : 0;
  if (!s || klen < 8) return;
  for (char *at = strstr(s, key); at; at = strstr(at, key)) {
    static const char mark[] = "[redacted]";
    size_t m = sizeof mark - 1 < klen ? sizeof mark - 1 : klen;
    memcpy(at, mark, m);
    memmove(at + m, at + klen, strlen(at + klen) + 1);
    at += m;
  }
}

void llmrt__call_complete(llmrt_call_t *c, int status, const char *fmt, ...) {
  if (c->state == CALL_DONE) return;
  if (status != 0 && fmt && !c->error_message) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    llmrt__call_set_str(&c->error_message, msg, strlen(msg));
  }
  if (status != 0 && !c->error_message)
    llmrt__call_set_str(&c->error_message, llmrt_strerror(status), strlen(llmrt_strerror(status)));
  redact_key(c, c->error_message);
  redact_key(c, c->error_type);
  llmrt__call_set_state(c, CALL_DONE);
  c->halted = 1;
  c->status = status;
  llmrt__attempt_abort(c);
  if (c->timer_open) {
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
  }

  uint64_t now = llmrt__now_us();
  llmrt_result_t res;
  memset(&res, 0, sizeof res);
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

  c->in_hook++;
  size_t n = c->ch->n_plugins;
  for (size_t i = n; i-- > 0;) {
    llmrt_ctx_t *x = &c->ctx[i];
    if (x->entered && x->p->desc->on_complete) x->p->desc->on_complete(x, status, &res);
  }
  if (c->cbs.on_done) c->cbs.on_done(c, status, &res, c->user);
  for (size_t i = n; i-- > 0;) {
    llmrt_ctx_t *x = &c->ctx[i];
    if (x->p->desc->on_call_end) x->p->desc->on_call_end(x);
  }
  c->in_hook--;
  c->actions = 0;
  maybe_free(c);
}

/* ---- Errors flow inner to outer through on_error ---- */

static void vset_error(llmrt_call_t *c, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  llmrt__call_set_str(&c->error_message, msg, strlen(msg));
}

static void error_flow(llmrt_call_t *c, int from, int err);

void llmrt__call_error(llmrt_call_t *c, int from, int err, const char *fmt, ...) {
  if (c->state == CALL_DONE) return;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vset_error(c, fmt, ap);
    va_end(ap);
  }
  error_flow(c, from, err);
}

static void schedule_retry(llmrt_call_t *c, unsigned below) {
  c->retry_asked = 0;
  c->pos = below;
  llmrt__call_set_state(c, CALL_RETRY_WAIT);
  /* The new attempt starts afresh: no partial text survives (none reached
   * the user, or the retry would have been refused). */
  llmrt__attempt_reset(c);
  c->retry_at = uv_now(c->rt->loop) + c->retry_delay_ms;
  if (c->retry_at == 0) c->retry_at = 1;
  llmrt__call_arm_timer(c);
}

static void error_flow(llmrt_call_t *c, int from, int err) {
  /* A cancel or close is pending: its deferred completion ends the call;
   * plugins must not be asked to retry what the application abandoned. */
  if (c->halted) return;
  llmrt__call_set_state(c, CALL_REQUEST); /* walking the chain again */
  for (int i = from; i >= 0; i--) {
    llmrt_ctx_t *x = &c->ctx[i];
    if (!x->entered || !x->p->desc->on_error) continue;
    c->retry_asked = 0;
    c->answering = -1;
    c->pos = (unsigned)i;
    c->in_hook++;
    c->in_error = 1;
    int r = x->p->desc->on_error(x, err);
    c->in_error = 0;
    c->in_hook--;
    if (c->state == CALL_DONE) return;
    if (c->halted) return; /* the deferred runner ends it */
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
      llmrt__call_set_str(&c->error_message, NULL, 0);
      char msg[256];
      snprintf(msg, sizeof msg, "plugin %s: on_error returned LLMRT_STOP without retry or respond",
               x->p->label);
      llmrt__call_set_str(&c->error_message, msg, strlen(msg));
      continue;
    }
    if (r == LLMRT_PAUSE) {
      c->fail_err = err;
      c->pause_in_error = 1;
      llmrt__call_set_state(c, CALL_PAUSED);
      if (c->resume_for == i) llmrt__call_act(c, ACT_RESUME);
      return;
    }
    c->resume_for = -1;
    if (r < 0) {
      char msg[512];
      snprintf(msg, sizeof msg, "plugin %s: on_error failed: %s (while handling: %s)", x->p->label,
               llmrt_strerror(r), c->error_message ? c->error_message : llmrt_strerror(err));
      llmrt__call_set_str(&c->error_message, msg, strlen(msg));
      err = r;
    }
  }
  llmrt__call_complete(c, err, NULL);
}

/* ---- Events flow inner to outer through on_event, then to the user ---- */

/* Content (text, reasoning, tool calls) counts for the first token and the
 * gaps between tokens. */
static void note_content(llmrt_call_t *c) {
  uint64_t now = llmrt__now_us();
  if (!c->timings.first_token_us) {
    c->timings.first_token_us = now - c->t_start_us;
    c->first_token_at = 0;
  } else {
    uint64_t gap = now - c->t_last_token_us;
    c->timings.n_gaps++;
    c->gap_sum_us += gap;
    if (gap > c->timings.gap_max_us) c->timings.gap_max_us = gap;
  }
  c->t_last_token_us = now;
}

/* Hands ev to the user and records it in the result. Returns 0 or
 * LLMRT_ENOMEM (the text could not be kept). */
static int deliver(llmrt_call_t *c, llmrt_event_t *ev) {
  if (c->halted) return 0; /* canceled or closed: nothing more reaches the user */
  switch (ev->type) {
  case LLMRT_EV_TEXT:
    if (llmrt__buf_append(&c->text, ev->text, ev->len) != 0) return LLMRT_ENOMEM;
    c->text_emitted = 1;
    note_content(c);
    if (c->cbs.on_token && ev->len) c->cbs.on_token(c, ev->text, ev->len, c->user);
    break;
  case LLMRT_EV_THINKING:
  case LLMRT_EV_TOOL_CALL:
    note_content(c);
    break;
  case LLMRT_EV_USAGE:
    if (ev->input_tokens) c->input_tokens = ev->input_tokens;
    if (ev->output_tokens) c->output_tokens = ev->output_tokens;
    if (ev->cached_tokens) c->cached_tokens = ev->cached_tokens;
    break;
  case LLMRT_EV_FINISH:
    if (ev->finish_reason) {
      snprintf(c->finish_reason, sizeof c->finish_reason, "%s", ev->finish_reason);
      c->has_finish = 1;
    }
    break;
  default:
    break;
  }
  if (c->cbs.on_event && !c->halted) c->cbs.on_event(c, ev, c->user);
  return 0;
}

/* Passes ev through plugins from..0 and then to the user. Returns 0, or a
 * negative error when a plugin failed (the message is set). */
int llmrt__call_dispatch(llmrt_call_t *c, int from, llmrt_event_t *ev) {
  /* The hot path: one indirect call per plugin that has on_event, and one
   * flag to learn whether a hook ended or canceled the call. */
  if (c->halted) return 0;
  c->in_hook++;
  int r = 0;
  for (int i = from; i >= 0; i--) {
    llmrt_ctx_t *x = &c->ctx[i];
    if (x->on_event) {
      r = x->on_event(x, ev);
      if (r != LLMRT_CONTINUE || c->halted) {
        if (c->halted || r == LLMRT_STOP) {
          r = 0; /* ended, canceled, or dropped here */
          goto out;
        }
        char msg[256];
        snprintf(msg, sizeof msg, "plugin %s: on_event failed: %s", x->p->label,
                 llmrt_strerror(r < 0 ? r : LLMRT_EPLUGIN));
        llmrt__call_set_str(&c->error_message, msg, strlen(msg));
        if (r > 0) r = LLMRT_EPLUGIN;
        goto out;
      }
    }
    x->passed = 1;
  }
  r = deliver(c, ev);
  if (r) llmrt__call_set_str(&c->error_message, "out of memory keeping the result text", 37);
out:
  c->in_hook--;
  return r;
}

/* ---- The request phase, outer to inner ---- */

void llmrt__call_request_phase(llmrt_call_t *c, unsigned from) {
  llmrt__call_set_state(c, CALL_REQUEST);
  size_t n = c->ch->n_plugins;
  for (unsigned i = from; i < n; i++) {
    llmrt_ctx_t *x = &c->ctx[i];
    c->pos = i;
    x->entered = 1;
    if (!x->p->desc->on_request) continue;
    c->answering = -1;
    c->in_hook++;
    int r = x->p->desc->on_request(x);
    c->in_hook--;
    if (c->state == CALL_DONE) return;
    if (c->halted) return;
    if (r == LLMRT_CONTINUE) continue;
    if (r == LLMRT_STOP) {
      if (c->answering == (int)i) {
        llmrt__call_complete(c, 0, NULL);
      } else {
        llmrt__call_error(c, (int)i - 1, LLMRT_EPLUGIN,
                          "plugin %s: on_request returned LLMRT_STOP without responding",
                          x->p->label);
      }
      return;
    }
    if (r == LLMRT_PAUSE) {
      c->pause_in_error = 0;
      llmrt__call_set_state(c, CALL_PAUSED);
      /* A resume issued inside the hook takes effect now, deferred. */
      if (c->resume_for == (int)i) llmrt__call_act(c, ACT_RESUME);
      return;
    }
    c->resume_for = -1; /* a stray resume from a hook that did not pause */
    llmrt__call_error(c, (int)i - 1, r < 0 ? r : LLMRT_EPLUGIN,
                      "plugin %s: on_request failed: %s", x->p->label,
                      llmrt_strerror(r < 0 ? r : LLMRT_EPLUGIN));
    return;
  }
  llmrt__attempt_start(c);
}

/* ---- Deferred actions ---- */

static void run_actions(void *arg) {
  llmrt_call_t *c = arg;
  c->defer_queued = 0;
  unsigned act = c->actions;
  c->actions = 0;
  if (c->state == CALL_DONE) {
    maybe_free(c);
    return;
  }
  if (act & ACT_SHUTDOWN) {
    llmrt__call_complete(c, LLMRT_ESHUTDOWN, "runtime closed while the call was in flight");
  } else if (act & ACT_CANCEL) {
    llmrt__call_complete(c, LLMRT_ECANCELED, "call canceled by the application");
  } else if (act & ACT_START) {
    llmrt__call_request_phase(c, 0);
  } else if (c->state != CALL_PAUSED) {
    /* resume/respond/retry/fail queued by a hook that did not pause after
     * all: nothing to do (the hook's return value already decided). */
  } else if (act & ACT_RESPOND) {
    llmrt__call_complete(c, 0, NULL);
  } else if (act & ACT_RETRY) {
    schedule_retry(c, c->pos + 1);
  } else if (act & ACT_FAIL) {
    int from = (int)c->pos - 1;
    llmrt__call_set_state(c, CALL_REQUEST);
    error_flow(c, from, c->fail_err);
  } else if ((act & ACT_RESUME) && c->resume_for == (int)c->pos) {
    c->resume_for = -1;
    if (c->pause_in_error) {
      llmrt__call_set_state(c, CALL_REQUEST);
      error_flow(c, (int)c->pos - 1, c->fail_err);
    } else {
      llmrt__call_request_phase(c, c->pos + 1);
    }
  }
  if (c->state == CALL_DONE) maybe_free(c);
}

void llmrt__call_act(llmrt_call_t *c, unsigned act) {
  if (c->state == CALL_DONE) return;
  c->actions |= act;
  if (act & (ACT_CANCEL | ACT_SHUTDOWN)) c->halted = 1;
  if (!c->defer_queued) {
    c->defer_queued = 1;
    llmrt__defer(c->ch, &c->defer, run_actions, c);
  }
}

/* ---- Public API ---- */

int llmrt_call(llmrt_t *rt, const llmrt_request_t *req, const llmrt_callbacks_t *cbs, void *user,
               llmrt_call_t **out) {
  if (out) *out = NULL;
  if (!rt || !req || !cbs || !cbs->on_done) return LLMRT_EINVAL;
  if (rt->closing) return LLMRT_ESHUTDOWN;
  if (!req->model || !req->n_messages || !req->messages) return LLMRT_EINVAL;
  llmrt__chain_t *ch = llmrt__chain_get(rt);
  if (!ch) return LLMRT_ENOMEM;
  if (!ch->configured) return LLMRT_ENOUPSTREAM;
  if (req->upstream && !llmrt__upstream_find(ch, req->upstream)) return LLMRT_ENOUPSTREAM;

  size_t head = sizeof(llmrt_call_t) + sizeof(llmrt_ctx_t) * ch->n_plugins;
  head = (head + 15) & ~(size_t)15;
  size_t total = head + ch->states_size + sizeof(llmrt__pstate_t);
  /* One block: call, contexts, plugin states, decoder state; a cached one
   * when there is (all blocks of a configured chain have the same size).
   * The decoder's 8 KiB scratch is not zeroed (written before it is read). */
  llmrt_call_t *c = ch->free_calls;
  struct {
    llmrt__buf_t body_out, body_in, hdrs, text;
    llmrt__sse_t sse;
    int sse_inited;
  } keep;
  memset(&keep, 0, sizeof keep);
  if (c) {
    ch->free_calls = c->next;
    ch->n_free_calls--;
    keep.body_out = c->body_out;
    keep.body_in = c->body_in;
    keep.hdrs = c->hdrs;
    keep.text = c->text;
    keep.sse = c->sse;
    keep.sse_inited = c->sse_inited;
  } else {
    c = llmrt__malloc(total);
    if (!c) return LLMRT_ENOMEM;
  }
  /* Zero the call itself and the plugins' states (their contract); the
   * contexts are filled in completely below. */
  memset(c, 0, sizeof *c);
  c->body_out = keep.body_out;
  c->body_in = keep.body_in;
  c->hdrs = keep.hdrs;
  c->text = keep.text;
  c->sse = keep.sse;
  c->sse_inited = keep.sse_inited;
  if (ch->states_size) memset((char *)c + head, 0, ch->states_size);
  int r = llmrt__call_copy_request(c, req);
  if (r) {
    call_block_free(c);
    return r;
  }
  c->rt = rt;
  c->ch = ch;
  c->cbs = *cbs;
  c->user = user;
  c->answering = -1;
  c->resume_for = -1;
  c->pst = (llmrt__pstate_t *)((char *)c + head + ch->states_size);
  for (size_t i = 0; i < ch->n_plugins; i++) {
    llmrt_ctx_t *x = &c->ctx[i];
    llmrt_plugin_rt_t *p = ch->plugins[i];
    *x = (llmrt_ctx_t){
        .on_event = p->desc->on_event,
        .call = c,
        .p = p,
        .state = p->desc->call_state_size ? (char *)c + head + p->state_off : NULL,
        .index = (unsigned)i,
    };
  }
  c->t_start_us = llmrt__now_us();
  uv_timer_init(rt->loop, &c->timer);
  c->timer.data = c;
  c->timer_open = 1;
  uint32_t total_ms = c->req.deadline_ms ? c->req.deadline_ms : rt->opts.total_timeout_ms;
  uv_update_time(rt->loop);
  if (total_ms) c->deadline_at = uv_now(rt->loop) + total_ms;

  c->next = ch->calls;
  if (ch->calls) ch->calls->prev = c;
  ch->calls = c;
  ch->n_calls++;
  llmrt__rt_ref(rt);
  llmrt__call_arm_timer(c);
  /* Never call back from inside llmrt_call: the chain starts next turn. */
  llmrt__call_act(c, ACT_START);
  if (out) *out = c;
  return 0;
}

int llmrt_call_cancel(llmrt_call_t *c) {
  if (!c) return LLMRT_EINVAL;
  if (c->state == CALL_DONE) return 0;
  /* Stop the wire at once so no more data arrives; completion is deferred
   * so that a cancel from inside a callback never re-enters it. */
  llmrt__attempt_abort(c);
  llmrt__call_act(c, ACT_CANCEL);
  return 0;
}

void *llmrt_call_user(const llmrt_call_t *c) {
  return c->user;
}

llmrt_t *llmrt_call_runtime(const llmrt_call_t *c) {
  return c->rt;
}
