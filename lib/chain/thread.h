/* Thread mode (include/llmrt/thread.h), internal:
 *   thread.c      the runtime's thread, the submission queue, stop and join
 *   thread_req.c  the deep copy of a request made on the submitting thread
 *   inbox.c       results copied back to other threads, llmrt_thread_call_sync
 * Only public API is used on the runtime, so this file could live anywhere;
 * it sits in chain next to llmrt_call, which it wraps. */
#ifndef LLMRT_CHAIN_THREAD_H
#define LLMRT_CHAIN_THREAD_H

#include "chain.h"
#include "../core/core.h"

/* A request copied off the caller's memory. OWNERSHIP: block and key are the
 * copy's; req points into them. */
typedef struct {
  llmrt_request_t req;
  char *block;
  char *key; /* SECRET: wiped by llmrt__thread_req_free */
} llmrt__thread_req_t;

int llmrt__thread_req_copy(llmrt__thread_req_t *dst, const llmrt_request_t *in);
void llmrt__thread_req_free(llmrt__thread_req_t *t);

/* llmrt_thread_call writing the ticket to two places, both under the queue's
 * lock, so a place the runtime thread reads later is written before it. */
int llmrt__thread_call(llmrt_thread_t *th, const llmrt_request_t *req, const llmrt_callbacks_t *cbs,
                       void *user, uint64_t *ticket, uint64_t *ticket2);

/* 1 when the caller runs on th's runtime thread. */
int llmrt__thread_is_self(const llmrt_thread_t *th);

#endif
