/* Logging: to the user's callback, or stderr. Callers never pass secrets. */
#include <stdio.h>
#include <time.h>

#include "core.h"

static const char *level_name(int level) {
  switch (level) {
  case LLMRT_LOG_ERROR:
    return "error";
  case LLMRT_LOG_WARN:
    return "warn";
  case LLMRT_LOG_INFO:
    return "info";
  default:
    return "debug";
  }
}

void llmrt__log(llmrt_t *rt, int level, const char *fmt, ...) {
  int max = rt ? rt->opts.log_level : LLMRT_LOG_WARN;
  if (level > max) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (rt && rt->opts.log) {
    rt->opts.log(level, msg, rt->opts.log_user);
    return;
  }
  fprintf(stderr, "llmrt: %s: %s\n", level_name(level), msg);
}

uint64_t llmrt__now_us(void) {
  return uv_hrtime() / 1000;
}
