/* Error names and messages, generated from the one list in llmrt/error.h and
 * libuv's UV_ERRNO_MAP.
 *
 * libuv's codes are looked up in libuv's own list rather than by calling
 * uv_strerror()/uv_err_name(): for a code libuv does not know, libuv 1.44
 * allocates a fresh "Unknown system error %d" on every call (a leak, and
 * truncated to 31 characters for INT_MIN). Every int gets static text here. */
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
#define X(name, msg)                                                                               \
  case UV_##name:                                                                                  \
    return msg;
    UV_ERRNO_MAP(X)
#undef X
  default:
    return "unknown error";
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
#define X(name, msg)                                                                               \
  case UV_##name:                                                                                  \
    return #name;
    UV_ERRNO_MAP(X)
#undef X
  default:
    return "UNKNOWN";
  }
}
