/* Checks on a runtime's metrics exposition shared by the metrics tests:
 * promtool accepts the text with no warning, and the JSON snapshot, written
 * back out as Prometheus text by an independent writer here (cJSON), is the
 * same text byte for byte. Header only. */
#ifndef LLMRT_TEST_METRICS_CHECK_H
#define LLMRT_TEST_METRICS_CHECK_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmrt.h"
#include "test.h"

/* `promtool check metrics` on text: it must exit 0 and print nothing (a lint
 * warning is printed and fails the check too). */
static inline void mcheck_promtool(const char *text) {
  char path[] = "/tmp/llmrt_metrics_XXXXXX";
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  size_t len = strlen(text);
  ASSERT_EQ(write(fd, text, len), (ssize_t)len);
  close(fd);
  char cmd[256], out[4096];
  snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
  FILE *p = popen(cmd, "r");
  ASSERT(p != NULL);
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  unlink(path);
  if (st != 0 || n != 0) {
    fprintf(stderr, "promtool (status %d) said:\n%s\non:\n%s\n", st, out, text);
    TEST_FAIL_("promtool check metrics is not clean");
  }
}

static inline void mcheck_num(char *buf, size_t cap, double v) {
  if (isnan(v))
    snprintf(buf, cap, "NaN");
  else if (isinf(v))
    snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
  else if (v == floor(v) && fabs(v) < 1e15)
    snprintf(buf, cap, "%.0f", v);
  else {
    snprintf(buf, cap, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, cap, "%.17g", v);
  }
}

static inline double mcheck_jnum(const cJSON *j) {
  if (cJSON_IsNumber(j)) return j->valuedouble;
  ASSERT(cJSON_IsString(j));
  if (!strcmp(j->valuestring, "NaN")) return NAN;
  return j->valuestring[0] == '-' ? -INFINITY : INFINITY;
}

static inline void mcheck_puts(char **o, size_t *n, size_t cap, const char *s) {
  size_t l = strlen(s);
  ASSERT(*n + l < cap);
  memcpy(*o + *n, s, l + 1);
  *n += l;
}

/* {"k":"v",...} as k="v",... with the text format's escapes. */
static inline void mcheck_labels(char *buf, size_t cap, const cJSON *labels) {
  size_t n = 0;
  buf[0] = '\0';
  const cJSON *l;
  cJSON_ArrayForEach(l, labels) {
    ASSERT(cJSON_IsString(l));
    if (n) mcheck_puts(&buf, &n, cap, ",");
    mcheck_puts(&buf, &n, cap, l->string);
    mcheck_puts(&buf, &n, cap, "=\"");
    for (const char *c = l->valuestring; *c; c++) {
      char e[3] = {*c, 0, 0};
      if (*c == '\\' || *c == '"') e[0] = '\\', e[1] = *c;
      if (*c == '\n') e[0] = '\\', e[1] = 'n';
      mcheck_puts(&buf, &n, cap, e);
    }
    mcheck_puts(&buf, &n, cap, "\"");
  }
}

/* The JSON snapshot parses, and says what the text says. */
static inline void mcheck_json_agrees(const char *json, const char *text) {
  cJSON *root = cJSON_Parse(json);
  if (!root) fprintf(stderr, "JSON does not parse near: %.80s\n", cJSON_GetErrorPtr());
  ASSERT(root != NULL);
  size_t cap = strlen(text) + 1024, n = 0;
  char *o = malloc(cap);
  ASSERT(o != NULL);
  o[0] = '\0';
  const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(root, "metrics"), *m;
  ASSERT(cJSON_IsArray(metrics));
  char line[8192], lab[4096], num[64];
  cJSON_ArrayForEach(m, metrics) {
    const char *name = cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring;
    const char *type = cJSON_GetObjectItemCaseSensitive(m, "type")->valuestring;
    const char *help = cJSON_GetObjectItemCaseSensitive(m, "help")->valuestring;
    snprintf(line, sizeof line, "# HELP %s ", name);
    mcheck_puts(&o, &n, cap, line);
    for (const char *c = help; *c; c++) {
      char e[3] = {*c, 0, 0};
      if (*c == '\\') e[1] = '\\';
      if (*c == '\n') e[0] = '\\', e[1] = 'n';
      mcheck_puts(&o, &n, cap, e);
    }
    snprintf(line, sizeof line, "\n# TYPE %s %s\n", name, type);
    mcheck_puts(&o, &n, cap, line);
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(m, "series")) {
      mcheck_labels(lab, sizeof lab, cJSON_GetObjectItemCaseSensitive(s, "labels"));
      const char *sep = lab[0] ? "," : "";
      if (strcmp(type, "histogram") != 0) {
        mcheck_num(num, sizeof num, mcheck_jnum(cJSON_GetObjectItemCaseSensitive(s, "value")));
        snprintf(line, sizeof line, lab[0] ? "%s{%s} %s\n" : "%s%s %s\n", name, lab, num);
        mcheck_puts(&o, &n, cap, line);
        continue;
      }
      const cJSON *b;
      double last = -1;
      cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(s, "buckets")) {
        mcheck_num(num, sizeof num, mcheck_jnum(cJSON_GetObjectItemCaseSensitive(b, "le")));
        double c = cJSON_GetObjectItemCaseSensitive(b, "count")->valuedouble;
        ASSERT(c >= last); /* cumulative */
        last = c;
        snprintf(line, sizeof line, "%s_bucket{%s%sle=\"%s\"} %.0f\n", name, lab, sep, num, c);
        mcheck_puts(&o, &n, cap, line);
      }
      mcheck_num(num, sizeof num, mcheck_jnum(cJSON_GetObjectItemCaseSensitive(s, "sum")));
      double count = cJSON_GetObjectItemCaseSensitive(s, "count")->valuedouble;
      ASSERT(count == last);
      snprintf(line, sizeof line,
               lab[0] ? "%s_sum{%s} %s\n%s_count{%s} %.0f\n" : "%s_sum%s %s\n%s_count%s %.0f\n",
               name, lab, num, name, lab, count);
      mcheck_puts(&o, &n, cap, line);
    }
  }
  if (strcmp(o, text) != 0) {
    size_t i = 0;
    while (o[i] && o[i] == text[i])
      i++;
    fprintf(stderr, "JSON and text differ at byte %zu:\njson: %.200s\ntext: %.200s\n", i, o + i,
            text + i);
    TEST_FAIL_("the JSON snapshot does not agree with the text");
  }
  free(o);
  cJSON_Delete(root);
}

/* Both expositions of rt, checked; returns the text (free with llmrt_free). */
static inline char *mcheck_all(llmrt_t *rt) {
  char *text = NULL, *json = NULL;
  size_t tlen = 0, jlen = 0;
  ASSERT_ERR(llmrt_metrics_prometheus(rt, &text, &tlen), 0);
  ASSERT_EQ(tlen, strlen(text));
  ASSERT_ERR(llmrt_metrics_json(rt, &json, &jlen), 0);
  ASSERT_EQ(jlen, strlen(json));
  mcheck_promtool(text);
  mcheck_json_agrees(json, text);
  llmrt_free(json);
  return text;
}

/* The value of the sample line "series value" in text (series is the name
 * with its braces), or -1 when absent. */
static inline double mcheck_value(const char *text, const char *series) {
  size_t n = strlen(series);
  for (const char *p = text; (p = strstr(p, series)) != NULL; p += n)
    if ((p == text || p[-1] == '\n') && p[n] == ' ') return strtod(p + n + 1, NULL);
  return -1;
}

#endif
