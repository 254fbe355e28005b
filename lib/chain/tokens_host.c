/* Token counting behind the host table: each plugin instance gets its own
 * tokenizer per encoding (a tokenizer's scratch memory is not shared), made
 * on first use and freed with the instance. The configuration's
 * "token_encodings" ({"my-model*": "cl100k_base", ...}, in order) are
 * checked before the built-in model table. */

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "chain/chain.h"
#include "core/core.h"
#include "llmrt/tokens.h"

struct llmrt__token_rules_s {
  size_t n;
  llmrt_token_rule_t rules[]; /* strings follow in the same block */
};

int llmrt__token_rules_parse(const cJSON *v, llmrt__token_rules_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (!v) return 0;
  if (!cJSON_IsObject(v)) {
    snprintf(err, errlen, "$.token_encodings: must be an object of model patterns to encodings");
    return LLMRT_ECONFIG;
  }
  size_t n = 0, bytes = 0;
  for (const cJSON *it = v->child; it; it = it->next) {
    if (!cJSON_IsString(it) || (strcmp(it->valuestring, LLMRT_ENCODING_O200K) &&
                                strcmp(it->valuestring, LLMRT_ENCODING_CL100K) &&
                                strcmp(it->valuestring, LLMRT_ENCODING_ESTIMATE))) {
      snprintf(err, errlen,
               "$.token_encodings.%.60s: must be \"o200k_base\", \"cl100k_base\" or "
               "\"estimate\"",
               it->string);
      return LLMRT_ECONFIG;
    }
    if (!it->string[0] || strlen(it->string) > 200) {
      snprintf(err, errlen, "$.token_encodings: a model pattern must have 1 to 200 bytes");
      return LLMRT_ECONFIG;
    }
    n++;
    bytes += strlen(it->string) + 1;
  }
  if (n > 1000) {
    snprintf(err, errlen, "$.token_encodings: at most 1000 patterns");
    return LLMRT_ECONFIG;
  }
  llmrt__token_rules_t *r = llmrt__malloc(sizeof *r + n * sizeof(llmrt_token_rule_t) + bytes);
  if (!r) return LLMRT_ENOMEM;
  r->n = n;
  char *str = (char *)(r->rules + n);
  size_t i = 0;
  for (const cJSON *it = v->child; it; it = it->next, i++) {
    size_t len = strlen(it->string) + 1;
    memcpy(str, it->string, len);
    r->rules[i].pattern = str;
    str += len;
    /* The encoding names are the static ones, not the JSON's copies. */
    r->rules[i].encoding = llmrt_tokens_encoding_for(NULL, 0, it->valuestring);
  }
  *out = r;
  return 0;
}

void llmrt__token_rules_free(llmrt__token_rules_t *r) {
  llmrt__free(r);
}

static const char *encoding_for(llmrt_plugin_rt_t *prt, const char *model) {
  const llmrt__token_rules_t *r = prt->token_rules;
  return llmrt_tokens_encoding_for(r ? r->rules : NULL, r ? r->n : 0, model);
}

static const char *const names[3] = {LLMRT_ENCODING_O200K, LLMRT_ENCODING_CL100K,
                                     LLMRT_ENCODING_ESTIMATE};

static int get(llmrt_plugin_rt_t *prt, const char *encoding, llmrt_tokenizer_t **out) {
  for (int i = 0; i < 3; i++) {
    if (strcmp(encoding, names[i])) continue;
    if (!prt->tokenizers[i]) {
      int r = llmrt_tokenizer_new(names[i], &prt->tokenizers[i]);
      if (r) return r;
    }
    *out = prt->tokenizers[i];
    return 0;
  }
  return LLMRT_EINVAL;
}

int64_t llmrt__host_count_tokens(llmrt_plugin_rt_t *prt, const char *model, const char *text,
                                 size_t len, int *exact) {
  if (exact) *exact = 0;
  if (!prt || (!text && len)) return LLMRT_EINVAL;
  llmrt_tokenizer_t *tk;
  int r = get(prt, encoding_for(prt, model), &tk);
  if (r) return r;
  if (exact) *exact = llmrt_tokenizer_exact(tk);
  return llmrt_tokens_count(tk, text, len);
}

int64_t llmrt__host_count_request_tokens(llmrt_plugin_rt_t *prt, const llmrt_request_t *req,
                                         const char *encoding, int *exact) {
  if (exact) *exact = 0;
  if (!prt || !req) return LLMRT_EINVAL;
  llmrt_tokenizer_t *tk;
  int r = get(prt, encoding ? encoding : encoding_for(prt, req->model), &tk);
  if (r) return r;
  if (exact) *exact = llmrt_tokenizer_exact(tk);
  return llmrt_tokens_count_request(tk, req);
}

void llmrt__plugin_tokens_free(llmrt_plugin_rt_t *p) {
  for (int i = 0; i < 3; i++) {
    llmrt_tokenizer_free(p->tokenizers[i]);
    p->tokenizers[i] = NULL;
  }
}
