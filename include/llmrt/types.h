/* llmrt data types shared by the public API and the plugin ABI: requests,
 * events and results. Needs only <stddef.h> and <stdint.h>, so plugins can
 * include it without libuv. */
#ifndef LLMRT_TYPES_H
#define LLMRT_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llmrt_s llmrt_t;
typedef struct llmrt_call_s llmrt_call_t;

/* A header. In requests the strings are copied when the request starts; in
 * responses they are NUL-terminated and valid only during the callback. */
typedef struct {
  const char *name;
  const char *value;
} llmrt_header_t;

/* ---- Requests, events, results ------------------------------------------ */

typedef struct {
  const char *role;    /* "system", "user", "assistant" or "tool" */
  const char *content; /* UTF-8 */
  size_t content_len;  /* 0: strlen(content) */
  const char *name;         /* optional */
  const char *tool_call_id; /* for role "tool": the call this message answers */
  /* For role "assistant": the tool calls it made, as an OpenAI-format JSON
   * array, e.g. [{"id":"call_1","type":"function","function":{"name":"f",
   * "arguments":"{\"x\":1}"}}] (what LLMRT_EV_TOOL_CALL events delivered).
   * Sent as tool_calls (OpenAI) or tool_use blocks (Anthropic). Must be
   * strict JSON (nothing after the array, no raw control characters); the
   * call fails with LLMRT_EINVAL naming the message otherwise. NULL: none. */
  const char *tool_calls_json;
} llmrt_message_t;

enum { LLMRT_CACHE_DEFAULT = 0, LLMRT_CACHE_BYPASS = 1, LLMRT_CACHE_NO_STORE = 2 };

/* A chat request. Initialize with llmrt_request_init(). llmrt_call() copies
 * everything, so the request and its strings may be freed once it returns. */
typedef struct {
  const char *upstream; /* NULL: the configured default upstream */
  const char *model;
  const llmrt_message_t *messages;
  size_t n_messages;
  int32_t max_tokens;   /* 0: unset (Anthropic then gets 1024) */
  double temperature;   /* < 0: unset */
  double top_p;         /* < 0: unset */
  const char *const *stop;
  size_t n_stop;
  int64_t seed;
  int has_seed;
  int stream;             /* 1: stream tokens as they arrive */
  const char *extra_json; /* JSON object merged into the provider body */
  const char *tenant;     /* partition for cache and limits; NULL: none */
  uint32_t deadline_ms;   /* total deadline; 0: the runtime's total_timeout_ms */
  int cache;              /* LLMRT_CACHE_* */
} llmrt_request_t;

typedef enum {
  LLMRT_EV_START = 1,  /* the upstream accepted the call (role chunk, message_start) */
  LLMRT_EV_TEXT,       /* text delta: text/len */
  LLMRT_EV_THINKING,   /* reasoning delta: text/len */
  LLMRT_EV_TOOL_CALL,  /* tool call delta: index, id/name on the first delta, text = arguments fragment */
  LLMRT_EV_USAGE,      /* token usage so far: input/output/cached */
  LLMRT_EV_FINISH      /* finish reason: finish_reason */
} llmrt_event_type_t;

/* One stream event. All pointers are valid only during the callback; text is
 * not NUL-terminated (use len) and is never split inside a UTF-8 character. */
typedef struct {
  int type; /* llmrt_event_type_t */
  uint32_t index;
  const char *text;
  size_t len;
  const char *id;   /* tool call id, NULL if absent */
  const char *name; /* tool/function name, NULL if absent */
  const char *finish_reason; /* normalized: "stop", "length", "tool_calls", "content_filter", ... */
  int64_t input_tokens;
  int64_t output_tokens;
  int64_t cached_tokens;
} llmrt_event_t;

/* Times are microseconds since the call was made; 0 means "did not happen"
 * (for example no DNS lookup on a reused connection). */
typedef struct {
  uint64_t queued_us;      /* waited for a connection or a limit */
  uint64_t dns_us;         /* duration of the DNS lookup */
  uint64_t connect_us;     /* duration of the TCP connect */
  uint64_t tls_us;         /* duration of the TLS handshake */
  uint64_t first_byte_us;  /* from call start to the first response byte */
  uint64_t first_token_us; /* from call start to the first content (text, reasoning or tool
                              call) reaching the user */
  uint64_t total_us;
  uint32_t n_gaps;         /* inter-token gaps observed */
  uint64_t gap_mean_us;
  uint64_t gap_max_us;
} llmrt_timings_t;

/* The outcome of a call, handed to on_done. Valid only during on_done. */
typedef struct {
  const char *text; /* the full text (also after an error: the partial text) */
  size_t text_len;
  const char *finish_reason; /* NULL if none arrived */
  const char *model;         /* the model the provider reported */
  int64_t input_tokens;
  int64_t output_tokens;
  int64_t cached_tokens;
  int http_status;          /* of the last attempt; 0 if none */
  const char *request_id;   /* provider's request id, NULL if none */
  const char *error_type;   /* provider's error type when the call failed, else NULL */
  const char *error_message; /* what went wrong and where; NULL on success */
  int attempts;
  int cache_hit;
  llmrt_timings_t timings;
} llmrt_result_t;

/* Fills req with defaults: everything unset, temperature and top_p < 0. */
void llmrt_request_init(llmrt_request_t *req);

#ifdef __cplusplus
}
#endif
#endif
