/* Error names and messages, generated from the one list in llmrt/error.h. */
#include <uv.h>

#include "llmrt/error.h"

const char *llmrt_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define X(name, val, msg)                                                                          \
  case val:                                                                                        \
    return msg;
    LLMRT_ERRNO_MAP(X)
#undef X
  default:
    /* Everything else is a libuv code passed through unchanged. */
    return err < 0 ? uv_strerror(err) : "unknown error";
  }
}

const char *llmrt_err_name(int err) {
  switch (err) {
  case 0:
    return "OK";
#define X(name, val, msg)                                                                          \
  case val:                                                                                        \
    return "LLMRT_" #name;
    LLMRT_ERRNO_MAP(X)
#undef X
  default:
    return err < 0 ? uv_err_name(err) : "UNKNOWN";
  }
}
