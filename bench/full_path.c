/* Full-path benchmark: llmrt_call (streamed and not) through the public API
 * against nginx serving a fixed chat reply, with libcurl's multi interface
 * doing the same HTTP work (POST of the same JSON body with the same headers,
 * reading the same response into a buffer) in the same run.
 *
 * nginx (a separate process, tests/common/nginx.c) answers
 *   POST /json/v1/chat/completions  a fixed OpenAI chat.completion
 *   POST /sse/v1/chat/completions   a fixed text/event-stream body (role
 *                                   chunk, one chunk per token, finish chunk,
 *                                   usage chunk, [DONE])
 * with keep-alive (keepalive_requests 1000000), and stub_status, whose
 * "accepts" counter checks the connections each client opened.
 *
 * For concurrency 1, 16 and 64, llmrt and curl each keep that many calls in
 * flight for a short time after a warm-up. Configurations are interleaved
 * and each figure is the median over rounds (a noisy shared machine): calls/s,
 * p50/p99 latency, CPU per call (getrusage user+sys of this process, which
 * holds only the client), connections opened in the measured phase (llmrt:
 * llmrt_pool_stats().opened; curl: CURLINFO_NUM_CONNECTS summed; nginx: the
 * stub_status accepts delta), and the ratios llmrt/curl. curl does only the
 * HTTP work; llmrt also encodes the request and decodes the JSON or SSE
 * reply into callbacks, which is the point of the comparison. Nothing here
 * gates on absolute times.
 *
 * Usage: bench_full_path [seconds-per-run (default 0.5)] [rounds (default 5)]
 * BENCH_DEFER=1 starts each next llmrt call on the next loop turn instead of
 * from inside on_done, to tell a reuse problem tied to re-entrant starts
 * from one tied to timing.
 */
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "llmrt.h"
#include "nginx.h"

#define TOKENS 16
#define MAX_ROUNDS 15
#define MODEL "bench-model"
#define PROMPT "Benchmark prompt: say something."

static const char *const words[TOKENS] = {
    "The",  " quick", " brown", " fox", " jumps",  " over", " the", " lazy",
    " dog", " while", " the",   " cat", " sleeps", " in",   " the", " sun."};

static char reply_text[512];
static char json_reply[4096];
static char sse_reply[4096];
static char *nginx_extra;
static double run_seconds = 0.5;
static int rounds = 5;
static test_nginx_t ngx;

/* ---- Fixed replies and the nginx configuration ------------------------------ */

static size_t add(char *buf, size_t cap, size_t len, const char *fmt, const char *arg) {
  int n = snprintf(buf + len, cap - len, fmt, arg);
  if (n < 0 || (size_t)n >= cap - len) {
    fprintf(stderr, "full_path: reply too large\n");
    exit(1);
  }
  return len + (size_t)n;
}

#define CHUNK_HEAD                                                                                 \
  "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"  \
  "\"model\":\"" MODEL "\","
#define USAGE "{\"prompt_tokens\":8,\"completion_tokens\":16,\"total_tokens\":24}"

static void build_replies(void) {
  size_t n = 0;
  for (int i = 0; i < TOKENS; i++)
    n = add(reply_text, sizeof reply_text, n, "%s", words[i]);
  n = add(json_reply, sizeof json_reply, 0,
          "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1700000000,"
          "\"model\":\"" MODEL "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
          "\"content\":\"%s\"},\"finish_reason\":\"stop\"}],\"usage\":" USAGE "}",
          reply_text);
  n = add(sse_reply, sizeof sse_reply, 0,
          CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
                     "\"\"},\"finish_reason\":null}]%s}\n\n",
          "");
  for (int i = 0; i < TOKENS; i++)
    n = add(sse_reply, sizeof sse_reply, n,
            CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},"
                       "\"finish_reason\":null}]}\n\n",
            words[i]);
  n = add(sse_reply, sizeof sse_reply, n,
          CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n%s",
          "");
  n = add(sse_reply, sizeof sse_reply, n, CHUNK_HEAD "\"choices\":[],\"usage\":" USAGE "}\n\n%s",
          "");
  add(sse_reply, sizeof sse_reply, n, "data: [DONE]\n\n%s", "");
}

/* s as the inside of an nginx single-quoted string: newlines as \n. nginx
 * reads a configuration token into a 4 KiB buffer, so the escaped reply must
 * stay below that. */
static void nginx_quote(char *out, size_t cap, const char *s) {
  size_t j = 0;
  for (; *s; s++) {
    if (j + 3 >= cap) {
      fprintf(stderr, "full_path: reply does not fit an nginx token\n");
      exit(1);
    }
    if (*s == '\n') {
      out[j++] = '\\';
      out[j++] = 'n';
    } else {
      if (*s == '\'' || *s == '\\' || *s == '$') {
        fprintf(stderr, "full_path: reply holds a character nginx would interpret\n");
        exit(1);
      }
      out[j++] = *s;
    }
  }
  out[j] = '\0';
}

static void build_nginx_extra(void) {
  char qj[4000], qs[4000];
  nginx_quote(qj, sizeof qj, json_reply);
  nginx_quote(qs, sizeof qs, sse_reply);
  size_t cap = strlen(qj) + strlen(qs) + 1024;
  nginx_extra = malloc(cap);
  if (!nginx_extra) abort();
  snprintf(nginx_extra, cap,
           "    keepalive_requests 1000000;\n"
           "    location = /json/v1/chat/completions {\n"
           "      default_type application/json;\n"
           "      return 200 '%s';\n"
           "    }\n"
           "    location = /sse/v1/chat/completions {\n"
           "      default_type text/event-stream;\n"
           "      add_header Cache-Control no-cache;\n"
           "      return 200 '%s';\n"
           "    }\n"
           "    location = /nginx_status { stub_status; }\n",
           qj, qs);
}

/* nginx's accepted-connection counter, read with a blocking GET on a
 * connection of its own (counted too: callers subtract one per reading). */
static long nginx_accepts(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)ngx.http_port);
  char buf[2048];
  size_t len = 0;
  static const char rq[] = "GET /nginx_status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0 ||
      write(s, rq, sizeof rq - 1) != (ssize_t)(sizeof rq - 1)) {
    close(s);
    return -1;
  }
  for (;;) {
    ssize_t r = read(s, buf + len, sizeof buf - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
    if (len == sizeof buf - 1) break;
  }
  close(s);
  buf[len] = '\0';
  /* "...server accepts handled requests\n 12 12 34 \n..." */
  const char *p = strstr(buf, "requests\n");
  return p ? strtol(p + 9, NULL, 10) : -1;
}

/* ---- Figures of one run --------------------------------------------------- */

typedef struct {
  double calls_s, p50_us, p99_us, cpu_us; /* cpu_us: per call */
  double opened, ngx_opened;              /* connections opened in the measured phase */
  long calls, errors;
} result_t;

typedef struct {
  uint64_t *lat; /* microseconds */
  size_t n, cap;
  long errors;
  uint64_t t_end;
  int inflight;
} tally_t;

static uint64_t now_us(void) {
  return uv_hrtime() / 1000;
}

static void tally_add(tally_t *t, uint64_t us) {
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 65536;
    t->lat = realloc(t->lat, t->cap * sizeof(uint64_t));
    if (!t->lat) abort();
  }
  t->lat[t->n++] = us;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double cpu_now_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

typedef struct {
  uint64_t t0;
  double cpu0;
  long ngx0;
} mark_t;

static mark_t mark(void) {
  mark_t m = {0, 0, nginx_accepts()};
  m.cpu0 = cpu_now_us();
  m.t0 = now_us();
  return m;
}

static result_t finish(tally_t *t, const mark_t *m) {
  uint64_t t1 = now_us();
  double cpu1 = cpu_now_us();
  long ngx1 = nginx_accepts();
  result_t r;
  memset(&r, 0, sizeof r);
  r.calls = (long)t->n;
  r.errors = t->errors;
  r.ngx_opened = m->ngx0 >= 0 && ngx1 >= 0 ? (double)(ngx1 - m->ngx0 - 1) : -1;
  if (!t->n) return r;
  qsort(t->lat, t->n, sizeof(uint64_t), cmp_u64);
  r.calls_s = (double)t->n / ((double)(t1 - m->t0) / 1e6);
  r.p50_us = (double)t->lat[t->n / 2];
  r.p99_us = (double)t->lat[(size_t)((double)t->n * 0.99)];
  r.cpu_us = (cpu1 - m->cpu0) / (double)t->n;
  return r;
}

/* ---- llmrt ------------------------------------------------------------------ */

typedef struct {
  tally_t *t;
  llmrt_t *rt;
  int stream;
  uint64_t t0;
  size_t tokens;
  uv_timer_t next; /* BENCH_DEFER=1: the next call starts on the next loop turn */
} lslot_t;
static int defer_next;
static void l_next(uv_timer_t *tm);

static void l_start(lslot_t *s);

static void l_token(llmrt_call_t *c, const char *text, size_t len, void *user) {
  lslot_t *s = user;
  s->tokens++;
}

/* A call counts when it delivered the whole reply; anything else is an error
 * (so a broken decode cannot pass as fast). */
static void l_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  lslot_t *s = user;
  uint64_t now = now_us();
  int ok = status == 0 && res->text_len == strlen(reply_text) &&
           memcmp(res->text, reply_text, res->text_len) == 0 && res->finish_reason &&
           strcmp(res->finish_reason, "stop") == 0 && (!s->stream || s->tokens > 0);
  if (ok)
    tally_add(s->t, now - s->t0);
  else if (s->t->errors++ < 3)
    fprintf(stderr, "llmrt: %s (%s)\n", status ? llmrt_err_name(status) : "wrong reply",
            res->error_message ? res->error_message : "");
  if (now < s->t->t_end && defer_next)
    uv_timer_start(&s->next, l_next, 0, 0);
  else if (now < s->t->t_end)
    l_start(s);
  else
    s->t->inflight--;
}

static const llmrt_callbacks_t l_cbs = {l_token, NULL, l_done};

static void l_start(lslot_t *s) {
  static const llmrt_message_t m = {.role = "user", .content = PROMPT};
  llmrt_request_t req;
  llmrt_request_init(&req);
  req.upstream = s->stream ? "sse" : "json";
  req.model = MODEL;
  req.messages = &m;
  req.n_messages = 1;
  req.max_tokens = 64;
  req.stream = s->stream;
  s->tokens = 0;
  s->t0 = now_us();
  if (llmrt_call(s->rt, &req, &l_cbs, s, NULL) != 0) {
    s->t->errors++;
    s->t->inflight--;
  }
}

static void l_next(uv_timer_t *tm) {
  l_start(tm->data);
}

static void l_run(llmrt_t *rt, uv_loop_t *loop, int stream, int conc, double secs, tally_t *t) {
  lslot_t *slots = calloc((size_t)conc, sizeof(*slots));
  if (!slots) abort();
  t->t_end = now_us() + (uint64_t)(secs * 1e6);
  t->inflight = conc;
  for (int i = 0; i < conc; i++) {
    slots[i] = (lslot_t){.t = t, .rt = rt, .stream = stream};
    uv_timer_init(loop, &slots[i].next);
    slots[i].next.data = &slots[i];
  }
  for (int i = 0; i < conc; i++)
    l_start(&slots[i]);
  while (t->inflight > 0)
    uv_run(loop, UV_RUN_ONCE);
  for (int i = 0; i < conc; i++)
    uv_close((uv_handle_t *)&slots[i].next, NULL);
  uv_run(loop, UV_RUN_NOWAIT); /* their close callbacks, before the slots go */
  free(slots);
}

static int closed_flag;
static void on_closed(llmrt_t *rt, void *u) {
  closed_flag = 1;
}

static result_t bench_llmrt(int stream, int conc) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  llmrt_options_t o;
  llmrt_options_init(&o);
  llmrt_t *rt;
  if (llmrt_new(&loop, &o, &rt) != 0) abort();
  char cfg[512], err[256];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{"
           "\"json\":{\"base_url\":\"http://127.0.0.1:%d/json/v1\",\"api_key_env\":\"BENCH_KEY\"},"
           "\"sse\":{\"base_url\":\"http://127.0.0.1:%d/sse/v1\",\"api_key_env\":\"BENCH_KEY\"}},"
           "\"default_upstream\":\"json\"}",
           ngx.http_port, ngx.http_port);
  if (llmrt_configure(rt, cfg, err, sizeof err) != 0) {
    fprintf(stderr, "llmrt_configure: %s\n", err);
    exit(1);
  }
  tally_t warm = {0}, t = {0};
  l_run(rt, &loop, stream, conc, 0.1, &warm);
  llmrt_pool_stats_t a, b;
  llmrt_pool_stats(rt, NULL, &a);
  mark_t m = mark();
  l_run(rt, &loop, stream, conc, run_seconds, &t);
  result_t r = finish(&t, &m);
  llmrt_pool_stats(rt, NULL, &b);
  r.opened = (double)(b.opened - a.opened);
  r.errors += warm.errors;
  closed_flag = 0;
  llmrt_close(rt, on_closed, NULL);
  while (!closed_flag)
    uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(warm.lat);
  free(t.lat);
  return r;
}

/* ---- curl ------------------------------------------------------------------- */

typedef struct {
  CURL *e;
  uint64_t t0;
  char *buf; /* the response, read as llmrt reads it: into memory */
  size_t len, cap;
} cslot_t;

static size_t c_write(char *p, size_t sz, size_t n, void *u) {
  cslot_t *s = u;
  size_t k = sz * n;
  if (s->len + k > s->cap) {
    s->cap = (s->len + k) * 2;
    s->buf = realloc(s->buf, s->cap);
    if (!s->buf) return 0;
  }
  memcpy(s->buf + s->len, p, k);
  s->len += k;
  return k;
}

static void c_run(CURLM *m, cslot_t *slots, int conc, double secs, const char *expect, tally_t *t,
                  long *connects) {
  size_t expect_len = strlen(expect);
  t->t_end = now_us() + (uint64_t)(secs * 1e6);
  t->inflight = conc;
  for (int i = 0; i < conc; i++) {
    slots[i].t0 = now_us();
    slots[i].len = 0;
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
      long code = 0, nc = 0;
      curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, &code);
      curl_easy_getinfo(s->e, CURLINFO_NUM_CONNECTS, &nc);
      *connects += nc;
      if (msg->data.result == CURLE_OK && code == 200 && s->len == expect_len &&
          memcmp(s->buf, expect, expect_len) == 0)
        tally_add(t, now - s->t0);
      else if (t->errors++ < 3)
        fprintf(stderr, "curl: %s (HTTP %ld, %zu bytes)\n", curl_easy_strerror(msg->data.result),
                code, s->len);
      curl_multi_remove_handle(m, s->e);
      if (now < t->t_end) {
        s->t0 = now_us();
        s->len = 0;
        curl_multi_add_handle(m, s->e);
      } else {
        t->inflight--;
      }
    }
    if (t->inflight > 0) curl_multi_poll(m, NULL, 0, 100, NULL);
  }
}

static result_t bench_curl(int stream, int conc) {
  /* The body llmrt's OpenAI adapter writes for the same request. */
  char body[512], url[128];
  snprintf(body, sizeof body,
           "{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"" PROMPT
           "\"}],\"max_tokens\":64,\"stream\":%s}",
           stream ? "true,\"stream_options\":{\"include_usage\":true}" : "false");
  snprintf(url, sizeof url, "http://127.0.0.1:%d/%s/v1/chat/completions", ngx.http_port,
           stream ? "sse" : "json");
  CURLM *m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
  struct curl_slist *hs = curl_slist_append(NULL, "Expect:");
  hs = curl_slist_append(hs, "Content-Type: application/json");
  hs = curl_slist_append(hs, stream ? "Accept: text/event-stream" : "Accept: application/json");
  hs = curl_slist_append(hs, "Authorization: Bearer bench");
  cslot_t *slots = calloc((size_t)conc, sizeof(*slots));
  if (!slots) abort();
  for (int i = 0; i < conc; i++) {
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip, deflate"); /* as llmrt asks */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, c_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &slots[i]);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[i]);
    slots[i].e = e;
  }
  const char *expect = stream ? sse_reply : json_reply;
  tally_t warm = {0}, t = {0};
  long wc = 0, connects = 0;
  c_run(m, slots, conc, 0.1, expect, &warm, &wc);
  mark_t mk = mark();
  c_run(m, slots, conc, run_seconds, expect, &t, &connects);
  result_t r = finish(&t, &mk);
  r.opened = (double)connects;
  r.errors += warm.errors;
  for (int i = 0; i < conc; i++) {
    curl_easy_cleanup(slots[i].e);
    free(slots[i].buf);
  }
  curl_multi_cleanup(m);
  curl_slist_free_all(hs);
  free(slots);
  free(warm.lat);
  free(t.lat);
  return r;
}

/* ---- Main ------------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
  double s[MAX_ROUNDS];
  memcpy(s, v, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof(double), cmp_d);
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

typedef struct {
  double calls_s[MAX_ROUNDS], p50[MAX_ROUNDS], p99[MAX_ROUNDS], cpu[MAX_ROUNDS];
  double opened[MAX_ROUNDS], ngx[MAX_ROUNDS], per_k[MAX_ROUNDS];
  long errors;
} series_t;

static void keep(series_t *s, int i, const result_t *r) {
  s->calls_s[i] = r->calls_s;
  s->p50[i] = r->p50_us;
  s->p99[i] = r->p99_us;
  s->cpu[i] = r->cpu_us;
  s->opened[i] = r->opened;
  s->ngx[i] = r->ngx_opened;
  s->per_k[i] = r->calls ? r->opened * 1000.0 / (double)r->calls : 0;
  s->errors += r->errors;
}

static const int concs[] = {1, 16, 64};
#define NCONC (sizeof concs / sizeof concs[0])

static void print_row(const char *who, const series_t *s) {
  printf("  %-5s %9.0f %8.0f %8.0f %9.1f %9.0f %9.0f %9.1f%s\n", who, median(s->calls_s, rounds),
         median(s->p50, rounds), median(s->p99, rounds), median(s->cpu, rounds),
         median(s->opened, rounds), median(s->ngx, rounds), median(s->per_k, rounds),
         s->errors ? "  (errors!)" : "");
}

int main(int argc, char **argv) {
  if (argc > 1) run_seconds = atof(argv[1]);
  if (argc > 2) rounds = atoi(argv[2]);
  if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 5;
  if (run_seconds <= 0) run_seconds = 0.5;
  setvbuf(stdout, NULL, _IOLBF, 0); /* progress on stderr stays in order */
  setenv("BENCH_KEY", "bench", 1);
  defer_next = getenv("BENCH_DEFER") && atoi(getenv("BENCH_DEFER"));
  curl_global_init(CURL_GLOBAL_DEFAULT);
  build_replies();
  build_nginx_extra();
  test_nginx_start(&ngx, nginx_extra);
  if (nginx_accepts() < 0) fprintf(stderr, "full_path: nginx stub_status unreadable\n");

  static series_t res[2][NCONC][2]; /* [stream][conc][0 llmrt, 1 curl] */
  printf("full_path: llmrt_call vs libcurl multi (same POST, same reply) against nginx on "
         "loopback; %.2f s per run, median of %d interleaved rounds\n",
         run_seconds, rounds);
  fflush(stdout);
  for (int r = 0; r < rounds; r++) {
    for (size_t c = 0; c < NCONC; c++) {
      for (int stream = 0; stream <= 1; stream++) {
        /* Alternate who goes first, so neither always gets the warmer machine. */
        int first = r % 2;
        for (int k = 0; k < 2; k++) {
          int who = k ^ first;
          result_t x = who == 0 ? bench_llmrt(stream, concs[c]) : bench_curl(stream, concs[c]);
          keep(&res[stream][c][who], r, &x);
        }
      }
    }
    fprintf(stderr, "  round %d/%d done\n", r + 1, rounds);
  }

  for (int stream = 0; stream <= 1; stream++) {
    printf("\n%s (%zu-byte reply%s)\n",
           stream ? "streamed (SSE)" : "not streamed (chat.completion JSON)",
           strlen(stream ? sse_reply : json_reply), stream ? ", 16 token chunks" : "");
    for (size_t c = 0; c < NCONC; c++) {
      series_t *l = &res[stream][c][0], *k = &res[stream][c][1];
      printf(" c=%-3d %9s %8s %8s %9s %9s %9s %9s\n", concs[c], "calls/s", "p50 us", "p99 us",
             "cpu us/c", "conns", "ngx conns", "conns/1k");
      print_row("llmrt", l);
      print_row("curl", k);
      double lc = median(l->opened, rounds), kc = median(k->opened, rounds);
      printf("  llmrt/curl: calls/s %.2f  p50 %.2f  p99 %.2f  cpu/call %.2f  conns %.0f vs %.0f\n",
             median(l->calls_s, rounds) / median(k->calls_s, rounds),
             median(l->p50, rounds) / median(k->p50, rounds),
             median(l->p99, rounds) / median(k->p99, rounds),
             median(l->cpu, rounds) / median(k->cpu, rounds), lc, kc);
      if (l->errors || k->errors) printf("  errors: llmrt %ld curl %ld\n", l->errors, k->errors);
    }
  }
  printf("\nconns: connections opened in the measured phase (llmrt_pool_stats().opened / "
         "CURLINFO_NUM_CONNECTS summed); ngx conns: nginx stub_status accepts over the same "
         "phase; conns/1k: per 1000 calls. A keep-alive client should open ~0.\n");
  test_nginx_stop(&ngx);
  free(nginx_extra);
  curl_global_cleanup();
  return 0;
}
