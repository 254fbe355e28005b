/* Token counting throughput: MB/s of the exact counter (o200k_base and
 * cl100k_base) and of the estimator on English, code and CJK text (the
 * committed estimator sample, repeated to a few MB), with a plain byte scan
 * (counting spaces and newlines) as the ceiling, all in the same run.
 * Prints medians of several runs (thread CPU time) and the ratio of each to
 * the byte scan.
 *
 * usage: bench_tokens [MB per text, default 4] [runs, default 5] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmrt/tokens.h"

#ifndef LLMRT_BENCH_DATA
#define LLMRT_BENCH_DATA "tests/tokens/data/sample"
#endif

/* CPU time of this thread: on a machine shared with other jobs, wall time
 * measures the neighbours as much as the code. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static char *load(const char *name, size_t want, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", LLMRT_BENCH_DATA, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  static char one[1 << 16];
  size_t n = fread(one, 1, sizeof one, f);
  fclose(f);
  char *buf = malloc(want + n);
  size_t o = 0;
  while (o < want) {
    memcpy(buf + o, one, n);
    o += n;
  }
  *len = o;
  return buf;
}

static volatile int64_t sink;

static int64_t byte_scan(const char *s, size_t n) {
  int64_t k = 0;
  for (size_t i = 0; i < n; i++)
    k += s[i] == ' ' || s[i] == '\n';
  return k;
}

/* Median MB/s of counting text with tk (NULL: the byte scan). */
static double measure(llmrt_tokenizer_t *tk, const char *text, size_t len, int runs) {
  double mbs[32];
  for (int r = 0; r < runs; r++) {
    double t0 = now();
    sink = tk ? llmrt_tokens_count(tk, text, len) : byte_scan(text, len);
    mbs[r] = (double)len / 1e6 / (now() - t0);
  }
  qsort(mbs, (size_t)runs, sizeof *mbs, cmp);
  return mbs[runs / 2];
}

int main(int argc, char **argv) {
  size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 4;
  int runs = argc > 2 ? atoi(argv[2]) : 5;
  if (mb < 1 || runs < 1 || runs > 31) {
    fprintf(stderr, "usage: bench_tokens [MB] [runs 1..31]\n");
    return 2;
  }
  const char *texts[] = {"english.txt", "code.txt", "cjk.txt"};
  const char *encs[] = {LLMRT_ENCODING_O200K, LLMRT_ENCODING_CL100K, LLMRT_ENCODING_ESTIMATE};
  llmrt_tokenizer_t *tk[3];
  for (int e = 0; e < 3; e++)
    if (llmrt_tokenizer_new(encs[e], &tk[e])) return 1;
  printf("bench_tokens: %zu MB per text, median of %d runs, MB/s of thread CPU time (ratio to "
         "byte scan)\n",
         mb, runs);
  printf("%-12s %18s %18s %18s %18s\n", "text", "byte scan", encs[0], encs[1], encs[2]);
  for (int t = 0; t < 3; t++) {
    size_t len;
    char *text = load(texts[t], mb << 20, &len);
    for (int e = 0; e < 3; e++) /* warm-up: scratch memory grows to the longest piece */
      llmrt_tokens_count(tk[e], text, len < (1 << 20) ? len : (1 << 20));
    double base = measure(NULL, text, len, runs);
    printf("%-12s %10.0f (1.000)", texts[t], base);
    for (int e = 0; e < 3; e++) {
      double v = measure(tk[e], text, len, runs);
      printf(" %10.1f (%.3f)%s", v, v / base, llmrt_tokenizer_exact(tk[e]) || e == 2 ? "" : "*");
    }
    printf("\n");
    free(text);
  }
  for (int e = 0; e < 3; e++) {
    if (e < 2 && !llmrt_tokenizer_exact(tk[e]))
      printf("* %s: no rank files in this build, the estimator ran\n", encs[e]);
    llmrt_tokenizer_free(tk[e]);
  }
  return 0;
}
