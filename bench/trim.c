/* The trim plugin on a committed workload (bench/data/trim_workload.json,
 * written by bench/gen_trim_workload.py: 30 generated multi-turn chats with
 * long histories and repeated text).
 *
 * Part 1: input tokens sent, as the provider counts them (o200k_base, model
 * gpt-4o), without trim and with trim in three configurations, as a ratio to
 * no trim. The innermost plugin answers every call itself and counts the
 * request it receives, so nothing else differs.
 * Part 2: trim's per-call cost: ns per call through trim (normalization and
 * counting; the budget configuration too) against the empty chain, the same
 * answering plugin innermost, median of interleaved runs, as a ratio. The
 * runs replay the same chats, as a chat replays its history every turn, so
 * trim's memo of message counts (count_memo) answers most counts; the
 * configuration without it shows the cost of counting everything. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "llmrt.h"

#ifndef LLMRT_BENCH_WORKLOAD
#define LLMRT_BENCH_WORKLOAD "bench/data/trim_workload.json"
#endif
#define RUNS 5

typedef struct {
  llmrt_message_t *m;
  size_t n;
} chat_t;

static chat_t chats[64];
static size_t n_chats;

static const llmrt_host_t *H;
static int g_count;
static double g_tokens;

static int resp_on_request(llmrt_ctx_t *ctx) {
  if (g_count) {
    int64_t k = H->count_request_tokens(H->plugin_rt(ctx), H->request(ctx), NULL, NULL);
    if (k < 0) return (int)k;
    g_tokens += (double)k;
  }
  llmrt_result_t res = {0};
  res.finish_reason = "stop";
  res.text = "ok";
  H->respond(ctx, &res);
  return LLMRT_STOP;
}

static const llmrt_plugin_t responder = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "responder",
    .on_request = resp_on_request,
};

static const llmrt_plugin_t *responder_entry(const llmrt_host_t *host) {
  H = host;
  return &responder;
}

static char *dupstr(const char *s) {
  return s ? strdup(s) : NULL;
}

static void load(void) {
  FILE *f = fopen(LLMRT_BENCH_WORKLOAD, "rb");
  if (!f) {
    perror(LLMRT_BENCH_WORKLOAD);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) exit(1);
  buf[n] = 0;
  fclose(f);
  cJSON *root = cJSON_Parse(buf);
  free(buf);
  const cJSON *chat;
  cJSON_ArrayForEach(chat, root) {
    chat_t *c = &chats[n_chats++];
    c->n = (size_t)cJSON_GetArraySize(chat);
    c->m = calloc(c->n, sizeof *c->m);
    size_t i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, chat) {
      llmrt_message_t *d = &c->m[i++];
      d->struct_size = sizeof *d;
      d->role = dupstr(cJSON_GetObjectItem(m, "role")->valuestring);
      const cJSON *content = cJSON_GetObjectItem(m, "content");
      d->content = cJSON_IsString(content) ? dupstr(content->valuestring) : NULL;
      const cJSON *id = cJSON_GetObjectItem(m, "tool_call_id");
      d->tool_call_id = id ? dupstr(id->valuestring) : NULL;
      const cJSON *tc = cJSON_GetObjectItem(m, "tool_calls");
      d->tool_calls_json = tc ? cJSON_PrintUnformatted(tc) : NULL;
    }
    if (n_chats == sizeof chats / sizeof *chats) break;
  }
  cJSON_Delete(root);
}

typedef struct {
  int done, status;
  char err[256];
} res_t;

static void on_done(llmrt_call_t *c, int status, const llmrt_result_t *res, void *user) {
  res_t *r = user;
  r->done = 1;
  r->status = status;
  if (status) snprintf(r->err, sizeof r->err, "%s", res->error_message);
}

static void on_closed(llmrt_t *rt, void *u) {}

typedef struct {
  uv_loop_t loop;
  llmrt_t *rt;
} env_t;

static void env_open(env_t *e, const char *trim_json) {
  uv_loop_init(&e->loop);
  llmrt_new(&e->loop, NULL, &e->rt);
  llmrt_add_plugin(e->rt, "responder", responder_entry);
  char cfg[1024], err[512];
  snprintf(cfg, sizeof cfg,
           "{\"upstreams\":{\"m\":{\"base_url\":\"http://127.0.0.1:9/v1\","
           "\"api_key_env\":\"BENCH_KEY\"}},\"plugins\":[%s%s{\"name\":\"responder\"}]}",
           trim_json ? trim_json : "", trim_json ? "," : "");
  if (llmrt_configure(e->rt, cfg, err, sizeof err)) {
    fprintf(stderr, "configure: %s\n", err);
    exit(1);
  }
}

static void env_close(env_t *e) {
  llmrt_close(e->rt, on_closed, NULL);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  uv_loop_close(&e->loop);
}

/* Process CPU time (everything runs on this thread): on a machine shared
 * with other jobs, wall time measures the neighbours as much as the code. */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every chat once, one call at a time; returns CPU seconds. */
static double pass(env_t *e) {
  double t0 = cpu_now();
  for (size_t i = 0; i < n_chats; i++) {
    llmrt_request_t req;
    llmrt_request_init(&req);
    req.model = "gpt-4o";
    req.messages = chats[i].m;
    req.n_messages = chats[i].n;
    res_t r = {0};
    llmrt_callbacks_t cbs = {NULL, NULL, on_done};
    if (llmrt_call(e->rt, &req, &cbs, &r, NULL)) exit(1);
    while (!r.done)
      uv_run(&e->loop, UV_RUN_ONCE);
    if (r.status) {
      fprintf(stderr, "call failed: %s\n", r.err);
      exit(1);
    }
  }
  return cpu_now() - t0;
}

int main(void) {
  setenv("BENCH_KEY", "sk-bench-0123456789", 1);
  load();
  size_t n_msgs = 0;
  for (size_t i = 0; i < n_chats; i++)
    n_msgs += chats[i].n;
  static const struct {
    const char *label, *json;
  } confs[] = {
      {"no trim", NULL},
      {"trim, no count memo", "{\"name\":\"trim\",\"count_memo\":0}"},
      {"trim (normalization)", "{\"name\":\"trim\"}"},
      {"trim + dedupe", "{\"name\":\"trim\",\"dedupe\":true}"},
      {"trim + dedupe + budget 2000",
       "{\"name\":\"trim\",\"dedupe\":true,\"max_input_tokens\":2000}"},
  };
  enum { NC = sizeof confs / sizeof *confs };
  printf("bench_trim: %zu chats, %zu messages (bench/data/trim_workload.json), model gpt-4o\n\n",
         n_chats, n_msgs);
  printf("part 1: input tokens sent (o200k_base, framing included)\n");
  printf("%-30s %12s %8s\n", "configuration", "tokens", "ratio");
  double base = 0;
  for (int c = 0; c < NC; c++) {
    env_t e;
    env_open(&e, confs[c].json);
    g_count = 1;
    g_tokens = 0;
    pass(&e);
    g_count = 0;
    env_close(&e);
    if (c == 0) base = g_tokens;
    printf("%-30s %12.0f %8.3f\n", confs[c].label, g_tokens, g_tokens / base);
  }
  /* Part 2: interleaved runs, each configuration warmed first. */
  env_t envs[NC];
  double t[NC][RUNS];
  for (int c = 0; c < NC; c++) {
    env_open(&envs[c], confs[c].json);
    pass(&envs[c]);
  }
  for (int r = 0; r < RUNS; r++)
    for (int c = 0; c < NC; c++)
      t[c][r] = pass(&envs[c]) / (double)n_chats * 1e9;
  printf("\npart 2: per-call cost, one call at a time, answered by the innermost plugin;\n"
         "median of %d interleaved runs of the %zu chats, CPU time\n",
         RUNS, n_chats);
  printf("%-30s %12s %12s %8s\n", "configuration", "us/call", "us/message", "ratio");
  double m0 = bench_median(t[0], RUNS);
  for (int c = 0; c < NC; c++) {
    double m = bench_median(t[c], RUNS);
    printf("%-30s %12.1f %12.2f %8.2f\n", confs[c].label, m / 1e3,
           m / 1e3 / ((double)n_msgs / (double)n_chats), m / m0);
    env_close(&envs[c]);
  }
  return 0;
}
