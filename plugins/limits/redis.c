/* Shared buckets in Redis, for several processes or machines under one
 * limit. The RPM and TPM buckets of a call's rules are consumed by one Lua
 * script, atomically across all of them (all or nothing), on Redis's own
 * clock (TIME), so the processes' clocks never matter. The script is loaded
 * once (SCRIPT LOAD) and run by its digest (EVALSHA); a NOSCRIPT answer (a
 * Redis restarted empty) loads it again. Everything goes through
 * plugins/common/redis_loop on the runtime's loop: nothing blocks.
 *
 * When Redis cannot answer (not connected, an error, a timeout), the call
 * is admitted against the local buckets instead: limits.c logs a warning
 * once per outage and counts it (llmrt_limits_redis_fallback_total).
 *
 * A bucket is a hash {l: level, t: ms} at <prefix><per>:<id>:<r|t>, where
 * id is 32 hex digits hashed from the upstream and the model or tenant (so
 * any name fits in a key), expiring once it would be full again (a missing
 * key is a full bucket). Processes share a bucket when their rules limit the
 * same thing: same upstream name, model or tenant. */
#include <stdio.h>
#include <string.h>

#include "common/redis_loop.h"
#include "limits_int.h"

/* KEYS: the buckets. ARGV[1]: "take" (all or nothing), "give" (refund,
 * capped) or "charge" (may go below zero); then cap, rate (per ms), amount
 * for each key. Returns {1, 0}, or {0, ms to wait} when a take does not fit. */
static const char script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local mode = ARGV[1]\n"
    "local lv = {}\n"
    "local wait = 0\n"
    "for i = 1, #KEYS do\n"
    "  local cap = tonumber(ARGV[i * 3 - 1])\n"
    "  local rate = tonumber(ARGV[i * 3])\n"
    "  local amt = tonumber(ARGV[i * 3 + 1])\n"
    "  local v = redis.call('HMGET', KEYS[i], 'l', 't')\n"
    "  local l, ts = tonumber(v[1]), tonumber(v[2])\n"
    "  if l == nil or ts == nil then l = cap; ts = now end\n"
    "  if now > ts then l = math.min(cap, l + (now - ts) * rate) end\n"
    "  lv[i] = l\n"
    "  if mode == 'take' and l < amt then\n"
    "    local w = 86400000\n"
    "    if rate > 0 then w = math.ceil((amt - l) / rate) end\n"
    "    if w > wait then wait = w end\n"
    "  end\n"
    "end\n"
    "if wait > 0 then return {0, wait} end\n"
    "for i = 1, #KEYS do\n"
    "  local cap = tonumber(ARGV[i * 3 - 1])\n"
    "  local rate = tonumber(ARGV[i * 3])\n"
    "  local amt = tonumber(ARGV[i * 3 + 1])\n"
    "  local l = lv[i] - amt\n"
    "  if mode == 'give' then l = math.min(cap, lv[i] + amt) end\n"
    "  redis.call('HSET', KEYS[i], 'l', tostring(l), 't', tostring(now))\n"
    "  local ttl = 86400000\n"
    "  if rate > 0 then ttl = math.ceil((cap - math.min(l, cap)) / rate) + 1000 end\n"
    "  redis.call('PEXPIRE', KEYS[i], ttl)\n"
    "end\n"
    "return {1, 0}\n";

enum { SHA_NONE = 0, SHA_LOADING, SHA_READY };

struct lim_redis_s {
  llmrt_plugin_rt_t *prt;
  redis_loop_t *rl;
  char sha[48];
  int sha_state;
  uint32_t timeout_ms;
  void (*on_ready)(void *arg);
  void *arg;
};

#define H limits__H

int limits__redis_new(llmrt_plugin_rt_t *prt, const lim_cfg_t *cfg, const char *password,
                      void (*on_ready)(void *arg), void *arg, lim_redis_t **out) {
  lim_redis_t *r = H->calloc(1, sizeof *r);
  if (!r) return LLMRT_ENOMEM;
  r->prt = prt;
  r->timeout_ms = cfg->redis_timeout_ms;
  r->on_ready = on_ready;
  r->arg = arg;
  redis_loop_opts_t o;
  memset(&o, 0, sizeof o);
  o.host = cfg->redis_host;
  o.port = cfg->redis_port;
  o.password = password;
  o.db = cfg->redis_db;
  o.label = "limits";
  int rc = redis_loop_new(H, prt, &o, &r->rl);
  if (rc) {
    H->free(r);
    return rc;
  }
  *out = r;
  return 0;
}

void limits__redis_free(lim_redis_t *r) {
  if (!r) return;
  redis_loop_free(r->rl);
  H->free(r);
}

static void on_loaded(void *arg, int status, const redisReply *reply) {
  lim_redis_t *r = arg;
  if (status == 0 && reply && reply->type == REDIS_REPLY_STRING && reply->len < sizeof r->sha) {
    memcpy(r->sha, reply->str, reply->len);
    r->sha[reply->len] = '\0';
    r->sha_state = SHA_READY;
  } else {
    r->sha_state = SHA_NONE; /* tried again at the next admission */
  }
  if (status != LLMRT_ESHUTDOWN) r->on_ready(r->arg);
}

int limits__redis_usable(lim_redis_t *r) {
  if (!redis_loop_ready(r->rl)) return -1;
  if (r->sha_state == SHA_READY) return 1;
  if (r->sha_state == SHA_LOADING) return 0;
  const char *argv[] = {"SCRIPT", "LOAD", script};
  size_t lens[] = {6, 4, sizeof script - 1};
  if (redis_loop_command(r->rl, 3, argv, lens, r->timeout_ms, on_loaded, r, NULL) != 0) return -1;
  r->sha_state = SHA_LOADING;
  return 0;
}

/* The shared buckets of a call: its rule gates' request and token buckets. */
static int build(lim_redis_t *r, const lim_call_t *c, const char *mode, int reqs, double tokens,
                 const char **argv, size_t *lens, char (*nums)[32], char (*keys)[128]) {
  int argc = 0, nk = 0, nn = 0;
  argv[argc] = "EVALSHA", lens[argc++] = 7;
  argv[argc] = r->sha, lens[argc++] = strlen(r->sha);
  int numkeys_at = argc++;
  for (size_t i = 0; i < c->n_gates; i++) {
    const lim_gate_t *g = c->gates[i];
    if (g->kind != LIM_GATE_RULE) continue;
    if (g->has_req && reqs) {
      snprintf(keys[nk], sizeof keys[nk], "%sr", g->rkey);
      argv[argc] = keys[nk], lens[argc++] = strlen(keys[nk]);
      nk++;
    }
    if (g->has_tok && tokens != 0) {
      snprintf(keys[nk], sizeof keys[nk], "%st", g->rkey);
      argv[argc] = keys[nk], lens[argc++] = strlen(keys[nk]);
      nk++;
    }
  }
  if (!nk) return 0;
  snprintf(nums[nn], sizeof nums[nn], "%d", nk);
  argv[numkeys_at] = nums[nn], lens[numkeys_at] = strlen(nums[nn]);
  nn++;
  argv[argc] = mode, lens[argc++] = strlen(mode);
  for (size_t i = 0; i < c->n_gates; i++) {
    const lim_gate_t *g = c->gates[i];
    if (g->kind != LIM_GATE_RULE) continue;
    for (int b = 0; b < 2; b++) {
      const lim_bucket_t *k = b ? &g->tok : &g->req;
      if (b ? !(g->has_tok && tokens != 0) : !(g->has_req && reqs)) continue;
      snprintf(nums[nn], sizeof nums[nn], "%.17g", k->cap);
      snprintf(nums[nn + 1], sizeof nums[nn + 1], "%.17g", k->rate);
      snprintf(nums[nn + 2], sizeof nums[nn + 2], "%.17g", b ? tokens : 1.0);
      for (int j = 0; j < 3; j++)
        argv[argc] = nums[nn + j], lens[argc++] = strlen(nums[nn + j]);
      nn += 3;
    }
  }
  return argc;
}

#define MAX_ARGS (4 + LIM_MAX_GATES * 2 * 4)

static void on_take(void *arg, int status, const redisReply *reply) {
  lim_call_t *c = arg;
  lim_redis_t *r = c->redis_owner;
  c->redis_cmd = NULL;
  int result = -1;
  uint64_t wait = 0;
  if (status == 0 && reply) {
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_INTEGER) {
      result = reply->element[0]->integer == 1;
      wait = reply->element[1]->integer > 0 ? (uint64_t)reply->element[1]->integer : 1;
    } else if (reply->type == REDIS_REPLY_ERROR && !strncmp(reply->str, "NOSCRIPT", 8)) {
      /* Redis lost the script (restarted): load it again, and this call
       * waits for it like the ones that come while it loads. */
      r->sha_state = SHA_NONE;
      result = -2;
    }
  }
  if (status == LLMRT_ESHUTDOWN) return;
  c->redis_cb(c, result, wait);
}

int limits__redis_take(lim_redis_t *r, lim_call_t *c, void (*cb)(lim_call_t *, int, uint64_t)) {
  const char *argv[MAX_ARGS];
  size_t lens[MAX_ARGS];
  char nums[MAX_ARGS][32], keys[LIM_MAX_GATES * 2][128];
  int argc = build(r, c, "take", 1, c->reserve, argv, lens, nums, keys);
  if (argc == 0) return 1; /* nothing shared: admitted */
  c->redis_owner = r;
  c->redis_cb = cb;
  int rc = redis_loop_command(r->rl, argc, argv, lens, r->timeout_ms, on_take, c, &c->redis_cmd);
  return rc ? rc : 0;
}

void limits__redis_cancel(lim_call_t *c) {
  if (c->redis_cmd) redis_loop_cancel(c->redis_cmd);
  c->redis_cmd = NULL;
}

void limits__redis_adjust(lim_redis_t *r, const lim_call_t *c, double delta) {
  if (delta == 0 || limits__redis_usable(r) != 1) return;
  const char *argv[MAX_ARGS];
  size_t lens[MAX_ARGS];
  char nums[MAX_ARGS][32], keys[LIM_MAX_GATES * 2][128];
  int argc = build(r, c, delta > 0 ? "give" : "charge", 0, delta > 0 ? delta : -delta, argv, lens,
                   nums, keys);
  /* Fire and forget: a lost refund only makes the budget err low. */
  if (argc) redis_loop_command(r->rl, argc, argv, lens, r->timeout_ms, NULL, NULL, NULL);
}
