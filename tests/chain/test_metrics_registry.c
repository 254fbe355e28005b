/* The metrics registry and its expositions (lib/chain/metrics*.c): names
 * with unit suffixes, per-metric bucket bounds, bucket placement, merged
 * observations, the cardinality cap with its fold counter, label escaping,
 * the runtime's own families with no plugin loaded; every exposition passes
 * promtool with no warning and its JSON snapshot agrees with the text. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "chain/metrics.h"
#include "chain_fixture.h"
#include "metrics_check.h"

static llmrt_t *rt_with(uint32_t max_values, uint32_t max_series) {
  llmrt_options_t o;
  llmrt_options_init(&o);
  o.metrics_max_label_values = max_values;
  o.metrics_max_series = max_series;
  llmrt_t *rt = NULL;
  ASSERT_ERR(llmrt_new(NULL, &o, &rt), 0);
  return rt;
}

static llmrt_metric_t *make(llmrt_t *rt, int kind, const char *name, const char *unit,
                            const double *bounds, size_t n) {
  llmrt_metric_opts_t o = {.struct_size = sizeof o,
                           .kind = kind,
                           .name = name,
                           .unit = unit,
                           .help = "help",
                           .bounds = bounds,
                           .n_bounds = n};
  llmrt_metric_t *m = NULL;
  ASSERT_ERR(llmrt__metric_new(rt, &o, &m), 0);
  ASSERT(m != NULL);
  return m;
}

static int refused(llmrt_t *rt, int kind, const char *name, const char *unit, const double *b,
                   size_t n) {
  llmrt_metric_opts_t o = {.struct_size = sizeof o,
                           .kind = kind,
                           .name = name,
                           .unit = unit,
                           .bounds = b,
                           .n_bounds = n};
  llmrt_metric_t *m = (llmrt_metric_t *)&o;
  int r = llmrt__metric_new(rt, &o, &m);
  ASSERT(m == NULL);
  return r == LLMRT_EINVAL;
}

static void test_names_and_bounds(void) {
  llmrt_t *rt = rt_with(0, 0);
  llmrt_metric_t *d =
      make(rt, LLMRT_METRIC_HISTOGRAM, "gen_ai.client.operation.duration", "s", NULL, 0);
  ASSERT_STR_EQ(d->name, "gen_ai_client_operation_duration_seconds");
  ASSERT_EQ(d->n_bounds, 14);
  ASSERT(d->bounds[0] == 0.01 && d->bounds[13] == 81.92);
  llmrt_metric_t *t =
      make(rt, LLMRT_METRIC_HISTOGRAM, "gen_ai.client.token.usage", "{token}", NULL, 0);
  ASSERT_STR_EQ(t->name, "gen_ai_client_token_usage");
  ASSERT_EQ(t->n_bounds, 14);
  ASSERT(t->bounds[0] == 1 && t->bounds[13] == 67108864);
  /* Suffixes are not doubled; counters end in _total; gauges of unit 1 are ratios. */
  ASSERT_STR_EQ(make(rt, LLMRT_METRIC_COUNTER, "llmrt.wait_seconds", "s", NULL, 0)->name,
                "llmrt_wait_seconds_total");
  ASSERT_STR_EQ(make(rt, LLMRT_METRIC_COUNTER, "llmrt.bytes_total", "By", NULL, 0)->name,
                "llmrt_bytes_total");
  ASSERT_STR_EQ(make(rt, LLMRT_METRIC_COUNTER, "llmrt.sent", "By", NULL, 0)->name,
                "llmrt_sent_bytes_total");
  ASSERT_STR_EQ(make(rt, LLMRT_METRIC_GAUGE, "llmrt.hit", "1", NULL, 0)->name, "llmrt_hit_ratio");
  /* Found again with the same definition, refused with another. */
  ASSERT(make(rt, LLMRT_METRIC_HISTOGRAM, "gen_ai.client.operation.duration", "s", NULL, 0) == d);
  const double b3[] = {1, 2, 3};
  ASSERT(refused(rt, LLMRT_METRIC_HISTOGRAM, "gen_ai.client.operation.duration", "s", b3, 3));
  ASSERT(refused(rt, LLMRT_METRIC_GAUGE, "gen_ai.client.operation.duration", "s", NULL, 0));
  /* Bounds must increase, be finite and few enough. */
  const double bad1[] = {1, 1}, bad2[] = {1, INFINITY}, bad3[] = {2, 1};
  double many[LLMRT_METRIC_MAX_BOUNDS + 1];
  for (int i = 0; i <= LLMRT_METRIC_MAX_BOUNDS; i++)
    many[i] = i;
  ASSERT(refused(rt, LLMRT_METRIC_HISTOGRAM, "h1", NULL, bad1, 2));
  ASSERT(refused(rt, LLMRT_METRIC_HISTOGRAM, "h2", NULL, bad2, 2));
  ASSERT(refused(rt, LLMRT_METRIC_HISTOGRAM, "h3", NULL, bad3, 2));
  ASSERT(refused(rt, LLMRT_METRIC_HISTOGRAM, "h4", NULL, many, LLMRT_METRIC_MAX_BOUNDS + 1));
  ASSERT(refused(rt, LLMRT_METRIC_HISTOGRAM, "h5", NULL, many, 0));
  ASSERT(refused(rt, LLMRT_METRIC_COUNTER, "bad name", NULL, NULL, 0));
  ASSERT(refused(rt, LLMRT_METRIC_COUNTER, "x", "furlongs", NULL, 0));
  ASSERT(refused(rt, 7, "x", NULL, NULL, 0));
  /* The runtime's own names are taken. */
  ASSERT(refused(rt, LLMRT_METRIC_GAUGE, "llmrt.calls.in_flight", NULL, NULL, 0));
  ASSERT(refused(rt, LLMRT_METRIC_COUNTER, "llmrt_http_connections_opened", NULL, NULL, 0));
  ASSERT(refused(rt, LLMRT_METRIC_COUNTER, "llmrt_metrics_folded", NULL, NULL, 0));
  ASSERT(refused(rt, LLMRT_METRIC_COUNTER, "llmrt.metrics.dropped_total", NULL, NULL, 0));
  chainfx_rt_close(rt, NULL);
}

static void test_buckets_and_merge(void) {
  llmrt_t *rt = rt_with(0, 0);
  const double b[] = {1, 2.5, 10};
  llmrt_metric_t *h = make(rt, LLMRT_METRIC_HISTOGRAM, "llmrt.test.size", "By", b, 3);
  /* A value equal to a bound falls in that bound's bucket (le: <=). */
  const double obs[] = {0, 1, 1.0000001, 2.5, 9, 10, 11, 1e9};
  for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
    llmrt__metric_observe(h, "k=\"a\"", obs[i]);
  llmrt__metric_observe(h, "k=\"a\"", NAN); /* ignored */
  const uint64_t counts[] = {1, 0, 2, 3};
  llmrt__metric_merge(h, "k=\"b\"", counts, 4, 123.5);
  llmrt__metric_merge(h, "k=\"b\"", counts, 3, 1); /* the wrong shape: dropped */
  const uint64_t zero[] = {0, 0, 0, 0};
  llmrt__metric_merge(h, "k=\"c\"", zero, 4, 0); /* nothing observed: no series */
  llmrt_metric_t *c = make(rt, LLMRT_METRIC_COUNTER, "llmrt.test.events", NULL, NULL, 0);
  llmrt__metric_add(c, NULL, 2);
  llmrt__metric_add(c, NULL, 0.25);
  llmrt__metric_add(c, NULL, -1); /* never down */
  char *text = mcheck_all(rt);
  ASSERT_CONTAINS(text, "# HELP llmrt_test_size_bytes help\n"
                        "# TYPE llmrt_test_size_bytes histogram\n"
                        "llmrt_test_size_bytes_bucket{k=\"a\",le=\"1\"} 2\n"
                        "llmrt_test_size_bytes_bucket{k=\"a\",le=\"2.5\"} 4\n"
                        "llmrt_test_size_bytes_bucket{k=\"a\",le=\"10\"} 6\n"
                        "llmrt_test_size_bytes_bucket{k=\"a\",le=\"+Inf\"} 8\n");
  double sum = 0;
  for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
    sum += obs[i];
  ASSERT(mcheck_value(text, "llmrt_test_size_bytes_sum{k=\"a\"}") == sum);
  ASSERT_CONTAINS(text, "llmrt_test_size_bytes_count{k=\"a\"} 8\n"
                        "llmrt_test_size_bytes_bucket{k=\"b\",le=\"1\"} 1\n"
                        "llmrt_test_size_bytes_bucket{k=\"b\",le=\"2.5\"} 1\n"
                        "llmrt_test_size_bytes_bucket{k=\"b\",le=\"10\"} 3\n"
                        "llmrt_test_size_bytes_bucket{k=\"b\",le=\"+Inf\"} 6\n"
                        "llmrt_test_size_bytes_sum{k=\"b\"} 123.5\n"
                        "llmrt_test_size_bytes_count{k=\"b\"} 6\n"
                        "# HELP llmrt_test_events_total help\n");
  ASSERT(strstr(text, "k=\"c\"") == NULL);
  ASSERT(mcheck_value(text, "llmrt_test_events_total") == 2.25);
  llmrt_free(text);
  chainfx_rt_close(rt, NULL);
}

/* 10,000 distinct model names: the series stay bounded by the cap, the rest
 * is counted under "other", and the fold counter says how many updates went
 * there. Other labels keep their own values. */
static void test_cardinality(void) {
  llmrt_t *rt = rt_with(0, 0); /* defaults: 100 values per label */
  llmrt_metric_t *h =
      make(rt, LLMRT_METRIC_HISTOGRAM, "gen_ai.client.operation.duration", "s", NULL, 0);
  char labels[256];
  for (int i = 0; i < 10000; i++) {
    snprintf(labels, sizeof labels, "gen_ai_request_model=\"model-%d\",server_port=\"%d\"", i,
             443 + i % 2);
    llmrt__metric_observe(h, labels, 0.05);
  }
  /* 100 models x their port, then "other" with each of the two ports. */
  ASSERT_EQ(h->n_series, 102);
  char *text = mcheck_all(rt);
  ASSERT(mcheck_value(text, "gen_ai_client_operation_duration_seconds_count{gen_ai_request_model="
                            "\"other\",server_port=\"443\"}") == 4950);
  ASSERT(mcheck_value(text, "gen_ai_client_operation_duration_seconds_count{gen_ai_request_model="
                            "\"model-99\",server_port=\"444\"}") == 1);
  ASSERT(mcheck_value(text, "llmrt_metrics_folded_total{metric=\"gen_ai_client_operation_"
                            "duration_seconds\",label=\"gen_ai_request_model\"}") == 9900);
  ASSERT(strstr(text, "model-100\"") == NULL);
  llmrt_free(text);
  chainfx_rt_close(rt, NULL);

  /* A cap set per metric, and one on series: past max_series, new label
   * sets all go to one series whose values are all "other". */
  rt = rt_with(1000, 50);
  llmrt_metric_opts_t o = {.struct_size = sizeof o,
                           .kind = LLMRT_METRIC_COUNTER,
                           .name = "llmrt.test.calls",
                           .max_label_values = 3};
  llmrt_metric_t *c = NULL;
  ASSERT_ERR(llmrt__metric_new(rt, &o, &c), 0);
  const char *up[] = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < 5; i++) {
    snprintf(labels, sizeof labels, "upstream=\"%s\"", up[i]);
    llmrt__metric_add(c, labels, 1);
    llmrt__metric_add(c, labels, 1); /* a folded value folds again, and counts again */
  }
  llmrt__metric_add(c, "upstream=\"other\"", 1); /* "other" itself is never folded */
  o.name = "llmrt.test.pairs";
  o.max_label_values = 0;
  llmrt_metric_t *p = NULL;
  ASSERT_ERR(llmrt__metric_new(rt, &o, &p), 0);
  for (int i = 0; i < 200; i++) {
    snprintf(labels, sizeof labels, "a=\"%d\",b=\"%d\"", i % 20, i / 20);
    llmrt__metric_add(p, labels, 1);
  }
  ASSERT_EQ(p->n_series, 51);
  text = mcheck_all(rt);
  ASSERT(mcheck_value(text, "llmrt_test_calls_total{upstream=\"c\"}") == 2);
  ASSERT(mcheck_value(text, "llmrt_test_calls_total{upstream=\"other\"}") == 5);
  ASSERT(mcheck_value(text, "llmrt_metrics_folded_total{metric=\"llmrt_test_calls_total\","
                            "label=\"upstream\"}") == 4);
  ASSERT(mcheck_value(text, "llmrt_test_pairs_total{a=\"other\",b=\"other\"}") == 150);
  ASSERT(mcheck_value(text, "llmrt_metrics_folded_total{metric=\"llmrt_test_pairs_total\","
                            "label=\"*\"}") == 150);
  llmrt_free(text);
  chainfx_rt_close(rt, NULL);
}

/* Values with quotes, backslashes and newlines (model names come from
 * users) are escaped once and come out as themselves in JSON; malformed or
 * overlong label sets are dropped and counted. */
static void test_escaping(void) {
  llmrt_t *rt = rt_with(0, 0);
  llmrt_metric_t *c = make(rt, LLMRT_METRIC_COUNTER, "llmrt.test.models", NULL, NULL, 0);
  const char *raw = "evil\"} 99\n# x \\ \"y\"";
  char esc[128], labels[256];
  ASSERT_EQ(llmrt__label_escape(esc, sizeof esc, raw),
            (int)strlen("evil\\\"} 99\\n# x \\\\ \\\"y\\\""));
  ASSERT_STR_EQ(esc, "evil\\\"} 99\\n# x \\\\ \\\"y\\\"");
  ASSERT_EQ(llmrt__label_escape(esc, 5, raw), -1); /* does not fit */
  snprintf(labels, sizeof labels, "model=\"%s\"", esc);
  llmrt__metric_add(c, labels, 3);
  llmrt__metric_add(c, "model=\"a\nb\"", 1); /* a raw newline */
  llmrt__metric_add(c, "model=\"a\"b\"", 1); /* a raw quote */
  llmrt__metric_add(c, "model=\"a\\x\"", 1); /* an unknown escape */
  llmrt__metric_add(c, "model=\"unterminated", 1);
  llmrt__metric_add(c, "model=\"not utf-8 \xff\"", 1);
  llmrt__metric_add(c, "model=\"overlong \xc0\xaf\"", 1);
  llmrt__metric_add(c, "model=\"utf-8 \xc3\xa9\"", 1); /* fine */
  llmrt__metric_add(c, "model=\"a\",model=\"b\"", 1);  /* the same label twice */
  char big[LLMRT__METRIC_MAX_LABELS];
  memset(big, 'x', sizeof big);
  memcpy(big, "model=\"", 7);
  big[sizeof big - 2] = '"';
  big[sizeof big - 1] = '\0';
  llmrt__metric_add(c, big, 1); /* too long */
  llmrt_metric_t *g = make(rt, LLMRT_METRIC_GAUGE, "llmrt.test.help", NULL, NULL, 0);
  llmrt__metric_set(g, NULL, -2.5);
  char *text = mcheck_all(rt);
  ASSERT_CONTAINS(text, "llmrt_test_models_total{model=\"evil\\\"} 99\\n# x \\\\ \\\"y\\\"\"} 3\n");
  ASSERT(mcheck_value(text, "llmrt_metrics_dropped_total{metric=\"llmrt_test_models_total\"}") ==
         8);
  ASSERT(mcheck_value(text, "llmrt_test_models_total{model=\"utf-8 \xc3\xa9\"}") == 1);
  ASSERT(mcheck_value(text, "llmrt_test_help") == -2.5);
  llmrt_free(text);
  char *json = NULL;
  ASSERT_ERR(llmrt_metrics_json(rt, &json, NULL), 0);
  ASSERT_CONTAINS(json,
                  "{\"labels\":{\"model\":\"evil\\\"} 99\\n# x \\\\ \\\"y\\\"\"},\"value\":3}");
  llmrt_free(json);
  ASSERT_ERR(llmrt_metrics_json(NULL, &json, NULL), LLMRT_EINVAL);
  ASSERT_ERR(llmrt_metrics_prometheus(rt, NULL, NULL), LLMRT_EINVAL);
  chainfx_rt_close(rt, NULL);
}

/* With nothing recorded and no plugin, the runtime's own families. */
static void test_runtime_families_idle(void) {
  llmrt_t *rt = rt_with(0, 0);
  char *text = mcheck_all(rt);
  ASSERT_CONTAINS(text, "# TYPE llmrt_calls_in_flight gauge\nllmrt_calls_in_flight 0\n");
  ASSERT_CONTAINS(text, "llmrt_dns_lookups_total{result=\"hit\"} 0\n");
  llmrt_free(text);
  chainfx_rt_close(rt, NULL);
}

int main(void) {
  RUN_TEST(test_names_and_bounds);
  RUN_TEST(test_buckets_and_merge);
  RUN_TEST(test_cardinality);
  RUN_TEST(test_escaping);
  RUN_TEST(test_runtime_families_idle);
  return 0;
}
