/* Which encoding a model uses: the caller's rules first, then OpenAI's
 * families as tiktoken's model table lists them. */
#include <string.h>

#include "tokens/tokens_internal.h"

static const llmrt_token_rule_t builtin[] = {
    {"gpt-4o*", LLMRT_ENCODING_O200K},
    {"gpt-4.1*", LLMRT_ENCODING_O200K},
    {"gpt-4.5*", LLMRT_ENCODING_O200K},
    {"gpt-5*", LLMRT_ENCODING_O200K},
    {"chatgpt-4o*", LLMRT_ENCODING_O200K},
    {"gpt-oss*", LLMRT_ENCODING_O200K},
    {"o1*", LLMRT_ENCODING_O200K},
    {"o3*", LLMRT_ENCODING_O200K},
    {"o4*", LLMRT_ENCODING_O200K},
    {"gpt-4*", LLMRT_ENCODING_CL100K},
    {"gpt-3.5*", LLMRT_ENCODING_CL100K},
    {"gpt-35*", LLMRT_ENCODING_CL100K},
    {"text-embedding-3*", LLMRT_ENCODING_CL100K},
    {"text-embedding-ada-002", LLMRT_ENCODING_CL100K},
};

static int matches(const char *pattern, const char *model) {
  size_t n = strlen(pattern);
  if (n && pattern[n - 1] == '*') return !strncmp(pattern, model, n - 1);
  return !strcmp(pattern, model);
}

const char *llmrt_tokens_encoding_for(const llmrt_token_rule_t *rules, size_t n,
                                      const char *model) {
  if (!model) return LLMRT_ENCODING_ESTIMATE;
  for (size_t i = 0; rules && i < n; i++)
    if (rules[i].pattern && rules[i].encoding && matches(rules[i].pattern, model))
      return rules[i].encoding;
  if (!strcmp(model, LLMRT_ENCODING_O200K)) return LLMRT_ENCODING_O200K;
  if (!strcmp(model, LLMRT_ENCODING_CL100K)) return LLMRT_ENCODING_CL100K;
  if (!strcmp(model, LLMRT_ENCODING_ESTIMATE)) return LLMRT_ENCODING_ESTIMATE;
  for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
    if (matches(builtin[i].pattern, model)) return builtin[i].encoding;
  return LLMRT_ENCODING_ESTIMATE;
}
