/* llmrt demo's workload: what an application's traffic looks like.
 *   intro  one question, streamed token by token to stdout
 *   faq    support questions, each asked again and again slightly
 *          reworded (the repeats a cache answers)
 *   agent  long multi-turn conversations with tool calls and tool results
 *          (the histories a trimmer shortens), some answered with a
 *          transient 429 or 503 first (what retries absorb)
 *   burst  many calls at once, over the provider's rate limit (what a
 *          limiter paces)
 * The same workload runs with and without plugins; the scheduler runs each
 * phase with its own concurrency and measures every call. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

/* Every setting of the mock is here. The lead extends it as the mock grows:
 * the provider rate limit is used as soon as the mock knows rl_rpm (the
 * `limits` branch), and its stand-in below is then dropped. */
const demo_mock_setting_t demo_mock_settings[] = {
    {"~300 ms to first token, ~50 tokens/s, 40-token answers", "ttft_ms=300,token_ms=20,tokens=40",
     DEMO_ALL, 0, 0, 0, -1},
    {"provider rate limit: 40 requests a minute per key (the burst goes over it)", "rl_rpm=40",
     DEMO_ALL, 0, 0, 1, -1},
    {"transient 429 with Retry-After: 1 (1 agent call in 4)",
     "status=429,retry_after=1,fail_first=1", DEMO_AGENT, 4, 1, 0, -1},
    {"transient 503 (1 agent call in 4)", "status=503,fail_first=1", DEMO_AGENT, 4, 3, 0, -1},
    {"stand-in for the rate limit: burst calls past the 13th get a 429 once",
     "status=429,retry_after=1,fail_first=1", DEMO_BURST, 1, 13, 0, 1},
};
const size_t demo_n_mock_settings = sizeof demo_mock_settings / sizeof demo_mock_settings[0];
int demo_mock_supported[16];

static const char *const phase_name[DEMO_PHASES] = {"intro", "faq", "agent", "burst"};
static const int phase_concurrency[DEMO_PHASES] = {1, 4, 4, 1000};

typedef struct {
  int phase, index; /* index within its phase */
  llmrt_message_t *msgs;
  size_t n;
  char *owned[128]; /* strings this job allocated (5 per agent exchange) */
  size_t n_owned;
  char x_mock[160];
} demo_job_t;

typedef struct {
  demo_ctx_t *ctx;
  demo_job_t *jobs;
  size_t n_jobs, next, done, in_flight;
  int phase;
  uint64_t start_ns;
  uv_timer_t progress;
  int progress_on;
  int printing; /* the intro answer is being streamed */
  int finished;
  size_t cap_lat;
} sched_t;

static const char *const faq[] = {
    "How do I reset my password?",
    "What payment methods do you accept?",
    "Can I change my subscription plan later?",
    "How do I export my data as CSV?",
    "Why was my card declined?",
    "How do I invite a teammate to my workspace?",
    "Is there an API rate limit on the free plan?",
    "How do I delete my account?",
};

/* Takes s into the job; NULL (s freed) when the job is full, which the
 * builders treat like a failed allocation. */
static char *own(demo_job_t *j, char *s) {
  if (s && j->n_owned == sizeof j->owned / sizeof j->owned[0]) {
    free(s);
    return NULL;
  }
  if (s) j->owned[j->n_owned++] = s;
  return s;
}

static char *fmt(demo_job_t *j, size_t cap, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static char *fmt(demo_job_t *j, size_t cap, const char *f, ...) {
  char *s = malloc(cap);
  if (!s) return NULL;
  va_list ap;
  va_start(ap, f);
  vsnprintf(s, cap, f, ap);
  va_end(ap);
  return own(j, s);
}

/* "How do I reset my password?" -> "how do i reset my  password" (case,
 * spacing and punctuation: what users change when they ask again). */
static char *near_repeat(demo_job_t *j, const char *q) {
  char *s = malloc(strlen(q) * 2 + 2);
  if (!s) return NULL;
  size_t o = 0;
  for (const char *p = q; *p; p++) {
    if (*p == '?') continue;
    s[o++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p + 32) : *p;
    if (*p == ' ' && (p - q) % 3 == 0) s[o++] = ' ';
  }
  s[o] = '\0';
  return own(j, s);
}

static const char system_agent[] =
    "You are the support agent of a software company. Use the tools: search_docs(query) "
    "returns documentation excerpts, get_ticket(id) returns a support ticket, and "
    "update_ticket(id, status, note) changes one. Always cite the documentation you used, "
    "never invent features, keep answers under five sentences, and ask before closing a "
    "ticket. Escalate billing disputes to a human. Reply in the customer's language.";

/* A conversation of `exchanges` rounds: a question, a tool call, its
 * result (a long JSON document), and the answer; then the new question. */
static int build_agent(demo_job_t *j, int conv, int exchanges) {
  size_t n = 2 + (size_t)exchanges * 4;
  j->msgs = calloc(n, sizeof *j->msgs);
  if (!j->msgs) return -1;
  j->msgs[j->n++] = (llmrt_message_t){.role = "system", .content = system_agent};
  for (int e = 0; e < exchanges; e++) {
    char *q = fmt(j, 200, "Ticket %d-%d: the export of workspace %d stops at %d%%. Why?", conv, e,
                  conv * 10 + e, 40 + e);
    char *calls =
        fmt(j, 300,
            "[{\"id\":\"call_%d_%d\",\"type\":\"function\",\"function\":{\"name\":"
            "\"search_docs\",\"arguments\":\"{\\\"query\\\":\\\"export stops %d\\\"}\"}}]",
            conv, e, e);
    char *id = fmt(j, 32, "call_%d_%d", conv, e);
    char *result = own(j, malloc(1600));
    if (!q || !calls || !id || !result) return -1;
    int o = snprintf(result, 1600, "{\"results\":[");
    for (int k = 0; k < 6; k++)
      o += snprintf(result + o, 1600 - (size_t)o,
                    "%s{\"doc\":\"exports/%d\",\"excerpt\":\"Exports of large workspaces run "
                    "in batches of %d rows; a batch that times out is retried %d times.\"}",
                    k ? "," : "", k, 1000 * (k + 1), k + 2);
    snprintf(result + o, 1600 - (size_t)o, "]}");
    char *answer = fmt(j, 400,
                       "The export of workspace %d runs in batches; the batch at %d%% timed "
                       "out and is being retried (see exports/%d). It should finish within "
                       "the hour; I will update ticket %d-%d when it does.",
                       conv * 10 + e, 40 + e, e % 6, conv, e);
    if (!answer) return -1;
    j->msgs[j->n++] = (llmrt_message_t){.role = "user", .content = q};
    j->msgs[j->n++] =
        (llmrt_message_t){.role = "assistant", .content = NULL, .tool_calls_json = calls};
    j->msgs[j->n++] = (llmrt_message_t){.role = "tool", .content = result, .tool_call_id = id};
    j->msgs[j->n++] = (llmrt_message_t){.role = "assistant", .content = answer};
  }
  char *last = fmt(j, 200, "Conversation %d: is the export of workspace %d done now?", conv, conv);
  if (!last) return -1;
  j->msgs[j->n++] = (llmrt_message_t){.role = "user", .content = last};
  return 0;
}

static int one_user(demo_job_t *j, const char *text) {
  j->msgs = calloc(2, sizeof *j->msgs);
  if (!j->msgs || !text) return -1;
  j->msgs[j->n++] = (llmrt_message_t){.role = "system", .content = "Answer in one paragraph."};
  j->msgs[j->n++] = (llmrt_message_t){.role = "user", .content = text};
  return 0;
}

static void set_faults(demo_job_t *j, int use_headers) {
  size_t o = 0;
  j->x_mock[0] = '\0';
  if (!use_headers) return;
  for (size_t i = 0; i < demo_n_mock_settings; i++) {
    const demo_mock_setting_t *s = &demo_mock_settings[i];
    if (s->phase != j->phase || j->index < s->offset || (j->index - s->offset) % s->every) continue;
    if (s->optional && !demo_mock_supported[i]) continue;
    if (s->fallback_for >= 0 && demo_mock_supported[s->fallback_for]) continue;
    /* The id keeps each request's fail_first count apart. */
    o += (size_t)snprintf(j->x_mock + o, sizeof j->x_mock - o, "%s%s,id=%s-%d", o ? "," : "",
                          s->controls, phase_name[j->phase], j->index);
    if (o >= sizeof j->x_mock) o = sizeof j->x_mock - 1;
  }
}

static void free_jobs(demo_job_t *jobs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < jobs[i].n_owned; k++)
      free(jobs[i].owned[k]);
    free(jobs[i].msgs);
  }
  free(jobs);
}

static demo_job_t *build_jobs(const demo_ctx_t *ctx, size_t *n_out) {
  int faq_n = ctx->small ? 2 : 8, asks = ctx->small ? 2 : 3;
  int convs = ctx->small ? 1 : 4, turns = 2, burst = ctx->small ? 3 : 16;
  size_t n = 1 + (size_t)(faq_n * asks) + (size_t)(convs * turns) + (size_t)burst;
  demo_job_t *jobs = calloc(n, sizeof *jobs);
  if (!jobs) return NULL;
  size_t k = 0;
  int bad = 0;
  jobs[k] = (demo_job_t){.phase = DEMO_INTRO};
  bad |= one_user(&jobs[k++], "Explain in one paragraph why an LLM client needs retries.");
  /* Each question asked `asks` times, the last time reworded, interleaved
   * so repeats arrive while the first answer may still be on its way. */
  for (int a = 0; a < asks; a++)
    for (int q = 0; q < faq_n; q++, k++) {
      jobs[k] = (demo_job_t){.phase = DEMO_FAQ, .index = a * faq_n + q};
      bad |= one_user(&jobs[k], a == asks - 1 && a ? near_repeat(&jobs[k], faq[q]) : faq[q]);
    }
  for (int c = 0; c < convs; c++)
    for (int t = 0; t < turns; t++, k++) {
      jobs[k] = (demo_job_t){.phase = DEMO_AGENT, .index = c * turns + t};
      bad |= build_agent(&jobs[k], c, ctx->small ? 3 : 10 + t * 4);
    }
  for (int b = 0; b < burst; b++, k++) {
    jobs[k] = (demo_job_t){.phase = DEMO_BURST, .index = b};
    bad |= one_user(&jobs[k],
                    fmt(&jobs[k], 120, "Burst request %d: summarize ticket %d.", b, 1000 + b));
  }
  for (size_t i = 0; i < k; i++)
    set_faults(&jobs[i], ctx->has_mock_header);
  if (bad) {
    free_jobs(jobs, k);
    return NULL;
  }
  *n_out = k;
  return jobs;
}

static int push(uint64_t **arr, size_t *n, size_t cap, uint64_t v) {
  if (*n < cap) (*arr)[(*n)++] = v;
  return 0;
}

static void add_attr(demo_run_t *r, const llmrt_attr_t *a) {
  if (a->str || !a->name) return;
  for (size_t i = 0; i < r->n_attrs; i++)
    if (!strcmp(r->attrs[i].name, a->name)) {
      r->attrs[i].sum += a->num;
      r->attrs[i].n++;
      return;
    }
  if (r->n_attrs == 32) return;
  snprintf(r->attrs[r->n_attrs].name, sizeof r->attrs[0].name, "%s", a->name);
  r->attrs[r->n_attrs].sum = a->num;
  r->attrs[r->n_attrs].n = 1;
  r->n_attrs++;
}

static void start_more(sched_t *s);

static void on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  sched_t *s = user;
  (void)call;
  if (!s->printing) return;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
}

static void on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user) {
  sched_t *s = user;
  (void)call;
  demo_run_t *r = s->ctx->run;
  s->in_flight--;
  s->done++;
  if (s->printing) {
    if (!status) printf("\n");
    s->printing = 0;
    fflush(stdout);
  }
  if (status) {
    r->failed++;
  } else {
    r->ok++;
    if (res->attempts > 1) r->recovered++;
    push(&r->lat_us, &r->n_lat, s->cap_lat, res->timings.total_us);
    if (res->timings.first_token_us)
      push(&r->ttft_us, &r->n_ttft, s->cap_lat, res->timings.first_token_us);
  }
  if (res->cache_hit) r->cache_hits++;
  r->in_tokens += (uint64_t)(res->input_tokens > 0 ? res->input_tokens : 0);
  r->out_tokens += (uint64_t)(res->output_tokens > 0 ? res->output_tokens : 0);
  for (size_t i = 0; i < res->n_attrs; i++)
    add_attr(r, &res->attrs[i]);
  start_more(s);
}

static void on_progress(uv_timer_t *t) {
  sched_t *s = t->data;
  if (s->printing) return; /* do not break the streamed answer */
  fprintf(stderr, "\r\033[K[%s] %-5s %zu/%zu calls, %llu failed, %.1f s", s->ctx->run->label,
          phase_name[s->phase], s->done, s->n_jobs, (unsigned long long)s->ctx->run->failed,
          (uv_hrtime() - s->start_ns) / 1e9);
}

static void start_more(sched_t *s) {
  static const llmrt_callbacks_t cbs = {on_token, NULL, on_done};
  for (;;) {
    if (s->next == s->n_jobs) break;
    demo_job_t *j = &s->jobs[s->next];
    if (j->phase != s->phase) {
      if (s->in_flight) break; /* the next phase starts when this one is over */
      s->phase = j->phase;
    }
    if (s->in_flight >= (size_t)phase_concurrency[s->phase]) break;
    llmrt_header_t h[2];
    size_t nh = 0;
    h[nh++] = (llmrt_header_t){"User-Agent", "llmrt-demo/" LLMRT_VERSION_STRING};
    if (j->x_mock[0]) h[nh++] = (llmrt_header_t){"x-mock", j->x_mock};
    llmrt_request_t req;
    llmrt_request_init(&req);
    req.model = s->ctx->model;
    req.messages = j->msgs;
    req.n_messages = j->n;
    req.max_tokens = 40;
    req.temperature = 0; /* answers to be reused: deterministic sampling */
    req.stream = 1;
    req.headers = h;
    req.n_headers = nh;
    req.tenant = "demo";
    s->next++;
    s->ctx->run->calls++;
    if (j->phase == DEMO_INTRO && s->ctx->stream_first) {
      s->printing = 1;
      if (s->progress_on) fprintf(stderr, "\r\033[K");
      printf("> %s\n", j->msgs[j->n - 1].content);
      fflush(stdout);
    }
    s->in_flight++;
    int r = llmrt_call(s->ctx->rt, &req, &cbs, s, NULL);
    if (r) { /* no callback: count it as a caller-visible failure */
      s->in_flight--;
      s->done++;
      s->ctx->run->failed++;
      s->printing = 0;
      fprintf(stderr, "llmrt demo: a call was refused: %s\n", llmrt_strerror(r));
    }
  }
  if (s->done == s->n_jobs && !s->finished) {
    s->finished = 1;
    if (s->progress_on) {
      uv_close((uv_handle_t *)&s->progress, NULL);
      fprintf(stderr, "\r\033[K");
    }
  }
}

int demo_workload(demo_ctx_t *ctx) {
  sched_t s;
  memset(&s, 0, sizeof s);
  s.ctx = ctx;
  s.jobs = build_jobs(ctx, &s.n_jobs);
  if (!s.jobs) return LLMRT_ENOMEM;
  demo_run_t *r = ctx->run;
  s.cap_lat = s.n_jobs;
  r->lat_us = calloc(s.n_jobs, sizeof(uint64_t));
  r->ttft_us = calloc(s.n_jobs, sizeof(uint64_t));
  if (!r->lat_us || !r->ttft_us) {
    free_jobs(s.jobs, s.n_jobs);
    return LLMRT_ENOMEM;
  }
  s.start_ns = uv_hrtime();
  if (ctx->progress && uv_timer_init(ctx->loop, &s.progress) == 0) {
    s.progress_on = 1;
    s.progress.data = &s;
    uv_timer_start(&s.progress, on_progress, 100, 100);
  }
  start_more(&s);
  while (!s.finished)
    uv_run(ctx->loop, UV_RUN_ONCE);
  if (s.progress_on) uv_run(ctx->loop, UV_RUN_NOWAIT); /* the timer's close */
  r->elapsed_s = (uv_hrtime() - s.start_ns) / 1e9;
  free_jobs(s.jobs, s.n_jobs);
  return 0;
}
