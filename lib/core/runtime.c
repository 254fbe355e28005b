/* The runtime object: loop attachment, options, and the close protocol.
 *
 * Close protocol: llmrt_close marks the runtime closing and runs the closers
 * the layers registered (newest first), which end their work and start
 * closing their handles. Each open handle holds a reference (llmrt__rt_ref);
 * when the last one is dropped, the runtime closes its own idle handle and,
 * in that close callback (so never inside the caller's stack), runs the
 * user's done callback and frees itself. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

void llmrt_options_init(llmrt_options_t *o) {
  memset(o, 0, sizeof *o);
  o->connect_timeout_ms = 10000;
  o->tls_timeout_ms = 10000;
  o->first_byte_timeout_ms = 60000;
  o->idle_timeout_ms = 60000;
  o->first_token_timeout_ms = 0;
  o->total_timeout_ms = 600000;
  o->pool_max_per_origin = 64;
  o->pool_max_queue = 4096;
  o->pool_idle_timeout_ms = 60000;
  o->dns_ttl_ms = 60000;
  o->max_header_bytes = 65536;
  o->max_headers = 128;
  o->max_body_bytes = 64u << 20;
  o->log_level = LLMRT_LOG_WARN;
  o->max_json_body_bytes = 8u << 20;
  o->max_sse_event_bytes = 1u << 20;
  o->max_sse_idle_bytes = 64u << 10;
}

void llmrt_request_init(llmrt_request_t *req) {
  memset(req, 0, sizeof *req);
  /* As types.h says: fields added after ABI 2.0 (raw_body...) are read. */
  req->struct_size = sizeof *req;
  req->temperature = -1;
  req->top_p = -1;
}

static void rt_free(llmrt_t *rt) {
  llmrt__free((char *)rt->opts.ca_file);
  llmrt__free(rt->read_buf);
  if (rt->own_loop) {
    /* Every handle is closed by now; a failure here would be our bug, and
     * there is nothing better to do than leave the loop be. */
    (void)uv_loop_close(rt->loop);
  }
  llmrt__free(rt);
}

int llmrt_new(uv_loop_t *loop, const llmrt_options_t *opts, llmrt_t **out) {
  if (!out) return LLMRT_EINVAL;
  *out = NULL;
  llmrt_t *rt = llmrt__calloc(1, sizeof *rt);
  if (!rt) return LLMRT_ENOMEM;
  if (opts)
    rt->opts = *opts;
  else
    llmrt_options_init(&rt->opts);
  if (rt->opts.ca_file) {
    rt->opts.ca_file = llmrt__strdup(rt->opts.ca_file);
    if (!rt->opts.ca_file) {
      llmrt__free(rt);
      return LLMRT_ENOMEM;
    }
  }
  if (!loop) {
    int r = uv_loop_init(&rt->own_loop_storage);
    if (r) {
      llmrt__free((char *)rt->opts.ca_file);
      llmrt__free(rt);
      return r;
    }
    rt->own_loop = 1;
    loop = &rt->own_loop_storage;
  }
  rt->loop = loop;
  /* A write to a connection the peer reset raises SIGPIPE, whose default
   * action kills the process; libuv does not ignore it. Ignore it only if
   * the application left it at the default: never override its handler. */
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
  }
  uv_idle_init(loop, &rt->close_idle);
  uv_unref((uv_handle_t *)&rt->close_idle);
  rt->close_idle.data = rt;
  if (rt->opts.tls_insecure)
    llmrt__log(rt, LLMRT_LOG_WARN,
               "TLS certificate and host name verification is turned OFF (tls_insecure=1)");
  *out = rt;
  return 0;
}

uv_loop_t *llmrt_loop(llmrt_t *rt) {
  return rt->loop;
}

int llmrt_run(llmrt_t *rt, uv_run_mode mode) {
  rt->free_in_run++;
  int r = uv_run(rt->loop, mode);
  rt->free_in_run--;
  if (rt->closed && rt->own_loop && rt->free_in_run == 0) rt_free(rt);
  return r;
}

int llmrt__rt_add_closer(llmrt_t *rt, int phase, llmrt__closer_fn fn, void *arg) {
  if (phase < 0 || phase >= 4) return LLMRT_EINVAL;
  unsigned n = rt->n_closers[phase];
  if (n >= sizeof rt->closers[0] / sizeof rt->closers[0][0]) return LLMRT_ENOMEM;
  rt->closers[phase][n].fn = fn;
  rt->closers[phase][n].arg = arg;
  rt->n_closers[phase] = n + 1;
  return 0;
}

static void on_close_idle(uv_handle_t *h) {
  llmrt_t *rt = h->data;
  rt->closed = 1;
  if (rt->close_cb) rt->close_cb(rt, rt->close_user);
  /* An own loop is still inside uv_run here: llmrt_run frees it on return. */
  if (!(rt->own_loop && rt->free_in_run)) rt_free(rt);
}

static void maybe_finish(llmrt_t *rt) {
  if (rt->closing && rt->refs == 0 && !uv_is_closing((uv_handle_t *)&rt->close_idle))
    uv_close((uv_handle_t *)&rt->close_idle, on_close_idle);
}

void llmrt__rt_ref(llmrt_t *rt) {
  rt->refs++;
}

void llmrt__rt_unref(llmrt_t *rt) {
  rt->refs--;
  maybe_finish(rt);
}

void llmrt_close(llmrt_t *rt, void (*done)(llmrt_t *, void *), void *user) {
  if (!rt || rt->closing) return;
  rt->closing = 1;
  rt->close_cb = done;
  rt->close_user = user;
  /* Phase by phase: calls, then pools, then the network. Closers may drop
   * references; hold one meanwhile. */
  rt->refs++;
  for (int phase = 0; phase < 4; phase++)
    for (unsigned i = rt->n_closers[phase]; i-- > 0;) /* newest first, as before */
      rt->closers[phase][i].fn(rt, rt->closers[phase][i].arg);
  memset(rt->n_closers, 0, sizeof rt->n_closers);
  llmrt__rt_unref(rt);
}
