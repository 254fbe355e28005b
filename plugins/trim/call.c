/* One call through trim: normalize, dedupe, count, fit, cut, apply the
 * max_tokens policy, hand the new request on, and say what was done. All of
 * the call's memory is freed before on_request returns (set_request copies). */
#include <stdio.h>
#include <string.h>

#include "trim.h"

#define H trim__H
#define PRIMING 3 /* count_request_tokens' tokens that prime the reply */
#define MARKER "\n[... trimmed ...]\n"
#define MIN_LEFT 16 /* a cut message keeps at least this many tokens */

typedef struct {
  llmrt_ctx_t *ctx;
  llmrt_plugin_rt_t *prt;
  const trim__conf_t *c;
  const trim__limits_t *lim;
  const llmrt_request_t *req;
  trim__msg_t *v;
  size_t n;
  char *arena; /* normalized contents */
  char *cut;   /* the shortened content, if any */
  llmrt_message_t *out;
  int64_t fixed; /* tokens outside the messages: priming and tools */
  int64_t total; /* of the prompt as it stands */
} job_t;

static void job_free(job_t *j) {
  H->free(j->v);
  H->free(j->arena);
  H->free(j->cut);
  H->free(j->out);
}

static int same_str(const char *a, const char *b) {
  return a == b || (a && b && !strcmp(a, b));
}

/* The parts (images, documents) are what the upstream receives: equal text
 * with other parts is another message. */
static int same_parts(const llmrt_message_t *a, const llmrt_message_t *b) {
  if (!a->content_json || !b->content_json) return !a->content_json && !b->content_json;
  size_t na = a->content_json_len ? a->content_json_len : strlen(a->content_json);
  size_t nb = b->content_json_len ? b->content_json_len : strlen(b->content_json);
  return na == nb && !memcmp(a->content_json, b->content_json, na);
}

static int same_msg(const llmrt_message_t *a, const llmrt_message_t *b) {
  return same_str(a->role, b->role) && a->content_len == b->content_len &&
         (a->content_len == 0 || !memcmp(a->content, b->content, a->content_len)) &&
         same_str(a->name, b->name) && same_str(a->tool_call_id, b->tool_call_id) &&
         same_str(a->tool_calls_json, b->tool_calls_json) && same_parts(a, b);
}

/* A request like the call's, with other messages and no tool definitions. */
static llmrt_request_t like(const llmrt_request_t *req) {
  llmrt_request_t r;
  memset(&r, 0, sizeof r);
  size_t sz = req->struct_size && req->struct_size < sizeof r ? req->struct_size : sizeof r;
  memcpy(&r, req, sz);
  r.struct_size = sizeof r;
  r.api_key = NULL;
  return r;
}

static int64_t count_fresh(job_t *j, const llmrt_message_t *m) {
  llmrt_request_t r = like(j->req);
  r.messages = m;
  r.n_messages = 1;
  r.extra_json = NULL;
  int64_t k = H->count_request_tokens(j->prt, &r, j->lim->encoding, NULL);
  return k < 0 ? k : k - PRIMING;
}

/* A message's tokens with framing, from the memo when it has them. */
static int64_t count_one(job_t *j, const llmrt_message_t *m) {
  trim__memo_t *memo = j->c->memo;
  if (!memo) return count_fresh(j, m);
  uint64_t key[2];
  int64_t k;
  trim__memo_key(memo, j->req->model, j->lim->encoding, m, key);
  if (trim__memo_get(memo, key, &k)) return k;
  k = count_fresh(j, m);
  if (k >= 0) trim__memo_put(memo, key, k);
  return k;
}

/* Copies the messages with their contents normalized into one arena. */
static int copy_normalized(job_t *j, int *changed) {
  const llmrt_request_t *req = j->req;
  size_t stride = req->n_messages && req->messages[0].struct_size ? req->messages[0].struct_size
                                                                  : sizeof(llmrt_message_t);
  size_t bytes = 1;
  for (size_t i = 0; i < j->n; i++) {
    const llmrt_message_t *m =
        (const llmrt_message_t *)(const void *)((const char *)req->messages + i * stride);
    if (m->content) bytes += (m->content_len ? m->content_len : strlen(m->content)) + 1;
  }
  j->v = H->calloc(j->n ? j->n : 1, sizeof *j->v);
  j->arena = H->malloc(bytes);
  if (!j->v || !j->arena) return LLMRT_ENOMEM;
  size_t off = 0;
  for (size_t i = 0; i < j->n; i++) {
    const llmrt_message_t *m =
        (const llmrt_message_t *)(const void *)((const char *)req->messages + i * stride);
    llmrt_message_t *d = &j->v[i].m;
    d->struct_size = sizeof *d;
    d->role = m->role;
    d->name = m->name;
    d->tool_call_id = m->tool_call_id;
    d->tool_calls_json =
        LLMRT_HAS_FIELD(m, llmrt_message_t, tool_calls_json) ? m->tool_calls_json : NULL;
    j->v[i].keep = 1;
    j->v[i].orig = *d;
    j->v[i].orig.content = m->content;
    if (m->content) j->v[i].orig.content_len = m->content_len ? m->content_len : strlen(m->content);
    /* Content carried as raw JSON parts (the gateway's images, documents,
     * cache marks) is what the upstream receives: it travels with its
     * message untouched, and its text is not normalized. */
    if (LLMRT_HAS_FIELD(m, llmrt_message_t, content_json_len) && m->content_json) {
      d->content_json = j->v[i].orig.content_json = m->content_json;
      d->content_json_len = j->v[i].orig.content_json_len = m->content_json_len;
      d->content = m->content;
      d->content_len = j->v[i].orig.content_len;
      continue;
    }
    if (!m->content) continue;
    size_t len = m->content_len ? m->content_len : strlen(m->content);
    char *o = j->arena + off;
    size_t k = trim__normalize(&j->c->rules, m->content, len, o);
    o[k] = '\0';
    if (k != len || memcmp(o, m->content, k)) *changed = j->v[i].changed = 1;
    d->content = o;
    d->content_len = k;
    off += k + 1;
  }
  return 0;
}

/* Exact duplicates: a message equal to the next kept one, and a system
 * message equal to a later system message. Tool calls and results are left
 * alone (their pairs). Returns how many went. */
static int dedupe(job_t *j) {
  int removed = 0;
  for (size_t i = 0; i < j->n; i++) {
    llmrt_message_t *a = &j->v[i].m;
    if (!a->role || !strcmp(a->role, "tool") || a->tool_calls_json) continue;
    int sys = !strcmp(a->role, "system");
    for (size_t k = i + 1; k < j->n; k++) {
      if (!j->v[k].keep) continue;
      if (same_msg(a, &j->v[k].m)) {
        j->v[i].keep = 0;
        removed++;
        break;
      }
      if (!sys) break; /* only the next kept message */
    }
  }
  return removed;
}

/* Snaps a byte offset back to the start of a UTF-8 character. */
static size_t char_start(const char *s, size_t i) {
  while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
    i--;
  return i;
}

/* Cuts the middle out of the longest message until the prompt fits.
 * Returns 1 when it fits, 0 when it cannot, or an error. A message whose
 * content travels as parts (content_json) is not a candidate: its text is
 * only what plugins read, so cutting it would cut nothing that is sent. */
static int shorten(job_t *j, int64_t budget) {
  size_t best = j->n;
  for (size_t i = 0; i < j->n; i++)
    if (j->v[i].keep && j->v[i].m.content_len && !j->v[i].m.content_json &&
        strcmp(j->v[i].m.role, "system") && (best == j->n || j->v[i].tokens > j->v[best].tokens))
      best = i;
  if (best == j->n) return 0;
  trim__msg_t *v = &j->v[best];
  int64_t need = j->total - budget;
  if (v->tokens - need < MIN_LEFT) return 0;
  const char *s = v->m.content;
  size_t len = v->m.content_len;
  j->cut = H->malloc(len + sizeof MARKER);
  if (!j->cut) return LLMRT_ENOMEM;
  /* Bytes per token of this message guess the cut; each miss cuts the
   * bytes of the tokens still over the budget more. */
  double per = (double)len / (double)(v->tokens > 0 ? v->tokens : 1);
  size_t cut = (size_t)((double)(need + 8) * per) + 1;
  llmrt_message_t m = v->m;
  for (int tries = 0; tries < 12 && cut < len; tries++) {
    size_t head = char_start(s, (len - cut) / 2);
    size_t tail = char_start(s, head + cut);
    if (tail <= head) {
      cut += cut / 2 + 1;
      continue;
    }
    memcpy(j->cut, s, head);
    memcpy(j->cut + head, MARKER, sizeof MARKER - 1);
    memcpy(j->cut + head + sizeof MARKER - 1, s + tail, len - tail);
    m.content = j->cut;
    m.content_len = head + sizeof MARKER - 1 + len - tail;
    j->cut[m.content_len] = '\0';
    int64_t k = count_one(j, &m);
    if (k < 0) return (int)k;
    if (k < MIN_LEFT) return 0;
    if (j->total - v->tokens + k <= budget) {
      j->total += k - v->tokens;
      v->tokens = k;
      v->m = m;
      return 1;
    }
    cut += (size_t)((double)(j->total - v->tokens + k - budget + 4) * per) + 1;
  }
  return 0;
}

static void attrs(job_t *j, int64_t before, int dropped, int dups, int shortened, int64_t budget,
                  int64_t max_tokens, const char *policy) {
  llmrt_ctx_t *ctx = j->ctx;
  H->attr_set_num(ctx, "trim.tokens_before", (double)before);
  H->attr_set_num(ctx, "trim.tokens_after", (double)j->total);
  H->attr_set_num(ctx, "trim.tokens_removed", (double)(before - j->total));
  H->attr_set_num(ctx, "trim.messages_dropped", dropped);
  H->attr_set_num(ctx, "trim.duplicates_removed", dups);
  H->attr_set_num(ctx, "trim.messages_shortened", shortened);
  if (budget >= 0) H->attr_set_num(ctx, "trim.budget", (double)budget);
  if (max_tokens > 0) H->attr_set_num(ctx, "trim.max_tokens", (double)max_tokens);
  H->attr_set_str(ctx, "trim.max_tokens_policy", policy);
}

static int fail(job_t *j, int err, const char *msg) {
  H->fail(j->ctx, err, msg);
  job_free(j);
  return err;
}

int trim__on_request(llmrt_ctx_t *ctx, const trim__conf_t *c, const trim__limits_t *lim) {
  job_t j = {ctx, H->plugin_rt(ctx), c, lim, H->request(ctx), NULL, 0, NULL, NULL, NULL, 0, 0};
  const llmrt_request_t *req = j.req;
  if (!req) return LLMRT_CONTINUE;
  j.n = req->n_messages;
  H->metric_add(c->m_calls, NULL, 1);

  /* max_tokens: the request's, else the default; never above the cap. */
  int64_t mt = req->max_tokens > 0 ? req->max_tokens : 0;
  const char *policy = mt ? "request" : "unset";
  if (!mt && c->max_tokens_default > 0) {
    mt = c->max_tokens_default;
    policy = "default";
  }
  if (lim->max_tokens_cap > 0 && mt > lim->max_tokens_cap) {
    mt = lim->max_tokens_cap;
    policy = "cap";
  }

  int changed = mt != req->max_tokens, r;
  if ((r = copy_normalized(&j, &changed))) return fail(&j, r, "out of memory");
  int dups = c->rules.dedupe ? dedupe(&j) : 0;

  llmrt_request_t fr = like(req);
  fr.messages = NULL;
  fr.n_messages = 0;
  j.fixed = H->count_request_tokens(j.prt, &fr, lim->encoding, NULL);
  if (j.fixed < 0) return fail(&j, (int)j.fixed, "cannot count the prompt's tokens");
  /* Each message counted as it came (for tokens_before) and, only when
   * normalization changed it, again as it will go. */
  int64_t before = j.fixed;
  j.total = j.fixed;
  for (size_t i = 0; i < j.n; i++) {
    int64_t k = count_one(&j, &j.v[i].orig);
    if (k >= 0) before += k;
    if (k >= 0 && j.v[i].keep && j.v[i].changed) k = count_one(&j, &j.v[i].m);
    if (k < 0) return fail(&j, (int)k, "cannot count the prompt's tokens");
    j.v[i].tokens = k;
    if (j.v[i].keep) j.total += k;
  }

  /* The budget: configured, or what the context window leaves. */
  int64_t budget = -1;
  char why[160] = "";
  if (c->max_input_tokens > 0) {
    budget = c->max_input_tokens;
    snprintf(why, sizeof why, "max_input_tokens");
  } else if (lim->context_window > 0) {
    /* Unset, OpenAI may answer up to the cap; llmrt sends Anthropic 1024. */
    int64_t reserve = mt > 0 ? mt : lim->max_tokens_cap;
    llmrt_upstream_info_t up = {.struct_size = sizeof up};
    if (!mt && H->upstream_info(ctx, &up) == 0 && up.provider && !strcmp(up.provider, "anthropic"))
      reserve = 1024;
    budget = lim->context_window - reserve - c->margin;
    snprintf(why, sizeof why, "context window %lld - max_tokens %lld - margin %lld",
             (long long)lim->context_window, (long long)reserve, (long long)c->margin);
    if (budget < 1) budget = 1;
  }

  int dropped = 0, shortened = 0;
  if (budget >= 0 && j.total > budget) {
    uint32_t last = trim__units(j.v, j.n);
    for (uint32_t u = 1; u < last && j.total > budget; u++)
      for (size_t i = 0; i < j.n; i++)
        if (j.v[i].unit == u && j.v[i].keep) {
          j.v[i].keep = 0;
          j.total -= j.v[i].tokens;
          dropped++;
        }
    if (j.total > budget && c->shorten) {
      r = shorten(&j, budget);
      if (r < 0) return fail(&j, r, "out of memory");
      shortened = r;
    }
  }
  attrs(&j, before, dropped, dups, shortened, budget, mt, policy);
  H->metric_add(c->m_dropped, NULL, dropped + dups);
  if (budget >= 0 && j.total > budget) {
    /* The model name comes from the user: printable ASCII only, bounded. */
    char model[84];
    size_t o = 0;
    for (const char *p = req->model ? req->model : "(none)"; *p && o < 80; p++)
      model[o++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
    model[o] = '\0';
    char msg[400];
    snprintf(msg, sizeof msg,
             "prompt needs %lld tokens, budget is %lld (%s) for model %s; the system "
             "messages and the latest user turn alone do not fit%s",
             (long long)j.total, (long long)budget, why, model,
             c->shorten ? ", even with one message shortened" : "");
    H->metric_add(c->m_refused, NULL, 1);
    return fail(&j, LLMRT_ETOKENBUDGET, msg);
  }
  if (before > j.total) H->metric_add(c->m_removed, NULL, (double)(before - j.total));

  if (changed || dups || dropped || shortened) {
    size_t n_out = 0;
    j.out = H->calloc(j.n ? j.n : 1, sizeof *j.out);
    if (!j.out) return fail(&j, LLMRT_ENOMEM, "out of memory");
    for (size_t i = 0; i < j.n; i++)
      if (j.v[i].keep) j.out[n_out++] = j.v[i].m;
    llmrt_request_t nr = like(req);
    nr.messages = j.out;
    nr.n_messages = n_out;
    nr.max_tokens = (int32_t)mt;
    r = H->set_request(ctx, &nr);
    if (r) return fail(&j, r, "cannot replace the request");
  }
  job_free(&j);
  return LLMRT_CONTINUE;
}
