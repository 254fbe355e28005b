/* Allocation failure torture (in the spirit of curl's): every allocation a
 * conn makes (ours and libuv's, through llmrt_set_allocator) fails in turn.
 * Each run must end with one clear outcome (an error from connect, a failed
 * on_connect, a read error, or the full echo), the runtime must close, and
 * nothing may leak (ASan/valgrind check that at exit). */
#include "failalloc.h"
#include "tutil.h"

/* The echo server must not assert on failures here: a failed accept just
 * closes that connection. */
static int srv_accept_errors;
static void oom_on_connection(uv_stream_t *s, int status) {
  t_echo_t *e = s->data;
  if (status) return;
  uv_tcp_t *tcp = malloc(sizeof *tcp);
  ASSERT(tcp);
  ASSERT_EQ(uv_tcp_init(&t_loop, tcp), 0);
  ASSERT_EQ(uv_accept(s, (uv_stream_t *)tcp), 0);
  llmrt__conn_cbs_t cbs = {t_echo_connect, t_echo_read};
  llmrt__conn_t *c;
  e->accepted++;
  /* tcp came from malloc, the conn frees it with llmrt__free: the same. */
  if (llmrt__conn_accept(t_rt, tcp, e->tls, 5000, &cbs, e, &c) != 0) srv_accept_errors++;
}

static void client_read(llmrt__conn_t *c, int status, const char *data, size_t len, void *user) {
  t_client_t *t = user;
  if (status < 0) {
    t->read_status = status;
    t->done = 1;
    llmrt__conn_close(c);
    return;
  }
  memcpy(t->got + t->got_len, data, len);
  t->got_len += len;
  if (t->got_len >= t->want_len) {
    t->done = 1;
    llmrt__conn_close(c);
  }
}

static void client_connect(llmrt__conn_t *c, int status, const char *msg, void *user) {
  t_client_t *t = user;
  if (status < 0) {
    t->status = status;
    t->done = 1;
    return;
  }
  uv_buf_t b = uv_buf_init((char *)t->send, (unsigned)strlen(t->send));
  t->want_len = strlen(t->send);
  int r = llmrt__conn_write(c, &b, 1, NULL, NULL);
  if (r == 0) r = llmrt__conn_read_start(c);
  if (r) {
    t->status = r;
    t->done = 1;
    llmrt__conn_close(c);
  }
}

static int one_round(const char *host, int port, int tls, t_client_t *t) {
  memset(t, 0, sizeof *t);
  t->send = "torture";
  llmrt__conn_opts_t o = {host, (uint16_t)port, tls, 5000, 5000};
  llmrt__conn_cbs_t cbs = {client_connect, client_read};
  int r = llmrt__conn_connect(t_rt, &o, &cbs, t, &t->c);
  if (r) return r;
  uint64_t end = llmrt__now_us() + 10 * 1000 * 1000;
  while (!t->done) {
    ASSERT(llmrt__now_us() < end); /* a hang is a failure */
    uv_run(&t_loop, UV_RUN_ONCE);
  }
  return 0;
}

static void torture(int tls) {
  int runs = 0;
  for (long n = 0;; n++) {
    llmrt_options_t o;
    llmrt_options_init(&o);
    char ca[512];
    snprintf(ca, sizeof ca, "%s/ca.pem", LLMRT_TEST_CERTS);
    o.ca_file = ca;
    o.dns_ttl_ms = 0;
    t_setup_opts(&o);
    llmrt__tls_server_t *srv = NULL;
    if (tls) {
      char cert[512], key[512];
      snprintf(cert, sizeof cert, "%s/server.pem", LLMRT_TEST_CERTS);
      snprintf(key, sizeof key, "%s/server.key", LLMRT_TEST_CERTS);
      ASSERT_EQ(llmrt__tls_server_new(t_rt, cert, key, &srv, NULL, 0), 0);
    }
    t_echo_t e;
    memset(&e, 0, sizeof e);
    e.tls = srv;
    e.port = t_listen(&e.listener, oom_on_connection, &e);

    /* Warm up unarmed: the loop's fd table, the thread pool, the DNS cache
     * and the TLS session cache grow now, not under torture. */
    t_client_t t;
    for (int i = 0; i < 3; i++) {
      ASSERT_EQ(one_round("localhost", e.port, tls, &t), 0);
      ASSERT_ERR(t.status, 0);
    }

    /* Two rounds per n: by address (a full TLS handshake: no session for
     * that origin yet) and by name (a fresh DNS lookup, TTL 0, and a resumed
     * handshake). */
    int any_failed = 0;
    for (int v = 0; v < 2; v++) {
      failalloc_arm(n + 1); /* n allocations succeed, the next one fails */
      int r = one_round(v ? "localhost" : "127.0.0.1", e.port, tls, &t);
      failalloc_disarm();
      int failed = failalloc_failed();
      any_failed |= failed;
      if (r) {
        ASSERT_ERR(r, LLMRT_ENOMEM);
      } else if (!failed) {
        ASSERT_ERR(t.status, 0);
        ASSERT_MEM_EQ(t.got, t.got_len, "torture", 7);
      } else {
        ASSERT(t.status < 0 || t.read_status < 0 || t.got_len == 7);
      }
    }
    t_echo_stop(&e);
    if (srv) llmrt__tls_server_free(srv);
    t_teardown();
    runs++;
    /* Done once both rounds ran without reaching allocation n. */
    if (!any_failed) break;
  }
  fprintf(stderr, "   %d runs, each failing one allocation\n", runs);
  ASSERT(runs > 3);
}

static void test_torture_plain(void) {
  torture(0);
}

static void test_torture_tls(void) {
  torture(1);
}

int main(void) {
  failalloc_install();
  RUN_TEST(test_torture_plain);
  RUN_TEST(test_torture_tls);
  return 0;
}
