/* Plugins registered in code (llmrt_add_plugin): an application that links
 * its plugins statically names them in the configuration like any other. */
#include <string.h>

#include "chain.h"

int llmrt_add_plugin(llmrt_t *rt, const char *name, llmrt_plugin_entry_fn entry) {
  if (!rt || !name || !*name || !entry) return LLMRT_EINVAL;
  llmrt__chain_t *ch = llmrt__chain_get(rt);
  if (!ch) return LLMRT_ENOMEM;
  for (size_t i = 0; i < ch->n_registered; i++)
    if (!strcmp(ch->registered[i].name, name)) return LLMRT_EBUSY;
  if (ch->n_registered == sizeof ch->registered / sizeof ch->registered[0]) return LLMRT_ENOMEM;
  char *copy = llmrt__strdup(name);
  if (!copy) return LLMRT_ENOMEM;
  ch->registered[ch->n_registered].name = copy;
  ch->registered[ch->n_registered].entry = entry;
  ch->n_registered++;
  return 0;
}

llmrt_plugin_entry_fn llmrt__plugin_registered(llmrt_t *rt, const char *name) {
  llmrt__chain_t *ch = rt->chain;
  if (!ch) return NULL;
  for (size_t i = 0; i < ch->n_registered; i++)
    if (!strcmp(ch->registered[i].name, name)) return ch->registered[i].entry;
  return NULL;
}

void llmrt__registry_free(llmrt__chain_t *ch) {
  for (size_t i = 0; i < ch->n_registered; i++) llmrt__free(ch->registered[i].name);
  ch->n_registered = 0;
}
