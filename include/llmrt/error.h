/* llmrt error codes.
 *
 * Every llmrt function that can fail returns 0 on success or a negative error
 * code. Codes from libuv (UV_E*, negative errno values) pass through
 * unchanged; llmrt's own codes live in the range -20000..-20999, so the two
 * never collide. Raw mbedTLS and llhttp codes never escape: they are folded
 * into the codes below and kept only in the detailed message of a call.
 *
 * This header needs nothing but <stddef.h>, so plugins can include it alone.
 */
#ifndef LLMRT_ERROR_H
#define LLMRT_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message). One list makes the enum, llmrt_strerror() and
 * llmrt_err_name(); add new codes at the end of their group, never renumber. */
#define LLMRT_ERRNO_MAP(X)                                                                         \
  X(ENOMEM, -20001, "out of memory")                                                               \
  X(EINVAL, -20002, "invalid argument")                                                            \
  X(ECANCELED, -20003, "call canceled")                                                            \
  X(ESHUTDOWN, -20004, "runtime is closing")                                                       \
  X(EBUSY, -20005, "resource busy")                                                                \
  X(EQUEUEFULL, -20006, "wait queue is full")                                                      \
  X(EQUEUETIMEOUT, -20007, "timed out in a wait queue")                                            \
  X(ELIMITUNFIT, -20008, "request can never fit a configured limit")                              \
  X(EURL, -20010, "malformed URL")                                                                 \
  X(EDNS, -20011, "host name lookup failed")                                                       \
  X(ECONNECT, -20012, "connection failed")                                                         \
  X(ECONNRESET, -20013, "connection reset by peer")                                                \
  X(ECLOSED, -20014, "connection closed before the response was complete")                        \
  X(ETIMEDOUT, -20020, "total deadline exceeded")                                                  \
  X(ECONNECTTIMEOUT, -20021, "connect timed out")                                                  \
  X(ETLSTIMEOUT, -20022, "TLS handshake timed out")                                                \
  X(EFIRSTBYTETIMEOUT, -20023, "timed out waiting for the first response byte")                    \
  X(EIDLETIMEOUT, -20024, "timed out waiting for more data (idle gap)")                            \
  X(EFIRSTTOKENTIMEOUT, -20025, "timed out waiting for the first token")                           \
  X(ETLS, -20030, "TLS error")                                                                     \
  X(ECERTUNTRUSTED, -20031, "certificate is not trusted")                                          \
  X(ECERTHOSTNAME, -20032, "certificate does not match the host name")                             \
  X(ECERTEXPIRED, -20033, "certificate has expired or is not yet valid")                           \
  X(ECAFILE, -20034, "cannot load CA certificates")                                                \
  X(EHTTPPARSE, -20040, "malformed HTTP message")                                                  \
  X(EHEADERSIZE, -20041, "HTTP header section too large")                                          \
  X(EHEADERCOUNT, -20042, "too many HTTP headers")                                                 \
  X(EBODYSIZE, -20043, "HTTP body too large")                                                      \
  X(EDECODE, -20044, "content decoding (gzip/deflate) failed")                                     \
  X(EHTTPSTATUS, -20045, "unexpected HTTP status")                                                 \
  X(EUPSTREAM, -20050, "upstream returned an error")                                               \
  X(ERATELIMIT, -20051, "upstream rate limit exceeded")                                            \
  X(EAUTH, -20052, "upstream rejected the credentials")                                            \
  X(EOVERLOADED, -20053, "upstream is overloaded")                                                 \
  X(EBADRESPONSE, -20054, "malformed response from upstream")                                      \
  X(ETRUNCATED, -20055, "stream ended before it was complete")                                     \
  X(ENOUPSTREAM, -20056, "unknown upstream")                                                       \
  X(ENOKEY, -20057, "API key is not set")                                                          \
  X(ECIRCUITOPEN, -20058, "circuit breaker is open for the upstream")                              \
  X(ECONFIG, -20060, "invalid configuration")                                                      \
  X(EPLUGIN, -20061, "plugin failed")                                                              \
  X(EPLUGINLOAD, -20062, "cannot load plugin")                                                     \
  X(EPLUGINABI, -20063, "plugin ABI mismatch")                                                    \
  X(ETOKENBUDGET, -20070, "prompt exceeds the token budget")

typedef enum {
#define LLMRT_ERR_ENUM_(name, val, msg) LLMRT_##name = (val),
  LLMRT_ERRNO_MAP(LLMRT_ERR_ENUM_)
#undef LLMRT_ERR_ENUM_
  LLMRT_ERRNO_MAX_ = -20999
} llmrt_errno_t;

/* A human-readable message for any int: ours, libuv's (libuv's own text,
 * taken from its UV_ERRNO_MAP), "success" for 0 and "unknown error" for
 * anything else. Never NULL; the string is static (never allocated, never
 * freed) and the call is thread-safe. */
const char *llmrt_strerror(int err);

/* The symbolic name of any int: "LLMRT_ETIMEDOUT" for ours, libuv's name
 * ("ECONNREFUSED") for libuv's, "OK" for 0 and "UNKNOWN" for anything else.
 * Never NULL; the string is static and the call is thread-safe. */
const char *llmrt_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
