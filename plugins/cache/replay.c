/* Replaying an entry to a call as the original stream: the same events in
 * the same order (text, reasoning, tool-call deltas, usage, finish), all at
 * once or paced by the original gaps (divided by pace_speed). The call
 * holds a reference to the entry for as long as it replays, so the store
 * may evict the entry meanwhile. */
#include <string.h>

#include "cache.h"

void cache__entry_result(const cache_entry_t *e, llmrt_result_t *res) {
  memset(res, 0, sizeof *res);
  res->struct_size = sizeof *res;
  res->finish_reason = cache__entry_str(e, e->finish);
  res->model = cache__entry_str(e, e->model);
  res->input_tokens = e->in_tok;
  res->output_tokens = e->out_tok;
  res->cached_tokens = e->cached_tok;
  res->cache_hit = 1;
}

void cache__replay_stop(cache_call_t *cc) {
  if (cc->timer) H->timer_stop(cc->timer);
  cc->timer = NULL;
  cache__entry_unref(cc->entry);
  cc->entry = NULL;
}

/* Emits the events due by now (all of them when not paced). 1 when the
 * replay ended (answered or failed), 0 when events remain. */
static int emit_due(cache_t *c, cache_call_t *cc) {
  cache_entry_t *e = cc->entry;
  uint64_t elapsed = cache__mono_us() - cc->replay_t0_us;
  while (cc->next_ev < e->n_ev) {
    const cache_ev_t *ce = &e->ev[cc->next_ev];
    if (c->pace && (double)ce->t_us / c->pace_speed > (double)elapsed) return 0;
    llmrt_event_t ev;
    cache__ev_get(ce, e->blob, &ev);
    cc->next_ev++;
    if (H->emit(cc->ctx, &ev) != 0) {
      /* Canceled or closing: the runtime ends the call. */
      cache__replay_stop(cc);
      return 1;
    }
  }
  llmrt_result_t res;
  cache__entry_result(e, &res);
  H->respond(cc->ctx, &res);
  cache__replay_stop(cc);
  return 1;
}

static void arm(cache_t *c, cache_call_t *cc);

static void on_pace(llmrt_timer_t *t, void *arg) {
  cache_call_t *cc = arg;
  cache_t *c = H->plugin_state(cc->ctx);
  H->timer_stop(t);
  cc->timer = NULL;
  if (!emit_due(c, cc)) arm(c, cc);
}

static void arm(cache_t *c, cache_call_t *cc) {
  const cache_ev_t *ce = &cc->entry->ev[cc->next_ev];
  double due_us = (double)ce->t_us / c->pace_speed;
  double elapsed = (double)(cache__mono_us() - cc->replay_t0_us);
  uint64_t ms = due_us > elapsed ? (uint64_t)((due_us - elapsed + 999) / 1000) : 0;
  if (H->call_timer_start(cc->ctx, ms, 0, on_pace, cc, &cc->timer) != 0) {
    cc->timer = NULL;
    cache__replay_stop(cc);
    H->fail(cc->ctx, LLMRT_ENOMEM, "out of memory pacing a cached replay");
  }
}

int cache__replay(cache_t *c, cache_call_t *cc, cache_entry_t *e, int paused) {
  cache__entry_ref(e);
  cc->entry = e;
  cc->role = CC_REPLAY;
  cc->next_ev = 0;
  cc->replay_t0_us = cache__mono_us();
  H->attr_set_num(cc->ctx, "cache.hit", 1);
  if (cc->result) H->attr_set_str(cc->ctx, "cache.result", cc->result);
  /* The usage is the original answer's; these say it was not spent now. */
  H->attr_set_num(cc->ctx, "cache.saved_input_tokens", (double)e->in_tok);
  H->attr_set_num(cc->ctx, "cache.saved_output_tokens", (double)e->out_tok);
  if (emit_due(c, cc)) return LLMRT_STOP;
  arm(c, cc);
  return paused ? 0 : LLMRT_PAUSE;
}
