/* The gateway's server: endpoints, configuration (start, check, reload),
 * metrics and graceful shutdown. Each LLM request goes to gw_call.c. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gw_internal.h"
#include "llm/json.h"

/* The Prometheus exposition of GET /metrics: the runtime's metrics (its own
 * and every plugin's, llmrt_metrics_prometheus) and the gateway's counters. */
static int gw_metrics_exposition(llmrt_gw_t *gw, llmrt__buf_t *b) {
  char *rt_text = NULL;
  size_t rt_len = 0;
  if (llmrt_metrics_prometheus(gw->rt, &rt_text, &rt_len) == 0 && rt_text) {
    int rc = llmrt__buf_append(b, rt_text, rt_len);
    llmrt_free(rt_text);
    if (rc) return rc;
  }
  const llmrt_gw_stats_t *s = &gw->st;
  uint64_t ended = s->ok + s->failed;
  /* Requests the HTTP layer refused before the gateway saw them (a
   * compression bomb's 413, 431, a corrupt body's 400) count as rejected
   * too: they are what an operator watches this counter for. */
  llmrt__server_stats_t ss;
  llmrt__server_stats(gw->srv, &ss);
  return llmrt__buf_printf(
      b,
      "# HELP llmrt_gateway_requests_total Requests received on the gateway's endpoints.\n"
      "# TYPE llmrt_gateway_requests_total counter\n"
      "llmrt_gateway_requests_total %llu\n"
      "# HELP llmrt_gateway_calls_total LLM calls the gateway ended, by outcome.\n"
      "# TYPE llmrt_gateway_calls_total counter\n"
      "llmrt_gateway_calls_total{outcome=\"ok\"} %llu\n"
      "llmrt_gateway_calls_total{outcome=\"error\"} %llu\n"
      "# HELP llmrt_gateway_client_cancels_total Calls cancelled because the client left.\n"
      "# TYPE llmrt_gateway_client_cancels_total counter\n"
      "llmrt_gateway_client_cancels_total %llu\n"
      "# HELP llmrt_gateway_rejected_total Requests the gateway answered itself with 4xx "
      "(auth, body, route, limits).\n"
      "# TYPE llmrt_gateway_rejected_total counter\n"
      "llmrt_gateway_rejected_total %llu\n"
      "# HELP llmrt_gateway_backpressure_pauses_total Calls paused for a slow client.\n"
      "# TYPE llmrt_gateway_backpressure_pauses_total counter\n"
      "llmrt_gateway_backpressure_pauses_total %llu\n"
      "# HELP llmrt_gateway_in_flight_calls Calls running now.\n"
      "# TYPE llmrt_gateway_in_flight_calls gauge\n"
      "llmrt_gateway_in_flight_calls %u\n"
      "# HELP llmrt_gateway_access_log_dropped_total Access log lines dropped (the log fell "
      "behind).\n"
      "# TYPE llmrt_gateway_access_log_dropped_total counter\n"
      "llmrt_gateway_access_log_dropped_total %llu\n"
      "# HELP llmrt_gateway_overhead_seconds The gateway's own time outside the upstream "
      "exchange, per call.\n"
      "# TYPE llmrt_gateway_overhead_seconds summary\n"
      "llmrt_gateway_overhead_seconds_sum %.6f\n"
      "llmrt_gateway_overhead_seconds_count %llu\n",
      (unsigned long long)s->requests, (unsigned long long)s->ok, (unsigned long long)s->failed,
      (unsigned long long)s->cancelled, (unsigned long long)(s->rejected + ss.rejected),
      (unsigned long long)s->paused, s->in_flight, (unsigned long long)gw->log_dropped,
      s->overhead_us_sum / 1e6, (unsigned long long)ended);
}

static void respond_text(llmrt__sreq_t *r, int status, const char *type, const char *body,
                         size_t len) {
  llmrt_header_t h[] = {{"Content-Type", type}};
  llmrt__sreq_respond(r, status, h, 1, body, len);
}

/* The routes key may use (all for NULL: open mode): a key restricted to
 * some routes is not shown the others. */
static void models(llmrt_gw_t *gw, llmrt__sreq_t *r, const gw_key_t *key) {
  llmrt__buf_t b;
  llmrt__buf_init(&b);
  int rc = llmrt__buf_puts(&b, "{\"object\":\"list\",\"data\":[");
  size_t shown = 0;
  for (size_t i = 0; !rc && i < gw->cf->n_routes; i++) {
    const gw_route_t *rt = &gw->cf->routes[i];
    if (!llmrt__gw_key_allows(key, rt->name) && !llmrt__gw_key_allows(key, rt->route)) continue;
    rc = llmrt__buf_puts(&b, shown++ ? ",{\"id\":" : "{\"id\":");
    if (!rc) rc = llmrt__jw_string(&b, rt->name, strlen(rt->name));
    /* Both SDKs' model lists: OpenAI reads object/owned_by, Anthropic
     * type/display_name. */
    if (!rc) rc = llmrt__buf_puts(&b, ",\"object\":\"model\",\"type\":\"model\",\"owned_by\":");
    if (!rc) rc = llmrt__jw_string(&b, rt->upstream, strlen(rt->upstream));
    if (!rc) rc = llmrt__buf_puts(&b, ",\"display_name\":");
    if (!rc) rc = llmrt__jw_string(&b, rt->name, strlen(rt->name));
    if (!rc) rc = llmrt__buf_puts(&b, ",\"created\":0}");
  }
  if (!rc) rc = llmrt__buf_puts(&b, "],\"has_more\":false}");
  if (rc)
    respond_text(r, 500, "text/plain", "out of memory\n", 14);
  else
    respond_text(r, 200, "application/json", b.data, b.len);
  llmrt__buf_free(&b);
}

/* 1 with *key the client's (NULL in open mode), or 0: no valid key. */
static int authorized(llmrt_gw_t *gw, llmrt__sreq_t *r, const gw_key_t **key) {
  *key = NULL;
  if (gw->cf->open) return 1;
  size_t len;
  const char *k = llmrt__gw_presented_key(r, &len);
  return k && (*key = llmrt__gw_key_find(gw->cf, k, len)) != NULL;
}

static void on_request(llmrt__server_t *s, llmrt__sreq_t *r, void *user) {
  (void)s;
  llmrt_gw_t *gw = user;
  const char *m = llmrt__sreq_method(r), *p = llmrt__sreq_path(r);
  gw->st.requests++;
  int post = !strcmp(m, "POST"), get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
  if (!strcmp(p, "/v1/chat/completions") || !strcmp(p, "/chat/completions")) {
    if (!post) {
      llmrt__gw_respond_error(r, GW_OPENAI, 405, NULL, "use POST");
      return;
    }
    if (gw->shutting_down) {
      llmrt__gw_respond_error(r, GW_OPENAI, 503, NULL, "the gateway is shutting down");
      return;
    }
    return llmrt__gw_handle_llm(gw, r, GW_OPENAI);
  }
  if (!strcmp(p, "/v1/messages") || !strcmp(p, "/messages")) {
    if (!post) {
      llmrt__gw_respond_error(r, GW_ANTHROPIC, 405, NULL, "use POST");
      return;
    }
    if (gw->shutting_down) {
      llmrt__gw_respond_error(r, GW_ANTHROPIC, 503, NULL, "the gateway is shutting down");
      return;
    }
    return llmrt__gw_handle_llm(gw, r, GW_ANTHROPIC);
  }
  if (!get) return respond_text(r, 405, "text/plain", "method not allowed\n", 19);
  if (!strcmp(p, "/healthz")) return respond_text(r, 200, "text/plain", "ok\n", 3);
  if (!strcmp(p, "/readyz")) {
    if (gw->shutting_down) return respond_text(r, 503, "text/plain", "shutting down\n", 14);
    return respond_text(r, 200, "text/plain", "ready\n", 6);
  }
  if (!strcmp(p, "/v1/models") || !strcmp(p, "/models")) {
    int proto = llmrt__sreq_header(r, "anthropic-version") ? GW_ANTHROPIC : GW_OPENAI;
    const gw_key_t *key;
    if (!authorized(gw, r, &key)) {
      llmrt__gw_respond_error(r, proto, 401, NULL, "missing or invalid API key");
      return;
    }
    return models(gw, r, key);
  }
  if (!strcmp(p, "/metrics")) {
    llmrt__buf_t b;
    llmrt__buf_init(&b);
    if (gw_metrics_exposition(gw, &b))
      respond_text(r, 500, "text/plain", "out of memory\n", 14);
    else
      respond_text(r, 200, LLMRT_METRICS_CONTENT_TYPE, b.data, b.len);
    llmrt__buf_free(&b);
    return;
  }
  respond_text(r, 404, "application/json",
               "{\"error\":{\"message\":\"not found\",\"type\":\"not_found_error\"}}", 58);
}

/* What the HTTP layer refuses on an LLM endpoint (a body over the limit, a
 * compression bomb, an unknown or corrupt Content-Encoding) is answered in
 * that endpoint's provider's error format, like the gateway's own 400s. */
static const char *reject_body(void *user, const char *path, int status, llmrt__buf_t *out) {
  (void)user;
  int proto;
  if (!strcmp(path, "/v1/chat/completions") || !strcmp(path, "/chat/completions"))
    proto = GW_OPENAI;
  else if (!strcmp(path, "/v1/messages") || !strcmp(path, "/messages"))
    proto = GW_ANTHROPIC;
  else
    return NULL;
  const char *msg = status == 413   ? "the request body is larger than max_body_bytes (counted "
                                      "after Content-Encoding is decoded)"
                    : status == 415 ? "unsupported Content-Encoding (gzip, deflate, zstd or "
                                      "identity)"
                    : status == 431 ? "the request's headers are too large"
                    : status == 401 ? "missing or invalid API key"
                    : status == 400 ? "the request body could not be decoded (corrupt or "
                                      "truncated Content-Encoding)"
                                    : "the request could not be read";
  return llmrt__gw_error_body(out, proto, status, NULL, msg) ? NULL : "application/json";
}

/* A compressed body on an LLM endpoint without a valid key is refused
 * (401) before it is received and decoded: decoding up to max_body_bytes
 * holds the loop (some 100 ms for 16 MiB), which a client without a key
 * must not be able to make the gateway do over and over. */
static int head_check(void *user, llmrt__sreq_t *r) {
  llmrt_gw_t *gw = user;
  const char *ce = llmrt__sreq_header(r, "content-encoding");
  if (!ce || !*ce || !strcasecmp(ce, "identity")) return 0;
  const char *p = llmrt__sreq_path(r);
  if (strcmp(p, "/v1/chat/completions") && strcmp(p, "/chat/completions") &&
      strcmp(p, "/v1/messages") && strcmp(p, "/messages"))
    return 0;
  const gw_key_t *key;
  return authorized(gw, r, &key) ? 0 : 401;
}

static void server_opts(const gw_conf_t *cf, llmrt__server_opts_t *o) {
  llmrt__server_opts_init(o);
  o->host = cf->host;
  o->port = cf->port;
  o->tls_cert = cf->tls_cert;
  o->tls_key = cf->tls_key;
  o->max_body_bytes = cf->max_body_bytes;
  o->max_header_bytes = cf->max_header_bytes;
  o->max_headers = cf->max_headers;
  o->idle_timeout_ms = cf->idle_timeout_ms;
  o->max_connections = cf->max_connections;
  o->max_requests_per_connection = cf->max_requests_per_connection;
  o->decode_gzip_body = 1;
  o->decode_zstd_body = 1;
  o->reject_body = reject_body;
  o->head_check = head_check;
}

/* Opened at start and reload only (not per line). Lines written before a
 * reload may still be pending on the old descriptor: it is closed when no
 * line waits (close_old_log), else left to the process's end. */
static int open_log_fd(const gw_conf_t *cf, int *fd, char *err, size_t errlen) {
  *fd = open(cf->access_log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (*fd < 0) {
    snprintf(err, errlen, "$.access_log: cannot open \"%.128s\" for appending",
             cf->access_log_path);
    return LLMRT_EINVAL;
  }
  return 0;
}

static void swap_log(llmrt_gw_t *gw, int fd) {
  /* Lines still pending write to the old descriptor: it closes after
   * them (gw_log.c); with too many waiting it is left to the process's end
   * (never closed under a pending write, whose number could be reused). */
  if (gw->log_fd >= 0 && gw->log_pending == 0)
    close(gw->log_fd);
  else if (gw->log_fd >= 0 &&
           gw->n_old_log_fds < (int)(sizeof gw->old_log_fds / sizeof gw->old_log_fds[0]))
    gw->old_log_fds[gw->n_old_log_fds++] = gw->log_fd;
  gw->log_fd = fd;
}

static int open_log(llmrt_gw_t *gw, const gw_conf_t *cf, char *err, size_t errlen) {
  if (cf->access_log != 2) return 0;
  int fd;
  int rc = open_log_fd(cf, &fd, err, errlen);
  if (!rc) swap_log(gw, fd);
  return rc;
}

static void rt_closed(llmrt_t *rt, void *user) {
  (void)rt;
  llmrt_gw_t *gw = user;
  gw->rt_closed = 1;
}

int llmrt_gw_check(const char *json, char *err, size_t errlen) {
  gw_conf_t *cf;
  int rc = llmrt__gw_conf_parse(json, &cf, err, errlen);
  if (rc) return rc;
  uv_loop_t loop;
  uv_loop_init(&loop);
  llmrt_t *rt;
  rc = llmrt_new(&loop, NULL, &rt);
  if (!rc) {
    rc = llmrt_configure(rt, cf->runtime_json, err, errlen);
    llmrt_close(rt, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  llmrt__gw_conf_unref(cf);
  return rc;
}

int llmrt_gw_start(uv_loop_t *loop, const char *json, const char *listen, llmrt_gw_t **out,
                   char *err, size_t errlen) {
  gw_conf_t *cf;
  int rc = llmrt__gw_conf_parse(json, &cf, err, errlen);
  if (rc) return rc;
  if (listen) {
    /* The command line's address wins over the file's. */
    const char *colon = strrchr(listen, ':');
    char *end;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    size_t hl = colon ? (size_t)(colon - listen) : 0;
    const char *h = listen;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
    if (!colon || !colon[1] || *end || port > 65535 || !hl || hl >= sizeof cf->host) {
      snprintf(err, errlen, "--listen: \"%.64s\" is not ADDRESS:PORT", listen);
      llmrt__gw_conf_unref(cf);
      return LLMRT_EINVAL;
    }
    memcpy(cf->host, h, hl);
    cf->host[hl] = '\0';
    cf->port = (uint16_t)port;
  }
  llmrt_gw_t *gw = llmrt__calloc(1, sizeof *gw);
  if (!gw) {
    llmrt__gw_conf_unref(cf);
    snprintf(err, errlen, "out of memory");
    return LLMRT_ENOMEM;
  }
  gw->loop = loop;
  gw->cf = cf;
  gw->log_fd = -1;
  rc = open_log(gw, cf, err, errlen);
  if (!rc) rc = llmrt_new(loop, NULL, &gw->rt);
  if (rc) goto fail_conf;
  rc = llmrt_configure(gw->rt, cf->runtime_json, err, errlen);
  llmrt__server_opts_t o;
  server_opts(cf, &o);
  llmrt__server_cbs_t cbs = {on_request, NULL};
  if (!rc) rc = llmrt__server_start(gw->rt, &o, &cbs, gw, &gw->srv, err, errlen);
  if (rc) {
    llmrt_close(gw->rt, rt_closed, gw);
    while (!gw->rt_closed)
      uv_run(loop, UV_RUN_ONCE);
    goto fail_conf;
  }
  *out = gw;
  return 0;
fail_conf:
  if (gw->log_fd >= 0) close(gw->log_fd);
  llmrt__gw_conf_unref(cf);
  llmrt__free(gw);
  return rc;
}

uint16_t llmrt_gw_port(const llmrt_gw_t *gw) {
  return llmrt__server_port(gw->srv);
}

void llmrt_gw_stats(const llmrt_gw_t *gw, llmrt_gw_stats_t *out) {
  *out = gw->st;
}

int llmrt_gw_reload(llmrt_gw_t *gw, const char *json, char *err, size_t errlen) {
  if (gw->shutting_down) {
    snprintf(err, errlen, "the gateway is shutting down");
    return LLMRT_ESHUTDOWN;
  }
  gw_conf_t *cf;
  int rc = llmrt__gw_conf_parse(json, &cf, err, errlen);
  if (rc) return rc;
  /* The new log opens before the runtime changes: a reload that fails
   * must leave everything as it was, not the runtime on the new
   * configuration and the gateway on the old. */
  int fd = -1;
  /* Reopened even under the same name: SIGHUP after a log rotation
   * (logrotate's postrotate) must start the new file. */
  if (cf->access_log == 2) rc = open_log_fd(cf, &fd, err, errlen);
  /* New calls use the new runtime configuration; calls in flight keep the
   * one they started with (llmrt_configure). */
  if (!rc) rc = llmrt_configure(gw->rt, cf->runtime_json, err, errlen);
  if (rc) {
    if (fd >= 0) close(fd);
    llmrt__gw_conf_unref(cf);
    return rc;
  }
  if (fd >= 0) swap_log(gw, fd);
  /* Exchanges hold a reference to the configuration they started on. */
  llmrt__gw_conf_unref(gw->cf);
  gw->cf = cf;
  /* The limits apply to what is read from now on ("listen" and "tls"
   * are read at start only). */
  llmrt__server_opts_t o;
  server_opts(cf, &o);
  llmrt__server_set_limits(gw->srv, &o);
  return 0;
}

static void log_wait(uv_timer_t *t);

static void finish(llmrt_gw_t *gw) {
  if (!gw->srv_closed || !gw->rt_closed || gw->grace_open) return;
  /* Access log lines still being written hold gw: wait for them. */
  if (gw->log_pending) {
    uv_timer_init(gw->loop, &gw->grace);
    gw->grace.data = gw;
    gw->grace_open = 1;
    uv_timer_start(&gw->grace, log_wait, 5, 0);
    return;
  }
  void (*done)(llmrt_gw_t *, void *) = gw->done;
  void *user = gw->done_user;
  if (gw->log_fd >= 0) close(gw->log_fd);
  llmrt__gw_conf_unref(gw->cf);
  if (done) done(gw, user);
  llmrt__free(gw);
}

static void log_wait_closed(uv_handle_t *h) {
  llmrt_gw_t *gw = h->data;
  gw->grace_open = 0;
  finish(gw);
}

static void log_wait(uv_timer_t *t) {
  uv_close((uv_handle_t *)t, log_wait_closed);
}

static void rt_closed_fin(llmrt_t *rt, void *user) {
  (void)rt;
  llmrt_gw_t *gw = user;
  gw->rt_closed = 1;
  finish(gw);
}

static void srv_closed(llmrt__server_t *s, void *user) {
  (void)s;
  llmrt_gw_t *gw = user;
  gw->srv_closed = 1;
  /* The server held a runtime reference until now: close the runtime. */
  llmrt_close(gw->rt, rt_closed_fin, gw);
}

static void grace_closed(uv_handle_t *h) {
  llmrt_gw_t *gw = h->data;
  gw->grace_open = 0;
  finish(gw);
}

static void grace_tick(uv_timer_t *t) {
  llmrt_gw_t *gw = t->data;
  if (gw->st.in_flight > 0 && uv_now(gw->loop) >= gw->grace_deadline && !gw->cancelled_all) {
    /* What did not finish in time is cancelled; each client still gets its
     * error (a status, or an error event on a committed stream) as the
     * calls end, before the connections close. */
    gw->cancelled_all = 1;
    llmrt__gw_cancel_all(gw);
  }
  if (gw->st.in_flight > 0) return;
  /* One more tick lets the last answers reach the kernel. */
  if (!gw->quiet_ticks++) return;
  uv_timer_stop(&gw->grace);
  uv_close((uv_handle_t *)&gw->grace, grace_closed);
  llmrt__server_close(gw->srv, srv_closed, gw);
}

void llmrt_gw_shutdown(llmrt_gw_t *gw, uint32_t grace_ms, void (*done)(llmrt_gw_t *, void *),
                       void *user) {
  if (gw->shutting_down) return;
  gw->shutting_down = 1;
  gw->done = done;
  gw->done_user = user;
  if (grace_ms == UINT32_MAX) grace_ms = gw->cf->shutdown_grace_ms;
  llmrt__server_stop_accepting(gw->srv);
  uv_timer_init(gw->loop, &gw->grace);
  gw->grace.data = gw;
  gw->grace_open = 1;
  gw->grace_deadline = uv_now(gw->loop) + grace_ms;
  /* Calls in flight are watched every 20 ms until they are done or the
   * grace time is over. */
  uv_timer_start(&gw->grace, grace_tick, 0, 20);
}
