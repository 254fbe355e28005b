/* TLS conns against nginx and against our own TLS server, on loopback:
 * verification outcomes (each its own code), verification off, session
 * resumption, handshake timeout, large transfers, close from inside
 * callbacks and runtime close with TLS conns open. */
#include "nginx.h"
#include "tutil.h"

static test_nginx_t ngx;

static void setup_ca(const char *ca_file, int verify) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.ca_file = ca_file;
  o.tls_insecure = !verify;
  t_setup_opts(&o);
}

static const char *REQ_FIXED =
    "GET /fixed HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/* Connects, sends a request that nginx answers and closes, reads to EOF. */
static void fetch(t_client_t *t, const char *host, int port) {
  memset(t, 0, sizeof *t);
  t->send = REQ_FIXED;
  t->want_len = sizeof t->got; /* read until EOF */
  ASSERT_EQ(t_client_start(t, host, port, 1, 10000, 10000), 0);
  t_run_until(&t->done);
}

static void expect_ok(t_client_t *t) {
  if (t->status != 0) fprintf(stderr, "connect failed: %s\n", t->errmsg);
  ASSERT_ERR(t->status, 0);
  ASSERT_ERR(t->read_status, LLMRT_ECLOSED);
  ASSERT(t->got_len < sizeof t->got);
  t->got[t->got_len] = '\0';
  ASSERT_CONTAINS(t->got, "HTTP/1.1 200");
  ASSERT_CONTAINS(t->got, TEST_NGINX_FIXED_BODY);
  ASSERT_EQ(t->info.tls, 1);
  ASSERT(t->info.tls_us > 0);
}

static void test_nginx_ok_and_resumption(void) {
  setup_ca(test_cert_path("ca.pem"), 1);
  t_client_t t;
  fetch(&t, "localhost", ngx.https_port);
  expect_ok(&t);
  ASSERT_EQ(t.info.tls_resumed, 0);
  fetch(&t, "localhost", ngx.https_port);
  expect_ok(&t);
  ASSERT_EQ(t.info.tls_resumed, 1);
  ASSERT_EQ(t.info.dns_us, 0); /* and the DNS cache answered */
  /* By address: the certificate names 127.0.0.1 too; a separate origin, so
   * a full handshake. */
  fetch(&t, "127.0.0.1", ngx.https_port);
  expect_ok(&t);
  ASSERT_EQ(t.info.tls_resumed, 0);
  t_teardown();
}

static void expect_fail(int port, int code, const char *what) {
  t_client_t t;
  fetch(&t, "localhost", port);
  ASSERT_ERR(t.status, code);
  char hp[64];
  snprintf(hp, sizeof hp, "localhost:%d", port);
  ASSERT_CONTAINS(t.errmsg, hp);
  ASSERT_CONTAINS(t.errmsg, what);
  fprintf(stderr, "   %s: %s\n", llmrt_err_name(code), t.errmsg);
}

static void test_nginx_rejections(void) {
  setup_ca(test_cert_path("ca.pem"), 1);
  expect_fail(ngx.untrusted_port, LLMRT_ECERTUNTRUSTED, "not correctly signed");
  expect_fail(ngx.wronghost_port, LLMRT_ECERTHOSTNAME, "CN");
  expect_fail(ngx.expired_port, LLMRT_ECERTEXPIRED, "expired");
  /* TLS to a plain HTTP port: a protocol failure. */
  expect_fail(ngx.http_port, LLMRT_ETLS, "TLS handshake with");
  t_teardown();
}

/* The system bundle loads and does not trust our test CA. */
static void test_system_bundle(void) {
  setup_ca(NULL, 1);
  expect_fail(ngx.https_port, LLMRT_ECERTUNTRUSTED, "certificate verification failed");
  t_teardown();
}

static void test_bad_ca_file(void) {
  setup_ca(test_cert_path("no-such-file.pem"), 1);
  expect_fail(ngx.https_port, LLMRT_ECAFILE, "no-such-file.pem");
  t_teardown();
}

static void test_verify_off(void) {
  setup_ca(NULL, 0);
  t_client_t t;
  fetch(&t, "localhost", ngx.untrusted_port);
  expect_ok(&t);
  fetch(&t, "localhost", ngx.expired_port);
  expect_ok(&t);
  ASSERT_EQ(t.info.tls_resumed, 0);
  fetch(&t, "localhost", ngx.expired_port);
  expect_ok(&t);
  ASSERT_EQ(t.info.tls_resumed, 1);
  t_teardown();
}

/* A server that accepts and never answers: the handshake times out. */
static void on_silent_conn(uv_stream_t *s, int status) {
  ASSERT_EQ(status, 0);
  uv_tcp_t *tcp = malloc(sizeof *tcp);
  ASSERT_EQ(uv_tcp_init(&t_loop, tcp), 0);
  ASSERT_EQ(uv_accept(s, (uv_stream_t *)tcp), 0);
  *(uv_tcp_t **)s->data = tcp;
}

static void test_handshake_timeout(void) {
  setup_ca(test_cert_path("ca.pem"), 1);
  uv_tcp_t srv;
  uv_tcp_t *accepted = NULL;
  int port = t_listen(&srv, on_silent_conn, &accepted);
  t_client_t t = {0};
  uint64_t t0 = llmrt__now_us();
  ASSERT_EQ(t_client_start(&t, "127.0.0.1", port, 1, 5000, 300), 0);
  t_run_until(&t.done);
  uint64_t el = llmrt__now_us() - t0;
  ASSERT_ERR(t.status, LLMRT_ETLSTIMEOUT);
  ASSERT_CONTAINS(t.errmsg, "TLS handshake");
  ASSERT_GE(el, 250 * 1000);
  ASSERT_LE(el, 5000 * 1000);
  ASSERT(accepted);
  uv_close((uv_handle_t *)accepted, (uv_close_cb)free);
  t_close_handle((uv_handle_t *)&srv);
  t_teardown();
}

/* ---- Our own TLS server ---- */

static llmrt__tls_server_t *own_server(void) {
  llmrt__tls_server_t *s = NULL;
  char err[256];
  int r = llmrt__tls_server_new(t_rt, test_cert_path("server.pem"), test_cert_path("server.key"),
                                &s, err, sizeof err);
  if (r) fprintf(stderr, "tls_server_new: %s\n", err);
  ASSERT_EQ(r, 0);
  return s;
}

static void test_own_server_resumption(void) {
  setup_ca(test_cert_path("ca.pem"), 1);
  llmrt__tls_server_t *srv = own_server();
  t_echo_t e;
  t_echo_start(&e, srv);
  for (int i = 0; i < 3; i++) {
    t_client_t t = {0};
    t.send = "hello over tls";
    ASSERT_EQ(t_client_start(&t, "localhost", e.port, 1, 5000, 5000), 0);
    t_run_until(&t.done);
    if (t.status) fprintf(stderr, "%s\n", t.errmsg);
    ASSERT_ERR(t.status, 0);
    ASSERT_MEM_EQ(t.got, t.got_len, "hello over tls", 14);
    ASSERT_EQ(t.info.tls, 1);
    ASSERT_EQ(t.info.tls_resumed, i > 0);
    fprintf(stderr, "   own server: connect %" PRIu64 " us, TLS %" PRIu64 " us (%s)\n",
            t.info.connect_us, t.info.tls_us, i ? "resumed" : "full");
  }
  ASSERT_EQ(e.handshakes_ok, 3);
  ASSERT_EQ(e.resumed, 2); /* the server side saw it too */
  t_echo_stop(&e);
  llmrt__tls_server_free(srv);
  t_teardown();
}

static void test_own_server_errors(void) {
  setup_ca(test_cert_path("ca.pem"), 1);
  llmrt__tls_server_t *s = NULL;
  char err[256];
  ASSERT_ERR(llmrt__tls_server_new(t_rt, test_cert_path("nope.pem"), test_cert_path("server.key"),
                                   &s, err, sizeof err),
             LLMRT_ETLS);
  ASSERT_CONTAINS(err, "nope.pem");
  ASSERT_ERR(llmrt__tls_server_new(t_rt, test_cert_path("server.pem"),
                                   test_cert_path("expired.key"), &s, err, sizeof err),
             LLMRT_ETLS);
  ASSERT_CONTAINS(err, "does not match");
  /* A plain client talking to the TLS server: its handshake fails. */
  llmrt__tls_server_t *srv = own_server();
  t_echo_t e;
  t_echo_start(&e, srv);
  t_client_t t = {0};
  t.send = "GET / HTTP/1.1\r\n\r\n";
  t.want_len = sizeof t.got;
  ASSERT_EQ(t_client_start(&t, "127.0.0.1", e.port, 0, 5000, 0), 0);
  t_run_until(&t.done);
  while (e.handshake_errors == 0)
    uv_run(&t_loop, UV_RUN_ONCE);
  ASSERT_ERR(e.last_error, LLMRT_ETLS);
  t_echo_stop(&e);
  llmrt__tls_server_free(srv);
  t_teardown();
}

/* 1 MiB through the TLS echo in one write, read back in full: many
 * records per read, writes larger than a record. */
typedef struct {
  char *out;
  char *in;
  size_t len, got;
  int done, status, write_status, writes_done;
} big_t;

static void big_written(llmrt__conn_t *c, int status, void *arg) {
  big_t *b = arg;
  b->write_status = status;
  b->writes_done++;
}

static void big_read(llmrt__conn_t *c, int status, const char *data, size_t len, void *user) {
  big_t *b = user;
  ASSERT_ERR(status, 0);
  ASSERT(b->got + len <= b->len);
  memcpy(b->in + b->got, data, len);
  b->got += len;
  if (b->got == b->len) {
    llmrt__conn_close(c);
    b->done = 1;
  }
}

static void big_connect(llmrt__conn_t *c, int status, const char *msg, void *user) {
  big_t *b = user;
  b->status = status;
  ASSERT_ERR(status, 0);
  uv_buf_t bufs[2] = {uv_buf_init(b->out, 1000),
                      uv_buf_init(b->out + 1000, (unsigned)b->len - 1000)};
  ASSERT_EQ(llmrt__conn_write(c, bufs, 2, big_written, b), 0);
  ASSERT_EQ(llmrt__conn_read_start(c), 0);
}

static void test_own_server_big(void) {
  setup_ca(test_cert_path("ca.pem"), 1);
  llmrt__tls_server_t *srv = own_server();
  t_echo_t e;
  t_echo_start(&e, srv);
  big_t b = {0};
  b.len = 1 << 20;
  b.out = malloc(b.len);
  b.in = malloc(b.len);
  for (size_t i = 0; i < b.len; i++)
    b.out[i] = (char)(i * 7 + i / 251);
  llmrt__conn_opts_t o = {"localhost", (uint16_t)e.port, 1, 5000, 5000};
  llmrt__conn_cbs_t cbs = {big_connect, big_read};
  llmrt__conn_t *c;
  ASSERT_EQ(llmrt__conn_connect(t_rt, &o, &cbs, &b, &c), 0);
  t_run_until(&b.done);
  ASSERT_EQ(b.writes_done, 1);
  ASSERT_EQ(b.write_status, 0);
  ASSERT(memcmp(b.in, b.out, b.len) == 0);
  free(b.out);
  free(b.in);
  t_echo_stop(&e);
  llmrt__tls_server_free(srv);
  t_teardown();
}

/* Reading paused and resumed: nothing is lost, including records mbedTLS
 * already decrypted while we were paused. */
typedef struct {
  llmrt__conn_t *c;
  char got[4096];
  size_t len;
  int pauses, done;
  uv_timer_t timer;
} pause_t;

static void pause_resume(uv_timer_t *tm) {
  pause_t *p = tm->data;
  ASSERT_EQ(llmrt__conn_read_start(p->c), 0);
}

static void pause_read(llmrt__conn_t *c, int status, const char *data, size_t len, void *user) {
  pause_t *p = user;
  if (status < 0) {
    ASSERT_ERR(status, LLMRT_ECLOSED);
    p->done = 1;
    llmrt__conn_close(c);
    return;
  }
  ASSERT(p->len + len < sizeof p->got);
  memcpy(p->got + p->len, data, len);
  p->len += len;
  ASSERT_EQ(llmrt__conn_read_stop(c), 0);
  p->pauses++;
  uv_timer_start(&p->timer, pause_resume, 20, 0);
}

static void pause_connect(llmrt__conn_t *c, int status, const char *msg, void *user) {
  ASSERT_ERR(status, 0);
  /* Three requests pipelined: nginx answers them back to back. */
  static const char req[] = "GET /fixed HTTP/1.1\r\nHost: localhost\r\n\r\n"
                            "GET /req HTTP/1.1\r\nHost: localhost\r\n\r\n"
                            "GET /fixed HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  uv_buf_t b = uv_buf_init((char *)req, sizeof req - 1);
  ASSERT_EQ(llmrt__conn_write(c, &b, 1, NULL, NULL), 0);
  ASSERT_EQ(llmrt__conn_read_start(c), 0);
}

static void test_pause_resume(void) {
  setup_ca(test_cert_path("ca.pem"), 1);
  pause_t p;
  memset(&p, 0, sizeof p);
  uv_timer_init(&t_loop, &p.timer);
  p.timer.data = &p;
  llmrt__conn_opts_t o = {"localhost", (uint16_t)ngx.https_port, 1, 5000, 5000};
  llmrt__conn_cbs_t cbs = {pause_connect, pause_read};
  ASSERT_EQ(llmrt__conn_connect(t_rt, &o, &cbs, &p, &p.c), 0);
  t_run_until(&p.done);
  p.got[p.len] = '\0';
  const char *first = strstr(p.got, TEST_NGINX_FIXED_BODY);
  ASSERT(first);
  ASSERT_CONTAINS(first + 1, "GET /req\n");
  ASSERT_CONTAINS(strstr(first + 1, "GET /req\n"), TEST_NGINX_FIXED_BODY);
  ASSERT(p.pauses >= 1);
  uv_close((uv_handle_t *)&p.timer, NULL);
  t_teardown();
}

static void test_close_in_callbacks(void) {
  setup_ca(test_cert_path("ca.pem"), 1);
  t_client_t a = {0};
  a.close_in_connect = 1;
  ASSERT_EQ(t_client_start(&a, "localhost", ngx.https_port, 1, 5000, 5000), 0);
  t_client_t b = {0};
  b.close_in_read = 1;
  b.send = REQ_FIXED;
  ASSERT_EQ(t_client_start(&b, "localhost", ngx.https_port, 1, 5000, 5000), 0);
  t_client_t c = {0}; /* closed before anything happened */
  ASSERT_EQ(t_client_start(&c, "localhost", ngx.https_port, 1, 5000, 5000), 0);
  llmrt__conn_close(c.c);
  t_run_until(&a.done);
  t_run_until(&b.done);
  ASSERT_EQ(a.connected, 1);
  ASSERT_EQ(b.connected, 1);
  ASSERT_EQ(b.reads, 1);
  ASSERT_EQ(c.connected, 0);
  t_teardown();
  ASSERT_EQ(c.connected, 0);
}

/* Runtime close with a TLS conn open and one mid-handshake (the latter
 * waiting on a server that never answers). */
static void test_runtime_close(void) {
  setup_ca(test_cert_path("ca.pem"), 1);
  uv_tcp_t srv;
  uv_tcp_t *accepted = NULL;
  int port = t_listen(&srv, on_silent_conn, &accepted);
  t_client_t open_c = {0};
  ASSERT_EQ(t_client_start(&open_c, "localhost", ngx.https_port, 1, 5000, 5000), 0);
  t_run_until(&open_c.connected);
  ASSERT_EQ(open_c.connected, 1);
  t_client_t hs = {0};
  ASSERT_EQ(t_client_start(&hs, "127.0.0.1", port, 1, 5000, 5000), 0);
  while (!accepted)
    uv_run(&t_loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)accepted, (uv_close_cb)free);
  t_close_handle((uv_handle_t *)&srv);
  llmrt_close(t_rt, t_on_rt_done, &t_rt_done);
  ASSERT_ERR(open_c.read_status, LLMRT_ESHUTDOWN);
  ASSERT_ERR(hs.status, LLMRT_ESHUTDOWN);
  t_finish();
}

/* Runtime close while the CA bundle is still loading on the thread pool. */
static void test_close_while_loading(void) {
  setup_ca(NULL, 1);
  t_client_t t = {0};
  ASSERT_EQ(t_client_start(&t, "localhost", ngx.https_port, 1, 5000, 5000), 0);
  t_teardown();
  ASSERT(t.connected == 0 || t.status == LLMRT_ESHUTDOWN);
}

int main(void) {
  test_nginx_start(&ngx, NULL);
  RUN_TEST(test_nginx_ok_and_resumption);
  RUN_TEST(test_nginx_rejections);
  RUN_TEST(test_system_bundle);
  RUN_TEST(test_bad_ca_file);
  RUN_TEST(test_verify_off);
  RUN_TEST(test_handshake_timeout);
  RUN_TEST(test_own_server_resumption);
  RUN_TEST(test_own_server_errors);
  RUN_TEST(test_own_server_big);
  RUN_TEST(test_pause_resume);
  RUN_TEST(test_close_in_callbacks);
  RUN_TEST(test_runtime_close);
  RUN_TEST(test_close_while_loading);
  test_nginx_stop(&ngx);
  return 0;
}
