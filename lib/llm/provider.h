/* Internal to lib/llm: helpers shared by the OpenAI and Anthropic adapters. */
#ifndef LLMRT_LLM_PROVIDER_H
#define LLMRT_LLM_PROVIDER_H

#include "json.h"
#include "llm.h"

/* Tokens on the stack per stream chunk. A typical OpenAI chunk has ~25 and
 * an Anthropic event fewer; bigger documents fall back to a heap array. */
#define LLMRT__STREAM_TOKENS 256

/* One decode: the parsed document, the string arena and where events go.
 * st is NULL when a whole (non-stream) response is decoded. */
typedef struct llmrt__dec_s {
  llmrt__pstate_t *st;
  const llmrt__sink_t *sink;
  llmrt__json_t j;
  llmrt__jarena_t a;
} llmrt__dec_t;

/* ---- emit.c: the one way out to the sink ---- */

/* Hands ev to the sink; returns the sink's verdict. */
int llmrt__emit(const llmrt__dec_t *d, const llmrt_event_t *ev);
/* Emits an event of the given type with nothing but the type set. */
int llmrt__emit_type(const llmrt__dec_t *d, int type);
void llmrt__meta(const llmrt__dec_t *d, int key, const char *val, size_t len);
/* Text for messages, logs and terminals (provider.c): runs of spaces and
 * control characters become one space, invalid UTF-8 bytes U+FFFD; at most
 * cap bytes, whole characters only. Returns the length written. */
size_t llmrt__clean_text(const char *body, size_t len, char *out, size_t cap);
/* Reports string token t (if it is one) through on_meta. */
int llmrt__meta_tok(llmrt__dec_t *d, int key, int t);
/* Reports why decoding failed (on_meta PROBLEM, printf-style) and returns rc. */
int llmrt__problem(const llmrt__dec_t *d, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Emits string token t as a TEXT or THINKING delta, invalid UTF-8 as
 * U+FFFD. In a stream (d->st) an incomplete UTF-8 character at the end is
 * held back in st->carry and prepended to the next delta of the same type;
 * so is a high surrogate escape waiting for its pair. A whole response's
 * text goes out in slices (bounded memory). Empty deltas emit nothing. */
int llmrt__emit_text(llmrt__dec_t *d, int type, int t);
/* Emits whatever is held back as U+FFFD (the stream ended inside a
 * character, or the other kind of delta came). */
int llmrt__flush_text(llmrt__dec_t *d);

/* ---- utf8.c: UTF-8 without JSON or events ---- */

/* Length (0 to 3) of the incomplete tail of s[0..n) that a following byte
 * could still make a valid character. */
size_t llmrt__utf8_partial(const char *s, size_t n);
/* Length of the longest valid UTF-8 prefix of s[0..n). */
size_t llmrt__utf8_valid(const char *s, size_t n);
/* Copies s[0..n) to out (3n bytes at most) with each byte that does not
 * start a valid sequence replaced by U+FFFD; returns the length. */
size_t llmrt__utf8_clean(const char *s, size_t n, char *out);

/* ---- provider.c ---- */

/* Emits FINISH for string token t, normalized: end_turn and stop_sequence
 * become "stop", max_tokens "length", tool_use "tool_calls"; others as given.
 * Flushes held-back text first. */
int llmrt__emit_finish(llmrt__dec_t *d, int t);

/* Token counts are capped at 2^53: any count a provider can mean, exact in
 * a double (JSON readers, metrics), and sums of a few cannot overflow. */
#define LLMRT__TOKENS_MAX ((int64_t)1 << 53)
/* A token count from number token t: 0 with *out in [0, 2^53] (a fraction
 * truncated, a larger number capped), or -1 when t is absent, not a number
 * or negative (a broken server: the count is ignored). */
int llmrt__usage_count(const llmrt__json_t *j, int t, int64_t *out);
/* a + b for counts from llmrt__usage_count, saturating at 2^53. */
int64_t llmrt__usage_add(int64_t a, int64_t b);

/* The error for a provider error type: overloaded_error -> LLMRT_EOVERLOADED,
 * rate limit types -> LLMRT_ERATELIMIT, else dflt. */
int llmrt__error_for_type(const llmrt__json_t *j, int type_tok, int dflt);
/* Reports the "error" member of a body ({"error":{"type","message"}} or
 * {"error":"text"}) through on_meta and returns its code (dflt unless the
 * type says otherwise). */
int llmrt__report_error(llmrt__dec_t *d, int err_tok, int dflt);
/* Shared decode_error of both adapters. */
int llmrt__decode_error(int http_status, const char *body, size_t len, const llmrt__sink_t *sink);

/* Decodes a whole body with provider p: scans it (keep list, budget), then
 * runs p->decode_doc. The shared decode_response. */
int llmrt__decode_whole(const llmrt__provider_t *p, const char *body, size_t len,
                        const llmrt__sink_t *sink);

/* A stream event's bytes counted as idle (until content resets them). */
void llmrt__idle_add(llmrt__pstate_t *st, const llmrt__sse_event_t *ev);
/* rc, or LLMRT_EIDLETIMEOUT (with a PROBLEM) when the idle count passed
 * its limit; the last step of decode_event. */
int llmrt__idle_check(llmrt__pstate_t *st, const llmrt__sink_t *sink, int rc);

/* Parses a stream event for a decode (no keep list; a budget by size);
 * reports a PROBLEM when it fails. Pairs with llmrt__dec_end. */
int llmrt__dec_begin(llmrt__dec_t *d, llmrt__pstate_t *st, const llmrt__sink_t *sink,
                     const char *js, size_t len, llmrt__jtok_t *toks, uint32_t ntoks, char *scratch,
                     size_t scratch_len);
void llmrt__dec_end(llmrt__dec_t *d);

/* ---- Encoding ---- */
typedef struct {
  llmrt__buf_t *out;
  llmrt__json_t extra; /* parsed extra_json; n == 0 when none */
  int first;
  char *err;
  size_t errlen;
} llmrt__enc_t;

/* Parses req->extra_json (LLMRT_EINVAL with a message if it is not a JSON
 * object) and opens the body object. */
int llmrt__enc_begin(llmrt__enc_t *e, const llmrt_request_t *req, llmrt__buf_t *out, char *err,
                     size_t errlen);
/* Starts member `key`: returns 1 after writing the separator and key, 0 when
 * extra_json overrides the key (write nothing), or a negative error. */
int llmrt__enc_key(llmrt__enc_t *e, const char *key);
/* Appends extra_json's members, closes the object, frees the parse. */
int llmrt__enc_end(llmrt__enc_t *e);
void llmrt__enc_fail(llmrt__enc_t *e);

/* Checks what every provider needs (a model, messages with roles), then runs
 * body between enc_begin and enc_end; on failure out is left as it was. */
int llmrt__enc_request(const llmrt_request_t *req, llmrt__buf_t *out, char *err, size_t errlen,
                       int (*body)(llmrt__enc_t *e, const llmrt_request_t *req));
void llmrt__enc_msg(llmrt__enc_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Common numeric options: temperature, top_p (when >= 0). */
int llmrt__enc_sampling(llmrt__enc_t *e, const llmrt_request_t *req);
/* content/content_len of a message as a pointer and length ("" if NULL). */
size_t llmrt__msg_len(const llmrt_message_t *m);

/* ---- raw.c: content as raw JSON, bodies forwarded as sent ---- */

/* Length of m->content_json (0 when NULL). */
size_t llmrt__msg_json_len(const llmrt_message_t *m);
/* Writes message i's content_json (strict JSON: an array or a string, else
 * LLMRT_EINVAL naming the message) token by token. elements: write the
 * array's elements without brackets (a string becomes one text block), for
 * joining several messages into one array. */
int llmrt__enc_content_json(llmrt__enc_t *e, const llmrt_message_t *m, size_t i, int elements);

#endif
