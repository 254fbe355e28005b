/* Shared by the tests/llm tests: records decoder output (events and meta) as
 * a log a test can compare, and runs recorded SSE transcripts through the
 * SSE parser and a provider's decode_event, whole or in slices. */
#ifndef LLMRT_TEST_LLM_FIXTURE_H
#define LLMRT_TEST_LLM_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/llm.h"
#include "test.h"

#define REC_TOOLS 8

typedef struct {
  llmrt__buf_t log; /* one line per event or meta, in order */
  llmrt__buf_t text, thinking;
  llmrt__buf_t args[REC_TOOLS];
  char tool_id[REC_TOOLS][64], tool_name[REC_TOOLS][64];
  char model[128], id[128], err_type[128], err_msg[512];
  char finish[32];
  int64_t in, out, cached;
  int n_start, n_usage, n_finish, n_text, n_events;
  int lax; /* invalid UTF-8 expected in deltas (only completeness is checked) */
} rec_t;

static inline void rec_init(rec_t *r) {
  memset(r, 0, sizeof *r);
}

static inline void rec_free(rec_t *r) {
  llmrt__buf_free(&r->log);
  llmrt__buf_free(&r->text);
  llmrt__buf_free(&r->thinking);
  for (int i = 0; i < REC_TOOLS; i++)
    llmrt__buf_free(&r->args[i]);
}

/* Independent of the library: is s[0..n) whole, valid UTF-8? */
static inline int valid_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (k == 0 || i + k > n) return 0;
    for (size_t m = 1; m < k; m++)
      if ((s[i + m] & 0xC0) != 0x80) return 0;
    i += k;
  }
  return 1;
}

static inline int rec_on_event(void *user, const llmrt_event_t *ev) {
  rec_t *r = user;
  r->n_events++;
  switch (ev->type) {
  case LLMRT_EV_START:
    r->n_start++;
    llmrt__buf_puts(&r->log, "START\n");
    break;
  case LLMRT_EV_TEXT:
  case LLMRT_EV_THINKING:
    /* The promise to users: a delta never ends (or starts) inside a character. */
    ASSERT(ev->len > 0);
    if (!r->lax) ASSERT(valid_utf8((const unsigned char *)ev->text, ev->len));
    r->n_text++;
    llmrt__buf_append(ev->type == LLMRT_EV_TEXT ? &r->text : &r->thinking, ev->text, ev->len);
    llmrt__buf_printf(&r->log, "%s %.*s\n", ev->type == LLMRT_EV_TEXT ? "TEXT" : "THINKING",
                      (int)ev->len, ev->text);
    break;
  case LLMRT_EV_TOOL_CALL:
    ASSERT(ev->index < REC_TOOLS);
    if (ev->id) snprintf(r->tool_id[ev->index], 64, "%s", ev->id);
    if (ev->name) snprintf(r->tool_name[ev->index], 64, "%s", ev->name);
    ASSERT(ev->text != NULL);
    llmrt__buf_append(&r->args[ev->index], ev->text, ev->len);
    llmrt__buf_printf(&r->log, "TOOL_CALL %u id=%s name=%s %.*s\n", ev->index,
                      ev->id ? ev->id : "-", ev->name ? ev->name : "-", (int)ev->len, ev->text);
    break;
  case LLMRT_EV_USAGE:
    r->n_usage++;
    r->in = ev->input_tokens;
    r->out = ev->output_tokens;
    r->cached = ev->cached_tokens;
    llmrt__buf_printf(&r->log, "USAGE in=%lld out=%lld cached=%lld\n", (long long)r->in,
                      (long long)r->out, (long long)r->cached);
    break;
  case LLMRT_EV_FINISH:
    r->n_finish++;
    ASSERT(ev->finish_reason != NULL);
    snprintf(r->finish, sizeof r->finish, "%s", ev->finish_reason);
    llmrt__buf_printf(&r->log, "FINISH %s\n", ev->finish_reason);
    break;
  default:
    TEST_FAIL_("unknown event type %d", ev->type);
  }
  return 0;
}

static inline void rec_on_meta(void *user, int key, const char *val, size_t len) {
  rec_t *r = user;
  char *dst = key == LLMRT__META_MODEL        ? r->model
              : key == LLMRT__META_ID         ? r->id
              : key == LLMRT__META_ERROR_TYPE ? r->err_type
                                              : r->err_msg;
  size_t cap = key == LLMRT__META_ERROR_MESSAGE ? sizeof r->err_msg : sizeof r->model;
  snprintf(dst, cap, "%.*s", (int)len, val);
  llmrt__buf_printf(&r->log, "META %d %.*s\n", key, (int)len, val);
}

static inline llmrt__sink_t rec_sink(rec_t *r) {
  llmrt__sink_t s = {r, rec_on_event, rec_on_meta};
  return s;
}

/* ---- Transcripts ---- */

static inline char *read_data(const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", LLMRT_TEST_DATA, name);
  FILE *f = fopen(path, "rb");
  if (!f) TEST_FAIL_("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  ASSERT(buf != NULL);
  ASSERT_EQ(fread(buf, 1, (size_t)n, f), n);
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

typedef struct {
  const llmrt__provider_t *prov;
  llmrt__pstate_t st;
  llmrt__sink_t sink;
  int last_rc;
} stream_t;

static inline int stream_on_sse(void *user, const llmrt__sse_event_t *ev) {
  stream_t *s = user;
  s->last_rc = s->prov->decode_event(&s->st, ev, &s->sink);
  return s->last_rc;
}

/* xorshift64*: deterministic slices for a given seed. */
static inline uint64_t prng(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

/* Feeds data to a fresh parser and decoder: whole when seed == 0, one byte
 * at a time when seed == 1, else random slices of 1..64 bytes. Returns the
 * rc that ended the stream (LLMRT__STREAM_DONE, an error, or 0 if the data
 * ran out first). */
static inline int run_stream(const llmrt__provider_t *prov, const char *data, size_t len,
                             uint64_t seed, rec_t *r) {
  llmrt__sse_t p;
  stream_t *s = malloc(sizeof *s);
  ASSERT(s != NULL);
  s->prov = prov;
  llmrt__pstate_init(&s->st);
  s->sink = rec_sink(r);
  s->last_rc = 0;
  llmrt__sse_init(&p, 0);
  uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  size_t off = 0;
  int rc = 0;
  while (off < len && rc == 0) {
    size_t n = seed == 0 ? len : seed == 1 ? 1 : 1 + (size_t)(prng(&state) % 64);
    if (n > len - off) n = len - off;
    rc = llmrt__sse_feed(&p, data + off, n, stream_on_sse, s);
    off += n;
  }
  llmrt__sse_free(&p);
  free(s);
  return rc;
}

/* Runs a transcript whole, bytewise and in many random slicings; every run
 * must give the same log. Leaves the whole run's record in r. */
static inline int run_transcript(const llmrt__provider_t *prov, const char *name, rec_t *r) {
  size_t len;
  char *data = read_data(name, &len);
  rec_init(r);
  int rc = run_stream(prov, data, len, 0, r);
  for (uint64_t seed = 1; seed < 60; seed++) {
    rec_t r2;
    rec_init(&r2);
    int rc2 = run_stream(prov, data, len, seed, &r2);
    ASSERT_ERR(rc2, rc);
    if (r2.log.len != r->log.len || memcmp(r2.log.data, r->log.data, r->log.len) != 0)
      TEST_FAIL_("%s: seed %llu gives a different event list:\n%s\n--- expected:\n%s", name,
                 (unsigned long long)seed, r2.log.data, r->log.data);
    rec_free(&r2);
  }
  free(data);
  return rc;
}

/* ---- Transcript cases, curl style: one row per recorded stream ---- */

#define CHECK_ANY INT64_MIN /* a count field not checked */

typedef struct {
  const char *file;
  int rc;                                 /* what ends the stream */
  const char *text, *thinking, *finish;   /* NULL: not checked; "" means none */
  int64_t in, out, cached;                /* CHECK_ANY: not checked */
  int n_start, n_finish, n_usage, n_text; /* -1: not checked */
  const char *model, *id, *err_type, *err_msg, *err_msg_has;
  struct {
    const char *id, *name, *args;
  } tool[2];
  const char *log_prefix; /* the log starts with this */
  const char *log_has[3]; /* the log contains each */
  const char *log_lacks;  /* and not this */
} transcript_case_t;

#define ASSERT_OPT_STR(got, want)                                                                  \
  do {                                                                                             \
    if (want) ASSERT_STR_EQ((got) ? (got) : "", want);                                             \
  } while (0)
#define ASSERT_OPT_INT(got, want)                                                                  \
  do {                                                                                             \
    if ((want) != CHECK_ANY && (want) != -1) ASSERT_EQ(got, want);                                 \
  } while (0)

/* Runs one case (whole, bytewise, random slices: see run_transcript) and
 * checks every field it sets. */
static inline void check_transcript(const llmrt__provider_t *prov, const transcript_case_t *tc) {
  rec_t r;
  fprintf(stderr, "   %s\n", tc->file);
  ASSERT_ERR(run_transcript(prov, tc->file, &r), tc->rc);
  ASSERT_OPT_STR(r.text.data, tc->text);
  ASSERT_OPT_STR(r.thinking.data, tc->thinking);
  ASSERT_OPT_STR(r.finish, tc->finish);
  ASSERT_OPT_INT(r.in, tc->in);
  ASSERT_OPT_INT(r.out, tc->out);
  ASSERT_OPT_INT(r.cached, tc->cached);
  ASSERT_OPT_INT(r.n_start, tc->n_start);
  ASSERT_OPT_INT(r.n_finish, tc->n_finish);
  ASSERT_OPT_INT(r.n_usage, tc->n_usage);
  ASSERT_OPT_INT(r.n_text, tc->n_text);
  ASSERT_OPT_STR(r.model, tc->model);
  ASSERT_OPT_STR(r.id, tc->id);
  ASSERT_OPT_STR(r.err_type, tc->err_type);
  ASSERT_OPT_STR(r.err_msg, tc->err_msg);
  if (tc->err_msg_has) ASSERT_CONTAINS(r.err_msg, tc->err_msg_has);
  for (int i = 0; i < 2; i++) {
    ASSERT_OPT_STR(r.tool_id[i], tc->tool[i].id);
    ASSERT_OPT_STR(r.tool_name[i], tc->tool[i].name);
    ASSERT_OPT_STR(r.args[i].data, tc->tool[i].args);
  }
  if (tc->log_prefix) ASSERT(strncmp(r.log.data, tc->log_prefix, strlen(tc->log_prefix)) == 0);
  for (int i = 0; i < 3; i++)
    if (tc->log_has[i]) ASSERT_CONTAINS(r.log.data, tc->log_has[i]);
  if (tc->log_lacks) ASSERT(strstr(r.log.data, tc->log_lacks) == NULL);
  rec_free(&r);
}

#endif
