/* The one path from the decoders to the sink: events, meta, problems, and
 * text deltas that are valid UTF-8 and never end inside a character.
 *
 * Providers stream text in pieces cut by tokens, not characters; some
 * servers cut inside a multi-byte character (byte-level tokens), and a JSON
 * surrogate pair (\uD83D\uDE00) can be cut between two chunks. A user who
 * prints each delta must never see half a character, so the incomplete tail
 * of a delta (a valid prefix of a character) is held in a carry and
 * prepended to the next delta of the same kind. Bytes that can never be
 * UTF-8, and a held tail whose end never comes, become U+FFFD, as the
 * request writer does. Joins and repairs go to the decode's arena
 * (pstate.scratch in a stream): no malloc on the hot path. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "provider.h"

int llmrt__emit(const llmrt__dec_t *d, const llmrt_event_t *ev) {
  /* Content (not the lifecycle frames) ends a run of idle events. */
  if (d->st && ev->type != LLMRT_EV_START && ev->type != LLMRT_EV_USAGE) d->st->idle_bytes = 0;
  return d->sink && d->sink->on_event ? d->sink->on_event(d->sink->user, ev) : 0;
}

int llmrt__emit_type(const llmrt__dec_t *d, int type) {
  llmrt_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  return llmrt__emit(d, &ev);
}

void llmrt__meta(const llmrt__dec_t *d, int key, const char *val, size_t len) {
  if (!d->sink || !d->sink->on_meta) return;
  if (key == LLMRT__META_ERROR_MESSAGE || key == LLMRT__META_ERROR_TYPE) {
    /* An upstream's error text ends up in messages, logs and terminals:
     * valid UTF-8 without control characters, and bounded. */
    char clean[1024];
    size_t n = llmrt__clean_text(val, len, clean, sizeof clean);
    d->sink->on_meta(d->sink->user, key, clean, n);
    return;
  }
  d->sink->on_meta(d->sink->user, key, val, len);
}

int llmrt__meta_tok(llmrt__dec_t *d, int key, int t) {
  const char *s;
  size_t n;
  if (llmrt__json_type(&d->j, t) != LLMRT__JSON_STRING) return 0;
  int rc = llmrt__json_str(&d->j, t, &d->a, 0, &s, &n);
  if (rc) return rc;
  llmrt__meta(d, key, s, n);
  return 0;
}

int llmrt__problem(const llmrt__dec_t *d, int rc, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
  llmrt__meta(d, LLMRT__META_PROBLEM, msg, (size_t)n);
  return rc;
}

static int emit_raw(llmrt__dec_t *d, int type, const char *s, size_t n) {
  if (n == 0) return 0;
  llmrt_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.text = s;
  ev.len = n;
  return llmrt__emit(d, &ev);
}

/* Emits s[0..n) with invalid bytes as U+FFFD. */
static int emit_clean(llmrt__dec_t *d, llmrt__jarena_t *a, int type, const char *s, size_t n) {
  size_t v = llmrt__utf8_valid(s, n);
  if (v < n) {
    char *out = llmrt__jarena_alloc(a, 3 * n);
    if (!out) return LLMRT_ENOMEM;
    n = llmrt__utf8_clean(s, n, out);
    s = out;
  }
  return emit_raw(d, type, s, n);
}

/* One delta: the carry, then raw[0..rlen) (a validated JSON string body,
 * escapes when esc); whatever may still become a character goes back to the
 * carry. */
static int delta(llmrt__dec_t *d, llmrt__jarena_t *a, llmrt__carry_t *cy, int type, const char *raw,
                 size_t rlen, int esc) {
  const char *s = raw;
  size_t n = rlen;
  if (esc || cy->len || cy->hi) {
    /* carry + decoded text; decoding can add 3 bytes (U+FFFD for an unpaired
     * surrogate held from the last delta) but never grows the text itself. */
    char *buf = llmrt__jarena_alloc(a, cy->len + rlen + 3);
    if (!buf) return LLMRT_ENOMEM;
    memcpy(buf, cy->b, cy->len);
    n = cy->len + llmrt__json_unescape(raw, rlen, buf + cy->len, &cy->hi);
    cy->len = 0;
    s = buf;
  }
  size_t tail = llmrt__utf8_partial(s, n);
  if (tail) {
    memcpy(cy->b, s + n - tail, tail);
    cy->len = (unsigned)tail;
  }
  if (cy->len || cy->hi) cy->type = type;
  return emit_clean(d, a, type, s, n - tail);
}

/* Emits what cy holds back, as U+FFFD: the text ended inside a character. */
static int flush(llmrt__dec_t *d, llmrt__carry_t *cy) {
  if (!cy->len && !cy->hi) return 0;
  char tmp[16];
  size_t n = 0;
  for (unsigned i = 0; i < cy->len; i++, n += 3)
    memcpy(tmp + n, "\xEF\xBF\xBD", 3); /* a cut character: one per byte */
  if (cy->hi) {                         /* a high surrogate whose pair never came */
    memcpy(tmp + n, "\xEF\xBF\xBD", 3);
    n += 3;
  }
  cy->len = 0;
  cy->hi = 0;
  return emit_raw(d, cy->type, tmp, n);
}

int llmrt__flush_text(llmrt__dec_t *d) {
  return d->st ? flush(d, &d->st->carry) : 0;
}

#define WHOLE_SLICE 16384 /* raw bytes of a whole response's text per TEXT event */

/* True when s[q] == '\\' starts an escape: an even number of backslashes
 * stand before it since `from` (a point known to be outside any escape). */
static int escape_at(const char *s, size_t from, size_t q) {
  size_t k = 0;
  while (q - k > from && s[q - k - 1] == '\\')
    k++;
  return s[q] == '\\' && k % 2 == 0;
}

/* End of the next slice of the validated string body s[0..n) from `from`
 * (outside any escape): at most max bytes, never inside an escape. Looks
 * back a few bytes only, so slicing costs nothing per byte. */
static size_t slice_end(const char *s, size_t n, size_t from, size_t max) {
  if (n - from <= max) return n;
  size_t lim = from + max;
  for (size_t q = lim > from + 5 ? lim - 5 : from; q < lim; q++) {
    if (!escape_at(s, from, q)) continue;
    size_t k = s[q + 1] == 'u' ? 6 : 2;
    if (q + k > lim) return q;
    q += k - 1;
  }
  return lim;
}

/* A whole response's text: in slices through a buffer of fixed size, so a
 * long text costs no copy of itself (memory bounded whatever its length). */
static int emit_whole(llmrt__dec_t *d, int type, const char *raw, size_t rlen, int esc) {
  llmrt__carry_t cy;
  memset(&cy, 0, sizeof cy);
  if (rlen <= WHOLE_SLICE) {
    int rc = delta(d, &d->a, &cy, type, raw, rlen, esc);
    return rc ? rc : flush(d, &cy);
  }
  size_t cap = 4 * (WHOLE_SLICE + 8);
  char *buf = llmrt__malloc(cap);
  if (!buf) return LLMRT_ENOMEM;
  llmrt__jarena_t a;
  llmrt__jarena_init(&a, buf, cap);
  int rc = 0;
  for (size_t off = 0; off < rlen && !rc;) {
    size_t end = slice_end(raw, rlen, off, WHOLE_SLICE);
    a.used = 0; /* the last slice's event is gone */
    rc = delta(d, &a, &cy, type, raw + off, end - off, esc);
    off = end;
  }
  if (!rc) rc = flush(d, &cy);
  llmrt__jarena_free(&a);
  llmrt__free(buf);
  return rc;
}

int llmrt__emit_text(llmrt__dec_t *d, int type, int t) {
  const llmrt__json_t *j = &d->j;
  llmrt__pstate_t *st = d->st;
  if (llmrt__json_type(j, t) != LLMRT__JSON_STRING) return 0; /* null or absent */
  const llmrt__jtok_t *k = &j->tok[t];
  const char *raw = j->js + k->start;
  size_t rlen = k->end - k->start;
  if (!st) return emit_whole(d, type, raw, rlen, k->esc);
  if ((st->carry.len || st->carry.hi) && st->carry.type != type) {
    int rc = flush(d, &st->carry);
    if (rc) return rc;
  }
  return delta(d, &d->a, &st->carry, type, raw, rlen, k->esc);
}

int llmrt__emit_finish(llmrt__dec_t *d, int t) {
  static const struct {
    const char *from, *to;
  } map[] = {
      {"stop", "stop"},           {"end_turn", "stop"},
      {"stop_sequence", "stop"},  {"length", "length"},
      {"max_tokens", "length"},   {"tool_calls", "tool_calls"},
      {"tool_use", "tool_calls"}, {"content_filter", "content_filter"},
  };
  int rc = llmrt__flush_text(d);
  if (rc) return rc;
  llmrt_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = LLMRT_EV_FINISH;
  for (size_t i = 0; i < sizeof map / sizeof map[0] && !ev.finish_reason; i++)
    if (llmrt__json_streq(&d->j, t, map[i].from)) ev.finish_reason = map[i].to;
  if (!ev.finish_reason) {
    size_t n;
    rc = llmrt__json_str(&d->j, t, &d->a, 1, &ev.finish_reason, &n);
    if (rc) return rc;
  }
  return llmrt__emit(d, &ev);
}
