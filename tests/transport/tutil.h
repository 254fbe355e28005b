/* Shared bits of the transport tests: a runtime on a private loop, a
 * loopback echo server built on llmrt__conn_accept, and a client that
 * collects what it reads. Header-only so each test stays one executable. */
#ifndef LLMRT_TEST_TUTIL_H
#define LLMRT_TEST_TUTIL_H

#include <signal.h>
#include <string.h>

#include "test.h"
#include "transport/transport.h"

static uv_loop_t t_loop;
static llmrt_t *t_rt;
static int t_rt_done;

/* Echo write buffers in flight. A closed conn runs no write callback, so
 * whatever is left is freed at teardown, once every handle is gone. */
#define T_MAX_PENDING 4096
static void *t_pending[T_MAX_PENDING];

static inline void t_pending_add(void *p) {
  for (int i = 0; i < T_MAX_PENDING; i++)
    if (!t_pending[i]) {
      t_pending[i] = p;
      return;
    }
  ASSERT(!"too many echo writes in flight");
}

static inline void t_pending_free(void *p) {
  for (int i = 0; i < T_MAX_PENDING; i++)
    if (t_pending[i] == p) t_pending[i] = NULL;
  free(p);
}

static inline void t_on_rt_done(llmrt_t *rt, void *user) {
  (void)rt;
  *(int *)user += 1;
}

static inline void t_setup_opts(const llmrt_options_t *o) {
  signal(SIGPIPE, SIG_IGN); /* a peer closing early must not kill the test */
  ASSERT_EQ(uv_loop_init(&t_loop), 0);
  t_rt_done = 0;
  ASSERT_EQ(llmrt_new(&t_loop, o, &t_rt), 0);
}

static inline void t_setup(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  t_setup_opts(&o);
}

static inline void t_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  fprintf(stderr, "handle still open: %s%s\n", uv_handle_type_name(h->type),
          uv_is_closing(h) ? " (closing)" : "");
}

/* Runs the loop dry after the runtime closed, frees what is left, and
 * checks that no handle remains. */
static inline void t_finish(void) {
  uv_run(&t_loop, UV_RUN_DEFAULT);
  ASSERT_EQ(t_rt_done, 1);
  for (int i = 0; i < T_MAX_PENDING; i++) {
    free(t_pending[i]);
    t_pending[i] = NULL;
  }
  int r = uv_loop_close(&t_loop);
  if (r) uv_walk(&t_loop, t_walk_cb, NULL);
  ASSERT_EQ(r, 0);
}

/* Closes the runtime and finishes. */
static inline void t_teardown(void) {
  llmrt_close(t_rt, t_on_rt_done, &t_rt_done);
  t_finish();
}

/* Runs the loop until *flag becomes nonzero (or the loop runs dry). */
static inline void t_run_until(const int *flag) {
  while (!*flag) {
    if (uv_run(&t_loop, UV_RUN_ONCE) == 0 && !*flag) break;
  }
  ASSERT(*flag);
}

static inline void t_close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* ---- A listening socket on 127.0.0.1 with an OS-chosen port ---- */
static inline int t_listen(uv_tcp_t *srv, uv_connection_cb cb, void *data) {
  struct sockaddr_in a;
  ASSERT_EQ(uv_ip4_addr("127.0.0.1", 0, &a), 0);
  ASSERT_EQ(uv_tcp_init(&t_loop, srv), 0);
  srv->data = data;
  ASSERT_EQ(uv_tcp_bind(srv, (const struct sockaddr *)&a, 0), 0);
  ASSERT_EQ(uv_listen((uv_stream_t *)srv, 64, cb), 0);
  struct sockaddr_in got;
  int len = sizeof got;
  ASSERT_EQ(uv_tcp_getsockname(srv, (struct sockaddr *)&got, &len), 0);
  return ntohs(got.sin_port);
}

/* ---- Echo server on llmrt__conn_accept (plain or TLS) ---- */
typedef struct {
  uv_tcp_t listener;
  int port;
  llmrt__tls_server_t *tls;
  int accepted;
  int handshakes_ok;
  int handshake_errors;
  int resumed; /* handshakes the server saw resume */
  int last_error;
} t_echo_t;

typedef struct {
  llmrt__conn_t *c;
  char *copy;
} t_echo_write_t;

static inline void t_echo_written(llmrt__conn_t *c, int status, void *arg) {
  (void)c;
  (void)status;
  t_pending_free(arg);
}

static inline void t_echo_read(llmrt__conn_t *c, int status, const char *data, size_t len,
                               void *user) {
  (void)user;
  if (status < 0) {
    llmrt__conn_close(c);
    return;
  }
  char *copy = malloc(len);
  ASSERT(copy);
  memcpy(copy, data, len);
  uv_buf_t b = uv_buf_init(copy, (unsigned)len);
  int r = llmrt__conn_write(c, &b, 1, t_echo_written, copy);
  if (r) {
    free(copy);
    llmrt__conn_close(c);
    return;
  }
  t_pending_add(copy);
}

static inline void t_echo_connect(llmrt__conn_t *c, int status, const char *msg, void *user) {
  t_echo_t *e = user;
  if (status < 0) {
    e->handshake_errors++;
    e->last_error = status;
    (void)msg;
    return;
  }
  e->handshakes_ok++;
  llmrt__conn_info_t info;
  llmrt__conn_info(c, &info);
  e->resumed += info.tls_resumed;
  int r = llmrt__conn_read_start(c);
  if (r) { /* only the allocation torture makes this fail */
    e->last_error = r;
    llmrt__conn_close(c);
  }
}

static inline void t_echo_on_connection(uv_stream_t *s, int status) {
  t_echo_t *e = s->data;
  ASSERT_EQ(status, 0);
  uv_tcp_t *tcp = llmrt__malloc(sizeof *tcp);
  ASSERT(tcp);
  ASSERT_EQ(uv_tcp_init(&t_loop, tcp), 0);
  ASSERT_EQ(uv_accept(s, (uv_stream_t *)tcp), 0);
  llmrt__conn_cbs_t cbs = {t_echo_connect, t_echo_read};
  llmrt__conn_t *c;
  e->accepted++;
  ASSERT_EQ(llmrt__conn_accept(t_rt, tcp, e->tls, 5000, &cbs, e, &c), 0);
}

static inline void t_echo_start(t_echo_t *e, llmrt__tls_server_t *tls) {
  memset(e, 0, sizeof *e);
  e->tls = tls;
  e->port = t_listen(&e->listener, t_echo_on_connection, e);
}

static inline void t_echo_stop(t_echo_t *e) {
  t_close_handle((uv_handle_t *)&e->listener);
}

/* ---- A client that writes a message and collects the reply ---- */
typedef struct {
  llmrt__conn_t *c;
  int connected; /* 1 ok, -1 failed */
  int status;
  char errmsg[512];
  char got[8192];
  size_t got_len;
  size_t want_len; /* close when this much arrived */
  int read_status;
  int done;
  int close_in_connect;
  int close_in_read;
  int reads;
  llmrt__conn_info_t info;
  const char *send;
} t_client_t;

static inline void t_client_read(llmrt__conn_t *c, int status, const char *data, size_t len,
                                 void *user) {
  t_client_t *t = user;
  t->reads++;
  if (status < 0) {
    t->read_status = status;
    t->done = 1;
    llmrt__conn_close(c);
    return;
  }
  ASSERT(t->got_len + len <= sizeof t->got);
  memcpy(t->got + t->got_len, data, len);
  t->got_len += len;
  if (t->close_in_read || (t->want_len && t->got_len >= t->want_len)) {
    llmrt__conn_close(c);
    t->done = 1;
  }
}

static inline void t_client_connect(llmrt__conn_t *c, int status, const char *msg, void *user) {
  t_client_t *t = user;
  t->status = status;
  llmrt__conn_info(c, &t->info);
  if (status < 0) {
    t->connected = -1;
    snprintf(t->errmsg, sizeof t->errmsg, "%s", msg ? msg : "(null)");
    t->done = 1;
    return;
  }
  t->connected = 1;
  if (t->close_in_connect) {
    llmrt__conn_close(c);
    t->done = 1;
    return;
  }
  if (t->send) {
    uv_buf_t b = uv_buf_init((char *)t->send, (unsigned)strlen(t->send));
    ASSERT_EQ(llmrt__conn_write(c, &b, 1, NULL, NULL), 0);
    if (!t->want_len) t->want_len = strlen(t->send);
  }
  ASSERT_EQ(llmrt__conn_read_start(c), 0);
}

static inline int t_client_start(t_client_t *t, const char *host, int port, int tls,
                                 uint32_t connect_ms, uint32_t tls_ms) {
  llmrt__conn_opts_t o = {host, (uint16_t)port, tls, connect_ms, tls_ms};
  llmrt__conn_cbs_t cbs = {t_client_connect, t_client_read};
  return llmrt__conn_connect(t_rt, &o, &cbs, t, &t->c);
}

#endif
