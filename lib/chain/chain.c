/* Per-runtime chain state: the deferred-work queue, the list of calls in
 * flight and the shutdown order at llmrt_close. */
#include <string.h>

#include "call.h"

static void on_idle(uv_idle_t *h) {
  llmrt__chain_t *ch = h->data;
  /* Take the whole queue: work queued while running goes to the next turn,
   * so a callback that re-queues itself cannot starve the loop. */
  llmrt__defer_t *d = ch->defer_head;
  ch->defer_head = ch->defer_tail = NULL;
  uv_idle_stop(&ch->idle);
  while (d) {
    llmrt__defer_t *next = d->next;
    d->next = NULL;
    d->fn(d->arg);
    d = next;
  }
}

void llmrt__defer(llmrt__chain_t *ch, llmrt__defer_t *d, void (*fn)(void *), void *arg) {
  d->fn = fn;
  d->arg = arg;
  d->next = NULL;
  if (ch->defer_tail)
    ch->defer_tail->next = d;
  else
    ch->defer_head = d;
  ch->defer_tail = d;
  if (ch->idle_open) uv_idle_start(&ch->idle, on_idle);
}

static void on_idle_closed(uv_handle_t *h) {
  llmrt__chain_t *ch = h->data;
  llmrt_t *rt = ch->rt;
  rt->chain = NULL;
  llmrt__free(ch);
  llmrt__rt_unref(rt);
}

/* Runs once no call is left: plugins' fini, then the idle handle closes. */
static void chain_shutdown(void *arg) {
  llmrt__chain_t *ch = arg;
  llmrt__call_cache_free(ch);
  llmrt__config_free(ch);
  llmrt__registry_free(ch);
  llmrt__metrics_free(ch->rt);
  if (ch->idle_open) {
    ch->idle_open = 0;
    uv_close((uv_handle_t *)&ch->idle, on_idle_closed);
  }
}

void llmrt__chain_maybe_shutdown(llmrt__chain_t *ch) {
  if (ch->closing == 1 && ch->n_calls == 0) {
    ch->closing = 2;
    /* Deferred: llmrt_close may run inside a plugin's own timer callback,
     * and fini must not free the plugin under it. */
    llmrt__defer(ch, &ch->shutdown_defer, chain_shutdown, ch);
  }
}

static void chain_closer(llmrt_t *rt, void *arg) {
  llmrt__chain_t *ch = arg;
  ch->closing = 1;
  /* Every call ends with LLMRT_ESHUTDOWN on the next loop turn, never inside
   * llmrt_close (which may itself run inside one of their callbacks). */
  for (llmrt_call_t *c = ch->calls; c; c = c->next) llmrt__call_act(c, ACT_SHUTDOWN);
  llmrt__chain_maybe_shutdown(ch);
}

llmrt__chain_t *llmrt__chain_get(llmrt_t *rt) {
  if (rt->chain) return rt->chain;
  llmrt__chain_t *ch = llmrt__calloc(1, sizeof *ch);
  if (!ch) return NULL;
  ch->rt = rt;
  if (llmrt__rt_add_closer_first(rt, chain_closer, ch) != 0) {
    llmrt__free(ch);
    return NULL;
  }
  uv_idle_init(rt->loop, &ch->idle);
  ch->idle.data = ch;
  ch->idle_open = 1;
  llmrt__rt_ref(rt);
  rt->chain = ch;
  return ch;
}

const llmrt__upstream_t *llmrt__upstream_find(llmrt__chain_t *ch, const char *name) {
  if (!name) return ch->n_upstreams ? &ch->upstreams[ch->default_upstream] : NULL;
  for (size_t i = 0; i < ch->n_upstreams; i++)
    if (strcmp(ch->upstreams[i].name, name) == 0) return &ch->upstreams[i];
  return NULL;
}
