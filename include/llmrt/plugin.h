/* llmrt plugin ABI.
 *
 * A plugin is a shared object exporting one symbol:
 *
 *     const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *host);
 *
 * It returns a static descriptor; `host` is the table of functions the plugin
 * may call (keep the pointer: it stays valid while the plugin is loaded), so
 * a plugin needs no symbols from the host binary. This header needs only
 * <stddef.h>, <stdint.h> and llmrt's own type headers: no libuv. Plugins link
 * against nothing of llmrt (CMake: the llmrt::headers target).
 *
 * The chain is an onion in configuration order: the first plugin is the
 * outermost. The request phase runs outer to inner; the response head,
 * events, errors and completion run inner to outer. See docs/plugins.md.
 *
 * Threading: every hook and host function runs on the runtime's loop thread,
 * except host->wake_send.
 * OWNERSHIP comments say who owns each pointer and for how long.
 */
#ifndef LLMRT_PLUGIN_H
#define LLMRT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "llmrt/error.h"
#include "llmrt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change; the runtime refuses other versions. */
#define LLMRT_PLUGIN_ABI_VERSION 2

/* Hook return values (negative values are errors that fail the call). */
enum {
  LLMRT_CONTINUE = 0, /* go on to the next plugin */
  LLMRT_STOP = 1,     /* on_request: answered here (emit + respond were called);
                         on_event: drop this event;
                         on_error: handled here (retry or respond was called) */
  LLMRT_PAUSE = 2     /* on_request / on_error: async work; the plugin later calls
                         exactly one of resume, respond, retry or fail.
                         on_event: flow control; the runtime stops reading the
                         upstream until host->resume, and then hands this event
                         on outward (to the next plugin, as if the hook had
                         returned LLMRT_CONTINUE then) */
};

enum { LLMRT_METRIC_COUNTER = 1, LLMRT_METRIC_GAUGE = 2, LLMRT_METRIC_HISTOGRAM = 3 };

/* The most bucket bounds a histogram may have (the +Inf bucket not counted). */
#define LLMRT_METRIC_MAX_BOUNDS 32

/* A metric with its options (host->metric_new). Zero every field you do not
 * set. */
typedef struct {
  uint32_t struct_size; /* set by the caller: sizeof(llmrt_metric_opts_t) */
  int kind;             /* LLMRT_METRIC_* */
  /* OpenTelemetry ("gen_ai.client.operation.duration") or Prometheus style:
   * [A-Za-z_:][A-Za-z0-9_:.]*. The exposition replaces dots by underscores,
   * appends the unit's suffix unless the name already ends with it, and
   * "_total" to a counter. */
  const char *name;
  /* UCUM unit: "s" (suffix _seconds), "ms" (_milliseconds), "By" (_bytes),
   * "1" (_ratio, gauges only); an annotation in braces ("{token}") or NULL
   * adds no suffix. */
  const char *unit;
  const char *help; /* NULL: the name */
  /* Histograms: strictly increasing finite upper bounds (copied), at most
   * LLMRT_METRIC_MAX_BOUNDS; NULL: the OpenTelemetry GenAI duration bounds
   * for unit "s", the token bounds otherwise (docs/metrics.md). */
  const double *bounds;
  size_t n_bounds;
  /* Distinct values a label may take in this metric before further values
   * are folded into "other" (counted by llmrt_metrics_folded_total). 0: the
   * runtime's metrics_max_label_values. */
  uint32_t max_label_values;
} llmrt_metric_opts_t;

/* Log levels for host->log (the same values as llmrt.h's). */
enum { LLMRT_LOG_ERROR = 0, LLMRT_LOG_WARN = 1, LLMRT_LOG_INFO = 2, LLMRT_LOG_DEBUG = 3 };

/* host->watch_start events. */
enum { LLMRT_WATCH_READABLE = 1, LLMRT_WATCH_WRITABLE = 2 };

typedef struct llmrt_ctx_s llmrt_ctx_t;             /* one plugin's view of one call */
typedef struct llmrt_plugin_rt_s llmrt_plugin_rt_t; /* one plugin instance on one runtime */
typedef struct llmrt_timer_s llmrt_timer_t;
typedef struct llmrt_wake_s llmrt_wake_t;
typedef struct llmrt_watch_s llmrt_watch_t;
typedef struct llmrt_metric_s llmrt_metric_t;
typedef struct llmrt_host_s llmrt_host_t;
typedef struct llmrt_plugin_s llmrt_plugin_t;

/* The last attempt's error, for on_error (host->last_error). */
typedef struct {
  uint32_t struct_size; /* set by the caller: sizeof(llmrt_error_info_t) */
  int code;             /* the llmrt error code; 0 when no attempt failed */
  int http_status;      /* 0 when no response head arrived */
  const char *type;     /* provider's error type ("rate_limit_error",
                           "context_length_exceeded"...), or NULL */
  const char *message;  /* what went wrong and where (key redacted), or NULL */
} llmrt_error_info_t;

/* Where the call goes (host->upstream_info). */
typedef struct {
  uint32_t struct_size; /* set by the caller: sizeof(llmrt_upstream_info_t) */
  const char *name;     /* configured name */
  const char *provider; /* "openai" or "anthropic" */
  const char *host;     /* server host name or address */
  uint16_t port;
  int tls;
} llmrt_upstream_info_t;

struct llmrt_plugin_s {
  uint32_t abi_version; /* LLMRT_PLUGIN_ABI_VERSION */
  uint32_t struct_size; /* sizeof(llmrt_plugin_t) */
  const char *name;     /* OWNERSHIP: static string of the plugin */
  const char *version;  /* OWNERSHIP: static string of the plugin; may be NULL */

  /* Creates one instance (one per entry in the configuration, per runtime
   * and per llmrt_configure). OWNERSHIP: config_json (the plugin's own JSON
   * object, NUL-terminated) is valid only during the call. *state is the
   * plugin's, freed in fini. Return 0, or a negative error after writing a
   * message (what is wrong, e.g. "max_bytes must be a positive integer")
   * into errbuf. May be NULL. */
  int (*init)(llmrt_plugin_rt_t *prt, const char *config_json, size_t config_len, void **state,
              char *errbuf, size_t errlen);
  /* Frees an instance, after every call it served ended and every timer,
   * wake and watch of it was stopped. May be NULL. */
  void (*fini)(void *state);

  /* Bytes of per-call state the runtime allocates, zeroes and frees for this
   * plugin (host->call_state). 0 for none. */
  size_t call_state_size;

  /* Request phase, outer to inner. May change the request (host->set_request,
   * host->set_header), answer it (host->emit events, host->respond, return
   * LLMRT_STOP: inner plugins and the upstream are skipped), pause
   * (LLMRT_PAUSE), or fail (negative, or host->fail). Runs again for each
   * new attempt that re-enters below an outer plugin's retry. */
  int (*on_request)(llmrt_ctx_t *ctx);

  /* Response head of an upstream attempt, inner to outer, for every status
   * (an error status then goes on to on_error once its body arrived, so a
   * plugin can read Retry-After or rate-limit headers here first).
   * OWNERSHIP: headers valid only during the call. Negative fails the attempt. */
  int (*on_response)(llmrt_ctx_t *ctx, int http_status, const llmrt_header_t *headers,
                     size_t n_headers);

  /* Each stream event, inner to outer. The plugin may change *ev (strings it
   * points to must stay valid until its next hook call, e.g. in call state),
   * drop it (LLMRT_STOP), pause the flow (LLMRT_PAUSE, see above), or fail
   * the call (negative). OWNERSHIP: ev and its strings are valid only during
   * the call. */
  int (*on_event)(llmrt_ctx_t *ctx, llmrt_event_t *ev);

  /* An attempt failed with err, inner to outer (host->last_error tells the
   * HTTP status, the provider's error type and the message). Return
   * LLMRT_CONTINUE to pass the error on; call host->retry (optionally after
   * host->set_request) or host->respond and return LLMRT_STOP to handle it;
   * or LLMRT_PAUSE. */
  int (*on_error)(llmrt_ctx_t *ctx, int err);

  /* The call completed, inner to outer, just before the user's on_done.
   * status is 0 or the error. OWNERSHIP: res valid only during the call. */
  void (*on_complete)(llmrt_ctx_t *ctx, int status, const llmrt_result_t *res);

  /* Always runs once per call for every plugin of the chain, after on_done,
   * whatever happened (also on cancel and runtime close), with the call's
   * final status. The call's timers are stopped by the runtime right after;
   * abandon the call's async work here. After it, ctx is gone. */
  void (*on_call_end)(llmrt_ctx_t *ctx, int status);

  void *reserved[8]; /* must be NULL: a descriptor with any set is refused */
};

/* Functions a plugin may call. All take the ctx or prt handed to the plugin.
 * Unless stated, they return 0 or a negative error: LLMRT_EINVAL when called
 * in a state where they make no sense (docs/plugins.md has the table of
 * which function each phase of a call allows), LLMRT_ECANCELED from the
 * functions that move a call on (set_request, set_header, emit, respond,
 * resume, retry, fail) once it is canceled or closing. Every function runs on the loop thread, except
 * wake_send. */
struct llmrt_host_s {
  uint32_t abi_version; /* LLMRT_PLUGIN_ABI_VERSION */
  uint32_t struct_size; /* sizeof(llmrt_host_t): check it before using a function
                           added after ABI 2.0 */

  /* ---- The call ---- */
  /* This plugin's zeroed per-call state (call_state_size bytes) or NULL.
   * OWNERSHIP: the runtime's, valid until on_call_end returns. */
  void *(*call_state)(llmrt_ctx_t *ctx);
  /* The state init returned. */
  void *(*plugin_state)(llmrt_ctx_t *ctx);
  llmrt_plugin_rt_t *(*plugin_rt)(llmrt_ctx_t *ctx);
  /* The current request (api_key is always NULL here: plugins never see
   * keys). OWNERSHIP: the runtime's; valid until the next set_request or the
   * end of the call. */
  const llmrt_request_t *(*request)(llmrt_ctx_t *ctx);
  /* Replaces the request (deep copy; req may be freed on return; fields
   * beyond req->struct_size are taken as unset). In on_request or on_error
   * of this plugin, or while it is paused there. req->api_key NULL keeps
   * the call's key. */
  int (*set_request)(llmrt_ctx_t *ctx, const llmrt_request_t *req);
  /* Adds or replaces (value not NULL) or removes (value NULL) a request
   * header by name, case-insensitively, over the upstream's configured
   * headers and the request's own. Same states as set_request; reserved
   * names (Authorization, x-api-key, framing headers) are refused. */
  int (*set_header)(llmrt_ctx_t *ctx, const char *name, const char *value);
  /* The upstream this call goes to. OWNERSHIP: the runtime's, valid for the call. */
  const char *(*upstream)(llmrt_ctx_t *ctx);
  /* Provider, host and port of the call's upstream. */
  int (*upstream_info)(llmrt_ctx_t *ctx, llmrt_upstream_info_t *out);
  /* A non-secret identity of the key the call uses (the per-call key if the
   * request has one, else the upstream's): 16 hex digits of its SHA-256, ""
   * when there is none. For partitioning caches and limits. */
  const char *(*key_id)(llmrt_ctx_t *ctx);
  /* Attempt number, 1-based; 0 before the first attempt. */
  int (*attempt)(llmrt_ctx_t *ctx);
  /* The last attempt's error. OWNERSHIP: strings valid until the next
   * attempt or the end of the call. */
  int (*last_error)(llmrt_ctx_t *ctx, llmrt_error_info_t *out);
  /* Per-call attributes: name (copied; [a-z0-9_.]+, at most 63 bytes) set
   * to a string (copied) or a number; setting a name again replaces its
   * value. They reach later plugins (attr_get), the result (res->attrs) and
   * metrics. At most 32 per call (LLMRT_EBUSY past that). */
  int (*attr_set_str)(llmrt_ctx_t *ctx, const char *name, const char *value);
  int (*attr_set_num)(llmrt_ctx_t *ctx, const char *name, double value);
  /* 1 with *str set for a string, 2 with *num set for a number, 0 when not
   * set. OWNERSHIP: *str valid until the attribute is set again or the call
   * ends. str and num may be NULL. */
  int (*attr_get)(llmrt_ctx_t *ctx, const char *name, const char **str, double *num);

  /* ---- Answering and flow control ---- */
  /* Sends an event outward from this plugin (to outer plugins, then the
   * user). Allowed while this plugin answers (its on_request or on_error,
   * or while it is paused there) and inside its on_event or while it holds
   * the event flow paused (to insert events). ev is copied as needed; fields
   * beyond ev->struct_size are taken as unset. */
  int (*emit)(llmrt_ctx_t *ctx, const llmrt_event_t *ev);
  /* Completes the call from this plugin with res (copied; if res->text is set
   * and no text was emitted, it is emitted as one text event first). Allowed
   * in on_request / on_error before returning LLMRT_STOP, or while paused
   * there. LLMRT_EBUSY once upstream content passed this plugin outward (the
   * answer would follow part of another). */
  int (*respond)(llmrt_ctx_t *ctx, const llmrt_result_t *res);
  /* Ends this plugin's pause (of on_request, on_error or the event flow):
   * the chain goes on, on a later loop turn. Called inside the hook, it takes
   * effect only if that hook returns LLMRT_PAUSE. */
  int (*resume)(llmrt_ctx_t *ctx);
  /* Asks for another attempt after delay_ms, re-entering the chain below
   * this plugin. From on_error (then return LLMRT_STOP) or while paused in
   * it. Refused (LLMRT_EBUSY) once an event has passed this plugin outward
   * or it emitted events of its own, and LLMRT_ESHUTDOWN while the runtime
   * closes. */
  int (*retry)(llmrt_ctx_t *ctx, uint32_t delay_ms);
  /* Fails the call from this plugin, from any hook before on_complete, or
   * while paused, or from a timer while the call runs: err
   * (negative) goes through the on_error of the plugins outside this one,
   * then to the user. msg (copied, may be NULL) says why; the runtime
   * prefixes the plugin's name. Inside a hook, the hook's return value is
   * then ignored. */
  int (*fail)(llmrt_ctx_t *ctx, int err, const char *msg);

  /* ---- Waiting ---- */
  /* Instance timers: cb runs after timeout_ms, then every repeat_ms if not 0.
   * OWNERSHIP: the timer is the runtime's until timer_stop, which every timer
   * needs exactly once (also a one-shot that fired; also from inside cb);
   * after it the handle is invalid. Timers never stopped are stopped before
   * fini. */
  int (*timer_start)(llmrt_plugin_rt_t *prt, uint64_t timeout_ms, uint64_t repeat_ms,
                     void (*cb)(llmrt_timer_t *t, void *arg), void *arg, llmrt_timer_t **out);
  void (*timer_stop)(llmrt_timer_t *t);
  uint64_t (*now_ms)(llmrt_plugin_rt_t *prt); /* the loop's cached time */
  /* A timer bound to the call: like timer_start, but stopped by the runtime
   * when the call ends (after on_call_end), so the plugin need not (it may
   * still stop it earlier with timer_stop; after the call ends the handle is
   * invalid). Not in on_call_end or after. */
  int (*call_timer_start)(llmrt_ctx_t *ctx, uint64_t timeout_ms, uint64_t repeat_ms,
                          void (*cb)(llmrt_timer_t *t, void *arg), void *arg,
                          llmrt_timer_t **out);
  /* A wakeup from any thread: wake_new (loop thread) makes one; wake_send
   * (any thread, async-signal-unsafe) asks for cb(w, arg) to run once on the
   * loop thread soon (several sends before it runs give one run); wake_free
   * (loop thread) ends it, after which no cb runs. Wakes never freed are
   * freed before fini. OWNERSHIP: the runtime's until wake_free. */
  int (*wake_new)(llmrt_plugin_rt_t *prt, void (*cb)(llmrt_wake_t *w, void *arg), void *arg,
                  llmrt_wake_t **out);
  int (*wake_send)(llmrt_wake_t *w);
  void (*wake_free)(llmrt_wake_t *w);
  /* Watches a file descriptor the plugin owns (a Redis client's socket):
   * cb(w, events, status, arg) runs on the loop thread when fd becomes
   * readable and/or writable (LLMRT_WATCH_*), status < 0 on a poll error.
   * watch_set changes the events (0 pauses the watch); watch_stop ends it
   * (also from inside cb) and never closes fd. Watches never stopped are
   * stopped before fini. OWNERSHIP: the runtime's until watch_stop. */
  int (*watch_start)(llmrt_plugin_rt_t *prt, int fd, int events,
                     void (*cb)(llmrt_watch_t *w, int events, int status, void *arg), void *arg,
                     llmrt_watch_t **out);
  int (*watch_set)(llmrt_watch_t *w, int events);
  void (*watch_stop)(llmrt_watch_t *w);

  /* ---- Log and metrics ---- */
  /* msg is copied; the runtime prefixes the plugin's name. Never log keys.
   * level is one of LLMRT_LOG_*. */
  void (*log)(llmrt_plugin_rt_t *prt, int level, const char *msg);
  /* Registers (or finds) a metric by name ("llmrt_cache_hits_total"); a
   * counter's name gets "_total" if it lacks it; histograms get the
   * OpenTelemetry GenAI duration bounds, or the token bounds for a name
   * with "token" not ending in "_seconds" (metric_new sets units and bounds).
   * OWNERSHIP: the runtime's, valid until fini. */
  int (*metric)(llmrt_plugin_rt_t *prt, int kind, const char *name, const char *help,
                llmrt_metric_t **out);
  /* labels: NULL or Prometheus label pairs without braces, e.g.
   * "gen_ai_request_model=\"gpt-4o\"" (copied). Names [A-Za-z_][A-Za-z0-9_]*.
   * In values, write a backslash as two backslashes, a double quote as
   * backslash-quote and a newline as backslash-n (model names come from
   * users); values must be UTF-8. A malformed set, a label named twice, or
   * "le" on a histogram, is dropped (llmrt_metrics_dropped_total); a value
   * past the metric's cap on distinct values is recorded as "other".
   * Updates of an existing series take no lock and allocate nothing. */
  void (*metric_add)(llmrt_metric_t *m, const char *labels, double v);
  void (*metric_set)(llmrt_metric_t *m, const char *labels, double v);
  void (*metric_observe)(llmrt_metric_t *m, const char *labels, double v);

  /* ---- Memory ---- */
  /* The runtime's allocator (llmrt_set_allocator), so allocation-failure
   * tests reach plugin memory too. Any thread. */
  void *(*malloc)(size_t n);
  void *(*calloc)(size_t count, size_t n);
  void *(*realloc)(void *p, size_t n);
  void (*free)(void *p);

  /* ---- Added after ABI 2.0: check struct_size before use ---- */
  /* Registers (or finds: same name, kind, unit and bounds) a metric with
   * options: units, bucket bounds, a cardinality cap. OWNERSHIP: the
   * runtime's, valid until fini; opts copied. LLMRT_EINVAL for a bad name
   * or bounds, or a metric of that name registered differently. */
  int (*metric_new)(llmrt_plugin_rt_t *prt, const llmrt_metric_opts_t *opts,
                    llmrt_metric_t **out);
  /* Adds to a histogram observations the plugin bucketed itself (for
   * example per stream chunk, before the labels were known): counts[i]
   * observations fell in bucket i (the metric's bounds, then +Inf:
   * n_counts = n_bounds + 1), their values summing to sum. Mismatched
   * n_counts is dropped. */
  void (*metric_merge)(llmrt_metric_t *m, const char *labels, const uint64_t *counts,
                       size_t n_counts, double sum);
  /* The call's own measurements so far (llmrt_call_metrics_t, final from
   * on_complete on). */
  int (*call_metrics)(llmrt_ctx_t *ctx, llmrt_call_metrics_t *out);
  /* ---- Tokens (added in ABI 2; check struct_size) ---- */
  /* The tokens of text[0..len) as model counts them (llmrt/tokens.h):
   * exactly for the models of OpenAI's o200k_base and cl100k_base families,
   * else estimated. model may also be an encoding name ("o200k_base",
   * "cl100k_base", "estimate"), so a plugin with its own model table can
   * choose. *exact (may be NULL) is set to 1 for an exact count. Returns the
   * count or a negative error (LLMRT_ENOMEM, LLMRT_EINVAL). Each plugin
   * instance has its own tokenizers, made on first use (the first of an
   * encoding in the process compiles its pattern, a few milliseconds: call
   * this once from init to have that happen at configuration time). */
  int64_t (*count_tokens)(llmrt_plugin_rt_t *prt, const char *model, const char *text, size_t len,
                          int *exact);
  /* The input tokens of a whole request as the provider counts them: the
   * messages with their per-message framing, the reply's priming, and the
   * tool definitions in extra_json (llmrt_tokens_count_request), with
   * req->model's tokenizer, or encoding's when encoding is not NULL. */
  int64_t (*count_request_tokens)(llmrt_plugin_rt_t *prt, const llmrt_request_t *req,
                                  const char *encoding, int *exact);
  /* Describes the configured upstream `name` of this instance's
   * configuration (in init: the configuration being applied). 0, or
   * LLMRT_ENOUPSTREAM when there is none of that name. out->struct_size as
   * for upstream_info. OWNERSHIP: the strings stay valid until fini. */
  int (*upstream_lookup)(llmrt_plugin_rt_t *prt, const char *name, llmrt_upstream_info_t *out);
  /* In init only: lets requests name `name` in llmrt_request_t.upstream
   * although no upstream has that name (a group of upstreams, for route).
   * The plugin must resolve it with set_request to a configured upstream
   * before the attempt, else the attempt fails with LLMRT_ENOUPSTREAM.
   * LLMRT_EINVAL for a name that is a configured upstream or claimed by
   * another plugin of the configuration. name is copied. */
  int (*upstream_alias)(llmrt_plugin_rt_t *prt, const char *name);
  /* ---- Added after ABI 2.0 (check struct_size) ---- */
  /* Adds us microseconds to the call's timings.queued_us: time the call
   * waited in this plugin (a rate limit's queue) before going on. From any
   * hook or timer of the call before on_complete. */
  int (*add_queued_us)(llmrt_ctx_t *ctx, uint64_t us);

  void *reserved[16];
};

/* The one symbol a loadable plugin exports. */
typedef const llmrt_plugin_t *(*llmrt_plugin_entry_fn)(const llmrt_host_t *host);

#if defined(__GNUC__)
#define LLMRT_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define LLMRT_PLUGIN_EXPORT
#endif

#ifdef __cplusplus
}
#endif
#endif
