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
   * and clearing 8 KiB per attempt would be wasted work; the body scan is
   * set up by llmrt__body_begin. */
  memset(st, 0, offsetof(llmrt__pstate_t, scratch));
}

/* ---- Decoding ----------------------------------------------------------- */

/* The PROBLEM for a failed scan of j: malformed, or past the token budget. */
static int scan_problem(const llmrt__dec_t *d, int rc, const char *what) {
  const llmrt__json_t *j = &d->j;
  if (rc != LLMRT_EBADRESPONSE) return rc;
  if (j->too_many)
    return llmrt__problem(d, rc,
                          "a %s of unexpected shape: more JSON values than a response has (at byte "
                          "%zu of %zu)",
                          what, j->err_at, j->len);
  return llmrt__problem(d, rc, "a malformed %s: at byte %zu of %zu: %s", what, j->err_at, j->len,
                        j->err ? j->err : "invalid JSON");
}

static int root_object(const llmrt__dec_t *d, const char *what) {
  if (llmrt__json_type(&d->j, 0) == LLMRT__JSON_OBJECT) return 0;
  return llmrt__problem(d, LLMRT_EBADRESPONSE, "a %s of unexpected shape: not a JSON object", what);
}

int llmrt__dec_begin(llmrt__dec_t *d, llmrt__pstate_t *st, const llmrt__sink_t *sink,
                     const char *js, size_t len, llmrt__jtok_t *toks, uint32_t ntoks, char *scratch,
                     size_t scratch_len) {
  d->st = st;
  d->sink = sink;
  llmrt__jarena_init(&d->a, scratch, scratch_len);
  llmrt__jscan_t sc;
  llmrt__jscan_init(&sc, NULL, 0, LLMRT__JSON_TOKENS_BASE, toks, ntoks);
  sc.shift = LLMRT__JSON_TOKENS_SHIFT;
  int rc = llmrt__jscan_feed(&sc, js, len, 1);
  llmrt__jscan_result(&sc, js, len, &d->j);
  rc = rc ? scan_problem(d, rc, "stream event") : root_object(d, "stream event");
  if (rc) llmrt__json_free(&d->j);
  return rc;
}

void llmrt__dec_end(llmrt__dec_t *d) {
  llmrt__json_free(&d->j);
  llmrt__jarena_free(&d->a);
}

/* The last step of a whole-body decode: the scan sc has seen (or now sees)
 * all of js[0..len). */
static int decode_scanned(const llmrt__provider_t *p, llmrt__jscan_t *sc, const char *js,
                          size_t len, const llmrt__sink_t *sink) {
  llmrt__dec_t d;
  char scratch[2048];
  d.st = NULL;
  d.sink = sink;
  llmrt__jarena_init(&d.a, scratch, sizeof scratch);
  int rc = llmrt__jscan_feed(sc, js, len, 1);
  llmrt__jscan_result(sc, js, len, &d.j);
  rc = rc ? scan_problem(&d, rc, "JSON response") : root_object(&d, "JSON response");
  if (!rc) rc = p->decode_doc(&d);
  llmrt__dec_end(&d);
  return rc;
}

static void body_scan_init(llmrt__jscan_t *sc, const llmrt__provider_t *p, llmrt__jtok_t *stack,
                           uint32_t cap) {
  llmrt__jscan_init(sc, p->keep, p->n_keep, LLMRT__JSON_TOKENS_BASE, stack, cap);
  sc->shift = LLMRT__JSON_TOKENS_SHIFT;
}

int llmrt__decode_whole(const llmrt__provider_t *p, const char *body, size_t len,
                        const llmrt__sink_t *sink) {
  llmrt__jscan_t sc;
  llmrt__jtok_t toks[LLMRT__STREAM_TOKENS];
  body_scan_init(&sc, p, toks, LLMRT__STREAM_TOKENS);
  return decode_scanned(p, &sc, body, len, sink);
}

void llmrt__body_begin(llmrt__pstate_t *st, const llmrt__provider_t *p) {
  body_scan_init(&st->body, p, NULL, 0);
  st->body_prov = p;
}

int llmrt__body_feed(llmrt__pstate_t *st, const char *js, size_t len, const llmrt__sink_t *sink) {
  int rc = llmrt__jscan_feed(&st->body, js, len, 0);
  if (rc == LLMRT_EBADRESPONSE) {
    llmrt__dec_t d;
    d.sink = sink;
    d.j.len = len;
    d.j.err_at = st->body.err_at;
    d.j.err = st->body.err;
    d.j.too_many = st->body.too_many;
    rc = scan_problem(&d, rc, "JSON response");
  }
  return rc;
}

int llmrt__body_decode(llmrt__pstate_t *st, const char *js, size_t len, const llmrt__sink_t *sink) {
  return decode_scanned(st->body_prov, &st->body, js, len, sink);
}

void llmrt__body_end(llmrt__pstate_t *st) {
  llmrt__jscan_free(&st->body);
}

void llmrt__idle_add(llmrt__pstate_t *st, const llmrt__sse_event_t *ev) {
  st->idle_bytes += ev->data_len + ev->noise;
}

int llmrt__idle_check(llmrt__pstate_t *st, const llmrt__sink_t *sink, int rc) {
  size_t max = st->max_idle_bytes ? st->max_idle_bytes : LLMRT__SSE_DEFAULT_IDLE;
  if (rc || st->idle_bytes <= max || max == SIZE_MAX) return rc;
  llmrt__dec_t d;
  d.sink = sink;
  return llmrt__problem(&d, LLMRT_EIDLETIMEOUT,
                        "%llu bytes of stream events and comments without content "
                        "(max_sse_idle_bytes %zu)",
                        (unsigned long long)st->idle_bytes, max);
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

/* Members an error body decode reads. */
static const llmrt__jkeep_t error_keep[] = {
    LLMRT__JKEEP("error"),   LLMRT__JKEEP("type"),   LLMRT__JKEEP("code"),
    LLMRT__JKEEP("message"), LLMRT__JKEEP("detail"),
};

/* Reads error body JSON in d->j; returns whether a message was reported. */
static int error_members(llmrt__dec_t *d, int *code) {
  const llmrt__json_t *j = &d->j;
  int e = llmrt__json_get(j, 0, "error");
  int t = llmrt__json_type(j, e);
  if (t == LLMRT__JSON_OBJECT || t == LLMRT__JSON_STRING) {
    int msg = t == LLMRT__JSON_OBJECT ? llmrt__json_get(j, e, "message") : e;
    int rc = llmrt__report_error(d, e, *code);
    /* Only an overload type refines the status; 429 stays a rate limit. */
    if (rc == LLMRT_EOVERLOADED) *code = rc;
    return llmrt__json_type(j, msg) == LLMRT__JSON_STRING;
  }
  /* Other shapes seen from proxies: {"message": ...}, {"detail": ...}. */
  int msg = llmrt__json_get(j, 0, "message");
  if (llmrt__json_type(j, msg) != LLMRT__JSON_STRING) msg = llmrt__json_get(j, 0, "detail");
  llmrt__meta_tok(d, LLMRT__META_ERROR_MESSAGE, msg);
  return llmrt__json_type(j, msg) == LLMRT__JSON_STRING;
}

int llmrt__decode_error(int http_status, const char *body, size_t len, const llmrt__sink_t *sink) {
  int code = status_error(http_status);
  llmrt__dec_t d;
  llmrt__jtok_t toks[64];
  char scratch[1024];
  int have_msg = 0;
  d.st = NULL;
  d.sink = sink;
  if (body && len) {
    /* The body may be the first bytes of a longer one (the caller keeps a
     * bounded prefix): JSON cut short is read as far as it goes, so an
     * "error" object at the start still gives its type and message. */
    llmrt__jscan_t sc;
    llmrt__jscan_init(&sc, error_keep, sizeof error_keep / sizeof error_keep[0], 4096, toks, 64);
    int rc = llmrt__jscan_feed(&sc, body, len, 0);
    if (rc == 0) llmrt__jscan_close_partial(&sc);
    llmrt__jarena_init(&d.a, scratch, sizeof scratch);
    llmrt__jscan_result(&sc, body, len, &d.j);
    if (rc == 0 && llmrt__json_type(&d.j, 0) == LLMRT__JSON_OBJECT) {
      have_msg = error_members(&d, &code);
      if (!have_msg && d.j.partial) {
        char tmp[160];
        int l = snprintf(tmp, sizeof tmp,
                         "HTTP status %d with a JSON body that has no error message in the %zu "
                         "bytes kept",
                         http_status, len);
        llmrt__meta(&d, LLMRT__META_ERROR_MESSAGE, tmp, (size_t)l);
        have_msg = 1;
      }
    }
    llmrt__dec_end(&d);
  }
  if (!have_msg) {
    /* Not JSON (an HTML page from a proxy, plain text). */
    char msg[ERROR_BODY_MAX];
    size_t n = llmrt__clean_text(body, len, msg, sizeof msg);
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
