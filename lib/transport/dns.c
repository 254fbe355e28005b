/* Asynchronous DNS with a small TTL cache per runtime, keyed by host:port.
 *
 * Lookups run on libuv's thread pool (uv_getaddrinfo), so the loop never
 * blocks. Lookups of the same host:port in flight are shared: a pool opening
 * 64 connections at once asks the resolver once. Failures are not cached.
 *
 * Lifetime: the cache lives in rt->dns until the runtime closes. A lookup in
 * flight holds a runtime reference and keeps the cache memory alive (an
 * in-flight count) until its callback ran, since uv_cancel cannot stop a
 * lookup that a worker thread already started. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define DNS_MAX_ENTRIES 256

typedef struct dns_cache_s dns_cache_t;

typedef struct dns_entry_s {
  llmrt__link_t link; /* in cache->entries while findable */
  dns_cache_t *cache;
  char *key;   /* "host:port" */
  int pending; /* a lookup is in flight */
  uint64_t expires_us;
  llmrt__sockaddr_t addrs[LLMRT__MAX_ADDRS];
  unsigned n_addrs;
  uv_getaddrinfo_t req;
  llmrt__link_t waiters;
} dns_entry_t;

struct dns_cache_s {
  llmrt_t *rt;
  int closed; /* the runtime closed the cache */
  llmrt__link_t entries;
  unsigned n_entries;
  unsigned inflight;
};

static void entry_free(dns_entry_t *e) {
  llmrt__free(e->key);
  llmrt__free(e);
}

static void entry_unlink(dns_entry_t *e) {
  if (llmrt__list_empty(&e->link)) return;
  llmrt__list_remove(&e->link);
  e->cache->n_entries--;
}

static void cache_close(llmrt_t *rt, void *arg) {
  dns_cache_t *dc = arg;
  rt->dns = NULL;
  dc->closed = 1;
  while (!llmrt__list_empty(&dc->entries)) {
    dns_entry_t *e = LLMRT__CONTAINER(dc->entries.next, dns_entry_t, link);
    entry_unlink(e);
    if (e->pending)
      (void)uv_cancel((uv_req_t *)&e->req); /* freed by its callback */
    else
      entry_free(e);
  }
  if (dc->inflight == 0) llmrt__free(dc);
}

static dns_cache_t *cache_get(llmrt_t *rt, int *err) {
  if (rt->dns) return rt->dns;
  dns_cache_t *dc = llmrt__calloc(1, sizeof *dc);
  if (!dc) {
    *err = LLMRT_ENOMEM;
    return NULL;
  }
  dc->rt = rt;
  llmrt__list_init(&dc->entries);
  int r = llmrt__rt_add_closer(rt, LLMRT__CLOSE_NET, cache_close, dc);
  if (r) {
    llmrt__free(dc);
    *err = r;
    return NULL;
  }
  rt->dns = dc;
  return dc;
}

static dns_entry_t *cache_find(dns_cache_t *dc, const char *key) {
  for (llmrt__link_t *l = dc->entries.next; l != &dc->entries; l = l->next) {
    dns_entry_t *e = LLMRT__CONTAINER(l, dns_entry_t, link);
    if (strcmp(e->key, key) == 0) return e;
  }
  return NULL;
}

/* Keeps the cache bounded: drops expired entries, then the oldest resolved
 * one (entries are appended, so the first resolved one is the oldest). */
static void cache_trim(dns_cache_t *dc, uint64_t now) {
  llmrt__link_t *l = dc->entries.next;
  while (l != &dc->entries) {
    dns_entry_t *e = LLMRT__CONTAINER(l, dns_entry_t, link);
    l = l->next;
    if (!e->pending && e->expires_us <= now) {
      entry_unlink(e);
      entry_free(e);
    }
  }
  for (l = dc->entries.next; dc->n_entries >= DNS_MAX_ENTRIES && l != &dc->entries;) {
    dns_entry_t *e = LLMRT__CONTAINER(l, dns_entry_t, link);
    l = l->next;
    if (!e->pending) {
      entry_unlink(e);
      entry_free(e);
    }
  }
}

static unsigned copy_addrs(const struct addrinfo *res, llmrt__sockaddr_t *out) {
  unsigned n = 0;
  for (const struct addrinfo *ai = res; ai && n < LLMRT__MAX_ADDRS; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in))
      memcpy(&out[n++].in4, ai->ai_addr, sizeof(struct sockaddr_in));
    else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(struct sockaddr_in6))
      memcpy(&out[n++].in6, ai->ai_addr, sizeof(struct sockaddr_in6));
  }
  return n;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  dns_entry_t *e = LLMRT__CONTAINER(req, dns_entry_t, req);
  dns_cache_t *dc = e->cache;
  llmrt_t *rt = dc->rt;
  llmrt__sockaddr_t addrs[LLMRT__MAX_ADDRS];
  unsigned n = 0;

  if (status == 0) {
    n = copy_addrs(res, addrs);
    if (n == 0) status = UV_EAI_NODATA;
  }
  if (res) uv_freeaddrinfo(res);
  e->pending = 0;

  /* Take the waiters out first: a waiter's callback may close other
   * connections (unlinking their waiters from our local list), start new
   * lookups, or even close the runtime, which frees cached entries. */
  llmrt__link_t waiters;
  llmrt__list_move(&e->waiters, &waiters);
  uint32_t ttl = dc->closed ? 0 : rt->opts.dns_ttl_ms;
  if (status == 0 && ttl > 0) {
    memcpy(e->addrs, addrs, n * sizeof addrs[0]);
    e->n_addrs = n;
    e->expires_us = llmrt__now_us() + (uint64_t)ttl * 1000;
  } else {
    entry_unlink(e);
    entry_free(e);
  }
  e = NULL;

  while (!llmrt__list_empty(&waiters)) {
    llmrt__dns_waiter_t *w = LLMRT__CONTAINER(waiters.next, llmrt__dns_waiter_t, link);
    llmrt__list_remove(&w->link);
    w->cb(w, status, addrs, n);
  }

  dc->inflight--;
  if (dc->closed && dc->inflight == 0) llmrt__free(dc);
  llmrt__rt_unref(rt);
}

int llmrt__dns_resolve(llmrt_t *rt, const char *host, uint16_t port, llmrt__dns_waiter_t *w,
                       llmrt__sockaddr_t *addrs) {
  int err = 0;
  if (rt->closing) return LLMRT_ESHUTDOWN;
  dns_cache_t *dc = cache_get(rt, &err);
  if (!dc) return err;
  llmrt__list_init(&w->link);

  char portstr[8];
  snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
  size_t hl = strlen(host);
  char *key = llmrt__malloc(hl + sizeof portstr + 1);
  if (!key) return LLMRT_ENOMEM;
  snprintf(key, hl + sizeof portstr + 1, "%s:%s", host, portstr);

  uint64_t now = llmrt__now_us();
  dns_entry_t *e = cache_find(dc, key);
  if (e && !e->pending && e->expires_us <= now) {
    entry_unlink(e);
    entry_free(e);
    e = NULL;
  }
  if (e && !e->pending) {
    llmrt__free(key);
    memcpy(addrs, e->addrs, e->n_addrs * sizeof e->addrs[0]);
    rt->counters.dns_hits++;
    return (int)e->n_addrs;
  }
  if (e) {
    llmrt__free(key);
    llmrt__list_push_back(&e->waiters, &w->link);
    rt->counters.dns_shared++;
    return 0;
  }

  cache_trim(dc, now);
  e = llmrt__calloc(1, sizeof *e);
  if (!e) {
    llmrt__free(key);
    return LLMRT_ENOMEM;
  }
  e->key = key;
  e->cache = dc;
  llmrt__list_init(&e->link);
  llmrt__list_init(&e->waiters);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  /* The host part alone: the port goes as a numeric service. */
  int r = uv_getaddrinfo(rt->loop, &e->req, on_resolved, host, portstr, &hints);
  if (r) {
    entry_free(e);
    return r == UV_ENOMEM ? LLMRT_ENOMEM : LLMRT_EDNS;
  }
  e->pending = 1;
  rt->counters.dns_misses++;
  llmrt__list_push_back(&dc->entries, &e->link);
  dc->n_entries++;
  dc->inflight++;
  llmrt__rt_ref(rt);
  llmrt__list_push_back(&e->waiters, &w->link);
  return 0;
}

int llmrt__dns_seed(llmrt_t *rt, const char *host, uint16_t port, const llmrt__sockaddr_t *addrs,
                    unsigned n) {
  int err = 0;
  if (!host || !addrs || n == 0 || n > LLMRT__MAX_ADDRS) return LLMRT_EINVAL;
  if (rt->closing) return LLMRT_ESHUTDOWN;
  dns_cache_t *dc = cache_get(rt, &err);
  if (!dc) return err;
  char key[300];
  int kl = snprintf(key, sizeof key, "%s:%u", host, (unsigned)port);
  if (kl < 0 || (size_t)kl >= sizeof key) return LLMRT_EINVAL;
  dns_entry_t *e = cache_find(dc, key);
  if (e && e->pending) return LLMRT_EBUSY;
  if (!e) {
    cache_trim(dc, llmrt__now_us());
    e = llmrt__calloc(1, sizeof *e);
    if (!e || !(e->key = llmrt__strdup(key))) {
      llmrt__free(e);
      return LLMRT_ENOMEM;
    }
    e->cache = dc;
    llmrt__list_init(&e->waiters);
    llmrt__list_push_back(&dc->entries, &e->link);
    dc->n_entries++;
  }
  memcpy(e->addrs, addrs, n * sizeof addrs[0]);
  e->n_addrs = n;
  e->expires_us = UINT64_MAX;
  return 0;
}

void llmrt__dns_cancel(llmrt__dns_waiter_t *w) {
  /* The shared lookup goes on (others may wait, and it fills the cache); this
   * waiter just leaves the list. */
  if (w->link.next && !llmrt__list_empty(&w->link)) llmrt__list_remove(&w->link);
}
