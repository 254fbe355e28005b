/* llmrt plugin ABI.
 *
 * A plugin is a shared object exporting one symbol:
 *
 *     const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *host);
 *
 * It returns a static descriptor; `host` is the table of functions the plugin
 * may call (keep the pointer: it stays valid while the plugin is loaded), so
 * a plugin needs no symbols from the host binary. This header needs only
 * <stddef.h>, <stdint.h> and llmrt's own type headers: no libuv.
 *
 * The chain is an onion in configuration order: the first plugin is the
 * outermost. The request phase runs outer to inner; the response head,
 * events, errors and completion run inner to outer. See docs/plugins.md.
 *
 * Threading: every hook and host function runs on the runtime's loop thread.
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
#define LLMRT_PLUGIN_ABI_VERSION 1

/* Hook return values (negative values are errors that fail the call). */
enum {
  LLMRT_CONTINUE = 0, /* go on to the next plugin */
  LLMRT_STOP = 1,     /* on_request: answered here (emit + respond were called);
                         on_event: drop this event;
                         on_error: handled here (retry or respond was called) */
  LLMRT_PAUSE = 2     /* on_request / on_error: async work; the plugin later calls
                         exactly one of resume, respond, retry or fail */
};

enum { LLMRT_METRIC_COUNTER = 1, LLMRT_METRIC_GAUGE = 2, LLMRT_METRIC_HISTOGRAM = 3 };

typedef struct llmrt_ctx_s llmrt_ctx_t;             /* one plugin's view of one call */
typedef struct llmrt_plugin_rt_s llmrt_plugin_rt_t; /* one plugin instance on one runtime */
typedef struct llmrt_timer_s llmrt_timer_t;
typedef struct llmrt_metric_s llmrt_metric_t;
typedef struct llmrt_host_s llmrt_host_t;
typedef struct llmrt_plugin_s llmrt_plugin_t;

struct llmrt_plugin_s {
  uint32_t abi_version; /* LLMRT_PLUGIN_ABI_VERSION */
  uint32_t struct_size; /* sizeof(llmrt_plugin_t) */
  const char *name;     /* OWNERSHIP: static string of the plugin */
  const char *version;  /* OWNERSHIP: static string of the plugin; may be NULL */

  /* Creates one instance (one per entry in the configuration, per runtime).
   * OWNERSHIP: config_json (the plugin's own JSON object, NUL-terminated) is
   * valid only during the call. *state is the plugin's, freed in fini.
   * Return 0, or a negative error after writing a message (what is wrong,
   * e.g. "max_bytes must be a positive integer") into errbuf. May be NULL. */
  int (*init)(llmrt_plugin_rt_t *prt, const char *config_json, size_t config_len, void **state,
              char *errbuf, size_t errlen);
  /* Frees an instance, after every call ended and every timer was stopped.
   * May be NULL. */
  void (*fini)(void *state);

  /* Bytes of per-call state the runtime allocates, zeroes and frees for this
   * plugin (host->call_state). 0 for none. */
  size_t call_state_size;

  /* Request phase, outer to inner. May change the request (host->set_request),
   * answer it (host->emit events, host->respond, return LLMRT_STOP: inner
   * plugins and the upstream are skipped), pause (LLMRT_PAUSE), or fail
   * (negative). Runs again for each new attempt that re-enters below an outer
   * plugin's retry. */
  int (*on_request)(llmrt_ctx_t *ctx);

  /* Response head of an upstream attempt, inner to outer, for every status
   * (an error status then goes on to on_error once its body arrived, so a
   * plugin can read Retry-After or rate-limit headers here first).
   * OWNERSHIP: headers valid only during the call. Negative fails the attempt. */
  int (*on_response)(llmrt_ctx_t *ctx, int http_status, const llmrt_header_t *headers,
                     size_t n_headers);

  /* Each stream event, inner to outer. The plugin may change *ev (strings it
   * points to must stay valid until its next hook call, e.g. in call state),
   * drop it (LLMRT_STOP), or fail the call (negative).
   * OWNERSHIP: ev and its strings are valid only during the call. */
  int (*on_event)(llmrt_ctx_t *ctx, llmrt_event_t *ev);

  /* An attempt failed with err, inner to outer. Return LLMRT_CONTINUE to pass
   * the error on; call host->retry (optionally after host->set_request) or
   * host->respond and return LLMRT_STOP to handle it; or LLMRT_PAUSE. */
  int (*on_error)(llmrt_ctx_t *ctx, int err);

  /* The call completed, inner to outer, just before the user's on_done.
   * status is 0 or the error. OWNERSHIP: res valid only during the call. */
  void (*on_complete)(llmrt_ctx_t *ctx, int status, const llmrt_result_t *res);

  /* Always runs once per call for every plugin of the chain, after on_done,
   * whatever happened (also on cancel and runtime close): stop the call's
   * timers and abandon its async work here. After it, ctx is gone. */
  void (*on_call_end)(llmrt_ctx_t *ctx);

  void *reserved[8]; /* must be NULL */
};

/* Functions a plugin may call. All take the ctx or prt handed to the plugin.
 * Unless stated, they return 0 or a negative error (LLMRT_EINVAL when called
 * in a state where they make no sense, e.g. resume without a pause). */
struct llmrt_host_s {
  uint32_t abi_version; /* LLMRT_PLUGIN_ABI_VERSION */
  uint32_t struct_size; /* sizeof(llmrt_host_t) */

  /* ---- The call ---- */
  /* This plugin's zeroed per-call state (call_state_size bytes) or NULL.
   * OWNERSHIP: the runtime's, valid until on_call_end returns. */
  void *(*call_state)(llmrt_ctx_t *ctx);
  /* The state init returned. */
  void *(*plugin_state)(llmrt_ctx_t *ctx);
  llmrt_plugin_rt_t *(*plugin_rt)(llmrt_ctx_t *ctx);
  /* The current request. OWNERSHIP: the runtime's; valid until the next
   * set_request or the end of the call. */
  const llmrt_request_t *(*request)(llmrt_ctx_t *ctx);
  /* Replaces the request (deep copy; req may be freed on return). In
   * on_request, or in on_error before retry. */
  int (*set_request)(llmrt_ctx_t *ctx, const llmrt_request_t *req);
  /* The upstream this call goes to. OWNERSHIP: the runtime's, valid for the call. */
  const char *(*upstream)(llmrt_ctx_t *ctx);
  /* A non-secret identity of the call's API key (hex digest; "" when none),
   * for partitioning caches and limits. Never the key itself. */
  const char *(*key_id)(llmrt_ctx_t *ctx);
  /* Attempt number, 1-based. */
  int (*attempt)(llmrt_ctx_t *ctx);

  /* ---- Answering and flow control ---- */
  /* Sends an event outward from this plugin (to outer plugins, then the
   * user). Allowed while answering (on_request before LLMRT_STOP, or while
   * paused) and inside on_event (to insert events). ev is copied as needed. */
  int (*emit)(llmrt_ctx_t *ctx, const llmrt_event_t *ev);
  /* Completes the call from this plugin with res (copied; if res->text is set
   * and no text was emitted, it is emitted as one text event first). Allowed
   * in on_request / on_error before returning LLMRT_STOP, or while paused.
   * LLMRT_EBUSY once upstream content passed this plugin outward (the answer
   * would follow part of another); LLMRT_ECANCELED after a cancel. */
  int (*respond)(llmrt_ctx_t *ctx, const llmrt_result_t *res);
  /* Ends a pause: the chain goes on, on the next loop turn. Called inside a
   * hook, it takes effect only if that hook returns LLMRT_PAUSE. */
  int (*resume)(llmrt_ctx_t *ctx);
  /* Asks for another attempt after delay_ms, re-entering the chain below
   * this plugin. From on_error (then return LLMRT_STOP) or while paused in
   * it. Refused (LLMRT_EBUSY) once an event has passed this plugin outward,
   * and LLMRT_ESHUTDOWN while the runtime closes. */
  int (*retry)(llmrt_ctx_t *ctx, uint32_t delay_ms);
  /* Fails the call from this plugin while paused. msg (copied, may be NULL)
   * says why; the runtime prefixes the plugin's name. */
  int (*fail)(llmrt_ctx_t *ctx, int err, const char *msg);

  /* ---- Timers on the runtime's loop ---- */
  /* cb runs after timeout_ms, then every repeat_ms if not 0. OWNERSHIP: the
   * timer is the runtime's until timer_stop, which every timer needs exactly
   * once (also a one-shot that fired; also from inside cb); after it the
   * handle is invalid. Timers never stopped are stopped before fini. */
  int (*timer_start)(llmrt_plugin_rt_t *prt, uint64_t timeout_ms, uint64_t repeat_ms,
                     void (*cb)(llmrt_timer_t *t, void *arg), void *arg, llmrt_timer_t **out);
  void (*timer_stop)(llmrt_timer_t *t);
  uint64_t (*now_ms)(llmrt_plugin_rt_t *prt); /* the loop's cached time */

  /* ---- Log and metrics ---- */
  /* msg is copied; the runtime prefixes the plugin's name. Never log keys. */
  void (*log)(llmrt_plugin_rt_t *prt, int level, const char *msg);
  /* Registers (or finds) a metric by name ("llmrt_cache_hits_total").
   * OWNERSHIP: the runtime's, valid until fini. */
  int (*metric)(llmrt_plugin_rt_t *prt, int kind, const char *name, const char *help,
                llmrt_metric_t **out);
  /* labels: NULL or Prometheus label pairs without braces, e.g.
   * "gen_ai_request_model=\"gpt-4o\"" (copied). Names [A-Za-z_][A-Za-z0-9_]*.
   * In values, write a backslash as two backslashes, a double quote as
   * backslash-quote and a newline as backslash-n (model names come from
   * users). A malformed set, or "le" on a histogram, is dropped. */
  void (*metric_add)(llmrt_metric_t *m, const char *labels, double v);
  void (*metric_set)(llmrt_metric_t *m, const char *labels, double v);
  void (*metric_observe)(llmrt_metric_t *m, const char *labels, double v);

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
