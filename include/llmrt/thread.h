/* llmrt thread mode: a runtime on a thread of its own, for programs without
 * an event loop. Included by llmrt.h; see docs/api.md, "Thread mode".
 *
 * Unlike the rest of the API, the functions here may be called from any
 * thread (except where a comment says otherwise). The calls' callbacks run on
 * the runtime's thread, never on the submitting thread; use an inbox
 * (llmrt_inbox_t) or llmrt_thread_call_sync to get results back on yours. */
#ifndef LLMRT_THREAD_H
#define LLMRT_THREAD_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llmrt_thread_s llmrt_thread_t;

/* Starts a thread that creates a runtime (with opts, which may be NULL and
 * is copied) on a loop of its own, applies config_json (may be NULL: then
 * configure later with llmrt_thread_configure) and runs the loop. Blocks
 * until the runtime is ready or failed. On failure nothing is left running,
 * *out is untouched and, when errbuf is not NULL, a message is written to it. */
int llmrt_thread_start(const llmrt_options_t *opts, const char *config_json, char *errbuf,
                       size_t errlen, llmrt_thread_t **out);

/* llmrt_configure on the runtime's thread, waiting for its result. Must not
 * be called from the runtime's thread (LLMRT_EINVAL). LLMRT_ESHUTDOWN once
 * llmrt_thread_stop was called. */
int llmrt_thread_configure(llmrt_thread_t *th, const char *json, char *errbuf, size_t errlen);

/* Submits a call. The request is copied (deep) before this returns, so it
 * and its strings may be freed at once; cbs is copied too.
 *
 * Returns 0 and then on_done runs exactly once, on the runtime's thread; or
 * returns an error (LLMRT_ESHUTDOWN after llmrt_thread_stop, LLMRT_EINVAL,
 * LLMRT_ENOMEM) and no callback runs. In on_done, `call` is NULL when the
 * call never started on the runtime: llmrt_call refused it (status is its
 * error, res->error_message says why), it was canceled while queued
 * (LLMRT_ECANCELED) or the runtime was stopping (LLMRT_ESHUTDOWN). Inside
 * the callbacks, the call functions of llmrt.h (llmrt_call_pause, ...) may be
 * used on `call`; they run on the runtime's thread.
 *
 * *ticket (when not NULL) receives a number unique on this thread runtime,
 * for llmrt_thread_cancel. */
int llmrt_thread_call(llmrt_thread_t *th, const llmrt_request_t *req, const llmrt_callbacks_t *cbs,
                      void *user, uint64_t *ticket);

/* Cancels a submitted call from any thread: its on_done then runs with
 * LLMRT_ECANCELED, unless it has already ended or ends first. Asynchronous;
 * returns 0, or LLMRT_ESHUTDOWN after llmrt_thread_stop (every call then ends
 * with LLMRT_ESHUTDOWN anyway). An unknown or finished ticket is ignored. */
int llmrt_thread_cancel(llmrt_thread_t *th, uint64_t ticket);

/* Runs fn(rt, arg) on the runtime's thread, for anything else of llmrt.h
 * (llmrt_add_plugin, llmrt_metrics_text...). Exactly once when this returns
 * 0: with rt NULL when the runtime stops before fn's turn. Never call
 * llmrt_close on rt: the thread runtime owns it (llmrt_thread_stop). */
int llmrt_thread_post(llmrt_thread_t *th, void (*fn)(llmrt_t *rt, void *arg), void *arg);

/* Asks the runtime to stop, from any thread (also from its callbacks), and
 * returns at once. From then on submissions return LLMRT_ESHUTDOWN; calls
 * queued or in flight end with LLMRT_ESHUTDOWN; the runtime closes and the
 * thread ends. Calling it again is a no-op. */
void llmrt_thread_stop(llmrt_thread_t *th);

/* Stops the runtime (if not yet asked), waits for its thread to end and
 * frees everything. When it returns every on_done has run. Call it once, from
 * a thread other than the runtime's (LLMRT_EINVAL there, and nothing is
 * freed), once no other thread uses th any more. */
int llmrt_thread_join(llmrt_thread_t *th);

/* ---- Results handed back to your thread --------------------------------- */

/* A call's outcome, copied off the runtime's thread. Owned by whoever took it
 * from the inbox; free with llmrt_thread_result_free. */
typedef struct {
  int status;      /* 0 or the call's error */
  uint64_t ticket; /* as llmrt_thread_call returned it */
  void *user;      /* as passed to llmrt_inbox_call */
  char *text;      /* the full (or, after an error, partial) text; never NULL */
  size_t text_len;
  char *finish_reason; /* NULL if none */
  char *model;
  char *request_id;
  char *error_type;
  char *error_message; /* NULL on success */
  int64_t input_tokens, output_tokens, cached_tokens;
  int http_status;
  int attempts;
  int cache_hit;
  llmrt_timings_t timings;
} llmrt_thread_result_t;

void llmrt_thread_result_free(llmrt_thread_result_t *r);

/* A thread-safe queue of results: calls submitted with llmrt_inbox_call
 * deliver their llmrt_thread_result_t to it, and any thread takes them with
 * llmrt_inbox_wait (typically the one that submitted). */
typedef struct llmrt_inbox_s llmrt_inbox_t;

int llmrt_inbox_new(llmrt_inbox_t **out);
/* Frees the inbox and any results still in it. Calls still delivering to it
 * must have ended (llmrt_inbox_pending() == 0, or the thread runtime joined). */
void llmrt_inbox_free(llmrt_inbox_t *in);

/* llmrt_thread_call whose on_done puts a copy of the result into `in`: one
 * result per 0 returned, exactly. on_token and on_event of cbs (may be NULL,
 * its on_done is ignored) still run on the runtime's thread. Memory for the
 * result is reserved now, so a result always arrives: if copying its strings
 * runs out of memory, its status is LLMRT_ENOMEM. */
int llmrt_inbox_call(llmrt_thread_t *th, llmrt_inbox_t *in, const llmrt_request_t *req,
                     const llmrt_callbacks_t *cbs, void *user, uint64_t *ticket);

/* Takes the oldest result, waiting up to timeout_ms for one (0: do not wait;
 * UINT32_MAX: no limit). 0 and *out set, or LLMRT_ETIMEDOUT. Do not wait on
 * the runtime's thread (from a callback): results are delivered there, so
 * only timeout 0 makes sense. */
int llmrt_inbox_wait(llmrt_inbox_t *in, uint32_t timeout_ms, llmrt_thread_result_t **out);

/* Results submitted to this inbox and not yet taken (in flight or waiting). */
size_t llmrt_inbox_pending(llmrt_inbox_t *in);

/* Submits one call and waits for it: the simplest use. Returns the call's
 * status (or the submission's error, in which case *out is NULL). *out (when
 * out is not NULL) receives the result, which the caller frees. Must not be
 * called from the runtime's thread (LLMRT_EINVAL). */
int llmrt_thread_call_sync(llmrt_thread_t *th, const llmrt_request_t *req,
                           llmrt_thread_result_t **out);

#ifdef __cplusplus
}
#endif
#endif
