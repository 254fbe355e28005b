/* Internal to the trim plugin (the .c files of plugins/trim). Names are trim__ so that
 * the built-in copy links beside other plugins. */
#ifndef LLMRT_TRIM_H
#define LLMRT_TRIM_H

#include <stddef.h>
#include <stdint.h>

#include "llmrt/plugin.h"

extern const llmrt_host_t *trim__H;

/* Normalization rules, each switchable. */
typedef struct {
  int trailing_ws;     /* spaces and tabs at line ends */
  int blank_lines;     /* runs of blank lines become one */
  int trim_messages;   /* whitespace at the start and end of a message */
  int collapse_spaces; /* runs of spaces inside a line become one */
  int dedupe;          /* exact duplicate messages: only the last is kept */
} trim__rules_t;

/* Writes the normalized text of in[0..n) into out (at least n bytes) and
 * returns its length, never more than n. Fenced code blocks (``` or ~~~) are
 * copied unchanged, as are leading indentation of lines. */
size_t trim__normalize(const trim__rules_t *r, const char *in, size_t n, char *out);

/* One message in the fitting, with what the budget needs to know. */
typedef struct {
  llmrt_message_t m;    /* the (normalized) message; content owned by the call's arena */
  int64_t tokens;       /* its tokens with framing */
  int keep;             /* 0 once dropped */
  uint32_t unit;        /* messages of one unit are dropped together */
  int changed;          /* normalization changed its content */
  llmrt_message_t orig; /* the message as it came (strings are the request's) */
} trim__msg_t;

/* Groups messages into units: system messages are their own units, marked
 * as such (unit 0, never dropped); the rest are turns that start at a user
 * message, joined where an assistant's tool call and its tool result would
 * otherwise fall into different turns. Returns the number of the last unit
 * (the latest user turn, never dropped). */
uint32_t trim__units(trim__msg_t *v, size_t n);

/* The memo of message counts across calls (memo.c). Loop thread only. */
typedef struct trim__memo_s trim__memo_t;
trim__memo_t *trim__memo_new(size_t size, uint64_t seed); /* NULL: size 0 or no memory */
void trim__memo_free(trim__memo_t *m);
/* msg's content must have content_len set. */
void trim__memo_key(const trim__memo_t *m, const char *model, const char *encoding,
                    const llmrt_message_t *msg, uint64_t key[2]);
int trim__memo_get(const trim__memo_t *m, const uint64_t key[2], int64_t *tokens);
void trim__memo_put(trim__memo_t *m, const uint64_t key[2], int64_t tokens);

/* The plugin's configuration (trim.c), as call.c needs it. */
typedef struct {
  int64_t context_window; /* 0: unknown */
  int64_t max_tokens_cap; /* 0: none */
  const char *encoding;   /* NULL: the runtime's choice for the model */
} trim__limits_t;

typedef struct {
  trim__rules_t rules;
  int64_t max_input_tokens;
  int64_t margin;
  int64_t max_tokens_default;
  int shorten;
  trim__memo_t *memo; /* NULL: off */
  llmrt_metric_t *m_removed, *m_dropped, *m_refused, *m_calls;
} trim__conf_t;

/* The model's limits from the configured and built-in tables. */
void trim__limits(void *state, const char *model, trim__limits_t *out);

/* on_request: the whole of a call's trimming (call.c). */
int trim__on_request(llmrt_ctx_t *ctx, const trim__conf_t *conf, const trim__limits_t *lim);

#endif
