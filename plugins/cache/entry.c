/* Entries: recording an answer as its events arrive, freezing it into one
 * allocation that replays share by reference, and the compact form kept in
 * Redis. */
#include <stdio.h>
#include <string.h>

#include "cache.h"

#define NONE UINT32_MAX

/* ---- Recording ---- */

void cache__rec_init(cache_rec_t *r, size_t limit) {
  memset(r, 0, sizeof *r);
  r->limit = limit;
}

void cache__rec_free(cache_rec_t *r) {
  H->free(r->ev);
  H->free(r->blob);
  size_t limit = r->limit;
  memset(r, 0, sizeof *r);
  r->limit = limit;
}

static uint32_t rec_str(cache_rec_t *r, const char *s, size_t n) {
  if (!s || r->overflow) return NONE;
  size_t need = (size_t)r->blob_len + n + 1;
  if (need > r->limit) {
    r->overflow = 1;
    return NONE;
  }
  if (need > r->blob_cap) {
    size_t cap = r->blob_cap ? r->blob_cap : 256;
    while (cap < need)
      cap *= 2;
    char *b = H->realloc(r->blob, cap);
    if (!b) {
      r->overflow = 1;
      return NONE;
    }
    r->blob = b;
    r->blob_cap = (uint32_t)cap;
  }
  uint32_t off = r->blob_len;
  memcpy(r->blob + off, s, n);
  r->blob[off + n] = '\0';
  r->blob_len = (uint32_t)need;
  return off;
}

void cache__rec_add(cache_rec_t *r, const llmrt_event_t *ev) {
  if (ev->type == LLMRT_EV_TEXT || ev->type == LLMRT_EV_THINKING || ev->type == LLMRT_EV_TOOL_CALL)
    r->n_content++;
  if (r->overflow) return;
  if (r->n_ev == r->cap_ev) {
    uint32_t cap = r->cap_ev ? r->cap_ev * 2 : 16;
    if ((size_t)cap * sizeof(cache_ev_t) > r->limit) {
      r->overflow = 1;
      return;
    }
    cache_ev_t *e = H->realloc(r->ev, cap * sizeof *e);
    if (!e) {
      r->overflow = 1;
      return;
    }
    r->ev = e;
    r->cap_ev = cap;
  }
  uint64_t now = cache__mono_us();
  if (!r->n_ev) r->t0_us = now;
  cache_ev_t *ce = &r->ev[r->n_ev];
  memset(ce, 0, sizeof *ce);
  ce->type = (uint8_t)ev->type;
  ce->index = ev->index;
  uint64_t dt = now - r->t0_us;
  ce->t_us = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
  ce->text = rec_str(r, ev->text ? ev->text : NULL, ev->text ? ev->len : 0);
  ce->len = ev->text ? (uint32_t)ev->len : 0;
  ce->id = ev->id ? rec_str(r, ev->id, strlen(ev->id)) : NONE;
  ce->name = ev->name ? rec_str(r, ev->name, strlen(ev->name)) : NONE;
  ce->finish = ev->finish_reason ? rec_str(r, ev->finish_reason, strlen(ev->finish_reason)) : NONE;
  ce->in_tok = ev->input_tokens;
  ce->out_tok = ev->output_tokens;
  ce->cached_tok = ev->cached_tokens;
  if (!r->overflow) r->n_ev++;
}

void cache__ev_get(const cache_ev_t *ce, const char *blob, llmrt_event_t *ev) {
  memset(ev, 0, sizeof *ev);
  ev->struct_size = sizeof *ev;
  ev->type = ce->type;
  ev->index = ce->index;
  ev->text = ce->text == NONE ? NULL : blob + ce->text;
  ev->len = ce->text == NONE ? 0 : ce->len;
  ev->id = ce->id == NONE ? NULL : blob + ce->id;
  ev->name = ce->name == NONE ? NULL : blob + ce->name;
  ev->finish_reason = ce->finish == NONE ? NULL : blob + ce->finish;
  ev->input_tokens = ce->in_tok;
  ev->output_tokens = ce->out_tok;
  ev->cached_tokens = ce->cached_tok;
}

/* ---- Entries ---- */

const char *cache__entry_str(const cache_entry_t *e, uint32_t off) {
  return off == NONE ? NULL : e->blob + off;
}

void cache__entry_ref(cache_entry_t *e) {
  e->refs++;
}

void cache__entry_unref(cache_entry_t *e) {
  if (e && --e->refs == 0) H->free(e);
}

/* One allocation: header, events, blob (with room for the model and the
 * finish reason). */
static cache_entry_t *entry_alloc(uint32_t n_ev, uint32_t blob_len) {
  size_t ev_off = (sizeof(cache_entry_t) + 7) & ~(size_t)7;
  size_t blob_off = ev_off + (size_t)n_ev * sizeof(cache_ev_t);
  size_t total = blob_off + blob_len + 1;
  cache_entry_t *e = H->malloc(total);
  if (!e) return NULL;
  memset(e, 0, sizeof *e);
  e->refs = 1;
  e->n_ev = n_ev;
  e->ev = (cache_ev_t *)((char *)e + ev_off);
  e->blob = (char *)e + blob_off;
  e->blob_len = blob_len;
  e->blob[blob_len] = '\0';
  e->bytes = total + 64; /* plus the table slot and allocator overhead, roughly */
  e->model = e->finish = NONE;
  return e;
}

static void set_key(cache_entry_t *e, const uint8_t key[CACHE_KEY_LEN]) {
  memcpy(e->key, key, CACHE_KEY_LEN);
  uint64_t h = 0;
  memcpy(&h, key, sizeof h);
  e->hash = h;
}

cache_entry_t *cache__entry_build(const cache_rec_t *r, const llmrt_result_t *res,
                                  const uint8_t key[CACHE_KEY_LEN], int64_t created_ms,
                                  int64_t expires_ms) {
  if (r->overflow) return NULL;
  size_t ml = res->model ? strlen(res->model) + 1 : 0;
  size_t fl = res->finish_reason ? strlen(res->finish_reason) + 1 : 0;
  size_t bl = (size_t)r->blob_len + ml + fl;
  if (bl + (size_t)r->n_ev * sizeof(cache_ev_t) > r->limit) return NULL;
  cache_entry_t *e = entry_alloc(r->n_ev, (uint32_t)bl);
  if (!e) return NULL;
  set_key(e, key);
  e->created_ms = created_ms;
  e->expires_ms = expires_ms;
  if (r->n_ev) memcpy(e->ev, r->ev, r->n_ev * sizeof(cache_ev_t));
  if (r->blob_len) memcpy(e->blob, r->blob, r->blob_len);
  uint32_t at = r->blob_len;
  if (ml) {
    memcpy(e->blob + at, res->model, ml);
    e->model = at;
    at += (uint32_t)ml;
  }
  if (fl) {
    memcpy(e->blob + at, res->finish_reason, fl);
    e->finish = at;
  }
  e->in_tok = res->input_tokens;
  e->out_tok = res->output_tokens;
  e->cached_tok = res->cached_tokens;
  e->text_len = (uint32_t)res->text_len;
  return e;
}

/* ---- Serialization ----
 *
 * "LRC1", then little-endian fixed-width fields:
 *   i64 created_ms, i64 expires_ms, i64 in, out, cached, u32 text_len,
 *   u32 model, u32 finish, u32 n_ev, u32 blob_len,
 *   n_ev x {u8 type, u32 index, u32 t_us, u32 text, len, id, name, finish,
 *           i64 in, out, cached},
 *   blob (blob_len bytes).
 * The key is not in the value: the Redis key names it, and parse takes it. */

#define HDR_LEN (4 + 5 * 8 + 5 * 4)
#define EV_LEN (1 + 7 * 4 + 3 * 8)

static char *w32(char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    *p++ = (char)(v >> (8 * i));
  return p;
}
static char *w64(char *p, int64_t sv) {
  uint64_t v = (uint64_t)sv;
  for (int i = 0; i < 8; i++)
    *p++ = (char)(v >> (8 * i));
  return p;
}
static uint32_t r32(const char **pp) {
  const unsigned char *p = (const unsigned char *)*pp;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v |= (uint32_t)p[i] << (8 * i);
  *pp += 4;
  return v;
}
static int64_t r64(const char **pp) {
  const unsigned char *p = (const unsigned char *)*pp;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  *pp += 8;
  return (int64_t)v;
}

int cache__entry_serialize(const cache_entry_t *e, char **out, size_t *len) {
  size_t n = HDR_LEN + (size_t)e->n_ev * EV_LEN + e->blob_len;
  char *b = H->malloc(n);
  if (!b) return LLMRT_ENOMEM;
  char *p = b;
  memcpy(p, "LRC1", 4);
  p += 4;
  p = w64(p, e->created_ms);
  p = w64(p, e->expires_ms);
  p = w64(p, e->in_tok);
  p = w64(p, e->out_tok);
  p = w64(p, e->cached_tok);
  p = w32(p, e->text_len);
  p = w32(p, e->model);
  p = w32(p, e->finish);
  p = w32(p, e->n_ev);
  p = w32(p, e->blob_len);
  for (uint32_t i = 0; i < e->n_ev; i++) {
    const cache_ev_t *ce = &e->ev[i];
    *p++ = (char)ce->type;
    p = w32(p, ce->index);
    p = w32(p, ce->t_us);
    p = w32(p, ce->text);
    p = w32(p, ce->len);
    p = w32(p, ce->id);
    p = w32(p, ce->name);
    p = w32(p, ce->finish);
    p = w64(p, ce->in_tok);
    p = w64(p, ce->out_tok);
    p = w64(p, ce->cached_tok);
  }
  memcpy(p, e->blob, e->blob_len);
  *out = b;
  *len = n;
  return 0;
}

/* A string offset must start inside the blob and be NUL-terminated there. */
static int str_ok(const char *blob, uint32_t blob_len, uint32_t off) {
  return off == NONE || (off < blob_len && memchr(blob + off, '\0', blob_len - off));
}

cache_entry_t *cache__entry_parse(const char *p, size_t len, const uint8_t key[CACHE_KEY_LEN],
                                  size_t max_bytes) {
  if (len < HDR_LEN || len > max_bytes || memcmp(p, "LRC1", 4)) return NULL;
  const char *q = p + 4;
  int64_t created = r64(&q), expires = r64(&q), in = r64(&q), out = r64(&q), cached = r64(&q);
  uint32_t text_len = r32(&q), model = r32(&q), finish = r32(&q), n_ev = r32(&q);
  uint32_t blob_len = r32(&q);
  if ((uint64_t)n_ev * EV_LEN + blob_len != len - HDR_LEN) return NULL;
  const char *blob = p + HDR_LEN + (size_t)n_ev * EV_LEN;
  if (!str_ok(blob, blob_len, model) || !str_ok(blob, blob_len, finish)) return NULL;
  cache_entry_t *e = entry_alloc(n_ev, blob_len);
  if (!e) return NULL;
  memcpy(e->blob, blob, blob_len);
  for (uint32_t i = 0; i < n_ev; i++) {
    cache_ev_t *ce = &e->ev[i];
    ce->type = (uint8_t)*q++;
    ce->index = r32(&q);
    ce->t_us = r32(&q);
    ce->text = r32(&q);
    ce->len = r32(&q);
    ce->id = r32(&q);
    ce->name = r32(&q);
    ce->finish = r32(&q);
    ce->in_tok = r64(&q);
    ce->out_tok = r64(&q);
    ce->cached_tok = r64(&q);
    int ok = ce->type >= LLMRT_EV_START && ce->type <= LLMRT_EV_FINISH &&
             (ce->text == NONE ? ce->len == 0 : (uint64_t)ce->text + ce->len < blob_len) &&
             str_ok(e->blob, blob_len, ce->id) && str_ok(e->blob, blob_len, ce->name) &&
             str_ok(e->blob, blob_len, ce->finish) && (i == 0 || ce->t_us >= e->ev[i - 1].t_us);
    if (!ok) {
      H->free(e);
      return NULL;
    }
  }
  set_key(e, key);
  e->created_ms = created;
  e->expires_ms = expires;
  e->in_tok = in;
  e->out_tok = out;
  e->cached_tok = cached;
  e->text_len = text_len;
  e->model = model;
  e->finish = finish;
  return e;
}
