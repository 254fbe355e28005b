/* Prints, for each line of the estimator's
 * sample files, the estimator's features and the exact cl100k_base count,
 * one line each: "file exact f0 f1 ...". tests/tokens/fit_estimator.py fits
 * the weights of lib/tokens/estimate.c from it.
 *
 * usage: calibrate FILE... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmrt/tokens.h"
#include "tokens/tokens_internal.h"

static void emit(llmrt_tokenizer_t *tk, const char *name, const char *p, size_t n) {
  if (!n) return;
  double f[LLMRT__ESTIMATE_FEATURES];
  llmrt__estimate_features(p, n, f);
  printf("%s %lld", name, (long long)llmrt_tokens_count(tk, p, n));
  for (int i = 0; i < LLMRT__ESTIMATE_FEATURES; i++)
    printf(" %g", f[i]);
  printf("\n");
}

int main(int argc, char **argv) {
  llmrt_tokenizer_t *tk;
  if (llmrt_tokenizer_new(LLMRT_ENCODING_CL100K, &tk) || !llmrt_tokenizer_exact(tk)) {
    fprintf(stderr, "calibrate: needs the cl100k_base rank file\n");
    return 1;
  }
  for (int a = 1; a < argc; a++) {
    FILE *f = fopen(argv[a], "rb");
    if (!f) {
      perror(argv[a]);
      return 1;
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const char *name = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
    size_t start = 0;
    for (size_t i = 0; i + 1 <= n; i++) {
      if (buf[i] == '\n') {
        emit(tk, name, buf + start, i + 1 - start);
        start = i + 1;
      }
    }
    emit(tk, name, buf + start, n - start);
  }
  llmrt_tokenizer_free(tk);
  return 0;
}
