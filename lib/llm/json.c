/* Token access, string decoding, arena and writer over the scanner's tokens
 * (jscan.c). See json.h for why decoding does not use cJSON. */
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define BAD LLMRT_EBADRESPONSE

/* ---- Access ----------------------------------------------------------- */

int llmrt__json_type(const llmrt__json_t *j, int t) {
  return t >= 0 && (uint32_t)t < j->n ? j->tok[t].type : 0;
}

static int str_eq(const llmrt__json_t *j, int t, const char *s, size_t slen) {
  const llmrt__jtok_t *k = &j->tok[t];
  const char *raw = j->js + k->start;
  size_t rlen = k->end - k->start;
  if (!k->esc) return rlen == slen && memcmp(raw, s, slen) == 0;
  char tmp[256];
  if (rlen > sizeof tmp - 3) return 0; /* only short strings are compared */
  size_t l = llmrt__json_unescape(raw, rlen, tmp, NULL);
  return l == slen && memcmp(tmp, s, slen) == 0;
}

int llmrt__json_streq(const llmrt__json_t *j, int t, const char *s) {
  return llmrt__json_type(j, t) == LLMRT__JSON_STRING && str_eq(j, t, s, strlen(s));
}

/* Key token k equals key[0..klen)? The common case (no escapes) inline. */
static inline int key_eq(const llmrt__json_t *j, uint32_t k, const char *key, size_t klen) {
  const llmrt__jtok_t *t = &j->tok[k];
  if (t->esc) return str_eq(j, (int)k, key, klen);
  return t->end - t->start == klen && memcmp(j->js + t->start, key, klen) == 0;
}

int llmrt__json_getn(const llmrt__json_t *j, int obj, const char *key, size_t klen) {
  if (llmrt__json_type(j, obj) != LLMRT__JSON_OBJECT) return -1;
  int found = -1;
  uint32_t c = (uint32_t)obj + 1;
  for (uint32_t m = 0; m < j->tok[obj].size; m++) {
    if (key_eq(j, c, key, klen)) found = (int)c + 1;
    c = j->tok[c + 1].next;
  }
  return found;
}

/* Member names are short: a loop beats a call to memcmp. */
static inline int bytes_eq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

void llmrt__json_fields(const llmrt__json_t *j, int obj, const llmrt__jkey_t *keys, int n,
                        int *out) {
  /* Keys by length: most members match no wanted length and cost one load. */
  uint16_t bylen[32] = {0};
  if (n > 16) n = 16;
  for (int i = 0; i < n; i++) {
    out[i] = -1;
    if (keys[i].n < 32) bylen[keys[i].n] |= (uint16_t)(1u << i);
  }
  if (llmrt__json_type(j, obj) != LLMRT__JSON_OBJECT) return;
  uint32_t c = (uint32_t)obj + 1;
  for (uint32_t m = 0; m < j->tok[obj].size; m++) {
    const llmrt__jtok_t *k = &j->tok[c];
    const char *raw = j->js + k->start;
    size_t len = k->end - k->start;
    unsigned cand = k->esc ? 0xFFFFu : len < 32 ? bylen[len] : 0xFFFFu;
    for (int i = 0; cand && i < n; i++, cand >>= 1) {
      if (!(cand & 1)) continue;
      if (k->esc ? str_eq(j, (int)c, keys[i].s, keys[i].n)
                 : len == keys[i].n && bytes_eq(raw, keys[i].s, len))
        out[i] = (int)c + 1;
    }
    c = j->tok[c + 1].next;
  }
}

int llmrt__json_at(const llmrt__json_t *j, int arr, uint32_t idx) {
  if (llmrt__json_type(j, arr) != LLMRT__JSON_ARRAY || idx >= j->tok[arr].size) return -1;
  uint32_t c = (uint32_t)arr + 1;
  while (idx--)
    c = j->tok[c].next;
  return (int)c;
}

int llmrt__json_isnull(const llmrt__json_t *j, int t) {
  return llmrt__json_type(j, t) == 0 ||
         (j->tok[t].type == LLMRT__JSON_PRIM && j->js[j->tok[t].start] == 'n');
}

int llmrt__json_int(const llmrt__json_t *j, int t, int64_t *out) {
  if (llmrt__json_type(j, t) != LLMRT__JSON_PRIM) return -1;
  const char *s = j->js + j->tok[t].start, *e = j->js + j->tok[t].end;
  if (*s != '-' && (*s < '0' || *s > '9')) return -1;
  if (memchr(s, 'e', (size_t)(e - s)) || memchr(s, 'E', (size_t)(e - s))) {
    char tmp[64];
    size_t l = (size_t)(e - s);
    if (l >= sizeof tmp) return -1;
    memcpy(tmp, s, l);
    tmp[l] = '\0';
    double d = strtod(tmp, NULL);
    if (!(d > -9.2e18 && d < 9.2e18)) return -1;
    *out = (int64_t)d;
    return 0;
  }
  int neg = *s == '-';
  if (neg) s++;
  int64_t v = 0;
  for (; s < e && *s >= '0' && *s <= '9'; s++) {
    if (v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (*s - '0');
  }
  *out = neg ? -v : v;
  return 0;
}

/* ---- Strings ---------------------------------------------------------- */

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t llmrt__json_unescape(const char *s, size_t n, char *out, uint32_t *hi) {
  size_t o = 0, i = 0;
  uint32_t pend = hi ? *hi : 0;
  if (hi) *hi = 0;
  while (i < n) {
    /* The run up to the next backslash, copied 8 bytes a step: as fast as
     * memchr + memcpy on long runs, and no call per escape when they are
     * dense (a hostile body of \" pairs). out has room: it never grows. */
    size_t r = i;
    while (r + 8 <= n) {
      uint64_t x, b;
      memcpy(&x, s + r, 8);
      b = x ^ 0x5C5C5C5C5C5C5C5CULL; /* '\\' bytes become zero */
      uint64_t z = (b - 0x0101010101010101ULL) & ~b & 0x8080808080808080ULL;
      if (z) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        r += (size_t)__builtin_ctzll(z) >> 3;
        goto found;
#else
        break;
#endif
      }
      r += 8;
    }
    while (r < n && s[r] != '\\')
      r++;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  found:
#endif
    if (r > i) {
      if (pend) o += put_utf8(out + o, 0xFFFD), pend = 0;
      memcpy(out + o, s + i, r - i);
      o += r - i;
      i = r;
    }
    if (i >= n) break;
    char e = s[i + 1];
    if (e != 'u') {
      if (pend) o += put_utf8(out + o, 0xFFFD), pend = 0;
      out[o++] = e == 'n'   ? '\n'
                 : e == 't' ? '\t'
                 : e == 'r' ? '\r'
                 : e == 'b' ? '\b'
                 : e == 'f' ? '\f'
                            : e; /* '"', '\\', '/' stand for themselves */
      i += 2;
      continue;
    }
    uint32_t cp = (uint32_t)(llmrt__hexval(s[i + 2]) << 12 | llmrt__hexval(s[i + 3]) << 8 |
                             llmrt__hexval(s[i + 4]) << 4 | llmrt__hexval(s[i + 5]));
    i += 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      if (pend)
        cp = 0x10000 + ((pend - 0xD800) << 10) + (cp - 0xDC00);
      else
        cp = 0xFFFD; /* a low surrogate alone */
      pend = 0;
      o += put_utf8(out + o, cp);
      continue;
    }
    if (pend) o += put_utf8(out + o, 0xFFFD), pend = 0;
    if (cp >= 0xD800 && cp <= 0xDBFF)
      pend = cp;
    else
      o += put_utf8(out + o, cp);
  }
  if (pend) {
    if (hi)
      *hi = pend;
    else
      o += put_utf8(out + o, 0xFFFD);
  }
  return o;
}

static uint32_t hex4(const char *s) {
  return (uint32_t)(llmrt__hexval(s[0]) << 12 | llmrt__hexval(s[1]) << 8 |
                    llmrt__hexval(s[2]) << 4 | llmrt__hexval(s[3]));
}

/* Decodes the character at s[*pi] of a validated string body into out (1 to
 * 4 bytes) as llmrt__json_unescape does, except that an invalid UTF-8 byte
 * becomes U+FFFD as llmrt__jw_value writes it, and moves *pi past it. */
static size_t dec_next(const char *s, size_t n, size_t *pi, char *out) {
  size_t i = *pi;
  if (s[i] != '\\') {
    size_t k = llmrt__utf8_seq((const unsigned char *)s + i, n - i);
    if (k == 0) {
      *pi = i + 1;
      return put_utf8(out, 0xFFFD);
    }
    memcpy(out, s + i, k);
    *pi = i + k;
    return k;
  }
  char e = s[i + 1];
  if (e != 'u') {
    out[0] = e == 'n'   ? '\n'
             : e == 't' ? '\t'
             : e == 'r' ? '\r'
             : e == 'b' ? '\b'
             : e == 'f' ? '\f'
                        : e;
    *pi = i + 2;
    return 1;
  }
  uint32_t cp = hex4(s + i + 2);
  i += 6;
  if (cp >= 0xD800 && cp <= 0xDBFF && n - i >= 6 && s[i] == '\\' && s[i + 1] == 'u') {
    uint32_t lo = hex4(s + i + 2);
    if (lo >= 0xDC00 && lo <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      i += 6;
    } else {
      cp = 0xFFFD;
    }
  } else if (cp >= 0xD800 && cp <= 0xDFFF) {
    cp = 0xFFFD;
  }
  *pi = i;
  return put_utf8(out, cp);
}

int llmrt__json_str_same(const llmrt__json_t *j, int a, int b) {
  if (llmrt__json_type(j, a) != LLMRT__JSON_STRING || llmrt__json_type(j, b) != LLMRT__JSON_STRING)
    return 0;
  const llmrt__jtok_t *x = &j->tok[a], *y = &j->tok[b];
  const char *s = j->js + x->start, *t = j->js + y->start;
  size_t n = x->end - x->start, m = y->end - y->start;
  if (n == m && memcmp(s, t, n) == 0) return 1;
  /* Decode both a character at a time and compare the bytes: no buffer, so
   * no length limit (unlike str_eq, which only serves short literal keys).
   * Texts that differ as written can still be the same: escapes, or invalid
   * bytes against a U+FFFD. */
  char bx[4], by[4];
  size_t i = 0, k = 0, lx = 0, ly = 0, ox = 0, oy = 0;
  for (;;) {
    if (ox == lx && i < n) {
      lx = dec_next(s, n, &i, bx);
      ox = 0;
    }
    if (oy == ly && k < m) {
      ly = dec_next(t, m, &k, by);
      oy = 0;
    }
    int ex = ox == lx, ey = oy == ly;
    if (ex || ey) return ex && ey;
    size_t c = lx - ox < ly - oy ? lx - ox : ly - oy;
    if (memcmp(bx + ox, by + oy, c) != 0) return 0;
    ox += c;
    oy += c;
  }
}

struct llmrt__jblk_s {
  llmrt__jblk_t *next;
  char data[];
};

void llmrt__jarena_init(llmrt__jarena_t *a, char *buf, size_t cap) {
  a->buf = buf;
  a->cap = cap;
  a->used = 0;
  a->heap = NULL;
}

void *llmrt__jarena_alloc(llmrt__jarena_t *a, size_t n) {
  if (n <= a->cap - a->used) {
    void *p = a->buf + a->used;
    a->used += n;
    return p;
  }
  if (n > SIZE_MAX - sizeof(llmrt__jblk_t)) return NULL;
  llmrt__jblk_t *b = llmrt__malloc(sizeof *b + n);
  if (!b) return NULL;
  b->next = a->heap;
  a->heap = b;
  return b->data;
}

void llmrt__jarena_free(llmrt__jarena_t *a) {
  while (a->heap) {
    llmrt__jblk_t *b = a->heap;
    a->heap = b->next;
    llmrt__free(b);
  }
  a->used = 0;
}

int llmrt__json_str(const llmrt__json_t *j, int t, llmrt__jarena_t *a, int nul, const char **out,
                    size_t *len) {
  if (llmrt__json_type(j, t) != LLMRT__JSON_STRING) return BAD;
  const llmrt__jtok_t *k = &j->tok[t];
  const char *raw = j->js + k->start;
  size_t rlen = k->end - k->start;
  if (!k->esc && !nul) {
    *out = raw;
    *len = rlen;
    return 0;
  }
  char *d = llmrt__jarena_alloc(a, rlen + 1);
  if (!d) return LLMRT_ENOMEM;
  size_t l = rlen;
  if (k->esc)
    l = llmrt__json_unescape(raw, rlen, d, NULL);
  else
    memcpy(d, raw, rlen);
  d[l] = '\0';
  *out = d;
  *len = l;
  return 0;
}

/* ---- Writer ----------------------------------------------------------- */

int llmrt__jw_string(llmrt__buf_t *b, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  if (llmrt__buf_reserve(b, n + 2)) return LLMRT_ENOMEM;
  b->data[b->len++] = '"';
  size_t i = 0;
  while (i < n) {
    size_t run = i;
    while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
      run++;
    if (run > i && llmrt__buf_append(b, s + i, run - i)) return LLMRT_ENOMEM;
    i = run;
    if (i == n) break;
    unsigned char c = s[i];
    char esc[8];
    if (c >= 0x80) {
      size_t k = llmrt__utf8_seq(s + i, n - i);
      int rc = k ? llmrt__buf_append(b, s + i, k) : llmrt__buf_append(b, "\\ufffd", 6);
      if (rc) return rc;
      i += k ? k : 1;
      continue;
    }
    if (c == '"' || c == '\\')
      esc[0] = '\\', esc[1] = (char)c, esc[2] = 0;
    else if (c == '\n')
      memcpy(esc, "\\n", 3);
    else if (c == '\r')
      memcpy(esc, "\\r", 3);
    else if (c == '\t')
      memcpy(esc, "\\t", 3);
    else
      snprintf(esc, sizeof esc, "\\u%04x", c);
    if (llmrt__buf_puts(b, esc)) return LLMRT_ENOMEM;
    i++;
  }
  return llmrt__buf_append(b, "\"", 1);
}

/* Appends the validated string body str[0..n) in quotes, escapes kept, but a
 * lone surrogate escape and invalid UTF-8 become \ufffd. */
static int jw_raw_string(llmrt__buf_t *b, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  if (llmrt__buf_reserve(b, n + 2)) return LLMRT_ENOMEM;
  b->data[b->len++] = '"';
  size_t i = 0;
  while (i < n) {
    size_t run = i;
    while (run < n && s[run] < 0x80 && s[run] != '\\')
      run++;
    if (run > i && llmrt__buf_append(b, s + i, run - i)) return LLMRT_ENOMEM;
    i = run;
    if (i == n) break;
    const char *p = str + i;
    size_t k;
    if (s[i] >= 0x80) {
      k = llmrt__utf8_seq(s + i, n - i);
    } else if (p[1] != 'u') {
      k = 2;
    } else {
      uint32_t cp = hex4(p + 2), lo = 0;
      if (cp >= 0xD800 && cp <= 0xDBFF && n - i >= 12 && p[6] == '\\' && p[7] == 'u')
        lo = hex4(p + 8);
      k = lo >= 0xDC00 && lo <= 0xDFFF ? 12 : cp >= 0xD800 && cp <= 0xDFFF ? 0 : 6;
    }
    if (k ? llmrt__buf_append(b, p, k) : llmrt__buf_append(b, "\\ufffd", 6)) return LLMRT_ENOMEM;
    i += k ? k : s[i] == '\\' ? 6 : 1;
  }
  return llmrt__buf_append(b, "\"", 1);
}

/* Depth is bounded by the scanner (LLMRT__JSON_MAX_DEPTH). */
static int put_value(llmrt__buf_t *b, const llmrt__json_t *j, uint32_t t) {
  const llmrt__jtok_t *k = &j->tok[t];
  if (k->type == LLMRT__JSON_STRING) return jw_raw_string(b, j->js + k->start, k->end - k->start);
  if (k->type == LLMRT__JSON_PRIM) return llmrt__buf_append(b, j->js + k->start, k->end - k->start);
  int obj = k->type == LLMRT__JSON_OBJECT;
  if (llmrt__buf_append(b, obj ? "{" : "[", 1)) return LLMRT_ENOMEM;
  uint32_t c = t + 1;
  for (uint32_t m = 0; m < k->size; m++) {
    int rc = m ? llmrt__buf_append(b, ",", 1) : 0;
    if (!rc && obj) {
      const llmrt__jtok_t *key = &j->tok[c++];
      rc = jw_raw_string(b, j->js + key->start, key->end - key->start);
      if (!rc) rc = llmrt__buf_append(b, ":", 1);
    }
    if (!rc) rc = put_value(b, j, c);
    if (rc) return rc;
    c = j->tok[c].next;
  }
  return llmrt__buf_append(b, obj ? "}" : "]", 1);
}

int llmrt__jw_value(llmrt__buf_t *b, const llmrt__json_t *j, int t) {
  if (llmrt__json_type(j, t) == 0) return LLMRT_EINVAL;
  return put_value(b, j, (uint32_t)t);
}

int llmrt__jw_double(llmrt__buf_t *b, double v) {
  if (!isfinite(v)) return LLMRT_EINVAL;
  char tmp[64];
  snprintf(tmp, sizeof tmp, "%.15g", v);
  if (strtod(tmp, NULL) != v) snprintf(tmp, sizeof tmp, "%.17g", v);
  /* printf follows LC_NUMERIC; JSON wants '.' whatever the host's locale. */
  const char *dp = localeconv()->decimal_point;
  size_t dl = dp ? strlen(dp) : 0;
  char *p = dl && strcmp(dp, ".") != 0 ? strstr(tmp, dp) : NULL;
  if (p) {
    *p = '.';
    memmove(p + 1, p + dl, strlen(p + dl) + 1);
  }
  return llmrt__buf_puts(b, tmp);
}
