/* The tokenizer object: pre-tokenization with the encoding's pattern
 * (PCRE2, JIT), then byte-pair merging of each piece (bpe.c). */
#include <string.h>

#include "core/core.h"
#include "tokens/tokens_internal.h"

/* llmrt's UTF-8 repair (lib/llm/utf8.c), as the request writer applies it. */
size_t llmrt__utf8_valid(const char *str, size_t n);
size_t llmrt__utf8_clean(const char *str, size_t n, char *out);

/* PCRE2's memory through llmrt's allocator, so torture tests reach it. */
static void *pmalloc(PCRE2_SIZE n, void *data) {
  (void)data;
  return llmrt__malloc(n);
}
static void pfree(void *p, void *data) {
  (void)data;
  llmrt__free(p);
}

int llmrt_tokenizer_new(const char *encoding, llmrt_tokenizer_t **out) {
  *out = NULL;
  const llmrt__encoding_t *enc = NULL;
  if (encoding && strcmp(encoding, LLMRT_ENCODING_ESTIMATE)) {
    int r = llmrt__encoding_get(encoding, &enc);
    if (r) return r;
  }
  llmrt_tokenizer_t *tk = llmrt__calloc(1, sizeof *tk);
  if (!tk) return LLMRT_ENOMEM;
  tk->enc = enc;
  tk->encoding = enc ? enc->name : LLMRT_ENCODING_ESTIMATE;
  tk->o200k = enc && !strcmp(enc->name, LLMRT_ENCODING_O200K);
  if (enc) {
    pcre2_general_context *gc = pcre2_general_context_create(pmalloc, pfree, NULL);
    if (gc) tk->md = pcre2_match_data_create(1, gc);
    pcre2_general_context_free(gc);
    if (!tk->md) {
      llmrt__free(tk);
      return LLMRT_ENOMEM;
    }
  }
  *out = tk;
  return 0;
}

void llmrt_tokenizer_free(llmrt_tokenizer_t *tk) {
  if (!tk) return;
  pcre2_match_data_free(tk->md);
  llmrt__bpe_scratch_free(&tk->s);
  llmrt__free(tk->fix);
  llmrt__free(tk);
}

int llmrt_tokenizer_exact(const llmrt_tokenizer_t *tk) {
  return tk && tk->enc != NULL;
}

const char *llmrt_tokenizer_encoding(const llmrt_tokenizer_t *tk) {
  return tk ? tk->encoding : LLMRT_ENCODING_ESTIMATE;
}

/* Valid UTF-8 as the pattern needs it: the text itself, or its repaired copy
 * in the tokenizer's buffer. */
static int valid_text(llmrt_tokenizer_t *tk, const char **text, size_t *len) {
  size_t v = llmrt__utf8_valid(*text, *len);
  if (v == *len) return 0;
  if (*len > (SIZE_MAX - 1) / 3) return LLMRT_ENOMEM;
  size_t need = *len * 3;
  if (need > tk->fix_cap) {
    char *p = llmrt__realloc(tk->fix, need);
    if (!p) return LLMRT_ENOMEM;
    tk->fix = p;
    tk->fix_cap = need;
  }
  memcpy(tk->fix, *text, v);
  *len = v + llmrt__utf8_clean(*text + v, *len - v, tk->fix + v);
  *text = tk->fix;
  return 0;
}

typedef struct {
  uint32_t *ids;
  size_t cap, n;
} sink_t;

static void put(void *arg, uint32_t rank) {
  sink_t *s = arg;
  if (s->n < s->cap) s->ids[s->n] = rank;
  s->n++;
}

static int64_t run(llmrt_tokenizer_t *tk, const char *text, size_t len, sink_t *sink) {
  int r = valid_text(tk, &text, &len);
  if (r) return r;
  const llmrt__encoding_t *e = tk->enc;
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tk->md);
  int64_t total = 0;
  size_t at = 0;
  const unsigned char *u = (const unsigned char *)text;
  while (at < len) {
    size_t fe;
    if (u[at] < 0x80 && !tk->no_fast && llmrt__pretok_ascii(tk->o200k, u, len, at, &fe)) {
      int64_t k = llmrt__bpe_piece(e, &tk->s, u + at, fe - at, sink ? put : NULL, sink);
      if (k < 0) return k;
      total += k;
      at = fe;
      continue;
    }
    int rc = pcre2_jit_match(e->re, (PCRE2_SPTR)text, len, at, PCRE2_NO_UTF_CHECK, tk->md, NULL);
    if (rc == PCRE2_ERROR_JIT_BADOPTION) /* no JIT on this machine: the interpreter */
      rc = pcre2_match(e->re, (PCRE2_SPTR)text, len, at, PCRE2_NO_UTF_CHECK, tk->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) return rc == PCRE2_ERROR_NOMEMORY ? LLMRT_ENOMEM : LLMRT_EINVAL;
    size_t s = ov[0], t = ov[1];
    if (t <= s) { /* the patterns never match empty; guard the loop anyway */
      at = s + 1;
      continue;
    }
    int64_t k = llmrt__bpe_piece(e, &tk->s, (const unsigned char *)text + s, t - s,
                                 sink ? put : NULL, sink);
    if (k < 0) return k;
    total += k;
    at = t;
  }
  return total;
}

int64_t llmrt_tokens_count(llmrt_tokenizer_t *tk, const char *text, size_t len) {
  if (!tk || (!text && len)) return LLMRT_EINVAL;
  if (!len) return 0;
  if (!tk->enc) return llmrt__estimate(text, len);
  return run(tk, text, len, NULL);
}

int64_t llmrt_tokens_encode(llmrt_tokenizer_t *tk, const char *text, size_t len, uint32_t *ids,
                            size_t cap) {
  if (!tk || !tk->enc || (!text && len) || (!ids && cap)) return LLMRT_EINVAL;
  if (!len) return 0;
  sink_t sink = {ids, cap, 0};
  int64_t n = run(tk, text, len, &sink);
  return n;
}
