/* One upstream attempt: encode the request for the upstream's protocol, send
 * it over the pooled HTTP client, decode the response or the SSE stream into
 * events, and hold lifecycle events back until content arrives, so that a
 * failure before the first content can still be retried invisibly. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "call.h"
#include "metrics.h"

#define MAX_ERROR_BODY (64 * 1024)
#define DEFAULT_MAX_JSON_BODY (8u << 20)

static int last_plugin(const llmrt_call_t *c) {
  return llmrt__call_last(c);
}

static const char *up_name(const llmrt_call_t *c) {
  return c->up ? c->up->name : "?";
}

static void body_release(llmrt_call_t *c);

void llmrt__attempt_abort(llmrt_call_t *c) {
  body_release(c);
  c->first_token_at = 0;
  c->http_paused = 0;
  if (c->http && c->attempt_live) {
    c->attempt_live = 0;
    llmrt_http_cancel(c->http);
  }
  c->attempt_live = 0;
  llmrt__measure_upstream_end(c);
}

/* Flow control reaches the socket: the HTTP client stops reading. */
void llmrt__attempt_pause(llmrt_call_t *c, int pause) {
  if (!c->http || !c->attempt_live || c->http_paused == pause) return;
  int r = pause ? llmrt_http_pause(c->http) : llmrt_http_resume(c->http);
  if (r == 0) c->http_paused = pause;
}

void llmrt__attempt_reset(llmrt_call_t *c) {
  body_release(c);
  llmrt__buf_reset(&c->body_in);
  c->n_held = 0;
  c->stream_done = 0;
  c->decode_err = 0;
  c->stream_state = STREAM_BEFORE_HEADERS;
  c->body_kind = BODY_NONE;
  c->http_status = 0;
  c->att_status = 0;
  llmrt__call_set_str(&c->att_msg, NULL, 0);
  if (!c->text_emitted) llmrt__buf_reset(&c->text);
  llmrt__call_set_str(&c->error_type, NULL, 0);
  llmrt__call_set_str(&c->error_message, NULL, 0);
  /* A half-read event of a failed attempt must not leak into the next. */
  if (c->sse_inited) llmrt__sse_reset(&c->sse);
}

/* ---- Decoder sinks ---- */

static void sink_meta(void *user, int key, const char *val, size_t len) {
  llmrt_call_t *c = user;
  switch (key) {
  case LLMRT__META_MODEL:
    llmrt__call_set_str(&c->model, val, len);
    break;
  case LLMRT__META_ID:
    if (!c->request_id) llmrt__call_set_str(&c->request_id, val, len);
    break;
  case LLMRT__META_ERROR_TYPE:
    llmrt__call_set_str(&c->error_type, val, len);
    break;
  case LLMRT__META_PROBLEM: /* why decoding failed; the caller words the message */
  case LLMRT__META_ERROR_MESSAGE:
    llmrt__call_set_str(&c->error_message, val, len);
    break;
  }
}

/* ---- Limits and decode problems (lib/llm does the work) ---- */

static size_t max_json_body(const llmrt_call_t *c) {
  return c->rt->opts.max_json_body_bytes ? c->rt->opts.max_json_body_bytes : DEFAULT_MAX_JSON_BODY;
}

/* Fails the attempt from on_body with err and "upstream 'x' <what>". */
static int body_fail(llmrt_call_t *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int body_fail(llmrt_call_t *c, int err, const char *fmt, ...) {
  char what[320], msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(msg, sizeof msg, "upstream '%s' %s", up_name(c), what);
  if (!c->decode_err) {
    c->decode_err = err;
    llmrt__call_set_str(&c->error_message, msg, strlen(msg));
  }
  return err;
}

/* The decoder's PROBLEM (left in error_message), copied out. */
static const char *problem(const llmrt_call_t *c, char *buf, size_t len, const char *dflt) {
  snprintf(buf, len, "%s", c->error_message ? c->error_message : dflt);
  return buf;
}

/* The whole-body scanner's memory goes on every path (idempotent). */
static void body_release(llmrt_call_t *c) {
  if (c->body_kind == BODY_JSON) llmrt__body_end(c->pst);
}

static int gone(const llmrt_call_t *c) {
  return c->state >= CALL_COMPLETING || c->halted || !c->attempt_live;
}

static int flush_held(llmrt_call_t *c) {
  c->stream_state = STREAM_COMMITTED;
  for (unsigned i = 0; i < c->n_held; i++) {
    int r = llmrt__flow_event(c, last_plugin(c), &c->held[i]);
    if (r) return r;
    if (gone(c)) return LLMRT_ECANCELED;
  }
  c->n_held = 0;
  return 0;
}

static int upstream_event(llmrt_call_t *c, const llmrt_event_t *ev) {
  if (gone(c)) return LLMRT_ECANCELED;
  if (c->stream_state != STREAM_COMMITTED) {
    /* Lifecycle frames carry no strings we would have to copy. */
    if ((ev->type == LLMRT_EV_START || ev->type == LLMRT_EV_USAGE) && c->n_held < LLMRT__MAX_HELD) {
      c->held[c->n_held] = *ev;
      c->held[c->n_held].text = NULL;
      c->held[c->n_held].id = c->held[c->n_held].name = c->held[c->n_held].finish_reason = NULL;
      c->n_held++;
      return 0;
    }
    int r = flush_held(c);
    if (r) return r;
  }
  int r = llmrt__flow_event(c, last_plugin(c), ev);
  if (r) return r;
  if (gone(c)) return LLMRT_ECANCELED;
  return 0;
}

static int sink_event(void *user, const llmrt_event_t *ev) {
  llmrt_call_t *c = user;
  int r = upstream_event(c, ev);
  if (r && !c->decode_err) c->decode_err = r;
  return r;
}

/* ---- HTTP callbacks ---- */

static int on_head(llmrt_http_t *h, int status, const llmrt_header_t *hd, size_t n, void *user) {
  llmrt_call_t *c = user;
  if (!c->attempt_live) return LLMRT_ECANCELED;
  c->http_status = status;
  const char *ctype = "";
  for (size_t i = 0; i < n; i++) {
    if (!strcasecmp(hd[i].name, "x-request-id") || !strcasecmp(hd[i].name, "request-id"))
      llmrt__call_set_str(&c->request_id, hd[i].value, strlen(hd[i].value));
    else if (!strcasecmp(hd[i].name, "content-type"))
      ctype = hd[i].value;
  }
  llmrt_http_info_t info;
  llmrt_http_info(h, &info);
  c->timings.queued_us += info.queued_us;
  c->timings.dns_us = info.dns_us;
  c->timings.connect_us = info.connect_us;
  c->timings.tls_us = info.tls_us;
  if (!c->timings.first_byte_us) c->timings.first_byte_us = llmrt__now_us() - c->t_start_us;

  if (status >= 300 || status == 204 || status < 200) {
    /* Errors, and what is no answer at all (a redirect, no content): the
     * body is kept (bounded) for the message. */
    c->body_kind = BODY_ERROR;
  } else {
    c->stream_state = STREAM_BEFORE_CONTENT;
    c->body_kind = strstr(ctype, "text/event-stream") ? BODY_SSE : BODY_JSON;
    if (c->body_kind == BODY_SSE && !c->sse_inited) {
      llmrt__sse_init(&c->sse, c->rt->opts.max_sse_event_bytes);
      c->sse_inited = 1;
    }
    if (c->body_kind == BODY_SSE && c->rt->opts.max_sse_idle_bytes)
      c->sse.max_idle_bytes = c->rt->opts.max_sse_idle_bytes;
  }
  llmrt__pstate_init(c->pst);
  c->pst->max_idle_bytes = c->rt->opts.max_sse_idle_bytes;
  if (c->body_kind == BODY_JSON) llmrt__body_begin(c->pst, c->up->provider);
  c->in_hook++;
  for (int i = last_plugin(c); i >= 0; i--) {
    llmrt_ctx_t *x = &c->ctx[i];
    if (!x->p->desc->on_response) continue;
    int r = x->p->desc->on_response(x, status, hd, n);
    if (gone(c)) {
      c->in_hook--;
      return LLMRT_ECANCELED;
    }
    if (r < 0) {
      char msg[256];
      snprintf(msg, sizeof msg, "plugin %s: on_response failed: %s", x->p->label, llmrt_strerror(r));
      llmrt__call_set_str(&c->error_message, msg, strlen(msg));
      c->decode_err = r;
      c->in_hook--;
      return r;
    }
  }
  c->in_hook--;
  return 0;
}

static void redact_pieces(llmrt_call_t *c);

static int on_sse(void *user, const llmrt__sse_event_t *ev) {
  llmrt_call_t *c = user;
  if (c->stream_done) return 0;
  llmrt__sink_t sink = {c, sink_event, sink_meta};
  int r = c->up->provider->decode_event(c->pst, ev, &sink);
  if (r == LLMRT__STREAM_DONE) {
    c->stream_done = 1;
    return 0;
  }
  if (r < 0) {
    if (!c->decode_err) {
      c->decode_err = r;
      char msg[512], why[256];
      if (r == LLMRT_EBADRESPONSE || r == LLMRT_EIDLETIMEOUT)
        snprintf(msg, sizeof msg, "upstream '%s' sent %s (SSE event '%.*s')", up_name(c),
                 problem(c, why, sizeof why, "malformed JSON"),
                 (int)(ev->event_len > 64 ? 64 : ev->event_len), ev->event);
      else {
        redact_pieces(c);
        snprintf(msg, sizeof msg, "upstream '%s' sent an error in the stream: %s%s%s", up_name(c),
                 c->error_type ? c->error_type : "", c->error_type ? ": " : "",
                 c->error_message ? c->error_message : llmrt_strerror(r));
      }
      llmrt__utf8_trim(msg);
      if (r != LLMRT_ECANCELED) llmrt__call_set_str(&c->error_message, msg, strlen(msg));
    }
    return r;
  }
  return 0;
}

static int on_body(llmrt_http_t *h, const char *data, size_t len, void *user) {
  llmrt_call_t *c = user;
  if (!c->attempt_live) return LLMRT_ECANCELED;
  switch (c->body_kind) {
  case BODY_SSE: {
    int r = llmrt__sse_feed(&c->sse, data, len, on_sse, c);
    if (r == LLMRT_EBODYSIZE)
      return body_fail(c, r, "sent an SSE line or event larger than max_sse_event_bytes (%zu)",
                       c->sse.max_event_bytes);
    if (r == LLMRT_EIDLETIMEOUT)
      return body_fail(c, r,
                       "sent %zu bytes of SSE comments and empty events without content "
                       "(max_sse_idle_bytes %zu)",
                       c->sse.noise, c->sse.max_idle_bytes);
    return r < 0 ? r : 0;
  }
  case BODY_JSON: {
    /* Checked before buffering, and scanned as it arrives: loop time per
     * read is bounded by the read, memory by the limit. */
    if (len > max_json_body(c) - c->body_in.len)
      return body_fail(c, LLMRT_EBODYSIZE,
                       "sent a JSON response larger than max_json_body_bytes (%zu)",
                       max_json_body(c));
    int r = llmrt__buf_append(&c->body_in, data, len);
    llmrt__sink_t sink = {c, sink_event, sink_meta};
    if (!r) r = llmrt__body_feed(c->pst, c->body_in.data, c->body_in.len, &sink);
    if (r == LLMRT_EBADRESPONSE) {
      char why[256];
      return body_fail(c, r, "sent %s", problem(c, why, sizeof why, "malformed JSON"));
    }
    return r;
  }
  case BODY_ERROR:
    if (c->body_in.len + len > MAX_ERROR_BODY) len = MAX_ERROR_BODY - c->body_in.len;
    /* fall through */
  default:
    return llmrt__buf_append(&c->body_in, data, len);
  }
}

static void finish_success(llmrt_call_t *c) {
  int r = flush_held(c);
  if (c->state >= CALL_COMPLETING || c->halted) return;
  if (r) {
    llmrt__call_error(c, last_plugin(c), r, NULL);
    return;
  }
  llmrt__call_complete(c, 0, NULL);
}

/* What came from the network goes into a message only without the key: a
 * message cut to length must not leave a fragment of it. */
static void redact_pieces(llmrt_call_t *c) {
  const char *key = llmrt__call_key(c);
  llmrt__redact(&c->error_type, key);
  llmrt__redact(&c->error_message, key);
  llmrt__redact(&c->att_msg, key);
}

static void finish_error_body(llmrt_call_t *c) {
  int st = c->http_status;
  if (st < 400) {
    /* Not an error the provider described, and no answer either. */
    const char *why = st >= 300   ? "a redirect (llmrt does not follow redirects: check base_url)"
                      : st == 204 ? "no content"
                                  : "an unexpected status";
    llmrt__call_error(c, last_plugin(c), LLMRT_EHTTPSTATUS, "upstream '%s' answered HTTP %d: %s",
                      up_name(c), st, why);
    return;
  }
  llmrt__sink_t sink = {c, sink_event, sink_meta};
  int code = c->up->provider->decode_error(st, c->body_in.data ? c->body_in.data : "",
                                           c->body_in.len, &sink);
  redact_pieces(c);
  llmrt__call_error(c, last_plugin(c), code, "upstream '%s' returned HTTP %d: %s%s%s", up_name(c),
                    st, c->error_type ? c->error_type : "", c->error_type ? ": " : "",
                    c->error_message ? c->error_message : "(no message)");
}

static void finish_json(llmrt_call_t *c) {
  llmrt__sink_t sink = {c, sink_event, sink_meta};
  c->attempt_live = 1; /* events of the full body still flow through the chain */
  int r = llmrt__body_decode(c->pst, c->body_in.data ? c->body_in.data : "", c->body_in.len,
                             &sink);
  body_release(c);
  char why[256];
  if (c->state >= CALL_COMPLETING || c->halted) {
  } else if (r < 0 && c->decode_err && c->decode_err != LLMRT_EBADRESPONSE) {
    c->attempt_live = 0;
    llmrt__call_error(c, last_plugin(c), c->decode_err, NULL);
  } else if (r == LLMRT_EBADRESPONSE) {
    c->attempt_live = 0;
    redact_pieces(c);
    llmrt__call_error(c, last_plugin(c), r, "upstream '%s' sent %s", up_name(c),
                      problem(c, why, sizeof why, "a malformed JSON response"));
  } else if (r < 0) { /* an error object in a 2xx body */
    c->attempt_live = 0;
    redact_pieces(c);
    char type[128];
    snprintf(type, sizeof type, "%s", c->error_type ? c->error_type : "");
    llmrt__call_error(c, last_plugin(c), r, "upstream '%s' sent an error in a JSON response: %s%s%s",
                      up_name(c), type, type[0] ? ": " : "",
                      problem(c, why, sizeof why, llmrt_strerror(r)));
  } else {
    finish_success(c);
  }
  c->attempt_live = 0;
}

void llmrt__attempt_finish(llmrt_call_t *c) {
  int status = c->att_status;
  if (status == 0 && c->body_kind == BODY_ERROR) {
    finish_error_body(c);
  } else if (status == 0 && c->body_kind == BODY_JSON) {
    finish_json(c);
  } else if (status == 0 && c->body_kind == BODY_SSE) {
    if (!c->stream_done) {
      llmrt__call_error(c, last_plugin(c), LLMRT_ETRUNCATED,
                        "stream from upstream '%s' ended before it was complete (%zu bytes of text "
                        "received)",
                        up_name(c), c->text.len);
    } else {
      c->attempt_live = 1;
      finish_success(c);
      c->attempt_live = 0;
    }
  } else if (c->decode_err) {
    redact_pieces(c);
    llmrt__call_error(c, last_plugin(c), c->decode_err, NULL);
  } else {
    redact_pieces(c);
    llmrt__call_error(c, last_plugin(c), status, "upstream '%s': %s", up_name(c),
                      c->att_msg ? c->att_msg : llmrt_strerror(status));
  }
}

static void on_done(llmrt_http_t *h, int status, const char *errmsg, void *user) {
  llmrt_call_t *c = user;
  if (!c->attempt_live || c->state >= CALL_COMPLETING) {
    llmrt__call_http_gone(c);
    return;
  }
  c->attempt_live = 0;
  c->http_paused = 0;
  c->first_token_at = 0;
  llmrt__measure_upstream_end(c);
  llmrt__call_arm_timer(c);
  c->att_status = status;
  if (status && errmsg) llmrt__call_set_str(&c->att_msg, errmsg, strlen(errmsg));
  c->http = NULL;
  if (llmrt__flow_queued(c)) {
    /* Paused events go first; the outcome follows when they are out. */
    c->after_drain = AFTER_ATTEMPT;
  } else {
    c->in_hook++;
    llmrt__attempt_finish(c);
    c->in_hook--;
  }
  llmrt__call_http_gone(c);
}

/* ---- Starting an attempt ---- */

#define MAX_HDRS 128

/* Adds (or, for a name already there past `fixed`, replaces; for value
 * NULL, removes) a header. */
static size_t put_header(llmrt_header_t *h, size_t n, size_t fixed, const char *name,
                         const char *value) {
  for (size_t i = fixed; i < n; i++) {
    if (strcasecmp(h[i].name, name)) continue;
    if (value) {
      h[i].value = value;
      return n;
    }
    memmove(&h[i], &h[i + 1], (n - i - 1) * sizeof *h);
    return n - 1;
  }
  if (!value || n >= MAX_HDRS) return n;
  h[n] = (llmrt_header_t){name, value};
  return n + 1;
}

/* The URL and the headers of an attempt: strings go into c->hdrs, the URL
 * first; pointers are taken once it is final. The provider's headers, then
 * the upstream's, the request's and the plugins': a later one of the same
 * name replaces an earlier one. */
static int build_headers(llmrt_call_t *c, const llmrt__upstream_t *up, const char *key,
                         llmrt_header_t *h, size_t *out_n) {
  llmrt__buf_reset(&c->hdrs);
  int r = llmrt__buf_printf(&c->hdrs, "%s%s", up->base_url, up->provider->path);
  size_t auth_off = c->hdrs.len + 1;
  if (!r) r = llmrt__buf_append(&c->hdrs, "", 1);
  if (!r && key) r = llmrt__buf_printf(&c->hdrs, "%s%s", up->provider->auth_prefix, key);
  if (r) return LLMRT_ENOMEM;
  size_t n = 0, fixed;
  h[n++] = (llmrt_header_t){"Content-Type", "application/json"};
  h[n++] = (llmrt_header_t){"Accept", c->req.stream ? "text/event-stream" : "application/json"};
  if (key) h[n++] = (llmrt_header_t){up->provider->auth_header, c->hdrs.data + auth_off};
  fixed = n;
  for (size_t i = 0; i < up->provider->n_extra_headers; i++)
    n = put_header(h, n, fixed, up->provider->extra_headers[i].name,
                   up->provider->extra_headers[i].value);
  for (size_t i = 0; i < up->n_headers; i++)
    n = put_header(h, n, fixed, up->headers[i].name, up->headers[i].value);
  for (size_t i = 0; i < c->req.n_headers; i++)
    n = put_header(h, n, fixed, c->req.headers[i].name, c->req.headers[i].value);
  for (unsigned i = 0; i < c->n_xhdrs; i++)
    n = put_header(h, n, fixed, c->xhdrs[i].name, c->xhdrs[i].value);
  *out_n = n;
  return 0;
}

void llmrt__attempt_start(llmrt_call_t *c) {
  int last = last_plugin(c);
  const llmrt__upstream_t *up = llmrt__upstream_find(c->cf, c->req.upstream);
  if (!up) {
    llmrt__call_error(c, last, LLMRT_ENOUPSTREAM, "unknown upstream '%s'",
                      c->req.upstream ? c->req.upstream : "(default)");
    return;
  }
  c->up = up;
  c->attempts++;
  const char *key = llmrt__call_key(c);
  if (!key && up->key_env) {
    llmrt__call_error(c, last, LLMRT_ENOKEY,
                      "upstream '%s': API key is not set (environment variable %s is empty)",
                      up->name, up->key_env);
    return;
  }
  char err[256] = "";
  llmrt__buf_reset(&c->body_out);
  /* Faithful forwarding: the client's own bytes when the upstream speaks
   * the protocol they were written in (types.h, raw_body). */
  int r = c->req.raw_body && c->req.raw_api && !strcmp(c->req.raw_api, up->provider->name)
              ? llmrt__raw_body(&c->req, &c->body_out, err, sizeof err)
              : up->provider->encode(&c->req, &c->body_out, err, sizeof err);
  if (r < 0) {
    llmrt__call_error(c, last, r, "encoding the request for upstream '%s': %s", up->name,
                      err[0] ? err : llmrt_strerror(r));
    return;
  }

  llmrt_header_t h[MAX_HDRS];
  size_t n;
  if ((r = build_headers(c, up, key, h, &n)) != 0) {
    llmrt__call_error(c, last, LLMRT_ENOMEM, "building the request");
    return;
  }

  llmrt_http_request_t hr;
  llmrt_http_request_init(&hr);
  hr.method = "POST";
  hr.url = c->hdrs.data; /* the URL comes first in hdrs */
  hr.headers = h;
  hr.n_headers = n;
  uv_buf_t body = uv_buf_init(c->body_out.data, (unsigned)c->body_out.len);
  hr.body = &body;
  hr.n_body = 1;
  hr.flags = LLMRT_HTTP_DECOMPRESS;
  hr.max_connections = up->max_connections;
  if (c->deadline_at) {
    uint64_t now = uv_now(c->rt->loop);
    hr.total_timeout_ms = c->deadline_at > now ? (uint32_t)(c->deadline_at - now) : 1;
  }
  llmrt__attempt_reset(c);
  c->attempt_live = 1;
  if (c->rt->opts.first_token_timeout_ms && !c->timings.first_token_us) {
    c->first_token_at = uv_now(c->rt->loop) + c->rt->opts.first_token_timeout_ms;
    llmrt__call_arm_timer(c);
  }
  llmrt_http_callbacks_t cbs = {on_head, on_body, on_done};
  llmrt_http_t *http = NULL;
  llmrt__measure_upstream_start(c);
  r = llmrt_http_request(c->rt, &hr, &cbs, c, &http);
  if (r < 0) {
    llmrt__measure_upstream_end(c);
    c->attempt_live = 0;
    c->first_token_at = 0;
    llmrt__call_error(c, last, r, "upstream '%s': cannot start the request: %s", up->name,
                      llmrt_strerror(r));
    return;
  }
  c->http = http;
  /* The application paused the call before the attempt began. */
  if (llmrt__flow_paused(c)) llmrt__attempt_pause(c, 1);
}
