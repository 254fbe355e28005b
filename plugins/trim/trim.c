/* trim: fewer input tokens and a sane max_tokens.
 *
 * For each call (on_request): normalizes whitespace in every message
 * (normalize.c; code blocks untouched), optionally removes exact duplicate
 * messages, fits the history into a token budget by dropping the oldest
 * turns whole (units.c: tool calls and their results go together; the
 * system messages and the latest user turn always stay), optionally cuts
 * the middle out of the longest message, and applies the max_tokens policy
 * (a default when unset, a cap per model). A prompt that cannot fit fails
 * the call with LLMRT_ETOKENBUDGET and a message naming budget and size.
 * What it did is in the call's attributes (trim.*) and in metrics.
 *
 * Configuration and attributes: plugins/trim/README.md. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trim.h"

const llmrt_host_t *trim__H;
#define H trim__H

/* One row of the model table: limits and, optionally, the encoding. */
typedef struct {
  char *match; /* a model name, or a prefix ending in '*' */
  int64_t context_window;
  int64_t max_tokens_cap; /* 0: no cap */
  char *encoding;         /* NULL: the runtime's table */
} model_row_t;

typedef struct {
  trim__conf_t c; /* first: call.c reads it */
  model_row_t *models;
  size_t n_models;
} trim_t;

/* Built-in limits (context window, largest max_tokens), from the providers'
 * model pages; config rows come first and override them. */
static const struct {
  const char *match;
  int64_t window, cap;
} builtin_models[] = {
    {"gpt-4o*", 128000, 16384},
    {"chatgpt-4o*", 128000, 16384},
    {"gpt-4.1*", 1047576, 32768},
    {"gpt-5*", 400000, 128000},
    {"o1-mini*", 128000, 65536},
    {"o1*", 200000, 100000},
    {"o3*", 200000, 100000},
    {"o4*", 200000, 100000},
    {"gpt-4-turbo*", 128000, 4096},
    {"gpt-4-32k*", 32768, 32768},
    {"gpt-4*", 8192, 8192},
    {"gpt-3.5-turbo*", 16385, 4096},
    {"claude-opus-4*", 200000, 32000},
    {"claude-sonnet-4*", 200000, 64000},
    {"claude-3-7-sonnet*", 200000, 64000},
    {"claude-3-5*", 200000, 8192},
    {"claude-3*", 200000, 4096},
    {"claude-haiku-4*", 200000, 64000},
};

static int match(const char *pattern, const char *model) {
  size_t n = strlen(pattern);
  if (n && pattern[n - 1] == '*') return !strncmp(pattern, model, n - 1);
  return !strcmp(pattern, model);
}

void trim__limits(void *state, const char *model, trim__limits_t *out) {
  const trim_t *t = state;
  memset(out, 0, sizeof *out);
  if (!model) return;
  for (size_t i = 0; i < t->n_models; i++)
    if (match(t->models[i].match, model)) {
      out->context_window = t->models[i].context_window;
      out->max_tokens_cap = t->models[i].max_tokens_cap;
      out->encoding = t->models[i].encoding;
      return;
    }
  for (size_t i = 0; i < sizeof builtin_models / sizeof *builtin_models; i++)
    if (match(builtin_models[i].match, model)) {
      out->context_window = builtin_models[i].window;
      out->max_tokens_cap = builtin_models[i].cap;
      return;
    }
}

/* ---- Configuration ---- */

static int get_bool(const cJSON *cfg, const char *key, int *out, char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
  if (!v) return 0;
  if (!cJSON_IsBool(v)) {
    snprintf(err, errlen, "%s must be true or false", key);
    return -1;
  }
  *out = cJSON_IsTrue(v);
  return 0;
}

static int get_int(const cJSON *cfg, const char *key, int64_t lo, int64_t hi, int64_t *out,
                   char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < (double)lo || v->valuedouble > (double)hi ||
      v->valuedouble != (double)(int64_t)v->valuedouble) {
    snprintf(err, errlen, "%s must be an integer from %lld to %lld", key, (long long)lo,
             (long long)hi);
    return -1;
  }
  *out = (int64_t)v->valuedouble;
  return 0;
}

static char *dup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = H->malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static void trim_fini(void *state) {
  trim_t *t = state;
  if (!t) return;
  for (size_t i = 0; i < t->n_models; i++) {
    H->free(t->models[i].match);
    H->free(t->models[i].encoding);
  }
  H->free(t->models);
  trim__memo_free(t->c.memo);
  H->free(t);
}

static int parse_models(trim_t *t, const cJSON *arr, char *err, size_t errlen) {
  if (!arr) return 0;
  if (!cJSON_IsArray(arr)) {
    snprintf(err, errlen, "models must be an array of objects");
    return LLMRT_ECONFIG;
  }
  size_t n = (size_t)cJSON_GetArraySize(arr);
  if (n > 1000) {
    snprintf(err, errlen, "models: at most 1000 rows");
    return LLMRT_ECONFIG;
  }
  t->models = H->calloc(n ? n : 1, sizeof *t->models);
  if (!t->models) return LLMRT_ENOMEM;
  const cJSON *row;
  cJSON_ArrayForEach(row, arr) {
    model_row_t *m = &t->models[t->n_models];
    char where[48];
    snprintf(where, sizeof where, "models[%zu]", t->n_models);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(row, "match");
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(row, "encoding");
    if (!cJSON_IsObject(row) || !cJSON_IsString(mt) || !mt->valuestring[0]) {
      snprintf(err, errlen, "%s must be an object with a \"match\" string", where);
      return LLMRT_ECONFIG;
    }
    for (const cJSON *k = row->child; k; k = k->next)
      if (strcmp(k->string, "match") && strcmp(k->string, "context_window") &&
          strcmp(k->string, "max_tokens_cap") && strcmp(k->string, "encoding")) {
        snprintf(err, errlen,
                 "%s: unknown key \"%.40s\" (known: match, context_window, "
                 "max_tokens_cap, encoding)",
                 where, k->string);
        return LLMRT_ECONFIG;
      }
    if (enc && (!cJSON_IsString(enc) || (strcmp(enc->valuestring, "o200k_base") &&
                                         strcmp(enc->valuestring, "cl100k_base") &&
                                         strcmp(enc->valuestring, "estimate")))) {
      snprintf(err, errlen, "%s: encoding must be o200k_base, cl100k_base or estimate", where);
      return LLMRT_ECONFIG;
    }
    if (get_int(row, "context_window", 1, (int64_t)1 << 40, &m->context_window, err, errlen) ||
        get_int(row, "max_tokens_cap", 1, (int64_t)1 << 31, &m->max_tokens_cap, err, errlen)) {
      char tmp[200];
      snprintf(tmp, sizeof tmp, "%s: %s", where, err);
      snprintf(err, errlen, "%s", tmp);
      return LLMRT_ECONFIG;
    }
    m->match = dup(mt->valuestring);
    m->encoding = enc ? dup(enc->valuestring) : NULL;
    t->n_models++;
    if (!m->match || (enc && !m->encoding)) return LLMRT_ENOMEM;
  }
  return 0;
}

static const char *const known_keys[] = {"name",
                                         "trailing_whitespace",
                                         "blank_lines",
                                         "trim_messages",
                                         "collapse_spaces",
                                         "dedupe",
                                         "max_input_tokens",
                                         "margin_tokens",
                                         "shorten",
                                         "max_tokens_default",
                                         "models",
                                         "count_memo",
                                         NULL};

static int trim_init(llmrt_plugin_rt_t *prt, const char *json, size_t len, void **state, char *err,
                     size_t errlen) {
  if (H->struct_size < offsetof(llmrt_host_t, count_request_tokens) + sizeof(void *)) {
    snprintf(err, errlen, "this runtime has no token counting (host table too old)");
    return LLMRT_EPLUGINABI;
  }
  cJSON *cfg = cJSON_ParseWithLength(json, len);
  if (!cfg) {
    snprintf(err, errlen, "config is not valid JSON (or out of memory)");
    return LLMRT_ECONFIG;
  }
  trim_t *t = H->calloc(1, sizeof *t);
  if (!t) {
    cJSON_Delete(cfg);
    return LLMRT_ENOMEM;
  }
  t->c.rules = (trim__rules_t){1, 1, 1, 1, 0};
  t->c.margin = 64;
  int r = 0;
  for (const cJSON *it = cfg->child; it && !r; it = it->next) {
    size_t k = 0;
    while (known_keys[k] && strcmp(known_keys[k], it->string))
      k++;
    if (!known_keys[k]) {
      snprintf(err, errlen,
               "unknown key \"%.40s\" (known: trailing_whitespace, blank_lines, "
               "trim_messages, collapse_spaces, dedupe, max_input_tokens, "
               "margin_tokens, shorten, max_tokens_default, models, count_memo)",
               it->string);
      r = LLMRT_ECONFIG;
    }
  }
  if (!r &&
      (get_bool(cfg, "trailing_whitespace", &t->c.rules.trailing_ws, err, errlen) ||
       get_bool(cfg, "blank_lines", &t->c.rules.blank_lines, err, errlen) ||
       get_bool(cfg, "trim_messages", &t->c.rules.trim_messages, err, errlen) ||
       get_bool(cfg, "collapse_spaces", &t->c.rules.collapse_spaces, err, errlen) ||
       get_bool(cfg, "dedupe", &t->c.rules.dedupe, err, errlen) ||
       get_bool(cfg, "shorten", &t->c.shorten, err, errlen) ||
       get_int(cfg, "max_input_tokens", 0, (int64_t)1 << 40, &t->c.max_input_tokens, err, errlen) ||
       get_int(cfg, "margin_tokens", 0, 1 << 20, &t->c.margin, err, errlen) ||
       get_int(cfg, "max_tokens_default", 0, (int64_t)1 << 31, &t->c.max_tokens_default, err,
               errlen)))
    r = LLMRT_ECONFIG;
  int64_t memo = 16384;
  if (!r && get_int(cfg, "count_memo", 0, 1 << 20, &memo, err, errlen)) r = LLMRT_ECONFIG;
  if (!r) r = parse_models(t, cJSON_GetObjectItemCaseSensitive(cfg, "models"), err, errlen);
  if (!r && memo > 0) {
    /* The seed: the clock and addresses; it need not be secret, only not
     * fixed, so a crafted message cannot aim at another one's entry. */
    uint64_t seed = H->now_ms(prt) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)t ^
                    (uint64_t)(uintptr_t)&memo << 17;
    t->c.memo = trim__memo_new((size_t)memo, seed);
    if (!t->c.memo) r = LLMRT_ENOMEM;
  }
  cJSON_Delete(cfg);
  if (!r) {
    /* Compile the encodings' patterns now, at configuration time, not in
     * the first call on the loop. */
    int64_t a = H->count_tokens(prt, "o200k_base", "", 0, NULL);
    int64_t b = H->count_tokens(prt, "cl100k_base", "", 0, NULL);
    if (a < 0 || b < 0) r = (int)(a < 0 ? a : b);
  }
  if (!r &&
      (H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_trim_tokens_removed_total",
                 "Input tokens the trim plugin removed (normalization, dropped turns, cuts)",
                 &t->c.m_removed) ||
       H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_trim_messages_dropped_total",
                 "Messages the trim plugin dropped to fit the token budget", &t->c.m_dropped) ||
       H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_trim_refused_total",
                 "Calls the trim plugin failed because the prompt could not fit",
                 &t->c.m_refused) ||
       H->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_trim_calls_total",
                 "Calls that went through the trim plugin", &t->c.m_calls)))
    r = LLMRT_ENOMEM;
  if (r) {
    if (r == LLMRT_ENOMEM && !err[0]) snprintf(err, errlen, "out of memory");
    trim_fini(t);
    return r;
  }
  *state = t;
  return 0;
}

static int trim_on_request(llmrt_ctx_t *ctx) {
  trim_t *t = H->plugin_state(ctx);
  const llmrt_request_t *req = H->request(ctx);
  trim__limits_t lim;
  trim__limits(t, req ? req->model : NULL, &lim);
  return trim__on_request(ctx, &t->c, &lim);
}

static const llmrt_plugin_t trim_plugin = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "trim",
    .version = "1.0",
    .init = trim_init,
    .fini = trim_fini,
    .on_request = trim_on_request,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *host) {
  trim__H = host;
  return &trim_plugin;
}
