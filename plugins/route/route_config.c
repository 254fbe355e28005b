/* The route plugin's JSON configuration (docs/plugins/route.md). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "route.h"

#define H route__H

route_group_t *route__group(route_t *r, const char *name) {
  for (int i = 0; name && i < r->n_groups; i++)
    if (!strcmp(r->groups[i].name, name)) return &r->groups[i];
  return NULL;
}

route_member_t *route__single(route_t *r, const char *name) {
  for (int i = 0; name && i < r->n_singles; i++)
    if (!strcmp(r->singles[i].name, name)) return &r->singles[i];
  return NULL;
}

const route_chain_t *route__chain(const route_t *r, const char *source) {
  const route_chain_t *any = NULL;
  for (int i = 0; i < r->n_chains; i++) {
    if (source && !strcmp(r->chains[i].source, source)) return &r->chains[i];
    if (!strcmp(r->chains[i].source, "*")) any = &r->chains[i];
  }
  return any;
}

/* Fills m for the configured upstream `name`; -1 with a message if none. */
static int member_init(route_t *r, route_member_t *m, const char *name, const char *where,
                       char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  if (strlen(name) >= sizeof m->name) {
    snprintf(err, errlen, "%s: upstream name \"%.64s...\" is too long", where, name);
    return -1;
  }
  snprintf(m->name, sizeof m->name, "%s", name);
  m->ewma_ms = -1;
  m->weight = 1;
  if (H->struct_size >= offsetof(llmrt_host_t, upstream_lookup) + sizeof(void *) &&
      H->upstream_lookup) {
    llmrt_upstream_info_t info = {.struct_size = sizeof info};
    if (H->upstream_lookup(r->prt, name, &info) != 0) {
      snprintf(err, errlen, "%s: no upstream named \"%.64s\" is configured", where, name);
      return -1;
    }
    snprintf(m->provider, sizeof m->provider, "%s", info.provider);
  }
  return 0;
}

static int add_single(route_t *r, const char *name, const char *where, char *err, size_t errlen) {
  if (route__single(r, name)) return 0;
  route_member_t *s = H->realloc(r->singles, (size_t)(r->n_singles + 1) * sizeof *s);
  if (!s) return LLMRT_ENOMEM;
  r->singles = s;
  if (member_init(r, &s[r->n_singles], name, where, err, errlen)) return LLMRT_ECONFIG;
  r->n_singles++;
  return 0;
}

static int parse_group(route_t *r, const cJSON *g, char *err, size_t errlen) {
  route_group_t *grp = &r->groups[r->n_groups];
  memset(grp, 0, sizeof *grp);
  char where[128];
  snprintf(where, sizeof where, "groups.%.64s", g->string);
  if (!*g->string || strlen(g->string) >= sizeof grp->name || !cJSON_IsObject(g)) {
    snprintf(err, errlen, "%s: a group is a non-empty name (< 64 bytes) and an object", where);
    return LLMRT_ECONFIG;
  }
  snprintf(grp->name, sizeof grp->name, "%s", g->string);
  grp->probe_every = 20;
  for (const cJSON *it = g->child; it; it = it->next)
    if (strcmp(it->string, "members") && strcmp(it->string, "strategy") &&
        strcmp(it->string, "probe_every")) {
      snprintf(err, errlen, "%s: unknown key \"%.64s\" (known: members, strategy, probe_every)",
               where, it->string);
      return LLMRT_ECONFIG;
    }
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(g, "strategy");
  if (st) {
    const char *s = cJSON_IsString(st) ? st->valuestring : "";
    if (!strcmp(s, "lowest_latency"))
      grp->strategy = ROUTE_LOWEST_LATENCY;
    else if (!strcmp(s, "least_in_flight"))
      grp->strategy = ROUTE_LEAST_IN_FLIGHT;
    else if (!strcmp(s, "round_robin"))
      grp->strategy = ROUTE_ROUND_ROBIN;
    else {
      snprintf(err, errlen,
               "%s.strategy must be \"lowest_latency\", \"least_in_flight\" or "
               "\"round_robin\"",
               where);
      return LLMRT_ECONFIG;
    }
  }
  const cJSON *pe = cJSON_GetObjectItemCaseSensitive(g, "probe_every");
  if (pe) {
    if (!cJSON_IsNumber(pe) || pe->valuedouble < 0 || pe->valuedouble > 1e6 ||
        pe->valuedouble != (int)pe->valuedouble) {
      snprintf(err, errlen, "%s.probe_every must be an integer from 0 to 1000000", where);
      return LLMRT_ECONFIG;
    }
    grp->probe_every = (uint32_t)pe->valuedouble;
  }
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(g, "members");
  if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) < 1 ||
      cJSON_GetArraySize(ms) > ROUTE_MAX_MEMBERS) {
    snprintf(err, errlen, "%s.members must be an array of 1 to %d upstream names", where,
             ROUTE_MAX_MEMBERS);
    return LLMRT_ECONFIG;
  }
  for (const cJSON *m = ms->child; m; m = m->next) {
    const char *name = cJSON_IsString(m) ? m->valuestring : NULL;
    double w = 1;
    if (cJSON_IsObject(m)) {
      const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "upstream");
      const cJSON *wt = cJSON_GetObjectItemCaseSensitive(m, "weight");
      name = cJSON_IsString(u) ? u->valuestring : NULL;
      if (wt) w = cJSON_IsNumber(wt) ? wt->valuedouble : -1;
    }
    if (!name || w < 1 || w > 1000 || w != (int)w) {
      snprintf(err, errlen,
               "%s.members: each is an upstream name or {\"upstream\": name, "
               "\"weight\": 1..1000}",
               where);
      return LLMRT_ECONFIG;
    }
    for (int i = 0; i < grp->n; i++)
      if (!strcmp(grp->members[i].name, name)) {
        snprintf(err, errlen, "%s.members: \"%.64s\" is listed twice", where, name);
        return LLMRT_ECONFIG;
      }
    if (member_init(r, &grp->members[grp->n], name, where, err, errlen)) return LLMRT_ECONFIG;
    grp->members[grp->n++].weight = (uint32_t)w;
  }
  /* Requests name the group as their upstream. */
  if (H->struct_size >= offsetof(llmrt_host_t, upstream_alias) + sizeof(void *) &&
      H->upstream_alias) {
    int rc = H->upstream_alias(r->prt, grp->name);
    if (rc == LLMRT_ENOMEM) return rc;
    if (rc) {
      snprintf(err, errlen, "%s: the name is already an upstream's", where);
      return LLMRT_ECONFIG;
    }
  }
  r->n_groups++;
  return 0;
}

static int parse_target(route_t *r, route_target_t *t, const cJSON *o, const char *where, char *err,
                        size_t errlen) {
  memset(t, 0, sizeof *t);
  t->temperature = -1;
  if (!cJSON_IsObject(o)) {
    snprintf(err, errlen, "%s: a target is an object {\"upstream\", \"model\", ...}", where);
    return LLMRT_ECONFIG;
  }
  for (const cJSON *it = o->child; it; it = it->next)
    if (strcmp(it->string, "upstream") && strcmp(it->string, "model") &&
        strcmp(it->string, "max_tokens") && strcmp(it->string, "temperature") &&
        strcmp(it->string, "context_window")) {
      snprintf(err, errlen,
               "%s: unknown key \"%.64s\" (known: upstream, model, max_tokens, "
               "temperature, context_window)",
               where, it->string);
      return LLMRT_ECONFIG;
    }
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "upstream");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
  const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o, "max_tokens");
  const cJSON *te = cJSON_GetObjectItemCaseSensitive(o, "temperature");
  const cJSON *cw = cJSON_GetObjectItemCaseSensitive(o, "context_window");
  if (!cJSON_IsString(u) || strlen(u->valuestring) >= sizeof t->upstream) {
    snprintf(err, errlen, "%s.upstream must be the name of an upstream or a group", where);
    return LLMRT_ECONFIG;
  }
  snprintf(t->upstream, sizeof t->upstream, "%s", u->valuestring);
  if (!route__group(r, t->upstream)) {
    int rc = add_single(r, t->upstream, where, err, errlen);
    if (rc) return rc;
  }
  if (m) {
    if (!cJSON_IsString(m) || !*m->valuestring || strlen(m->valuestring) > 256) {
      snprintf(err, errlen, "%s.model must be a non-empty string", where);
      return LLMRT_ECONFIG;
    }
    size_t n = strlen(m->valuestring) + 1;
    if (!(t->model = H->malloc(n))) return LLMRT_ENOMEM;
    memcpy(t->model, m->valuestring, n);
  }
  if (mt && (!cJSON_IsNumber(mt) || mt->valuedouble < 1 || mt->valuedouble > 10000000 ||
             mt->valuedouble != (int)mt->valuedouble)) {
    snprintf(err, errlen, "%s.max_tokens must be a positive integer", where);
    return LLMRT_ECONFIG;
  }
  if (mt) t->max_tokens = (int32_t)mt->valuedouble;
  if (te && (!cJSON_IsNumber(te) || te->valuedouble < 0 || te->valuedouble > 2)) {
    snprintf(err, errlen, "%s.temperature must be a number from 0 to 2", where);
    return LLMRT_ECONFIG;
  }
  if (te) t->temperature = te->valuedouble;
  if (cw && (!cJSON_IsNumber(cw) || cw->valuedouble < 1 || cw->valuedouble > 1e12)) {
    snprintf(err, errlen, "%s.context_window must be a positive number of tokens", where);
    return LLMRT_ECONFIG;
  }
  if (cw) t->context_window = (int64_t)cw->valuedouble;
  return 0;
}

static int parse_chain(route_t *r, const cJSON *c, char *err, size_t errlen) {
  route_chain_t *ch = &r->chains[r->n_chains];
  memset(ch, 0, sizeof *ch);
  char where[128];
  snprintf(where, sizeof where, "fallbacks.%.64s", c->string);
  if (!*c->string || strlen(c->string) >= sizeof ch->source || !cJSON_IsArray(c) ||
      cJSON_GetArraySize(c) < 1 || cJSON_GetArraySize(c) > ROUTE_MAX_TARGETS) {
    snprintf(err, errlen,
             "%s: an array of 1 to %d targets, under the name of an upstream, a "
             "group or \"*\"",
             where, ROUTE_MAX_TARGETS);
    return LLMRT_ECONFIG;
  }
  snprintf(ch->source, sizeof ch->source, "%s", c->string);
  r->n_chains++; /* before the targets: config_free frees what they hold */
  if (strcmp(ch->source, "*") && !route__group(r, ch->source)) {
    int rc = add_single(r, ch->source, where, err, errlen);
    if (rc) return rc;
  }
  int i = 0;
  for (const cJSON *t = c->child; t; t = t->next, i++) {
    char w[160];
    snprintf(w, sizeof w, "%s[%d]", where, i);
    int rc = parse_target(r, &ch->t[ch->n], t, w, err, errlen);
    ch->n++;
    if (rc) return rc;
  }
  return 0;
}

int route__config(route_t *r, const char *json, size_t len, char *err, size_t errlen) {
  r->alpha = 0.3;
  r->cooldown_ms = 5000;
  r->fallback_on = ROUTE_K_CONNECTION | ROUTE_K_TIMEOUT | ROUTE_K_RATE_LIMIT | ROUTE_K_OVERLOADED |
                   ROUTE_K_SERVER | ROUTE_K_BREAKER_OPEN | ROUTE_K_CONTEXT_LENGTH;
  cJSON *cfg = cJSON_ParseWithLength(json, len);
  int rc = 0;
  if (!cfg || !cJSON_IsObject(cfg)) {
    snprintf(err, errlen, "config is not a JSON object");
    rc = LLMRT_ECONFIG;
    goto out;
  }
  for (const cJSON *it = cfg->child; it; it = it->next)
    if (strcmp(it->string, "name") && strcmp(it->string, "groups") &&
        strcmp(it->string, "fallbacks") && strcmp(it->string, "fallback_on") &&
        strcmp(it->string, "ewma_alpha") && strcmp(it->string, "failure_cooldown_ms")) {
      snprintf(err, errlen,
               "unknown key \"%.64s\" (known: groups, fallbacks, fallback_on, "
               "ewma_alpha, failure_cooldown_ms)",
               it->string);
      rc = LLMRT_ECONFIG;
      goto out;
    }
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "ewma_alpha");
  if (v) {
    if (!cJSON_IsNumber(v) || v->valuedouble <= 0 || v->valuedouble > 1) {
      snprintf(err, errlen, "ewma_alpha must be a number in (0, 1]");
      rc = LLMRT_ECONFIG;
      goto out;
    }
    r->alpha = v->valuedouble;
  }
  v = cJSON_GetObjectItemCaseSensitive(cfg, "failure_cooldown_ms");
  if (v) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 86400000) {
      snprintf(err, errlen, "failure_cooldown_ms must be an integer from 0 to 86400000");
      rc = LLMRT_ECONFIG;
      goto out;
    }
    r->cooldown_ms = (uint32_t)v->valuedouble;
  }
  v = cJSON_GetObjectItemCaseSensitive(cfg, "fallback_on");
  if (v) {
    r->fallback_on = 0;
    for (const cJSON *k = cJSON_IsArray(v) ? v->child : NULL; k; k = k->next) {
      unsigned b = cJSON_IsString(k) ? route__kind_bit(k->valuestring) : 0;
      if (!b) {
        snprintf(err, errlen,
                 "fallback_on: unknown kind (known: connection, timeout, rate_limit, "
                 "overloaded, server, breaker_open, context_length, content_policy, "
                 "auth, client)");
        rc = LLMRT_ECONFIG;
        goto out;
      }
      r->fallback_on |= b;
    }
    if (!cJSON_IsArray(v)) {
      snprintf(err, errlen, "fallback_on must be an array of kinds of failure");
      rc = LLMRT_ECONFIG;
      goto out;
    }
  }
  const cJSON *groups = cJSON_GetObjectItemCaseSensitive(cfg, "groups");
  if (groups) {
    int n = cJSON_GetArraySize(groups);
    if (!cJSON_IsObject(groups)) {
      snprintf(err, errlen, "groups must be an object of group names to groups");
      rc = LLMRT_ECONFIG;
      goto out;
    }
    if (n > 0 && !(r->groups = H->calloc((size_t)n, sizeof *r->groups))) {
      rc = LLMRT_ENOMEM;
      goto out;
    }
    for (const cJSON *g = groups->child; g && !rc; g = g->next)
      rc = parse_group(r, g, err, errlen);
    if (rc) goto out;
  }
  const cJSON *fb = cJSON_GetObjectItemCaseSensitive(cfg, "fallbacks");
  if (fb) {
    int n = cJSON_GetArraySize(fb);
    if (!cJSON_IsObject(fb)) {
      snprintf(err, errlen, "fallbacks must be an object of names to arrays of targets");
      rc = LLMRT_ECONFIG;
      goto out;
    }
    if (n > 0 && !(r->chains = H->calloc((size_t)n, sizeof *r->chains))) {
      rc = LLMRT_ENOMEM;
      goto out;
    }
    for (const cJSON *c = fb->child; c && !rc; c = c->next)
      rc = parse_chain(r, c, err, errlen);
  }
out:
  cJSON_Delete(cfg);
  return rc;
}

void route__config_free(route_t *r) {
  for (int i = 0; i < r->n_chains; i++)
    for (int j = 0; j < r->chains[i].n; j++)
      H->free(r->chains[i].t[j].model);
  H->free(r->chains);
  H->free(r->groups);
  H->free(r->singles);
}
