/* The runtime's own metrics, with no plugin loaded, follow a scripted
 * sequence of calls against the mock over TLS at "localhost": a first call
 * (DNS miss, a connection opened with a full handshake), a second (the
 * connection reused), the idle timeout (the connection closed), a third (a
 * DNS cache hit, a new connection whose TLS session is resumed), then two
 * calls at once on a one-connection pool (one waits in the queue). Every
 * step's exposition passes promtool and agrees with the JSON. */
#include <stdio.h>
#include <string.h>

#include "metrics_check.h"
#include "metrics_fixture.h"

#define ORIGIN "origin=\"https://localhost:%u\""

typedef struct {
  double open, idle, opened, reused, closed, full, resumed, waiting, queued, in_flight, dns_hit,
      dns_miss;
} snap_t;

static double val(const char *text, const char *fmt, unsigned port) {
  char series[256];
  snprintf(series, sizeof series, fmt, port);
  return mcheck_value(text, series);
}

static snap_t snap(mfx_t *f) {
  unsigned port = llmrt_mock_port(f->mock);
  char *t = mcheck_all(f->rt);
  snap_t s = {
      .open = val(t, "llmrt_http_connections_open{" ORIGIN "}", port),
      .idle = val(t, "llmrt_http_connections_idle{" ORIGIN "}", port),
      .opened = val(t, "llmrt_http_connections_opened_total{" ORIGIN "}", port),
      .reused = val(t, "llmrt_http_connections_reused_total{" ORIGIN "}", port),
      .closed = val(t, "llmrt_http_connections_closed_total{" ORIGIN "}", port),
      .full = val(t, "llmrt_tls_handshakes_total{" ORIGIN ",mode=\"full\"}", port),
      .resumed = val(t, "llmrt_tls_handshakes_total{" ORIGIN ",mode=\"resumed\"}", port),
      .waiting = val(t, "llmrt_http_requests_waiting{" ORIGIN "}", port),
      .queued = val(t, "llmrt_http_requests_queued_total{" ORIGIN "}", port),
      .in_flight = mcheck_value(t, "llmrt_calls_in_flight"),
      .dns_hit = mcheck_value(t, "llmrt_dns_lookups_total{result=\"hit\"}"),
      .dns_miss = mcheck_value(t, "llmrt_dns_lookups_total{result=\"miss\"}"),
  };
  llmrt_free(t);
  return s;
}

/* Inside on_done the call no longer counts as in flight (its handles may
 * still be closing). */
static double in_flight_at_done = -1;

static void done_reads_metrics(llmrt_call_t *call, int status, const llmrt_result_t *res,
                               void *user) {
  char *text = NULL;
  ASSERT_ERR(llmrt_metrics_prometheus(llmrt_call_runtime(call), &text, NULL), 0);
  in_flight_at_done = mcheck_value(text, "llmrt_calls_in_flight");
  llmrt_free(text);
  chainfx_on_done(call, status, res, user);
}

static void test_in_flight_at_done(void) {
  mfx_t f;
  mfx_start(&f, 0, NULL, NULL);
  mfx_configure(&f, "");
  chainfx_call_t r;
  llmrt_callbacks_t cbs = {NULL, NULL, done_reads_metrics};
  mfx_call(&f, &r, "oa", "m", 1, NULL, &cbs);
  mfx_wait(&f, &r, 1);
  ASSERT_ERR(r.status, 0);
  ASSERT(in_flight_at_done == 0);
  mfx_stop(&f);
}

static void test_scripted_connections(void) {
  mfx_t f;
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_idle_timeout_ms = 2500; /* longer than a few promtool runs under load */
  o.pool_max_per_origin = 1;
  mfx_start(&f, 1, NULL, &o);
  mfx_configure(&f, "");

  /* Nothing happened yet: no origin, no lookups. */
  snap_t s = snap(&f);
  ASSERT(s.opened == -1);
  ASSERT(s.dns_miss == 0 && s.dns_hit == 0 && s.in_flight == 0);

  /* 1: a lookup, a connection, a full handshake; then idle in the pool. */
  mfx_one(&f, "oa", "m", 0, NULL);
  s = snap(&f);
  ASSERT(s.dns_miss == 1 && s.dns_hit == 0);
  ASSERT(s.opened == 1 && s.reused == 0 && s.closed == 0);
  ASSERT(s.full == 1 && s.resumed == 0);
  ASSERT(s.open == 1 && s.idle == 1 && s.in_flight == 0);

  /* 2: the same connection again. */
  mfx_one(&f, "oa", "m", 1, NULL);
  s = snap(&f);
  ASSERT(s.opened == 1 && s.reused == 1 && s.full == 1);
  ASSERT(s.dns_miss == 1 && s.dns_hit == 0);

  /* The idle timeout closes it. */
  mfx_sleep(&f, 3200);
  s = snap(&f);
  ASSERT(s.closed == 1 && s.open == 0 && s.idle == 0);

  /* 3: a new connection: the address from the DNS cache, TLS resumed. */
  mfx_one(&f, "oa", "m", 0, NULL);
  s = snap(&f);
  ASSERT(s.dns_hit == 1 && s.dns_miss == 1);
  ASSERT(s.opened == 2 && s.full == 1 && s.resumed == 1);
  ASSERT(s.queued == 0);

  /* 4 and 5 at once on one connection: the second waits for it. */
  chainfx_call_t r[2];
  mfx_call(&f, &r[0], "oa", "m", 1, "ttft_ms=150", NULL);
  mfx_call(&f, &r[1], "oa", "m", 1, NULL, NULL);
  llmrt_pool_stats_t ps = {0};
  for (int i = 0; i < 1000 && ps.queued != 1; i++) {
    uv_run(&f.loop, UV_RUN_ONCE);
    ASSERT_ERR(llmrt_pool_stats(f.rt, NULL, &ps), 0);
  }
  s = snap(&f);
  ASSERT(s.in_flight == 2 && s.waiting == 1 && s.queued == 1);
  mfx_wait(&f, r, 2);
  ASSERT_ERR(r[0].status, 0);
  ASSERT_ERR(r[1].status, 0);
  s = snap(&f);
  ASSERT(s.waiting == 0 && s.queued == 1 && s.in_flight == 0);
  ASSERT(s.opened == 2 && s.reused == 3);
  mfx_stop(&f);
}

int main(void) {
  RUN_TEST(test_scripted_connections);
  RUN_TEST(test_in_flight_at_done);
  return 0;
}
