/* llmrt tokens: counts the tokens of files or stdin the way the runtime
 * does (exactly for OpenAI's encodings, estimated otherwise), and prints the
 * token ids with --ids, to check a prompt's size as one would with tiktoken. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getopt_long */
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "llmrt.h"
#include "llmrt/tokens.h"

static void tokens_usage(FILE *f) {
  fprintf(f, "usage: llmrt tokens [--model M | --encoding E] [--ids] [FILE...]\n"
             "\n"
             "Prints the token count of each FILE (\"COUNT FILE\", then \"COUNT total\" for\n"
             "more than one), or of stdin when there is no FILE or FILE is \"-\".\n"
             "\n"
             "  -m, --model M      count as model M does (default gpt-4o): gpt-4o*, gpt-4.1*,\n"
             "                     gpt-5*, o1/o3/o4* use o200k_base; gpt-4*, gpt-3.5*\n"
             "                     cl100k_base; other models (claude-*...) are estimated\n"
             "  -e, --encoding E   o200k_base, cl100k_base or estimate\n"
             "      --ids          print the token ids, one per line, instead of the count\n"
             "                     (one input; exact encodings only)\n"
             "  -h, --help         this help\n"
             "\n"
             "Invalid UTF-8 bytes count as U+FFFD each, as llmrt sends them. A note on\n"
             "stderr says when counts are estimates.\n"
             "Exit status: 0 ok, 1 a file cannot be read or out of memory, 2 usage\n"
             "(bad option, unknown encoding, --ids with an estimate or several inputs).\n");
}

/* Reads all of f. Returns NULL on a read error or out of memory. */
static char *read_all(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  for (;;) {
    if (n == cap) {
      char *p = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
      if (!p) {
        free(buf);
        return NULL;
      }
      buf = p;
      cap *= 2;
    }
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (k == 0) break;
  }
  if (ferror(f)) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

static int print_ids(llmrt_tokenizer_t *tk, const char *text, size_t len) {
  int64_t n = llmrt_tokens_encode(tk, text, len, NULL, 0);
  if (n < 0) return (int)n;
  uint32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
  if (!ids) return LLMRT_ENOMEM;
  n = llmrt_tokens_encode(tk, text, len, ids, (size_t)n);
  for (int64_t i = 0; i < n; i++)
    printf("%" PRIu32 "\n", ids[i]);
  free(ids);
  return n < 0 ? (int)n : 0;
}

int llmrt_cmd_tokens(int argc, char **argv) {
  static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                       {"encoding", required_argument, NULL, 'e'},
                                       {"ids", no_argument, NULL, 'i'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *model = NULL, *encoding = NULL;
  int ids = 0, c;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":m:e:h", opts, NULL)) != -1) {
    switch (c) {
    case 'm':
      model = optarg;
      break;
    case 'e':
      encoding = optarg;
      break;
    case 'i':
      ids = 1;
      break;
    case 'h':
      tokens_usage(stdout);
      return EXIT_OK;
    default:
      llmrt_tool_bad_option("tokens", c, argv);
      return EXIT_USAGE;
    }
  }
  if (model && encoding) {
    fprintf(stderr, "llmrt tokens: give --model or --encoding, not both\n");
    return EXIT_USAGE;
  }
  if (model && !*model) {
    fprintf(stderr, "llmrt tokens: --model needs a model name\n");
    return EXIT_USAGE;
  }
  if (encoding && strcmp(encoding, LLMRT_ENCODING_O200K) &&
      strcmp(encoding, LLMRT_ENCODING_CL100K) && strcmp(encoding, LLMRT_ENCODING_ESTIMATE)) {
    char esc[64];
    llmrt_tool_escape(esc, sizeof esc, encoding, 40);
    fprintf(stderr, "llmrt tokens: unknown encoding '%s' (o200k_base, cl100k_base, estimate)\n",
            esc);
    return EXIT_USAGE;
  }
  if (!encoding) encoding = llmrt_tokens_encoding_for(NULL, 0, model ? model : "gpt-4o");
  int n_inputs = argc - optind;
  if (ids && n_inputs > 1) {
    fprintf(stderr, "llmrt tokens: --ids takes one input\n");
    return EXIT_USAGE;
  }
  llmrt_tokenizer_t *tk;
  if (llmrt_tokenizer_new(encoding, &tk)) {
    fprintf(stderr, "llmrt tokens: out of memory\n");
    return EXIT_FAIL;
  }
  if (!llmrt_tokenizer_exact(tk)) {
    if (ids) {
      fprintf(stderr, "llmrt tokens: --ids needs an exact encoding; %s is estimated%s\n",
              model ? "this model" : encoding,
              strcmp(encoding, LLMRT_ENCODING_ESTIMATE) ? " (this build has no rank files)" : "");
      llmrt_tokenizer_free(tk);
      return EXIT_USAGE;
    }
    if (strcmp(encoding, LLMRT_ENCODING_ESTIMATE))
      fprintf(stderr, "llmrt tokens: this build has no %s rank files: counts are estimates\n",
              encoding);
    else if (model)
      fprintf(stderr, "llmrt tokens: no exact tokenizer for this model: counts are estimates\n");
    else
      fprintf(stderr, "llmrt tokens: counts are estimates\n");
  }
  int rc = EXIT_OK;
  int64_t total = 0;
  for (int i = 0; i < (n_inputs ? n_inputs : 1); i++) {
    const char *name = n_inputs ? argv[optind + i] : "-";
    int is_stdin = !strcmp(name, "-");
    FILE *f = is_stdin ? stdin : fopen(name, "rb");
    char esc[300];
    llmrt_tool_escape(esc, sizeof esc, name, 256);
    if (!f) {
      fprintf(stderr, "llmrt tokens: %s: %s\n", esc, strerror(errno));
      rc = EXIT_FAIL;
      continue;
    }
    size_t len = 0;
    char *text = read_all(f, &len);
    if (!is_stdin) fclose(f);
    if (!text) {
      fprintf(stderr, "llmrt tokens: %s: cannot read it (read error or out of memory)\n", esc);
      rc = EXIT_FAIL;
      continue;
    }
    if (ids) {
      if (print_ids(tk, text, len) < 0) {
        fprintf(stderr, "llmrt tokens: out of memory\n");
        rc = EXIT_FAIL;
      }
    } else {
      int64_t n = llmrt_tokens_count(tk, text, len);
      if (n < 0) {
        fprintf(stderr, "llmrt tokens: %s: out of memory\n", esc);
        rc = EXIT_FAIL;
      } else {
        total += n;
        if (n_inputs)
          printf("%" PRId64 " %s\n", n, esc);
        else
          printf("%" PRId64 "\n", n);
      }
    }
    free(text);
  }
  if (!ids && n_inputs > 1) printf("%" PRId64 " total\n", total);
  llmrt_tokenizer_free(tk);
  if (fflush(stdout) != 0 && rc == EXIT_OK) rc = EXIT_FAIL;
  return rc;
}
