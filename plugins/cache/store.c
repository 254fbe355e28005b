/* The in-memory tier: a chained hash table on the key (already a uniform
 * hash) for O(1) lookup, and a doubly linked LRU list for O(1) eviction,
 * under a byte budget. The store holds one reference per linked entry;
 * replays hold their own, so an entry evicted while it replays is freed
 * when the replay lets go. */
#include <string.h>

#include "cache.h"

int cache__store_init(cache_store_t *s, size_t max_bytes) {
  memset(s, 0, sizeof *s);
  s->n_buckets = 64;
  s->tab = H->calloc(s->n_buckets, sizeof *s->tab);
  if (!s->tab) return LLMRT_ENOMEM;
  s->max_bytes = max_bytes;
  return 0;
}

static void lru_unlink(cache_store_t *s, cache_entry_t *e) {
  if (e->lprev)
    e->lprev->lnext = e->lnext;
  else
    s->lru_head = e->lnext;
  if (e->lnext)
    e->lnext->lprev = e->lprev;
  else
    s->lru_tail = e->lprev;
  e->lprev = e->lnext = NULL;
}

static void lru_push_head(cache_store_t *s, cache_entry_t *e) {
  e->lprev = NULL;
  e->lnext = s->lru_head;
  if (s->lru_head) s->lru_head->lprev = e;
  s->lru_head = e;
  if (!s->lru_tail) s->lru_tail = e;
}

void cache__store_remove(cache_store_t *s, cache_entry_t *e) {
  if (!e->linked) return;
  cache_entry_t **pp = &s->tab[e->hash & (s->n_buckets - 1)];
  while (*pp && *pp != e)
    pp = &(*pp)->hnext;
  if (*pp) *pp = e->hnext;
  e->hnext = NULL;
  lru_unlink(s, e);
  e->linked = 0;
  s->n_entries--;
  s->bytes -= e->bytes;
  cache__entry_unref(e);
}

void cache__store_free(cache_store_t *s) {
  while (s->lru_head)
    cache__store_remove(s, s->lru_head);
  H->free(s->tab);
  s->tab = NULL;
}

static cache_entry_t *find(cache_store_t *s, const uint8_t key[CACHE_KEY_LEN]) {
  uint64_t h;
  memcpy(&h, key, sizeof h);
  for (cache_entry_t *e = s->tab[h & (s->n_buckets - 1)]; e; e = e->hnext)
    if (e->hash == h && !memcmp(e->key, key, CACHE_KEY_LEN)) return e;
  return NULL;
}

cache_entry_t *cache__store_get(cache_store_t *s, const uint8_t key[CACHE_KEY_LEN], int64_t now_ms,
                                int64_t max_age_ms) {
  cache_entry_t *e = find(s, key);
  if (!e) return NULL;
  if (now_ms >= e->expires_ms) {
    cache__store_remove(s, e);
    return NULL;
  }
  /* Too old for this caller, but still good for others: kept. */
  if (max_age_ms > 0 && now_ms - e->created_ms > max_age_ms) return NULL;
  lru_unlink(s, e);
  lru_push_head(s, e);
  return e;
}

/* Doubles the table when it holds more entries than buckets; a failed grow
 * only makes chains longer. */
static void grow(cache_store_t *s) {
  if (s->n_entries < s->n_buckets) return;
  size_t n = s->n_buckets * 2;
  cache_entry_t **t = H->calloc(n, sizeof *t);
  if (!t) return;
  for (size_t i = 0; i < s->n_buckets; i++) {
    cache_entry_t *e = s->tab[i];
    while (e) {
      cache_entry_t *next = e->hnext;
      e->hnext = t[e->hash & (n - 1)];
      t[e->hash & (n - 1)] = e;
      e = next;
    }
  }
  H->free(s->tab);
  s->tab = t;
  s->n_buckets = n;
}

int cache__store_put(cache_store_t *s, cache_entry_t *e) {
  if (e->bytes > s->max_bytes) return LLMRT_EINVAL;
  cache_entry_t *old = find(s, e->key);
  if (old) cache__store_remove(s, old);
  grow(s);
  cache__entry_ref(e);
  e->linked = 1;
  size_t b = e->hash & (s->n_buckets - 1);
  e->hnext = s->tab[b];
  s->tab[b] = e;
  lru_push_head(s, e);
  s->n_entries++;
  s->bytes += e->bytes;
  int evicted = 0;
  while (s->bytes > s->max_bytes && s->lru_tail && s->lru_tail != e) {
    cache__store_remove(s, s->lru_tail);
    evicted++;
  }
  s->evictions += (uint64_t)evicted;
  return evicted;
}
