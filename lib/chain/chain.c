/* Per-runtime chain state: the deferred-work queue, the calls in flight and
 * their ids, the configurations still in use, and the chain's part of
 * llmrt_close (the first phase: calls end, then configurations go). */
#include <stdio.h>
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

void llmrt__chain_errmsg(llmrt__chain_t *ch, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ch->errmsg, sizeof ch->errmsg, fmt, ap);
  va_end(ap);
}

const char *llmrt_errmsg(const llmrt_t *rt) {
  const llmrt__chain_t *ch = rt ? rt->chain : NULL;
  return ch ? ch->errmsg : "";
}

/* The chain's memory goes after its last handle (idle, async) closed. */
void llmrt__chain_handle_closed(llmrt__chain_t *ch) {
  if (--ch->open_handles > 0) return;
  llmrt_t *rt = ch->rt;
  rt->chain = NULL;
  llmrt__free(ch->slots);
  llmrt__free(ch);
  llmrt__rt_unref(rt);
}

static void on_idle_closed(uv_handle_t *h) {
  llmrt__chain_handle_closed(h->data);
}

/* Runs once no call and no configuration is left. */
static void chain_shutdown(void *arg) {
  llmrt__chain_t *ch = arg;
  llmrt__registry_free(ch);
  llmrt__metrics_free(ch->rt);
  ch->open_handles = 1 + ch->async_open;
  llmrt__wake_close(ch);
  if (ch->idle_open) {
    ch->idle_open = 0;
    uv_close((uv_handle_t *)&ch->idle, on_idle_closed);
  }
}

void llmrt__chain_maybe_shutdown(llmrt__chain_t *ch) {
  if (ch->closing != 1 || ch->n_calls > 0) return;
  if (ch->conf) {
    /* The last call is gone: the current configuration goes too (its
     * plugins' fini on a later turn, then this runs again). */
    llmrt__conf_t *cf = ch->conf;
    ch->conf = NULL;
    llmrt__conf_unref(cf);
  }
  if (ch->n_confs > 0) return;
  ch->closing = 2;
  /* Deferred: llmrt_close may run inside a plugin's own timer callback,
   * and nothing may be freed under it. */
  llmrt__defer(ch, &ch->shutdown_defer, chain_shutdown, ch);
}

static void chain_closer(llmrt_t *rt, void *arg) {
  llmrt__chain_t *ch = arg;
  ch->closing = 1;
  /* Every call ends with LLMRT_ESHUTDOWN on the next loop turn, never inside
   * llmrt_close (which may itself run inside one of their callbacks). */
  for (llmrt__link_t *l = ch->calls.next; l != &ch->calls; l = l->next)
    llmrt__call_shutdown(LLMRT__CONTAINER(l, llmrt_call_t, link));
  llmrt__chain_maybe_shutdown(ch);
}

llmrt__chain_t *llmrt__chain_get(llmrt_t *rt) {
  if (rt->chain) return rt->chain;
  llmrt__chain_t *ch = llmrt__calloc(1, sizeof *ch);
  if (!ch) return NULL;
  ch->rt = rt;
  llmrt__list_init(&ch->calls);
  ch->free_slot = UINT32_MAX;
  if (llmrt__wake_init(ch) != 0) {
    llmrt__free(ch);
    return NULL;
  }
  if (llmrt__rt_add_closer(rt, LLMRT__CLOSE_CALLS, chain_closer, ch) != 0) {
    /* Never happens (the table has room for every layer); unwind anyway. */
    ch->open_handles = 1;
    llmrt__rt_ref(rt);
    llmrt__wake_close(ch);
    return NULL;
  }
  uv_idle_init(rt->loop, &ch->idle);
  ch->idle.data = ch;
  ch->idle_open = 1;
  llmrt__rt_ref(rt);
  rt->chain = ch;
  return ch;
}

const llmrt__upstream_t *llmrt__upstream_find(const llmrt__conf_t *cf, const char *name) {
  if (!cf) return NULL;
  if (!name) return cf->n_upstreams ? &cf->upstreams[cf->default_upstream] : NULL;
  for (size_t i = 0; i < cf->n_upstreams; i++)
    if (strcmp(cf->upstreams[i].name, name) == 0) return &cf->upstreams[i];
  return NULL;
}
