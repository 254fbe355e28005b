/* Choosing a group member, measuring members, and naming failures. */
#include <string.h>
#include <strings.h>

#include "route.h"

int route__listed(const char *list, const char *name) {
  if (!list || !*name) return 0;
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    while (*p == ' ')
      p++;
    size_t w = strcspn(p, " ");
    if (w == n && !memcmp(p, name, n)) return 1;
    p += w;
  }
  return 0;
}

void route__sample(route_t *r, route_member_t *m, double ms) {
  m->ewma_ms = m->ewma_ms < 0 ? ms : r->alpha * ms + (1 - r->alpha) * m->ewma_ms;
  m->samples++;
}

/* The members this call may use now, as a bit set: untried, not open, and
 * (if any such is left) not failed recently. */
static uint64_t eligible(const route_group_t *g, uint64_t tried, const char *open, uint64_t now) {
  uint64_t ok = 0, healthy = 0;
  for (int i = 0; i < g->n; i++) {
    if (tried & (1ull << i) || route__listed(open, g->members[i].name)) continue;
    ok |= 1ull << i;
    if (g->members[i].failed_until <= now) healthy |= 1ull << i;
  }
  /* Every member failed recently: try one anyway rather than fail unasked. */
  return healthy ? healthy : ok;
}

static int lowest_latency(route_group_t *g, uint64_t ok) {
  int best = -1, stale = -1;
  for (int i = 0; i < g->n; i++) {
    if (!(ok & (1ull << i))) continue;
    const route_member_t *m = &g->members[i];
    /* A member never measured is measured first. */
    if (m->ewma_ms < 0) return i;
    if (best < 0 || m->ewma_ms < g->members[best].ewma_ms) best = i;
  }
  /* Every probe_every-th pick goes to the member measured longest ago
   * (not the best), so a recovered or nearer member is found. */
  if (g->probe_every && g->picks % g->probe_every == 0) {
    for (int i = 0; i < g->n; i++) {
      if (!(ok & (1ull << i)) || i == best) continue;
      if (stale < 0 || g->members[i].last_pick < g->members[stale].last_pick) stale = i;
    }
    if (stale >= 0) return stale;
  }
  return best;
}

static int least_in_flight(route_group_t *g, uint64_t ok) {
  int best = -1;
  /* Ties are broken round robin from rr_next, so a burst spreads evenly. */
  for (int k = 0; k < g->n; k++) {
    int i = (int)((g->rr_next + (uint32_t)k) % (uint32_t)g->n);
    if (!(ok & (1ull << i))) continue;
    if (best < 0 || g->members[i].in_flight < g->members[best].in_flight) best = i;
  }
  if (best >= 0) g->rr_next = (uint32_t)(best + 1) % (uint32_t)g->n;
  return best;
}

static int round_robin(route_group_t *g, uint64_t ok) {
  /* Smooth weighted round robin (as nginx does): every member gains its
   * weight, the richest is chosen and pays the total. */
  int64_t total = 0;
  int best = -1;
  for (int i = 0; i < g->n; i++) {
    if (!(ok & (1ull << i))) continue;
    route_member_t *m = &g->members[i];
    m->wrr_current += m->weight;
    total += m->weight;
    if (best < 0 || m->wrr_current > g->members[best].wrr_current) best = i;
  }
  if (best >= 0) g->members[best].wrr_current -= total;
  return best;
}

int route__pick(route_t *r, route_group_t *g, uint64_t tried, const char *open, uint64_t now) {
  (void)r;
  uint64_t ok = eligible(g, tried, open, now);
  if (!ok) return -1;
  g->picks++;
  int i;
  switch (g->strategy) {
  case ROUTE_LEAST_IN_FLIGHT:
    i = least_in_flight(g, ok);
    break;
  case ROUTE_ROUND_ROBIN:
    i = round_robin(g, ok);
    break;
  default:
    i = lowest_latency(g, ok);
    break;
  }
  if (i >= 0) g->members[i].last_pick = now;
  return i;
}

/* ---- Kinds of failure ---- */

static const struct {
  const char *name;
  unsigned bit;
} kinds[] = {
    {"connection", ROUTE_K_CONNECTION},
    {"timeout", ROUTE_K_TIMEOUT},
    {"rate_limit", ROUTE_K_RATE_LIMIT},
    {"overloaded", ROUTE_K_OVERLOADED},
    {"server", ROUTE_K_SERVER},
    {"breaker_open", ROUTE_K_BREAKER_OPEN},
    {"context_length", ROUTE_K_CONTEXT_LENGTH},
    {"content_policy", ROUTE_K_CONTENT_POLICY},
    {"auth", ROUTE_K_AUTH},
    {"client", ROUTE_K_CLIENT},
};

const char *route__kind_name(unsigned kind) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (kinds[i].bit == kind) return kinds[i].name;
  return "other";
}

unsigned route__kind_bit(const char *name) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (!strcmp(kinds[i].name, name)) return kinds[i].bit;
  return 0;
}

static int has(const char *s, const char *needle) {
  if (!s) return 0;
  size_t n = strlen(needle);
  for (; *s; s++)
    if (!strncasecmp(s, needle, n)) return 1;
  return 0;
}

unsigned route__kind(int err, const llmrt_error_info_t *ei) {
  switch (err) {
  case LLMRT_ECIRCUITOPEN:
    return ROUTE_K_BREAKER_OPEN;
  case LLMRT_ECANCELED:
  case LLMRT_ESHUTDOWN:
  case LLMRT_ENOMEM:
  case LLMRT_ETIMEDOUT:
  case LLMRT_EINVAL:
    return ROUTE_K_NEVER;
  case LLMRT_ERATELIMIT:
    return ROUTE_K_RATE_LIMIT;
  case LLMRT_EOVERLOADED:
    return ROUTE_K_OVERLOADED;
  case LLMRT_EAUTH:
    return ROUTE_K_AUTH;
  case LLMRT_ECONNECTTIMEOUT:
  case LLMRT_ETLSTIMEOUT:
  case LLMRT_EFIRSTBYTETIMEOUT:
  case LLMRT_EIDLETIMEOUT:
  case LLMRT_EFIRSTTOKENTIMEOUT:
    return ROUTE_K_TIMEOUT;
  default:
    break;
  }
  int st = ei->http_status;
  if (st == 400 || st == 413 || st == 422) {
    /* The providers' words: OpenAI's context_length_exceeded ("maximum
     * context length"), Anthropic's "prompt is too long". */
    if (has(ei->type, "context_length") || has(ei->message, "context_length_exceeded") ||
        has(ei->message, "maximum context length") || has(ei->message, "prompt is too long") ||
        has(ei->message, "context window"))
      return ROUTE_K_CONTEXT_LENGTH;
    if (has(ei->type, "content_policy") || has(ei->message, "content_policy") ||
        has(ei->message, "safety system") || has(ei->message, "content filtering"))
      return ROUTE_K_CONTENT_POLICY;
  }
  if (st >= 500) return ROUTE_K_SERVER;
  if (st == 408) return ROUTE_K_TIMEOUT;
  if (st == 429) return ROUTE_K_RATE_LIMIT;
  if (st >= 400) return ROUTE_K_CLIENT;
  if (err == LLMRT_EUPSTREAM) return ROUTE_K_SERVER; /* an error event inside a 200 stream */
  if (err <= -20000) {
    if (err <= LLMRT_EDNS && err >= LLMRT_ECLOSED) return ROUTE_K_CONNECTION;
    if (err == LLMRT_ETRUNCATED || err == LLMRT_EBADRESPONSE ||
        (err <= LLMRT_ETLS && err >= LLMRT_EHTTPSTATUS))
      return ROUTE_K_CONNECTION;
    return ROUTE_K_CLIENT;
  }
  return ROUTE_K_CONNECTION; /* libuv's socket errors */
}
