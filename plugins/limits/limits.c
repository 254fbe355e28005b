/* limits: concurrency, request and token budgets per upstream, model and
 * tenant, with a bounded wait queue (priorities, FIFO within one, aging),
 * tokens reserved at admission and settled when the usage arrives, and
 * pacing from the provider's own rate-limit headers (docs/plugins/limits.md).
 *
 * A call is admitted when every gate it passes (one per matching rule, and
 * the provider key's gate when adaptive) has room: a slot in flight, a
 * request in the RPM bucket and its reservation in the TPM bucket. Admission
 * takes from all of them at once or from none. A call that cannot go waits
 * (its on_request paused) until the pump, which runs when a call ends, when
 * a bucket refills or when headers arrive, lets it go. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "limits_int.h"

const llmrt_host_t *limits__H;
#define H limits__H

typedef struct {
  llmrt_plugin_rt_t *prt;
  lim_cfg_t cfg;
  lim_gates_t gates;
  lim_queue_t q;
  uint64_t seq, gen;
  uint32_t in_flight;
  llmrt_timer_t *timer; /* the next pump */
  uint64_t timer_at;
  llmrt_metric_t *m_queued, *m_in_flight, *m_wait, *m_rejected, *m_reserved, *m_refunded,
      *m_charged, *m_paced, *m_429, *m_fallback;
  lim_redis_t *redis; /* shared buckets, or NULL */
  int redis_now;      /* limits__redis_usable at the start of this pump */
  int redis_warned;   /* the outage was logged */
} lim_t;

/* ---- Gates of a call ---- */

static void put_desc(lim_gate_t *g, const lim_rule_t *r, const char *up, const char *model,
                     const char *tenant) {
  if (!r)
    snprintf(g->desc, sizeof g->desc, "the provider's limits of upstream \"%.48s\"", up);
  else if (r->per == LIM_PER_UPSTREAM)
    snprintf(g->desc, sizeof g->desc, "upstream \"%.64s\"", up);
  else if (r->per == LIM_PER_MODEL)
    snprintf(g->desc, sizeof g->desc, "model \"%.48s\" on \"%.32s\"", model, up);
  else
    snprintf(g->desc, sizeof g->desc, "tenant \"%.64s\"", tenant);
}

static uint64_t fnv(uint64_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

/* The Redis key stem of a rule gate: what it limits, not which rule (key
 * minus its "r<index>" head), so processes with the same rules share it. */
static void put_rkey(lim_t *L, lim_gate_t *g) {
  static const char *const per[] = {"upstream", "model", "tenant"};
  const char *id = memchr(g->key, 0, g->key_len);
  size_t n = id ? g->key_len - (size_t)(id - g->key) : 0;
  snprintf(g->rkey, sizeof g->rkey, "%s%s:%016llx%016llx:", L->cfg.redis_prefix, per[g->rule->per],
           (unsigned long long)fnv(1469598103934665603ULL, id, n),
           (unsigned long long)fnv(0x84222325cbf29ce4ULL, id, n));
}

static void init_rule_gate(lim_gate_t *g, const lim_rule_t *r, uint64_t now) {
  g->kind = LIM_GATE_RULE;
  g->rule = r;
  g->max_in_flight = r->max_in_flight;
  g->has_req = r->rpm > 0;
  g->has_tok = r->tpm > 0;
  if (g->has_req) limits__bucket_init(&g->req, r->rpm_burst, r->rpm / r->window_ms, now);
  if (g->has_tok) limits__bucket_init(&g->tok, r->tpm_burst, r->tpm / r->window_ms, now);
}

static void drop_gates(lim_call_t *c) {
  for (size_t i = 0; i < c->n_gates; i++)
    c->gates[i]->refs--;
  c->n_gates = 0;
  c->pgate = NULL;
}

/* Appends the gate for key (building it the first time); 0 or an error. */
static int add_gate(lim_t *L, lim_call_t *c, const char *key, size_t klen, const lim_rule_t *r,
                    const char *up, const char *model, const char *tenant) {
  if (c->n_gates == LIM_MAX_GATES) return LLMRT_EINVAL;
  lim_gate_t *g = limits__gate_get(&L->gates, key, klen, L->cfg.max_keys);
  if (!g) return LLMRT_ENOMEM;
  if (!g->desc[0]) {
    put_desc(g, r, up, model, tenant);
    if (r) {
      init_rule_gate(g, r, H->now_ms(L->prt));
      put_rkey(L, g);
    } else
      g->kind = LIM_GATE_PROVIDER;
  }
  g->refs++;
  c->gates[c->n_gates++] = g;
  if (!r) c->pgate = g;
  return 0;
}

/* The gates of the call's request: one per matching rule, then the
 * provider key's. Keys are "<rule>\0<upstream>\0<model or tenant>". */
static int resolve(lim_t *L, lim_call_t *c, llmrt_ctx_t *ctx, const llmrt_request_t *req) {
  const char *up = H->upstream(ctx);
  const char *model = req->model ? req->model : "";
  const char *tenant = req->tenant;
  char key[1100];
  drop_gates(c);
  if (strlen(up) > 256 || strlen(model) > 256 || (tenant && strlen(tenant) > 256))
    return LLMRT_EINVAL;
  for (size_t i = 0; i < L->cfg.n_rules; i++) {
    const lim_rule_t *r = &L->cfg.rules[i];
    const char *name = r->per == LIM_PER_UPSTREAM ? up : r->per == LIM_PER_MODEL ? model : tenant;
    if (!name || (r->match && strcmp(r->match, name))) continue;
    int n = snprintf(key, sizeof key, "r%zu%c%s%c%s", i, 0, r->per == LIM_PER_TENANT ? "" : up, 0,
                     r->per == LIM_PER_UPSTREAM ? "" : name);
    int rc = add_gate(L, c, key, (size_t)n, r, up, model, tenant);
    if (rc) return rc;
  }
  if (L->cfg.adaptive) {
    int n = snprintf(key, sizeof key, "p%c%s%c%s", 0, up, 0, H->key_id(ctx));
    return add_gate(L, c, key, (size_t)n, NULL, up, model, tenant);
  }
  return 0;
}

/* ---- Messages ---- */

static void describe(const lim_call_t *c, char *out, size_t n) {
  const lim_gate_t *g = c->why_gate;
  if (!g) {
    snprintf(out, n, "the calls queued before it");
    return;
  }
  switch (c->why) {
  case LIM_WHY_INFLIGHT:
    snprintf(out, n, "max_in_flight %u of %s", g->max_in_flight, g->desc);
    break;
  case LIM_WHY_RPM:
    snprintf(out, n, "the requests budget (%.0f) of %s", g->req.cap, g->desc);
    break;
  case LIM_WHY_TPM:
    snprintf(out, n, "the tokens budget (%.0f) of %s", g->tok.cap, g->desc);
    break;
  case LIM_WHY_PAUSED:
    snprintf(out, n, "a Retry-After pause of %s", g->desc);
    break;
  case LIM_WHY_PROBE:
    snprintf(out, n, "the first answer to learn %s", g->desc);
    break;
  default:
    snprintf(out, n, "the calls queued before it for %s", g->desc);
  }
}

static void update_gauges(lim_t *L) {
  H->metric_set(L->m_queued, NULL, (double)L->q.len);
  H->metric_set(L->m_in_flight, NULL, (double)L->in_flight);
}

/* ---- Admission ---- */

static void pump(lim_t *L);

static void on_timer(llmrt_timer_t *t, void *arg) {
  lim_t *L = arg;
  H->timer_stop(t);
  L->timer = NULL;
  pump(L);
}

/* Runs the pump in `ms` (coalescing: one timer, the earliest wins). */
static void schedule(lim_t *L, uint64_t ms) {
  uint64_t at = H->now_ms(L->prt) + ms;
  if (L->timer && L->timer_at <= at) return;
  if (L->timer) H->timer_stop(L->timer);
  L->timer = NULL;
  if (H->timer_start(L->prt, ms, 0, on_timer, L, &L->timer) == 0) L->timer_at = at;
}

/* Takes the local part of an admission: every gate's slot and, unless
 * shared, its buckets. */
static void take_local(lim_call_t *c, int shared) {
  for (size_t i = 0; i < c->n_gates; i++)
    limits__gate_take(c->gates[i], c->reserve, shared);
  if (c->pgate) {
    c->p_reqs_at = c->pgate->adm_reqs;
    c->p_toks_at = c->pgate->adm_toks;
  }
  c->shared = shared;
}

static void untake_local(lim_call_t *c) {
  for (size_t i = 0; i < c->n_gates; i++)
    limits__gate_untake(c->gates[i], c->reserve, c->shared);
}

/* 1 when some of the call's buckets would be Redis's. */
static int needs_shared(const lim_t *L, const lim_call_t *c) {
  if (!L->redis || c->force_local) return 0;
  for (size_t i = 0; i < c->n_gates; i++)
    if (c->gates[i]->kind == LIM_GATE_RULE && (c->gates[i]->has_req || c->gates[i]->has_tok))
      return 1;
  return 0;
}

static void note_wait(lim_t *L, lim_call_t *c, uint64_t waited_ms) {
  H->attr_set_num(c->ctx, "limits.wait_ms", (double)waited_ms);
  H->metric_observe(L->m_wait, NULL, (double)waited_ms / 1000.0);
  if (waited_ms && H->struct_size >= offsetof(llmrt_host_t, add_queued_us) + sizeof(void *) &&
      H->add_queued_us)
    H->add_queued_us(c->ctx, waited_ms * 1000);
}

static void stop_timeout(lim_call_t *c) {
  if (c->timeout) H->timer_stop(c->timeout);
  c->timeout = NULL;
}

static void dequeue(lim_t *L, lim_call_t *c) {
  limits__queue_remove(&L->q, c);
  for (size_t i = 0; i < c->n_gates; i++)
    c->gates[i]->waiters--;
  c->state = LIM_CALL_IDLE;
}

static void enqueue(lim_t *L, lim_call_t *c) {
  c->state = LIM_CALL_QUEUED;
  for (size_t i = 0; i < c->n_gates; i++)
    c->gates[i]->waiters++;
  limits__queue_push(&L->q, c);
}

/* The call goes: it holds its slots, reservation and buckets. */
static void admitted(lim_t *L, lim_call_t *c, uint64_t now) {
  int paced = c->why == LIM_WHY_PAUSED || c->why == LIM_WHY_PROBE ||
              (c->why_gate && c->why_gate->kind == LIM_GATE_PROVIDER);
  stop_timeout(c);
  c->state = LIM_CALL_ADMITTED;
  c->settled = 0;
  c->force_local = 0;
  L->in_flight++;
  H->metric_add(L->m_reserved, NULL, c->reserve);
  if (paced) H->metric_add(L->m_paced, NULL, 1);
  note_wait(L, c, now - c->enq_ms);
  H->resume(c->ctx);
}

/* A Redis take on the way ends without the buckets: the local part goes
 * back. */
static void abandon_redis(lim_call_t *c) {
  limits__redis_cancel(c);
  untake_local(c);
  for (size_t i = 0; i < c->n_gates; i++)
    c->gates[i]->redis_pending--;
  c->state = LIM_CALL_IDLE;
}

static void redis_outage(lim_t *L) {
  H->metric_add(L->m_fallback, NULL, 1);
  if (!L->redis_warned) {
    L->redis_warned = 1;
    H->log(L->prt, LLMRT_LOG_WARN,
           "redis is unavailable: admitting calls against this process's local limits until it "
           "is back");
  }
}

static void reject(lim_t *L, lim_call_t *c, int err, const char *reason, const char *msg) {
  H->metric_add(L->m_rejected, reason, 1);
  H->fail(c->ctx, err, msg);
}

/* The first gate that refuses c now, or NULL (with c->why set). */
static lim_gate_t *refusing(lim_t *L, lim_call_t *c, uint64_t now, int shared, uint64_t *wait) {
  for (size_t i = 0; i < c->n_gates; i++) {
    lim_gate_t *g = c->gates[i];
    int why = limits__gate_check(g, c->reserve, now, L->cfg.probe_in_flight, shared, wait);
    if (why) {
      c->why = why;
      c->why_gate = g;
      return g;
    }
  }
  return NULL;
}

static void on_redis_take(lim_call_t *c, int result, uint64_t wait);
static void timeout_fail(lim_t *L, lim_call_t *c);

static void try_queued(lim_t *L, lim_call_t *c, uint64_t now, uint64_t *next) {
  /* FIFO: an earlier call waits on one of its gates. Redis takes are
   * pipelined on one connection, so Redis sees them in this order too. */
  for (size_t i = 0; i < c->n_gates; i++)
    if (c->gates[i]->blocked_gen == L->gen) return;
  int shared = needs_shared(L, c);
  if (shared && L->redis_now == 0) {
    /* The script is loading: wait for it (it pumps when done). */
    for (size_t i = 0; i < c->n_gates; i++)
      c->gates[i]->blocked_gen = L->gen;
    return;
  }
  if (shared && L->redis_now < 0) {
    shared = 0;
    c->force_local = 1;
  }
  uint64_t wait;
  lim_gate_t *g = refusing(L, c, now, shared, &wait);
  if (g) {
    if (limits__gate_unfit(g, c->reserve)) {
      /* The provider's budget, learned while c waited, is smaller than c. */
      char msg[300];
      snprintf(msg, sizeof msg, "the call reserves %.0f tokens, more than %s allows (%.0f)",
               c->reserve, g->desc, g->tok.cap);
      dequeue(L, c);
      reject(L, c, LLMRT_ELIMITUNFIT, "reason=\"unfittable\"", msg);
      return;
    }
    g->blocked_gen = L->gen;
    if (wait < *next) *next = wait;
    return;
  }
  dequeue(L, c);
  if (!shared) {
    if (L->redis && c->force_local) redis_outage(L);
    take_local(c, 0);
    admitted(L, c, now);
    return;
  }
  take_local(c, 1);
  c->state = LIM_CALL_REDIS;
  for (size_t i = 0; i < c->n_gates; i++)
    c->gates[i]->redis_pending++;
  int rc = limits__redis_take(L->redis, c, on_redis_take);
  if (rc == 1) {
    for (size_t i = 0; i < c->n_gates; i++)
      c->gates[i]->redis_pending--;
    admitted(L, c, now);
  } else if (rc == LLMRT_EBUSY) {
    /* As many takes on the way as the client allows: this one and those
     * after it wait for the answers (each pumps again). */
    abandon_redis(c);
    enqueue(L, c);
    for (size_t i = 0; i < c->n_gates; i++)
      c->gates[i]->blocked_gen = L->gen;
  } else if (rc < 0) {
    abandon_redis(c);
    c->force_local = 1;
    enqueue(L, c);
    schedule(L, 0);
  }
}

/* Redis answered a call's take (or could not). */
static void on_redis_take(lim_call_t *c, int result, uint64_t wait) {
  lim_t *L = H->plugin_state(c->ctx);
  uint64_t now = H->now_ms(L->prt);
  if (result == 1) {
    for (size_t i = 0; i < c->n_gates; i++)
      c->gates[i]->redis_pending--;
    if (L->redis_warned) {
      L->redis_warned = 0;
      H->log(L->prt, LLMRT_LOG_INFO, "redis is back: shared limits again");
    }
    admitted(L, c, now);
  } else {
    abandon_redis(c);
    if (result == 0) {
      /* Not now: Redis's buckets say when; nobody asks again before. */
      for (size_t i = 0; i < c->n_gates; i++) {
        lim_gate_t *g = c->gates[i];
        if (g->kind != LIM_GATE_RULE || !(g->has_req || g->has_tok)) continue;
        if (now + wait > g->redis_wait_until) g->redis_wait_until = now + wait;
        c->why = g->has_tok ? LIM_WHY_TPM : LIM_WHY_RPM;
        c->why_gate = g;
      }
    } else if (result == -1) {
      c->force_local = 1; /* Redis failed: this admission is local */
    }
    if (c->timed_out)
      timeout_fail(L, c);
    else
      enqueue(L, c);
  }
  pump(L);
}

static void pump(lim_t *L) {
  uint64_t now = H->now_ms(L->prt), next = UINT64_MAX;
  L->gen++;
  L->redis_now = L->redis && L->q.len ? limits__redis_usable(L->redis) : -1;
  /* Calls that waited max_age_ms first, oldest first: no priority starves. */
  for (lim_call_t *c = L->q.ahead, *nx; c && now - c->enq_ms >= L->cfg.max_age_ms; c = nx) {
    nx = c->anext;
    try_queued(L, c, now, &next);
  }
  for (lim_call_t *c = L->q.phead, *nx; c; c = nx) {
    nx = c->pnext;
    try_queued(L, c, now, &next);
  }
  if (L->q.len && next != UINT64_MAX) schedule(L, next);
  update_gauges(L);
}

/* Gives back what an admitted call holds in flight (not its tokens). */
static void release(lim_t *L, lim_call_t *c) {
  stop_timeout(c);
  if (c->state == LIM_CALL_QUEUED) dequeue(L, c);
  if (c->state == LIM_CALL_REDIS) {
    abandon_redis(c);
    if (L->q.len) schedule(L, 0);
  }
  if (c->state != LIM_CALL_ADMITTED) return;
  /* A probe that ended without a response head (answered by a plugin
   * inside this one, or failed before any) taught nothing: calls no longer
   * wait for a lesson that may never come. */
  if (c->pgate && !c->pgate->learned) c->pgate->learned = 1;
  for (size_t i = 0; i < c->n_gates; i++)
    c->gates[i]->in_flight--;
  L->in_flight--;
  c->state = LIM_CALL_IDLE;
  if (L->q.len) schedule(L, 0);
  update_gauges(L);
}

/* The usage came: refund what was reserved and not used, or charge more. */
static void settle(lim_t *L, lim_call_t *c, int64_t used) {
  if (c->settled) return;
  c->settled = 1;
  double d = c->reserve - (double)used;
  if (c->shared) limits__redis_adjust(L->redis, c, d);
  for (size_t i = 0; i < c->n_gates; i++) {
    lim_gate_t *g = c->gates[i];
    if (!g->has_tok || (c->shared && g->kind == LIM_GATE_RULE)) continue;
    if (d > 0)
      limits__bucket_give(&g->tok, d);
    else
      limits__bucket_take(&g->tok, -d);
  }
  H->metric_add(d > 0 ? L->m_refunded : L->m_charged, NULL, d > 0 ? d : -d);
  if (d > 0 && L->q.len) schedule(L, 0);
}

static void timeout_fail(lim_t *L, lim_call_t *c) {
  char why[200], msg[300];
  describe(c, why, sizeof why);
  snprintf(msg, sizeof msg, "queue timeout: waited %u ms for %s", L->cfg.queue_timeout_ms, why);
  if (c->state == LIM_CALL_QUEUED) dequeue(L, c);
  note_wait(L, c, H->now_ms(L->prt) - c->enq_ms);
  update_gauges(L);
  reject(L, c, LLMRT_EQUEUETIMEOUT, "reason=\"queue_timeout\"", msg);
}

static void on_queue_timeout(llmrt_timer_t *t, void *arg) {
  lim_call_t *c = arg;
  lim_t *L = H->plugin_state(c->ctx);
  H->timer_stop(t);
  c->timeout = NULL;
  /* A Redis take on the way may already have taken the buckets there:
   * its answer decides (admitted, or failed then), so no budget is lost. */
  if (c->state == LIM_CALL_REDIS)
    c->timed_out = 1;
  else
    timeout_fail(L, c);
}

static int32_t priority_of(llmrt_ctx_t *ctx, const llmrt_request_t *req) {
  double p = 0;
  if (LLMRT_HAS_FIELD(req, llmrt_request_t, priority)) p = req->priority;
  double a;
  if (H->attr_get(ctx, "limits.priority", NULL, &a) == 2) p = a;
  return p > 1000 ? 1000 : p < -1000 ? -1000 : (int32_t)p;
}

/* ---- Hooks ---- */


/* The prompt's tokens as the provider counts them: the runtime's counter
 * (exact for OpenAI's encodings, estimated otherwise; host->count_request_tokens),
 * or this plugin's own estimate where the host has no counter. */
static int64_t prompt_tokens(lim_t *L, const llmrt_request_t *req) {
  if (H->struct_size >= offsetof(llmrt_host_t, count_request_tokens) + sizeof(void *) &&
      H->count_request_tokens) {
    int64_t n = H->count_request_tokens(L->prt, req, NULL, NULL);
    if (n >= 0) return n;
  }
  return limits__estimate_prompt_tokens(req);
}

static int lim_on_request(llmrt_ctx_t *ctx) {
  lim_t *L = H->plugin_state(ctx);
  lim_call_t *c = H->call_state(ctx);
  c->ctx = ctx;
  release(L, c); /* another attempt, from a retry outside this plugin */
  const llmrt_request_t *req = H->request(ctx);
  int rc = resolve(L, c, ctx, req);
  if (rc) {
    H->fail(ctx, rc,
            rc == LLMRT_ENOMEM ? "out of memory (or max_keys limits in use)"
                               : "upstream, model or tenant longer than 256 bytes");
    return rc;
  }
  c->reserve = (double)prompt_tokens(L, req) +
               (req->max_tokens > 0 ? req->max_tokens : (double)L->cfg.default_max_tokens);
  for (size_t i = 0; i < c->n_gates; i++) {
    if (limits__gate_unfit(c->gates[i], c->reserve)) {
      char msg[300];
      snprintf(msg, sizeof msg, "the call reserves %.0f tokens, more than %s allows (%.0f)",
               c->reserve, c->gates[i]->desc, c->gates[i]->tok.cap);
      reject(L, c, LLMRT_ELIMITUNFIT, "reason=\"unfittable\"", msg);
      return LLMRT_ELIMITUNFIT;
    }
  }
  c->prio = priority_of(ctx, req);
  c->why_gate = NULL;
  c->why = 0;
  uint64_t now = H->now_ms(L->prt), wait;
  /* It goes at once if every gate has room and no call waits for one of
   * them (FIFO); else it queues, and the refusal names the limit. */
  int shared = needs_shared(L, c);
  int refused = refusing(L, c, now, shared, &wait) != NULL;
  for (size_t i = 0; i < c->n_gates && !refused; i++)
    if (c->gates[i]->waiters) {
      refused = 1;
      c->why_gate = c->gates[i];
    }
  if (!refused && !shared) {
    take_local(c, 0);
    c->enq_ms = now;
    c->state = LIM_CALL_ADMITTED;
    c->settled = 0;
    L->in_flight++;
    H->metric_add(L->m_reserved, NULL, c->reserve);
    note_wait(L, c, 0);
    update_gauges(L);
    return LLMRT_CONTINUE;
  }
  if (L->q.len >= L->cfg.queue_max) {
    char why[200], msg[300];
    describe(c, why, sizeof why);
    snprintf(msg, sizeof msg, "queue full: %zu calls wait (queue.max_length %u), this one for %s",
             L->q.len, L->cfg.queue_max, why);
    reject(L, c, LLMRT_EQUEUEFULL, "reason=\"queue_full\"", msg);
    return LLMRT_EQUEUEFULL;
  }
  rc = H->call_timer_start(ctx, L->cfg.queue_timeout_ms, 0, on_queue_timeout, c, &c->timeout);
  if (rc) {
    H->fail(ctx, rc, "cannot start the queue timer");
    return rc;
  }
  c->seq = ++L->seq;
  c->enq_ms = now;
  c->force_local = 0;
  c->timed_out = 0;
  enqueue(L, c);
  pump(L); /* may admit it at once (then it resumes on the next turn) */
  return LLMRT_PAUSE;
}

static void learn(lim_t *L, lim_gate_t *g, lim_call_t *c, const lim_rl_info_t *in, uint64_t now) {
  double win = L->cfg.provider_window_ms;
  /* What the provider counted does not include the calls admitted after
   * this one: subtract them, so the budget errs low, never high. */
  if (in->req_limit > 0) {
    if (!g->has_req || g->req.cap != (double)in->req_limit) {
      double lvl = g->has_req ? g->req.level : (double)in->req_limit;
      limits__bucket_init(&g->req, (double)in->req_limit, (double)in->req_limit / win, now);
      g->req.level = lvl < g->req.cap ? lvl : g->req.cap;
      g->has_req = 1;
    }
    if (in->req_remaining >= 0) {
      limits__bucket_refill(&g->req, now);
      double said = (double)in->req_remaining - (g->adm_reqs - c->p_reqs_at);
      if (said < g->req.level) g->req.level = said;
    }
  }
  if (in->tok_limit > 0) {
    if (!g->has_tok || g->tok.cap != (double)in->tok_limit) {
      double lvl = g->has_tok ? g->tok.level : (double)in->tok_limit;
      limits__bucket_init(&g->tok, (double)in->tok_limit, (double)in->tok_limit / win, now);
      g->tok.level = lvl < g->tok.cap ? lvl : g->tok.cap;
      g->has_tok = 1;
    }
    if (in->tok_remaining >= 0) {
      limits__bucket_refill(&g->tok, now);
      double said = (double)in->tok_remaining - (g->adm_toks - c->p_toks_at);
      if (said < g->tok.level) g->tok.level = said;
    }
  }
}

static int lim_on_response(llmrt_ctx_t *ctx, int status, const llmrt_header_t *h, size_t n) {
  lim_t *L = H->plugin_state(ctx);
  lim_call_t *c = H->call_state(ctx);
  lim_gate_t *g = c->pgate;
  if (!g || c->state != LIM_CALL_ADMITTED) return LLMRT_CONTINUE;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lim_rl_info_t in;
  limits__headers_parse(h, n, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &in);
  uint64_t now = H->now_ms(L->prt);
  learn(L, g, c, &in, now);
  int was_learning = !g->learned;
  g->learned = 1;
  if (status == 429) {
    H->metric_add(L->m_429, NULL, 1);
    int64_t ra = in.retry_after_ms;
    if (ra < 0 && in.req_remaining == 0) ra = in.req_reset_ms;
    if (ra < 0 && in.tok_remaining == 0) ra = in.tok_reset_ms;
    if (ra < 0) ra = 1000; /* a 429 that says nothing: a second's pause */
    if (now + (uint64_t)ra > g->paused_until) g->paused_until = now + (uint64_t)ra;
  }
  if (L->q.len && was_learning) schedule(L, 0);
  return LLMRT_CONTINUE;
}

static int lim_on_error(llmrt_ctx_t *ctx, int err) {
  lim_t *L = H->plugin_state(ctx);
  lim_call_t *c = H->call_state(ctx);
  /* The attempt is over: its slot goes back; its tokens stay reserved (the
   * provider may have counted them). */
  if (c->state == LIM_CALL_ADMITTED) c->settled = 1;
  release(L, c);
  return LLMRT_CONTINUE;
}

static void lim_on_complete(llmrt_ctx_t *ctx, int status, const llmrt_result_t *res) {
  lim_t *L = H->plugin_state(ctx);
  lim_call_t *c = H->call_state(ctx);
  if (c->state == LIM_CALL_ADMITTED) {
    int64_t used = res->input_tokens + res->output_tokens;
    /* Only a call that completed has its final usage; one cut short (an
     * error, a cancel) keeps its reservation: the provider may count more
     * than the partial usage it reported. */
    if (status == 0 && used > 0) settle(L, c, used);
    release(L, c);
  }
}

static void lim_on_call_end(llmrt_ctx_t *ctx, int status) {
  lim_t *L = H->plugin_state(ctx);
  lim_call_t *c = H->call_state(ctx);
  if (!c->ctx) return; /* never reached this plugin */
  release(L, c);
  drop_gates(c);
}

/* ---- Instance ---- */

static void on_redis_ready(void *arg) {
  lim_t *L = arg;
  if (L->q.len) schedule(L, 0);
}

static int lim_init(llmrt_plugin_rt_t *prt, const char *json, size_t len, void **state, char *err,
                    size_t errlen) {
  lim_t *L = H->calloc(1, sizeof *L);
  if (!L) return LLMRT_ENOMEM;
  int rc = limits__config_parse(&L->cfg, json, len, err, errlen);
  if (rc) {
    H->free(L);
    return rc;
  }
  L->prt = prt;
  struct {
    int kind;
    const char *name, *help;
    llmrt_metric_t **m;
  } ms[] = {
      {LLMRT_METRIC_GAUGE, "llmrt_limits_queued", "Calls waiting in the limits queue",
       &L->m_queued},
      {LLMRT_METRIC_GAUGE, "llmrt_limits_in_flight", "Calls the limits plugin admitted, in flight",
       &L->m_in_flight},
      {LLMRT_METRIC_HISTOGRAM, "llmrt_limits_wait_seconds", "Time calls waited for the limits",
       &L->m_wait},
      {LLMRT_METRIC_COUNTER, "llmrt_limits_rejected_total",
       "Calls the limits plugin failed (queue_full, queue_timeout, unfittable)", &L->m_rejected},
      {LLMRT_METRIC_COUNTER, "llmrt_limits_reserved_tokens_total", "Tokens reserved at admission",
       &L->m_reserved},
      {LLMRT_METRIC_COUNTER, "llmrt_limits_refunded_tokens_total",
       "Reserved tokens given back when the usage came smaller", &L->m_refunded},
      {LLMRT_METRIC_COUNTER, "llmrt_limits_charged_tokens_total",
       "Tokens charged beyond the reservation when the usage came larger", &L->m_charged},
      {LLMRT_METRIC_COUNTER, "llmrt_limits_paced_total",
       "Calls held back by the provider's own budget (429s avoided)", &L->m_paced},
      {LLMRT_METRIC_COUNTER, "llmrt_limits_upstream_429_total",
       "429 answers seen by the limits plugin", &L->m_429},
      {LLMRT_METRIC_COUNTER, "llmrt_limits_redis_fallback_total",
       "Calls admitted against local limits because Redis was unavailable", &L->m_fallback},
  };
  for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
    rc = H->metric(prt, ms[i].kind, ms[i].name, ms[i].help, ms[i].m);
    if (rc) {
      limits__config_free(&L->cfg);
      H->free(L);
      snprintf(err, errlen, "cannot register metric %s", ms[i].name);
      return rc;
    }
  }
  if (L->cfg.redis_enabled) {
    const char *pw = L->cfg.redis_password_env[0] ? getenv(L->cfg.redis_password_env) : NULL;
    rc = limits__redis_new(prt, &L->cfg, pw, on_redis_ready, L, &L->redis);
    if (rc) {
      limits__config_free(&L->cfg);
      H->free(L);
      snprintf(err, errlen, "redis: %s",
               rc == LLMRT_EINVAL ? "host must be a numeric address or localhost"
                                  : "out of memory");
      return rc == LLMRT_EINVAL ? LLMRT_ECONFIG : rc;
    }
  }
  *state = L;
  return 0;
}

static void lim_fini(void *state) {
  lim_t *L = state;
  /* Timers were stopped by the runtime; every call ended. */
  limits__redis_free(L->redis);
  limits__gates_free(&L->gates);
  limits__config_free(&L->cfg);
  H->free(L);
}

static const llmrt_plugin_t limits_plugin = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "limits",
    .version = "1.0",
    .init = lim_init,
    .fini = lim_fini,
    .call_state_size = sizeof(lim_call_t),
    .on_request = lim_on_request,
    .on_response = lim_on_response,
    .on_error = lim_on_error,
    .on_complete = lim_on_complete,
    .on_call_end = lim_on_call_end,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *host) {
  H = host;
  return &limits_plugin;
}
