/* Shared adapter code: event and meta delivery, finish-reason and error
 * normalization, error bodies, and the body writer with extra_json merging. */
#include <stdio.h>
#include <string.h>

#include "provider.h"

const llmrt__provider_t *llmrt__provider_find(const char *api) {
  if (!api) return NULL;
  if (strcmp(api, "openai") == 0) return &llmrt__provider_openai;
  if (strcmp(api, "anthropic") == 0) return &llmrt__provider_anthropic;
  return NULL;
}

void llmrt__pstate_init(llmrt__pstate_t *st) {
  /* Only the small header needs zeroing; scratch is overwritten before use,
   * and clearing 8 KiB per attempt would be wasted work. */
  memset(st, 0, offsetof(llmrt__pstate_t, scratch));
}

/* ---- Decoding ----------------------------------------------------------- */

int llmrt__dec_begin(llmrt__dec_t *d, llmrt__pstate_t *st, const llmrt__sink_t *sink,
                     const char *js, size_t len, llmrt__jtok_t *toks, uint32_t ntoks, char *scratch,
                     size_t scratch_len) {
  d->st = st;
  d->sink = sink;
  llmrt__jarena_init(&d->a, scratch, scratch_len);
  int rc = llmrt__json_parse(&d->j, js, len, toks, ntoks);
  if (rc == 0 && llmrt__json_type(&d->j, 0) != LLMRT__JSON_OBJECT) rc = LLMRT_EBADRESPONSE;
  if (rc) llmrt__json_free(&d->j);
  return rc;
}

void llmrt__dec_end(llmrt__dec_t *d) {
  llmrt__json_free(&d->j);
  llmrt__jarena_free(&d->a);
}

int llmrt__emit(const llmrt__dec_t *d, const llmrt_event_t *ev) {
  return d->sink && d->sink->on_event ? d->sink->on_event(d->sink->user, ev) : 0;
}

int llmrt__emit_type(const llmrt__dec_t *d, int type) {
  llmrt_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  return llmrt__emit(d, &ev);
}

void llmrt__meta(const llmrt__dec_t *d, int key, const char *val, size_t len) {
  if (d->sink && d->sink->on_meta) d->sink->on_meta(d->sink->user, key, val, len);
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

int llmrt__usage_count(const llmrt__json_t *j, int t, int64_t *out) {
  if (llmrt__json_type(j, t) != LLMRT__JSON_PRIM) return -1;
  char c = j->js[j->tok[t].start];
  if (c != '-' && (c < '0' || c > '9')) return -1; /* true, false, null */
  int64_t v;
  if (llmrt__json_int(j, t, &v)) { /* beyond int64: huge, or hugely negative */
    if (c == '-') return -1;
    v = LLMRT__TOKENS_MAX;
  }
  if (v < 0) return -1;
  *out = v < LLMRT__TOKENS_MAX ? v : LLMRT__TOKENS_MAX;
  return 0;
}

int64_t llmrt__usage_add(int64_t a, int64_t b) {
  /* Both are in [0, 2^53]: the sum cannot overflow, only pass the cap. */
  return a + b < LLMRT__TOKENS_MAX ? a + b : LLMRT__TOKENS_MAX;
}

/* ---- Errors ------------------------------------------------------------- */

int llmrt__error_for_type(const llmrt__json_t *j, int t, int dflt) {
  if (llmrt__json_streq(j, t, "overloaded_error")) return LLMRT_EOVERLOADED;
  if (llmrt__json_streq(j, t, "rate_limit_error") || llmrt__json_streq(j, t, "rate_limit_exceeded"))
    return LLMRT_ERATELIMIT;
  return dflt;
}

int llmrt__report_error(llmrt__dec_t *d, int e, int dflt) {
  const llmrt__json_t *j = &d->j;
  int type = -1, msg = -1;
  if (llmrt__json_type(j, e) == LLMRT__JSON_OBJECT) {
    type = llmrt__json_get(j, e, "type");
    /* OpenAI-compatible servers sometimes leave type null and set code. */
    if (llmrt__json_type(j, type) != LLMRT__JSON_STRING) type = llmrt__json_get(j, e, "code");
    msg = llmrt__json_get(j, e, "message");
  } else if (llmrt__json_type(j, e) == LLMRT__JSON_STRING) {
    msg = e;
  }
  int rc = llmrt__meta_tok(d, LLMRT__META_ERROR_TYPE, type);
  if (!rc) rc = llmrt__meta_tok(d, LLMRT__META_ERROR_MESSAGE, msg);
  if (rc) return rc;
  return llmrt__error_for_type(j, type, dflt);
}

static int status_error(int status) {
  if (status == 401 || status == 403) return LLMRT_EAUTH;
  if (status == 429) return LLMRT_ERATELIMIT;
  if (status == 503 || status == 529) return LLMRT_EOVERLOADED;
  return LLMRT_EUPSTREAM;
}

#define ERROR_BODY_MAX 200 /* bytes of a non-JSON error body kept for the message */

/* A non-JSON body goes into error_message and logs, maybe a terminal: it
 * must not bring line breaks, escape sequences or invalid UTF-8 there. Runs
 * of spaces and control characters (C0, DEL, and C1 such as U+009B, which
 * some terminals read as ESC [) become one space, trimmed at both ends;
 * each invalid byte becomes U+FFFD. Writes at most cap bytes, whole
 * characters only; returns the length. */
static size_t clean_text(const char *body, size_t len, char *out, size_t cap) {
  const unsigned char *s = (const unsigned char *)body;
  size_t i = 0, o = 0;
  int space = 0;
  while (i < len) {
    size_t k = llmrt__utf8_seq(s + i, len - i);
    int ctl = s[i] <= 0x20 || s[i] == 0x7F || (k == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0);
    if (ctl) {
      space = o > 0;
      i += k ? k : 1;
      continue;
    }
    const char *p = k ? body + i : "\xEF\xBF\xBD";
    size_t w = k ? k : 3;
    if (o + (size_t)space + w > cap) break;
    if (space) out[o++] = ' ';
    space = 0;
    memcpy(out + o, p, w);
    o += w;
    i += k ? k : 1;
  }
  return o;
}

int llmrt__decode_error(int http_status, const char *body, size_t len, const llmrt__sink_t *sink) {
  int code = status_error(http_status);
  llmrt__dec_t d;
  llmrt__jtok_t toks[64];
  char scratch[1024];
  int have_msg = 0;
  if (body && len &&
      llmrt__dec_begin(&d, NULL, sink, body, len, toks, 64, scratch, sizeof scratch) == 0) {
    const llmrt__json_t *j = &d.j;
    int e = llmrt__json_get(j, 0, "error");
    int t = llmrt__json_type(j, e);
    if (t == LLMRT__JSON_OBJECT || t == LLMRT__JSON_STRING) {
      int msg = t == LLMRT__JSON_OBJECT ? llmrt__json_get(j, e, "message") : e;
      have_msg = llmrt__json_type(j, msg) == LLMRT__JSON_STRING;
      int rc = llmrt__report_error(&d, e, code);
      /* Only an overload type refines the status; 429 stays a rate limit. */
      if (rc == LLMRT_EOVERLOADED) code = rc;
    } else {
      /* Other shapes seen from proxies: {"message": ...}, {"detail": ...}. */
      int msg = llmrt__json_get(j, 0, "message");
      if (llmrt__json_type(j, msg) != LLMRT__JSON_STRING) msg = llmrt__json_get(j, 0, "detail");
      have_msg = llmrt__json_type(j, msg) == LLMRT__JSON_STRING;
      llmrt__meta_tok(&d, LLMRT__META_ERROR_MESSAGE, msg);
    }
    llmrt__dec_end(&d);
  }
  if (!have_msg) {
    /* Not JSON (an HTML page from a proxy, plain text). */
    char msg[ERROR_BODY_MAX];
    size_t n = clean_text(body, len, msg, sizeof msg);
    d.sink = sink;
    if (n) {
      llmrt__meta(&d, LLMRT__META_ERROR_MESSAGE, msg, n);
    } else {
      char tmp[64];
      int l = snprintf(tmp, sizeof tmp, "HTTP status %d with an empty body", http_status);
      llmrt__meta(&d, LLMRT__META_ERROR_MESSAGE, tmp, (size_t)l);
    }
  }
  return code;
}

/* ---- Encoding ----------------------------------------------------------- */

void llmrt__enc_msg(llmrt__enc_t *e, const char *fmt, ...) {
  if (!e->err || !e->errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->err, e->errlen, fmt, ap);
  va_end(ap);
}

int llmrt__enc_begin(llmrt__enc_t *e, const llmrt_request_t *req, llmrt__buf_t *out, char *err,
                     size_t errlen) {
  memset(e, 0, sizeof *e);
  e->out = out;
  e->first = 1;
  e->err = err;
  e->errlen = errlen;
  if (err && errlen) err[0] = '\0';
  if (req->extra_json && req->extra_json[0]) {
    int rc = llmrt__json_parse(&e->extra, req->extra_json, strlen(req->extra_json), NULL, 0);
    if (rc == LLMRT_ENOMEM) return rc;
    if (rc || llmrt__json_type(&e->extra, 0) != LLMRT__JSON_OBJECT) {
      llmrt__json_free(&e->extra);
      llmrt__enc_msg(e, "extra_json: %s", rc ? "malformed JSON" : "not a JSON object");
      return LLMRT_EINVAL;
    }
  }
  if (llmrt__buf_append(out, "{", 1)) {
    llmrt__json_free(&e->extra);
    return LLMRT_ENOMEM;
  }
  return 0;
}

void llmrt__enc_fail(llmrt__enc_t *e) {
  llmrt__json_free(&e->extra);
}

static int extra_has(const llmrt__json_t *x, const char *key) {
  return x->n > 0 && llmrt__json_get(x, 0, key) >= 0;
}

int llmrt__enc_key(llmrt__enc_t *e, const char *key) {
  if (extra_has(&e->extra, key)) return 0;
  if (!e->first && llmrt__buf_append(e->out, ",", 1)) return LLMRT_ENOMEM;
  e->first = 0;
  if (llmrt__jw_string(e->out, key, strlen(key)) || llmrt__buf_append(e->out, ":", 1))
    return LLMRT_ENOMEM;
  return 1;
}

int llmrt__enc_end(llmrt__enc_t *e) {
  const llmrt__json_t *x = &e->extra;
  int rc = 0;
  if (x->n > 0) {
    /* Members are written out again from the strict scanner's tokens
     * (numbers as written, invalid UTF-8 as U+FFFD). With duplicate keys
     * only the last is kept, as JSON readers would. */
    uint32_t c = 1;
    for (uint32_t m = 0; m < x->tok[0].size && !rc; m++) {
      uint32_t v = c + 1, after = x->tok[v].next, d = after;
      int dup = 0;
      for (uint32_t m2 = m + 1; m2 < x->tok[0].size && !dup; m2++) {
        /* Decoded, as readers compare keys: "str\u0065am" is "stream". */
        dup = llmrt__json_str_same(x, (int)c, (int)d);
        d = x->tok[d + 1].next;
      }
      if (!dup) {
        if (!e->first) rc = llmrt__buf_append(e->out, ",", 1);
        e->first = 0;
        if (!rc) rc = llmrt__jw_value(e->out, x, (int)c);
        if (!rc) rc = llmrt__buf_append(e->out, ":", 1);
        if (!rc) rc = llmrt__jw_value(e->out, x, (int)v);
      }
      c = after;
    }
  }
  llmrt__json_free(&e->extra);
  if (!rc) rc = llmrt__buf_append(e->out, "}", 1);
  return rc;
}

int llmrt__enc_sampling(llmrt__enc_t *e, const llmrt_request_t *req) {
  static const char *names[2] = {"temperature", "top_p"};
  double vals[2] = {req->temperature, req->top_p};
  for (int i = 0; i < 2; i++) {
    if (!(vals[i] >= 0)) continue; /* unset (and NaN) */
    int rc = llmrt__enc_key(e, names[i]);
    if (rc < 0) return rc;
    if (rc && (rc = llmrt__jw_double(e->out, vals[i]))) {
      if (rc == LLMRT_EINVAL) llmrt__enc_msg(e, "%s is not a finite number", names[i]);
      return rc;
    }
  }
  return 0;
}

size_t llmrt__msg_len(const llmrt_message_t *m) {
  if (!m->content) return 0;
  return m->content_len ? m->content_len : strlen(m->content);
}

int llmrt__enc_request(const llmrt_request_t *req, llmrt__buf_t *out, char *err, size_t errlen,
                       int (*body)(llmrt__enc_t *e, const llmrt_request_t *req)) {
  if (!req->model || !req->model[0]) {
    if (err && errlen) snprintf(err, errlen, "request has no model");
    return LLMRT_EINVAL;
  }
  if (req->n_messages == 0 || !req->messages) {
    if (err && errlen) snprintf(err, errlen, "request has no messages");
    return LLMRT_EINVAL;
  }
  for (size_t i = 0; i < req->n_messages; i++) {
    if (!req->messages[i].role || !req->messages[i].role[0]) {
      if (err && errlen) snprintf(err, errlen, "messages[%zu]: no role", i);
      return LLMRT_EINVAL;
    }
  }
  llmrt__enc_t e;
  size_t mark = out->len;
  int rc = llmrt__enc_begin(&e, req, out, err, errlen);
  if (rc) return rc; /* nothing written, nothing held */
  rc = body(&e, req);
  if (rc)
    llmrt__enc_fail(&e);
  else
    rc = llmrt__enc_end(&e); /* frees the parse whatever happens */
  if (rc) {                  /* out as it was: a half body must never be sent */
    out->len = mark;
    if (out->data) out->data[mark] = '\0';
  }
  return rc;
}
