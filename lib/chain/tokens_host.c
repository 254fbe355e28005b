/* Token counting behind the host table: each plugin instance gets its own
 * tokenizer per encoding (a tokenizer's scratch memory is not shared), made
 * on first use and freed with the instance. */
#include <string.h>

#include "chain/chain.h"
#include "core/core.h"
#include "llmrt/tokens.h"

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
  int r = get(prt, llmrt_tokens_encoding_for(NULL, 0, model), &tk);
  if (r) return r;
  if (exact) *exact = llmrt_tokenizer_exact(tk);
  return llmrt_tokens_count(tk, text, len);
}

int64_t llmrt__host_count_request_tokens(llmrt_plugin_rt_t *prt, const llmrt_request_t *req,
                                         const char *encoding, int *exact) {
  if (exact) *exact = 0;
  if (!prt || !req) return LLMRT_EINVAL;
  llmrt_tokenizer_t *tk;
  int r = get(prt, encoding ? encoding : llmrt_tokens_encoding_for(NULL, 0, req->model), &tk);
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
