/* Internal LLM protocol layer: the SSE parser and the provider adapters that
 * encode requests and decode responses and streams into llmrt_event_t.
 * Pure code: no I/O, no timers; the call layer (lib/chain) drives it. */
#ifndef LLMRT_LLM_H
#define LLMRT_LLM_H

#include "../core/core.h"

/* ---- Server-Sent Events parser (WHATWG EventSource rules) ---- */

typedef struct {
  const char *event; /* "message" when the stream gave no event field */
  size_t event_len;
  const char *data; /* data lines joined with '\n'; not NUL-terminated */
  size_t data_len;
  const char *id; /* last event id, NULL if none */
  size_t id_len;
  int64_t retry; /* -1 if no retry field */
} llmrt__sse_event_t;

/* Return 0 to go on; anything else stops llmrt__sse_feed, which returns it. */
typedef int (*llmrt__sse_cb)(void *user, const llmrt__sse_event_t *ev);

typedef struct {
  llmrt__buf_t line;  /* partial line across reads */
  llmrt__buf_t data;  /* data of the event being built */
  llmrt__buf_t event; /* event type of the event being built */
  llmrt__buf_t id;
  size_t max_event_bytes; /* an event larger than this fails with LLMRT_EBODYSIZE */
  int64_t retry;
  int skip_lf; /* a CR ended the last line: a following LF belongs to it */
  int has_data;
  int has_id;   /* an id field was seen (its value may be empty) */
  unsigned bom; /* bytes of a leading UTF-8 BOM matched; 3 once decided */
} llmrt__sse_t;

/* max_event_bytes 0 takes a default of 4 MiB. `retry` in events is the last
 * retry value the stream gave (it persists, like id), -1 if none. */
void llmrt__sse_init(llmrt__sse_t *p, size_t max_event_bytes);
void llmrt__sse_free(llmrt__sse_t *p);
/* Forgets everything of the stream so far (a new attempt's stream), keeping
 * the buffers' capacity. */
void llmrt__sse_reset(llmrt__sse_t *p);
/* Feeds bytes; calls cb for each complete event. Buffers grow to the largest
 * event seen and are reused, so steady-state parsing does not allocate.
 * Returns 0, cb's nonzero verdict (the rest of this read is then dropped),
 * LLMRT_EBODYSIZE or LLMRT_ENOMEM. An event with a data field is dispatched
 * even when its data is empty ("data:" alone, as WHATWG says); a block
 * without any data field is not. */
int llmrt__sse_feed(llmrt__sse_t *p, const char *data, size_t len, llmrt__sse_cb cb, void *user);
/* True when bytes of an unfinished event are buffered (a truncated stream). */
int llmrt__sse_pending(const llmrt__sse_t *p);

/* ---- Provider adapters ---- */

enum {
  LLMRT__META_MODEL = 1,     /* model name the provider reported */
  LLMRT__META_ID,            /* response/message id from the body */
  LLMRT__META_ERROR_TYPE,    /* provider error type ("rate_limit_error") */
  LLMRT__META_ERROR_MESSAGE, /* provider error message */
};

/* Where decoders deliver what they find. */
typedef struct {
  void *user;
  /* Return 0 to go on; nonzero stops decoding and is returned by it. */
  int (*on_event)(void *user, const llmrt_event_t *ev);
  void (*on_meta)(void *user, int key, const char *val, size_t len);
} llmrt__sink_t;

/* Decoder state of one streamed response. Zero it (llmrt__pstate_init) per
 * attempt. Fixed size: the hot path never allocates (JSON is scanned into a
 * token array on the stack and strings are decoded into scratch; only a
 * chunk with more than 256 JSON values or 8 KiB of escaped strings takes a
 * temporary heap block, freed before decode_event returns).
 *
 * What the decoders emit, for both providers:
 *  - START once, after on_meta MODEL and ID (first chunk / message_start);
 *  - TEXT and THINKING deltas, never ending inside a UTF-8 character (an
 *    incomplete tail waits in utf8_carry for the next delta), index 0;
 *  - TOOL_CALL: index = tool call ordinal (0, 1, ...; for Anthropic not the
 *    content block index); id and name on the first fragment with text "",
 *    then argument fragments; a full response gives one event per call with
 *    the whole arguments JSON;
 *  - USAGE with running totals. input_tokens counts all prompt tokens,
 *    cached included (Anthropic: input + cache_read + cache_creation),
 *    cached_tokens the cache reads (OpenAI prompt_tokens_details);
 *  - FINISH, normalized: stop, length, tool_calls, content_filter (others
 *    as given). Streams give events in wire order (OpenAI: FINISH, then the
 *    usage chunk; Anthropic message_delta: FINISH then USAGE); a full
 *    response gives START, THINKING, TEXT, TOOL_CALL..., USAGE, FINISH. */
typedef struct {
  int done;    /* [DONE] or message_stop seen */
  int started; /* START emitted */
  int64_t input_tokens, output_tokens, cached_tokens;
  unsigned char utf8_carry[4]; /* incomplete UTF-8 tail held back from a delta */
  unsigned utf8_carry_len;
  int utf8_carry_type;     /* LLMRT_EV_TEXT or LLMRT_EV_THINKING: whose tail it is */
  uint32_t utf16_hi;       /* a \uD8xx escape ended the last delta: its pair may follow */
  uint32_t n_tools;        /* Anthropic: tool_use blocks seen */
  uint32_t open_block;     /* Anthropic: index of the block last started */
  uint32_t open_tool;      /* Anthropic: its tool call ordinal */
  int has_open_block;      /* Anthropic: a block was started */
  uint32_t block_tool[64]; /* Anthropic: tool call ordinal by block index (fallback) */
  char scratch[8192];      /* decoded (unescaped) strings of the current chunk */
} llmrt__pstate_t;

void llmrt__pstate_init(llmrt__pstate_t *st);

/* Stream decoders return 0 to go on, LLMRT__STREAM_DONE at the end of the
 * stream, or a negative error: LLMRT_EUPSTREAM (and friends) for an error
 * event (after on_meta gave its type and message), LLMRT_EBADRESPONSE for
 * malformed JSON. */
#define LLMRT__STREAM_DONE 1

typedef struct {
  const char *name;                    /* "openai", "anthropic" */
  const char *path;                    /* appended to base_url */
  const char *auth_header;             /* "Authorization" / "x-api-key" */
  const char *auth_prefix;             /* "Bearer " / "" */
  const llmrt_header_t *extra_headers; /* e.g. anthropic-version */
  size_t n_extra_headers;

  /* Appends the JSON body for req to out. Streaming requests ask for usage.
   * extra_json's members are merged on top (its keys replace ours). Errors:
   * LLMRT_EINVAL with a message in err (no model or messages, a message
   * without role, a bad extra_json or tool_calls_json: both are read as
   * strict JSON, nothing after the value, and written out again, never
   * copied raw; a non-finite number), LLMRT_ENOMEM; out is left as it was.
   * Invalid UTF-8 in strings is sent as U+FFFD. */
  int (*encode)(const llmrt_request_t *req, llmrt__buf_t *out, char *err, size_t errlen);
  /* Decodes a complete non-streamed JSON response into events: START,
   * THINKING, TEXT (whole text as one event), TOOL_CALL, USAGE, FINISH.
   * An error object in the body reports through on_meta and returns its
   * code; malformed JSON or a body without choices/content is
   * LLMRT_EBADRESPONSE. A nonzero return of on_event stops and is returned. */
  int (*decode_response)(const char *body, size_t len, const llmrt__sink_t *sink);
  /* Decodes one SSE event of a streamed response. */
  int (*decode_event)(llmrt__pstate_t *st, const llmrt__sse_event_t *ev, const llmrt__sink_t *sink);
  /* Decodes an error body (any status >= 400, JSON or not), reports type and
   * message through on_meta, and returns the error code for the status
   * (LLMRT_EAUTH, LLMRT_ERATELIMIT, LLMRT_EOVERLOADED, LLMRT_EUPSTREAM). */
  int (*decode_error)(int http_status, const char *body, size_t len, const llmrt__sink_t *sink);
} llmrt__provider_t;

const llmrt__provider_t *llmrt__provider_find(const char *api); /* NULL if unknown */

extern const llmrt__provider_t llmrt__provider_openai;
extern const llmrt__provider_t llmrt__provider_anthropic;

#endif
