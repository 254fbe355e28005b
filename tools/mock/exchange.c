/* One answer of the mock, over time: an optional delay before the status
 * line (slow headers), then either a whole JSON body after the time the
 * tokens would take, or a stream paced by one timer (time to first token,
 * then one token per token_ms), with the requested fault injected after
 * `after` tokens. Optional gzip (Z_SYNC_FLUSH per event for streams).
 *
 * The exchange owns one uv_timer_t; it is freed in that timer's close
 * callback, which is also where it stops holding the mock's runtime. */
#include <stdio.h>
#include <string.h>

#include "mock_internal.h"

enum { PH_HEAD = 0, PH_FULL, PH_TOKENS, PH_STALLED, PH_RESET };
enum { AFTER_NONE = 0, AFTER_END, AFTER_EOF, AFTER_RESET };

static void on_tick(uv_timer_t *t);
static void do_tokens(mock_ex_t *ex);

static void ex_closed(uv_handle_t *h) {
  mock_ex_t *ex = h->data;
  llmrt_mock_t *m = ex->m;
  if (--ex->handles > 0) return;
  if (ex->gz) deflateEnd(&ex->z);
  mock__tokens_free(&ex->tok);
  mock__ctl_free(&ex->ctl);
  llmrt__buf_free(&ex->out);
  llmrt__buf_free(&ex->zout);
  llmrt__buf_free(&ex->rest);
  llmrt__free(ex->model);
  llmrt__free(ex->tool_name);
  llmrt__free(ex);
  m->st.active--;
  llmrt__rt_unref(m->rt); /* last: the runtime may finish closing after this */
}

/* The server side is finished (or gone): stop the timer and free later. */
static void ex_finish(mock_ex_t *ex) {
  if (ex->done) return;
  ex->done = 1;
  uv_timer_stop(&ex->timer);
  uv_close((uv_handle_t *)&ex->timer, ex_closed);
  uv_close((uv_handle_t *)&ex->pump, ex_closed);
}

static void on_abort(llmrt__sreq_t *r, int status, void *arg) {
  mock_ex_t *ex = arg;
  ex->m->st.aborted++;
  ex_finish(ex);
}

static void after_ms(mock_ex_t *ex, int phase, uint64_t ms) {
  ex->phase = phase;
  uv_timer_start(&ex->timer, on_tick, ms, 0);
}

static const char *const fault_names[] = {"none",     "reset", "stall", "malformed",
                                          "truncate", "eof",   "error"};

static void log_line(mock_ex_t *ex, int status, const char *what) {
  if (!ex->m->o.log_requests) return;
  fprintf(stderr, "mock: %s %s %s -> %d %s%s%s\n", llmrt__sreq_peer(ex->r), ex->fmt->name,
          ex->stream ? "stream" : "full", status, what, ex->ctl.fault ? " fault=" : "",
          ex->ctl.fault ? fault_names[ex->ctl.fault] : "");
}

/* ---- gzip ----------------------------------------------------------------- */

static int gz_init(mock_ex_t *ex) {
  memset(&ex->z, 0, sizeof ex->z);
  if (deflateInit2(&ex->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return LLMRT_ENOMEM;
  ex->gz = 1;
  return 0;
}

/* Compresses data into ex->zout (replacing its contents). */
static int gz_run(mock_ex_t *ex, const char *data, size_t len, int flush) {
  unsigned char chunk[8192];
  llmrt__buf_reset(&ex->zout);
  ex->z.next_in = (Bytef *)data;
  ex->z.avail_in = (uInt)len;
  do {
    ex->z.next_out = chunk;
    ex->z.avail_out = sizeof chunk;
    int zr = deflate(&ex->z, flush);
    if (zr == Z_STREAM_ERROR) return LLMRT_EDECODE;
    if (llmrt__buf_append(&ex->zout, chunk, sizeof chunk - ex->z.avail_out) != 0)
      return LLMRT_ENOMEM;
  } while (ex->z.avail_out == 0 || ex->z.avail_in > 0);
  return 0;
}

/* ---- Output --------------------------------------------------------------- */

static void ex_after(mock_ex_t *ex, int what) {
  if (what == AFTER_RESET && ex->stream && ex->phase != PH_RESET) {
    /* A reset discards whatever is still queued, in the server or in the
     * kernel: with token_ms 0 that was every token before the fault. So
     * wait until the server's queue drained (on_drain), then give the
     * kernel a moment to put on the wire what it holds back (autocorking,
     * the congestion window), and only then reset (PH_RESET). */
    if (llmrt__sreq_pending(ex->r) > 0) {
      ex->reset_blocked = 1;
      uv_timer_stop(&ex->timer);
    } else {
      after_ms(ex, PH_RESET, MOCK_RESET_GRACE_MS);
    }
    return;
  }
  if (what == AFTER_END)
    llmrt__sreq_end(ex->r);
  else
    llmrt__sreq_abort(ex->r, what == AFTER_RESET);
  ex_finish(ex);
}

/* Bytes made but not yet handed to the kernel: the server's queue and what
 * the chunk_bytes pump still holds. */
static size_t backlog(const mock_ex_t *ex) {
  return llmrt__sreq_pending(ex->r) + (ex->rest.len - ex->rest_off);
}

/* The token loop stopped at the high-water mark: go on if below it now. */
static void tokens_resume(mock_ex_t *ex) {
  if (!ex->tokens_blocked || ex->done || backlog(ex) >= MOCK_HIGH_WATER) return;
  ex->tokens_blocked = 0;
  do_tokens(ex);
}

static void on_pump(uv_idle_t *h);

/* The server's queue emptied (the client read). */
static void on_drain(llmrt__sreq_t *r, void *arg) {
  mock_ex_t *ex = arg;
  if (ex->done) return;
  if (ex->reset_blocked) {
    ex->reset_blocked = 0;
    after_ms(ex, PH_RESET, MOCK_RESET_GRACE_MS);
    return;
  }
  if (ex->pump_blocked) {
    ex->pump_blocked = 0;
    uv_idle_start(&ex->pump, on_pump);
  }
  tokens_resume(ex);
}

/* chunk_bytes: one piece per loop turn (an idle handle, not a 0 ms timer,
 * which libuv 1.44 would run again in the same turn). Each piece is its own
 * HTTP chunk, so the client's parser sees the body split that finely even
 * when TCP merges the segments. */
static void on_pump(uv_idle_t *h) {
  mock_ex_t *ex = h->data;
  if (llmrt__sreq_pending(ex->r) >= MOCK_HIGH_WATER) {
    /* The client is behind: on_drain restarts the pump. */
    uv_idle_stop(h);
    ex->pump_blocked = 1;
    return;
  }
  size_t left = ex->rest.len - ex->rest_off;
  size_t n = left < (size_t)ex->ctl.chunk_bytes ? left : (size_t)ex->ctl.chunk_bytes;
  if (n > 0 && llmrt__sreq_write(ex->r, ex->rest.data + ex->rest_off, n) != 0) {
    ex_after(ex, AFTER_EOF);
    return;
  }
  ex->rest_off += n;
  if (ex->rest_off < ex->rest.len) {
    if (ex->rest_off >= MOCK_HIGH_WATER) {
      /* Tokens keep coming while the pump sends: drop what was sent, or
       * rest would grow to the whole answer. */
      llmrt__buf_consume(&ex->rest, ex->rest_off);
      ex->rest_off = 0;
    }
    tokens_resume(ex);
    return;
  }
  uv_idle_stop(h);
  llmrt__buf_reset(&ex->rest);
  ex->rest_off = 0;
  if (ex->after_rest)
    ex_after(ex, ex->after_rest);
  else
    tokens_resume(ex);
}

static int ex_send(mock_ex_t *ex, const char *data, size_t len) {
  if (ex->ctl.chunk_bytes <= 0) return llmrt__sreq_write(ex->r, data, len);
  if (llmrt__buf_append(&ex->rest, data, len) != 0) return LLMRT_ENOMEM;
  if (!ex->pump_blocked) uv_idle_start(&ex->pump, on_pump);
  return 0;
}

static int ex_write(mock_ex_t *ex, const char *data, size_t len) {
  if (!ex->gz) return ex_send(ex, data, len);
  int rc = gz_run(ex, data, len, Z_SYNC_FLUSH);
  return rc ? rc : ex_send(ex, ex->zout.data, ex->zout.len);
}

/* Ends (AFTER_END) or cuts the response once everything queued was sent. */
static void ex_then(mock_ex_t *ex, int what) {
  if (ex->rest.len > ex->rest_off) {
    ex->after_rest = what;
    uv_timer_stop(&ex->timer);
    return;
  }
  ex_after(ex, what);
}

/* Ends the HTTP response cleanly (the gzip trailer first). */
static void ex_end(mock_ex_t *ex) {
  if (ex->gz && gz_run(ex, "", 0, Z_FINISH) == 0) ex_send(ex, ex->zout.data, ex->zout.len);
  ex_then(ex, AFTER_END);
}

static void ex_cut(mock_ex_t *ex, int reset) {
  ex_then(ex, reset ? AFTER_RESET : AFTER_EOF);
}

static int put_event(mock_ex_t *ex, int (*fn)(llmrt__buf_t *, const mock_ex_t *)) {
  llmrt__buf_reset(&ex->out);
  int rc = fn(&ex->out, ex);
  return rc ? rc : ex_write(ex, ex->out.data, ex->out.len);
}

void mock__respond_error(llmrt_mock_t *m, llmrt__sreq_t *r, const mock_fmt_t *fmt, int status,
                         const char *msg, int32_t retry_after) {
  mock__respond_error_h(m, r, fmt, status, msg, retry_after, NULL, 0);
}

void mock__respond_error_h(llmrt_mock_t *m, llmrt__sreq_t *r, const mock_fmt_t *fmt, int status,
                           const char *msg, int32_t retry_after, const llmrt_header_t *extra,
                           size_t n_extra) {
  llmrt__buf_t body;
  char ra[24], rid[40];
  llmrt__buf_init(&body);
  snprintf(rid, sizeof rid, "req_mock%016llx", (unsigned long long)++m->seq);
  llmrt_header_t h[8] = {{"Content-Type", "application/json"}, {fmt->request_id_header, rid}};
  size_t n = 2;
  if (retry_after >= 0) {
    snprintf(ra, sizeof ra, "%d", (int)retry_after);
    h[n].name = "Retry-After";
    h[n++].value = ra;
  }
  for (size_t i = 0; i < n_extra && n < sizeof h / sizeof h[0]; i++) h[n++] = extra[i];
  m->st.errors++;
  if (m->o.log_requests)
    fprintf(stderr, "mock: %s %s %s -> %d%s%s\n", llmrt__sreq_peer(r), llmrt__sreq_method(r),
            llmrt__sreq_path(r), status, msg ? " " : "", msg ? msg : "");
  if (fmt->error_body(&body, status, msg) != 0) {
    llmrt__sreq_abort(r, 0);
  } else {
    llmrt__sreq_respond(r, status, h, n, body.data, body.len);
  }
  llmrt__buf_free(&body);
}

static void do_head(mock_ex_t *ex) {
  if (ex->ctl.status) {
    ex->m->st.faults++;
    log_line(ex, ex->ctl.status, "(status)");
    llmrt_header_t xh[3];
    char xbuf[128];
    size_t nx = mock__resil_error_headers(&ex->ctl.rs, xh, xbuf, sizeof xbuf);
    mock__respond_error_h(ex->m, ex->r, ex->fmt, ex->ctl.status, NULL, ex->ctl.retry_after, xh, nx);
    ex_finish(ex);
    return;
  }
  uint64_t gen_ms = ex->ctl.ttft_ms + (uint64_t)ex->ctl.token_ms * (ex->tok.n ? ex->tok.n - 1 : 0);
  if (!ex->stream) {
    after_ms(ex, PH_FULL, gen_ms);
    return;
  }
  int gz = ex->ctl.gzip == 1 && llmrt__sreq_accepts_gzip(ex->r);
  llmrt_header_t h[4 + MOCK_RL_MAX_HEADERS] = {{"Content-Type", "text/event-stream; charset=utf-8"},
                                               {"Cache-Control", "no-cache"},
                                               {ex->fmt->request_id_header, ex->req_id}};
  size_t n = 3;
  if (gz) {
    h[n].name = "Content-Encoding";
    h[n++].value = "gzip";
  }
  n = mock__rl_append(&ex->rlh, h, n);
  if ((gz && gz_init(ex) != 0) || llmrt__sreq_start(ex->r, 200, h, n) != 0 ||
      put_event(ex, ex->fmt->stream_start) != 0) {
    ex_cut(ex, 0);
    return;
  }
  ex->m->st.completions++;
  ex->m->st.streams++;
  log_line(ex, 200, "");
  after_ms(ex, PH_TOKENS, ex->ctl.ttft_ms);
}

static void do_full(mock_ex_t *ex) {
  mock_ctl_t *c = &ex->ctl;
  if (c->fault == MOCK_FAULT_RESET || c->fault == MOCK_FAULT_EOF) {
    ex->m->st.faults++;
    ex_cut(ex, c->fault == MOCK_FAULT_RESET);
    return;
  }
  if (c->fault == MOCK_FAULT_STALL) {
    ex->m->st.faults++;
    ex->phase = PH_STALLED; /* until the client leaves or the mock stops */
    return;
  }
  if (c->fault == MOCK_FAULT_ERROR) {
    ex->m->st.faults++;
    mock__respond_error(ex->m, ex->r, ex->fmt, ex->api == MOCK_API_ANTHROPIC ? 529 : 500, NULL, -1);
    ex_finish(ex);
    return;
  }
  llmrt__buf_reset(&ex->out);
  if (ex->fmt->full(&ex->out, ex) != 0) {
    ex_cut(ex, 0);
    return;
  }
  const char *body = ex->out.data;
  size_t len = ex->out.len;
  int gz = c->gzip != 0 && llmrt__sreq_accepts_gzip(ex->r);
  if (c->fault == MOCK_FAULT_MALFORMED) {
    ex->m->st.faults++;
    len /= 2; /* valid HTTP, invalid JSON */
    gz = 0;
  }
  if (gz) {
    if (gz_init(ex) != 0 || gz_run(ex, body, len, Z_FINISH) != 0) {
      ex_cut(ex, 0);
      return;
    }
    body = ex->zout.data;
    len = ex->zout.len;
  }
  llmrt_header_t h[3 + MOCK_RL_MAX_HEADERS] = {{"Content-Type", "application/json"},
                                               {ex->fmt->request_id_header, ex->req_id},
                                               {"Content-Encoding", "gzip"}};
  size_t hn = mock__rl_append(&ex->rlh, h, gz ? 3 : 2);
  ex->m->st.completions++;
  ex->m->st.tokens += ex->tok.n;
  log_line(ex, 200, "");
  if (c->fault == MOCK_FAULT_TRUNCATE || c->chunk_bytes > 0) {
    /* The head with the whole length, then the body in pieces; for
     * truncate only half of it, then close. */
    char cl[24];
    snprintf(cl, sizeof cl, "%zu", len);
    llmrt_header_t th[4 + MOCK_RL_MAX_HEADERS] = {h[0], h[1], {"Content-Length", cl}, h[2]};
    size_t tn = mock__rl_append(&ex->rlh, th, gz ? 4 : 3);
    int trunc = c->fault == MOCK_FAULT_TRUNCATE;
    if (trunc) ex->m->st.faults++;
    if (llmrt__sreq_start(ex->r, 200, th, tn) != 0 ||
        ex_send(ex, body, trunc ? len / 2 : len) != 0) {
      ex_cut(ex, 0);
      return;
    }
    ex_then(ex, trunc ? AFTER_EOF : AFTER_END);
    return;
  }
  llmrt__sreq_respond(ex->r, 200, h, hn, body, len);
  ex_finish(ex);
}

/* Applies the stream fault now; returns 1 if the stream goes on. */
static int stream_fault(mock_ex_t *ex) {
  ex->m->st.faults++;
  switch (ex->ctl.fault) {
  case MOCK_FAULT_RESET:
    ex_cut(ex, 1);
    return 0;
  case MOCK_FAULT_EOF:
    ex_cut(ex, 0);
    return 0;
  case MOCK_FAULT_STALL:
    ex->phase = PH_STALLED;
    return 0;
  case MOCK_FAULT_TRUNCATE:
    ex_end(ex);
    return 0;
  case MOCK_FAULT_ERROR:
    if (put_event(ex, ex->fmt->stream_error) != 0) {
      ex_cut(ex, 0);
      return 0;
    }
    ex_end(ex);
    return 0;
  case MOCK_FAULT_MALFORMED:
    if (put_event(ex, ex->fmt->stream_malformed) != 0) {
      ex_cut(ex, 0);
      return 0;
    }
    ex->ctl.fault = MOCK_FAULT_NONE; /* once; the stream goes on */
    return 1;
  }
  return 1;
}

static void do_tokens(mock_ex_t *ex) {
  for (;;) {
    if (backlog(ex) >= MOCK_HIGH_WATER) {
      /* The client reads slower than we make tokens: wait for on_drain (or
       * the pump) instead of queueing the whole answer in memory. */
      ex->tokens_blocked = 1;
      return;
    }
    if (ex->ctl.fault && ex->sent == ex->fault_at && !stream_fault(ex)) return;
    if (ex->sent == ex->tok.n) {
      if (put_event(ex, ex->fmt->stream_finish) != 0) {
        ex_cut(ex, 0);
        return;
      }
      ex_end(ex);
      return;
    }
    size_t start = ex->sent ? ex->tok.ends[ex->sent - 1] : 0;
    size_t end = ex->tok.ends[ex->sent];
    llmrt__buf_reset(&ex->out);
    if (ex->fmt->stream_token(&ex->out, ex, ex->tok.text.data + start, end - start) != 0 ||
        ex_write(ex, ex->out.data, ex->out.len) != 0) {
      ex_cut(ex, 0);
      return;
    }
    ex->sent++;
    ex->m->st.tokens++;
    if (ex->ctl.token_ms > 0 && ex->sent < ex->tok.n) {
      after_ms(ex, PH_TOKENS, ex->ctl.token_ms);
      return;
    }
  }
}

static void on_tick(uv_timer_t *t) {
  mock_ex_t *ex = t->data;
  switch (ex->phase) {
  case PH_HEAD:
    do_head(ex);
    break;
  case PH_FULL:
    do_full(ex);
    break;
  case PH_TOKENS:
    do_tokens(ex);
    break;
  case PH_RESET:
    ex_after(ex, AFTER_RESET);
    break;
  default:
    break;
  }
}

void mock__ex_run(mock_ex_t *ex) {
  llmrt_mock_t *m = ex->m;
  llmrt__buf_init(&ex->out);
  llmrt__buf_init(&ex->zout);
  llmrt__buf_init(&ex->rest);
  uv_timer_init(m->loop, &ex->timer);
  ex->timer.data = ex;
  uv_idle_init(m->loop, &ex->pump);
  ex->pump.data = ex;
  ex->handles = 2;
  llmrt__rt_ref(m->rt);
  m->st.active++;
  if (m->st.active > m->st.active_max) m->st.active_max = m->st.active;
  if (ex->ctl.after < 0)
    ex->fault_at = ex->tok.n / 2;
  else
    ex->fault_at = (size_t)ex->ctl.after > ex->tok.n ? ex->tok.n : (size_t)ex->ctl.after;
  llmrt__sreq_on_abort(ex->r, on_abort, ex);
  llmrt__sreq_on_drain(ex->r, on_drain, ex);
  after_ms(ex, PH_HEAD, ex->ctl.head_ms);
}

const char *mock__finish_name(int api, int finish) {
  static const char *const names[2][3] = {{"stop", "length", "tool_calls"},
                                          {"end_turn", "max_tokens", "tool_use"}};
  return names[api][finish];
}

int64_t mock__output_tokens(const mock_ex_t *ex) {
  return (int64_t)ex->tok.n;
}
