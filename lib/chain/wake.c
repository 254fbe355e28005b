/* Waiting for things other than timers, for plugins: wakeups sent from any
 * thread (one uv_async_t per runtime and a locked queue of wakes), and
 * watches of file descriptors a plugin owns (uv_poll_t), enough for
 * hiredis's adapter model or any client library that exposes its socket. */
#include <string.h>

#include "chain.h"

struct llmrt_wake_s {
  llmrt__link_t link;  /* in prt->wakes */
  llmrt__link_t qlink; /* in ch->wakes while a send is pending (under wake_lock) */
  llmrt__chain_t *ch;
  void (*cb)(llmrt_wake_t *w, void *arg);
  void *arg;
};

struct llmrt_watch_s {
  uv_poll_t poll;
  llmrt__link_t link; /* in prt->watches while not stopped */
  llmrt_t *rt;
  void (*cb)(llmrt_watch_t *w, int events, int status, void *arg);
  void *arg;
  int stopped;
};

/* ---- Wakes ---- */

static void on_async(uv_async_t *h) {
  llmrt__chain_t *ch = h->data;
  /* Runs what was queued when it started: a callback that sends again runs
   * on the next wakeup, so no wake can starve the loop. */
  llmrt__link_t batch;
  uv_mutex_lock(&ch->wake_lock);
  llmrt__list_move(&ch->wakes, &batch);
  uv_mutex_unlock(&ch->wake_lock);
  for (;;) {
    uv_mutex_lock(&ch->wake_lock);
    llmrt_wake_t *w = NULL;
    if (!llmrt__list_empty(&batch)) {
      w = LLMRT__CONTAINER(batch.next, llmrt_wake_t, qlink);
      llmrt__list_remove(&w->qlink);
    }
    uv_mutex_unlock(&ch->wake_lock);
    if (!w) break;
    w->cb(w, w->arg); /* may free w, or any other wake of the batch */
  }
}

int llmrt__wake_init(llmrt__chain_t *ch) {
  int r = uv_mutex_init(&ch->wake_lock);
  if (r) return r;
  r = uv_async_init(ch->rt->loop, &ch->async, on_async);
  if (r) {
    uv_mutex_destroy(&ch->wake_lock);
    return r;
  }
  ch->async.data = ch;
  /* A plugin's wake keeps nothing alive: its calls and timers do. */
  uv_unref((uv_handle_t *)&ch->async);
  ch->async_open = 1;
  llmrt__list_init(&ch->wakes);
  return 0;
}

static void on_async_closed(uv_handle_t *h) {
  llmrt__chain_t *ch = h->data;
  uv_mutex_destroy(&ch->wake_lock);
  llmrt__chain_handle_closed(ch);
}

void llmrt__wake_close(llmrt__chain_t *ch) {
  if (!ch->async_open) return;
  ch->async_open = 0;
  uv_close((uv_handle_t *)&ch->async, on_async_closed);
}

int llmrt__wake_new(llmrt_plugin_rt_t *prt, void (*cb)(llmrt_wake_t *w, void *arg), void *arg,
                    llmrt_wake_t **out) {
  if (out) *out = NULL;
  if (!prt || !cb || !out) return LLMRT_EINVAL;
  if (prt->rt->closing) return LLMRT_ESHUTDOWN;
  llmrt__chain_t *ch = llmrt__chain_get(prt->rt);
  if (!ch || !ch->async_open) return LLMRT_ENOMEM;
  llmrt_wake_t *w = llmrt__calloc(1, sizeof *w);
  if (!w) return LLMRT_ENOMEM;
  w->ch = ch;
  w->cb = cb;
  w->arg = arg;
  llmrt__list_init(&w->qlink);
  llmrt__list_push_back(&prt->wakes, &w->link);
  *out = w;
  return 0;
}

int llmrt__wake_send(llmrt_wake_t *w) {
  if (!w) return LLMRT_EINVAL;
  llmrt__chain_t *ch = w->ch;
  uv_mutex_lock(&ch->wake_lock);
  if (!llmrt__list_linked(&w->qlink)) llmrt__list_push_back(&ch->wakes, &w->qlink);
  uv_mutex_unlock(&ch->wake_lock);
  return uv_async_send(&ch->async);
}

void llmrt__wake_free(llmrt_wake_t *w) {
  if (!w) return;
  uv_mutex_lock(&w->ch->wake_lock);
  if (llmrt__list_linked(&w->qlink)) llmrt__list_remove(&w->qlink);
  uv_mutex_unlock(&w->ch->wake_lock);
  llmrt__list_remove(&w->link);
  llmrt__free(w);
}

/* ---- Watches ---- */

static int to_uv(int events) {
  return ((events & LLMRT_WATCH_READABLE) ? UV_READABLE : 0) |
         ((events & LLMRT_WATCH_WRITABLE) ? UV_WRITABLE : 0);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  llmrt_watch_t *w = h->data;
  if (w->stopped) return;
  int ev = ((events & UV_READABLE) ? LLMRT_WATCH_READABLE : 0) |
           ((events & UV_WRITABLE) ? LLMRT_WATCH_WRITABLE : 0);
  w->cb(w, ev, status, w->arg);
}

static void on_poll_closed(uv_handle_t *h) {
  llmrt_watch_t *w = h->data;
  llmrt_t *rt = w->rt;
  llmrt__free(w);
  llmrt__rt_unref(rt);
}

int llmrt__watch_start(llmrt_plugin_rt_t *prt, int fd, int events,
                       void (*cb)(llmrt_watch_t *w, int events, int status, void *arg), void *arg,
                       llmrt_watch_t **out) {
  if (out) *out = NULL;
  if (!prt || !cb || !out || fd < 0 || (events & ~(LLMRT_WATCH_READABLE | LLMRT_WATCH_WRITABLE)))
    return LLMRT_EINVAL;
  if (prt->rt->closing) return LLMRT_ESHUTDOWN;
  llmrt_watch_t *w = llmrt__calloc(1, sizeof *w);
  if (!w) return LLMRT_ENOMEM;
  int r = uv_poll_init(prt->rt->loop, &w->poll, fd);
  if (r) {
    llmrt__free(w);
    return r;
  }
  w->poll.data = w;
  w->rt = prt->rt;
  w->cb = cb;
  w->arg = arg;
  llmrt__rt_ref(prt->rt);
  llmrt__list_push_back(&prt->watches, &w->link);
  if (events && (r = uv_poll_start(&w->poll, to_uv(events), on_poll)) != 0) {
    llmrt__watch_stop(w);
    return r;
  }
  *out = w;
  return 0;
}

int llmrt__watch_set(llmrt_watch_t *w, int events) {
  if (!w || w->stopped || (events & ~(LLMRT_WATCH_READABLE | LLMRT_WATCH_WRITABLE)))
    return LLMRT_EINVAL;
  if (!events) return uv_poll_stop(&w->poll);
  return uv_poll_start(&w->poll, to_uv(events), on_poll);
}

void llmrt__watch_stop(llmrt_watch_t *w) {
  if (!w || w->stopped) return;
  w->stopped = 1;
  llmrt__list_remove(&w->link);
  uv_poll_stop(&w->poll);
  uv_close((uv_handle_t *)&w->poll, on_poll_closed);
}

void llmrt__plugin_watches_stop(llmrt_plugin_rt_t *p) {
  while (!llmrt__list_empty(&p->watches))
    llmrt__watch_stop(LLMRT__CONTAINER(p->watches.next, llmrt_watch_t, link));
}

void llmrt__plugin_wakes_free(llmrt_plugin_rt_t *p) {
  while (!llmrt__list_empty(&p->wakes))
    llmrt__wake_free(LLMRT__CONTAINER(p->wakes.next, llmrt_wake_t, link));
}
