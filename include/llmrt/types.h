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

/* Sizes and growth. Every struct below that may gain fields carries its
 * size as its first member, so a plugin or application built against an
 * older header keeps working with a newer runtime (and the other way round):
 * llmrt reads only the fields a struct_size covers and treats the rest as
 * unset. struct_size 0 means the layout of ABI version 2.0, so designated
 * initializers such as {.role = "user", .content = "hi"} stay valid; set
 * struct_size = sizeof(T) (or use the _init functions) to use a field added
 * later. Arrays (messages) take their stride from the first element's
 * struct_size; for llmrt_message_t, 0 means the layout of this header (so
 * arrays of messages written with designated initializers keep working
 * when recompiled; code built against an older header must set
 * struct_size). Read a field of a struct llmrt gave you only when
 * LLMRT_HAS_FIELD says its struct_size covers it. */
#define LLMRT_HAS_FIELD(ptr, type, field)                                                          \
  ((ptr)->struct_size == 0 ? offsetof(type, field) < LLMRT__V2_SIZE_##type                         \
                           : offsetof(type, field) + sizeof((ptr)->field) <= (ptr)->struct_size)

/* A header: a name and a value. This struct is frozen (it will never grow),
 * so arrays of it need no size. In requests the strings are copied when the
 * request starts; in responses they are NUL-terminated and valid only during
 * the callback. */
typedef struct {
  const char *name;
  const char *value;
} llmrt_header_t;

/* ---- Requests, events, results ------------------------------------------ */

typedef struct {
  uint32_t struct_size; /* 0 or sizeof(llmrt_message_t); see above */
  const char *role;    /* "system", "user", "assistant" or "tool" */
  const char *content; /* UTF-8; may be NULL (empty) for an assistant turn that only
                          makes tool calls (tool_calls_json) */
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
  /* Added in ABI 2.1 (set struct_size = sizeof(llmrt_message_t) to use it).
   * The content as raw JSON: an array of content parts (text, images,
   * documents, tool results, with their cache_control marks) or a JSON
   * string, in the format of the provider the parts were written for. When
   * set it is sent as the message's content, written out again token by
   * token (same members in the same order; strict JSON, else LLMRT_EINVAL
   * naming the message), and `content` is only what plugins that read text
   * see: put the text of the text parts there (the gateway does). A plugin
   * that rewrites a message keeps the parts it does not touch by editing
   * this array. For Anthropic, system messages with content_json become
   * blocks of the top-level "system" array. NULL: use content. */
  const char *content_json;
  size_t content_json_len; /* 0: strlen(content_json) */
} llmrt_message_t;

/* llmrt_request_t.cache, for the cache plugin: DEFAULT looks up and stores;
 * BYPASS does neither (the call goes upstream as if there were no cache);
 * NO_STORE may be answered from the cache but its answer is not stored;
 * REFRESH skips the lookup and stores the new answer. */
enum {
  LLMRT_CACHE_DEFAULT = 0,
  LLMRT_CACHE_BYPASS = 1,
  LLMRT_CACHE_NO_STORE = 2,
  LLMRT_CACHE_REFRESH = 3
};

/* A chat request. Initialize with llmrt_request_init(). llmrt_call() copies
 * everything, so the request and its strings may be freed once it returns. */
typedef struct {
  uint32_t struct_size; /* set by llmrt_request_init */
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
  /* Extra request headers (traceparent, OpenAI-Beta, an idempotency key...),
   * after the upstream's configured ones: a name given here replaces the
   * configured header of that name. Authorization, x-api-key, Host,
   * Content-Length, Transfer-Encoding, Connection and Content-Type are
   * refused (LLMRT_EINVAL): keys go in api_key. */
  const llmrt_header_t *headers;
  size_t n_headers;
  /* SECRET: the API key for this call, overriding the upstream's. Copied,
   * wiped when the call ends; never logged, never in messages or results. */
  const char *api_key;
  /* ---- Added after ABI 2.0 (set struct_size, as llmrt_request_init does) ---- */
  /* The call's priority in the wait queues of plugins that queue calls
   * (limits): higher is served first; 0 is the default. */
  int32_t priority;
  /* Cache plugin controls for this call: how long its answer stays cached
   * (0: the plugin's rules or ttl_s), the oldest cached answer it accepts
   * (0: any), and 1 to cache its answer even though its sampling is not
   * deterministic (temperature above the plugin's max_temperature, no seed). */
  uint32_t cache_ttl_s;
  uint32_t cache_max_age_s;
  int cache_nondeterministic;
  /* Added in ABI 2.1. Faithful forwarding: the body a client sent, in the
   * protocol named by raw_api ("openai" or "anthropic"), that the other
   * fields were decoded from. When the call's upstream speaks raw_api and
   * no plugin changed the request, the upstream receives exactly these
   * bytes, except that the value of the top-level "model" member is
   * replaced when `model` differs from it (routing). A plugin's
   * host->set_request keeps the raw body only when everything that shapes
   * the body (messages, max_tokens, temperature, top_p, stop, seed, stream,
   * extra_json) is unchanged, as it is when the plugin copied the request
   * from host->request and changed only upstream, model, tenant, deadline,
   * cache or headers; otherwise the body is encoded from the fields. Copied
   * by llmrt_call. NULL: always encode from the fields. */
  const char *raw_body;
  size_t raw_body_len; /* 0: strlen(raw_body) */
  const char *raw_api; /* "openai" or "anthropic"; NULL with raw_body: ignored */
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
  uint32_t struct_size; /* sizeof(llmrt_event_t) in events llmrt hands out */
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

/* A per-call attribute that a plugin set (host->attr_set_*), for example
 * "trim.tokens_removed" = 412. Frozen, like llmrt_header_t. */
typedef struct {
  const char *name;
  const char *str; /* the value when it is a string, else NULL */
  double num;      /* the value when it is a number */
} llmrt_attr_t;

/* The outcome of a call, handed to on_done. Valid only during on_done. */
typedef struct {
  uint32_t struct_size; /* sizeof(llmrt_result_t) in results llmrt hands out */
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
  const llmrt_attr_t *attrs; /* attributes plugins set on the call, in the order set */
  size_t n_attrs;
} llmrt_result_t;

/* A call's own measurements (llmrt_call_metrics, host->call_metrics): what
 * the metrics plugin records for it, from one function. Seconds. */
typedef struct {
  uint32_t struct_size; /* set by the caller: sizeof(llmrt_call_metrics_t) */
  int streamed;         /* the request asked for a stream */
  int done;             /* 1 once the call completed (the values are final) */
  int attempts;         /* upstream attempts made */
  double duration_s;    /* from llmrt_call to completion (or now) */
  double time_to_first_chunk_s; /* to the first content reaching the user; 0: none */
  uint32_t n_chunks;            /* content events that reached the user */
  double chunk_gap_mean_s;      /* mean time between them; 0 with fewer than two */
  double upstream_s; /* inside upstream HTTP exchanges, summed over attempts */
  double queued_s;   /* of which waiting for a connection */
  double overhead_s; /* duration_s - upstream_s: the runtime and plugins */
  int64_t input_tokens, output_tokens, cached_tokens; /* as reported; 0: not reported */
} llmrt_call_metrics_t;

/* The size of each struct as of ABI 2.0, which struct_size 0 stands for. */
#define LLMRT__V2_SIZE_llmrt_message_t (offsetof(llmrt_message_t, tool_calls_json) + sizeof(char *))
#define LLMRT__V2_SIZE_llmrt_request_t (offsetof(llmrt_request_t, api_key) + sizeof(char *))
#define LLMRT__V2_SIZE_llmrt_event_t (offsetof(llmrt_event_t, cached_tokens) + sizeof(int64_t))
#define LLMRT__V2_SIZE_llmrt_result_t (offsetof(llmrt_result_t, n_attrs) + sizeof(size_t))

/* Fills req with defaults: everything unset, temperature and top_p < 0. */
void llmrt_request_init(llmrt_request_t *req);

#ifdef __cplusplus
}
#endif
#endif
