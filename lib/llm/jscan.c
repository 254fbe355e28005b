/* The strict JSON scanner (RFC 8259): one pass that validates a document and
 * records the values a decoder will read as tokens (offsets into the text).
 *
 * It is resumable: llmrt__jscan_feed may be called as the bytes of a body
 * arrive (the text must stay in one growing buffer; only offsets are kept),
 * so a large body costs loop time in proportion to each read, never all at
 * once at the end. A value cut by the end of the input so far is picked up
 * where it stood: strings at the last whole character or escape, numbers and
 * literals from their start (a number is at most LLMRT__JSON_MAX_NUMBER
 * bytes, so that rescan is bounded).
 *
 * Memory is bounded: members whose key is not in the caller's keep list are
 * validated but not stored, a kept key can be marked opaque (one token for
 * its whole value, nothing inside), and more than max_tok tokens fail the
 * scan. So a hostile body costs at most max_tok * sizeof(llmrt__jtok_t),
 * however its values are shaped. */
#include <string.h>

#include "json.h"

#define BAD LLMRT_EBADRESPONSE
#define NONE UINT32_MAX /* frame of a container that has no token */
/* The scan is the hot path of every stream event: its parts are named
 * functions for reading, one loop for the compiler. */
#define HOT static inline __attribute__((always_inline))

enum { S_VALUE, S_VALUE_OR_CLOSE, S_KEY, S_KEY_OR_CLOSE, S_COLON, S_COMMA, S_DONE };
enum { IN_NONE, IN_STRING, IN_PRIM }; /* a token cut by the end of the input */
enum { M_KEEP, M_SKIP, M_OPAQUE };    /* what becomes of the value being read */
enum { NEED_MORE = 1 };

static int is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static int fail(llmrt__jscan_t *sc, size_t at, const char *why) {
  sc->rc = BAD;
  sc->err_at = at;
  sc->err = why;
  return BAD;
}

void llmrt__jscan_init(llmrt__jscan_t *sc, const llmrt__jkeep_t *keep, uint32_t n_keep,
                       uint32_t max_tok, llmrt__jtok_t *stack, uint32_t stack_cap) {
  /* The frames are written before they are read: not cleared (hot path). */
  sc->keep = keep;
  sc->n_keep = n_keep;
  sc->max_tok = max_tok ? max_tok : 1;
  sc->tok = stack;
  sc->cap = stack ? stack_cap : 0;
  sc->n = 0;
  sc->heap = NULL;
  sc->pos = sc->tstart = 0;
  sc->state = S_VALUE;
  sc->in = IN_NONE;
  sc->mode = M_KEEP;
  sc->depth = 0;
  sc->esc = 0;
  sc->shift = 0;
  sc->in_key = 0;
  sc->pending_key = NONE;
  sc->rc = 0;
  sc->too_many = 0;
  sc->partial = 0;
  sc->err_at = 0;
  sc->err = NULL;
}

void llmrt__jscan_free(llmrt__jscan_t *sc) {
  llmrt__free(sc->heap);
  sc->heap = NULL;
  sc->tok = NULL;
  sc->cap = sc->n = 0;
}

/* Room for one more token: the caller's array first, then a heap array
 * that doubles up to max_tok. */
static int grow(llmrt__jscan_t *sc, size_t at) {
  uint64_t allowed = (uint64_t)sc->max_tok + (sc->shift ? at >> sc->shift : 0);
  if (sc->n >= allowed) {
    sc->too_many = 1;
    return fail(sc, at, "more JSON values than the decoder keeps");
  }
  uint32_t cap = sc->cap < 128 ? 256 : sc->cap > UINT32_MAX / 2 ? UINT32_MAX : sc->cap * 2;
  if (cap > allowed) cap = allowed > UINT32_MAX ? UINT32_MAX : (uint32_t)allowed;
  llmrt__jtok_t *t = llmrt__realloc(sc->heap, (size_t)cap * sizeof *t);
  if (!t) {
    sc->rc = LLMRT_ENOMEM;
    return LLMRT_ENOMEM;
  }
  if (!sc->heap && sc->n) memcpy(t, sc->tok, (size_t)sc->n * sizeof *t);
  sc->heap = sc->tok = t;
  sc->cap = cap;
  return 0;
}

/* Appends a token; its index is sc->n - 1 afterwards. */
HOT int put_tok(llmrt__jscan_t *sc, int type, size_t start, size_t end, int esc) {
  if (sc->n == sc->cap) {
    int rc = grow(sc, start);
    if (rc) return rc;
  }
  uint32_t n = sc->n;
  sc->n = n + 1; /* before the store: the token may alias nothing we read again */
  sc->tok[n] = (llmrt__jtok_t){.type = (uint8_t)type,
                               .esc = (uint8_t)esc,
                               .start = (uint32_t)start,
                               .end = (uint32_t)end,
                               .size = 0,
                               .next = n + 1};
  return 0;
}

/* Nonzero when any of the 8 bytes in x is '"', '\\' or a control character
 * (the bytes that end a plain run in a string); the lowest set bit marks the
 * first such byte. By the classic "has zero byte" / "has byte less than"
 * tricks, exact for the first byte (borrows only disturb bytes after it). */
static inline uint64_t special8(uint64_t x) {
  const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
  uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
  return (((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x)) & high;
}

static inline int is_special(unsigned char ch) {
  return ch == '"' || ch == '\\' || ch < 0x20;
}

/* First byte at or after i that ends a plain run of string bytes, or n.
 * Strings are most of a document's bytes, so runs go 8 bytes a step. */
HOT size_t plain_run(const char *s, size_t n, size_t i) {
  while (i + 8 <= n) {
    uint64_t x;
    memcpy(&x, s + i, 8);
    uint64_t m = special8(x);
    if (m) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      return i + ((size_t)__builtin_ctzll(m) >> 3);
#else
      break;
#endif
    }
    i += 8;
  }
  while (i < n && !is_special((unsigned char)s[i]))
    i++;
  return i;
}

/* One escape at s[i] == '\\': 0 with *pi past it, NEED_MORE when the input
 * ends inside it, or BAD. */
HOT int scan_escape(const char *s, size_t n, size_t *pi) {
  size_t i = *pi;
  if (i + 1 >= n) return NEED_MORE;
  char e = s[i + 1];
  if (e == 'u') {
    for (size_t k = 2; k < 6; k++) {
      if (i + k >= n) return NEED_MORE;
      if (llmrt__hexval(s[i + k]) < 0) return BAD;
    }
    *pi = i + 6;
    return 0;
  }
  if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
      e == 't') {
    *pi = i + 2;
    return 0;
  }
  return BAD;
}

/* The body of a string from *pi (just past the quote, or where an earlier
 * feed stopped). Returns 0 with *pi at the closing quote, NEED_MORE with *pi
 * at the first byte not yet taken (never inside an escape), or BAD with *pi
 * at the offending byte. Sets *esc when escapes occur. */
HOT int scan_string(const char *s, size_t n, size_t *pi, uint8_t *esc) {
  size_t i = *pi;
  for (;;) {
    i = plain_run(s, n, i);
    if (i >= n) {
      *pi = n;
      return NEED_MORE;
    }
    if (s[i] == '"') {
      *pi = i;
      return 0;
    }
    if (s[i] != '\\') { /* a raw control character */
      *pi = i;
      return BAD;
    }
    *esc = 1;
    int rc = scan_escape(s, n, &i);
    if (rc) {
      *pi = i;
      return rc;
    }
  }
}

HOT size_t digits(const char *s, size_t n, size_t i) {
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  return i;
}

/* A literal or number at s[*pi], by the RFC 8259 grammar. 0 with *pi past
 * it; NEED_MORE when, with more input to come, it runs into the end (it may
 * go on); or BAD. What follows is checked by the caller's state machine (so
 * "nullx" and "01" fail there). */
HOT int scan_prim(const char *s, size_t n, size_t *pi, int final) {
  size_t i = *pi, d;
  int more = final ? BAD : NEED_MORE; /* what running out means */
  const char *lit = s[i] == 't' ? "true" : s[i] == 'f' ? "false" : s[i] == 'n' ? "null" : NULL;
  if (lit) {
    size_t l = strlen(lit), have = n - i < l ? n - i : l;
    if (memcmp(s + i, lit, have) != 0) return BAD;
    if (have < l) return more;
    *pi = i + l;
    return 0;
  }
  if (s[i] == '-') i++;
  if (i == n) return more;
  if (s[i] == '0')
    i++;
  else if (s[i] >= '1' && s[i] <= '9')
    i = digits(s, n, i);
  else
    return BAD;
  if (i < n && s[i] == '.') {
    d = digits(s, n, ++i);
    if (d == i) return d == n ? more : BAD;
    i = d;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    d = digits(s, n, i);
    if (d == i) return d == n ? more : BAD;
    i = d;
  }
  if (i == n && !final) return NEED_MORE;
  *pi = i;
  return 0;
}

/* What becomes of the value of member key s[a..b) (escapes when esc). */
HOT int key_mode(const llmrt__jscan_t *sc, const char *s, size_t a, size_t b, int esc) {
  if (!sc->keep) return M_KEEP;
  char tmp[64];
  const char *k = s + a;
  size_t len = b - a;
  if (esc) {
    if (len >= sizeof tmp) return M_SKIP; /* no key we keep is that long */
    len = llmrt__json_unescape(k, len, tmp, NULL);
    k = tmp;
  }
  for (uint32_t i = 0; i < sc->n_keep; i++) {
    const llmrt__jkeep_t *e = &sc->keep[i];
    if (e->n == len && memcmp(e->s, k, len) == 0) return e->opaque ? M_OPAQUE : M_KEEP;
  }
  return M_SKIP;
}

/* A complete string token s[a..b): a key (decides the member's fate) or a
 * value. */
HOT int end_string(llmrt__jscan_t *sc, const char *s, size_t a, size_t b) {
  if (sc->in_key) {
    llmrt__jframe_t *f = &sc->st[sc->depth - 1];
    sc->in_key = 0;
    sc->mode = f->skip ? M_SKIP : key_mode(sc, s, a, b, sc->esc);
    if (sc->mode == M_SKIP) return 0;
    f->size++;
    sc->pending_key = sc->n;
    return put_tok(sc, LLMRT__JSON_STRING, a, b, sc->esc);
  }
  if (sc->mode == M_SKIP) return 0;
  sc->pending_key = NONE;
  return put_tok(sc, LLMRT__JSON_STRING, a, b, sc->esc);
}

/* The value about to start: whether it is kept, counted in its array. */
HOT void begin_value(llmrt__jscan_t *sc) {
  if (sc->depth == 0) {
    sc->mode = M_KEEP;
    return;
  }
  llmrt__jframe_t *f = &sc->st[sc->depth - 1];
  if (f->obj) return; /* decided by the key */
  sc->mode = f->skip ? M_SKIP : M_KEEP;
  if (sc->mode != M_SKIP) f->size++;
}

HOT int open_container(llmrt__jscan_t *sc, size_t i, int obj) {
  if (sc->depth == LLMRT__JSON_MAX_DEPTH) return fail(sc, i, "nesting deeper than 128 levels");
  llmrt__jframe_t *f = &sc->st[sc->depth];
  f->tok = NONE;
  f->size = 0;
  f->obj = (uint8_t)obj;
  f->skip = sc->mode != M_KEEP;
  if (sc->mode != M_SKIP) {
    f->tok = sc->n;
    int rc = put_tok(sc, obj ? LLMRT__JSON_OBJECT : LLMRT__JSON_ARRAY, i, i, 0);
    if (rc) return rc;
  }
  sc->pending_key = NONE;
  sc->depth++;
  sc->state = obj ? S_KEY_OR_CLOSE : S_VALUE_OR_CLOSE;
  return 0;
}

HOT void close_container(llmrt__jscan_t *sc, size_t end) {
  llmrt__jframe_t *f = &sc->st[--sc->depth];
  if (f->tok != NONE) {
    llmrt__jtok_t *t = &sc->tok[f->tok];
    t->end = (uint32_t)end;
    t->size = f->size;
    t->next = sc->n;
  }
  sc->state = sc->depth ? S_COMMA : S_DONE;
}

/* A value starting at s[i] (state S_VALUE or S_VALUE_OR_CLOSE). */
HOT int scan_value(llmrt__jscan_t *sc, const char *s, size_t n, size_t *pi, int final) {
  size_t i = *pi;
  char c = s[i];
  begin_value(sc);
  if (c == '{' || c == '[') {
    *pi = i + 1;
    return open_container(sc, i, c == '{');
  }
  sc->state = sc->depth ? S_COMMA : S_DONE;
  if (c == '"') {
    sc->in = IN_STRING;
    sc->tstart = i + 1;
    sc->esc = 0;
    *pi = i + 1;
    return 0;
  }
  size_t e = i;
  int rc = scan_prim(s, n, &e, final);
  if (rc == NEED_MORE) {
    sc->in = IN_PRIM;
    sc->tstart = i;
    *pi = n;
    return 0;
  }
  if (rc)
    return fail(sc, i,
                c == 't' || c == 'f' || c == 'n'       ? "invalid literal"
                : (c == '-' || (c >= '0' && c <= '9')) ? "invalid number"
                                                       : "expected a value");
  *pi = e;
  if (sc->mode == M_SKIP) return 0;
  sc->pending_key = NONE;
  return put_tok(sc, LLMRT__JSON_PRIM, i, e, 0);
}

/* Picks up a token an earlier feed left cut; *pi is where the scan goes on. */
HOT int resume_token(llmrt__jscan_t *sc, const char *s, size_t n, size_t *pi, int final) {
  if (sc->in == IN_PRIM) {
    size_t e = sc->tstart;
    int rc = scan_prim(s, n, &e, final);
    if (rc == NEED_MORE) {
      if (n - sc->tstart > LLMRT__JSON_MAX_NUMBER)
        return fail(sc, sc->tstart, "number longer than 4096 bytes");
      *pi = n;
      return NEED_MORE;
    }
    if (rc) return fail(sc, sc->tstart, "invalid number or literal");
    sc->in = IN_NONE;
    *pi = e;
    if (sc->mode == M_SKIP) return 0;
    sc->pending_key = NONE;
    return put_tok(sc, LLMRT__JSON_PRIM, sc->tstart, e, 0);
  }
  size_t i = *pi;
  int rc = scan_string(s, n, &i, &sc->esc);
  *pi = i;
  if (rc == NEED_MORE) return final ? fail(sc, sc->tstart - 1, "unterminated string") : NEED_MORE;
  if (rc)
    return fail(sc, i,
                s[i] == '\\' ? "invalid escape in a string" : "control character in a string");
  sc->in = IN_NONE;
  *pi = i + 1;
  return end_string(sc, s, sc->tstart, i);
}

/* Structure between values: ':', ',' and closing brackets, and key starts. */
HOT int scan_punct(llmrt__jscan_t *sc, const char *s, size_t i) {
  char c = s[i];
  switch (sc->state) {
  case S_DONE:
    return fail(sc, i, "data after the JSON value");
  case S_COLON:
    if (c != ':') return fail(sc, i, "expected ':' after a member name");
    sc->state = S_VALUE;
    return 0;
  case S_COMMA: {
    int obj = sc->st[sc->depth - 1].obj;
    if (c == ',') {
      sc->state = obj ? S_KEY : S_VALUE;
      return 0;
    }
    if (c != (obj ? '}' : ']'))
      return fail(sc, i, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    close_container(sc, i + 1);
    return 0;
  }
  default: /* S_KEY, S_KEY_OR_CLOSE */
    if (c == '}' && sc->state == S_KEY_OR_CLOSE) {
      close_container(sc, i + 1);
      return 0;
    }
    if (c != '"') return fail(sc, i, "expected a member name in quotes");
    sc->state = S_COLON;
    sc->in = IN_STRING;
    sc->in_key = 1;
    sc->tstart = i + 1;
    sc->esc = 0;
    return 0;
  }
}

int llmrt__jscan_feed(llmrt__jscan_t *sc, const char *s, size_t n, int final) {
  if (sc->rc) return sc->rc;
  if (n >= UINT32_MAX) return fail(sc, 0, "document of 4 GiB or more");
  size_t i = sc->pos;
  int rc = 0;
  for (;;) {
    if (sc->in) {
      rc = resume_token(sc, s, n, &i, final);
      if (rc) break;
    }
    if (i < n && (unsigned char)s[i] <= ' ')
      while (i < n && is_ws(s[i]))
        i++;
    if (i == n) break;
    if (sc->state == S_VALUE || (sc->state == S_VALUE_OR_CLOSE && s[i] != ']')) {
      rc = scan_value(sc, s, n, &i, final);
    } else if (sc->state == S_VALUE_OR_CLOSE) {
      close_container(sc, i + 1);
      i++;
    } else {
      rc = scan_punct(sc, s, i);
      i++;
    }
    if (rc) break;
  }
  sc->pos = i;
  if (rc == NEED_MORE) rc = 0;
  if (rc) return rc;
  if (final && sc->state != S_DONE)
    return fail(sc, n, sc->n == 0 && sc->depth == 0 ? "no JSON value" : "document ends early");
  return 0;
}

int llmrt__jscan_done(const llmrt__jscan_t *sc) {
  return sc->rc == 0 && sc->state == S_DONE && sc->in == IN_NONE;
}

void llmrt__jscan_result(llmrt__jscan_t *sc, const char *js, size_t len, llmrt__json_t *j) {
  j->js = js;
  j->len = len;
  j->tok = sc->tok;
  j->n = sc->rc ? 0 : sc->n;
  j->heap = sc->heap;
  j->err_at = sc->err_at;
  j->err = sc->err;
  j->too_many = sc->too_many;
  j->partial = sc->partial;
  sc->heap = NULL; /* j owns it now */
  sc->tok = NULL;
  sc->cap = sc->n = 0;
}

void llmrt__jscan_close_partial(llmrt__jscan_t *sc) {
  if (sc->rc || llmrt__jscan_done(sc)) return;
  sc->partial = 1;
  /* A string value cut short keeps what was read (whole characters and
   * escapes only); a cut key or number is dropped, with its member. */
  if (sc->in == IN_STRING && !sc->in_key && sc->mode != M_SKIP &&
      put_tok(sc, LLMRT__JSON_STRING, sc->tstart, sc->pos, sc->esc) == 0)
    sc->pending_key = NONE;
  if (sc->pending_key != NONE && sc->pending_key == sc->n - 1) {
    sc->n--; /* a name without its value */
    sc->st[sc->depth - 1].size--;
  }
  sc->in = IN_NONE;
  while (sc->depth > 0)
    close_container(sc, sc->pos);
  if (sc->n > 0) sc->state = S_DONE;
}

int llmrt__json_parse_keep(llmrt__json_t *j, const char *js, size_t len, llmrt__jtok_t *stack,
                           uint32_t stack_cap, const llmrt__jkeep_t *keep, uint32_t n_keep,
                           uint32_t max_tok) {
  llmrt__jscan_t sc;
  llmrt__jscan_init(&sc, keep, n_keep, max_tok, stack, stack_cap);
  int rc = llmrt__jscan_feed(&sc, js, len, 1);
  llmrt__jscan_result(&sc, js, len, j);
  return rc;
}

int llmrt__json_parse(llmrt__json_t *j, const char *js, size_t len, llmrt__jtok_t *stack,
                      uint32_t stack_cap) {
  return llmrt__json_parse_keep(j, js, len, stack, stack_cap, NULL, 0, UINT32_MAX);
}

void llmrt__json_free(llmrt__json_t *j) {
  llmrt__free(j->heap);
  j->heap = NULL;
  j->tok = NULL;
  j->n = 0;
}
