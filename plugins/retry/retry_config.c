/* The retry plugin's JSON configuration (docs/plugins/retry.md). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"

static const char *const known_keys[] = {"name",
                                         "max_attempts",
                                         "base_delay_ms",
                                         "max_delay_ms",
                                         "time_budget_ms",
                                         "max_server_delay_ms",
                                         "honor_headers",
                                         "retry_on_status",
                                         "retry_on_errors",
                                         "idempotency_header",
                                         "retry_budget",
                                         NULL};

static int get_u32(const cJSON *obj, const char *key, uint32_t lo, uint32_t hi, uint32_t *out,
                   char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
      v->valuedouble != (double)(uint32_t)v->valuedouble) {
    snprintf(err, errlen, "%s must be an integer from %u to %u", key, lo, hi);
    return -1;
  }
  *out = (uint32_t)v->valuedouble;
  return 0;
}

static const int default_errors[] = {
    LLMRT_ECONNECT,           LLMRT_ECONNRESET,  LLMRT_ECLOSED,           LLMRT_EDNS,
    LLMRT_ECONNECTTIMEOUT,    LLMRT_ETLSTIMEOUT, LLMRT_EFIRSTBYTETIMEOUT, LLMRT_EIDLETIMEOUT,
    LLMRT_EFIRSTTOKENTIMEOUT, LLMRT_ETRUNCATED,  LLMRT_ERATELIMIT,        LLMRT_EOVERLOADED,
    LLMRT_EUPSTREAM,
};

static int parse_statuses(retry_t *r, const cJSON *v, char *err, size_t errlen) {
  if (!cJSON_IsArray(v)) {
    snprintf(err, errlen,
             "retry_on_status must be an array of statuses (429) or classes (\"5xx\")");
    return -1;
  }
  memset(r->status_retry, 0, sizeof r->status_retry);
  for (const cJSON *it = v->child; it; it = it->next) {
    if (cJSON_IsNumber(it) && it->valuedouble >= 400 && it->valuedouble <= 599 &&
        it->valuedouble == (int)it->valuedouble) {
      r->status_retry[(int)it->valuedouble] = 1;
    } else if (cJSON_IsString(it) && strlen(it->valuestring) == 3 &&
               (it->valuestring[0] == '4' || it->valuestring[0] == '5') &&
               !strcmp(it->valuestring + 1, "xx")) {
      int base = (it->valuestring[0] - '0') * 100;
      for (int s = base; s < base + 100; s++)
        r->status_retry[s] = 1;
    } else {
      snprintf(err, errlen,
               "retry_on_status: each entry must be a status from 400 to 599 or "
               "\"4xx\" / \"5xx\"");
      return -1;
    }
  }
  return 0;
}

static int parse_errors(retry_t *r, const cJSON *v, char *err, size_t errlen) {
  if (!cJSON_IsArray(v)) {
    snprintf(err, errlen, "retry_on_errors must be an array of error names (\"ECONNRESET\")");
    return -1;
  }
  r->n_errors = 0;
  r->socket_errors = 0;
  for (const cJSON *it = v->child; it; it = it->next) {
    if (!cJSON_IsString(it)) {
      snprintf(err, errlen, "retry_on_errors: each entry must be a string");
      return -1;
    }
    if (!strcmp(it->valuestring, "SOCKET")) {
      r->socket_errors = 1;
      continue;
    }
    int code = retry__err_code(it->valuestring);
    if (!code) {
      snprintf(err, errlen,
               "retry_on_errors: unknown error \"%.64s\" (names as in llmrt/error.h, "
               "e.g. \"ECONNRESET\", or \"SOCKET\" for the system's socket errors)",
               it->valuestring);
      return -1;
    }
    if (r->n_errors == RETRY_MAX_ERRORS) {
      snprintf(err, errlen, "retry_on_errors: at most %d names", RETRY_MAX_ERRORS);
      return -1;
    }
    r->errors[r->n_errors++] = code;
  }
  return 0;
}

static int parse_budget(retry_t *r, const cJSON *v, char *err, size_t errlen) {
  if (cJSON_IsFalse(v) || cJSON_IsNull(v)) {
    r->budget_ratio = -1;
    return 0;
  }
  if (!cJSON_IsObject(v)) {
    snprintf(err, errlen,
             "retry_budget must be an object {\"ratio\", \"window_ms\", "
             "\"min_retries\"} or false");
    return -1;
  }
  for (const cJSON *it = v->child; it; it = it->next)
    if (strcmp(it->string, "ratio") && strcmp(it->string, "window_ms") &&
        strcmp(it->string, "min_retries")) {
      snprintf(err, errlen,
               "retry_budget: unknown key \"%.64s\" (known: ratio, window_ms, "
               "min_retries)",
               it->string);
      return -1;
    }
  const cJSON *ratio = cJSON_GetObjectItemCaseSensitive(v, "ratio");
  if (ratio) {
    if (!cJSON_IsNumber(ratio) || ratio->valuedouble < 0 || ratio->valuedouble > 100) {
      snprintf(err, errlen, "retry_budget.ratio must be a number from 0 to 100");
      return -1;
    }
    r->budget_ratio = ratio->valuedouble;
  }
  if (get_u32(v, "window_ms", 10, 3600000, &r->budget_window_ms, err, errlen) ||
      get_u32(v, "min_retries", 0, 1000000, &r->budget_min, err, errlen))
    return -1;
  return 0;
}

int retry__config(retry_t *r, const char *json, size_t len, char *err, size_t errlen) {
  r->max_attempts = 3;
  r->base_ms = 250;
  r->cap_ms = 8000;
  r->budget_ms = 0;
  r->max_server_delay_ms = 60000;
  r->honor_headers = 1;
  for (int s = 500; s < 600; s++)
    r->status_retry[s] = 1;
  r->status_retry[408] = r->status_retry[409] = r->status_retry[429] = 1;
  r->n_errors = (int)(sizeof default_errors / sizeof default_errors[0]);
  memcpy(r->errors, default_errors, sizeof default_errors);
  r->socket_errors = 1;
  r->budget_ratio = 0.2;
  r->budget_window_ms = 10000;
  r->budget_min = 100;

  cJSON *cfg = cJSON_ParseWithLength(json, len);
  if (!cfg || !cJSON_IsObject(cfg)) {
    cJSON_Delete(cfg);
    snprintf(err, errlen, "config is not a JSON object");
    return LLMRT_ECONFIG;
  }
  int bad = 0;
  for (const cJSON *it = cfg->child; it && !bad; it = it->next) {
    int k = 0;
    while (known_keys[k] && strcmp(known_keys[k], it->string))
      k++;
    if (!known_keys[k]) {
      snprintf(err, errlen,
               "unknown key \"%.64s\" (known: max_attempts, base_delay_ms, max_delay_ms, "
               "time_budget_ms, max_server_delay_ms, honor_headers, retry_on_status, "
               "retry_on_errors, idempotency_header, retry_budget)",
               it->string);
      bad = 1;
    }
  }
  if (!bad)
    bad = get_u32(cfg, "max_attempts", 1, 100, &r->max_attempts, err, errlen) ||
          get_u32(cfg, "base_delay_ms", 0, 3600000, &r->base_ms, err, errlen) ||
          get_u32(cfg, "max_delay_ms", 0, 3600000, &r->cap_ms, err, errlen) ||
          get_u32(cfg, "time_budget_ms", 0, 86400000, &r->budget_ms, err, errlen) ||
          get_u32(cfg, "max_server_delay_ms", 0, 86400000, &r->max_server_delay_ms, err, errlen);
  if (!bad && r->cap_ms < r->base_ms) {
    snprintf(err, errlen, "max_delay_ms (%u) is less than base_delay_ms (%u)", r->cap_ms,
             r->base_ms);
    bad = 1;
  }
  const cJSON *v;
  if (!bad && (v = cJSON_GetObjectItemCaseSensitive(cfg, "honor_headers"))) {
    if (!cJSON_IsBool(v)) {
      snprintf(err, errlen, "honor_headers must be true or false");
      bad = 1;
    }
    r->honor_headers = cJSON_IsTrue(v);
  }
  if (!bad && (v = cJSON_GetObjectItemCaseSensitive(cfg, "retry_on_status")))
    bad = parse_statuses(r, v, err, errlen);
  if (!bad && (v = cJSON_GetObjectItemCaseSensitive(cfg, "retry_on_errors")))
    bad = parse_errors(r, v, err, errlen);
  if (!bad && (v = cJSON_GetObjectItemCaseSensitive(cfg, "retry_budget")))
    bad = parse_budget(r, v, err, errlen);
  if (!bad && (v = cJSON_GetObjectItemCaseSensitive(cfg, "idempotency_header")) &&
      !cJSON_IsNull(v)) {
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t n = s ? strlen(s) : 0;
    /* An HTTP token: the runtime refuses anything else in set_header. */
    if (!s || n == 0 || n > 64 ||
        strspn(s, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n) {
      snprintf(err, errlen, "idempotency_header must be a header name (e.g. \"Idempotency-Key\")");
      bad = 1;
    } else if (!(r->idem_header = retry__H->malloc(n + 1))) {
      cJSON_Delete(cfg);
      return LLMRT_ENOMEM;
    } else {
      memcpy(r->idem_header, s, n + 1);
    }
  }
  cJSON_Delete(cfg);
  return bad ? LLMRT_ECONFIG : 0;
}

void retry__config_free(retry_t *r) {
  retry__H->free(r->idem_header);
  r->idem_header = NULL;
}
