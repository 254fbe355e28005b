/* Loading plugins: by path, by name through LLMRT_PLUGIN_PATH, the same
 * plugin twice with different configs, every kind of broken plugin refused
 * with a message naming its file, timers, and the metrics registry with its
 * Prometheus text. The plugins are the .c files of tests/chain/plugins, built as .so. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/chain.h"
#include "chain_fixture.h"
#include "logcap.h"
#include "plugins/test_plugin.h"
#include "test.h"

#ifndef LLMRT_TEST_PLUGIN_DIR
#define LLMRT_TEST_PLUGIN_DIR LLMRT_BINARY_DIR "/test-plugins"
#endif
#define PDIR LLMRT_TEST_PLUGIN_DIR

static logcap_t logs; /* every log line of the runtime under test */

static llmrt_t *new_rt(void) {
  logcap_clear(&logs);
  return chainfx_rt_new(NULL, &logs);
}

static void free_rt(llmrt_t *rt) {
  chainfx_rt_close(rt, NULL);
}

static test_plugin_state_t *good_state(llmrt__chain_t *ch, size_t i) {
  ASSERT(i < ch->conf->n_plugins);
  test_plugin_state_t *st = ch->conf->plugins[i]->state;
  ASSERT(st != NULL);
  ASSERT_EQ(st->magic, TEST_PLUGIN_MAGIC);
  return st;
}

static void test_by_path(void) {
  llmrt_t *rt = new_rt();
  char err[512];
  const char *cfg = "{\"plugins\":[{\"name\":\"" PDIR "/testgood.so\",\"tag\":\"a\",\"n\":[1,2]}]}";
  ASSERT_ERR(llmrt_configure(rt, cfg, err, sizeof err), 0);
  llmrt__chain_t *ch = llmrt__chain_get(rt);
  ASSERT_EQ(ch->conf->n_plugins, 1);
  llmrt_plugin_rt_t *p = ch->conf->plugins[0];
  ASSERT_STR_EQ(p->desc->name, "testgood");
  ASSERT_STR_EQ(p->desc->version, "1.0");
  ASSERT_STR_EQ(p->label, PDIR "/testgood.so");
  ASSERT_EQ(p->index, 0);
  ASSERT_EQ(p->state_off, 0);
  ASSERT_EQ(ch->conf->states_size, 32); /* 24 rounded up to 16 */
  /* init got its whole object, unformatted. */
  test_plugin_state_t *st = good_state(ch, 0);
  ASSERT_STR_EQ(st->config, "{\"name\":\"" PDIR "/testgood.so\",\"tag\":\"a\",\"n\":[1,2]}");
  ASSERT(st->prt == p);
  /* Its log line carries the plugin's label. */
  ASSERT_CONTAINS(logs.text, "plugin " PDIR "/testgood.so: init {");
  free_rt(rt);
  ASSERT_CONTAINS(logs.text, "fini a ticks=0");
}

static void test_by_name_and_twice(void) {
  setenv("LLMRT_PLUGIN_PATH", "/nonexistent/a::/nonexistent/b:" PDIR, 1);
  llmrt_t *rt = new_rt();
  char err[512];
  const char *cfg = "{\"plugins\":[{\"name\":\"testgood\",\"tag\":\"outer\"},"
                    "{\"name\":\"testgood\",\"tag\":\"inner\"}]}";
  ASSERT_ERR(llmrt_configure(rt, cfg, err, sizeof err), 0);
  llmrt__chain_t *ch = llmrt__chain_get(rt);
  ASSERT_EQ(ch->conf->n_plugins, 2);
  test_plugin_state_t *a = good_state(ch, 0), *b = good_state(ch, 1);
  ASSERT(a != b);
  ASSERT_STR_EQ(a->tag, "outer");
  ASSERT_STR_EQ(b->tag, "inner");
  ASSERT_CONTAINS(a->config, "\"tag\":\"outer\"");
  ASSERT_CONTAINS(b->config, "\"tag\":\"inner\"");
  ASSERT_EQ(ch->conf->plugins[0]->index, 0);
  ASSERT_EQ(ch->conf->plugins[1]->index, 1);
  ASSERT_EQ(ch->conf->plugins[0]->state_off, 0);
  ASSERT_EQ(ch->conf->plugins[1]->state_off, 32);
  ASSERT_EQ(ch->conf->states_size, 64);
  ASSERT_STR_EQ(ch->conf->plugins[1]->label, "testgood");

  /* Each instance counted its init in the shared registry. */
  char *text = NULL;
  size_t len = 0;
  ASSERT_ERR(llmrt_metrics_text(rt, &text, &len), 0);
  ASSERT_EQ(len, strlen(text));
  ASSERT_CONTAINS(text, "# HELP test_plugin_inits_total Inits of the test plugin\n"
                        "# TYPE test_plugin_inits_total counter\n"
                        "test_plugin_inits_total{tag=\"outer\"} 1\n"
                        "test_plugin_inits_total{tag=\"inner\"} 1\n");
  llmrt_free(text);
  free_rt(rt);
  /* Innermost first. */
  const char *fi = strstr(logs.text, "fini inner"), *fo = strstr(logs.text, "fini outer");
  ASSERT(fi && fo && fi < fo);
  unsetenv("LLMRT_PLUGIN_PATH");
}

typedef struct {
  const char *name;
  int err;
  const char *want[3]; /* substrings of the message */
} bad_t;

static void test_refused(void) {
  /* A file that exists but is not a shared object. */
  const char *junk = LLMRT_BINARY_DIR "/test-plugins-junk.so";
  FILE *f = fopen(junk, "w");
  ASSERT(f != NULL);
  fputs("not an ELF file\n", f);
  fclose(f);
  setenv("LLMRT_PLUGIN_PATH", PDIR, 1);
  const bad_t bad[] = {
      {PDIR "/testbadabi.so",
       LLMRT_EPLUGINABI,
       {"$.plugins[1].name: plugin " PDIR "/testbadabi.so: ",
        "built for plugin ABI 7, this runtime speaks 2"}},
      {PDIR "/testv1.so",
       LLMRT_EPLUGINABI,
       {"$.plugins[1].name: plugin " PDIR "/testv1.so: ",
        "built for plugin ABI 1, this runtime speaks 2"}},
      {PDIR "/testreserved.so",
       LLMRT_EPLUGINABI,
       {"plugin " PDIR "/testreserved.so: ", "reserved[2] is set"}},
      {"testbadabi",
       LLMRT_EPLUGINABI,
       {"plugin testbadabi: " PDIR "/testbadabi.so: built for plugin ABI 7"}},
      {PDIR "/testsmallstruct.so",
       LLMRT_EPLUGINABI,
       {"plugin " PDIR "/testsmallstruct.so: ", "struct_size 16 is outside"}},
      {PDIR "/testnoentry.so",
       LLMRT_EPLUGINLOAD,
       {"plugin " PDIR "/testnoentry.so: ", "no llmrt_plugin_entry symbol"}},
      {PDIR "/testrefuse.so",
       LLMRT_EPLUGIN,
       {"$.plugins[1]: plugin " PDIR "/testrefuse.so: max_bytes must be a positive integer"}},
      {"testrefuse", LLMRT_EPLUGIN, {"plugin testrefuse: max_bytes must be a positive integer"}},
      {LLMRT_BINARY_DIR "/test-plugins-junk.so",
       LLMRT_EPLUGINLOAD,
       {"plugin " LLMRT_BINARY_DIR "/test-plugins-junk.so: file too short"}},
      {PDIR "/nothere.so",
       LLMRT_EPLUGINLOAD,
       {"plugin " PDIR "/nothere.so: cannot open shared object file: No such file"}},
      {"nothere", LLMRT_EPLUGINLOAD, {"no nothere.so in LLMRT_PLUGIN_PATH (" PDIR ")"}},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    llmrt_t *rt = new_rt();
    char cfg[1024], err[1024] = "";
    /* A good plugin first: it must be unloaded again when the second fails. */
    snprintf(cfg, sizeof cfg,
             "{\"plugins\":[{\"name\":\"testgood\",\"tag\":\"first\"},{\"name\":\"%s\"}]}",
             bad[i].name);
    int r = llmrt_configure(rt, cfg, err, sizeof err);
    fprintf(stderr, "   %s\n      -> %s\n", bad[i].name, err);
    ASSERT_ERR(r, bad[i].err);
    for (int k = 0; k < 3 && bad[i].want[k]; k++)
      ASSERT_CONTAINS(err, bad[i].want[k]);
    ASSERT_CONTAINS(logs.text, "fini first");
    llmrt__chain_t *ch = llmrt__chain_get(rt);
    ASSERT(ch->conf == NULL);
    free_rt(rt);
  }
  unsetenv("LLMRT_PLUGIN_PATH");
  remove(junk);
}

/* A repeating timer that stops itself from inside its callback, and one the
 * plugin never stops: unload stops it and the runtime still closes. */
static void test_timers(void) {
  llmrt_t *rt = new_rt();
  char err[512];
  const char *cfg = "{\"plugins\":[{\"name\":\"" PDIR "/testgood.so\",\"tag\":\"t\","
                    "\"timer_ms\":5,\"leave_timer\":1}]}";
  ASSERT_ERR(llmrt_configure(rt, cfg, err, sizeof err), 0);
  test_plugin_state_t *st = good_state(llmrt__chain_get(rt), 0);
  ASSERT(st->tick_timer != NULL && st->never_timer != NULL);
  uint64_t t0 = llmrt__plugin_now_ms(st->prt);
  for (int turns = 0; st->ticks < 3 && turns < 1000; turns++)
    llmrt_run(rt, UV_RUN_ONCE);
  ASSERT_EQ(st->ticks, 3);
  ASSERT(st->tick_timer == NULL);
  ASSERT_GE(llmrt__plugin_now_ms(st->prt) - t0, 15);
  /* Nothing else is due for an hour: the loop has nothing to do but wait. */
  ASSERT_EQ(llmrt_run(rt, UV_RUN_NOWAIT), 1);
  ASSERT_EQ(st->ticks, 3);
  free_rt(rt);
  ASSERT_CONTAINS(logs.text, "plugin " PDIR "/testgood.so: tick 3");
  ASSERT_CONTAINS(logs.text, "fini t ticks=3 never_fired=0");
}

static void test_metrics_text(void) {
  llmrt_t *rt = new_rt();
  llmrt_metric_t *c = NULL, *g = NULL, *h = NULL, *tok = NULL, *again = NULL;
  ASSERT_ERR(llmrt__metric_get(rt, LLMRT_METRIC_COUNTER, "llmrt_retries_total", "Retries", &c), 0);
  ASSERT_ERR(
      llmrt__metric_get(rt, LLMRT_METRIC_GAUGE, "llmrt.test.depth", "Depth\nnow", &g), 0);
  ASSERT_ERR(llmrt__metric_get(rt, LLMRT_METRIC_HISTOGRAM,
                               "gen_ai_client_operation_duration_seconds",
                               "GenAI operation duration", &h),
             0);
  ASSERT_ERR(llmrt__metric_get(rt, LLMRT_METRIC_HISTOGRAM, "gen_ai_client_token_usage",
                               "Tokens used", &tok),
             0);
  /* Found again by name (dots or not); another kind is refused. */
  ASSERT_ERR(llmrt__metric_get(rt, LLMRT_METRIC_COUNTER, "llmrt.retries_total", NULL, &again), 0);
  ASSERT(again == c);
  ASSERT_ERR(llmrt__metric_get(rt, LLMRT_METRIC_GAUGE, "llmrt_retries_total", NULL, &again),
             LLMRT_EINVAL);
  ASSERT(again == NULL);
  ASSERT_ERR(llmrt__metric_get(rt, LLMRT_METRIC_GAUGE, "bad name", NULL, &again), LLMRT_EINVAL);
  ASSERT_ERR(llmrt__metric_get(rt, LLMRT_METRIC_GAUGE, "9lives", NULL, &again), LLMRT_EINVAL);
  ASSERT_ERR(llmrt__metric_get(rt, 9, "kind_nine", NULL, &again), LLMRT_EINVAL);

  llmrt__metric_add(c, "upstream=\"a\"", 1);
  llmrt__metric_add(c, "upstream=\"b\"", 2);
  llmrt__metric_add(c, "upstream=\"a\"", 1.5);
  llmrt__metric_add(c, "upstream=\"a\"", -7); /* counters never go down */
  llmrt__metric_set(c, "upstream=\"a\"", 0);  /* nor get set */
  llmrt__metric_set(g, NULL, 3);
  llmrt__metric_add(g, NULL, -1);
  const char *lab = "gen_ai_operation_name=\"chat\",gen_ai_request_model=\"m\"";
  llmrt__metric_observe(h, lab, 0.003);
  llmrt__metric_observe(h, lab, 0.7);
  llmrt__metric_observe(h, lab, 100);
  llmrt__metric_observe(h, "x=\"y\"", 0.5);
  llmrt__metric_observe(h, lab, NAN); /* NaN: ignored */
  llmrt__metric_add(h, lab, 1);       /* wrong kind: ignored */
  llmrt__metric_observe(tok, NULL, 3000);
  llmrt__metric_observe(tok, "bad=\"a\nb\"", 1); /* would break the format: dropped */
  /* Label sets that could forge lines or values are dropped whole. */
  llmrt__metric_add(c, "model=\"a\"b\",evil=\"x\"} 99 #", 1);
  llmrt__metric_add(c, "model=\"a\\q\"", 1); /* only \\ \" \n escapes */
  llmrt__metric_add(c, "model=\"a\",", 1);
  llmrt__metric_add(c, "9x=\"a\"", 1);
  llmrt__metric_observe(h, "le=\"5\"", 1); /* le belongs to the buckets */
  llmrt__metric_add(c, "model=\"q\\\"uote\"", 4); /* a properly escaped quote is fine */

  char *text = NULL;
  size_t len = 0;
  ASSERT_ERR(llmrt_metrics_text(rt, &text, &len), 0);
  fprintf(stderr, "%s", text);
  const char *want =
      "# HELP llmrt_retries_total Retries\n"
      "# TYPE llmrt_retries_total counter\n"
      "llmrt_retries_total{upstream=\"a\"} 2.5\n"
      "llmrt_retries_total{upstream=\"b\"} 2\n"
      "llmrt_retries_total{model=\"q\\\"uote\"} 4\n"
      "# HELP llmrt_test_depth Depth\\nnow\n"
      "# TYPE llmrt_test_depth gauge\n"
      "llmrt_test_depth 2\n"
      "# HELP gen_ai_client_operation_duration_seconds GenAI operation duration\n"
      "# TYPE gen_ai_client_operation_duration_seconds histogram\n"
      "gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name=\"chat\","
      "gen_ai_request_model=\"m\",le=\"0.01\"} 1\n";
  ASSERT_MEM_EQ(text, strlen(want), want, strlen(want));
  const char *p = "gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name=\"chat\","
                  "gen_ai_request_model=\"m\",le=\"0.64\"} 1\n"
                  "gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name=\"chat\","
                  "gen_ai_request_model=\"m\",le=\"1.28\"} 2\n";
  ASSERT_CONTAINS(text, p);
  ASSERT_CONTAINS(text, "gen_ai_request_model=\"m\",le=\"81.92\"} 2\n"
                        "gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name="
                        "\"chat\",gen_ai_request_model=\"m\",le=\"+Inf\"} 3\n"
                        "gen_ai_client_operation_duration_seconds_sum{gen_ai_operation_name="
                        "\"chat\",gen_ai_request_model=\"m\"} 100.703\n"
                        "gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="
                        "\"chat\",gen_ai_request_model=\"m\"} 3\n");
  ASSERT_CONTAINS(text, "gen_ai_client_operation_duration_seconds_bucket{x=\"y\",le=\"0.32\"} 0\n"
                        "gen_ai_client_operation_duration_seconds_bucket{x=\"y\",le=\"0.64\"} 1\n");
  /* Token histograms get token-sized buckets; no labels means no braces. */
  ASSERT_CONTAINS(text, "gen_ai_client_token_usage_bucket{le=\"1024\"} 0\n"
                        "gen_ai_client_token_usage_bucket{le=\"4096\"} 1\n");
  ASSERT_CONTAINS(text, "gen_ai_client_token_usage_sum 3000\ngen_ai_client_token_usage_count 1\n");
  ASSERT(strstr(text, "bad=") == NULL);
  /* Every line is a comment or "name{...} value". */
  for (char *line = text; *line;) {
    char *nl = strchr(line, '\n');
    ASSERT(nl != NULL);
    ASSERT(line[0] == '#' || (line[0] >= 'a' && line[0] <= 'z'));
    line = nl + 1;
  }
  llmrt_free(text);
  ASSERT_ERR(llmrt_metrics_text(rt, NULL, NULL), LLMRT_EINVAL);
  free_rt(rt);

  /* An empty registry leaves the runtime's own families (docs/metrics.md). */
  rt = new_rt();
  ASSERT_ERR(llmrt_metrics_text(rt, &text, &len), 0);
  ASSERT(strncmp(text, "# HELP llmrt_calls_in_flight ", 29) == 0);
  ASSERT_EQ(len, strlen(text));
  llmrt_free(text);
  free_rt(rt);
}

/* A plugin linked into the program, registered with llmrt_add_plugin: it
 * comes before files, even one of the same name on LLMRT_PLUGIN_PATH. */
static int inline_inits;
static char inline_cfg[128];

static int inline_init(llmrt_plugin_rt_t *prt, const char *cfg, size_t len, void **state, char *err,
                       size_t errlen) {
  (void)prt, (void)state, (void)err, (void)errlen;
  inline_inits++;
  snprintf(inline_cfg, sizeof inline_cfg, "%.*s", (int)len, cfg);
  return 0;
}

static const llmrt_plugin_t inline_desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "inline",
    .init = inline_init,
};

static const llmrt_plugin_t *inline_entry(const llmrt_host_t *h) {
  ASSERT(h != NULL && h->abi_version == LLMRT_PLUGIN_ABI_VERSION);
  return &inline_desc;
}

static void test_registered(void) {
  setenv("LLMRT_PLUGIN_PATH", PDIR, 1);
  llmrt_t *rt = new_rt();
  ASSERT_ERR(llmrt_add_plugin(rt, "testgood", inline_entry), 0);
  char err[512];
  ASSERT_ERR(
      llmrt_configure(rt, "{\"plugins\":[{\"name\":\"testgood\",\"k\":1}]}", err, sizeof err), 0);
  llmrt__chain_t *ch = llmrt__chain_get(rt);
  ASSERT_EQ(ch->conf->n_plugins, 1);
  ASSERT(ch->conf->plugins[0]->desc->init == inline_init);
  ASSERT_EQ(inline_inits, 1);
  ASSERT_STR_EQ(inline_cfg, "{\"name\":\"testgood\",\"k\":1}");
  free_rt(rt);
  unsetenv("LLMRT_PLUGIN_PATH");
}

int main(void) {
  unsetenv("LLMRT_PLUGIN_PATH");
  RUN_TEST(test_by_path);
  RUN_TEST(test_by_name_and_twice);
  RUN_TEST(test_refused);
  RUN_TEST(test_timers);
  RUN_TEST(test_registered);
  RUN_TEST(test_metrics_text);
  return 0;
}
