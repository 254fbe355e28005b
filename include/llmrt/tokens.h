/* Token counting: exact byte-level BPE for OpenAI's encodings (o200k_base,
 * cl100k_base; the same ids as tiktoken's encode_ordinary) and a calibrated
 * estimator for every other model (Anthropic, unknown models, or a build
 * without the rank files). See docs/tokens.md.
 *
 * A tokenizer is one encoding plus scratch memory. It is not thread-safe:
 * use one per thread. The encodings themselves (rank tables compiled into
 * the library, the compiled pattern) are shared and immutable; the first
 * tokenizer of an encoding in a process compiles its pattern (a few
 * milliseconds), so create tokenizers at configuration time, not in a loop
 * callback. After a tokenizer has seen text of a given size, counting
 * allocates nothing.
 *
 * Text is UTF-8. Bytes that are not valid UTF-8 are counted as U+FFFD each,
 * the way llmrt writes them into a request body.
 *
 * Needs only <stddef.h>, <stdint.h> and llmrt/types.h, like plugin.h. */
#ifndef LLMRT_TOKENS_H
#define LLMRT_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "llmrt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LLMRT_ENCODING_O200K "o200k_base"
#define LLMRT_ENCODING_CL100K "cl100k_base"
#define LLMRT_ENCODING_ESTIMATE "estimate"

typedef struct llmrt_tokenizer_s llmrt_tokenizer_t;

/* One row of a model-to-encoding table: pattern is a model name, or a prefix
 * when it ends in '*' ("gpt-4o*"); encoding one of the LLMRT_ENCODING_*. */
typedef struct {
  const char *pattern;
  const char *encoding;
} llmrt_token_rule_t;

/* 1 when this build carries the rank tables of encoding (exact counting), 0
 * when it does not (counting with it falls back to the estimator) or the name
 * is unknown. */
int llmrt_tokens_have(const char *encoding);

/* The encoding for a model: the first matching row of rules (may be NULL,
 * n 0), checked in order, then the built-in table (gpt-4o*, gpt-4.1*,
 * gpt-5*, o1*, o3*, o4*, chatgpt-4o* -> o200k_base; gpt-4*, gpt-3.5* ->
 * cl100k_base), else LLMRT_ENCODING_ESTIMATE. A model that is itself an
 * encoding name maps to it. OWNERSHIP: a static string or one of rules'. */
const char *llmrt_tokens_encoding_for(const llmrt_token_rule_t *rules, size_t n, const char *model);

/* Creates a tokenizer for encoding (NULL or "estimate": the estimator). When
 * the build lacks the encoding's tables, the tokenizer estimates and
 * llmrt_tokenizer_exact says 0. OWNERSHIP: *out is the caller's, freed with
 * llmrt_tokenizer_free. Returns 0, LLMRT_EINVAL for an unknown encoding name,
 * LLMRT_ENOMEM. */
int llmrt_tokenizer_new(const char *encoding, llmrt_tokenizer_t **out);
void llmrt_tokenizer_free(llmrt_tokenizer_t *tk);

/* 1 when the tokenizer counts exactly, 0 when it estimates. */
int llmrt_tokenizer_exact(const llmrt_tokenizer_t *tk);
/* The encoding it uses: "o200k_base", "cl100k_base" or "estimate". */
const char *llmrt_tokenizer_encoding(const llmrt_tokenizer_t *tk);

/* The number of tokens of text[0..len), or LLMRT_ENOMEM (the scratch memory
 * grows with the longest piece seen). */
int64_t llmrt_tokens_count(llmrt_tokenizer_t *tk, const char *text, size_t len);

/* Token ids of text: writes at most cap ids to ids (may be NULL when cap is
 * 0) and returns how many there are in all (more than cap: call again with a
 * larger array), or a negative error: LLMRT_EINVAL for an estimating
 * tokenizer, LLMRT_ENOMEM. */
int64_t llmrt_tokens_encode(llmrt_tokenizer_t *tk, const char *text, size_t len, uint32_t *ids,
                            size_t cap);

/* Tokens of one message as part of a prompt: its role, name, content and
 * tool calls (function names and arguments), plus the provider's framing
 * (3 per message, 1 more with a name, as OpenAI counts them). */
int64_t llmrt_tokens_count_message(llmrt_tokenizer_t *tk, const llmrt_message_t *m);

/* Tokens of a whole request as the provider counts its input: every message
 * (llmrt_tokens_count_message), 3 that prime the reply, and the tool
 * definitions of extra_json's "tools" (OpenAI's function format or
 * Anthropic's, counted the way OpenAI's cookbook does). */
int64_t llmrt_tokens_count_request(llmrt_tokenizer_t *tk, const llmrt_request_t *req);

#ifdef __cplusplus
}
#endif
#endif
