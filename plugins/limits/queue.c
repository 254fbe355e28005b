/* The wait queue: every waiting call is on two lists, one in arrival order
 * (for aging: a call that waited max_age_ms goes before any priority) and
 * one by priority, higher first and FIFO within a priority (by seq). Insertion
 * walks the lists from their tails, so a new call of one priority (the usual
 * case) is appended in constant time. */
#include "limits_int.h"

void limits__queue_push(lim_queue_t *q, lim_call_t *c) {
  c->anext = NULL;
  c->aprev = q->atail;
  if (q->atail)
    q->atail->anext = c;
  else
    q->ahead = c;
  q->atail = c;

  lim_call_t *after = q->ptail;
  while (after && after->prio < c->prio)
    after = after->pprev;
  c->pprev = after;
  c->pnext = after ? after->pnext : q->phead;
  if (c->pnext)
    c->pnext->pprev = c;
  else
    q->ptail = c;
  if (after)
    after->pnext = c;
  else
    q->phead = c;
  q->len++;
}

void limits__queue_remove(lim_queue_t *q, lim_call_t *c) {
  if (c->aprev)
    c->aprev->anext = c->anext;
  else
    q->ahead = c->anext;
  if (c->anext)
    c->anext->aprev = c->aprev;
  else
    q->atail = c->aprev;
  if (c->pprev)
    c->pprev->pnext = c->pnext;
  else
    q->phead = c->pnext;
  if (c->pnext)
    c->pnext->pprev = c->pprev;
  else
    q->ptail = c->pprev;
  c->anext = c->aprev = c->pnext = c->pprev = NULL;
  q->len--;
}
