/* Plain TCP conns on loopback: connect, write, read, accept, the error
 * codes a user sees (DNS, refused, connect timeout, EOF), close from inside
 * callbacks, and closing the runtime with connections open. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/internal.h"
#include "tutil.h"

static void test_echo_roundtrip(void) {
  t_setup();
  t_echo_t e;
  t_echo_start(&e, NULL);
  t_client_t t = {0};
  t.send = "hello, transport";
  ASSERT_EQ(t_client_start(&t, "127.0.0.1", e.port, 0, 5000, 0), 0);
  t_run_until(&t.done);
  ASSERT_EQ(t.status, 0);
  ASSERT_MEM_EQ(t.got, t.got_len, "hello, transport", 16);
  ASSERT_EQ(t.info.tls, 0);
  ASSERT_EQ(t.info.dns_us, 0); /* literal address: no lookup */
  ASSERT_EQ(e.accepted, 1);
  ASSERT_EQ(e.handshakes_ok, 1);
  t_echo_stop(&e);
  t_teardown();
}

/* "localhost" goes through the resolver (and may yield ::1 first, where
 * nothing listens: the next address must be tried). The second connect
 * is answered by the cache. */
static void test_dns_and_cache(void) {
  t_setup();
  t_echo_t e;
  t_echo_start(&e, NULL);
  t_client_t t = {0};
  t.send = "via dns";
  ASSERT_EQ(t_client_start(&t, "localhost", e.port, 0, 5000, 0), 0);
  t_run_until(&t.done);
  ASSERT_EQ(t.status, 0);
  ASSERT_MEM_EQ(t.got, t.got_len, "via dns", 7);
  ASSERT(t.info.dns_us > 0);

  t_client_t t2 = {0};
  t2.send = "cached";
  ASSERT_EQ(t_client_start(&t2, "localhost", e.port, 0, 5000, 0), 0);
  t_run_until(&t2.done);
  ASSERT_EQ(t2.status, 0);
  ASSERT_MEM_EQ(t2.got, t2.got_len, "cached", 6);
  ASSERT_EQ(t2.info.dns_us, 0); /* cache hit */
  t_echo_stop(&e);
  t_teardown();
}

/* Many conns to one name at once share one lookup and all succeed. */
static void test_dns_shared_lookup(void) {
  t_setup();
  t_echo_t e;
  t_echo_start(&e, NULL);
  enum { N = 8 };
  t_client_t t[N];
  memset(t, 0, sizeof t);
  for (int i = 0; i < N; i++) {
    t[i].send = "x";
    ASSERT_EQ(t_client_start(&t[i], "localhost", e.port, 0, 5000, 0), 0);
  }
  for (int i = 0; i < N; i++) {
    t_run_until(&t[i].done);
    ASSERT_EQ(t[i].status, 0);
    ASSERT_MEM_EQ(t[i].got, t[i].got_len, "x", 1);
  }
  t_echo_stop(&e);
  t_teardown();
}

static void test_dns_failure(void) {
  t_setup();
  t_client_t t = {0};
  /* No connect timeout: a slow resolver must still end in LLMRT_EDNS. */
  ASSERT_EQ(t_client_start(&t, "no-such-host.invalid", 80, 0, 0, 0), 0);
  t_run_until(&t.done);
  ASSERT_ERR(t.status, LLMRT_EDNS);
  ASSERT_CONTAINS(t.errmsg, "no-such-host.invalid");
  t_teardown();
}

/* A port that was just bound and closed: nothing listens there. */
static int closed_port(void) {
  uv_tcp_t s;
  int port = t_listen(&s, NULL, NULL);
  uv_close((uv_handle_t *)&s, NULL);
  uv_run(&t_loop, UV_RUN_NOWAIT);
  return port;
}

static void test_refused(void) {
  t_setup();
  int port = closed_port();
  t_client_t t = {0};
  ASSERT_EQ(t_client_start(&t, "127.0.0.1", port, 0, 5000, 0), 0);
  t_run_until(&t.done);
  ASSERT_ERR(t.status, LLMRT_ECONNECT);
  char hp[64];
  snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
  ASSERT_CONTAINS(t.errmsg, hp);
  ASSERT_CONTAINS(t.errmsg, "refused");
  t_teardown();
}

/* A listener with backlog 0 whose accept queue is full drops new SYNs, so
 * a connect hangs until our timer fires. */
static void test_connect_timeout(void) {
  t_setup();
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT(ls >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
  ASSERT_EQ(listen(ls, 0), 0);
  socklen_t alen = sizeof a;
  ASSERT_EQ(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
  int fill[4];
  for (int i = 0; i < 4; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fill[i] >= 0);
    ASSERT_EQ(fcntl(fill[i], F_SETFL, O_NONBLOCK), 0);
    int r = connect(fill[i], (struct sockaddr *)&a, sizeof a);
    ASSERT(r == 0 || errno == EINPROGRESS);
  }
  usleep(100 * 1000); /* let the handshakes of the fillers settle */

  t_client_t t = {0};
  uint64_t t0 = llmrt__now_us();
  ASSERT_EQ(t_client_start(&t, "127.0.0.1", ntohs(a.sin_port), 0, 300, 0), 0);
  t_run_until(&t.done);
  uint64_t el = llmrt__now_us() - t0;
  ASSERT_ERR(t.status, LLMRT_ECONNECTTIMEOUT);
  ASSERT_CONTAINS(t.errmsg, "timed out");
  ASSERT_GE(el, 250 * 1000);
  ASSERT_LE(el, 5000 * 1000);
  for (int i = 0; i < 4; i++)
    close(fill[i]);
  close(ls);
  t_teardown();
}

/* The peer closes: the reader sees LLMRT_ECLOSED once. */
static void on_conn_close_peer(uv_stream_t *s, int status) {
  ASSERT_EQ(status, 0);
  uv_tcp_t *tcp = malloc(sizeof *tcp);
  ASSERT_EQ(uv_tcp_init(&t_loop, tcp), 0);
  ASSERT_EQ(uv_accept(s, (uv_stream_t *)tcp), 0);
  uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
}

static void test_eof(void) {
  t_setup();
  uv_tcp_t srv;
  int port = t_listen(&srv, on_conn_close_peer, NULL);
  t_client_t t = {0};
  ASSERT_EQ(t_client_start(&t, "127.0.0.1", port, 0, 5000, 0), 0);
  t_run_until(&t.done);
  ASSERT_EQ(t.status, 0);
  ASSERT_ERR(t.read_status, LLMRT_ECLOSED);
  ASSERT_EQ(t.reads, 1);
  t_close_handle((uv_handle_t *)&srv);
  t_teardown();
}

static void test_close_in_callbacks(void) {
  t_setup();
  t_echo_t e;
  t_echo_start(&e, NULL);
  t_client_t a = {0};
  a.close_in_connect = 1;
  ASSERT_EQ(t_client_start(&a, "127.0.0.1", e.port, 0, 5000, 0), 0);
  t_client_t b = {0};
  b.close_in_read = 1;
  b.send = "close me while reading";
  ASSERT_EQ(t_client_start(&b, "127.0.0.1", e.port, 0, 5000, 0), 0);
  t_client_t c = {0}; /* closed right away: no callback at all */
  ASSERT_EQ(t_client_start(&c, "127.0.0.1", e.port, 0, 5000, 0), 0);
  llmrt__conn_close(c.c);
  llmrt__conn_close(c.c); /* idempotent until the loop runs */
  t_client_t d = {0};     /* closed while the name is being resolved */
  ASSERT_EQ(t_client_start(&d, "localhost", e.port, 0, 5000, 0), 0);
  llmrt__conn_close(d.c);
  t_run_until(&a.done);
  t_run_until(&b.done);
  ASSERT_EQ(a.connected, 1);
  ASSERT_EQ(b.connected, 1);
  ASSERT_EQ(b.reads, 1);
  ASSERT_EQ(c.connected, 0);
  /* Let the rest settle: c and d must never report. */
  for (int i = 0; i < 20; i++)
    uv_run(&t_loop, UV_RUN_NOWAIT);
  usleep(50 * 1000);
  for (int i = 0; i < 20; i++)
    uv_run(&t_loop, UV_RUN_NOWAIT);
  ASSERT_EQ(c.connected, 0);
  ASSERT_EQ(d.connected, 0);
  t_echo_stop(&e);
  t_teardown();
}

/* Closing the runtime while conns are open, connecting and resolving: each
 * owner hears LLMRT_ESHUTDOWN (and closes), then done runs. */
static void test_runtime_close_with_open_conns(void) {
  t_setup();
  t_echo_t e;
  t_echo_start(&e, NULL);
  t_client_t open_c = {0};
  ASSERT_EQ(t_client_start(&open_c, "127.0.0.1", e.port, 0, 5000, 0), 0);
  t_run_until(&open_c.connected);
  ASSERT_EQ(open_c.connected, 1);
  while (e.handshakes_ok < 1)
    uv_run(&t_loop, UV_RUN_ONCE);
  t_client_t pending = {0};
  ASSERT_EQ(t_client_start(&pending, "localhost", e.port, 0, 5000, 0), 0);
  t_echo_stop(&e);
  llmrt_close(t_rt, t_on_rt_done, &t_rt_done);
  ASSERT_ERR(open_c.read_status, LLMRT_ESHUTDOWN);
  ASSERT_ERR(pending.status, LLMRT_ESHUTDOWN);
  ASSERT_EQ(t_rt_done, 0); /* never from inside llmrt_close */
  /* New conns are refused once closing. */
  t_client_t late = {0};
  ASSERT_ERR(t_client_start(&late, "127.0.0.1", e.port, 0, 5000, 0), LLMRT_ESHUTDOWN);
  t_finish();
}

static llmrt__sockaddr_t loop_addr(int port) {
  llmrt__sockaddr_t a;
  memset(&a, 0, sizeof a);
  ASSERT_EQ(uv_ip4_addr("127.0.0.1", port, &a.in4), 0);
  return a;
}

/* A name with several addresses: a refused one is skipped for the next. */
static void test_next_address(void) {
  t_setup();
  t_echo_t e;
  t_echo_start(&e, NULL);
  int dead1 = closed_port(), dead2 = closed_port();
  llmrt__sockaddr_t addrs[3] = {loop_addr(dead1), loop_addr(dead2), loop_addr(e.port)};
  ASSERT_EQ(llmrt__dns_seed(t_rt, "multi.test", 4242, addrs, 3), 0);
  t_client_t t = {0};
  t.send = "third time lucky";
  ASSERT_EQ(t_client_start(&t, "multi.test", 4242, 0, 5000, 0), 0);
  t_run_until(&t.done);
  ASSERT_ERR(t.status, 0);
  ASSERT_MEM_EQ(t.got, t.got_len, "third time lucky", 16);

  /* All of them refused: one error naming the origin. */
  ASSERT_EQ(llmrt__dns_seed(t_rt, "dead.test", 4242, addrs, 2), 0);
  t_client_t d = {0};
  ASSERT_EQ(t_client_start(&d, "dead.test", 4242, 0, 5000, 0), 0);
  t_run_until(&d.done);
  ASSERT_ERR(d.status, LLMRT_ECONNECT);
  ASSERT_CONTAINS(d.errmsg, "dead.test:4242");
  t_echo_stop(&e);
  t_teardown();
}

/* A short TTL: the next connect resolves again. */
static void test_dns_ttl(void) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.dns_ttl_ms = 1;
  t_setup_opts(&o);
  t_echo_t e;
  t_echo_start(&e, NULL);
  for (int i = 0; i < 2; i++) {
    t_client_t t = {0};
    t.send = "ttl";
    ASSERT_EQ(t_client_start(&t, "localhost", e.port, 0, 5000, 0), 0);
    t_run_until(&t.done);
    ASSERT_ERR(t.status, 0);
    ASSERT(t.info.dns_us > 0);
    usleep(5 * 1000);
  }
  t_echo_stop(&e);
  t_teardown();
}

static void test_invalid_args(void) {
  t_setup();
  llmrt__conn_cbs_t cbs = {t_client_connect, t_client_read};
  llmrt__conn_opts_t o = {"", 80, 0, 0, 0};
  llmrt__conn_t *c;
  ASSERT_ERR(llmrt__conn_connect(t_rt, &o, &cbs, NULL, &c), LLMRT_EINVAL);
  o.host = "127.0.0.1";
  o.port = 0;
  ASSERT_ERR(llmrt__conn_connect(t_rt, &o, &cbs, NULL, &c), LLMRT_EINVAL);
  t_teardown();
}

int main(void) {
  RUN_TEST(test_echo_roundtrip);
  RUN_TEST(test_dns_and_cache);
  RUN_TEST(test_dns_shared_lookup);
  RUN_TEST(test_dns_failure);
  RUN_TEST(test_refused);
  RUN_TEST(test_connect_timeout);
  RUN_TEST(test_eof);
  RUN_TEST(test_close_in_callbacks);
  RUN_TEST(test_runtime_close_with_open_conns);
  RUN_TEST(test_next_address);
  RUN_TEST(test_dns_ttl);
  RUN_TEST(test_invalid_args);
  return 0;
}
