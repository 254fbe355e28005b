/* Log capture: a runtime's log, at every level, appended to a buffer that a
 * test can search (ASSERT_CONTAINS(lc.text, "...")). */
#ifndef LLMRT_TEST_LOGCAP_H
#define LLMRT_TEST_LOGCAP_H

#include <stddef.h>

#include "llmrt.h"

typedef struct {
  char text[65536]; /* every message so far, each followed by '\n'; NUL-terminated */
  size_t len;
} logcap_t;

/* An llmrt_log_fn: appends msg and a newline to the logcap_t that user points
 * to. A message that no longer fits is dropped whole. */
void logcap_log(int level, const char *msg, void *user);

/* Empties the buffer. */
void logcap_clear(logcap_t *lc);

/* Sends the log of a runtime made with these options to lc, at every level
 * (LLMRT_LOG_DEBUG). lc must outlive the runtime. */
void logcap_attach(logcap_t *lc, llmrt_options_t *opts);

#endif
