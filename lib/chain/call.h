/* Internal: the call object shared by the files of the call layer:
 *   call.c       the public call API, the request copy, the block cache, ids
 *   lifecycle.c  the state machine: one transition function, entry actions,
 *                the request and error walks, completion, deferred actions
 *   flow.c       events inner to outer, flow control (pause, queue, drain)
 *   attempt.c    one upstream HTTP exchange
 *   host.c       the plugin host table, checked against one state table
 *   redact.c     keeping the API key out of everything the caller sees
 * Beside them: chain.c (per-runtime state, deferred work, ids' table, the
 * close phase of calls), config.c (configurations), plugin.c and wake.c
 * (what plugins load and wait on). */
#ifndef LLMRT_CALL_H
#define LLMRT_CALL_H

#include "chain.h"

/* The call's states. Every change goes through llmrt__call_enter() in
 * lifecycle.c, which logs it at debug level and runs the state's entry
 * action. Which host functions a state allows is one table in host.c. */
typedef enum {
  CALL_NEW = 0,      /* created; the start is deferred to the next loop turn */
  CALL_REQUEST,      /* walking on_request hooks, outer to inner, from pos */
  CALL_REQ_PAUSED,   /* plugin pos returned LLMRT_PAUSE from on_request */
  CALL_UPSTREAM,     /* an HTTP attempt is in flight; events flow outward */
  CALL_EVT_PAUSED,   /* the event flow is paused (a plugin's on_event, or the
                        application); reads stopped; then what after_drain says */
  CALL_ERROR,        /* walking on_error hooks, inner to outer, from pos */
  CALL_ERR_PAUSED,   /* plugin pos returned LLMRT_PAUSE from on_error */
  CALL_RETRY_WAIT,   /* waiting for a retry's delay; then REQUEST from pos */
  CALL_COMPLETING,   /* on_complete, on_done, on_call_end are running */
  CALL_DONE,         /* waiting for the timer and the HTTP exchange to let go */
  CALL_NSTATES
} llmrt__call_state_t;

/* Deferred actions (bits), run by the deferred-work queue: never on the
 * stack of whoever asked. Cancel, shutdown and fail win over the rest. */
enum {
  ACT_START = 1 << 0,
  ACT_RESUME = 1 << 1,  /* a request/error pause ends */
  ACT_RESPOND = 1 << 2, /* a paused plugin answered */
  ACT_RETRY = 1 << 3,   /* a plugin paused in on_error asked for a retry */
  ACT_FAIL = 1 << 4,    /* host->fail */
  ACT_DRAIN = 1 << 5,   /* the event flow may go on */
  ACT_CANCEL = 1 << 6,
  ACT_SHUTDOWN = 1 << 7,
};

/* What waits for the event queue to drain (CALL_EVT_PAUSED). */
enum { AFTER_NONE = 0, AFTER_ATTEMPT, AFTER_COMPLETE };

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
#define LLMRT__MAX_ATTRS 32
#define LLMRT__MAX_XHDRS 32

/* An event waiting in the flow queue; strings are offsets + 1 into qstr
 * (0: NULL), so the queue can grow. */
typedef struct {
  int from; /* the next plugin to see it (-1: only the user) */
  llmrt_event_t ev;
  size_t text, id, name, finish;
} llmrt__qev_t;

typedef struct {
  char *name;
  char *str;
  double num;
} llmrt__attr_t;

struct llmrt_call_s {
  llmrt_t *rt;
  llmrt__chain_t *ch;
  llmrt__conf_t *cf; /* the configuration the call started with (a reference) */
  llmrt__link_t link; /* in ch->calls */
  uint64_t id;
  uint32_t slot;
  struct llmrt_call_s *next_free; /* in cf->free_calls */
  llmrt_callbacks_t cbs;
  void *user;
  llmrt__call_state_t state;

  llmrt_request_t req; /* points into req_block; req.api_key is always NULL */
  void *req_block;
  char *api_key;      /* SECRET: the request's own key, or NULL */
  char key_id[17];    /* of the key the call uses */
  const llmrt__upstream_t *up;
  /* Headers plugins set (host->set_header): name, and value or NULL to
   * remove; applied over the upstream's and the request's. */
  struct {
    char *name, *value;
  } xhdrs[LLMRT__MAX_XHDRS];
  unsigned n_xhdrs;
  llmrt__attr_t attrs[LLMRT__MAX_ATTRS];
  unsigned n_attrs;

  /* Chain position and the walks. */
  unsigned pos;      /* plugin being run / paused in request or error */
  int err;           /* the error being walked (CALL_ERROR) */
  int in_hook;       /* depth of hooks and user callbacks running now */
  int evt_hook;      /* index of the plugin inside on_event, or -1 */
  unsigned actions;  /* ACT_* waiting for the deferred runner */
  int halted;        /* done, or cancel/shutdown/fail pending: stop walking */
  int answering;     /* index of the plugin answering, or -1 */
  int retry_asked;   /* set by host->retry inside on_error */
  int resume_for;    /* index of the plugin whose resume is pending, or -1 */
  uint32_t retry_delay_ms;
  int fail_err, fail_from; /* host->fail */
  int final_status;  /* for COMPLETING */
  llmrt__defer_t defer;
  int defer_queued;

  /* Flow control. */
  int flow_pauser; /* plugin index holding the flow paused, or -1 */
  int app_pauses;  /* llmrt_call_pause count */
  int after_drain; /* AFTER_* */
  int http_paused;
  int draining;      /* the queue is being delivered */
  llmrt__buf_t q;    /* llmrt__qev_t entries */
  size_t q_head;     /* first entry not yet delivered, in entries */
  size_t q_ins;      /* where the delivery under way puts events in front */
  llmrt__buf_t qstr; /* their strings */
  llmrt__buf_t qcur; /* strings of the entry being delivered */
  int att_status;    /* AFTER_ATTEMPT: the attempt's outcome */
  char *att_msg;

  /* One timer for every deadline: total, first token, retry wake. */
  uv_timer_t timer;
  int timer_open;
  uint64_t deadline_at, first_token_at, retry_at; /* loop ms; 0: none */
  llmrt__link_t timers; /* host->call_timer_start */

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
  /* measure.c: when the call completed (0: not yet), time inside upstream
   * exchanges, and when the one in flight started (0: none). */
  uint64_t t_end_us, upstream_us, att_t0_us;

  llmrt__pstate_t *pst;
  llmrt_ctx_t ctx[]; /* one per plugin; plugin states follow */
};

static inline int llmrt__call_last(const llmrt_call_t *c) {
  return (int)c->cf->n_plugins - 1;
}
static inline const char *llmrt__call_key(const llmrt_call_t *c) {
  return c->api_key ? c->api_key : c->up ? c->up->api_key : NULL;
}

/* call.c */
int llmrt__call_copy_request(llmrt_call_t *c, const llmrt_request_t *req, char *why,
                             size_t whylen);
void llmrt__call_set_str(char **dst, const char *s, size_t n);
void llmrt__call_shutdown(llmrt_call_t *c);
void llmrt__call_release(llmrt_call_t *c); /* CALL_DONE: free when the handles let go */
/* The HTTP exchange reported its on_done: the call may now be freed. */
void llmrt__call_http_gone(llmrt_call_t *c);

/* lifecycle.c */
void llmrt__call_enter(llmrt_call_t *c, llmrt__call_state_t s);
void llmrt__call_act(llmrt_call_t *c, unsigned act);
/* Ends the call with status (COMPLETING; for 0, once queued events are
 * delivered). fmt (may be NULL) sets the message if none is set. */
void llmrt__call_complete(llmrt_call_t *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An attempt or a plugin at `from` failed: the error walks on_error from
 * `from` outward. fmt (may be NULL) replaces the message. */
void llmrt__call_error(llmrt_call_t *c, int from, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void llmrt__call_arm_timer(llmrt_call_t *c);
void llmrt__call_timer_init(llmrt_call_t *c);

/* flow.c */
/* An event enters the flow at plugin `from` (the last plugin for upstream
 * events; the emitter's outer neighbour for emitted ones). Returns 0, or a
 * negative error when a plugin failed or the text could not be kept (the
 * message is set). */
int llmrt__flow_event(llmrt_call_t *c, int from, const llmrt_event_t *ev);
int llmrt__flow_queued(const llmrt_call_t *c);
int llmrt__flow_paused(const llmrt_call_t *c);
void llmrt__flow_drain(llmrt_call_t *c);
void llmrt__flow_reset(llmrt_call_t *c); /* empties the queue (drained) */
/* Drops what is held back, with the plugin pause that held it and what
 * waited for it (an attempt abandoned, a call ending). */
void llmrt__flow_drop(llmrt_call_t *c);
void llmrt__flow_free(llmrt_call_t *c);

/* attempt.c */
void llmrt__attempt_start(llmrt_call_t *c);
void llmrt__attempt_abort(llmrt_call_t *c);
void llmrt__attempt_reset(llmrt_call_t *c);
void llmrt__attempt_pause(llmrt_call_t *c, int pause);
/* The attempt's outcome, once the event queue is drained (AFTER_ATTEMPT). */
void llmrt__attempt_finish(llmrt_call_t *c);

/* redact.c */
/* Replaces every run of 6 or more bytes of s that is part of key (and the
 * whole key when it is shorter) by "[redacted]". *s is reallocated as
 * needed; NULL stays NULL. */
void llmrt__redact(char **s, const char *key);
/* Whether s holds a piece of key that llmrt__redact would replace. */
int llmrt__redact_needed(const char *s, const char *key);
/* Drops a UTF-8 character that a cut to length left incomplete at the end
 * of s, so messages stay valid UTF-8. */
void llmrt__utf8_trim(char *s);
/* The same in a fixed buffer (NUL-terminated, at most cap bytes). */
void llmrt__redact_buf(char *s, size_t cap, const char *key);

#endif
