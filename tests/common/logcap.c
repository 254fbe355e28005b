/* Log capture for tests: see logcap.h. */
#include "logcap.h"

#include <stdio.h>

void logcap_log(int level, const char *msg, void *user) {
  (void)level;
  logcap_t *lc = user;
  int n = snprintf(lc->text + lc->len, sizeof lc->text - lc->len, "%s\n", msg);
  if (n > 0 && (size_t)n < sizeof lc->text - lc->len)
    lc->len += (size_t)n;
  else
    lc->text[lc->len] = '\0'; /* dropped whole, not cut */
}

void logcap_clear(logcap_t *lc) {
  lc->len = 0;
  lc->text[0] = '\0';
}

void logcap_attach(logcap_t *lc, llmrt_options_t *opts) {
  opts->log = logcap_log;
  opts->log_user = lc;
  opts->log_level = LLMRT_LOG_DEBUG;
}
