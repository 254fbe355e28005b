/* llmrt bench: options, prompts, runtimes and the final report (text and
 * JSON). The scheduling and measuring is in bench_run.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench.h"

#define MAX_PROMPTS 100000
#define MAX_PROMPTS_BYTES (256u << 20)

static void bench_usage(FILE *f) {
  fprintf(f, "usage: llmrt bench [options]\n"
             "\n"
             "Load-tests an OpenAI- or Anthropic-compatible endpoint (a provider, the llmrt\n"
             "gateway, `llmrt mock`, vLLM, ...) and reports latency percentiles (total and\n"
             "first token), throughput, tokens/s and errors by type.\n"
             "\n"
             "load:\n"
             "  -c, --concurrency N    closed loop: N calls in flight (default 8)\n"
             "  -r, --rate R           open loop: R calls per second whatever the answers do;\n"
             "                         latency counts from when each call was due, so queueing\n"
             "                         shows (no coordinated omission)\n"
             "  -d, --duration S       send for S seconds (then wait for calls in flight)\n"
             "  -N, --requests N       send N calls (per target with --vs); default 100 when\n"
             "                         no --duration is given\n"
             "      --no-stream        non-streamed calls (first token = whole answer)\n"
             "      --prompts FILE     JSON lines, used in turn: \"text\", {\"prompt\": \"text\",\n"
             "                         \"system\": \"text\"} or {\"messages\": [{\"role\": ...,\n"
             "                         \"content\": ...}]}; default: generated prompts of\n"
             "                         varied length\n"
             "  -n, --max-tokens N     maximum output tokens per call (default 64)\n"
             "target (as in llmrt chat):\n"
             "  -p, --provider NAME    openai or anthropic\n"
             "  -m, --model NAME       model (default gpt-4o-mini / claude-3-5-haiku-latest)\n"
             "      --base-url URL     the API root, with or without /v1\n"
             "      --config FILE      an llmrt configuration: its plugins run on every call\n"
             "      --retries N        retries through the retry plugin (0..10, default 0 here:\n"
             "                         a benchmark counts failures rather than hiding them)\n"
             "  -H, --header 'N: V'    an extra request header (repeatable)\n"
             "      --ca-file FILE, --insecure, --timeout MS   as in llmrt chat (also\n"
             "                         HTTPS_PROXY, http_proxy and NO_PROXY)\n"
             "      --mock             an in-process mock upstream (no network, no key)\n"
             "      --mock-controls S  its default controls (x-mock syntax, e.g.\n"
             "                         \"ttft_ms=300,token_ms=20\"; see tools/mock/README.md)\n"
             "side by side:\n"
             "      --vs KEY=VALUE     a second target B differing from A in KEY: base-url,\n"
             "                         config, provider, model or retries (repeatable). Calls\n"
             "                         alternate between A and B in one run; every figure is\n"
             "                         printed for both with the ratio B/A\n"
             "output:\n"
             "      --json FILE        also write the report as JSON (\"-\": stdout, and the\n"
             "                         text report goes to stderr)\n"
             "  -h, --help             this help\n"
             "\n"
             "A progress line is shown while it runs when stderr is a terminal. Ctrl-C stops\n"
             "sending; calls in flight are waited for and reported.\n"
             "\n"
             "exit status: 0 the run completed (failed calls are counted, not fatal);\n"
             "1 internal error; 2 usage, unreadable --prompts/--config/--ca-file; 3 API key\n"
             "not set; 7 --config refused; 130 interrupted (the report is still printed)\n");
}

static void free_prompts(bench_t *b) {
  for (size_t i = 0; i < b->n_prompts; i++) {
    for (size_t j = 0; j < b->prompts[i].n; j++) {
      free((char *)b->prompts[i].msgs[j].role);
      free((char *)b->prompts[i].msgs[j].content);
    }
    free(b->prompts[i].msgs);
  }
  free(b->prompts);
  b->prompts = NULL;
  b->n_prompts = 0;
}

static int add_prompt(bench_t *b, size_t cap, const char *const *roles, const char *const *texts,
                      size_t n) {
  (void)cap;
  bench_prompt_t *p = &b->prompts[b->n_prompts];
  p->msgs = calloc(n, sizeof *p->msgs);
  if (!p->msgs) return -1;
  b->n_prompts++;
  for (size_t i = 0; i < n; i++) {
    p->msgs[i].role = strdup(roles[i]);
    p->msgs[i].content = strdup(texts[i]);
    p->n++;
    if (!p->msgs[i].role || !p->msgs[i].content) return -1;
  }
  return 0;
}

/* Default prompts: short to long, so answers and prefill both vary. */
static int generate_prompts(bench_t *b) {
  static const char *topics[] = {"event loops",     "TLS handshakes", "connection pools",
                                 "token streaming", "rate limits",    "retries with backoff",
                                 "prompt caching",  "HTTP keep-alive"};
  b->prompts = calloc(64, sizeof *b->prompts);
  if (!b->prompts) return -1;
  char text[4096];
  for (int i = 0; i < 64; i++) {
    int o = snprintf(text, sizeof text, "Request %d: explain %s to an engineer.", i, topics[i % 8]);
    for (int k = 0; k < (i % 8) * 12 && o < (int)sizeof text - 40; k++)
      o += snprintf(text + o, sizeof text - (size_t)o, " Consider detail %d.", k);
    const char *roles[] = {"user"};
    const char *texts[] = {text};
    if (add_prompt(b, 64, roles, texts, 1)) return -1;
  }
  return 0;
}

static int prompts_fail(const char *path, size_t line, const char *why) {
  char esc[256];
  llmrt_tool_escape(esc, sizeof esc, path, 200);
  if (line)
    fprintf(stderr, "llmrt bench: --prompts '%s' line %zu: %s\n", esc, line, why);
  else
    fprintf(stderr, "llmrt bench: --prompts '%s': %s\n", esc, why);
  return EXIT_USAGE;
}

static int load_prompts(bench_t *b, const char *path) {
  size_t len;
  char *text = llmrt_tool_read_file(path, MAX_PROMPTS_BYTES, &len);
  if (!text) {
    char esc[256];
    llmrt_tool_escape(esc, sizeof esc, path, 200);
    fprintf(stderr, "llmrt bench: cannot read --prompts '%s': %s\n", esc,
            errno == EFBIG ? "larger than 256 MiB" : strerror(errno));
    return EXIT_USAGE;
  }
  size_t lines = 1;
  for (size_t i = 0; i < len; i++)
    lines += text[i] == '\n';
  if (lines > MAX_PROMPTS) lines = MAX_PROMPTS;
  b->prompts = calloc(lines, sizeof *b->prompts);
  int rc = EXIT_OK;
  if (!b->prompts) rc = EXIT_FAIL;
  char *save = NULL, *ln = rc ? NULL : strtok_r(text, "\n", &save);
  size_t lineno = 0;
  for (; ln && rc == EXIT_OK; ln = strtok_r(NULL, "\n", &save)) {
    lineno++; /* strtok_r skips empty lines: their numbers are approximate */
    if (strspn(ln, " \t\r") == strlen(ln)) continue;
    if (b->n_prompts == lines) {
      rc = prompts_fail(path, lineno, "more than 100000 prompts");
      break;
    }
    cJSON *j = cJSON_Parse(ln);
    const char *roles[256], *texts[256];
    size_t n = 0;
    const char *bad = NULL;
    if (cJSON_IsString(j)) {
      roles[n] = "user";
      texts[n++] = j->valuestring;
    } else if (cJSON_IsObject(j)) {
      const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prompt");
      const cJSON *sy = cJSON_GetObjectItemCaseSensitive(j, "system");
      const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "messages");
      if (cJSON_IsString(sy)) {
        roles[n] = "system";
        texts[n++] = sy->valuestring;
      }
      if (cJSON_IsString(pr)) {
        roles[n] = "user";
        texts[n++] = pr->valuestring;
      } else if (cJSON_IsArray(ms) && cJSON_GetArraySize(ms) > 0) {
        const cJSON *m;
        cJSON_ArrayForEach(m, ms) {
          const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
          const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
          if (!cJSON_IsString(r) || !cJSON_IsString(c) || n == 256) {
            bad = "each message needs string \"role\" and \"content\" (at most 256)";
            break;
          }
          roles[n] = r->valuestring;
          texts[n++] = c->valuestring;
        }
      } else {
        bad = "an object needs \"prompt\" or a non-empty \"messages\" array";
      }
    } else {
      bad = "not a JSON string or object";
    }
    if (bad)
      rc = prompts_fail(path, lineno, bad);
    else if (add_prompt(b, lines, roles, texts, n))
      rc = EXIT_FAIL;
    cJSON_Delete(j);
  }
  free(text);
  if (rc == EXIT_OK && b->n_prompts == 0) rc = prompts_fail(path, 0, "no prompts");
  if (rc == EXIT_FAIL) fprintf(stderr, "llmrt bench: %s\n", llmrt_strerror(LLMRT_ENOMEM));
  return rc;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The figures of one side, in report order; the report prints and
 * compares them by index. */
enum {
  FIG_CALLS,
  FIG_OK,
  FIG_FAILED,
  FIG_LAT50,
  FIG_LAT90,
  FIG_LAT99,
  FIG_LATMAX,
  FIG_TTFT50,
  FIG_TTFT90,
  FIG_TTFT99,
  FIG_CALLS_S,
  FIG_OUT_TOK_S,
  FIG_IN_TOK,
  FIG_OUT_TOK,
  FIG_ATTEMPTS,
  FIG_COUNT
};
static const char *const fig_name[FIG_COUNT] = {"calls",          "ok",
                                                "failed",         "latency_p50_ms",
                                                "latency_p90_ms", "latency_p99_ms",
                                                "latency_max_ms", "ttft_p50_ms",
                                                "ttft_p90_ms",    "ttft_p99_ms",
                                                "calls_per_s",    "output_tokens_per_s",
                                                "input_tokens",   "output_tokens",
                                                "attempts"};

static void figures(bench_side_t *s, double elapsed, double *f) {
  qsort(s->lat_us, s->n_lat, sizeof(uint64_t), cmp_u64);
  qsort(s->ttft_us, s->n_ttft, sizeof(uint64_t), cmp_u64);
  f[FIG_CALLS] = (double)s->sent;
  f[FIG_OK] = (double)s->ok;
  f[FIG_FAILED] = (double)s->failed;
  f[FIG_LAT50] = bench_pct(s->lat_us, s->n_lat, 50) / 1000.0;
  f[FIG_LAT90] = bench_pct(s->lat_us, s->n_lat, 90) / 1000.0;
  f[FIG_LAT99] = bench_pct(s->lat_us, s->n_lat, 99) / 1000.0;
  f[FIG_LATMAX] = bench_pct(s->lat_us, s->n_lat, 100) / 1000.0;
  f[FIG_TTFT50] = bench_pct(s->ttft_us, s->n_ttft, 50) / 1000.0;
  f[FIG_TTFT90] = bench_pct(s->ttft_us, s->n_ttft, 90) / 1000.0;
  f[FIG_TTFT99] = bench_pct(s->ttft_us, s->n_ttft, 99) / 1000.0;
  f[FIG_CALLS_S] = elapsed > 0 ? (double)(s->ok + s->failed) / elapsed : 0;
  f[FIG_OUT_TOK_S] = elapsed > 0 ? (double)s->out_tokens / elapsed : 0;
  f[FIG_IN_TOK] = (double)s->in_tokens;
  f[FIG_OUT_TOK] = (double)s->out_tokens;
  f[FIG_ATTEMPTS] = (double)s->attempts;
}

static void print_text(FILE *out, bench_t *b, double f[2][FIG_COUNT], double elapsed, double rate) {
  fprintf(out, "%s, %s, %.2f s", b->rate > 0 ? "open loop" : "closed loop",
          b->stream ? "streamed" : "not streamed", elapsed);
  if (b->rate > 0)
    fprintf(out, ", %.1f calls/s wanted, %.1f sent", b->rate, rate);
  else
    fprintf(out, ", concurrency %ld", b->concurrency);
  fprintf(out, "%s\n", b->interrupted ? " (interrupted)" : "");
  if (b->n_sides == 2) fprintf(out, "%-22s %12s %12s %8s\n", "", "A", "B", "B/A");
  for (int i = 0; i < FIG_COUNT; i++) {
    fprintf(out, "%-22s %12.*f", fig_name[i], i >= FIG_LAT50 && i <= FIG_OUT_TOK_S ? 1 : 0,
            f[0][i]);
    if (b->n_sides == 2) {
      fprintf(out, " %12.*f", i >= FIG_LAT50 && i <= FIG_OUT_TOK_S ? 1 : 0, f[1][i]);
      if (f[0][i] > 0)
        fprintf(out, " %8.2f", f[1][i] / f[0][i]);
      else
        fprintf(out, " %8s", "-");
    }
    fputc('\n', out);
  }
  for (int k = 0; k < b->n_sides; k++) {
    bench_side_t *s = &b->side[k];
    for (size_t i = 0; i < s->n_errs; i++) {
      char what[64];
      if (s->errs[i].http_status)
        snprintf(what, sizeof what, "%s (HTTP %d)", s->errs[i].name, s->errs[i].http_status);
      else
        snprintf(what, sizeof what, "%s", s->errs[i].name);
      fprintf(out, "errors%s %-34s %llu\n", b->n_sides == 2 ? (k ? " B" : " A") : "", what,
              (unsigned long long)s->errs[i].count);
    }
  }
}

static cJSON *json_report(bench_t *b, double f[2][FIG_COUNT], double elapsed, double rate) {
  cJSON *o = cJSON_CreateObject(), *x;
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "mode", b->rate > 0 ? "rate" : "concurrency");
  cJSON_AddNumberToObject(o, "concurrency", b->rate > 0 ? 0 : (double)b->concurrency);
  cJSON_AddNumberToObject(o, "rate_wanted", b->rate);
  cJSON_AddNumberToObject(o, "rate_sent", rate);
  cJSON_AddNumberToObject(o, "duration_s", b->duration_s);
  cJSON_AddNumberToObject(o, "requests_per_side", (double)b->requests);
  cJSON_AddBoolToObject(o, "stream", b->stream);
  cJSON_AddBoolToObject(o, "interrupted", b->interrupted);
  cJSON_AddNumberToObject(o, "elapsed_s", elapsed);
  cJSON *sides = cJSON_AddArrayToObject(o, "targets");
  for (int k = 0; sides && k < b->n_sides; k++) {
    bench_side_t *s = &b->side[k];
    cJSON *t = cJSON_CreateObject();
    if (!t) break;
    cJSON_AddItemToArray(sides, t);
    cJSON_AddStringToObject(t, "label", s->label);
    cJSON_AddStringToObject(t, "model", s->model);
    if (s->target.config_file) cJSON_AddStringToObject(t, "config_file", s->target.config_file);
    for (int i = 0; i < FIG_COUNT; i++)
      cJSON_AddNumberToObject(t, fig_name[i], f[k][i]);
    cJSON *errs = cJSON_AddArrayToObject(t, "errors");
    for (size_t i = 0; errs && i < s->n_errs; i++) {
      if (!(x = cJSON_CreateObject())) break;
      cJSON_AddItemToArray(errs, x);
      cJSON_AddStringToObject(x, "code", s->errs[i].name);
      cJSON_AddNumberToObject(x, "http_status", s->errs[i].http_status);
      cJSON_AddNumberToObject(x, "count", (double)s->errs[i].count);
    }
  }
  if (b->n_sides == 2 && (x = cJSON_AddObjectToObject(o, "ratio_b_over_a"))) {
    for (int i = 0; i < FIG_COUNT; i++) {
      if (f[0][i] > 0)
        cJSON_AddNumberToObject(x, fig_name[i], f[1][i] / f[0][i]);
      else
        cJSON_AddNullToObject(x, fig_name[i]);
    }
  }
  if (b->mock && (x = cJSON_AddObjectToObject(o, "mock"))) {
    llmrt_mock_stats_t st;
    llmrt_mock_stats(b->mock, &st);
    cJSON_AddNumberToObject(x, "connections", (double)st.connections);
    cJSON_AddNumberToObject(x, "requests", (double)st.requests);
    cJSON_AddNumberToObject(x, "completions", (double)st.completions);
    cJSON_AddNumberToObject(x, "streams", (double)st.streams);
    cJSON_AddNumberToObject(x, "errors", (double)st.errors);
    cJSON_AddNumberToObject(x, "faults", (double)st.faults);
    cJSON_AddNumberToObject(x, "tokens", (double)st.tokens);
  }
  return o;
}

static int report(bench_t *b) {
  double f[2][FIG_COUNT];
  memset(f, 0, sizeof f);
  double elapsed = (b->end_ns - b->start_ns) / 1e9;
  uint64_t sent = b->side[0].sent + (b->n_sides == 2 ? b->side[1].sent : 0);
  double span = (b->last_send_ns - b->first_send_ns) / 1e9;
  /* n sends span n-1 intervals. */
  double rate = sent > 1 && span > 0 ? (double)(sent - 1) / span : 0;
  for (int k = 0; k < b->n_sides; k++)
    figures(&b->side[k], elapsed, f[k]);
  int to_stdout = b->json_path && !strcmp(b->json_path, "-");
  print_text(to_stdout ? stderr : stdout, b, f, elapsed, rate);
  if (!b->json_path) return EXIT_OK;
  cJSON *o = json_report(b, f, elapsed, rate);
  char *s = o ? cJSON_Print(o) : NULL;
  cJSON_Delete(o);
  if (!s) {
    fprintf(stderr, "llmrt bench: %s\n", llmrt_strerror(LLMRT_ENOMEM));
    return EXIT_FAIL;
  }
  FILE *out = to_stdout ? stdout : fopen(b->json_path, "w");
  int rc = EXIT_OK;
  if (!out || fputs(s, out) < 0 || fputc('\n', out) < 0 || (!to_stdout && fclose(out) != 0)) {
    char esc[256];
    llmrt_tool_escape(esc, sizeof esc, b->json_path, 200);
    fprintf(stderr, "llmrt bench: cannot write --json '%s': %s\n", esc, strerror(errno));
    rc = EXIT_FAIL;
  }
  cJSON_free(s);
  return rc;
}

/* --vs KEY=VALUE: B is A with this one thing changed. */
static int apply_vs(bench_side_t *bs, const char *arg) {
  const char *eq = strchr(arg, '=');
  size_t n = eq ? (size_t)(eq - arg) : 0;
  const char *v = eq ? eq + 1 : "";
  long lv;
  if (eq && n == 8 && !strncmp(arg, "base-url", 8)) {
    bs->target.base_url_flag = v;
    bs->target.mock_url = NULL;
  } else if (eq && n == 6 && !strncmp(arg, "config", 6)) {
    bs->target.config_file = *v ? v : NULL;
  } else if (eq && n == 8 && !strncmp(arg, "provider", 8)) {
    bs->target.provider = v;
    bs->target.provider_flag = 1;
  } else if (eq && n == 5 && !strncmp(arg, "model", 5)) {
    bs->model = v;
  } else if (eq && n == 7 && !strncmp(arg, "retries", 7) &&
             llmrt_tool_parse_long(v, 0, 10, &lv) == 0) {
    bs->target.retries = (int)lv;
    bs->target.retries_flag = 1;
  } else {
    return llmrt_tool_bad_value("bench",
                                "--vs (want base-url=, config=, provider=, model= or "
                                "retries=)",
                                arg);
  }
  return EXIT_OK;
}

static void on_closed(llmrt_t *rt, void *user) {
  (void)rt;
  (void)user;
}

static void on_mock_stopped(llmrt_mock_t *m, void *user) {
  (void)m;
  (void)user;
}

static int setup_side(bench_t *b, bench_side_t *s, const llmrt_options_t *opts) {
  int rc;
  if (b->mock && s->target.mock_url) s->target.mock_url = llmrt_mock_url(b->mock);
  llmrt_tool_target_free(&s->target);
  if ((rc = llmrt_tool_target_config("bench", &s->target))) return rc;
  llmrt_options_t o = *opts;
  if (!s->target.mock_url) { /* the environment's proxy, as for llmrt chat */
    llmrt_tool_proxy_env(s->target.url[0] ? s->target.url : NULL, &o.proxy, &o.no_proxy);
    if ((rc = llmrt_tool_check_proxy("bench", o.proxy))) return rc;
  }
  int r = llmrt_new(b->loop, &o, &s->rt);
  if (r) {
    fprintf(stderr, "llmrt bench: %s\n", llmrt_strerror(r));
    return EXIT_FAIL;
  }
  if (!s->model) s->model = s->target.anthropic ? "claude-3-5-haiku-latest" : "gpt-4o-mini";
  return llmrt_tool_target_apply("bench", &s->target, s->rt);
}

int llmrt_cmd_bench(int argc, char **argv) {
  static const struct option longopts[] = {{"concurrency", required_argument, 0, 'c'},
                                           {"rate", required_argument, 0, 'r'},
                                           {"duration", required_argument, 0, 'd'},
                                           {"requests", required_argument, 0, 'N'},
                                           {"no-stream", no_argument, 0, 1},
                                           {"prompts", required_argument, 0, 2},
                                           {"max-tokens", required_argument, 0, 'n'},
                                           {"provider", required_argument, 0, 'p'},
                                           {"model", required_argument, 0, 'm'},
                                           {"base-url", required_argument, 0, 3},
                                           {"config", required_argument, 0, 4},
                                           {"retries", required_argument, 0, 5},
                                           {"header", required_argument, 0, 'H'},
                                           {"ca-file", required_argument, 0, 6},
                                           {"insecure", no_argument, 0, 7},
                                           {"timeout", required_argument, 0, 8},
                                           {"mock", no_argument, 0, 9},
                                           {"mock-controls", required_argument, 0, 10},
                                           {"vs", required_argument, 0, 11},
                                           {"json", required_argument, 0, 12},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  bench_t b;
  memset(&b, 0, sizeof b);
  b.concurrency = 8;
  b.stream = 1;
  b.max_tokens = 64;
  bench_side_t *a = &b.side[0];
  a->label = "A";
  llmrt_tool_target_init(&a->target);
  a->target.retries = 0;
  const char *prompts_file = NULL, *ca_file = NULL, *mock_controls = NULL, *vs[8];
  int n_vs = 0, use_mock = 0, insecure = 0, conc_set = 0, c, rc;
  long lv, timeout = 0;
  double dv;
  char hbuf[BENCH_MAX_HEADERS][1024];
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":c:r:d:N:n:p:m:H:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'c':
      if (llmrt_tool_parse_long(optarg, 1, 100000, &lv))
        return llmrt_tool_bad_value("bench", "--concurrency", optarg);
      b.concurrency = lv;
      conc_set = 1;
      break;
    case 'r':
      if (llmrt_tool_parse_double(optarg, 0.01, 1e6, &dv))
        return llmrt_tool_bad_value("bench", "--rate", optarg);
      b.rate = dv;
      break;
    case 'd':
      if (llmrt_tool_parse_double(optarg, 0.01, 86400 * 7, &dv))
        return llmrt_tool_bad_value("bench", "--duration", optarg);
      b.duration_s = dv;
      break;
    case 'N':
      if (llmrt_tool_parse_long(optarg, 1, 100000000, &lv))
        return llmrt_tool_bad_value("bench", "--requests", optarg);
      b.requests = lv;
      break;
    case 1:
      b.stream = 0;
      break;
    case 2:
      prompts_file = optarg;
      break;
    case 'n':
      if (llmrt_tool_parse_long(optarg, 1, 10000000, &lv))
        return llmrt_tool_bad_value("bench", "--max-tokens", optarg);
      b.max_tokens = (int32_t)lv;
      break;
    case 'p':
      a->target.provider = optarg;
      a->target.provider_flag = 1;
      break;
    case 'm':
      a->model = optarg;
      break;
    case 3:
      a->target.base_url_flag = optarg;
      break;
    case 4:
      a->target.config_file = optarg;
      break;
    case 5:
      if (llmrt_tool_parse_long(optarg, 0, 10, &lv))
        return llmrt_tool_bad_value("bench", "--retries", optarg);
      a->target.retries = (int)lv;
      a->target.retries_flag = 1;
      break;
    case 'H':
      if (b.n_headers == BENCH_MAX_HEADERS) {
        fprintf(stderr, "llmrt bench: at most %d -H headers\n", BENCH_MAX_HEADERS);
        return EXIT_USAGE;
      }
      if ((rc = llmrt_tool_parse_header("bench", optarg, &b.headers[b.n_headers], hbuf[b.n_headers],
                                        sizeof hbuf[0])))
        return rc;
      b.n_headers++;
      break;
    case 6:
      ca_file = optarg;
      break;
    case 7:
      insecure = 1;
      break;
    case 8:
      if (llmrt_tool_parse_long(optarg, 1, 0x7fffffffL, &timeout))
        return llmrt_tool_bad_value("bench", "--timeout", optarg);
      break;
    case 9:
      use_mock = 1;
      break;
    case 10:
      mock_controls = optarg;
      break;
    case 11:
      if (n_vs == 8) {
        fprintf(stderr, "llmrt bench: at most 8 --vs\n");
        return EXIT_USAGE;
      }
      vs[n_vs++] = optarg;
      break;
    case 12:
      b.json_path = optarg;
      break;
    case 'h':
      bench_usage(stdout);
      return EXIT_OK;
    default:
      llmrt_tool_bad_option("bench", c, argv);
      return EXIT_USAGE;
    }
  }
  if (optind < argc) {
    char esc[64];
    llmrt_tool_escape(esc, sizeof esc, argv[optind], 40);
    fprintf(stderr, "llmrt bench: unexpected argument '%s'\n", esc);
    return EXIT_USAGE;
  }
  if (b.rate > 0 && conc_set) {
    fprintf(stderr, "llmrt bench: --rate and --concurrency exclude each other\n");
    return EXIT_USAGE;
  }
  if (use_mock && a->target.base_url_flag) {
    fprintf(stderr, "llmrt bench: --mock and --base-url exclude each other\n");
    return EXIT_USAGE;
  }
  if (mock_controls && !use_mock) {
    fprintf(stderr, "llmrt bench: --mock-controls needs --mock\n");
    return EXIT_USAGE;
  }
  if (!b.requests && b.duration_s <= 0) b.requests = 100;
  if (ca_file && (rc = llmrt_tool_check_ca_file("bench", ca_file))) return rc;
  if (use_mock) {
    a->target.mock_url = "http://127.0.0.1:0/v1"; /* checked now, the real one later */
    setenv("LLMRT_MOCK_API_KEY", "mock-key", 0);
  }
  b.n_sides = 1;
  if (n_vs) {
    bench_side_t *bs = &b.side[1];
    *bs = *a;
    bs->label = "B";
    for (int i = 0; i < n_vs; i++)
      if ((rc = apply_vs(bs, vs[i]))) return rc;
    b.n_sides = 2;
  }
  rc = EXIT_OK;
  for (int k = 0; k < b.n_sides && rc == EXIT_OK; k++) {
    bench_side_t *s = &b.side[k];
    if ((rc = llmrt_tool_target_config("bench", &s->target))) break;
    const char *key = s->target.key_env;
    if (key && (!getenv(key) || !*getenv(key))) {
      fprintf(stderr, "llmrt bench: %s is not set (export it, or use --mock)\n", key);
      rc = EXIT_NOKEY;
    }
  }
  if (rc == EXIT_OK)
    rc = prompts_file ? load_prompts(&b, prompts_file)
                      : (generate_prompts(&b) ? EXIT_FAIL : EXIT_OK);
  if (rc != EXIT_OK) {
    for (int k = 0; k < b.n_sides; k++)
      llmrt_tool_target_free(&b.side[k].target);
    free_prompts(&b);
    return rc;
  }
  b.headers[b.n_headers++] = (llmrt_header_t){"User-Agent", "llmrt-bench/" LLMRT_VERSION_STRING};
  for (size_t i = 0; i + 1 < b.n_headers; i++)
    if (!strcasecmp(b.headers[i].name, "user-agent")) b.n_headers--; /* the user's wins */
  b.progress = isatty(2);

  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) {
    free_prompts(&b);
    return EXIT_FAIL;
  }
  b.loop = &loop;
  llmrt_options_t opts;
  llmrt_options_init(&opts);
  opts.ca_file = ca_file;
  opts.tls_insecure = insecure;
  if (timeout > 0) opts.total_timeout_ms = (uint32_t)timeout;
  /* Room for the whole load: the default pool caps and queues are sized
   * for applications, not for a load generator. */
  opts.pool_max_per_origin =
      b.rate > 0 ? 1024 : (uint32_t)(b.concurrency < 1024 ? b.concurrency : 1024);
  opts.pool_max_queue = 1000000;
  if (use_mock) {
    llmrt_mock_options_t mo;
    llmrt_mock_options_init(&mo);
    mo.controls = mock_controls;
    int r = llmrt_mock_start(&loop, &mo, &b.mock);
    if (r) {
      fprintf(stderr, "llmrt bench: cannot start the mock upstream: %s\n", llmrt_strerror(r));
      rc = EXIT_FAIL;
      b.mock = NULL;
    }
  }
  for (int k = 0; k < b.n_sides && rc == EXIT_OK; k++)
    rc = setup_side(&b, &b.side[k], &opts);
  if (rc == EXIT_OK) {
    bench_run(&b);
    if (b.refused) {
      fprintf(stderr, "llmrt bench: a call was refused: %s\n", llmrt_strerror(b.refused));
      rc = llmrt_tool_exit_code(b.refused);
    }
    int r = report(&b);
    if (rc == EXIT_OK) rc = r;
    if (rc == EXIT_OK && b.interrupted) rc = EXIT_INTERRUPTED;
  }
  for (int k = 0; k < b.n_sides; k++) {
    if (b.side[k].rt) llmrt_close(b.side[k].rt, on_closed, NULL);
    llmrt_tool_target_free(&b.side[k].target);
    free(b.side[k].lat_us);
    free(b.side[k].ttft_us);
  }
  if (b.mock) llmrt_mock_stop(b.mock, on_mock_stopped, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free_prompts(&b);
  return rc;
}
