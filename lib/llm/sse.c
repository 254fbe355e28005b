/* Incremental Server-Sent Events parser, following the WHATWG HTML
 * "event stream interpretation" rules: lines end with CRLF, LF or CR; a blank
 * line dispatches the event; ':' starts a comment; one space after the colon
 * is dropped; data lines are joined with '\n'; `id` persists across events;
 * `retry` takes ASCII digits only; a leading UTF-8 BOM is skipped.
 *
 * Bytes are consumed straight from the caller's read buffer. Only a line that
 * is cut by a read boundary is copied into p->line, and data values are
 * copied into p->data (an event may span many lines and reads). Buffers are
 * reset, never freed, between events, so once they have grown to the largest
 * event the parser does not allocate again. */
#include <string.h>

#include "llm.h"

void llmrt__sse_init(llmrt__sse_t *p, size_t max_event_bytes) {
  memset(p, 0, sizeof *p);
  llmrt__buf_init(&p->line);
  llmrt__buf_init(&p->data);
  llmrt__buf_init(&p->event);
  llmrt__buf_init(&p->id);
  p->max_event_bytes = max_event_bytes ? max_event_bytes : LLMRT__SSE_DEFAULT_EVENT;
  p->max_idle_bytes = LLMRT__SSE_DEFAULT_IDLE;
  p->retry = -1;
}

void llmrt__sse_free(llmrt__sse_t *p) {
  llmrt__buf_free(&p->line);
  llmrt__buf_free(&p->data);
  llmrt__buf_free(&p->event);
  llmrt__buf_free(&p->id);
}

void llmrt__sse_reset(llmrt__sse_t *p) {
  llmrt__buf_reset(&p->line);
  llmrt__buf_reset(&p->data);
  llmrt__buf_reset(&p->event);
  llmrt__buf_reset(&p->id);
  p->retry = -1;
  p->noise = 0;
  p->skip_lf = p->has_data = p->has_id = 0;
  p->bom = 0;
}

int llmrt__sse_pending(const llmrt__sse_t *p) {
  return p->has_data || p->line.len > 0 || p->event.len > 0;
}

/* Bytes held for the event being built (with the partial line when
 * with_line), checked against the limit before `more` are added. */
static int over_limit(const llmrt__sse_t *p, size_t more, int with_line) {
  size_t held = p->data.len + p->event.len + (with_line ? p->line.len : 0);
  return more > p->max_event_bytes || held > p->max_event_bytes - more;
}

static int dispatch(llmrt__sse_t *p, llmrt__sse_cb cb, void *user) {
  int rc = 0;
  if (p->has_data) {
    llmrt__sse_event_t ev;
    size_t dlen = p->data.len;
    if (dlen > 0 && p->data.data[dlen - 1] == '\n') dlen--; /* the last line's LF */
    ev.data = p->data.data ? p->data.data : "";
    ev.data_len = dlen;
    if (p->event.len > 0) {
      ev.event = p->event.data;
      ev.event_len = p->event.len;
    } else {
      ev.event = "message";
      ev.event_len = 7;
    }
    ev.id = p->has_id ? (p->id.data ? p->id.data : "") : NULL;
    ev.id_len = p->has_id ? p->id.len : 0;
    ev.retry = p->retry;
    ev.noise = p->noise;
    p->noise = 0;
    rc = cb(user, &ev);
  }
  llmrt__buf_reset(&p->data);
  llmrt__buf_reset(&p->event);
  p->has_data = 0;
  return rc;
}

static int field_is(const char *f, size_t n, const char *name, size_t name_len) {
  return n == name_len && memcmp(f, name, n) == 0;
}

/* Counts a line that carries nothing (a comment, a blank line that ends
 * no event, a field other than data), line end included. Bytes of noise in
 * a row are bounded: a stream of keep-alive comments or empty events alone
 * would otherwise hold the call until its total deadline. */
static int noise(llmrt__sse_t *p, size_t n) {
  p->noise += n + 1;
  return p->max_idle_bytes && p->noise > p->max_idle_bytes ? LLMRT_EIDLETIMEOUT : 0;
}

/* Interprets one complete line (without its line end). */
static int process_line(llmrt__sse_t *p, const char *s, size_t n, llmrt__sse_cb cb, void *user) {
  if (n == 0) return p->has_data ? dispatch(p, cb, user) : (dispatch(p, cb, user), noise(p, 0));
  if (s[0] == ':') return noise(p, n); /* comment */
  const char *colon = memchr(s, ':', n);
  size_t flen = colon ? (size_t)(colon - s) : n;
  const char *v = colon ? colon + 1 : s + n;
  size_t vlen = colon ? n - flen - 1 : 0;
  if (vlen > 0 && v[0] == ' ') v++, vlen--;

  if (!field_is(s, flen, "data", 4)) {
    int rc = noise(p, n);
    if (rc) return rc;
  }
  if (field_is(s, flen, "data", 4)) {
    if (over_limit(p, vlen + 1, 0)) return LLMRT_EBODYSIZE;
    if (llmrt__buf_reserve(&p->data, vlen + 1)) return LLMRT_ENOMEM;
    memcpy(p->data.data + p->data.len, v, vlen);
    p->data.len += vlen;
    p->data.data[p->data.len++] = '\n';
    p->data.data[p->data.len] = '\0';
    p->has_data = 1;
  } else if (field_is(s, flen, "event", 5)) {
    llmrt__buf_reset(&p->event);
    if (over_limit(p, vlen, 0)) return LLMRT_EBODYSIZE;
    if (llmrt__buf_append(&p->event, v, vlen)) return LLMRT_ENOMEM;
  } else if (field_is(s, flen, "id", 2)) {
    if (memchr(v, '\0', vlen)) return 0; /* the spec ignores ids holding NUL */
    if (vlen > p->max_event_bytes) return LLMRT_EBODYSIZE;
    llmrt__buf_reset(&p->id);
    if (llmrt__buf_append(&p->id, v, vlen)) return LLMRT_ENOMEM;
    p->has_id = 1;
  } else if (field_is(s, flen, "retry", 5)) {
    int64_t r = 0;
    if (vlen == 0) return 0;
    for (size_t i = 0; i < vlen; i++) {
      if (v[i] < '0' || v[i] > '9') return 0;
      if (r < INT64_MAX / 10 - 10) r = r * 10 + (v[i] - '0');
    }
    p->retry = r;
  }
  /* Any other field is ignored, as the spec says. */
  return 0;
}

/* First CR or LF in [s, end), or NULL. Two memchr passes beat a byte loop on
 * the usual LF-only streams; the CR pass only looks before the LF. */
static const char *find_eol(const char *s, const char *end) {
  const char *lf = memchr(s, '\n', (size_t)(end - s));
  const char *cr = memchr(s, '\r', (size_t)((lf ? lf : end) - s));
  return cr ? cr : lf;
}

int llmrt__sse_feed(llmrt__sse_t *p, const char *data, size_t len, llmrt__sse_cb cb, void *user) {
  const char *s = data, *end = data + len;
  /* A UTF-8 byte order mark may open the stream, possibly split by reads. */
  static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
  while (p->bom < 3 && s < end) {
    if ((unsigned char)*s == bom[p->bom]) {
      s++;
      p->bom++;
    } else {
      /* Not a BOM after all: the bytes matched so far are line content. */
      if (p->bom > 0 && llmrt__buf_append(&p->line, bom, p->bom)) return LLMRT_ENOMEM;
      p->bom = 3;
    }
  }
  if (s < end && p->skip_lf) {
    if (*s == '\n') s++;
    p->skip_lf = 0;
  }
  while (s < end) {
    const char *eol = find_eol(s, end);
    if (!eol) {
      size_t n = (size_t)(end - s);
      if (over_limit(p, n, 1)) return LLMRT_EBODYSIZE;
      if (llmrt__buf_append(&p->line, s, n)) return LLMRT_ENOMEM;
      break;
    }
    const char *next = eol + 1;
    if (*eol == '\r') {
      if (next < end && *next == '\n')
        next++;
      else if (next == end)
        p->skip_lf = 1; /* the LF, if any, comes with the next read */
    }
    int rc;
    if (p->line.len > 0) {
      size_t n = (size_t)(eol - s);
      if (over_limit(p, n, 1)) return LLMRT_EBODYSIZE;
      if (llmrt__buf_append(&p->line, s, n)) return LLMRT_ENOMEM;
      rc = process_line(p, p->line.data, p->line.len, cb, user);
      llmrt__buf_reset(&p->line);
    } else {
      rc = process_line(p, s, (size_t)(eol - s), cb, user);
    }
    if (rc) return rc;
    s = next;
  }
  return 0;
}
