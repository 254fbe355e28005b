/* HTTP client benchmark: llmrt's pooled client against libcurl's multi
 * interface doing the same work in the same run.
 *
 * A server (llmrt's internal HTTP server, plain and TLS) runs on its own
 * thread and loop; it answers keep-alive POSTs of a 1 KiB body with "ok".
 * For each concurrency (1, 16, 64) both clients keep that many requests in
 * flight for a fixed time, after a warm-up; we report requests/s and
 * p50/p99 latency (medians over rounds) and the ratios llmrt/curl. Then the
 * memory held per idle pooled connection, plain and TLS, against nginx (a
 * separate process, so the heap figures are the client's alone): bytes
 * through llmrt's allocator (llmrt, libuv) and the growth of the whole heap
 * (which also sees mbedTLS, whose allocations bypass llmrt_set_allocator).
 *
 * Usage: bench_http_client [seconds-per-run (default 1)] [rounds (default 3)]
 */
#include <curl/curl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"
#include "llmrt.h"
#include "nginx.h"

#ifndef LLMRT_TEST_CERTS
#define LLMRT_TEST_CERTS "tests/certs"
#endif

/* ---- Counting allocator (main thread's allocations only) ----------------- */

static uv_thread_t main_thread;
static atomic_llong counted; /* live bytes allocated on the main thread */

typedef struct {
  size_t size;
  size_t mine;
} ahdr_t;
#define AHDR 16 /* keeps 16-byte alignment */

static void *c_malloc(size_t n) {
  char *p = malloc(n + AHDR);
  if (!p) return NULL;
  uv_thread_t self = uv_thread_self();
  ((ahdr_t *)p)->size = n;
  ((ahdr_t *)p)->mine = uv_thread_equal(&self, &main_thread);
  if (((ahdr_t *)p)->mine) atomic_fetch_add(&counted, (long long)n);
  return p + AHDR;
}

static void c_free(void *q) {
  if (!q) return;
  char *p = (char *)q - AHDR;
  if (((ahdr_t *)p)->mine) atomic_fetch_sub(&counted, (long long)((ahdr_t *)p)->size);
  free(p);
}

static void *c_realloc(void *q, size_t n) {
  if (!q) return c_malloc(n);
  void *r = c_malloc(n);
  if (!r) return NULL;
  size_t old = ((ahdr_t *)((char *)q - AHDR))->size;
  memcpy(r, q, old < n ? old : n);
  c_free(q);
  return r;
}

static void *c_calloc(size_t k, size_t n) {
  if (n && k > SIZE_MAX / n) return NULL;
  void *p = c_malloc(k * n);
  if (p) memset(p, 0, k * n);
  return p;
}

static long long heap_now(void) {
  struct mallinfo2 mi = mallinfo2();
  return (long long)(mi.uordblks + mi.hblkhd);
}

/* ---- The server thread ----------------------------------------------------- */

typedef struct {
  int tls;
  uv_thread_t thread;
  uv_sem_t ready;
  uv_loop_t loop;
  uv_async_t stop;
  llmrt_t *rt;
  llmrt__server_t *srv;
  uint16_t port;
} server_t;

static void srv_on_request(llmrt__server_t *s, llmrt__sreq_t *r, void *user) {
  llmrt__sreq_respond(r, 200, NULL, 0, "ok", 2);
}

static void srv_closed(llmrt__server_t *s, void *user) {
  server_t *sv = user;
  llmrt_close(sv->rt, NULL, NULL);
}

static void srv_on_stop(uv_async_t *a) {
  server_t *sv = a->data;
  llmrt__server_close(sv->srv, srv_closed, sv);
  uv_close((uv_handle_t *)a, NULL);
}

static void srv_main(void *arg) {
  server_t *sv = arg;
  uv_loop_init(&sv->loop);
  if (llmrt_new(&sv->loop, NULL, &sv->rt) != 0) abort();
  llmrt__server_opts_t o;
  llmrt__server_opts_init(&o);
  if (sv->tls) {
    o.tls_cert = LLMRT_TEST_CERTS "/server.pem";
    o.tls_key = LLMRT_TEST_CERTS "/server.key";
  }
  llmrt__server_cbs_t cbs = {srv_on_request, NULL};
  char err[256];
  if (llmrt__server_start(sv->rt, &o, &cbs, sv, &sv->srv, err, sizeof(err)) != 0) {
    fprintf(stderr, "server: %s\n", err);
    abort();
  }
  sv->port = llmrt__server_port(sv->srv);
  uv_async_init(&sv->loop, &sv->stop, srv_on_stop);
  sv->stop.data = sv;
  uv_sem_post(&sv->ready);
  uv_run(&sv->loop, UV_RUN_DEFAULT);
  uv_loop_close(&sv->loop);
}

static void server_start(server_t *sv, int tls) {
  memset(sv, 0, sizeof(*sv));
  sv->tls = tls;
  uv_sem_init(&sv->ready, 0);
  uv_thread_create(&sv->thread, srv_main, sv);
  uv_sem_wait(&sv->ready);
}

static void server_stop(server_t *sv) {
  uv_async_send(&sv->stop);
  uv_thread_join(&sv->thread);
  uv_sem_destroy(&sv->ready);
}

/* ---- Measurements ---------------------------------------------------------- */

static char body1k[1024];
static double run_seconds = 1.0;
static int rounds = 3;

typedef struct {
  double rps, p50_us, p99_us;
  long errors;
} result_t;

typedef struct {
  uint64_t *lat; /* microseconds */
  size_t n, cap;
  long errors;
  uint64_t t_end;
  int inflight;
} tally_t;

static void tally_add(tally_t *t, uint64_t us) {
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 65536;
    t->lat = realloc(t->lat, t->cap * sizeof(uint64_t));
  }
  t->lat[t->n++] = us;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static result_t tally_result(tally_t *t, double secs) {
  result_t r = {0, 0, 0, t->errors};
  if (!t->n) return r;
  qsort(t->lat, t->n, sizeof(uint64_t), cmp_u64);
  r.rps = (double)t->n / secs;
  r.p50_us = (double)t->lat[t->n / 2];
  r.p99_us = (double)t->lat[(size_t)((double)t->n * 0.99)];
  return r;
}

static uint64_t now_us(void) {
  return uv_hrtime() / 1000;
}

/* llmrt ------------------------------------------------------------------ */

typedef struct {
  tally_t *t;
  llmrt_t *rt;
  const char *url;
  uint64_t t0;
} lslot_t;

static void l_start(lslot_t *s);

static void l_done(llmrt_http_t *h, int status, const char *msg, void *user) {
  lslot_t *s = user;
  uint64_t now = now_us();
  if (status == 0)
    tally_add(s->t, now - s->t0);
  else if (s->t->errors++ < 3)
    fprintf(stderr, "llmrt: %s\n", msg);
  if (now < s->t->t_end)
    l_start(s);
  else
    s->t->inflight--;
}

static const llmrt_http_callbacks_t l_cbs = {NULL, NULL, l_done};

static void l_start(lslot_t *s) {
  static const llmrt_header_t hs[] = {{"Content-Type", "application/octet-stream"},
                                      {"Accept", "*/*"}};
  uv_buf_t b = uv_buf_init(body1k, sizeof(body1k));
  llmrt_http_request_t q;
  llmrt_http_request_init(&q);
  q.method = "POST";
  q.url = s->url;
  q.headers = hs;
  q.n_headers = 2;
  q.body = &b;
  q.n_body = 1;
  s->t0 = now_us();
  if (llmrt_http_request(s->rt, &q, &l_cbs, s, NULL) != 0) {
    s->t->errors++;
    s->t->inflight--;
  }
}

static void l_run(llmrt_t *rt, uv_loop_t *loop, const char *url, int conc, double secs,
                  tally_t *t) {
  lslot_t *slots = calloc((size_t)conc, sizeof(*slots));
  t->t_end = now_us() + (uint64_t)(secs * 1e6);
  t->inflight = conc;
  for (int i = 0; i < conc; i++) {
    slots[i] = (lslot_t){t, rt, url, 0};
    l_start(&slots[i]);
  }
  while (t->inflight > 0)
    uv_run(loop, UV_RUN_ONCE);
  free(slots);
}

static int closed_flag;
static void on_closed(llmrt_t *rt, void *u) {
  closed_flag = 1;
}
static int pw_flag;
static void on_pw(llmrt_t *rt, int status, void *u) {
  pw_flag = 1;
}

static llmrt_t *new_rt(uv_loop_t *loop, uint32_t max_conns) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.ca_file = LLMRT_TEST_CERTS "/ca.pem";
  o.pool_max_per_origin = max_conns;
  llmrt_t *rt;
  if (llmrt_new(loop, &o, &rt) != 0) abort();
  return rt;
}

static void close_rt(llmrt_t *rt, uv_loop_t *loop) {
  closed_flag = 0;
  llmrt_close(rt, on_closed, NULL);
  while (!closed_flag)
    uv_run(loop, UV_RUN_ONCE);
}

static result_t bench_llmrt(const char *url, int conc) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  llmrt_t *rt = new_rt(&loop, (uint32_t)conc);
  tally_t warm = {0}, t = {0};
  l_run(rt, &loop, url, conc, 0.2, &warm);
  uint64_t t0 = now_us();
  l_run(rt, &loop, url, conc, run_seconds, &t);
  result_t r = tally_result(&t, (double)(now_us() - t0) / 1e6);
  close_rt(rt, &loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(warm.lat);
  free(t.lat);
  return r;
}

/* curl ------------------------------------------------------------------- */

static size_t c_discard(char *p, size_t sz, size_t n, void *u) {
  return sz * n;
}

typedef struct {
  CURL *e;
  uint64_t t0;
} cslot_t;

static void c_run(CURLM *m, cslot_t *slots, int conc, double secs, tally_t *t) {
  t->t_end = now_us() + (uint64_t)(secs * 1e6);
  t->inflight = conc;
  for (int i = 0; i < conc; i++) {
    slots[i].t0 = now_us();
    curl_multi_add_handle(m, slots[i].e);
  }
  while (t->inflight > 0) {
    int running;
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      cslot_t *s;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
      uint64_t now = now_us();
      long code = 0;
      curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, &code);
      if (msg->data.result == CURLE_OK && code == 200)
        tally_add(t, now - s->t0);
      else if (t->errors++ < 3)
        fprintf(stderr, "curl: %s\n", curl_easy_strerror(msg->data.result));
      curl_multi_remove_handle(m, s->e);
      if (now < t->t_end) {
        s->t0 = now_us();
        curl_multi_add_handle(m, s->e);
      } else {
        t->inflight--;
      }
    }
    if (t->inflight > 0) curl_multi_poll(m, NULL, 0, 100, NULL);
  }
}

static result_t bench_curl(const char *url, int conc, int tls) {
  CURLM *m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
  struct curl_slist *hs = curl_slist_append(NULL, "Expect:");
  hs = curl_slist_append(hs, "Content-Type: application/octet-stream");
  cslot_t *slots = calloc((size_t)conc, sizeof(*slots));
  for (int i = 0; i < conc; i++) {
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body1k);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)sizeof(body1k));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, c_discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[i]);
    if (tls) curl_easy_setopt(e, CURLOPT_CAINFO, LLMRT_TEST_CERTS "/ca.pem");
    slots[i].e = e;
  }
  tally_t warm = {0}, t = {0};
  c_run(m, slots, conc, 0.2, &warm);
  uint64_t t0 = now_us();
  c_run(m, slots, conc, run_seconds, &t);
  result_t r = tally_result(&t, (double)(now_us() - t0) / 1e6);
  for (int i = 0; i < conc; i++)
    curl_easy_cleanup(slots[i].e);
  curl_multi_cleanup(m);
  curl_slist_free_all(hs);
  free(slots);
  free(warm.lat);
  free(t.lat);
  return r;
}

/* ---- Memory per idle pooled connection ------------------------------------- */

static void prewarm_wait(llmrt_t *rt, uv_loop_t *loop, const char *url, unsigned n) {
  pw_flag = 0;
  if (llmrt_http_prewarm(rt, url, n, on_pw, NULL) != 0) abort();
  while (!pw_flag)
    uv_run(loop, UV_RUN_ONCE);
}

static void memory_per_conn(const char *url, const char *label) {
  const unsigned n = 50;
  uv_loop_t loop;
  uv_loop_init(&loop);
  llmrt_t *rt = new_rt(&loop, n + 1);
  prewarm_wait(rt, &loop, url, 1); /* pool, origin, DNS, TLS config, session */
  long long a = atomic_load(&counted), ha = heap_now();
  prewarm_wait(rt, &loop, url, n + 1);
  long long b = atomic_load(&counted), hb = heap_now();
  llmrt_pool_stats_t st;
  llmrt_pool_stats(rt, url, &st);
  printf("memory %-5s idle connections %u: %lld bytes/conn via llmrt allocator, %lld bytes/conn "
         "heap (incl. mbedTLS)\n",
         label, st.idle, (b - a) / (long long)n, (hb - ha) / (long long)n);
  close_rt(rt, &loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

/* ---- Main ------------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void compare(const char *label, const char *url, int tls, int conc) {
  double lr[16], l50[16], l99[16], cr[16], c50[16], c99[16];
  long lerr = 0, cerr = 0;
  for (int i = 0; i < rounds; i++) {
    result_t l = bench_llmrt(url, conc), c = bench_curl(url, conc, tls);
    lr[i] = l.rps, l50[i] = l.p50_us, l99[i] = l.p99_us, lerr += l.errors;
    cr[i] = c.rps, c50[i] = c.p50_us, c99[i] = c.p99_us, cerr += c.errors;
  }
  double a = median(lr, rounds), b = median(l50, rounds), c = median(l99, rounds);
  double x = median(cr, rounds), y = median(c50, rounds), z = median(c99, rounds);
  printf("%-5s c=%-3d llmrt %8.0f req/s p50 %6.0f us p99 %6.0f us | curl %8.0f req/s p50 %6.0f "
         "us p99 %6.0f us | llmrt/curl rps %.2f p50 %.2f p99 %.2f%s\n",
         label, conc, a, b, c, x, y, z, a / x, b / y, c / z, lerr || cerr ? "  (errors!)" : "");
  if (lerr || cerr) printf("      errors: llmrt %ld curl %ld\n", lerr, cerr);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc > 1) run_seconds = atof(argv[1]);
  if (argc > 2) rounds = atoi(argv[2]);
  if (rounds < 1 || rounds > 16) rounds = 3;
  main_thread = uv_thread_self();
  if (llmrt_set_allocator(c_malloc, c_realloc, c_calloc, c_free) != 0) abort();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  for (size_t i = 0; i < sizeof(body1k); i++)
    body1k[i] = (char)('a' + i % 26);

  printf("HTTP client benchmark: keep-alive POST of 1 KiB, server on its own thread; %.1f s per "
         "run, median of %d rounds\n",
         run_seconds, rounds);
  static const int concs[] = {1, 16, 64};
  for (int tls = 0; tls <= 1; tls++) {
    server_t sv;
    server_start(&sv, tls);
    char url[128];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%u/bench", tls ? "https" : "http", sv.port);
    for (int i = 0; i < 3; i++)
      compare(tls ? "tls" : "plain", url, tls, concs[i]);
    server_stop(&sv);
  }
  test_nginx_t ngx;
  test_nginx_start(&ngx, NULL);
  for (int tls = 0; tls <= 1; tls++) {
    char url[128];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d/", tls ? "https" : "http",
             tls ? ngx.https_port : ngx.http_port);
    memory_per_conn(url, tls ? "tls" : "plain");
  }
  test_nginx_stop(&ngx);
  curl_global_cleanup();
  return 0;
}
