/* bench_gateway: what `llmrt serve` adds. The gateway runs as its own
 * process (the real binary) in front of the mock (on a thread here); the
 * client sends at fixed rates, open loop, to the mock directly and through
 * the gateway, in the same run, and prints:
 *   - added latency: p50 and p99 through the gateway minus direct, at each
 *     rate, not streamed and streamed (time to the whole answer);
 *   - the gateway process's CPU per request (from /proc/PID/stat);
 *   - the gateway's resident memory per open streamed call, at N open
 *     streams (RSS with N streams held open minus RSS idle, over N).
 * Usage: bench_gateway [seconds per phase (2)] [rates (1000,5000,10000)]
 *                      [open streams (1000)]
 * Absolute figures depend on the machine (2 shared cores here): read the
 * differences and ratios. Not a test. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "llmrt.h"

#ifndef LLMRT_BENCH_BIN
#define LLMRT_BENCH_BIN "llmrt"
#endif

#define KEY "gk-bench-key-0001"

static uv_loop_t *loop;
static llmrt_t *rt;

typedef struct {
  const char *url;
  const char *body;
  llmrt_header_t hdrs[3];
  size_t n_hdrs;
  double rate;
  uint64_t end_ms;
  double t_start;
  uint64_t sent, done, failed;
  double *lat;
  size_t n_lat, cap_lat;
  uv_timer_t tick;
  uv_buf_t buf;
} phase_t;

typedef struct {
  phase_t *ph;
  double t0;
} req_t;

static void on_done(llmrt_http_t *h, int status, const char *errmsg, void *user) {
  (void)h;
  (void)errmsg;
  req_t *r = user;
  phase_t *ph = r->ph;
  ph->done++;
  if (status)
    ph->failed++;
  else if (ph->n_lat < ph->cap_lat)
    ph->lat[ph->n_lat++] = (bench_now() - r->t0) * 1e6;
  free(r);
}

static int on_head(llmrt_http_t *h, int status, const llmrt_header_t *hd, size_t n, void *u) {
  (void)h, (void)hd, (void)n, (void)u;
  return status == 200 ? 0 : LLMRT_EHTTPSTATUS;
}

static void send_one(phase_t *ph) {
  req_t *r = malloc(sizeof *r);
  r->ph = ph;
  r->t0 = bench_now();
  llmrt_http_request_t hr;
  llmrt_http_request_init(&hr);
  hr.method = "POST";
  hr.url = ph->url;
  hr.headers = ph->hdrs;
  hr.n_headers = ph->n_hdrs;
  hr.body = &ph->buf;
  hr.n_body = 1;
  hr.max_connections = 1200;
  llmrt_http_callbacks_t cbs = {on_head, NULL, on_done};
  ph->sent++;
  if (llmrt_http_request(rt, &hr, &cbs, r, NULL)) {
    ph->done++;
    ph->failed++;
    free(r);
  }
}

static void tick(uv_timer_t *t) {
  phase_t *ph = t->data;
  if (uv_now(loop) >= ph->end_ms) {
    uv_timer_stop(t);
    return;
  }
  /* Open loop: what the rate owes since the start goes out now, whatever
   * is still in flight (a late tick sends more, so the rate holds). */
  double owed = ph->rate * (bench_now() - ph->t_start);
  while ((double)ph->sent < owed)
    send_one(ph);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
  if (!n) return 0;
  qsort(v, n, sizeof *v, cmp_d);
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i];
}

static double proc_cpu_s(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  unsigned long ut = 0, st = 0;
  /* After the comm field: state ppid pgrp session tty tpgid flags minflt
   * cminflt majflt cmajflt utime stime. */
  if (p) sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
  if (f) fclose(f);
  return kb;
}

typedef struct {
  double p50, p99, rps;
  uint64_t ok, failed;
} result_t;

static result_t run_phase(const char *url, const char *body, int gw, double rate, double secs) {
  phase_t ph;
  memset(&ph, 0, sizeof ph);
  ph.url = url;
  ph.body = body;
  ph.buf = uv_buf_init((char *)body, (unsigned)strlen(body));
  ph.hdrs[ph.n_hdrs++] = (llmrt_header_t){"Content-Type", "application/json"};
  ph.hdrs[ph.n_hdrs++] =
      (llmrt_header_t){"Authorization", gw ? "Bearer " KEY : "Bearer sk-bench-upstream"};
  ph.rate = rate;
  ph.cap_lat = (size_t)(rate * secs * 1.2) + 16;
  ph.lat = malloc(ph.cap_lat * sizeof *ph.lat);
  uv_update_time(loop);
  ph.end_ms = uv_now(loop) + (uint64_t)(secs * 1000);
  uv_timer_init(loop, &ph.tick);
  ph.tick.data = &ph;
  double t0 = bench_now();
  ph.t_start = t0;
  uv_timer_start(&ph.tick, tick, 1, 1);
  while (uv_now(loop) < ph.end_ms || ph.done < ph.sent)
    uv_run(loop, UV_RUN_ONCE);
  double el = bench_now() - t0;
  uv_close((uv_handle_t *)&ph.tick, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  result_t r = {pct(ph.lat, ph.n_lat, 0.5), pct(ph.lat, ph.n_lat, 0.99), (double)ph.done / el,
                ph.done - ph.failed, ph.failed};
  free(ph.lat);
  return r;
}

/* ---- Open streams held: memory per call ---- */

static unsigned open_heads;
static int hold_head(llmrt_http_t *h, int status, const llmrt_header_t *hd, size_t n, void *u) {
  (void)h, (void)hd, (void)n, (void)u;
  if (status == 200) open_heads++;
  return 0;
}
static void hold_done(llmrt_http_t *h, int status, const char *errmsg, void *user) {
  (void)h, (void)status, (void)errmsg;
  (*(unsigned *)user)--;
}

static void start_gateway(const char *cfgpath, pid_t *pid, int *port) {
  int p[2];
  if (pipe(p)) exit(1);
  *pid = fork();
  if (*pid == 0) {
    dup2(p[1], 2);
    close(p[0]);
    execl(LLMRT_BENCH_BIN, "llmrt", "serve", "--config", cfgpath, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  FILE *f = fdopen(p[0], "r");
  char line[256];
  *port = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "llmrt serve: listening on port %d", port) == 1) break;
  /* The rest of its stderr is discarded by a child of ours, so it never
   * blocks on a full pipe. */
  if (fork() == 0) {
    while (fgets(line, sizeof line, f)) {
    }
    _exit(0);
  }
  fclose(f);
}

static void memory_phase(pid_t gpid, const char *gw_url, unsigned n_open, bench_mock_t *bmp) {
  /* Memory per open streamed call. */
  long rss_idle = proc_rss_kb(gpid);
  unsigned live = 0;
  open_heads = 0;
  const char *hbody = "{\"model\":\"hold\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                      "\"content\":\"x\"}]}";
  uv_buf_t hb = uv_buf_init((char *)hbody, (unsigned)strlen(hbody));
  llmrt_header_t hh[] = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " KEY}};
  llmrt_http_t **hs = calloc(n_open, sizeof *hs);
  for (unsigned i = 0; i < n_open; i++) {
    llmrt_http_request_t hr;
    llmrt_http_request_init(&hr);
    hr.method = "POST";
    hr.url = gw_url;
    hr.headers = hh;
    hr.n_headers = 2;
    hr.body = &hb;
    hr.n_body = 1;
    hr.max_connections = 1200;
    llmrt_http_callbacks_t cbs = {hold_head, NULL, hold_done};
    if (llmrt_http_request(rt, &hr, &cbs, &live, &hs[i]) == 0) live++;
  }
  /* The calls are open upstream (the mock holds them before the first
   * token); wait until the mock has them all. */
  double t0 = bench_now();
  llmrt_mock_stats_t ms;
  do {
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(2000);
    llmrt_mock_stats(bmp->mock, &ms);
  } while (ms.active < n_open && bench_now() - t0 < 20);
  usleep(200000);
  long rss_open = proc_rss_kb(gpid);
  printf("open streamed calls: %u held open (mock sees %u); gateway RSS %ld kB idle, %ld kB "
         "open: %.1f kB per open streamed call\n",
         n_open, ms.active, rss_idle, rss_open,
         (double)(rss_open - rss_idle) / (double)(ms.active ? ms.active : 1));
  for (unsigned i = 0; i < n_open; i++)
    if (hs[i]) llmrt_http_cancel(hs[i]);
  while (live)
    uv_run(loop, UV_RUN_ONCE);
  free(hs);
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 2.0;
  const char *rates_s = argc > 2 ? argv[2] : "1000,5000,10000";
  unsigned n_open = argc > 3 ? (unsigned)atoi(argv[3]) : 1000;
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  bench_mock_t bm;
  if (bench_mock_start(&bm, "tokens=16")) return 1;
  char cfgpath[] = "/tmp/llmrt-bench-gw-XXXXXX";
  int fd = mkstemp(cfgpath);
  char cfg[2048];
  int n = snprintf(cfg, sizeof cfg,
                   "{\"listen\":\"127.0.0.1:0\",\"upstreams\":{"
                   "\"m\":{\"base_url\":\"%s\",\"api_key_env\":\"BENCH_UPKEY\","
                   "\"max_connections\":1200},"
                   "\"hold\":{\"base_url\":\"%s\",\"api_key_env\":\"BENCH_UPKEY\","
                   "\"max_connections\":1200,\"headers\":{\"x-mock\":\"ttft_ms=60000\"}}},"
                   "\"default_upstream\":\"m\",\"routes\":{\"bench\":{\"upstream\":\"m\"},"
                   "\"hold\":{\"upstream\":\"hold\"}},"
                   "\"auth\":{\"keys\":[{\"key\":\"" KEY "\",\"tenant\":\"bench\"}]},"
                   "\"access_log\":\"off\",\"shutdown_grace_ms\":0}",
                   bm.url, bm.url);
  if (write(fd, cfg, (size_t)n) != n) return 1;
  close(fd);
  setenv("BENCH_UPKEY", "sk-bench-upstream", 1);
  pid_t gpid;
  int gport;
  start_gateway(cfgpath, &gpid, &gport);
  if (!gport) {
    fprintf(stderr, "the gateway did not start\n");
    return 1;
  }
  loop = uv_default_loop();
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.pool_max_per_origin = 1200;
  /* An open-loop client past saturation queues; it must not refuse. */
  o.pool_max_queue = 1u << 20;
  llmrt_new(loop, &o, &rt);

  char direct_url[192], gw_url[128];
  snprintf(direct_url, sizeof direct_url, "%s/chat/completions", bm.url);
  snprintf(gw_url, sizeof gw_url, "http://127.0.0.1:%d/v1/chat/completions", gport);
  const char *body = "{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":"
                     "\"Say something short.\"}],\"max_tokens\":16}";
  const char *sbody = "{\"model\":\"bench\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                      "\"content\":\"Say something short.\"}],\"max_tokens\":16}";
  printf("bench_gateway: %.1f s per phase; the gateway is pid %d (%s)\n", secs, (int)gpid,
         LLMRT_BENCH_BIN);
  /* Memory first, while the gateway has served nothing: later phases
   * leave freed memory in its heap that would hide what calls take. */
  memory_phase(gpid, gw_url, n_open, &bm);
  /* Warm both paths' connections. */
  run_phase(direct_url, body, 0, 500, 0.3);
  run_phase(gw_url, body, 1, 500, 0.3);
  printf("%-9s %7s | %9s %9s | %9s %9s | %9s %9s | %8s %6s\n", "mode", "rate", "direct50",
         "direct99", "gw50", "gw99", "added50", "added99", "gwCPU/rq", "fail");
  char rates[128];
  snprintf(rates, sizeof rates, "%s", rates_s);
  for (int s = 0; s < 2; s++) {
    for (char *tok = strtok(rates, ","); tok; tok = strtok(NULL, ",")) {
      double rate = atof(tok);
      result_t d = run_phase(direct_url, s ? sbody : body, 0, rate, secs);
      double c0 = proc_cpu_s(gpid);
      result_t g = run_phase(gw_url, s ? sbody : body, 1, rate, secs);
      double cpu = proc_cpu_s(gpid) - c0;
      printf("%-9s %7.0f | %7.0fus %7.0fus | %7.0fus %7.0fus | %7.0fus %7.0fus | %6.1fus "
             "%6llu\n",
             s ? "streamed" : "whole", rate, d.p50, d.p99, g.p50, g.p99, g.p50 - d.p50,
             g.p99 - d.p99, g.ok ? cpu * 1e6 / (double)g.ok : 0,
             (unsigned long long)(d.failed + g.failed));
      if (g.rps < rate * 0.9 || d.rps < rate * 0.9)
        printf("          (achieved: direct %.0f/s, gateway %.0f/s)\n", d.rps, g.rps);
    }
    snprintf(rates, sizeof rates, "%s", rates_s);
  }

  kill(gpid, SIGTERM);
  waitpid(gpid, NULL, 0);
  unlink(cfgpath);
  llmrt_close(rt, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  bench_mock_stop(&bm);
  return 0;
}
