/* Internal: the call object shared by call.c (lifecycle and chain walking),
 * attempt.c (one upstream HTTP exchange) and host.c (the plugin host table). */
#ifndef LLMRT_CALL_H
#define LLMRT_CALL_H

#include "chain.h"

/* The call's states. Every transition goes through set_state() in call.c,
 * which logs it at debug level. */
typedef enum {
  CALL_NEW = 0,     /* created; the start is deferred to the next loop turn */
  CALL_REQUEST,     /* walking on_request hooks, outer to inner */
  CALL_PAUSED,      /* a plugin returned LLMRT_PAUSE (in on_request or on_error) */
  CALL_UPSTREAM,    /* an HTTP attempt is in flight */
  CALL_RETRY_WAIT,  /* waiting for a retry's delay */
  CALL_DONE         /* completion delivered; waiting for handles to close */
} llmrt__call_state_t;

/* Pending deferred actions (bits); cancel and close win over the rest. */
enum {
  ACT_START = 1 << 0,
  ACT_RESUME = 1 << 1,
  ACT_RESPOND = 1 << 2,
  ACT_FAIL = 1 << 3,
  ACT_RETRY = 1 << 4,
  ACT_CANCEL = 1 << 5,
  ACT_SHUTDOWN = 1 << 6,
};

/* Where a stream stands (DESIGN.md "Streams"). */
enum { STREAM_BEFORE_HEADERS = 0, STREAM_BEFORE_CONTENT, STREAM_COMMITTED };

enum { BODY_NONE = 0, BODY_SSE, BODY_JSON, BODY_ERROR };

struct llmrt_ctx_s {
  int (*on_event)(llmrt_ctx_t *ctx, llmrt_event_t *ev); /* copied: the hot path */
  llmrt_call_t *call;
  llmrt_plugin_rt_t *p;
  void *state;
  unsigned index;
  int entered; /* on_request ran in this call */
  int passed;  /* an event from inside passed this plugin outward */
  int emitted; /* this plugin emitted events of its own */
};

#define LLMRT__MAX_HELD 4

struct llmrt_call_s {
  llmrt_t *rt;
  llmrt__chain_t *ch;
  struct llmrt_call_s *prev, *next;
  llmrt_callbacks_t cbs;
  void *user;
  llmrt__call_state_t state;

  llmrt_request_t req; /* points into req_block */
  void *req_block;
  const llmrt__upstream_t *up;

  /* Chain position. */
  unsigned pos;        /* plugin being run / paused */
  int pause_in_error;  /* the pause happened in on_error */
  int in_error;        /* an on_error hook is running */
  int in_hook;         /* depth of hooks and user callbacks running now */
  unsigned actions;    /* ACT_* waiting for the deferred runner */
  int halted;          /* done, or cancel/shutdown pending: stop walking */
  int answering;       /* index of the plugin answering, or -1 */
  int retry_asked;     /* set by host->retry inside on_error */
  int resume_for;      /* index of the plugin whose resume is pending, or -1 */
  uint32_t retry_delay_ms;
  int fail_err;        /* for ACT_FAIL / error flow */
  llmrt__defer_t defer;
  int defer_queued;

  /* One timer for every deadline: total, first token, retry wake. */
  uv_timer_t timer;
  int timer_open;
  uint64_t deadline_at, first_token_at, retry_at; /* loop ms; 0: none */

  /* The attempt in flight. */
  llmrt_http_t *http; /* non-NULL until its on_done ran */
  int attempt_live;   /* we still care about http's callbacks */
  int attempts;
  int body_kind;
  int stream_state;
  llmrt__buf_t body_out; /* encoded request body */
  llmrt__buf_t body_in;  /* JSON or error body received */
  llmrt__sse_t sse;
  int sse_inited;
  int stream_done;
  int decode_err; /* error from a decoder inside on_body */
  llmrt_event_t held[LLMRT__MAX_HELD];
  unsigned n_held;
  llmrt__buf_t hdrs; /* header storage for the request */

  /* The result being built. */
  int status;
  llmrt__buf_t text;
  int text_emitted;
  char finish_reason[32];
  int has_finish;
  char *model;
  char *request_id;
  char *error_type;
  char *error_message;
  int64_t input_tokens, output_tokens, cached_tokens;
  int http_status;
  int cache_hit;
  llmrt_timings_t timings;
  uint64_t t_start_us, t_last_token_us, gap_sum_us;

  llmrt__pstate_t *pst;
  llmrt_ctx_t ctx[]; /* one per plugin; plugin states follow */
};

/* call.c */
void llmrt__call_set_state(llmrt_call_t *c, llmrt__call_state_t s);
void llmrt__call_act(llmrt_call_t *c, unsigned act);
void llmrt__call_complete(llmrt_call_t *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void llmrt__call_error(llmrt_call_t *c, int from, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int llmrt__call_dispatch(llmrt_call_t *c, int from, llmrt_event_t *ev);
void llmrt__call_request_phase(llmrt_call_t *c, unsigned from);
int llmrt__call_copy_request(llmrt_call_t *c, const llmrt_request_t *req);
void llmrt__call_set_str(char **dst, const char *s, size_t n);
void llmrt__call_arm_timer(llmrt_call_t *c);
/* The HTTP exchange reported its on_done: the call may now be freed. */
void llmrt__call_http_gone(llmrt_call_t *c);

/* attempt.c */
void llmrt__attempt_start(llmrt_call_t *c);
void llmrt__attempt_abort(llmrt_call_t *c);
void llmrt__attempt_reset(llmrt_call_t *c);

#endif
