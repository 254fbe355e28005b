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

/* Appends n bytes (and a NUL when nul is set); the offset, or NONE. */
static uint32_t rec_put(cache_rec_t *r, const void *s, size_t n, int nul) {
  if (r->overflow) return NONE;
  size_t need = (size_t)r->blob_len + n + (nul ? 1 : 0);
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
  if (n) memcpy(r->blob + off, s, n);
  if (nul) r->blob[off + n] = '\0';
  r->blob_len = (uint32_t)need;
  return off;
}

static uint32_t rec_str(cache_rec_t *r, const char *s, size_t n) {
  return s ? rec_put(r, s, n, 1) : NONE;
}

static void le64(char *p, int64_t sv) {
  uint64_t v = (uint64_t)sv;
  for (int i = 0; i < 8; i++)
    p[i] = (char)(v >> (8 * i));
}

static int64_t rd64(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)(unsigned char)p[i] << (8 * i);
  return (int64_t)v;
}

/* The extra record of ev, or NONE when it has nothing extra. */
static uint32_t rec_extra(cache_rec_t *r, const llmrt_event_t *ev) {
  uint8_t flags = (ev->id ? CACHE_X_ID : 0) | (ev->name ? CACHE_X_NAME : 0) |
                  (ev->finish_reason ? CACHE_X_FINISH : 0) |
                  (ev->input_tokens || ev->output_tokens || ev->cached_tokens ? CACHE_X_USAGE : 0);
  if (!flags) return NONE;
  uint32_t off = rec_put(r, &flags, 1, 0);
  if (ev->id) rec_str(r, ev->id, strlen(ev->id));
  if (ev->name) rec_str(r, ev->name, strlen(ev->name));
  if (ev->finish_reason) rec_str(r, ev->finish_reason, strlen(ev->finish_reason));
  if (flags & CACHE_X_USAGE) {
    char t[24];
    le64(t, ev->input_tokens);
    le64(t + 8, ev->output_tokens);
    le64(t + 16, ev->cached_tokens);
    rec_put(r, t, sizeof t, 0);
  }
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
  ce->extra = rec_extra(r, ev);
  if (!r->overflow) r->n_ev++;
}

void cache__ev_get(const cache_ev_t *ce, const char *blob, llmrt_event_t *ev) {
  memset(ev, 0, sizeof *ev);
  ev->struct_size = sizeof *ev;
  ev->type = ce->type;
  ev->index = ce->index;
  ev->text = ce->text == NONE ? NULL : blob + ce->text;
  ev->len = ce->text == NONE ? 0 : ce->len;
  if (ce->extra == NONE) return;
  const char *p = blob + ce->extra;
  uint8_t flags = (uint8_t)*p++;
  if (flags & CACHE_X_ID) {
    ev->id = p;
    p += strlen(p) + 1;
  }
  if (flags & CACHE_X_NAME) {
    ev->name = p;
    p += strlen(p) + 1;
  }
  if (flags & CACHE_X_FINISH) {
    ev->finish_reason = p;
    p += strlen(p) + 1;
  }
  if (flags & CACHE_X_USAGE) {
    ev->input_tokens = rd64(p);
    ev->output_tokens = rd64(p + 8);
    ev->cached_tokens = rd64(p + 16);
  }
}

/* An extra record lies wholly inside the blob, its strings terminated. */
static int extra_ok(const char *blob, uint32_t blob_len, uint32_t off) {
  if (off == NONE) return 1;
  if (off >= blob_len) return 0;
  const char *p = blob + off, *end = blob + blob_len;
  uint8_t flags = (uint8_t)*p++;
  if (flags & ~(CACHE_X_ID | CACHE_X_NAME | CACHE_X_FINISH | CACHE_X_USAGE)) return 0;
  for (int bit = CACHE_X_ID; bit <= CACHE_X_FINISH; bit <<= 1) {
    if (!(flags & bit)) continue;
    const char *z = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
    if (!z) return 0;
    p = z + 1;
  }
  return !(flags & CACHE_X_USAGE) || end - p >= 24;
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
 *   n_ev x {u8 type, u32 index, u32 t_us, u32 text, len, extra},
 *   blob (blob_len bytes).
 * The key is not in the value: the Redis key names it, and parse takes it. */

#define HDR_LEN (4 + 5 * 8 + 5 * 4)
#define EV_LEN (1 + 5 * 4)

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
    p = w32(p, ce->extra);
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
    ce->extra = r32(&q);
    int ok = ce->type >= LLMRT_EV_START && ce->type <= LLMRT_EV_FINISH &&
             (ce->text == NONE ? ce->len == 0 : (uint64_t)ce->text + ce->len < blob_len) &&
             extra_ok(e->blob, blob_len, ce->extra) && (i == 0 || ce->t_us >= e->ev[i - 1].t_us);
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
