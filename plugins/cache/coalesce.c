/* Coalescing: identical cacheable calls that miss while one of them is in
 * flight wait for it (followers) instead of going upstream. The leader's
 * events are recorded in the flight; from the first content event on, each
 * event reaches every follower as the leader receives it, and a follower
 * that joins later first gets the recording so far. Followers are paused in
 * their on_request, where the host lets this plugin emit for them and
 * answer or fail them. */
#include <string.h>

#include "cache.h"

static size_t bucket(const cache_t *c, const uint8_t key[CACHE_KEY_LEN]) {
  uint64_t h;
  memcpy(&h, key, sizeof h);
  return h & (c->n_flight_buckets - 1);
}

cache_flight_t *cache__flight_find(cache_t *c, const uint8_t key[CACHE_KEY_LEN]) {
  for (cache_flight_t *f = c->flights[bucket(c, key)]; f; f = f->hnext)
    if (!memcmp(f->key, key, CACHE_KEY_LEN)) return f;
  return NULL;
}

static void link_flight(cache_t *c, cache_flight_t *f) {
  size_t b = bucket(c, f->key);
  f->hnext = c->flights[b];
  c->flights[b] = f;
}

static void unlink_flight(cache_t *c, cache_flight_t *f) {
  cache_flight_t **pp = &c->flights[bucket(c, f->key)];
  while (*pp && *pp != f)
    pp = &(*pp)->hnext;
  if (*pp) *pp = f->hnext;
  f->hnext = NULL;
}

int cache__flight_open(cache_t *c, cache_call_t *cc) {
  cache_flight_t *f = H->calloc(1, sizeof *f);
  if (!f) return LLMRT_ENOMEM;
  memcpy(f->key, cc->key, CACHE_KEY_LEN);
  cache__rec_init(&f->rec, c->max_entry_bytes);
  f->leader = cc;
  link_flight(c, f);
  cc->flight = f;
  cc->role = CC_LEADER;
  return 0;
}

/* Feeds a follower the recorded events it has not had yet. */
static void feed(cache_flight_t *f, cache_call_t *fc) {
  while (fc->fed < f->rec.n_ev) {
    llmrt_event_t ev;
    cache__ev_get(&f->rec.ev[fc->fed], f->rec.blob, &ev);
    fc->fed++;
    if (H->emit(fc->ctx, &ev) != 0) return; /* canceled: its call ends on its own */
  }
}

static void remove_follower(cache_flight_t *f, cache_call_t *fc) {
  if (fc->fprev)
    fc->fprev->fnext = fc->fnext;
  else
    f->followers = fc->fnext;
  if (fc->fnext)
    fc->fnext->fprev = fc->fprev;
  else
    f->followers_tail = fc->fprev;
  fc->fnext = fc->fprev = NULL;
  f->n_followers--;
}

int cache__flight_join(cache_t *c, cache_flight_t *f, cache_call_t *cc) {
  /* A recording that overflowed cannot bring a late joiner up to date. */
  if (f->n_followers >= c->max_followers || f->rec.overflow) return LLMRT_EBUSY;
  cc->flight = f;
  cc->role = CC_FOLLOWER;
  cc->fed = 0;
  cc->fprev = f->followers_tail;
  cc->fnext = NULL;
  if (f->followers_tail)
    f->followers_tail->fnext = cc;
  else
    f->followers = cc;
  f->followers_tail = cc;
  f->n_followers++;
  H->metric_add(c->m_coalesced, NULL, 1);
  cc->result = "coalesced";
  H->attr_set_str(cc->ctx, "cache.result", "coalesced");
  H->attr_set_num(cc->ctx, "cache.hit", 1);
  if (f->rec.n_content) feed(f, cc);
  return 0;
}

void cache__flight_event(cache_t *c, cache_flight_t *f, const llmrt_event_t *ev) {
  uint32_t before = f->rec.n_ev;
  cache__rec_add(&f->rec, ev);
  /* Nothing reaches followers before content: a leader that fails before
   * content hands over to a follower that has seen nothing twice. */
  if (!f->rec.n_content) return;
  for (cache_call_t *fc = f->followers, *next; fc; fc = next) {
    next = fc->fnext;
    if (f->rec.n_ev > before) {
      feed(f, fc); /* the recording holds this event too */
    } else {
      /* Past the recording's limit: live only (every follower is up to date). */
      H->emit(fc->ctx, ev);
    }
  }
}

void cache__flight_leave(cache_t *c, cache_call_t *cc) {
  cache_flight_t *f = cc->flight;
  if (!f || cc->role != CC_FOLLOWER) return;
  remove_follower(f, cc);
  cc->flight = NULL;
}

static void close_flight(cache_t *c, cache_flight_t *f) {
  unlink_flight(c, f);
  cache__rec_free(&f->rec);
  H->free(f);
}

void cache__flight_done(cache_t *c, cache_flight_t *f, int status, const llmrt_result_t *res,
                        cache_entry_t *e, int replay) {
  if (f->leader) f->leader->flight = NULL;
  f->leader = NULL;
  if (status == 0) {
    unlink_flight(c, f);
    llmrt_result_t r;
    memset(&r, 0, sizeof r);
    if (res) {
      size_t n = res->struct_size && res->struct_size < sizeof r ? res->struct_size : sizeof r;
      memcpy(&r, res, n);
    }
    r.struct_size = sizeof r;
    r.text = NULL; /* the followers already have it, event by event */
    r.text_len = 0;
    r.cache_hit = 1;
    r.attrs = NULL;
    r.n_attrs = 0;
    while (f->followers) {
      cache_call_t *fc = f->followers;
      remove_follower(f, fc);
      fc->flight = NULL;
      fc->role = CC_NONE;
      if (replay && e) {
        cache__replay(c, fc, e, 1);
      } else {
        H->attr_set_num(fc->ctx, "cache.saved_input_tokens", (double)r.input_tokens);
        H->attr_set_num(fc->ctx, "cache.saved_output_tokens", (double)r.output_tokens);
        H->respond(fc->ctx, &r);
      }
    }
    cache__rec_free(&f->rec);
    H->free(f);
    return;
  }
  if (f->rec.n_content) {
    /* Content reached the followers: they fail as the leader did, rather
     * than see the answer start again. */
    const char *msg = res && res->error_message ? res->error_message : "the leading call failed";
    /* The leader's caller canceling, or its own deadline, is not the
     * followers': to them the answer was cut short. */
    int err = status;
    if (status == LLMRT_ECANCELED || status == LLMRT_ETIMEDOUT) {
      err = LLMRT_ETRUNCATED;
      msg = status == LLMRT_ECANCELED ? "the leading call was canceled by its caller"
                                      : "the leading call reached its own deadline";
    }
    while (f->followers) {
      cache_call_t *fc = f->followers;
      remove_follower(f, fc);
      fc->flight = NULL;
      fc->role = CC_NONE;
      H->fail(fc->ctx, err, msg);
    }
    close_flight(c, f);
    return;
  }
  /* Before content: a follower takes over and goes upstream itself. */
  cache__rec_free(&f->rec);
  while (f->followers) {
    cache_call_t *fc = f->followers;
    remove_follower(f, fc);
    fc->flight = NULL;
    fc->role = CC_NONE;
    if (H->resume(fc->ctx) != 0) continue; /* canceled meanwhile */
    f->leader = fc;
    fc->flight = f;
    fc->role = CC_LEADER;
    H->attr_set_str(fc->ctx, "cache.result", "miss");
    H->attr_set_num(fc->ctx, "cache.hit", 0);
    for (cache_call_t *o = f->followers; o; o = o->fnext)
      o->fed = 0;
    return;
  }
  close_flight(c, f);
}

void cache__flights_free(cache_t *c) {
  if (!c->flights) return;
  for (size_t i = 0; i < c->n_flight_buckets; i++) {
    while (c->flights[i]) {
      cache_flight_t *f = c->flights[i];
      c->flights[i] = f->hnext;
      cache__rec_free(&f->rec);
      H->free(f);
    }
  }
}
