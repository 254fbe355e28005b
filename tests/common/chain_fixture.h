/* Fixture for tests of whole calls (tests/chain, tests/tools): a runtime
 * whose log is captured, and recorders for what a call's callbacks saw.
 *
 *   chainfx_call_t r;
 *   chainfx_call_init(&r);
 *   ASSERT_EQ(llmrt_call(rt, &req, &chainfx_callbacks, &r, NULL), 0);
 *   ... run the loop until r.done ...
 *   ASSERT_ERR(r.status, 0);
 *   ASSERT_STR_EQ(r.text, "...");
 *
 * Header only (static inline), so a test links nothing more for it. */
#ifndef LLMRT_TEST_CHAIN_FIXTURE_H
#define LLMRT_TEST_CHAIN_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "llmrt.h"
#include "logcap.h"
#include "test.h"

/* What one call's callbacks saw. */
typedef struct {
  int done;   /* on_done calls: exactly 1 once the call ended */
  int status; /* on_done's status */
  int n_tokens;
  char tokens[16384]; /* the text deltas of on_token, concatenated */
  size_t tokens_len;
  char text[16384]; /* res->text (NUL-terminated) */
  size_t text_len;
  char finish[32];     /* res->finish_reason, "" if NULL */
  char error_type[64]; /* res->error_type, "" if NULL */
  char errmsg[512];    /* res->error_message, "" if NULL */
  int has_error_type, has_errmsg;
  int http_status, attempts, cache_hit;
  int64_t in_tok, out_tok;
  llmrt_timings_t timings;
  int cancel_after; /* set by the test: on_token cancels after this many tokens */
} chainfx_call_t;

static inline void chainfx_call_init(chainfx_call_t *r) {
  memset(r, 0, sizeof *r);
}

/* on_token: user is a chainfx_call_t. */
static inline void chainfx_on_token(llmrt_call_t *call, const char *text, size_t len, void *user) {
  chainfx_call_t *r = user;
  ASSERT(r->tokens_len + len < sizeof r->tokens);
  memcpy(r->tokens + r->tokens_len, text, len);
  r->tokens_len += len;
  r->tokens[r->tokens_len] = '\0';
  r->n_tokens++;
  if (r->cancel_after && r->n_tokens == r->cancel_after) ASSERT_EQ(llmrt_call_cancel(call), 0);
}

/* on_done: user is a chainfx_call_t. Checks the one rule every call keeps: an
 * error comes with a message. */
static inline void chainfx_on_done(llmrt_call_t *call, int status, const llmrt_result_t *res,
                                   void *user) {
  chainfx_call_t *r = user;
  r->done++;
  r->status = status;
  if (status) ASSERT(res->error_message != NULL);
  ASSERT(res->text_len < sizeof r->text);
  if (res->text_len) memcpy(r->text, res->text, res->text_len);
  r->text[res->text_len] = '\0';
  r->text_len = res->text_len;
  snprintf(r->finish, sizeof r->finish, "%s", res->finish_reason ? res->finish_reason : "");
  snprintf(r->error_type, sizeof r->error_type, "%s", res->error_type ? res->error_type : "");
  snprintf(r->errmsg, sizeof r->errmsg, "%s", res->error_message ? res->error_message : "");
  r->has_error_type = res->error_type != NULL;
  r->has_errmsg = res->error_message != NULL;
  r->http_status = res->http_status;
  r->attempts = res->attempts;
  r->cache_hit = res->cache_hit;
  r->in_tok = res->input_tokens;
  r->out_tok = res->output_tokens;
  r->timings = res->timings;
}

/* Both recorders; on_event is not recorded. */
static const llmrt_callbacks_t chainfx_callbacks = {chainfx_on_token, NULL, chainfx_on_done};

/* llmrt_close's done callback: user, if not NULL, is an int counter. */
static inline void chainfx_on_closed(llmrt_t *rt, void *user) {
  if (user) ++*(int *)user;
}

/* A runtime on `loop` (NULL: a loop of its own) with default options but for
 * the log, which goes to lc at every level (lc NULL: the default, stderr at
 * warnings and errors). */
static inline llmrt_t *chainfx_rt_new(uv_loop_t *loop, logcap_t *lc) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  if (lc) logcap_attach(lc, &o);
  llmrt_t *rt = NULL;
  ASSERT_ERR(llmrt_new(loop, &o, &rt), 0);
  return rt;
}

/* Closes a runtime and runs its loop until the close completed and the
 * runtime is freed. `loop` is what chainfx_rt_new was given: NULL for a
 * runtime on its own loop (run with llmrt_run, which frees it on return), or
 * the caller's loop (run with uv_run: the runtime is gone once closed). */
static inline void chainfx_rt_close(llmrt_t *rt, uv_loop_t *loop) {
  int closed = 0;
  llmrt_close(rt, chainfx_on_closed, &closed);
  if (loop) {
    while (!closed)
      if (uv_run(loop, UV_RUN_ONCE) == 0 && !closed) TEST_FAIL_("loop ran dry before the close");
  } else {
    llmrt_run(rt, UV_RUN_DEFAULT);
  }
  ASSERT_EQ(closed, 1);
}

#endif
