/* Private to tools/gateway: the configuration, the gateway and one client
 * exchange, shared by its files:
 *   gw_config.c  the JSON configuration: listen, routes, keys, limits
 *   gw_auth.c    gateway keys: hashing, constant-time lookup, tenants
 *   gw_server.c  the server: endpoints, reload, shutdown, stats, metrics
 *   gw_intake.c  a client's body decoded into an llmrt_request_t
 *   gw_call.c    one exchange: the call, streaming, backpressure, cancel
 *   gw_write.c   responses, stream events and errors in each protocol */
#ifndef LLMRT_GW_INTERNAL_H
#define LLMRT_GW_INTERNAL_H

#include <cJSON.h>

#include "llmrt.h"
#include "http/server.h"
#include "gateway.h"

enum { GW_OPENAI = 0, GW_ANTHROPIC = 1 };

typedef struct {
  char *name;        /* what clients ask for */
  char *upstream;    /* the runtime's upstream */
  char *model;       /* the model sent upstream */
  int api;           /* GW_OPENAI / GW_ANTHROPIC: the upstream's protocol */
  const char *route; /* the route's own name (an alias's route), for keys */
} gw_route_t;

typedef struct {
  unsigned char hash[32]; /* SHA-256 of the key: keys are not kept in clear */
  char *tenant;
  char **routes; /* route names this key may use; n_routes 0: all */
  size_t n_routes;
} gw_key_t;

typedef struct {
  char *name;
  int api;
} gw_upstream_t;

typedef struct gw_conf_s {
  int refs;
  char host[64];
  uint16_t port;
  char *tls_cert, *tls_key;
  gw_upstream_t *ups;
  size_t n_ups;
  gw_route_t *routes; /* names and aliases, each its own entry */
  size_t n_routes;
  char *default_upstream; /* models without a route go there unchanged; NULL: 404 */
  int open;               /* no keys needed (explicit) */
  gw_key_t *keys;
  size_t n_keys;
  char *runtime_json; /* upstreams, default_upstream, plugins: for llmrt_configure */
  /* Limits (0 takes the server's defaults). */
  size_t max_body_bytes, max_header_bytes;
  uint32_t max_headers, max_connections, max_requests_per_connection, idle_timeout_ms;
  uint32_t stream_buffer_bytes; /* client output queued before the call pauses */
  uint32_t shutdown_grace_ms;
  int access_log; /* 0 off, 1 stderr, 2 file */
  char *access_log_path;
  int log_prompts; /* the access log may carry the last user message */
} gw_conf_t;

/* gw_config.c */
int llmrt__gw_conf_parse(const char *json, gw_conf_t **out, char *err, size_t errlen);
void llmrt__gw_conf_unref(gw_conf_t *cf);
/* The route for a client's model name: exact route, else the default
 * upstream with the model unchanged (*dflt_out set), else NULL. */
const gw_route_t *llmrt__gw_route(const gw_conf_t *cf, const char *model, gw_route_t *dflt_out);
int llmrt__gw_upstream_api(const gw_conf_t *cf, const char *upstream);

/* gw_auth.c */
void llmrt__gw_hash(const char *key, size_t len, unsigned char out[32]);
/* The key entry that matches the presented key, compared in constant time
 * against every key; NULL if none. */
const gw_key_t *llmrt__gw_key_find(const gw_conf_t *cf, const char *key, size_t len);
int llmrt__gw_key_allows(const gw_key_t *k, const char *route);
/* Reads the key from Authorization: Bearer or x-api-key; NULL if none. */
const char *llmrt__gw_presented_key(llmrt__sreq_t *r, size_t *len);
/* Adds the keys of a keys file (a JSON array like "auth.keys"). */
int llmrt__gw_keys_add(gw_conf_t *cf, const cJSON *arr, const char *path, char *err, size_t errlen);

struct llmrt_gw_s {
  uv_loop_t *loop;
  llmrt_t *rt;
  llmrt__server_t *srv;
  gw_conf_t *cf;
  llmrt_gw_stats_t st;
  int shutting_down, rt_closed, srv_closed;
  uv_timer_t grace;
  int grace_open;
  uint64_t grace_deadline; /* loop ms */
  int cancelled_all, quiet_ticks;
  void (*done)(llmrt_gw_t *, void *);
  void *done_user;
  struct gw_ex_s *exchanges; /* calls in flight (a list, for shutdown) */
  int log_fd;                /* the access log file's descriptor, or -1 */
  uint32_t log_pending;      /* lines handed to the threadpool, not yet written */
  int old_log_fds[4];        /* replaced by a reload, closed once no line is pending */
  int n_old_log_fds;
  uint64_t log_dropped; /* lines dropped (too many pending, no memory) */
  uint64_t seq;         /* request ids */
};

/* Tool call being assembled for a whole (non-streamed) answer. */
#define GW_MAX_TOOLS 32
typedef struct {
  char *id, *name;
  llmrt__buf_t args;
} gw_tool_t;

typedef struct gw_ex_s {
  llmrt_gw_t *gw;
  gw_conf_t *cf; /* the configuration the exchange started on (a reference) */
  struct gw_ex_s *prev, *next;
  llmrt__sreq_t *r; /* NULL once the client is gone or the answer sent */
  int proto;        /* the client's protocol */
  int up_api;       /* the route's upstream protocol */
  uint64_t call_id;
  int call_live;
  int stream, include_usage;
  int committed; /* the response head is sent */
  int paused;    /* the call is paused for a slow client */
  int finished_ok;
  char *client_model; /* echoed to the client */
  char *route_name, *tenant;
  const char *route_own; /* the route route_name is an alias of (or itself) */
  char id[40];
  /* Stream state for the Anthropic writer: the open content block. */
  int block_open, block_type, block_index, next_block;
  int tool_block_of[GW_MAX_TOOLS]; /* Anthropic block index per tool call index (+1) */
  /* OpenAI writer: role sent. */
  int role_sent;
  gw_tool_t tools[GW_MAX_TOOLS];
  unsigned n_tools;
  int64_t in_tokens, out_tokens, cached_tokens;
  char finish[32];
  llmrt__buf_t out;
  /* Timing (llmrt__now_us). */
  uint64_t t_start, t_call, t_done, upstream_us;
  int status; /* HTTP status sent */
  uint64_t bytes_out;
  char *prompt_excerpt; /* for the access log when log_prompts */
  /* What the request decoded into (intake): owned strings and arrays. */
  cJSON *doc;
  llmrt_request_t req;
  llmrt_message_t *msgs;
  char **strs; /* strings to free */
  size_t n_strs, cap_strs;
  llmrt_header_t hdrs[4];
} gw_ex_t;

/* gw_intake.c: decodes body (proto) into ex->req. 0, or an HTTP status
 * (400, 404, 413, ...) with the message in err. */
int llmrt__gw_intake(gw_ex_t *ex, const char *body, size_t len, char *err, size_t errlen);
void llmrt__gw_intake_free(gw_ex_t *ex);
/* Header controls (Cache-Control, x-llmrt-tenant-tag, priority, deadline). */
int llmrt__gw_header_controls(gw_ex_t *ex, char *err, size_t errlen);

/* gw_call.c */
void llmrt__gw_handle_llm(llmrt_gw_t *gw, llmrt__sreq_t *r, int proto);
void llmrt__gw_cancel_all(llmrt_gw_t *gw);

/* gw_log.c: writes one access log line to fd without blocking the loop. */
void llmrt__gw_log_line(llmrt_gw_t *gw, int fd, const char *line, size_t len);

/* gw_write.c */
/* An error body in the protocol's format. */
int llmrt__gw_error_body(llmrt__buf_t *b, int proto, int status, const char *type, const char *msg);
/* Answers r with an error in the protocol's format (and Server-Timing). */
int llmrt__gw_respond_error(llmrt__sreq_t *r, int proto, int status, const char *type,
                            const char *msg);
const char *llmrt__gw_error_type(int proto, int status);
/* Streams: the head and opening events, one event, the end, an error event. */
int llmrt__gw_stream_event(gw_ex_t *ex, const llmrt_event_t *ev);
int llmrt__gw_stream_end(gw_ex_t *ex, const llmrt_result_t *res);
int llmrt__gw_stream_error(gw_ex_t *ex, const char *type, const char *msg);
/* A whole answer from the result and the tool calls collected. */
int llmrt__gw_whole(gw_ex_t *ex, const llmrt_result_t *res);
/* Records a tool call event for a whole answer. */
int llmrt__gw_tool_event(gw_ex_t *ex, const llmrt_event_t *ev);

#endif
