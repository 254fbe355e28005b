/* The table of plugins linked into the library (generated at build time). */
#ifndef LLMRT_CHAIN_BUILTINS_H
#define LLMRT_CHAIN_BUILTINS_H
#include "llmrt/plugin.h"

typedef struct {
  const char *name;
  const llmrt_plugin_t *(*entry)(const llmrt_host_t *host);
} llmrt__builtin_t;

extern const llmrt__builtin_t llmrt__builtins[]; /* ends with {NULL, NULL} */
#endif
