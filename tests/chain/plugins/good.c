/* A well-formed test plugin. Its state keeps a copy of the config it was
 * given, so a test can check that each instance got its own. Config keys it
 * understands (found by plain string search, to need no JSON library):
 *   "tag": "x"         label of the instance, in logs and metrics
 *   "timer_ms": N      start a repeating timer that stops itself after 3 runs
 *   "leave_timer": 1   also start a timer that is never stopped (unload must)
 * It counts each init in the counter test_plugin_inits_total{tag="x"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmrt/plugin.h"
#include "test_plugin.h"

static const llmrt_host_t *host;

static int num_after(const char *json, const char *key, long *out) {
  const char *p = strstr(json, key);
  if (!p) return 0;
  p = strchr(p + strlen(key), ':');
  if (!p) return 0;
  *out = strtol(p + 1, NULL, 10);
  return 1;
}

static void str_after(const char *json, const char *key, char *out, size_t n) {
  out[0] = '\0';
  const char *p = strstr(json, key);
  if (!p || !(p = strchr(p + strlen(key), ':')) || !(p = strchr(p, '"'))) return;
  p++;
  size_t i = 0;
  while (p[i] && p[i] != '"' && i + 1 < n) {
    out[i] = p[i];
    i++;
  }
  out[i] = '\0';
}

static void on_tick(llmrt_timer_t *t, void *arg) {
  test_plugin_state_t *st = arg;
  char msg[64];
  st->ticks++;
  snprintf(msg, sizeof msg, "tick %d", st->ticks);
  host->log(st->prt, 2 /* info */, msg);
  if (st->ticks == 3) {
    host->timer_stop(t); /* from inside the callback */
    st->tick_timer = NULL;
  }
}

static void on_never(llmrt_timer_t *t, void *arg) {
  (void)t;
  test_plugin_state_t *st = arg;
  st->never_fired++;
}

static int init(llmrt_plugin_rt_t *prt, const char *cfg, size_t len, void **state, char *err,
                size_t errlen) {
  test_plugin_state_t *st = calloc(1, sizeof *st);
  if (!st) return LLMRT_ENOMEM;
  st->magic = TEST_PLUGIN_MAGIC;
  st->prt = prt;
  snprintf(st->config, sizeof st->config, "%.*s", (int)len, cfg);
  str_after(st->config, "\"tag\"", st->tag, sizeof st->tag);
  char labels[96];
  snprintf(labels, sizeof labels, "tag=\"%s\"", st->tag);
  llmrt_metric_t *m = NULL;
  if (host->metric(prt, LLMRT_METRIC_COUNTER, "test_plugin_inits_total", "Inits of the test plugin",
                   &m) == 0)
    host->metric_add(m, labels, 1);
  char msg[320];
  snprintf(msg, sizeof msg, "init %s", st->config);
  host->log(prt, 2, msg);

  long ms = 0, leave = 0;
  int r = 0;
  if (num_after(st->config, "\"timer_ms\"", &ms) && ms > 0)
    r = host->timer_start(prt, (uint64_t)ms, (uint64_t)ms, on_tick, st, &st->tick_timer);
  if (!r && num_after(st->config, "\"leave_timer\"", &leave) && leave)
    r = host->timer_start(prt, 3600 * 1000, 0, on_never, st, &st->never_timer);
  if (r) {
    snprintf(err, errlen, "timer_start failed: %d", r);
    free(st);
    return r;
  }
  *state = st;
  return 0;
}

static void fini(void *state) {
  test_plugin_state_t *st = state;
  /* Tests see fini in the log: the instance is gone afterwards. */
  char msg[64];
  snprintf(msg, sizeof msg, "fini %s ticks=%d never_fired=%d", st->tag, st->ticks, st->never_fired);
  host->log(st->prt, 2, msg);
  free(st);
}

static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "testgood",
    .version = "1.0",
    .init = init,
    .fini = fini,
    .call_state_size = 24,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *h) {
  host = h;
  return &desc;
}
