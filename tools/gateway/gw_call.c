/* One client exchange on an LLM endpoint: authenticate, decode, start the
 * call, then hand events to the client as they arrive. States: before the
 * call (answered by the gateway itself), in the call and not committed (no
 * response head sent: a failure still gets a real HTTP status), committed
 * (a stream whose head went out: a failure becomes an error event). A
 * client that reads slowly pauses the call (llmrt_call_pause) until its
 * output drains; a client that leaves cancels the call. The exchange is
 * freed in on_done, or at once when no call was started. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_internal.h"
#include "llm/json.h"

#define DEFAULT_STREAM_BUFFER (64 * 1024)
#define GW_LOG_MODEL_MAX 256 /* bytes of the client's model name in a log line */

static void ex_link(gw_ex_t *ex) {
  llmrt_gw_t *gw = ex->gw;
  ex->next = gw->exchanges;
  if (gw->exchanges) gw->exchanges->prev = ex;
  gw->exchanges = ex;
}

static void ex_unlink(gw_ex_t *ex) {
  if (ex->prev)
    ex->prev->next = ex->next;
  else if (ex->gw->exchanges == ex)
    ex->gw->exchanges = ex->next;
  if (ex->next) ex->next->prev = ex->prev;
  ex->prev = ex->next = NULL;
}

static void access_log(gw_ex_t *ex, int status, const char *error) {
  llmrt_gw_t *gw = ex->gw;
  const gw_conf_t *cf = ex->cf;
  if (!cf->access_log) return;
  int fd = cf->access_log == 2 && gw->log_fd >= 0 ? gw->log_fd : 2;
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  uint64_t total = llmrt__now_us() - ex->t_start;
  uint64_t own = total > ex->upstream_us ? total - ex->upstream_us : 0;
  int rc = llmrt__buf_printf(&b,
                             "{\"ts\":%lld,\"id\":\"%s\",\"api\":\"%s\",\"status\":%d,"
                             "\"stream\":%s,\"model\":",
                             (long long)time(NULL), ex->id,
                             ex->proto == GW_ANTHROPIC ? "anthropic" : "openai", status,
                             ex->stream ? "true" : "false");
  /* The model is the client's text: a line stays small whatever was sent
   * (a 16 MiB model name would otherwise be 16 MiB of log per request),
   * cut at a character boundary. */
  const char *m = ex->client_model ? ex->client_model : "";
  size_t ml = strlen(m);
  if (ml > GW_LOG_MODEL_MAX) {
    ml = GW_LOG_MODEL_MAX;
    while (ml && ((unsigned char)m[ml] & 0xC0) == 0x80)
      ml--;
  }
  if (!rc) rc = llmrt__jw_string(&b, m, ml);
  if (!rc) rc = llmrt__buf_puts(&b, ",\"upstream\":");
  const char *up = ex->req.upstream ? ex->req.upstream : "";
  if (!rc) rc = llmrt__jw_string(&b, up, strlen(up));
  if (!rc) rc = llmrt__buf_puts(&b, ",\"tenant\":");
  const char *t = ex->tenant ? ex->tenant : "";
  if (!rc) rc = llmrt__jw_string(&b, t, strlen(t));
  if (!rc)
    rc = llmrt__buf_printf(&b,
                           ",\"input_tokens\":%lld,\"output_tokens\":%lld,"
                           "\"total_us\":%llu,\"upstream_us\":%llu,\"gateway_us\":%llu,"
                           "\"bytes_out\":%llu",
                           (long long)ex->in_tokens, (long long)ex->out_tokens,
                           (unsigned long long)total, (unsigned long long)ex->upstream_us,
                           (unsigned long long)own, (unsigned long long)ex->bytes_out);
  if (!rc && error) {
    rc = llmrt__buf_puts(&b, ",\"error\":");
    if (!rc) rc = llmrt__jw_string(&b, error, strlen(error));
  }
  if (!rc && cf->log_prompts && ex->prompt_excerpt) {
    rc = llmrt__buf_puts(&b, ",\"prompt\":");
    if (!rc) rc = llmrt__jw_string(&b, ex->prompt_excerpt, strlen(ex->prompt_excerpt));
  }
  if (!rc) rc = llmrt__buf_puts(&b, "}\n");
  if (!rc)
    llmrt__gw_log_line(gw, fd, b.data, b.len);
  else
    gw->log_dropped++;
  llmrt__buf_free(&b);
}

static void ex_free(gw_ex_t *ex) {
  ex_unlink(ex);
  for (unsigned i = 0; i < GW_MAX_TOOLS; i++) {
    llmrt__free(ex->tools[i].id);
    llmrt__free(ex->tools[i].name);
    llmrt__buf_free(&ex->tools[i].args);
  }
  llmrt__buf_free(&ex->out);
  llmrt__gw_intake_free(ex);
  llmrt__free(ex->prompt_excerpt);
  llmrt__gw_conf_unref(ex->cf);
  llmrt__free(ex);
}

/* The exchange ends before any call: answered by the gateway itself. */
static void reject(gw_ex_t *ex, int status, const char *msg) {
  ex->gw->st.rejected++;
  if (llmrt__gw_respond_error(ex->r, ex->proto, status, NULL, msg) == LLMRT_ENOMEM)
    llmrt__sreq_abort(ex->r, 0);
  access_log(ex, status, msg);
  ex_free(ex);
}

static void on_abort(llmrt__sreq_t *r, int status, void *arg) {
  (void)r;
  (void)status;
  gw_ex_t *ex = arg;
  ex->r = NULL;
  /* The client left: the upstream call has no one to answer. */
  if (ex->call_live) {
    ex->gw->st.cancelled++;
    llmrt_cancel(ex->gw->rt, ex->call_id);
  }
}

static void on_drain(llmrt__sreq_t *r, void *arg) {
  (void)r;
  gw_ex_t *ex = arg;
  if (!ex->paused || !ex->call_live) return;
  llmrt_call_t *call = llmrt_call_get(ex->gw->rt, ex->call_id);
  ex->paused = 0;
  if (call) llmrt_call_resume(call);
}

static void on_event(llmrt_call_t *call, const llmrt_event_t *ev, void *user) {
  gw_ex_t *ex = user;
  if (!ex->r) return; /* the client is gone; the cancel is on its way */
  if (!ex->stream) {
    if (ev->type == LLMRT_EV_TOOL_CALL && llmrt__gw_tool_event(ex, ev)) llmrt_call_cancel(call);
    return;
  }
  if (llmrt__gw_stream_event(ex, ev)) {
    llmrt_call_cancel(call);
    return;
  }
  size_t limit = ex->cf->stream_buffer_bytes ? ex->cf->stream_buffer_bytes : DEFAULT_STREAM_BUFFER;
  if (!ex->paused && llmrt__sreq_pending(ex->r) > limit) {
    /* Backpressure: the upstream's socket stops being read until the
     * client has taken what is queued (on_drain). */
    if (llmrt_call_pause(call) == 0) {
      ex->paused = 1;
      ex->gw->st.paused++;
    }
  }
}

/* The HTTP status for a failed call that has not committed. */
static int fail_status(int status, const llmrt_result_t *res) {
  /* The upstream refusing the gateway's own key is not the client's fault:
   * a 401 would tell the client its gateway key is wrong. */
  if (res->http_status == 401 || res->http_status == 403) return 502;
  if (res->http_status >= 400 && res->http_status <= 599) return res->http_status;
  switch (status) {
  case LLMRT_ETIMEDOUT:
  case LLMRT_EIDLETIMEOUT:
    return 504;
  case LLMRT_ERATELIMIT:
    return 429;
  case LLMRT_EOVERLOADED:
    return 503;
  case LLMRT_EINVAL:
    return 400;
  case LLMRT_ESHUTDOWN:
    return 503;
  default:
    return 502;
  }
}

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  (void)call;
  gw_ex_t *ex = user;
  llmrt_gw_t *gw = ex->gw;
  ex->call_live = 0;
  gw->st.in_flight--;
  ex->upstream_us = res->timings.total_us;
  if (!ex->stream || !ex->in_tokens) {
    ex->in_tokens = res->input_tokens;
    ex->out_tokens = res->output_tokens;
  }
  const char *msg = res->error_message ? res->error_message : llmrt_strerror(status);
  char upmsg[128];
  int http = 200;
  if (status == 0)
    gw->st.ok++;
  else
    gw->st.failed++;
  if (ex->r) {
    llmrt__sreq_on_abort(ex->r, NULL, NULL);
    llmrt__sreq_on_drain(ex->r, NULL, NULL);
    int wrc = 0;
    if (status == 0 && ex->stream) {
      wrc = llmrt__gw_stream_end(ex, res);
    } else if (status == 0) {
      char timing[128];
      uint64_t total = llmrt__now_us() - ex->t_start;
      uint64_t own = total > ex->upstream_us ? total - ex->upstream_us : 0;
      snprintf(timing, sizeof timing, "gateway;dur=%.3f, upstream;dur=%.3f", own / 1000.0,
               ex->upstream_us / 1000.0);
      llmrt_header_t h[] = {{"Content-Type", "application/json"},
                            {"Server-Timing", timing},
                            {"x-request-id", ex->id}};
      if (llmrt__gw_whole(ex, res)) {
        wrc = llmrt__gw_respond_error(ex->r, ex->proto, 500, NULL, "out of memory");
        http = 500;
      } else {
        ex->bytes_out = ex->out.len;
        wrc = llmrt__sreq_respond(ex->r, 200, h, 3, ex->out.data, ex->out.len);
      }
    } else if (ex->committed) {
      /* After commitment the status is sent: the error is an event. */
      wrc = llmrt__gw_stream_error(ex, res->error_type, msg);
    } else {
      http = fail_status(status, res);
      const char *type = res->error_type;
      if (res->http_status == 401 || res->http_status == 403) {
        /* The upstream's own words about the gateway's key are not the
         * client's business (OpenAI's 401 quotes the key's first and last
         * characters), nor is its type (authentication_error on a 502). */
        snprintf(upmsg, sizeof upmsg,
                 "upstream '%.64s' refused the gateway's credentials (HTTP %d)",
                 ex->req.upstream ? ex->req.upstream : "", res->http_status);
        msg = upmsg;
        type = NULL;
      }
      wrc = llmrt__gw_respond_error(ex->r, ex->proto, http, type, msg);
    }
    /* An answer that could not be written (no memory) still ends the
     * exchange: the client sees the connection close, never a hang. */
    if (wrc && ex->r) llmrt__sreq_abort(ex->r, 0);
    ex->r = NULL;
  } else {
    http = 499; /* nginx's "client closed request" */
  }
  uint64_t total = llmrt__now_us() - ex->t_start;
  gw->st.overhead_us_sum += total > ex->upstream_us ? total - ex->upstream_us : 0;
  access_log(ex, http, status ? msg : NULL);
  ex_free(ex);
}

void llmrt__gw_handle_llm(llmrt_gw_t *gw, llmrt__sreq_t *r, int proto) {
  gw_ex_t *ex = llmrt__calloc(1, sizeof *ex);
  if (!ex) {
    llmrt__gw_respond_error(r, proto, 500, NULL, "out of memory");
    return;
  }
  ex->t_start = llmrt__now_us();
  ex->gw = gw;
  ex->r = r;
  ex->proto = proto;
  ex->cf = gw->cf;
  ex->cf->refs++;
  llmrt__buf_init(&ex->out);
  for (unsigned i = 0; i < GW_MAX_TOOLS; i++)
    llmrt__buf_init(&ex->tools[i].args);
  snprintf(ex->id, sizeof ex->id, "%s%llx%06llx", proto == GW_ANTHROPIC ? "msg_gw" : "chatcmpl-gw",
           (unsigned long long)time(NULL), (unsigned long long)(++gw->seq & 0xffffff));
  ex_link(ex);

  const gw_key_t *key = NULL;
  if (!ex->cf->open) {
    size_t klen;
    const char *k = llmrt__gw_presented_key(r, &klen);
    if (!k) {
      ex->r = r;
      reject(ex, 401,
             "no API key: send the gateway key as Authorization: Bearer KEY or "
             "x-api-key: KEY");
      return;
    }
    if (!(key = llmrt__gw_key_find(ex->cf, k, klen))) {
      reject(ex, 401, "invalid API key");
      return;
    }
    ex->tenant = key->tenant;
  }
  size_t len;
  const char *body = llmrt__sreq_body(r, &len);
  char err[256] = "";
  int st = llmrt__gw_intake(ex, body, len, err, sizeof err);
  if (st) {
    reject(ex, st, err[0] ? err : "out of memory");
    return;
  }
  /* A key allowed a route may use its aliases too (and one allowed an
   * alias, that name). */
  if (key && !llmrt__gw_key_allows(key, ex->route_name) &&
      !llmrt__gw_key_allows(key, ex->route_own)) {
    snprintf(err, sizeof err, "this key may not use model '%.128s'", ex->client_model);
    reject(ex, 403, err);
    return;
  }
  if ((st = llmrt__gw_header_controls(ex, err, sizeof err))) {
    reject(ex, st, err[0] ? err : "out of memory");
    return;
  }
  if (ex->cf->log_prompts && ex->req.n_messages) {
    const char *c = ex->req.messages[ex->req.n_messages - 1].content;
    if (c) ex->prompt_excerpt = llmrt__strndup(c, 200);
  }
  llmrt_callbacks_t cbs = {NULL, on_event, on_done};
  ex->t_call = llmrt__now_us();
  int rc = llmrt_call(gw->rt, &ex->req, &cbs, ex, &ex->call_id);
  if (rc) {
    snprintf(err, sizeof err, "%s",
             llmrt_errmsg(gw->rt)[0] ? llmrt_errmsg(gw->rt) : llmrt_strerror(rc));
    reject(ex, rc == LLMRT_EINVAL ? 400 : 500, err);
    return;
  }
  gw->st.calls++;
  gw->st.in_flight++;
  ex->call_live = 1;
  llmrt__sreq_on_abort(r, on_abort, ex);
  llmrt__sreq_on_drain(r, on_drain, ex);
}

void llmrt__gw_cancel_all(llmrt_gw_t *gw) {
  for (gw_ex_t *ex = gw->exchanges; ex; ex = ex->next)
    if (ex->call_live) llmrt_cancel(gw->rt, ex->call_id);
}
