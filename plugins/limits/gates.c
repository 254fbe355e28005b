/* Gates: one per limited thing (an upstream, a model on an upstream, a
 * tenant, under one rule; or a provider key, whose budget the response
 * headers tell). A gate counts calls in flight and holds the request and
 * token buckets. Gates live in a small hash table; one no call uses is
 * dropped when the table is full (its buckets start full again next time,
 * which only matters for a key idle long enough to be evicted). */
#include <string.h>

#include "limits_int.h"

static size_t slot_of(const char *key, size_t len) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
  return (size_t)(h % 256);
}

static void gate_free(lim_gate_t *g) {
  limits__H->free(g->key);
  limits__H->free(g);
}

/* Drops every gate no call uses; returns how many. */
static size_t evict(lim_gates_t *t) {
  size_t n = 0;
  for (size_t i = 0; i < 256; i++) {
    for (lim_gate_t **pp = &t->slots[i]; *pp;) {
      lim_gate_t *g = *pp;
      if (g->refs == 0) {
        *pp = g->next;
        gate_free(g);
        n++;
      } else {
        pp = &g->next;
      }
    }
  }
  t->n -= n;
  return n;
}

lim_gate_t *limits__gate_get(lim_gates_t *t, const char *key, size_t key_len, size_t max) {
  size_t s = slot_of(key, key_len);
  for (lim_gate_t *g = t->slots[s]; g; g = g->next)
    if (g->key_len == key_len && !memcmp(g->key, key, key_len)) return g;
  if (t->n >= max && evict(t) == 0) return NULL;
  lim_gate_t *g = limits__H->calloc(1, sizeof *g);
  if (!g) return NULL;
  g->key = limits__H->malloc(key_len + 1);
  if (!g->key) {
    limits__H->free(g);
    return NULL;
  }
  memcpy(g->key, key, key_len);
  g->key[key_len] = '\0';
  g->key_len = key_len;
  g->next = t->slots[s];
  t->slots[s] = g;
  t->n++;
  return g;
}

void limits__gates_free(lim_gates_t *t) {
  for (size_t i = 0; i < 256; i++) {
    while (t->slots[i]) {
      lim_gate_t *g = t->slots[i];
      t->slots[i] = g->next;
      gate_free(g);
    }
  }
  t->n = 0;
}

int limits__gate_unfit(const lim_gate_t *g, double tokens) {
  return g->has_tok && tokens > g->tok.cap;
}

int limits__gate_check(lim_gate_t *g, double tokens, uint64_t now, uint32_t probe, int shared,
                       uint64_t *wait_ms) {
  *wait_ms = UINT64_MAX;
  if (g->kind == LIM_GATE_PROVIDER) {
    if (g->paused_until > now) {
      *wait_ms = g->paused_until - now;
      return LIM_WHY_PAUSED;
    }
    /* Before the first headers of a key, a few calls go alone: the ones
     * after them wait to learn the budget instead of bursting into 429s. */
    if (!g->learned && probe && g->in_flight >= probe) return LIM_WHY_PROBE;
  }
  if (g->max_in_flight && g->in_flight >= g->max_in_flight) return LIM_WHY_INFLIGHT;
  if (shared && g->kind == LIM_GATE_RULE) {
    if (g->redis_wait_until > now) {
      *wait_ms = g->redis_wait_until - now;
      return g->has_tok ? LIM_WHY_TPM : LIM_WHY_RPM;
    }
    *wait_ms = 0;
    return LIM_OK;
  }
  if (g->has_req) {
    limits__bucket_refill(&g->req, now);
    uint64_t w = limits__bucket_wait(&g->req, 1);
    if (w) {
      *wait_ms = w;
      return LIM_WHY_RPM;
    }
  }
  if (g->has_tok) {
    limits__bucket_refill(&g->tok, now);
    uint64_t w = limits__bucket_wait(&g->tok, tokens);
    if (w) {
      *wait_ms = w;
      return LIM_WHY_TPM;
    }
  }
  *wait_ms = 0;
  return LIM_OK;
}

void limits__gate_take(lim_gate_t *g, double tokens, int shared) {
  g->in_flight++;
  g->adm_reqs += 1;
  g->adm_toks += tokens;
  if (shared && g->kind == LIM_GATE_RULE) return;
  if (g->has_req) limits__bucket_take(&g->req, 1);
  if (g->has_tok) limits__bucket_take(&g->tok, tokens);
}

void limits__gate_untake(lim_gate_t *g, double tokens, int shared) {
  g->in_flight--;
  g->adm_reqs -= 1;
  g->adm_toks -= tokens;
  if (shared && g->kind == LIM_GATE_RULE) return;
  if (g->has_req) limits__bucket_give(&g->req, 1);
  if (g->has_tok) limits__bucket_give(&g->tok, tokens);
}
