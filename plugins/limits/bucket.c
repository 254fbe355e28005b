/* Token buckets on the loop's clock: a level that refills at a constant
 * rate up to a capacity. Doubles, because rates like 30000 tokens a minute
 * are fractions of a token per millisecond. */
#include <math.h>

#include "limits_int.h"

void limits__bucket_init(lim_bucket_t *b, double cap, double rate, uint64_t now) {
  b->cap = cap;
  b->level = cap;
  b->rate = rate;
  b->t_ms = now;
}

void limits__bucket_refill(lim_bucket_t *b, uint64_t now) {
  if (now > b->t_ms) {
    b->level += (double)(now - b->t_ms) * b->rate;
    if (b->level > b->cap) b->level = b->cap;
  }
  b->t_ms = now;
}

uint64_t limits__bucket_wait(const lim_bucket_t *b, double n) {
  if (b->level >= n) return 0;
  if (b->rate <= 0) return UINT64_MAX;
  double ms = ceil((n - b->level) / b->rate);
  return ms >= 1e15 ? UINT64_MAX : (ms < 1 ? 1 : (uint64_t)ms);
}

void limits__bucket_take(lim_bucket_t *b, double n) {
  b->level -= n;
}

void limits__bucket_give(lim_bucket_t *b, double n) {
  b->level += n;
  if (b->level > b->cap) b->level = b->cap;
}
