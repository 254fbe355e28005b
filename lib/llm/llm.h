/* Internal LLM protocol layer: the SSE parser and the provider adapters that
 * encode requests and decode responses and streams into llmrt_event_t.
 * Pure code: no I/O, no timers; the call layer (lib/chain) drives it. */
#ifndef LLMRT_LLM_H
#define LLMRT_LLM_H

#include "../core/core.h"
#include "json.h"

/* ---- Server-Sent Events parser (WHATWG EventSource rules) ---- */

typedef struct {
  const char *event; /* "message" when the stream gave no event field */
  size_t event_len;
  const char *data; /* data lines joined with '\n'; not NUL-terminated */
  size_t data_len;
  const char *id; /* last event id, NULL if none */
  size_t id_len;
  int64_t retry; /* -1 if no retry field */
  size_t noise;  /* bytes of comments and data-less blocks since the last event */
} llmrt__sse_event_t;

/* Return 0 to go on; anything else stops llmrt__sse_feed, which returns it. */
typedef int (*llmrt__sse_cb)(void *user, const llmrt__sse_event_t *ev);

typedef struct {
  llmrt__buf_t line;  /* partial line across reads */
  llmrt__buf_t data;  /* data of the event being built */
  llmrt__buf_t event; /* event type of the event being built */
  llmrt__buf_t id;
  size_t max_event_bytes; /* an event larger than this fails with LLMRT_EBODYSIZE */
  size_t max_idle_bytes;  /* more noise than this between events: LLMRT_EIDLETIMEOUT */
  size_t noise;           /* bytes of comments and data-less blocks since the last event */
  int64_t retry;
  int skip_lf; /* a CR ended the last line: a following LF belongs to it */
  int has_data;
  int has_id;   /* an id field was seen (its value may be empty) */
  unsigned bom; /* bytes of a leading UTF-8 BOM matched; 3 once decided */
} llmrt__sse_t;

#define LLMRT__SSE_DEFAULT_EVENT (1u << 20) /* max_sse_event_bytes default */
#define LLMRT__SSE_DEFAULT_IDLE (64u << 10) /* max_sse_idle_bytes default */

/* max_event_bytes 0 takes the default of 1 MiB; max_idle_bytes (set it
 * after init, 0: never) starts at 64 KiB. `retry` in events is the last
 * retry value the stream gave (it persists, like id), -1 if none. */
void llmrt__sse_init(llmrt__sse_t *p, size_t max_event_bytes);
void llmrt__sse_free(llmrt__sse_t *p);
/* Forgets everything of the stream so far (a new attempt's stream), keeping
 * the buffers' capacity. */
void llmrt__sse_reset(llmrt__sse_t *p);
/* Feeds bytes; calls cb for each complete event. Buffers grow to the largest
 * event seen and are reused, so steady-state parsing does not allocate.
 * Returns 0, cb's nonzero verdict (the rest of this read is then dropped),
 * LLMRT_EBODYSIZE (a line or event over max_event_bytes), LLMRT_EIDLETIMEOUT
 * (more than max_idle_bytes of comments, blank lines and data-less blocks
 * in a row: a stream that keeps the connection busy with nothing; each
 * event reports the noise before it in ev->noise, for the decoder to count
 * on) or LLMRT_ENOMEM. An event with a data field is dispatched
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
  LLMRT__META_PROBLEM,       /* why decoding failed, a phrase such as "a malformed JSON
                                response: at byte 17 of 40: unterminated string" */
};

/* Where decoders deliver what they find. */
typedef struct {
  void *user;
  /* Return 0 to go on; nonzero stops decoding and is returned by it. */
  int (*on_event)(void *user, const llmrt_event_t *ev);
  void (*on_meta)(void *user, int key, const char *val, size_t len);
} llmrt__sink_t;

/* The incomplete tail of a text delta, held for the next one. */
typedef struct {
  unsigned char b[4]; /* a valid prefix of a UTF-8 character */
  unsigned len;
  int type;    /* LLMRT_EV_TEXT or LLMRT_EV_THINKING: whose tail it is */
  uint32_t hi; /* a \uD8xx escape ended the last delta: its pair may follow */
} llmrt__carry_t;

/* Decoder state of one response. Zero it (llmrt__pstate_init) per attempt.
 * Fixed size: the hot path never allocates (JSON is scanned into a token
 * array on the stack and strings are decoded into scratch; only a chunk
 * with more than 256 JSON values or 8 KiB of escaped strings takes a
 * temporary heap block, freed before decode_event returns).
 *
 * What the decoders emit, for both providers:
 *  - START once, after on_meta MODEL and ID (first chunk / message_start);
 *  - TEXT and THINKING deltas, valid UTF-8 (bytes that are not become
 *    U+FFFD) never ending inside a character (an incomplete tail waits in
 *    the carry for the next delta), index 0; a full response's text comes
 *    in pieces of at most 16 KiB of the body;
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
  llmrt__carry_t carry;
  uint64_t idle_bytes;     /* bytes of events without content since the last content */
  size_t max_idle_bytes;   /* more fails with LLMRT_EIDLETIMEOUT; 0: the default */
  uint32_t n_tools;        /* Anthropic: tool_use blocks seen */
  uint32_t open_block;     /* Anthropic: index of the block last started */
  uint32_t open_tool;      /* Anthropic: its tool call ordinal */
  int has_open_block;      /* Anthropic: a block was started */
  uint32_t block_tool[64]; /* Anthropic: tool call ordinal by block index (fallback) */
  char scratch[8192];      /* decoded (unescaped) strings of the current chunk */
  llmrt__jscan_t body;     /* a whole body scanned as it arrives (llmrt__body_*) */
  const struct llmrt__provider_s *body_prov;
} llmrt__pstate_t;

void llmrt__pstate_init(llmrt__pstate_t *st);

/* Stream decoders return 0 to go on, LLMRT__STREAM_DONE at the end of the
 * stream, or a negative error: LLMRT_EUPSTREAM (and friends) for an error
 * event (after on_meta gave its type and message), LLMRT_EBADRESPONSE for
 * malformed JSON or an event of the wrong shape, LLMRT_EIDLETIMEOUT after
 * more than max_idle_bytes of events (and SSE noise) without content
 * (after on_meta PROBLEM said why). */
#define LLMRT__STREAM_DONE 1

struct llmrt__dec_s;

typedef struct llmrt__provider_s {
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
   * LLMRT_EBADRESPONSE, after on_meta PROBLEM said what and where. A
   * nonzero return of on_event stops and is returned. Memory: the body's
   * tokens on the paths read (keep, budget), and 64 KiB to decode text. */
  int (*decode_response)(const char *body, size_t len, const llmrt__sink_t *sink);
  /* The same over a document already scanned with keep (lib/llm only). */
  int (*decode_doc)(struct llmrt__dec_s *d);
  const llmrt__jkeep_t *keep; /* members decode_doc reads */
  uint32_t n_keep;
  /* Decodes one SSE event of a streamed response. */
  int (*decode_event)(llmrt__pstate_t *st, const llmrt__sse_event_t *ev, const llmrt__sink_t *sink);
  /* Decodes an error body (any status >= 400, JSON or not), reports type and
   * message through on_meta, and returns the error code for the status
   * (LLMRT_EAUTH, LLMRT_ERATELIMIT, LLMRT_EOVERLOADED, LLMRT_EUPSTREAM).
   * body may be the first bytes of a longer body: JSON cut short is read
   * as far as it goes (an "error" object that came first is found). */
  int (*decode_error)(int http_status, const char *body, size_t len, const llmrt__sink_t *sink);
} llmrt__provider_t;

const llmrt__provider_t *llmrt__provider_find(const char *api); /* NULL if unknown */

extern const llmrt__provider_t llmrt__provider_openai;
extern const llmrt__provider_t llmrt__provider_anthropic;

/* ---- Whole (non-streamed) bodies, scanned as they arrive ---- */

/* Token budget of a whole document or stream event of len bytes: a floor
 * for ordinary responses plus one token per 64 bytes. With the keep lists a
 * real response needs a few dozen; so the scan's memory is bounded by
 * (LLMRT__JSON_TOKENS_BASE + len / 64) * sizeof(llmrt__jtok_t) whatever
 * the body holds. */
#define LLMRT__JSON_TOKENS_BASE 16384u
#define LLMRT__JSON_TOKENS_SHIFT 6

/* Starts scanning a JSON body for provider p into st->body. Pair with
 * llmrt__body_end on every path (it frees what the scan holds). */
void llmrt__body_begin(llmrt__pstate_t *st, const llmrt__provider_t *p);
/* Scans what is new in js[0..len) (the body so far, in one buffer).
 * Returns 0 or LLMRT_EBADRESPONSE (malformed: the rest is not worth
 * buffering) or LLMRT_ENOMEM; on_meta PROBLEM tells why. */
int llmrt__body_feed(llmrt__pstate_t *st, const char *js, size_t len, const llmrt__sink_t *sink);
/* Decodes the whole body js[0..len) as decode_response does, from the scan. */
int llmrt__body_decode(llmrt__pstate_t *st, const char *js, size_t len, const llmrt__sink_t *sink);
void llmrt__body_end(llmrt__pstate_t *st);

/* raw.c: Appends req->raw_body with its top-level "model" value replaced by
 * req->model when they differ (added first when the body has none), every
 * other byte as sent. LLMRT_EINVAL (message in err) when it is not a JSON
 * object; out is left as it was on failure. */
int llmrt__raw_body(const llmrt_request_t *req, llmrt__buf_t *out, char *err, size_t errlen);

#endif
