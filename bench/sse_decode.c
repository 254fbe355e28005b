/* Stream decoding throughput: SSE parsing + OpenAI chunk decoding into
 * llmrt events, per core, on a generated stream shaped like the real one.
 *
 * Baselines measured in the same run on the same bytes:
 *  - memchr: a plain scan for "\n\n" event boundaries (the ceiling: any SSE
 *    decoder has to look at every byte at least this way);
 *  - cJSON: memchr framing + cJSON_ParseWithLength of every chunk and the
 *    same field lookups (what a straightforward decoder would cost).
 * Also counts allocations per event through llmrt_set_allocator (goal: 0).
 *
 * Usage: bench_sse_decode [megabytes=4] [runs=7] [llmrt]
 * (a third argument "llmrt" runs only the llmrt decoder, for profiling) */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm/llm.h"

#define READ_SIZE 16384 /* bytes per simulated socket read */

static size_t n_alloc;
static void *count_malloc(size_t n) {
  n_alloc++;
  return malloc(n);
}
static void *count_realloc(void *p, size_t n) {
  n_alloc++;
  return realloc(p, n);
}
static void *count_calloc(size_t c, size_t n) {
  n_alloc++;
  return calloc(c, n);
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Token-sized pieces of English and some CJK, with the escapes real
 * streams carry (newlines, quotes). */
static const char *pieces[] = {
    "The",
    " quick",
    " brown",
    " fox",
    " jumps",
    " over",
    " the",
    " lazy",
    " dog",
    ".",
    "\\n\\n",
    " It",
    " said",
    " \\\"",
    "hello",
    "\\\"",
    ",",
    " and",
    " then",
    " left",
    " \xe4\xbd\xa0\xe5\xa5\xbd",
    "\xe4\xb8\x96\xe7\x95\x8c",
    " ok",
    " 42",
};

static void generate(llmrt__buf_t *b, size_t bytes, size_t *events) {
  const char *head =
      "data: {\"id\":\"chatcmpl-BdHxq2XYZ9kLmNoPqRsTuVwXyZ012\",\"object\":"
      "\"chat.completion.chunk\",\"created\":1747000000,\"model\":"
      "\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":"
      "\"fp_34a54ae93c\",\"choices\":[{\"index\":0,\"delta\":";
  const char *tail = ",\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n";
  size_t n = 0;
  llmrt__buf_printf(b, "%s{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}%s", head,
                    tail);
  n++;
  for (size_t i = 0; b->len < bytes; i++, n++)
    llmrt__buf_printf(b, "%s{\"content\":\"%s\"}%s", head,
                      pieces[i % (sizeof pieces / sizeof *pieces)], tail);
  llmrt__buf_printf(b, "data: {\"id\":\"chatcmpl-BdHxq2XYZ9kLmNoPqRsTuVwXyZ012\",\"object\":"
                       "\"chat.completion.chunk\",\"created\":1747000000,\"model\":"
                       "\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{},"
                       "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n");
  llmrt__buf_printf(b,
                    "data: {\"id\":\"chatcmpl-BdHxq2XYZ9kLmNoPqRsTuVwXyZ012\",\"object\":"
                    "\"chat.completion.chunk\",\"created\":1747000000,\"model\":"
                    "\"gpt-4o-mini-2024-07-18\",\"choices\":[],\"usage\":{\"prompt_tokens\":"
                    "12,\"completion_tokens\":%zu,\"total_tokens\":%zu,\"prompt_tokens_details\":"
                    "{\"cached_tokens\":0}}}\n\ndata: [DONE]\n\n",
                    n, n + 12);
  *events = n + 3;
}

/* ---- llmrt ---- */

typedef struct {
  llmrt__pstate_t st;
  llmrt__sink_t sink;
  size_t sse_events, events, text_bytes;
} ctx_t;

static int on_event(void *user, const llmrt_event_t *ev) {
  ctx_t *c = user;
  c->events++;
  c->text_bytes += ev->len;
  return 0;
}

static void on_meta(void *user, int key, const char *v, size_t n) {
  (void)user, (void)key, (void)v, (void)n;
}

static int on_sse(void *user, const llmrt__sse_event_t *ev) {
  ctx_t *c = user;
  c->sse_events++;
  return llmrt__provider_openai.decode_event(&c->st, ev, &c->sink);
}

static size_t run_llmrt(const llmrt__buf_t *b, ctx_t *c) {
  llmrt__sse_t p;
  llmrt__sse_init(&p, 0);
  llmrt__pstate_init(&c->st);
  c->sse_events = c->events = c->text_bytes = 0;
  int rc = 0;
  for (size_t off = 0; off < b->len && rc == 0; off += READ_SIZE) {
    size_t n = b->len - off < READ_SIZE ? b->len - off : READ_SIZE;
    rc = llmrt__sse_feed(&p, b->data + off, n, on_sse, c);
  }
  llmrt__sse_free(&p);
  if (rc != LLMRT__STREAM_DONE) {
    fprintf(stderr, "decode failed: %d (%s)\n", rc, llmrt_strerror(rc));
    exit(1);
  }
  return c->sse_events;
}

/* ---- Baselines ---- */

static size_t run_memchr(const llmrt__buf_t *b) {
  size_t n = 0;
  const char *s = b->data, *end = b->data + b->len;
  while (s < end) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl || nl + 1 >= end) break;
    if (nl[1] == '\n') {
      n++;
      s = nl + 2;
    } else {
      s = nl + 1;
    }
  }
  return n;
}

static size_t run_cjson(const llmrt__buf_t *b, size_t *text_bytes) {
  size_t n = 0;
  const char *s = b->data, *end = b->data + b->len;
  *text_bytes = 0;
  while (s < end) {
    const char *e = strstr(s, "\n\n");
    if (!e) break;
    const char *d = s + 6; /* "data: " */
    if (!(e - d == 6 && memcmp(d, "[DONE]", 6) == 0)) {
      cJSON *j = cJSON_ParseWithLength(d, (size_t)(e - d));
      if (!j) exit(2);
      cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
      cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "delta"), "content");
      if (cJSON_IsString(t)) *text_bytes += strlen(t->valuestring);
      cJSON_GetObjectItem(c0, "finish_reason");
      cJSON_GetObjectItem(j, "usage");
      cJSON_Delete(j);
    }
    n++;
    s = e + 2;
  }
  return n;
}

typedef size_t (*runner_fn)(const llmrt__buf_t *b, void *arg);

static size_t r_llmrt(const llmrt__buf_t *b, void *arg) {
  return run_llmrt(b, arg);
}
static size_t r_memchr(const llmrt__buf_t *b, void *arg) {
  (void)arg;
  return run_memchr(b);
}
static size_t r_cjson(const llmrt__buf_t *b, void *arg) {
  return run_cjson(b, arg);
}

/* Runs the methods in turn, `runs` rounds, so that a noisy neighbour hits
 * all of them alike; t[m] gets each method's median CPU seconds. */
typedef struct {
  runner_fn fn;
  void *arg;
  size_t events;
  double median;
} method_t;

static void measure(method_t *m, int nm, const llmrt__buf_t *b, int runs) {
  double t[8][64];
  if (runs > 64) runs = 64;
  for (int r = 0; r < runs; r++)
    for (int i = 0; i < nm; i++) {
      double t0 = cpu_now();
      m[i].events = m[i].fn(b, m[i].arg);
      t[i][r] = cpu_now() - t0;
    }
  for (int i = 0; i < nm; i++) {
    qsort(t[i], (size_t)runs, sizeof t[i][0], cmp_double);
    m[i].median = t[i][runs / 2];
  }
}

int main(int argc, char **argv) {
  size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 4;
  int runs = argc > 2 ? atoi(argv[2]) : 7;
  if (mb == 0) mb = 4;
  if (runs <= 0) runs = 7;
  llmrt__buf_t b;
  size_t expect;
  llmrt__buf_init(&b);
  generate(&b, mb << 20, &expect);
  ctx_t *c = calloc(1, sizeof *c);
  c->sink.user = c;
  c->sink.on_event = on_event;
  c->sink.on_meta = on_meta;
  printf("stream: %.2f MB, %zu SSE events (%.0f bytes/event), reads of %d bytes, %d runs (median, "
         "thread CPU time)\n",
         (double)b.len / 1e6, expect, (double)b.len / (double)expect, READ_SIZE, runs);

  size_t cj_text = 0;
  method_t m[3] = {{r_memchr, NULL, 0, 0}, {r_llmrt, c, 0, 0}, {r_cjson, &cj_text, 0, 0}};
  int only = argc > 3 && strcmp(argv[3], "llmrt") == 0;
  if (only) {
    measure(&m[1], 1, &b, runs);
    printf("llmrt SSE + JSON decode: %.0f events/s, %.0f ns/event\n", (double)expect / m[1].median,
           m[1].median * 1e9 / (double)expect);
    free(c);
    llmrt__buf_free(&b);
    return 0;
  }
  measure(m, 3, &b, runs);
  if (m[0].events != expect)
    fprintf(stderr, "memchr counted %zu events, expected %zu\n", m[0].events, expect);
  if (m[1].events != expect)
    fprintf(stderr, "llmrt decoded %zu events, expected %zu\n", m[1].events, expect);
  if (cj_text != c->text_bytes)
    fprintf(stderr, "text mismatch: cJSON %zu, llmrt %zu\n", cj_text, c->text_bytes);
  double t_mem = m[0].median, t_llm = m[1].median, t_cj = m[2].median;

  double ev = (double)expect;
  printf("%-34s %12.0f events/s %8.1f MB/s\n", "memchr \"\\n\\n\" scan (ceiling)", ev / t_mem,
         (double)b.len / 1e6 / t_mem);
  printf("%-34s %12.0f events/s %8.1f MB/s  %6.0f ns/event\n", "llmrt SSE + JSON decode",
         ev / t_llm, (double)b.len / 1e6 / t_llm, t_llm * 1e9 / ev);
  printf("%-34s %12.0f events/s %8.1f MB/s  %6.0f ns/event\n", "cJSON per chunk (reference)",
         ev / t_cj, (double)b.len / 1e6 / t_cj, t_cj * 1e9 / ev);
  printf("ratio llmrt / memchr ceiling: %.3f   llmrt / cJSON: %.2fx faster\n", t_mem / t_llm,
         t_cj / t_llm);

  /* Allocations per event: one warm run, then a counted one. */
  llmrt_set_allocator(count_malloc, count_realloc, count_calloc, free);
  n_alloc = 0;
  run_llmrt(&b, c);
  size_t llm_allocs = n_alloc;
  n_alloc = 0;
  run_cjson(&b, &cj_text);
  size_t cj_allocs = n_alloc;
  llmrt_set_allocator(NULL, NULL, NULL, NULL);
  printf("allocations per stream: llmrt %zu (parser buffers, once per stream) = %.5f per event; "
         "cJSON %.1f per event\n",
         llm_allocs, (double)llm_allocs / ev, (double)cj_allocs / ev);
  free(c);
  llmrt__buf_free(&b);
  return 0;
}
