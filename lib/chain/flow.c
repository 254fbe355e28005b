/* Events, inner to outer: through each plugin's on_event, then to the
 * user's callbacks, with flow control. A plugin's on_event may return
 * LLMRT_PAUSE, and the application may call llmrt_call_pause: the runtime
 * then stops reading the upstream (a real read stop on the socket) and
 * queues, in order, what is already on its way (the rest of the current
 * read: bounded by one read and one SSE event). Resuming drains the queue
 * on a later loop turn and then reads on. The queue copies the events'
 * strings; in steady state (no pause) nothing is queued or allocated. */
#include <stdio.h>
#include <string.h>

#include "call.h"

int llmrt__flow_paused(const llmrt_call_t *c) {
  return c->flow_pauser >= 0 || c->app_pauses > 0;
}

int llmrt__flow_queued(const llmrt_call_t *c) {
  return c->q.len / sizeof(llmrt__qev_t) > c->q_head;
}

void llmrt__flow_reset(llmrt_call_t *c) {
  llmrt__buf_reset(&c->q);
  llmrt__buf_reset(&c->qstr);
  c->q_head = c->q_ins = 0;
}

void llmrt__flow_drop(llmrt_call_t *c) {
  /* The held events are gone (the attempt failed or the call ends): so is
   * a plugin's pause of them, and what waited for them. The application's
   * own pauses stay: it still wants the call paused. */
  llmrt__flow_reset(c);
  c->flow_pauser = -1;
  c->after_drain = AFTER_NONE;
}

void llmrt__flow_free(llmrt_call_t *c) {
  llmrt__buf_free(&c->q);
  llmrt__buf_free(&c->qstr);
  llmrt__buf_free(&c->qcur);
}

/* ---- Delivery to the user ---- */

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

/* The few strings of an event that are not content (a finish reason, a
 * tool's id and name) may be an upstream's echo: the key is kept out of
 * them as out of the result. Rare events, short strings. */
static void redact_event(llmrt_call_t *c, llmrt_event_t *ev, char *b1, char *b2, size_t cap) {
  const char *key = llmrt__call_key(c);
  if (!key) return;
  const char **f1 = ev->type == LLMRT_EV_FINISH ? &ev->finish_reason : &ev->id;
  /* Copied (and cut to cap) only when there is something to take out. */
  if (*f1 && llmrt__redact_needed(*f1, key)) {
    snprintf(b1, cap, "%s", *f1);
    llmrt__redact_buf(b1, cap, key);
    *f1 = b1;
  }
  if (ev->type == LLMRT_EV_TOOL_CALL && ev->name && llmrt__redact_needed(ev->name, key)) {
    snprintf(b2, cap, "%s", ev->name);
    llmrt__redact_buf(b2, cap, key);
    ev->name = b2;
  }
}

/* Hands ev to the user and records it in the result. Returns 0 or
 * LLMRT_ENOMEM (the text could not be kept). */
static int deliver(llmrt_call_t *c, llmrt_event_t *ev) {
  if (c->halted) return 0; /* canceled or closed: nothing more reaches the user */
  char b1[128], b2[128];
  switch (ev->type) {
  case LLMRT_EV_TEXT:
    if (llmrt__buf_append(&c->text, ev->text, ev->len) != 0) return LLMRT_ENOMEM;
    c->text_emitted = 1;
    note_content(c);
    if (c->cbs.on_token && ev->len) c->cbs.on_token(c, ev->text, ev->len, c->user);
    break;
  case LLMRT_EV_TOOL_CALL:
    if (ev->id || ev->name) redact_event(c, ev, b1, b2, sizeof b1);
    /* fall through */
  case LLMRT_EV_THINKING:
    note_content(c);
    break;
  case LLMRT_EV_USAGE:
    if (ev->input_tokens) c->input_tokens = ev->input_tokens;
    if (ev->output_tokens) c->output_tokens = ev->output_tokens;
    if (ev->cached_tokens) c->cached_tokens = ev->cached_tokens;
    break;
  case LLMRT_EV_FINISH:
    if (ev->finish_reason) {
      redact_event(c, ev, b1, b2, sizeof b1);
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

/* ---- The queue ---- */

static size_t keep_str(llmrt_call_t *c, const char *s, size_t n, int *err) {
  if (!s) return 0;
  size_t off = c->qstr.len;
  if (llmrt__buf_append(&c->qstr, s, n) || llmrt__buf_append(&c->qstr, "", 1)) *err = 1;
  return off + 1;
}

/* Queues ev behind what is held back, or, with front set, in front of what
 * is held back (the event being delivered when a pause came: it goes first
 * on resume, after what the same delivery put there before it). */
static int enqueue(llmrt_call_t *c, int from, const llmrt_event_t *ev, int front) {
  llmrt__qev_t e;
  int err = 0;
  e.from = from;
  e.ev = *ev;
  e.text = keep_str(c, ev->text, ev->len, &err);
  e.id = keep_str(c, ev->id, ev->id ? strlen(ev->id) : 0, &err);
  e.name = keep_str(c, ev->name, ev->name ? strlen(ev->name) : 0, &err);
  e.finish = keep_str(c, ev->finish_reason, ev->finish_reason ? strlen(ev->finish_reason) : 0, &err);
  if (err || llmrt__buf_reserve(&c->q, sizeof e)) {
    llmrt__call_set_str(&c->error_message, "out of memory holding back a paused event", 41);
    return LLMRT_ENOMEM;
  }
  size_t n = c->q.len / sizeof e, at = front ? c->q_ins : n;
  if (at > n) at = n;
  /* In front: where the event being delivered was, after what was put
   * there before it in the same delivery (in order). */
  memmove(c->q.data + (at + 1) * sizeof e, c->q.data + at * sizeof e, (n - at) * sizeof e);
  memcpy(c->q.data + at * sizeof e, &e, sizeof e);
  c->q.len += sizeof e;
  if (front) c->q_ins = at + 1;
  return 0;
}

/* Takes the next entry, its strings copied to qcur (the queue may grow
 * while the entry is being delivered). */
static int dequeue(llmrt_call_t *c, int *from, llmrt_event_t *ev) {
  llmrt__qev_t e;
  memcpy(&e, c->q.data + c->q_head * sizeof e, sizeof e);
  c->q_head++;
  *from = e.from;
  *ev = e.ev;
  llmrt__buf_reset(&c->qcur);
  size_t offs[4] = {e.text, e.id, e.name, e.finish};
  size_t lens[4] = {e.ev.len, 0, 0, 0};
  size_t pos[4];
  for (int i = 0; i < 4; i++) {
    pos[i] = 0;
    if (!offs[i]) continue;
    const char *s = c->qstr.data + offs[i] - 1;
    if (i) lens[i] = strlen(s);
    pos[i] = c->qcur.len + 1;
    if (llmrt__buf_append(&c->qcur, s, lens[i]) || llmrt__buf_append(&c->qcur, "", 1)) {
      llmrt__call_set_str(&c->error_message, "out of memory delivering a paused event", 39);
      return LLMRT_ENOMEM;
    }
  }
  ev->text = pos[0] ? c->qcur.data + pos[0] - 1 : NULL;
  ev->id = pos[1] ? c->qcur.data + pos[1] - 1 : NULL;
  ev->name = pos[2] ? c->qcur.data + pos[2] - 1 : NULL;
  ev->finish_reason = pos[3] ? c->qcur.data + pos[3] - 1 : NULL;
  if (!pos[0]) ev->len = 0;
  return 0;
}

/* ---- Dispatch ---- */

static int pause_at(llmrt_call_t *c, int i, const llmrt_event_t *ev) {
  int r = enqueue(c, i - 1, ev, 1);
  if (r) return r;
  c->flow_pauser = i;
  llmrt__attempt_pause(c, 1);
  if (c->state == CALL_UPSTREAM) llmrt__call_enter(c, CALL_EVT_PAUSED);
  if (c->resume_for == i) {
    /* Resumed inside the hook that paused: takes effect on a later turn. */
    c->resume_for = -1;
    c->flow_pauser = -1;
    llmrt__call_act(c, ACT_DRAIN);
  }
  return 0;
}

/* Passes ev through plugins from..0 and then to the user. Returns 0, or a
 * negative error when a plugin failed (the message is set). */
static int dispatch(llmrt_call_t *c, int from, llmrt_event_t *ev) {
  /* The hot path: one indirect call per plugin that has on_event, and one
   * flag to learn whether a hook ended, failed or canceled the call. */
  if (c->halted) return 0;
  c->in_hook++;
  int r = 0, outer = c->evt_hook;
  for (int i = from; i >= 0; i--) {
    llmrt_ctx_t *x = &c->ctx[i];
    if (x->on_event) {
      c->evt_hook = i;
      c->resume_for = -1;
      r = x->on_event(x, ev);
      c->evt_hook = outer;
      if (r != LLMRT_CONTINUE || c->halted) {
        if (c->halted || r == LLMRT_STOP) {
          r = 0; /* ended, canceled, failed or dropped here */
        } else if (r == LLMRT_PAUSE) {
          x->passed = 1;
          r = pause_at(c, i, ev);
        } else {
          char msg[256];
          snprintf(msg, sizeof msg, "plugin %s: on_event failed: %s", x->p->label,
                   llmrt_strerror(r < 0 ? r : LLMRT_EPLUGIN));
          llmrt__call_set_str(&c->error_message, msg, strlen(msg));
          if (r > 0) r = LLMRT_EPLUGIN;
        }
        goto out;
      }
      if (llmrt__flow_paused(c)) {
        /* An event this hook inserted (emit) was paused further out: this
         * one waits behind it, and goes on from the next plugin out. */
        x->passed = 1;
        r = enqueue(c, i - 1, ev, 1);
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

int llmrt__flow_event(llmrt_call_t *c, int from, const llmrt_event_t *ev) {
  if (c->halted) return 0;
  /* Behind what is held back, unless it comes from delivering that (an
   * event a plugin inserts goes out before the one it sees). */
  if (llmrt__flow_paused(c) || (llmrt__flow_queued(c) && !c->draining))
    return enqueue(c, from, ev, 0);
  llmrt_event_t copy = *ev;
  copy.struct_size = sizeof copy;
  if (c->evt_hook < 0) c->q_ins = c->q_head; /* a new delivery */
  return dispatch(c, from, &copy);
}

/* A plugin failed while the queue was being delivered: the error walks
 * on_error from the plugin outside the one that failed. */
static void drain_failed(llmrt_call_t *c, int r) {
  llmrt__attempt_abort(c);
  llmrt__flow_drop(c);
  llmrt__call_error(c, llmrt__call_last(c), r, NULL);
}

void llmrt__flow_drain(llmrt_call_t *c) {
  while (!llmrt__flow_paused(c) && llmrt__flow_queued(c)) {
    int from;
    llmrt_event_t ev;
    int r = dequeue(c, &from, &ev);
    if (r) {
      drain_failed(c, r);
      return;
    }
    c->q_ins = c->q_head;
    c->draining = 1;
    r = dispatch(c, from, &ev);
    c->draining = 0;
    if (c->state >= CALL_COMPLETING || c->halted) return;
    if (r < 0) {
      drain_failed(c, r);
      return;
    }
  }
  if (llmrt__flow_paused(c)) return;
  llmrt__flow_reset(c);
  int after = c->after_drain;
  c->after_drain = AFTER_NONE;
  if (after == AFTER_ATTEMPT)
    llmrt__attempt_finish(c);
  else if (after == AFTER_COMPLETE)
    llmrt__call_complete(c, 0, NULL);
  else if (c->state == CALL_EVT_PAUSED)
    llmrt__call_enter(c, CALL_UPSTREAM);
  else
    llmrt__attempt_pause(c, 0);
}
