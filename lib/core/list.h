/* Intrusive circular doubly linked lists with a sentinel head (libuv's
 * queue shape): a node unlinks itself without knowing which list holds it,
 * and nothing is allocated. Shared by every layer. */
#ifndef LLMRT_LIST_H
#define LLMRT_LIST_H

#include <stddef.h>

typedef struct llmrt__link_s {
  struct llmrt__link_s *prev, *next;
} llmrt__link_t;

static inline void llmrt__list_init(llmrt__link_t *h) {
  h->prev = h->next = h;
}
static inline int llmrt__list_empty(const llmrt__link_t *h) {
  return h->next == h;
}
/* True for a node that is in a list (nodes are initialised or unlinked to
 * point at themselves; a zeroed node has NULL). */
static inline int llmrt__list_linked(const llmrt__link_t *l) {
  return l->next != NULL && l->next != l;
}
static inline void llmrt__list_remove(llmrt__link_t *l) {
  l->prev->next = l->next;
  l->next->prev = l->prev;
  l->prev = l->next = l;
}
static inline void llmrt__list_push_front(llmrt__link_t *h, llmrt__link_t *l) {
  l->next = h->next;
  l->prev = h;
  h->next->prev = l;
  h->next = l;
}
static inline void llmrt__list_push_back(llmrt__link_t *h, llmrt__link_t *l) {
  l->prev = h->prev;
  l->next = h;
  h->prev->next = l;
  h->prev = l;
}
/* Moves every node of `from` to `to` (whatever `to` held is forgotten). */
static inline void llmrt__list_move(llmrt__link_t *from, llmrt__link_t *to) {
  llmrt__list_init(to);
  if (llmrt__list_empty(from)) return;
  to->next = from->next;
  to->prev = from->prev;
  to->next->prev = to;
  to->prev->next = to;
  llmrt__list_init(from);
}

#define LLMRT__CONTAINER(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

#endif
