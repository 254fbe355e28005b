/* The llmrt gateway (`llmrt serve`): an HTTP server that speaks OpenAI Chat
 * Completions and Anthropic Messages to clients and turns each request into
 * one llmrt_call through the configured plugin chain. docs/gateway.md says
 * what it does and every configuration option.
 *
 * A library so that the command, the tests and the benchmark run the same
 * code; all functions run on the loop's thread. */
#ifndef LLMRT_GATEWAY_H
#define LLMRT_GATEWAY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct llmrt_gw_s llmrt_gw_t;

/* Checks a gateway configuration (the gateway's own keys and the runtime's
 * upstreams and plugins, which are loaded and unloaded again) without
 * listening. 0, or a negative error with a message naming the JSON path of
 * the fault in err. */
int llmrt_gw_check(const char *json, char *err, size_t errlen);

/* Starts a gateway on loop with the configuration json (copied). listen,
 * when not NULL ("127.0.0.1:8080", "[::1]:0"), overrides the configuration's
 * "listen". On failure nothing is left running and err says why. */
int llmrt_gw_start(uv_loop_t *loop, const char *json, const char *listen, llmrt_gw_t **out,
                   char *err, size_t errlen);

/* The port the gateway listens on. */
uint16_t llmrt_gw_port(const llmrt_gw_t *gw);

/* Applies a new configuration: new requests use it, requests in flight
 * finish on the one they started with. The listen address and TLS files
 * are read at start only. On failure nothing changes and err says why. */
int llmrt_gw_reload(llmrt_gw_t *gw, const char *json, char *err, size_t errlen);

typedef struct {
  uint64_t requests;        /* requests handled (any path) */
  uint64_t calls;           /* LLM calls started */
  uint64_t ok;              /* calls that ended with success */
  uint64_t failed;          /* calls that ended with an error */
  uint64_t cancelled;       /* calls cancelled because the client went away */
  uint64_t rejected;        /* answered 4xx by the gateway itself (auth, body, route) */
  uint64_t paused;          /* times a call was paused for a slow client */
  uint32_t in_flight;       /* calls running now */
  uint64_t overhead_us_sum; /* the gateway's own time outside the upstream */
} llmrt_gw_stats_t;

void llmrt_gw_stats(const llmrt_gw_t *gw, llmrt_gw_stats_t *out);

/* Graceful shutdown: stops accepting, lets calls in flight finish for up to
 * grace_ms (UINT32_MAX: the configuration's shutdown_grace_ms), then
 * cancels the rest, closes the server and the runtime, calls done (may be
 * NULL) and frees the gateway. Idempotent. */
void llmrt_gw_shutdown(llmrt_gw_t *gw, uint32_t grace_ms, void (*done)(llmrt_gw_t *gw, void *user),
                       void *user);

#endif
