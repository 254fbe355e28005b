/* llmrt demo: one realistic workload run twice against an in-process mock
 * upstream (no network, no key), once with no plugins and once with the
 * full chain, then a side-by-side table of what was measured: the mock's
 * counters, what reached the wire (demo_wire.c) and the calls' results. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "demo.h"

/* The full chain, outermost first, in one place. Entries the runtime does
 * not have (plugins still being written) are skipped and named; an entry
 * whose settings its plugin refuses is loaded with its defaults instead,
 * and the refusal is shown. demo_wire always goes innermost. */
static const char full_chain_json[] =
    "["
    "{\"name\":\"metrics\"},"
    "{\"name\":\"cache\",\"ttl_s\":600},"
    "{\"name\":\"trim\",\"max_input_tokens\":1500},"
    "{\"name\":\"retry\",\"max_attempts\":4,\"base_delay_ms\":100,\"max_delay_ms\":3000},"
    "{\"name\":\"limits\",\"limits\":[{\"per\":\"upstream\",\"rpm\":40}]}"
    "]";

static void demo_usage(FILE *f) {
  fprintf(f, "usage: llmrt demo [--json FILE] [--real]\n"
             "\n"
             "Runs one workload twice against an in-process mock upstream (no network, no\n"
             "key): first with no plugins, then with the full chain (metrics, cache, trim,\n"
             "retry, limits: the ones this build has). The workload: repeated and reworded\n"
             "questions, long conversations with tool calls, a burst over the provider's\n"
             "rate limit; the mock answers like a provider (about 300 ms to the first\n"
             "token, 50 tokens/s, some 429s with Retry-After and 503s). One answer is\n"
             "streamed token by token; the end is a table of what was measured: upstream\n"
             "calls, tokens sent and received, caller-visible errors, 429s, latency and\n"
             "time to first token (p50, p99), and what each plugin saved.\n"
             "\n"
             "      --json FILE   also write the table as JSON (\"-\": stdout; the text then\n"
             "                    goes to stderr)\n"
             "      --real        a small version against a real provider, with the key of\n"
             "                    OPENAI_API_KEY or ANTHROPIC_API_KEY (and their *_BASE_URL)\n"
             "  -h, --help        this help\n"
             "\n"
             "exit status: 0 done; 1 internal error; 2 usage; 3 --real without a key;\n"
             "7 the chain's configuration was refused\n");
}

static void on_closed(llmrt_t *rt, void *user) {
  (void)rt;
  *(int *)user = 1;
}

static void on_mock_stopped(llmrt_mock_t *m, void *user) {
  (void)m;
  *(int *)user = 1;
}

static void close_rt(uv_loop_t *loop, llmrt_t *rt) {
  int closed = 0;
  llmrt_close(rt, on_closed, &closed);
  while (!closed)
    uv_run(loop, UV_RUN_ONCE);
}

static void stop_mock(uv_loop_t *loop, llmrt_mock_t *m) {
  int stopped = 0;
  llmrt_mock_stop(m, on_mock_stopped, &stopped);
  while (!stopped)
    uv_run(loop, UV_RUN_ONCE);
}

/* Tries one plugin entry on a scratch runtime: 0 loads, else the error
 * (errbuf says why). */
static int probe(uv_loop_t *loop, const char *upstreams, const char *entry, char *errbuf,
                 size_t errlen) {
  llmrt_t *rt;
  int r = llmrt_new(loop, NULL, &rt);
  if (r) return r;
  size_t n = strlen(upstreams) + strlen(entry) + 32;
  char *cfg = malloc(n);
  if (!cfg) {
    close_rt(loop, rt);
    return LLMRT_ENOMEM;
  }
  snprintf(cfg, n, "{%s,\"plugins\":[%s]}", upstreams, entry);
  r = llmrt_configure(rt, cfg, errbuf, errlen);
  free(cfg);
  close_rt(loop, rt);
  return r;
}

/* Builds the chain's plugins array from full_chain_json: what loads. */
static char *chain_plugins(uv_loop_t *loop, const char *upstreams, char *loaded, size_t cap,
                           cJSON *missing, int quiet) {
  cJSON *all = cJSON_Parse(full_chain_json), *out = cJSON_CreateArray(), *e;
  char errbuf[512];
  loaded[0] = '\0';
  if (!all || !out) goto fail;
  cJSON_ArrayForEach(e, all) {
    const char *name = cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
    char *text = cJSON_PrintUnformatted(e);
    if (!text) goto fail;
    int r = probe(loop, upstreams, text, errbuf, sizeof errbuf);
    cJSON_free(text);
    cJSON *use = NULL;
    if (r == 0) {
      use = cJSON_Duplicate(e, 1);
    } else if (r == LLMRT_EPLUGINLOAD) {
      if (!quiet) fprintf(stderr, "llmrt demo: plugin %s is not in this build: skipped\n", name);
      cJSON_AddItemToArray(missing, cJSON_CreateString(name));
      continue;
    } else {
      char only[128];
      snprintf(only, sizeof only, "{\"name\":\"%s\"}", name);
      char err2[512];
      if (probe(loop, upstreams, only, err2, sizeof err2) == 0) {
        if (!quiet)
          fprintf(stderr,
                  "llmrt demo: plugin %s refused the demo's settings (%s): using its "
                  "defaults\n",
                  name, errbuf);
        use = cJSON_Parse(only);
      } else {
        if (!quiet) fprintf(stderr, "llmrt demo: plugin %s cannot be used: %s\n", name, errbuf);
        cJSON_AddItemToArray(missing, cJSON_CreateString(name));
        continue;
      }
    }
    if (!use) goto fail;
    cJSON_AddItemToArray(out, use);
    size_t l = strlen(loaded);
    snprintf(loaded + l, cap - l, "%s%s", l ? "," : "", name);
  }
  cJSON *wire = cJSON_CreateObject();
  if (!wire || !cJSON_AddStringToObject(wire, "name", "demo_wire")) {
    cJSON_Delete(wire);
    goto fail;
  }
  cJSON_AddItemToArray(out, wire);
  char *s = cJSON_PrintUnformatted(out);
  cJSON_Delete(all);
  cJSON_Delete(out);
  return s;
fail:
  cJSON_Delete(all);
  cJSON_Delete(out);
  return NULL;
}

/* The default controls the mock accepts: required entries, plus each
 * optional one it knows (llmrt_mock_set_controls refuses unknown keys). */
static int configure_mock(llmrt_mock_t *m, char *used, size_t cap) {
  used[0] = '\0';
  for (size_t i = 0; i < demo_n_mock_settings; i++) {
    const demo_mock_setting_t *s = &demo_mock_settings[i];
    if (s->phase != DEMO_ALL) continue;
    size_t l = strlen(used);
    char *save = strdup(used);
    if (!save) return LLMRT_ENOMEM;
    snprintf(used + l, cap - l, "%s%s", l ? "," : "", s->controls);
    int r = llmrt_mock_set_controls(m, used);
    if (r == 0) {
      demo_mock_supported[i] = 1;
    } else if (s->optional) {
      snprintf(used, cap, "%s", save); /* this mock does not have it yet */
      demo_mock_supported[i] = 0;
    } else {
      free(save);
      return r;
    }
    free(save);
  }
  return llmrt_mock_set_controls(m, *used ? used : NULL);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_ms(uint64_t *v, size_t n, double p) {
  if (!n) return 0;
  qsort(v, n, sizeof *v, cmp_u64);
  size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1] / 1000.0;
}

enum {
  R_CALLS,
  R_FIRST,
  R_RETRIES,
  R_TOK_SENT,
  R_TOK_RECV,
  R_ERRORS,
  R_429,
  R_5XX,
  R_P50,
  R_P99,
  R_TTFT50,
  R_TTFT99,
  R_CACHE,
  R_RECOVERED,
  R_WALL,
  R_COUNT
};
static const struct {
  const char *key, *label;
  int decimals;
} rows[R_COUNT] = {
    {"upstream_calls", "upstream calls", 0},
    {"first_attempts", "  of which first attempts", 0},
    {"retry_attempts", "  of which retries", 0},
    {"tokens_sent", "tokens sent (bytes/4)", 0},
    {"tokens_received", "tokens received", 0},
    {"caller_errors", "caller-visible errors", 0},
    {"http_429", "429s received", 0},
    {"http_5xx", "5xx received", 0},
    {"latency_p50_ms", "latency p50 (ms)", 0},
    {"latency_p99_ms", "latency p99 (ms)", 0},
    {"ttft_p50_ms", "first token p50 (ms)", 0},
    {"ttft_p99_ms", "first token p99 (ms)", 0},
    {"cache_hits", "cache: answered from cache", 0},
    {"recovered", "retry: recovered calls", 0},
    {"wall_s", "wall time (s)", 1},
};

static void figures(demo_run_t *r, int have_mock, double *f) {
  f[R_CALLS] = (double)(have_mock ? r->mock.requests : r->wire.attempts);
  f[R_FIRST] = (double)r->wire.first_attempts;
  f[R_RETRIES] = (double)(r->wire.attempts - r->wire.first_attempts);
  f[R_TOK_SENT] = (double)r->wire.tokens_sent;
  f[R_TOK_RECV] = (double)(have_mock ? r->mock.tokens : r->out_tokens);
  f[R_ERRORS] = (double)r->failed;
  f[R_429] = (double)r->wire.status_429;
  f[R_5XX] = (double)r->wire.status_5xx;
  f[R_P50] = pct_ms(r->lat_us, r->n_lat, 50);
  f[R_P99] = pct_ms(r->lat_us, r->n_lat, 99);
  f[R_TTFT50] = pct_ms(r->ttft_us, r->n_ttft, 50);
  f[R_TTFT99] = pct_ms(r->ttft_us, r->n_ttft, 99);
  f[R_CACHE] = (double)r->cache_hits;
  f[R_RECOVERED] = (double)r->recovered;
  f[R_WALL] = r->elapsed_s;
}

static void print_table(FILE *out, demo_run_t *runs, double f[2][R_COUNT], cJSON *missing) {
  fprintf(out, "\n%-30s %14s %14s\n", "", "no plugins", "full chain");
  for (int i = 0; i < R_COUNT; i++)
    fprintf(out, "%-30s %14.*f %14.*f\n", rows[i].label, rows[i].decimals, f[0][i],
            rows[i].decimals, f[1][i]);
  for (size_t i = 0; i < runs[1].n_attrs; i++) {
    double base = 0;
    for (size_t k = 0; k < runs[0].n_attrs; k++)
      if (!strcmp(runs[0].attrs[k].name, runs[1].attrs[i].name)) base = runs[0].attrs[k].sum;
    fprintf(out, "%-30.30s %14.0f %14.0f\n", runs[1].attrs[i].name, base, runs[1].attrs[i].sum);
  }
  /* Signed: retries cost calls and tokens that a cache and a trimmer save. */
  fprintf(out,
          "\nfull chain vs no plugins: upstream calls %+.0f, tokens sent %+.0f, caller-visible "
          "errors %+.0f\n",
          f[1][R_CALLS] - f[0][R_CALLS], f[1][R_TOK_SENT] - f[0][R_TOK_SENT],
          f[1][R_ERRORS] - f[0][R_ERRORS]);
  fprintf(out, "chain: %s", runs[1].plugins);
  if (cJSON_GetArraySize(missing)) {
    fprintf(out, " (not in this build: ");
    cJSON *m;
    int first = 1;
    cJSON_ArrayForEach(m, missing) {
      fprintf(out, "%s%s", first ? "" : ", ", m->valuestring);
      first = 0;
    }
    fprintf(out, ")");
  }
  fprintf(out, "\n");
}

static cJSON *json_table(demo_run_t *runs, double f[2][R_COUNT], cJSON *missing, int real) {
  cJSON *o = cJSON_CreateObject(), *arr;
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "upstream", real ? "real" : "mock");
  arr = cJSON_AddArrayToObject(o, "runs");
  for (int k = 0; arr && k < 2; k++) {
    cJSON *r = cJSON_CreateObject();
    if (!r) break;
    cJSON_AddItemToArray(arr, r);
    cJSON_AddStringToObject(r, "label", runs[k].label);
    cJSON_AddStringToObject(r, "plugins", runs[k].plugins);
    cJSON_AddNumberToObject(r, "calls", (double)runs[k].calls);
    for (int i = 0; i < R_COUNT; i++)
      cJSON_AddNumberToObject(r, rows[i].key, f[k][i]);
    cJSON *at = cJSON_AddObjectToObject(r, "attributes");
    for (size_t i = 0; at && i < runs[k].n_attrs; i++)
      cJSON_AddNumberToObject(at, runs[k].attrs[i].name, runs[k].attrs[i].sum);
  }
  cJSON_AddItemToObject(o, "plugins_missing", cJSON_Duplicate(missing, 1));
  cJSON *ms = cJSON_AddArrayToObject(o, "mock_settings");
  for (size_t i = 0; ms && !real && i < demo_n_mock_settings; i++) {
    const demo_mock_setting_t *s = &demo_mock_settings[i];
    cJSON *x = cJSON_CreateObject();
    if (!x) break;
    cJSON_AddItemToArray(ms, x);
    cJSON_AddStringToObject(x, "what", s->what);
    cJSON_AddStringToObject(x, "controls", s->controls);
    int used = s->phase == DEMO_ALL   ? demo_mock_supported[i]
               : s->fallback_for >= 0 ? !demo_mock_supported[s->fallback_for]
                                      : 1;
    cJSON_AddBoolToObject(x, "used", used);
  }
  return o;
}

typedef struct {
  uv_loop_t *loop;
  int real, progress;
  llmrt_tool_target_t *real_target;
  cJSON *missing;
} demo_opts_t;

/* One run: a fresh mock (so its counters and fail_first counts are this
 * run's), a runtime with the given plugins, the workload. */
static int one_run(demo_opts_t *o, demo_run_t *run, int chain, int stream_first) {
  llmrt_mock_t *mock = NULL;
  llmrt_t *rt = NULL;
  char upstreams[1400], used[512], *plugins = NULL, *cfg = NULL, errbuf[512];
  int rc = EXIT_FAIL, r;
  if (o->real) {
    /* The target's config has the upstream; only its text is reused. */
    cJSON *c = cJSON_Parse(o->real_target->config_json);
    cJSON *u = c ? cJSON_GetObjectItemCaseSensitive(c, "upstreams") : NULL;
    cJSON *d = c ? cJSON_GetObjectItemCaseSensitive(c, "default_upstream") : NULL;
    char *us = u ? cJSON_PrintUnformatted(u) : NULL;
    if (us && cJSON_IsString(d))
      snprintf(upstreams, sizeof upstreams, "\"upstreams\":%s,\"default_upstream\":\"%s\"", us,
               d->valuestring);
    cJSON_free(us);
    cJSON_Delete(c);
  } else {
    llmrt_mock_options_t mo;
    llmrt_mock_options_init(&mo);
    r = llmrt_mock_start(o->loop, &mo, &mock);
    if (r || (r = configure_mock(mock, used, sizeof used))) {
      fprintf(stderr, "llmrt demo: cannot start the mock upstream: %s\n", llmrt_strerror(r));
      if (mock) stop_mock(o->loop, mock);
      return EXIT_FAIL;
    }
    snprintf(upstreams, sizeof upstreams,
             "\"upstreams\":{\"mock\":{\"base_url\":\"%s\",\"api\":\"openai\","
             "\"api_key_env\":\"LLMRT_MOCK_API_KEY\"}}",
             llmrt_mock_url(mock));
  }
  if (chain) {
    plugins = chain_plugins(o->loop, upstreams, run->plugins, sizeof run->plugins, o->missing, 0);
  } else {
    plugins = strdup("[{\"name\":\"demo_wire\"}]");
    snprintf(run->plugins, sizeof run->plugins, "none");
  }
  size_t n = plugins ? strlen(upstreams) + strlen(plugins) + 32 : 0;
  cfg = n ? malloc(n) : NULL;
  if (!cfg) {
    fprintf(stderr, "llmrt demo: %s\n", llmrt_strerror(LLMRT_ENOMEM));
    goto out;
  }
  snprintf(cfg, n, "{%s,\"plugins\":%s}", upstreams, plugins);
  llmrt_options_t ro;
  llmrt_options_init(&ro);
  if (o->real) /* the environment's proxy, as for llmrt chat */
    llmrt_tool_proxy_env(o->real_target->url[0] ? o->real_target->url : NULL, &ro.proxy,
                         &ro.no_proxy);
  if ((r = llmrt_new(o->loop, &ro, &rt)) ||
      (r = llmrt_add_plugin(rt, "demo_wire", demo_wire_entry))) {
    fprintf(stderr, "llmrt demo: %s\n", llmrt_strerror(r));
    goto out;
  }
  if ((r = llmrt_configure(rt, cfg, errbuf, sizeof errbuf))) {
    fprintf(stderr, "llmrt demo: the chain's configuration was refused: %s\n", errbuf);
    rc = EXIT_CONFIG;
    goto out;
  }
  demo_wire_counters = &run->wire;
  demo_ctx_t ctx = {
      .rt = rt,
      .loop = o->loop,
      .run = run,
      .stream_first = stream_first,
      .progress = o->progress,
      .small = o->real,
      .model = o->real ? (o->real_target->anthropic ? "claude-3-5-haiku-latest" : "gpt-4o-mini")
                       : "mock-1",
      .has_mock_header = !o->real};
  r = demo_workload(&ctx);
  demo_wire_counters = NULL;
  if (r) {
    fprintf(stderr, "llmrt demo: %s\n", llmrt_strerror(r));
    goto out;
  }
  if (mock) llmrt_mock_stats(mock, &run->mock);
  rc = EXIT_OK;
out:
  if (rt) close_rt(o->loop, rt);
  if (mock) stop_mock(o->loop, mock);
  free(plugins);
  free(cfg);
  return rc;
}

int llmrt_cmd_demo(int argc, char **argv) {
  static const struct option longopts[] = {{"json", required_argument, 0, 1},
                                           {"real", no_argument, 0, 2},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  const char *json_path = NULL;
  int real = 0, c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    switch (c) {
    case 1:
      json_path = optarg;
      break;
    case 2:
      real = 1;
      break;
    case 'h':
      demo_usage(stdout);
      return EXIT_OK;
    default:
      llmrt_tool_bad_option("demo", c, argv);
      return EXIT_USAGE;
    }
  }
  if (optind < argc) {
    char esc[64];
    llmrt_tool_escape(esc, sizeof esc, argv[optind], 40);
    fprintf(stderr, "llmrt demo: unexpected argument '%s'\ntry 'llmrt demo --help'\n", esc);
    return EXIT_USAGE;
  }
  llmrt_tool_target_t tg;
  llmrt_tool_target_init(&tg);
  int rc;
  if (real) {
    if (!getenv("OPENAI_API_KEY") && !getenv("ANTHROPIC_API_KEY")) {
      fprintf(stderr, "llmrt demo: --real needs OPENAI_API_KEY or ANTHROPIC_API_KEY\n");
      return EXIT_NOKEY;
    }
    tg.retries = 0;
    if ((rc = llmrt_tool_target_config("demo", &tg))) return rc;
    const char *p, *np;
    llmrt_tool_proxy_env(tg.url[0] ? tg.url : NULL, &p, &np);
    if ((rc = llmrt_tool_check_proxy("demo", p))) {
      llmrt_tool_target_free(&tg);
      return rc;
    }
  } else {
    setenv("LLMRT_MOCK_API_KEY", "demo-key", 0);
  }
  int to_stdout = json_path && !strcmp(json_path, "-");
  FILE *text = to_stdout ? stderr : stdout;
  uv_loop_t loop;
  if (uv_loop_init(&loop)) return EXIT_FAIL;
  demo_opts_t o = {.loop = &loop, .real = real, .progress = isatty(2), .real_target = &tg};
  o.missing = cJSON_CreateArray();
  demo_run_t runs[2];
  memset(runs, 0, sizeof runs);
  runs[0].label = "no plugins";
  runs[1].label = "full chain";
  rc = o.missing ? EXIT_OK : EXIT_FAIL;
  if (rc == EXIT_OK) {
    fprintf(text,
            "llmrt demo: the same workload without plugins, then with the full chain, "
            "against %s\n\n",
            real ? "the real provider" : "an in-process mock upstream");
    fflush(text);
    /* The streamed answer goes to stdout, the table too (unless --json -). */
    rc = one_run(&o, &runs[0], 0, !to_stdout);
  }
  if (rc == EXIT_OK) rc = one_run(&o, &runs[1], 1, 0);
  if (rc == EXIT_OK) {
    double f[2][R_COUNT];
    figures(&runs[0], !real, f[0]);
    figures(&runs[1], !real, f[1]);
    print_table(text, runs, f, o.missing);
    if (json_path) {
      cJSON *j = json_table(runs, f, o.missing, real);
      char *s = j ? cJSON_Print(j) : NULL;
      cJSON_Delete(j);
      FILE *out = to_stdout ? stdout : fopen(json_path, "w");
      if (!s || !out || fputs(s, out) < 0 || fputc('\n', out) < 0 ||
          (!to_stdout && fclose(out) != 0)) {
        char esc[256];
        llmrt_tool_escape(esc, sizeof esc, json_path, 200);
        fprintf(stderr, "llmrt demo: cannot write --json '%s'\n", esc);
        rc = EXIT_FAIL;
      }
      cJSON_free(s);
    }
  }
  for (int k = 0; k < 2; k++) {
    free(runs[k].lat_us);
    free(runs[k].ttft_us);
  }
  cJSON_Delete(o.missing);
  llmrt_tool_target_free(&tg);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}
