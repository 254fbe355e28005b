/* Internal: the connection pool's counters per origin, for the metrics
 * exposition in lib/chain. The pool owns and writes them; a reader above
 * walks them here and never keeps a pointer. */
#ifndef LLMRT_HTTP_POOL_STATS_H
#define LLMRT_HTTP_POOL_STATS_H

#include "../core/core.h"

typedef struct {
  const char *origin;      /* "host:port"; valid only during the callback */
  int tls;                 /* https */
  uint32_t open;           /* connections open now: connecting, active or idle */
  llmrt_pool_stats_t pool; /* counters and gauges as llmrt_pool_stats gives them */
  uint64_t queued_total;   /* requests that waited for a connection */
  uint64_t queue_full;     /* requests refused because the wait queue was full */
} llmrt__pool_origin_stats_t;

typedef void (*llmrt__pool_each_fn)(const llmrt__pool_origin_stats_t *st, void *arg);

/* Calls fn for every origin the pool knows, in the order they were first
 * used. Nothing runs when the pool was never used. */
void llmrt__pool_each(llmrt_t *rt, llmrt__pool_each_fn fn, void *arg);

#endif
