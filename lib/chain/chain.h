/* Internal chain layer: configuration, upstreams, plugin instances, the call
 * state machine and the host function table. */
#ifndef LLMRT_CHAIN_H
#define LLMRT_CHAIN_H

#include "../core/core.h"
#include "../core/list.h"
#include "../llm/llm.h"
#include "llmrt/plugin.h"

/* ---- Upstreams ---- */
typedef struct llmrt__upstream_s {
  char *name;
  char *base_url; /* without a trailing '/' */
  const llmrt__provider_t *provider;
  char *api_key;    /* SECRET: never logged, never in messages or metrics */
  char key_id[17];  /* first 16 hex digits of SHA-256(api_key); "" without a key */
  char *key_env;    /* the environment variable the key came from (for messages) */
  llmrt_header_t *headers; /* extra headers from the config, owned */
  size_t n_headers;
  uint32_t max_connections; /* from the config; 0: the runtime's pool_max_per_origin */
  char *host;               /* of base_url, for plugins */
  uint16_t port;
  int tls;
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
  llmrt__link_t timers;  /* running timers, stopped before fini */
  llmrt__link_t wakes;   /* wake.c: this instance's wakes */
  llmrt__link_t watches; /* wake.c: this instance's fd watches */
  struct llmrt_tokenizer_s *tokenizers[3]; /* tokens_host.c: made on first use */
  const struct llmrt__token_rules_s *token_rules; /* its configuration's, or NULL */
  /* The upstreams of the configuration this instance belongs to (owned by
   * that configuration, which outlives the instance), for upstream_lookup. */
  const struct llmrt__upstream_s *ups;
  size_t n_ups;
  /* Names requests may use as upstream that this instance resolves
   * (host->upstream_alias, in init only). Owned. */
  char **aliases;
  size_t n_aliases;
  int in_init;
};

/* The configuration's "token_encodings" (tokens_host.c): model patterns to
 * encodings, checked before the built-in table by the host's counters. */
typedef struct llmrt__token_rules_s llmrt__token_rules_t;
struct cJSON;
/* Parses v (NULL: none, *out NULL) or writes "$.token_encodings...: why"
 * into err and returns LLMRT_ECONFIG (or LLMRT_ENOMEM). */
int llmrt__token_rules_parse(const struct cJSON *v, llmrt__token_rules_t **out, char *err,
                             size_t errlen);
void llmrt__token_rules_free(llmrt__token_rules_t *r);

/* Frees the instance's tokenizers (tokens_host.c). */
void llmrt__plugin_tokens_free(llmrt_plugin_rt_t *p);
int64_t llmrt__host_count_tokens(llmrt_plugin_rt_t *prt, const char *model, const char *text,
                                 size_t len, int *exact);
int64_t llmrt__host_count_request_tokens(llmrt_plugin_rt_t *prt, const llmrt_request_t *req,
                                         const char *encoding, int *exact);

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
/* A timer on the list *owner (an instance's, or a call's) instead. */
int llmrt__timer_start_on(llmrt_t *rt, llmrt__link_t *owner, uint64_t timeout_ms,
                          uint64_t repeat_ms, void (*cb)(llmrt_timer_t *t, void *arg), void *arg,
                          llmrt_timer_t **out);
/* Stops every timer of a list. */
void llmrt__timers_stop_all(llmrt__link_t *owner);
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

/* One applied configuration: upstreams and plugin instances. llmrt_configure
 * makes a new one and makes it current; each call holds a reference to the
 * one it started with, so a reconfigure never changes a call in flight. The
 * last reference frees it (plugins' fini on a later loop turn). */
typedef struct llmrt__conf_s {
  struct llmrt__chain_s *ch;
  unsigned refs; /* the chain's (while current) + one per call */
  llmrt__upstream_t *upstreams;
  size_t n_upstreams;
  size_t default_upstream;
  llmrt_plugin_rt_t **plugins;
  size_t n_plugins;
  size_t states_size; /* sum of the plugins' aligned call_state_size */
  llmrt__token_rules_t *token_rules; /* "token_encodings", or NULL */
  struct llmrt_call_s *free_calls; /* finished call blocks kept for reuse (call.c) */
  unsigned n_free_calls;
  llmrt__defer_t free_defer;
} llmrt__conf_t;

typedef struct llmrt__chain_s {
  llmrt_t *rt;
  llmrt__conf_t *conf; /* current configuration, NULL until configured */

  llmrt__link_t calls; /* in flight */
  unsigned n_calls;
  unsigned n_confs; /* configurations not yet freed */
  /* Call ids: slot table (index in the low 24 bits of an id). */
  struct llmrt_call_s **slots;
  uint32_t n_slots, free_slot; /* free_slot: head of the free list, UINT32_MAX: none */
  uint64_t seq;

  /* Deferred work, run on the next loop turn (uv_idle, active only when the
   * queue is not empty). Entries live inside their owners (no allocation). */
  uv_idle_t idle;
  llmrt__defer_t *defer_head, *defer_tail;
  int idle_open;
  llmrt__defer_t shutdown_defer;

  /* Wakeups from other threads (wake.c): one uv_async_t for all. */
  uv_async_t async;
  int async_open;
  uv_mutex_t wake_lock;
  llmrt__link_t wakes;

  void *metrics; /* metrics.c registry */
  struct {
    char *name;
    llmrt_plugin_entry_fn entry;
  } registered[32]; /* llmrt_add_plugin */
  size_t n_registered;
  int closing; /* 1: calls ending; 2: shut down queued */
  int open_handles; /* while shutting down: idle and async not yet closed */
  char errmsg[256]; /* llmrt_errmsg */
  /* While llmrt_configure loads plugins: the upstreams being applied. */
  const struct llmrt__upstream_s *cfg_ups;
  size_t cfg_n_ups;
} llmrt__chain_t;

/* The runtime's chain state, created on first use. NULL on ENOMEM. */
llmrt__chain_t *llmrt__chain_get(llmrt_t *rt);

/* Frees the chain once llmrt_close started and the last call is gone. */
void llmrt__chain_maybe_shutdown(llmrt__chain_t *ch);

/* Queues d (not already queued) to run fn(arg) on the next loop turn. */
void llmrt__defer(llmrt__chain_t *ch, llmrt__defer_t *d, void (*fn)(void *), void *arg);

/* llmrt_errmsg's text. */
void llmrt__chain_errmsg(llmrt__chain_t *ch, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const llmrt__upstream_t *llmrt__upstream_find(const llmrt__conf_t *cf, const char *name);

/* The entry point registered under name with llmrt_add_plugin, or NULL. */
llmrt_plugin_entry_fn llmrt__plugin_registered(llmrt_t *rt, const char *name);
void llmrt__registry_free(llmrt__chain_t *ch);

/* References on a configuration (config.c). The last unref frees it on a
 * later loop turn: plugins' fini never runs inside one of their hooks. */
void llmrt__conf_ref(llmrt__conf_t *cf);
void llmrt__conf_unref(llmrt__conf_t *cf);

/* Frees the call blocks a configuration kept for reuse (call.c). */
void llmrt__call_cache_free(llmrt__conf_t *cf);

/* The key id of a key (16 hex digits of its SHA-256). */
void llmrt__key_id(const char *key, char out[17]);
/* A header name llmrt sets itself (credentials, framing). */
int llmrt__header_reserved(const char *name);
/* An HTTP token; a value without CR, LF or other control characters. */
int llmrt__header_name_ok(const char *s);
int llmrt__header_value_ok(const char *s);
/* Wipes and frees a secret string. */
void llmrt__secret_free(char *s);

/* A plugin instance's watches are stopped before its fini (fini may close
 * the fds), its wakes freed after (fini joins the threads that send). */
void llmrt__plugin_watches_stop(llmrt_plugin_rt_t *p);
void llmrt__plugin_wakes_free(llmrt_plugin_rt_t *p);
int llmrt__wake_new(llmrt_plugin_rt_t *prt, void (*cb)(llmrt_wake_t *w, void *arg), void *arg,
                    llmrt_wake_t **out);
int llmrt__wake_send(llmrt_wake_t *w);
void llmrt__wake_free(llmrt_wake_t *w);
int llmrt__watch_start(llmrt_plugin_rt_t *prt, int fd, int events,
                       void (*cb)(llmrt_watch_t *w, int events, int status, void *arg), void *arg,
                       llmrt_watch_t **out);
int llmrt__watch_set(llmrt_watch_t *w, int events);
void llmrt__watch_stop(llmrt_watch_t *w);
/* A handle of the chain closed; the last frees it (chain.c). */
void llmrt__chain_handle_closed(llmrt__chain_t *ch);
/* Closes the async handle (chain shutdown). */
void llmrt__wake_close(llmrt__chain_t *ch);
int llmrt__wake_init(llmrt__chain_t *ch);

#endif
