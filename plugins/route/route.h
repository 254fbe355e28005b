/* Internals of the route plugin, shared by its files:
 *   route.c         the hooks: dispatch, measurement, fallback on error
 *   route_config.c  the JSON configuration (groups, fallbacks)
 *   route_pick.c    choosing a group member (lowest latency with probes,
 *                   least in flight, weighted round robin), error kinds
 * Global names carry the route__ prefix (every built-in plugin is linked
 * into one library). */
#ifndef LLMRT_PLUGIN_ROUTE_H
#define LLMRT_PLUGIN_ROUTE_H

#include <stdint.h>

#include "llmrt/plugin.h"

extern const llmrt_host_t *route__H;

#define ROUTE_MAX_MEMBERS 32
#define ROUTE_MAX_TARGETS 16
#define ROUTE_NAME_MAX 64

enum { ROUTE_LOWEST_LATENCY = 0, ROUTE_LEAST_IN_FLIGHT, ROUTE_ROUND_ROBIN };

/* Kinds of failure, for fallback_on (a bit each). */
enum {
  ROUTE_K_CONNECTION = 1 << 0,
  ROUTE_K_TIMEOUT = 1 << 1,
  ROUTE_K_RATE_LIMIT = 1 << 2,
  ROUTE_K_OVERLOADED = 1 << 3,
  ROUTE_K_SERVER = 1 << 4,
  ROUTE_K_BREAKER_OPEN = 1 << 5,
  ROUTE_K_CONTEXT_LENGTH = 1 << 6,
  ROUTE_K_CONTENT_POLICY = 1 << 7,
  ROUTE_K_AUTH = 1 << 8,
  ROUTE_K_CLIENT = 1 << 9, /* other 4xx: the request itself is wrong */
  ROUTE_K_NEVER = 1 << 10  /* canceled, shutting down, out of memory, total deadline */
};

/* One configured upstream a group or target names. */
typedef struct {
  char name[ROUTE_NAME_MAX];
  char provider[16];
  uint32_t weight;
  /* Measurement and health (route_pick.c). */
  double ewma_ms;        /* < 0: no sample yet */
  uint64_t last_pick;    /* loop ms when last chosen */
  uint64_t failed_until; /* skipped until then (failed recently) */
  uint32_t in_flight;
  int64_t wrr_current; /* smooth weighted round robin */
  uint64_t samples;
} route_member_t;

typedef struct {
  char name[ROUTE_NAME_MAX];
  int strategy;
  route_member_t members[ROUTE_MAX_MEMBERS];
  int n;
  uint32_t probe_every; /* lowest latency: every Nth pick measures another member; 0: never */
  uint64_t picks;
  uint32_t rr_next; /* least in flight: ties go round robin */
} route_group_t;

/* A target: an upstream or a group, and what to change in the request. */
typedef struct {
  char upstream[ROUTE_NAME_MAX];
  char *model;            /* NULL: the request's model */
  int32_t max_tokens;     /* 0: the request's */
  double temperature;     /* < 0: the request's */
  int64_t context_window; /* tokens; 0: unknown */
} route_target_t;

/* The fallbacks of one name a request may use as upstream ("*": any). */
typedef struct {
  char source[ROUTE_NAME_MAX];
  int64_t context_window; /* of the source itself */
  route_target_t t[ROUTE_MAX_TARGETS];
  int n;
} route_chain_t;

typedef struct {
  llmrt_plugin_rt_t *prt;
  route_group_t *groups;
  int n_groups;
  route_chain_t *chains;
  int n_chains;
  /* Single upstreams the configuration names, with their own measurement. */
  route_member_t *singles;
  int n_singles;
  unsigned fallback_on; /* ROUTE_K_* that move to the next target */
  double alpha;         /* EWMA weight of a new sample */
  uint32_t cooldown_ms; /* a member that failed is skipped this long */
  llmrt_metric_t *m_fallbacks, *m_latency, *m_picks;
} route_t;

int route__config(route_t *r, const char *json, size_t len, char *err, size_t errlen);
void route__config_free(route_t *r);

route_group_t *route__group(route_t *r, const char *name);
route_member_t *route__single(route_t *r, const char *name);
const route_chain_t *route__chain(const route_t *r, const char *source);

/* Picks a member of g for this call: not in `tried` (bit per member), not
 * listed in `open` (space-separated names whose circuit is open), healthy
 * members before ones that failed recently. -1 when none is left. */
int route__pick(route_t *r, route_group_t *g, uint64_t tried, const char *open, uint64_t now);
/* Feeds a latency sample (dispatch to first content, ms) to m. */
void route__sample(route_t *r, route_member_t *m, double ms);
/* 1 if name is a word of the space-separated list. */
int route__listed(const char *list, const char *name);

/* The kind of a failure (ROUTE_K_*), from the error and the last attempt. */
unsigned route__kind(int err, const llmrt_error_info_t *ei);
const char *route__kind_name(unsigned kind);
unsigned route__kind_bit(const char *name);

#endif
