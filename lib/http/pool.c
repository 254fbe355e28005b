/* Connection pool per origin (scheme, host, port): keep-alive reuse, most
 * recently used connection first (it is the least likely to have been closed
 * by the server), a per-origin connection limit with a FIFO wait queue, an
 * idle timeout, detection of connections the server closed while idle,
 * prewarming, statistics, and the closer that ends everything on
 * llmrt_close. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"
#include "pool_stats.h"

struct llmrt__prewarm_s {
  llmrt__link_t link; /* in pool->prewarms while connects are pending */
  llmrt_t *rt;
  void (*done)(llmrt_t *rt, int status, void *user);
  void *user;
  unsigned pending;
  unsigned opened;
  int first_err;
  uv_timer_t timer; /* reports done on a later loop turn */
};

static void pool_closer(llmrt_t *rt, void *arg);
static void conn_on_connect(llmrt__conn_t *c, int status, const char *errmsg, void *user);
static void conn_on_read(llmrt__conn_t *c, int status, const char *data, size_t len, void *user);
static const llmrt__conn_cbs_t conn_cbs = {conn_on_connect, conn_on_read};

static uint32_t max_conns(const llmrt__origin_t *o) {
  if (o->max) return o->max;
  return o->rt->opts.pool_max_per_origin ? o->rt->opts.pool_max_per_origin : 64;
}

llmrt__pool_t *llmrt__pool_get(llmrt_t *rt) {
  if (rt->pools) return rt->pools;
  llmrt__pool_t *p = llmrt__calloc(1, sizeof(*p));
  if (!p) return NULL;
  p->rt = rt;
  llmrt__list_init(&p->origins);
  llmrt__list_init(&p->reqs);
  llmrt__list_init(&p->prewarms);
  if (llmrt__rt_add_closer(rt, LLMRT__CLOSE_POOLS, pool_closer, p) != 0) {
    llmrt__free(p);
    return NULL;
  }
  rt->pools = p;
  return p;
}

static llmrt__origin_t *find_origin(llmrt__pool_t *pool, int tls, const char *host, uint16_t port) {
  for (llmrt__link_t *l = pool->origins.next; l != &pool->origins; l = l->next) {
    llmrt__origin_t *o = LLMRT__CONTAINER(l, llmrt__origin_t, link);
    if (o->tls == tls && o->port == port && strcasecmp(o->host, host) == 0) return o;
  }
  return NULL;
}

static void on_idle_timer(uv_timer_t *t);

int llmrt__pool_origin(llmrt__pool_t *pool, const llmrt__url_t *u, llmrt__origin_t **out) {
  llmrt__origin_t *o = find_origin(pool, u->tls, u->host, u->port);
  if (o) {
    *out = o;
    return 0;
  }
  o = llmrt__calloc(1, sizeof(*o));
  if (!o) return LLMRT_ENOMEM;
  size_t hl = strlen(u->host);
  o->host = llmrt__strdup(u->host);
  o->label = llmrt__malloc(hl + 16);
  if (!o->host || !o->label) {
    llmrt__free(o->host);
    llmrt__free(o->label);
    llmrt__free(o);
    return LLMRT_ENOMEM;
  }
  snprintf(o->label, hl + 16, strchr(u->host, ':') ? "[%s]:%u" : "%s:%u", u->host, u->port);
  o->pool = pool;
  o->rt = pool->rt;
  o->tls = u->tls;
  o->port = u->port;
  llmrt__list_init(&o->idle);
  llmrt__list_init(&o->busy);
  llmrt__list_init(&o->queue);
  uv_timer_init(pool->rt->loop, &o->idle_timer);
  o->idle_timer.data = o;
  /* Idle connections alone must not keep the caller's loop running. */
  uv_unref((uv_handle_t *)&o->idle_timer);
  llmrt__rt_ref(pool->rt);
  llmrt__list_push_back(&pool->origins, &o->link);
  *out = o;
  return 0;
}

static void origin_free_cb(uv_handle_t *h) {
  llmrt__origin_t *o = h->data;
  llmrt_t *rt = o->rt; /* the pool is gone by now */
  llmrt__free(o->host);
  llmrt__free(o->label);
  llmrt__free(o);
  llmrt__rt_unref(rt);
}

/* ---- Connections ---------------------------------------------------------- */

static void serve_queue(llmrt__origin_t *o);

/* Forgets pc and closes its conn (unless the transport already did: a failed
 * connect). Serves the queue with the freed slot when serve is set. */
static void drop(llmrt__pconn_t *pc, int serve) {
  llmrt__origin_t *o = pc->origin;
  if (pc->state == LLMRT__PC_IDLE) o->n_idle--;
  llmrt__list_remove(&pc->link);
  o->n_conns--;
  if (pc->conn) {
    llmrt__conn_close(pc->conn);
    if (pc->state != LLMRT__PC_CONNECTING) o->stats.closed++;
  }
  llmrt__free(pc);
  if (serve) serve_queue(o);
}

/* The runtime's proxy for o's host, parsed into *u (u->host NULL: direct).
 * Only "http://host[:port][/]": a proxy spoken to over TLS is not supported. */
static int proxy_for(llmrt__origin_t *o, llmrt__url_t *u) {
  const llmrt_options_t *opts = &o->pool->rt->opts;
  memset(u, 0, sizeof *u);
  if (!opts->proxy || !*opts->proxy || llmrt__proxy_bypass(opts->no_proxy, o->host)) return 0;
  char err[256];
  int rc = llmrt__url_parse(opts->proxy, u, err, sizeof err);
  if (rc == 0 && (u->tls || strcmp(u->target, "/") != 0)) {
    llmrt__url_free(u);
    memset(u, 0, sizeof *u);
    snprintf(err, sizeof err, "proxy: want http://HOST:PORT");
    rc = LLMRT_EURL;
  }
  if (rc) llmrt__log(o->pool->rt, LLMRT_LOG_WARN, "proxy option: %s", err);
  return rc;
}

static int connect_for(llmrt__origin_t *o, llmrt__req_t *req, llmrt__prewarm_t *pw) {
  llmrt_t *rt = o->pool->rt;
  llmrt__url_t proxy;
  int prc = proxy_for(o, &proxy);
  if (prc) return prc;
  llmrt__pconn_t *pc = llmrt__calloc(1, sizeof(*pc));
  if (!pc) {
    llmrt__url_free(&proxy);
    return LLMRT_ENOMEM;
  }
  pc->origin = o;
  pc->state = LLMRT__PC_CONNECTING;
  pc->req = req;
  pc->prewarm = pw;
  llmrt__conn_opts_t co;
  memset(&co, 0, sizeof(co));
  co.host = o->host;
  co.port = o->port;
  co.tls = o->tls;
  co.connect_timeout_ms = req ? req->to_connect : rt->opts.connect_timeout_ms;
  co.tls_timeout_ms = req ? req->to_tls : rt->opts.tls_timeout_ms;
  llmrt__list_push_back(&o->busy, &pc->link);
  o->n_conns++;
  if (req) req->pconn = pc;
  int rc = llmrt__conn_connect_via(rt, &co, proxy.host, proxy.port, &conn_cbs, pc, &pc->conn);
  llmrt__url_free(&proxy); /* the conn copied what it needs */
  if (rc) {
    if (req) req->pconn = NULL;
    pc->conn = NULL;
    drop(pc, 0);
    return rc;
  }
  if (req) req->pool_user->waiting(req, 0);
  return 0;
}

/* Hands the idle connection pc to req. */
static void assign(llmrt__pconn_t *pc, llmrt__req_t *req) {
  llmrt__origin_t *o = pc->origin;
  llmrt__list_remove(&pc->link);
  o->n_idle--;
  llmrt__list_push_back(&o->busy, &pc->link);
  pc->state = LLMRT__PC_ACTIVE;
  pc->req = req;
  req->pconn = pc;
  req->info.reused = 1;
  o->stats.reused++;
  req->pool_user->ready(req);
}

static llmrt__pconn_t *idle_newest(llmrt__origin_t *o) {
  return llmrt__list_empty(&o->idle) ? NULL : LLMRT__CONTAINER(o->idle.next, llmrt__pconn_t, link);
}

static llmrt__pconn_t *idle_oldest(llmrt__origin_t *o) {
  return llmrt__list_empty(&o->idle) ? NULL : LLMRT__CONTAINER(o->idle.prev, llmrt__pconn_t, link);
}

static void note_dequeued(llmrt__req_t *req) {
  req->info.queued_us = llmrt__now_us() - req->start_us;
}

/* Gives freed capacity to waiting requests, oldest first. */
static void serve_queue(llmrt__origin_t *o) {
  llmrt__pool_t *pool = o->pool;
  while (!pool->closing && !pool->rt->closing && !llmrt__list_empty(&o->queue)) {
    llmrt__req_t *req = LLMRT__CONTAINER(o->queue.next, llmrt__req_t, qlink);
    int fresh = (req->flags & LLMRT_HTTP_NO_REUSE) != 0;
    if (!fresh && o->n_idle) {
      llmrt__pool_dequeue(req);
      note_dequeued(req);
      assign(idle_newest(o), req);
    } else if (o->n_conns < max_conns(o)) {
      llmrt__pool_dequeue(req);
      note_dequeued(req);
      int rc = connect_for(o, req, NULL);
      if (rc) {
        char msg[200];
        snprintf(msg, sizeof(msg), "cannot connect to %s: %s", o->label, llmrt_strerror(rc));
        req->pool_user->fail(req, rc, msg, 1);
      }
    } else if (fresh && o->n_idle) {
      drop(idle_oldest(o), 0); /* make room for a fresh connection */
    } else {
      break;
    }
  }
}

int llmrt__pool_acquire(llmrt__req_t *req) {
  llmrt__origin_t *o = req->origin;
  llmrt_t *rt = o->pool->rt;
  /* An upstream's max_connections caps its origin (the latest value wins). */
  if (req->max_connections) o->max = req->max_connections;
  if (!(req->flags & LLMRT_HTTP_NO_REUSE) && o->n_idle) {
    assign(idle_newest(o), req);
    return 0;
  }
  if ((req->flags & LLMRT_HTTP_NO_REUSE) && o->n_conns >= max_conns(o) && o->n_idle)
    drop(idle_oldest(o), 0);
  if (o->n_conns < max_conns(o)) return connect_for(o, req, NULL);
  if (rt->opts.pool_max_queue && o->n_queued >= rt->opts.pool_max_queue) {
    llmrt__log(rt, LLMRT_LOG_WARN, "pool for %s: wait queue full (%u requests)", o->label,
               o->n_queued);
    o->queue_full++;
    return LLMRT_EQUEUEFULL;
  }
  llmrt__list_push_back(&o->queue, &req->qlink);
  o->n_queued++;
  o->queued_total++;
  req->pool_user->waiting(req, 1);
  return 0;
}

void llmrt__pool_dequeue(llmrt__req_t *req) {
  if (!llmrt__list_linked(&req->qlink)) return;
  llmrt__list_remove(&req->qlink);
  req->origin->n_queued--;
}

static void arm_idle_timer(llmrt__origin_t *o) {
  uint32_t to = o->pool->rt->opts.pool_idle_timeout_ms;
  llmrt__pconn_t *old = idle_oldest(o);
  if (!to || !old) {
    uv_timer_stop(&o->idle_timer);
    return;
  }
  uint64_t due = old->idle_since_us + (uint64_t)to * 1000, now = llmrt__now_us();
  uint64_t ms = due > now ? (due - now + 999) / 1000 : 0;
  uv_timer_start(&o->idle_timer, on_idle_timer, ms, 0);
}

static void on_idle_timer(uv_timer_t *t) {
  llmrt__origin_t *o = t->data;
  uint64_t now = llmrt__now_us(), to = (uint64_t)o->pool->rt->opts.pool_idle_timeout_ms * 1000;
  llmrt__pconn_t *pc;
  while ((pc = idle_oldest(o)) && pc->idle_since_us + to <= now) {
    llmrt__log(o->pool->rt, LLMRT_LOG_DEBUG, "pool %s: closing a connection idle for %llu ms",
               o->label, (unsigned long long)((now - pc->idle_since_us) / 1000));
    drop(pc, 0);
  }
  arm_idle_timer(o);
}

void llmrt__pool_release(llmrt__pconn_t *pc, int reusable) {
  llmrt__origin_t *o = pc->origin;
  pc->req = NULL;
  if (!reusable || o->pool->closing || o->pool->rt->closing) {
    drop(pc, 1);
    return;
  }
  pc->uses++;
  pc->state = LLMRT__PC_IDLE;
  pc->idle_since_us = llmrt__now_us();
  llmrt__list_remove(&pc->link);
  llmrt__list_push_front(&o->idle, &pc->link);
  o->n_idle++;
  if (!uv_is_active((uv_handle_t *)&o->idle_timer)) arm_idle_timer(o);
  serve_queue(o);
}

int llmrt__pool_reconnect(llmrt__req_t *req) {
  llmrt__pconn_t *pc = req->pconn;
  llmrt__origin_t *o = req->origin;
  req->pconn = NULL;
  req->info.reused = 0;
  o->stats.stale_retries++;
  /* The dead connection's slot goes straight to the retry. */
  drop(pc, 0);
  int rc = connect_for(o, req, NULL);
  if (rc) serve_queue(o);
  return rc;
}

/* ---- Transport callbacks -------------------------------------------------- */

static void prewarm_settle(llmrt__prewarm_t *pw, int status);

static void conn_on_connect(llmrt__conn_t *c, int status, const char *errmsg, void *user) {
  llmrt__pconn_t *pc = user;
  llmrt__origin_t *o = pc->origin;
  llmrt__req_t *req = pc->req;
  llmrt__prewarm_t *pw = pc->prewarm;
  pc->prewarm = NULL;
  if (status == 0) {
    status = llmrt__conn_read_start(c);
    if (status) {
      errmsg = NULL;
      llmrt__conn_close(c);
    }
  }
  if (status < 0) {
    char msg[256];
    if (!errmsg) {
      snprintf(msg, sizeof(msg), "cannot connect to %s: %s", o->label, llmrt_strerror(status));
      errmsg = msg;
    }
    llmrt__log(o->pool->rt, LLMRT_LOG_DEBUG, "pool %s: %s", o->label, errmsg);
    pc->conn = NULL; /* the transport closes it */
    if (req) req->pconn = NULL;
    drop(pc, 0);
    /* Pool code never runs user callbacks in the middle of its work (one
     * might close the runtime and free the pool): on_done is deferred, and
     * the prewarm's done comes last. While the runtime closes (the transport
     * ends its connects before our closer runs) nobody can close it again,
     * so on_done runs at once, inside llmrt_close as the API promises. */
    if (req) req->pool_user->fail(req, status, errmsg, !o->rt->closing);
    serve_queue(o);
    if (pw) prewarm_settle(pw, status);
    return;
  }
  llmrt__conn_info(c, &pc->info);
  o->stats.opened++;
  if (pc->info.tls) {
    o->stats.handshakes++;
    if (pc->info.tls_resumed) o->stats.resumed++;
  }
  if (req) {
    pc->state = LLMRT__PC_ACTIVE;
    req->pool_user->ready(req);
  } else {
    llmrt__pool_release(pc, 1);
    if (pw) prewarm_settle(pw, 0); /* last: its callback may close everything */
  }
}

static void conn_on_read(llmrt__conn_t *c, int status, const char *data, size_t len, void *user) {
  llmrt__pconn_t *pc = user;
  if (pc->req) {
    /* pc may be gone when this returns: do not touch it afterwards. */
    pc->req->pool_user->read(pc->req, status, data, len);
    return;
  }
  /* Idle: the server closed the connection, or sent bytes nobody asked for.
   * Either way it cannot carry another request. */
  llmrt__log(pc->origin->pool->rt, LLMRT_LOG_DEBUG, "pool %s: idle connection %s, dropping it",
             pc->origin->label, status < 0 ? llmrt_err_name(status) : "sent unexpected bytes");
  drop(pc, 1);
}

/* ---- Prewarm -------------------------------------------------------------- */

static void prewarm_closed(uv_handle_t *h) {
  llmrt__prewarm_t *pw = h->data;
  llmrt_t *rt = pw->rt;
  llmrt__free(pw);
  llmrt__rt_unref(rt);
}

static void prewarm_report(llmrt__prewarm_t *pw, int status) {
  if (llmrt__list_linked(&pw->link)) llmrt__list_remove(&pw->link);
  if (pw->done) pw->done(pw->rt, status, pw->user);
  uv_close((uv_handle_t *)&pw->timer, prewarm_closed);
}

static void prewarm_on_timer(uv_timer_t *t) {
  llmrt__prewarm_t *pw = t->data;
  prewarm_report(pw, pw->opened || !pw->first_err ? (int)pw->opened : pw->first_err);
}

static void prewarm_settle(llmrt__prewarm_t *pw, int status) {
  if (status == 0)
    pw->opened++;
  else if (!pw->first_err)
    pw->first_err = status;
  if (--pw->pending == 0)
    prewarm_report(pw, pw->opened || !pw->first_err ? (int)pw->opened : pw->first_err);
}

int llmrt_http_prewarm(llmrt_t *rt, const char *url, unsigned n,
                       void (*done)(llmrt_t *rt, int status, void *user), void *user) {
  if (!rt || !url) return LLMRT_EINVAL;
  if (rt->closing) return LLMRT_ESHUTDOWN;
  llmrt__url_t u;
  char err[256];
  int rc = llmrt__url_parse(url, &u, err, sizeof(err));
  if (rc) {
    llmrt__log(rt, LLMRT_LOG_WARN, "llmrt_http_prewarm: %s", err);
    return rc;
  }
  llmrt__pool_t *pool = llmrt__pool_get(rt);
  llmrt__origin_t *o = NULL;
  rc = pool ? llmrt__pool_origin(pool, &u, &o) : LLMRT_ENOMEM;
  llmrt__url_free(&u);
  if (rc) return rc;
  llmrt__prewarm_t *pw = llmrt__calloc(1, sizeof(*pw));
  if (!pw) return LLMRT_ENOMEM;
  pw->rt = rt;
  pw->done = done;
  pw->user = user;
  uv_timer_init(rt->loop, &pw->timer);
  pw->timer.data = pw;
  llmrt__rt_ref(rt);
  llmrt__list_push_back(&pool->prewarms, &pw->link);

  uint32_t max = max_conns(o);
  unsigned room = o->n_conns < max ? max - o->n_conns : 0;
  if (n > room) n = room;
  unsigned started = 0;
  for (; started < n; started++) {
    pw->pending++; /* before connect_for, in case it reports at once */
    if ((rc = connect_for(o, NULL, pw)) != 0) {
      pw->pending--;
      break;
    }
  }
  if (n && !started) {
    /* Nothing could be started: an error, and no callback. */
    llmrt__list_remove(&pw->link);
    uv_close((uv_handle_t *)&pw->timer, prewarm_closed);
    return rc;
  }
  if (rc && !pw->first_err) pw->first_err = rc;
  /* Nothing to wait for (the pool is already full): report on the next turn. */
  if (pw->pending == 0) uv_timer_start(&pw->timer, prewarm_on_timer, 0, 0);
  return 0;
}

/* ---- Statistics ----------------------------------------------------------- */

static void add_stats(llmrt_pool_stats_t *s, const llmrt__origin_t *o) {
  s->opened += o->stats.opened;
  s->reused += o->stats.reused;
  s->closed += o->stats.closed;
  s->handshakes += o->stats.handshakes;
  s->resumed += o->stats.resumed;
  s->stale_retries += o->stats.stale_retries;
  s->active += o->n_conns - o->n_idle;
  s->idle += o->n_idle;
  s->queued += o->n_queued;
}

int llmrt_pool_stats(llmrt_t *rt, const char *url, llmrt_pool_stats_t *out) {
  if (!rt || !out) return LLMRT_EINVAL;
  memset(out, 0, sizeof(*out));
  llmrt__pool_t *pool = rt->pools;
  llmrt__url_t u;
  if (url) {
    if (llmrt__url_parse(url, &u, NULL, 0) != 0) return LLMRT_EINVAL;
    llmrt__origin_t *o = pool ? find_origin(pool, u.tls, u.host, u.port) : NULL;
    llmrt__url_free(&u);
    if (o) add_stats(out, o);
    return 0;
  }
  if (!pool) return 0;
  for (llmrt__link_t *l = pool->origins.next; l != &pool->origins; l = l->next)
    add_stats(out, LLMRT__CONTAINER(l, llmrt__origin_t, link));
  return 0;
}

void llmrt__pool_each(llmrt_t *rt, llmrt__pool_each_fn fn, void *arg) {
  llmrt__pool_t *pool = rt ? rt->pools : NULL;
  if (!pool) return;
  for (llmrt__link_t *l = pool->origins.next; l != &pool->origins; l = l->next) {
    const llmrt__origin_t *o = LLMRT__CONTAINER(l, llmrt__origin_t, link);
    llmrt__pool_origin_stats_t st;
    memset(&st, 0, sizeof st);
    add_stats(&st.pool, o);
    st.origin = o->label;
    st.tls = o->tls;
    st.open = o->n_conns;
    st.queued_total = o->queued_total;
    st.queue_full = o->queue_full;
    fn(&st, arg);
  }
}

/* ---- Close ---------------------------------------------------------------- */

static void pool_closer(llmrt_t *rt, void *arg) {
  llmrt__pool_t *pool = arg;
  pool->closing = 1;
  /* Every request ends with LLMRT_ESHUTDOWN. A user's on_done may cancel or
   * finish others, so always take the current head. */
  while (!llmrt__list_empty(&pool->reqs)) {
    llmrt__req_t *req = LLMRT__CONTAINER(pool->reqs.next, llmrt__req_t, link);
    req->pool_user->fail(req, LLMRT_ESHUTDOWN, "runtime is closing", 1); /* next turn */
  }
  while (!llmrt__list_empty(&pool->prewarms)) {
    llmrt__prewarm_t *pw = LLMRT__CONTAINER(pool->prewarms.next, llmrt__prewarm_t, link);
    uv_timer_stop(&pw->timer);
    prewarm_report(pw, LLMRT_ESHUTDOWN);
  }
  while (!llmrt__list_empty(&pool->origins)) {
    llmrt__origin_t *o = LLMRT__CONTAINER(pool->origins.next, llmrt__origin_t, link);
    llmrt__list_remove(&o->link);
    while (!llmrt__list_empty(&o->idle))
      drop(LLMRT__CONTAINER(o->idle.next, llmrt__pconn_t, link), 0);
    while (!llmrt__list_empty(&o->busy)) {
      llmrt__pconn_t *pc = LLMRT__CONTAINER(o->busy.next, llmrt__pconn_t, link);
      if (pc->req) pc->req->pconn = NULL;
      drop(pc, 0);
    }
    uv_close((uv_handle_t *)&o->idle_timer, origin_free_cb);
  }
  rt->pools = NULL;
  llmrt__free(pool);
}
