/* A hiredis async client on the runtime's loop, for plugins (cache, limits).
 *
 * It uses only the plugin host table: host->watch_* for the socket and
 * host->timer_* for the connect timeout, the per-command timeouts and the
 * reconnect backoff, so nothing blocks the loop and the plugin needs no
 * libuv. The connection is made in the background: redis_loop_new returns at
 * once, and commands sent while it is not ready (connecting, handshaking,
 * backing off after a failure) fail at once with LLMRT_ECLOSED, so a caller
 * degrades instead of waiting. A Redis that stops answering (a stalled
 * process, a lost network) is noticed by command timeouts: after
 * stall_timeouts timeouts in a row with no reply in between, the connection
 * is dropped and made again with backoff.
 *
 * The address must be a numeric IPv4/IPv6 address or "localhost" (taken as
 * 127.0.0.1): a host name would need a blocking getaddrinfo inside hiredis.
 *
 * Threading: everything on the loop thread. Not for calling from inside
 * one of this client's own callbacks: redis_loop_free (from fini only).
 *
 * Built into each plugin that lists it in its deps.cmake; the names are
 * hidden so copies in several plugins never bind to one another. */
#ifndef LLMRT_PLUGINS_COMMON_REDIS_LOOP_H
#define LLMRT_PLUGINS_COMMON_REDIS_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "llmrt/plugin.h"

#if defined(__GNUC__)
#define REDIS_LOOP_API __attribute__((visibility("hidden")))
#else
#define REDIS_LOOP_API
#endif

typedef struct redis_loop_s redis_loop_t;
typedef struct redis_cmd_s redis_cmd_t;

typedef struct {
  const char *host;            /* numeric address or "localhost"; NULL: 127.0.0.1 */
  uint16_t port;               /* 0: 6379 */
  const char *password;        /* SECRET, copied and wiped on free; NULL: no AUTH */
  int db;                      /* SELECT db when not 0 */
  uint32_t connect_timeout_ms; /* TCP connect and handshake; 0: 500 */
  uint32_t backoff_min_ms;     /* first reconnect delay; 0: 100 */
  uint32_t backoff_max_ms;     /* cap of the doubling delay; 0: 5000 */
  uint32_t stall_timeouts;     /* consecutive timeouts that drop the connection; 0: 3 */
  uint32_t max_pending;        /* commands in flight at most (more: LLMRT_EBUSY); 0: 1024 */
  const char *label;           /* for log lines ("cache"), may be NULL */
  /* Called (may be NULL) when the client becomes ready (1) or stops being
   * ready (0), e.g. to set an "up" gauge. Not called from redis_loop_free. */
  void (*on_state)(void *arg, int ready);
  void *state_arg;
} redis_loop_opts_t;

/* A command's outcome: status 0 and reply (a hiredis reply, which may be a
 * REDIS_REPLY_ERROR; OWNERSHIP: hiredis's, valid only during the callback),
 * or status < 0 and reply NULL: LLMRT_ETIMEDOUT (no reply within the
 * command's timeout), LLMRT_ECLOSED (the connection was lost first),
 * LLMRT_ESHUTDOWN (redis_loop_free). */
typedef void (*redis_loop_cb)(void *arg, int status, const redisReply *reply);

/* Creates the client and starts connecting. OWNERSHIP: opts and its strings
 * are copied. host and prt must outlive the client (free it from fini).
 * Returns 0, LLMRT_EINVAL (bad address) or LLMRT_ENOMEM. */
REDIS_LOOP_API int redis_loop_new(const llmrt_host_t *host, llmrt_plugin_rt_t *prt,
                                  const redis_loop_opts_t *opts, redis_loop_t **out);

/* Stops everything: pending commands get LLMRT_ESHUTDOWN, the connection is
 * closed, timers and the watch stop. NULL is a no-op. */
REDIS_LOOP_API void redis_loop_free(redis_loop_t *rl);

/* 1 when connected and the handshake (AUTH, SELECT, PING) succeeded. */
REDIS_LOOP_API int redis_loop_ready(const redis_loop_t *rl);

/* Sends a command (argv form; the arguments are copied). cb (may be NULL:
 * fire and forget) runs exactly once, never inside this function, when 0 is
 * returned. timeout_ms 0: no timeout of the caller's own (the connection's
 * stall detection still applies). *out (may be NULL) is a handle for
 * redis_loop_cancel, valid until cb runs or the cancel.
 * Returns 0, LLMRT_ECLOSED (not ready), LLMRT_EBUSY (max_pending reached),
 * LLMRT_ENOMEM. */
REDIS_LOOP_API int redis_loop_command(redis_loop_t *rl, int argc, const char **argv,
                                      const size_t *argvlen, uint32_t timeout_ms, redis_loop_cb cb,
                                      void *arg, redis_cmd_t **out);

/* The caller no longer wants the answer: cb will not run. The command may
 * still reach Redis. */
REDIS_LOOP_API void redis_loop_cancel(redis_cmd_t *cmd);

/* Counters since creation, for the plugin's metrics. */
typedef struct {
  uint64_t connects;      /* successful handshakes */
  uint64_t connect_fails; /* failed or timed-out connection attempts */
  uint64_t disconnects;   /* ready connections lost (error, stall) */
  uint64_t timeouts;      /* commands that timed out */
  uint64_t errors;        /* commands refused or lost (not ready, closed, busy) */
} redis_loop_stats_t;

REDIS_LOOP_API void redis_loop_stats(const redis_loop_t *rl, redis_loop_stats_t *out);

#endif
