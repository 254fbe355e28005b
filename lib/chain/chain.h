/* Internal chain layer: configuration, upstreams, plugin instances, the call
 * state machine and the host function table. */
#ifndef LLMRT_CHAIN_H
#define LLMRT_CHAIN_H

#include "../core/core.h"
#include "../llm/llm.h"
#include "llmrt/plugin.h"

/* ---- Upstreams ---- */
typedef struct {
  char *name;
  char *base_url; /* without a trailing '/' */
  const llmrt__provider_t *provider;
  char *api_key;    /* SECRET: never logged, never in messages or metrics */
  char key_id[17];  /* first 16 hex digits of SHA-256(api_key); "" without a key */
  char *key_env;    /* the environment variable the key came from (for messages) */
  llmrt_header_t *headers; /* extra headers from the config, owned */
  size_t n_headers;
  uint32_t max_connections; /* from the config; 0: the runtime's pool_max_per_origin */
} llmrt__upstream_t;

/* ---- Plugin instances ---- */
typedef struct llmrt__timer_list_s llmrt__timer_list_t;

struct llmrt_plugin_rt_s {
  llmrt_t *rt;
  const llmrt_plugin_t *desc;
  void *state;        /* from init */
  char *label;        /* the configured name ("cache", "./x.so"), for messages */
  unsigned index;     /* position in the chain: 0 is outermost */
  size_t state_off;   /* offset of this plugin's call state in a call's block */
  uv_lib_t lib;
  int has_lib;
  int inited;
  struct llmrt_timer_s *timers; /* running timers, stopped before fini */
};

/* Loads a plugin by built-in name, by path (contains '/' or ends in ".so"),
 * or by name in LLMRT_PLUGIN_PATH then the install's plugin directory; checks
 * the ABI, runs init with config_json. On failure writes "plugin NAME: ..."
 * to err. */
int llmrt__plugin_load(llmrt_t *rt, const char *name, const char *config_json, size_t config_len,
                       llmrt_plugin_rt_t **out, char *err, size_t errlen);
/* Stops the instance's timers, runs fini, unloads the library, frees. */
void llmrt__plugin_unload(llmrt_plugin_rt_t *p);

/* Timers, log and metrics behind the host table (plugin.c, metrics.c). */
int llmrt__timer_start(llmrt_plugin_rt_t *prt, uint64_t timeout_ms, uint64_t repeat_ms,
                       void (*cb)(llmrt_timer_t *t, void *arg), void *arg, llmrt_timer_t **out);
void llmrt__timer_stop(llmrt_timer_t *t);
uint64_t llmrt__plugin_now_ms(llmrt_plugin_rt_t *prt);
void llmrt__plugin_log(llmrt_plugin_rt_t *prt, int level, const char *msg);
int llmrt__metric_get(llmrt_t *rt, int kind, const char *name, const char *help,
                      llmrt_metric_t **out);
int llmrt__plugin_metric(llmrt_plugin_rt_t *prt, int kind, const char *name, const char *help,
                         llmrt_metric_t **out);
void llmrt__metric_add(llmrt_metric_t *m, const char *labels, double v);
void llmrt__metric_set(llmrt_metric_t *m, const char *labels, double v);
void llmrt__metric_observe(llmrt_metric_t *m, const char *labels, double v);
void llmrt__metrics_free(llmrt_t *rt);

extern const llmrt_host_t llmrt__host;

/* ---- Per-runtime chain state ---- */
typedef struct llmrt__defer_s {
  struct llmrt__defer_s *next;
  void (*fn)(void *arg);
  void *arg;
} llmrt__defer_t;

typedef struct {
  llmrt_t *rt;
  int configured;
  llmrt__upstream_t *upstreams;
  size_t n_upstreams;
  size_t default_upstream;
  llmrt_plugin_rt_t **plugins;
  size_t n_plugins;
  size_t states_size; /* sum of the plugins' aligned call_state_size */

  struct llmrt_call_s *calls; /* in flight, doubly linked */
  unsigned n_calls;
  struct llmrt_call_s *free_calls; /* finished call blocks kept for reuse (call.c) */
  unsigned n_free_calls;

  /* Deferred work, run on the next loop turn (uv_idle, active only when the
   * queue is not empty). Entries live inside their owners (no allocation). */
  uv_idle_t idle;
  llmrt__defer_t *defer_head, *defer_tail;
  int idle_open;
  llmrt__defer_t shutdown_defer;

  void *metrics; /* metrics.c registry */
  struct {
    char *name;
    llmrt_plugin_entry_fn entry;
  } registered[32]; /* llmrt_add_plugin */
  size_t n_registered;
  int closing;
} llmrt__chain_t;

/* The runtime's chain state, created on first use. NULL on ENOMEM. */
llmrt__chain_t *llmrt__chain_get(llmrt_t *rt);

/* Frees the call blocks kept for reuse (call.c). */
void llmrt__call_cache_free(llmrt__chain_t *ch);

/* Frees the chain once llmrt_close started and the last call is gone. */
void llmrt__chain_maybe_shutdown(llmrt__chain_t *ch);

/* Queues d (not already queued) to run fn(arg) on the next loop turn. */
void llmrt__defer(llmrt__chain_t *ch, llmrt__defer_t *d, void (*fn)(void *), void *arg);

const llmrt__upstream_t *llmrt__upstream_find(llmrt__chain_t *ch, const char *name);

/* The entry point registered under name with llmrt_add_plugin, or NULL. */
llmrt_plugin_entry_fn llmrt__plugin_registered(llmrt_t *rt, const char *name);
void llmrt__registry_free(llmrt__chain_t *ch);

/* Frees upstreams and plugin instances (config.c). */
void llmrt__config_free(llmrt__chain_t *ch);

#endif
