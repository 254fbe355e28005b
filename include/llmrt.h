/* llmrt: an embeddable asynchronous runtime for LLM API calls.
 *
 * Conventions used throughout this header:
 *  - Functions return 0 or a negative error code (see llmrt/error.h).
 *  - A function that takes a completion callback and returns an error never
 *    calls that callback; one that returns 0 calls it exactly once.
 *  - Everything the caller passes in is copied unless a comment says
 *    otherwise. Pointers handed to callbacks are valid only during the
 *    callback.
 *  - Unless stated otherwise, every function must be called on the thread
 *    that runs the runtime's loop.
 */
#ifndef LLMRT_H
#define LLMRT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "llmrt/error.h"
#include "llmrt/types.h"
#include "llmrt/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LLMRT_VERSION_MAJOR 0
#define LLMRT_VERSION_MINOR 1
#define LLMRT_VERSION_PATCH 0
#define LLMRT_VERSION_STRING "0.1.0"

typedef struct llmrt_s llmrt_t;
typedef struct llmrt_call_s llmrt_call_t;

/* ---- Allocator ---------------------------------------------------------- */

/* Replaces the allocator used by llmrt, and by libuv and cJSON with it.
 * Call once, before any other llmrt or libuv function. Passing all NULL
 * restores the C library's allocator. Returns LLMRT_EINVAL if only some are
 * NULL. Not thread-safe. (mbedTLS allocations are not covered: Debian's
 * mbedTLS is built without MBEDTLS_PLATFORM_MEMORY.) */
int llmrt_set_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
                        void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *));

/* ---- Logging ------------------------------------------------------------ */

/* Levels: LLMRT_LOG_ERROR, _WARN, _INFO, _DEBUG (llmrt/plugin.h). */
/* msg is NUL-terminated, has no trailing newline and is valid only during the
 * call. API keys never appear in log messages. */
typedef void (*llmrt_log_fn)(int level, const char *msg, void *user);

/* ---- Runtime ------------------------------------------------------------ */

/* Runtime options. Always initialize with llmrt_options_init() and then set
 * what you need, so fields added in later versions get their defaults.
 * Time values are milliseconds; 0 in a timeout means "no timeout". */
typedef struct {
  /* TLS. ca_file NULL uses the system bundle (/etc/ssl/certs/ca-certificates.crt).
   * tls_insecure 1 turns certificate and host name verification off; this is
   * logged as a warning. */
  const char *ca_file;
  int tls_insecure; /* 0 (the default, also for a zeroed struct): verify */

  /* Default timeouts, per HTTP exchange (connect, tls, first_byte, idle) and
   * per call (total, first_token). */
  uint32_t connect_timeout_ms;     /* default 10000 */
  uint32_t tls_timeout_ms;         /* default 10000 */
  uint32_t first_byte_timeout_ms;  /* default 60000 */
  uint32_t idle_timeout_ms;        /* default 60000: max gap between reads */
  uint32_t first_token_timeout_ms; /* default 0 (only total applies) */
  uint32_t total_timeout_ms;       /* default 600000 */

  /* Connection pool, per origin (scheme, host, port). */
  uint32_t pool_max_per_origin;  /* default 64 */
  uint32_t pool_max_queue;       /* default 4096 waiting requests per origin */
  uint32_t pool_idle_timeout_ms; /* default 60000 */

  uint32_t dns_ttl_ms; /* default 60000; 0 disables the cache */

  /* Limits on responses. */
  /* default 65536: the response head, with every informational (1xx) head
   * before it (at most LLMRT_HTTP_MAX_INFORMATIONAL of them) and, for a
   * chunked body, all its chunk extensions, counts against it */
  size_t max_header_bytes;
  uint32_t max_headers;    /* default 128 */
  size_t max_body_bytes;   /* default 64 MiB (after decoding) */

  llmrt_log_fn log;  /* NULL: messages at or below log_level go to stderr */
  void *log_user;
  int log_level;     /* default LLMRT_LOG_WARN */

  /* Limits on what the LLM layer buffers and parses (invariants 5 and 9).
   * 0 takes the default (so does a zeroed struct). */
  /* A non-streamed JSON response body, after decoding gzip: a larger one
   * fails with LLMRT_EBODYSIZE ("... larger than max_json_body_bytes"),
   * checked as it arrives. The body is scanned as it arrives too, so parse
   * memory stays within a small fraction of this on top of the body. */
  size_t max_json_body_bytes; /* default 8 MiB */
  /* One SSE line or event (data lines joined): LLMRT_EBODYSIZE beyond. */
  size_t max_sse_event_bytes; /* default 1 MiB */
  /* SSE comments, blank lines and events without content (pings, empty
   * deltas) in a row: LLMRT_EIDLETIMEOUT beyond, so a stream that only
   * keeps the connection busy ends before the total deadline. SIZE_MAX: no
   * limit. */
  size_t max_sse_idle_bytes; /* default 64 KiB */

  /* Metrics cardinality (docs/metrics.md): distinct values one label may
   * take in one metric before later ones are folded into "other", and
   * series one metric may hold before every new label set is folded into
   * one whose values are all "other". 0 takes the default. */
  uint32_t metrics_max_label_values; /* default 100 */
  uint32_t metrics_max_series;       /* default 10000 */
  /* An HTTP proxy, "http://host:port" (port default 80): every connection
   * to an upstream (https or http) goes through a CONNECT tunnel to it,
   * unless its host matches no_proxy; TLS to the upstream then runs inside
   * the tunnel, verified as usual. No proxy authentication. NULL: direct.
   * A malformed URL fails each call with LLMRT_EURL. Copied. */
  const char *proxy;
  /* Hosts that connect directly although proxy is set, as in the NO_PROXY
   * convention: comma-separated entries, each a host name (also matching
   * its subdomains; a leading "." is ignored), a literal address, or "*"
   * for every host; case-insensitive, ports ignored. NULL: none. Copied. */
  const char *no_proxy;
} llmrt_options_t;

void llmrt_options_init(llmrt_options_t *opts);

/* Creates a runtime on `loop`, or on a loop of its own when loop is NULL
 * (drive it with llmrt_run()). opts may be NULL for defaults; it is copied.
 * One runtime belongs to one loop thread. */
int llmrt_new(uv_loop_t *loop, const llmrt_options_t *opts, llmrt_t **out);

/* The loop the runtime runs on (its own, or the caller's). */
uv_loop_t *llmrt_loop(llmrt_t *rt);

/* Runs the runtime's loop (uv_run) with the given mode. Useful when the
 * runtime owns its loop; with a caller's loop it simply runs that loop.
 * Returns uv_run's result. */
int llmrt_run(llmrt_t *rt, uv_run_mode mode);

/* Applies a JSON configuration: upstreams, default upstream and plugins (see
 * docs/configuration.md). On failure nothing changes and, when errbuf is not
 * NULL, a message naming the JSON path of the fault is written to it. May be
 * called again at any time to replace upstreams and plugins: new calls use
 * the new configuration, calls in flight finish on the one they started
 * with (whose plugins' fini runs when the last of them ended). API keys are
 * read from the environment at each call of llmrt_configure. */
int llmrt_configure(llmrt_t *rt, const char *json, char *errbuf, size_t errlen);

/* What the last refused llmrt_call or llmrt_configure on this runtime said
 * ("messages[1].role is NULL"): a static-lifetime string owned by the
 * runtime, valid until the next llmrt function call on it; "" when none. */
const char *llmrt_errmsg(const llmrt_t *rt);

/* Registers a plugin linked into the application under `name`, so the
 * configuration can name it like a built-in one (for example
 * {"plugins":[{"name":"my_auth"}]}). Call before llmrt_configure. name is
 * copied; entry is called with the host table when the plugin is loaded.
 * LLMRT_EBUSY if the name is taken. */
int llmrt_add_plugin(llmrt_t *rt, const char *name, llmrt_plugin_entry_fn entry);

/* Closes the runtime in phases: calls (every call in flight ends with
 * LLMRT_ESHUTDOWN), then the HTTP pools (requests made with
 * llmrt_http_request end with LLMRT_ESHUTDOWN), then DNS and TLS state. No
 * on_done runs inside llmrt_close: they run on later loop turns (only
 * llmrt_http_prewarm's done reports at once). Plugins' fini runs once the
 * last call has ended; `done` runs once all libuv handles are closed. No user or plugin callback runs after `done`. The runtime's memory
 * is released after `done` returns (for an own loop, when llmrt_run returns).
 * Safe to call from inside any llmrt callback. Calling it twice is a no-op. */
void llmrt_close(llmrt_t *rt, void (*done)(llmrt_t *rt, void *user), void *user);

typedef struct {
  /* Text deltas, in order; may be NULL. */
  void (*on_token)(llmrt_call_t *call, const char *text, size_t len, void *user);
  /* Every stream event (tool calls, usage, finish, ...); may be NULL. */
  void (*on_event)(llmrt_call_t *call, const llmrt_event_t *ev, void *user);
  /* Exactly once per call. status is 0 or a negative error code. */
  void (*on_done)(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user);
} llmrt_callbacks_t;

/* Starts a call. req and cbs are copied. On success *id (if id is not NULL)
 * receives the call's id: unique on this runtime and never reused, so an id
 * kept after the call ended is harmless (llmrt_call_get returns NULL for
 * it). On error no callback runs, and llmrt_errmsg(rt) names the field at
 * fault for LLMRT_EINVAL. */
int llmrt_call(llmrt_t *rt, const llmrt_request_t *req, const llmrt_callbacks_t *cbs, void *user,
               uint64_t *id);

/* The call with this id while it runs (until its on_done starts), else NULL.
 * A llmrt_call_t pointer is valid only while the call runs: inside its
 * callbacks, or right after llmrt_call_get returned it; keep the id, not the
 * pointer. */
llmrt_call_t *llmrt_call_get(llmrt_t *rt, uint64_t id);
uint64_t llmrt_call_id(const llmrt_call_t *call);

/* Cancels a call; on_done then runs with LLMRT_ECANCELED, always on a later
 * loop turn. Idempotent; a no-op after on_done has started. */
int llmrt_call_cancel(llmrt_call_t *call);
/* The same by id: 0, or LLMRT_EINVAL when no call with this id runs. */
int llmrt_cancel(llmrt_t *rt, uint64_t id);

/* Flow control for the application (an embedding server whose client reads
 * slowly): after llmrt_call_pause, no on_token or on_event runs and the
 * runtime stops reading the upstream's socket (the upstream's writes then
 * block) until llmrt_call_resume, which delivers what was held back on a
 * later loop turn. Nothing is lost or reordered, and what is held back is
 * bounded by one read. Safe inside the call's callbacks. A paused call still
 * ends at once at its deadline or on cancel; a call that succeeds while
 * paused runs on_done after the held-back events, once resumed. Pauses
 * count: each llmrt_call_pause needs its llmrt_call_resume; resume without
 * pause is LLMRT_EINVAL. */
int llmrt_call_pause(llmrt_call_t *call);
int llmrt_call_resume(llmrt_call_t *call);

void *llmrt_call_user(const llmrt_call_t *call);
llmrt_t *llmrt_call_runtime(const llmrt_call_t *call);

/* ---- Metrics ------------------------------------------------------------ */

/* Every metric of the runtime in the Prometheus text exposition format
 * (version 0.0.4: serve it with "Content-Type: text/plain; version=0.0.4;
 * charset=utf-8"): what plugins registered, then the runtime's own (calls,
 * connection pools, TLS, DNS); docs/metrics.md lists them. OWNERSHIP: on
 * success *out is a NUL-terminated string allocated with llmrt's allocator,
 * the caller's to free with llmrt_free; *len (len may be NULL) its length.
 * On error *out is NULL. Reading allocates only the output. */
int llmrt_metrics_prometheus(llmrt_t *rt, char **out, size_t *len);
/* The Content-Type to serve llmrt_metrics_prometheus's text with. */
#define LLMRT_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* The same as llmrt_metrics_prometheus (its first name). */
int llmrt_metrics_text(llmrt_t *rt, char **out, size_t *len);

/* The same metrics as one JSON object (docs/metrics.md has its schema):
 * {"metrics":[{"name","type","help","series":[{"labels":{...},"value"} or
 * histogram {"labels","buckets":[{"le","count"} cumulative],"sum","count"}]}]}.
 * Names and values are those of the Prometheus text. OWNERSHIP as above. */
int llmrt_metrics_json(llmrt_t *rt, char **out, size_t *len);

/* The call's own measurements (what the metrics plugin records for it):
 * while the call runs, final inside on_done. out->struct_size must be set. */
int llmrt_call_metrics(const llmrt_call_t *call, llmrt_call_metrics_t *out);

/* Frees memory llmrt handed to the caller. */
void llmrt_free(void *p);

#ifdef __cplusplus
}
#endif

#include "llmrt/http.h"
#include "llmrt/thread.h"

#endif
