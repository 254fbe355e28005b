/* The upstream's word on retrying, error names, and the retry budget. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "retry.h"

/* Values are clamped before any conversion: a huge or infinite wait is
 * "longer than we may wait", never an overflow that wraps to a short one. */
#define DELAY_CAP_MS 1e12

static int64_t clamp_ms(double v) {
  return (int64_t)(v < DELAY_CAP_MS ? v : DELAY_CAP_MS);
}

/* A number that is the whole value (spaces around allowed); -1 if not. */
static double whole_number(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  if (!(*s >= '0' && *s <= '9')) return -1;
  char *end;
  double v = strtod(s, &end);
  while (*end == ' ' || *end == '\t')
    end++;
  return *end == '\0' && v >= 0 ? v : -1;
}

void retry__read_headers(retry_word_t *w, const llmrt_header_t *h, size_t n, int64_t now_s) {
  int64_t ms_hdr = -1, ra = -1;
  const char *ra_src = NULL;
  w->should = -1;
  for (size_t i = 0; i < n; i++) {
    if (!strcasecmp(h[i].name, "retry-after-ms")) {
      double v = whole_number(h[i].value);
      if (v >= 0) ms_hdr = clamp_ms(v);
    } else if (!strcasecmp(h[i].name, "retry-after")) {
      double v = whole_number(h[i].value);
      if (v >= 0) {
        ra = clamp_ms(v * 1000);
        ra_src = "retry-after";
      } else {
        int64_t t = retry__http_date(h[i].value);
        if (t >= 0) {
          /* A date in the past means "now". */
          ra = t > now_s ? clamp_ms((double)(t - now_s) * 1000) : 0;
          ra_src = "retry-after-date";
        }
      }
    } else if (!strcasecmp(h[i].name, "x-should-retry")) {
      if (!strcasecmp(h[i].value, "true")) w->should = 1;
      if (!strcasecmp(h[i].value, "false")) w->should = 0;
    }
  }
  if (ms_hdr >= 0) {
    w->after_ms = ms_hdr;
    w->after_src = "retry-after-ms";
  } else {
    w->after_ms = ra;
    w->after_src = ra_src;
  }
}

/* ---- HTTP dates (RFC 9110 5.6.7) ---- */

static int month_of(const char *s) {
  static const char m[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  for (int i = 0; i < 12; i++)
    if (strncmp(s, m + 3 * i, 3) == 0) return i;
  return -1;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if ((*p)[i] < '0' || (*p)[i] > '9') return -1;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

static int lit(const char **p, const char *s) {
  size_t n = strlen(s);
  if (strncmp(*p, s, n)) return -1;
  *p += n;
  return 0;
}

static int64_t to_epoch(int y, int mon, int d, int hh, int mm, int ss) {
  if (mon < 0 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 || y < 1970) return -1;
  return days_from_civil(y, mon + 1, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

int64_t retry__http_date(const char *s) {
  int d, y, hh, mm, ss, mon;
  const char *p = s;
  const char *comma = strchr(s, ',');
  if (comma && comma - s == 3) {
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    p = comma + 1;
    if (lit(&p, " ") || digits(&p, 2, &d) || lit(&p, " ") || (mon = month_of(p)) < 0) return -1;
    p += 3;
    if (lit(&p, " ") || digits(&p, 4, &y) || lit(&p, " ") || digits(&p, 2, &hh) || lit(&p, ":") ||
        digits(&p, 2, &mm) || lit(&p, ":") || digits(&p, 2, &ss) || lit(&p, " GMT") || *p)
      return -1;
    return to_epoch(y, mon, d, hh, mm, ss);
  }
  if (comma) {
    /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (two-digit year: 19xx/20xx
     * by the 50-year rule of RFC 9110). */
    p = comma + 1;
    if (lit(&p, " ") || digits(&p, 2, &d) || lit(&p, "-") || (mon = month_of(p)) < 0) return -1;
    p += 3;
    if (lit(&p, "-") || digits(&p, 2, &y) || lit(&p, " ") || digits(&p, 2, &hh) || lit(&p, ":") ||
        digits(&p, 2, &mm) || lit(&p, ":") || digits(&p, 2, &ss) || lit(&p, " GMT") || *p)
      return -1;
    y += y < 70 ? 2000 : 1900;
    return to_epoch(y, mon, d, hh, mm, ss);
  }
  /* asctime: "Sun Nov  6 08:49:37 1994" */
  if (strlen(s) != 24 || s[3] != ' ' || (mon = month_of(s + 4)) < 0 || s[7] != ' ') return -1;
  p = s + 8;
  if (*p == ' ') {
    p++;
    if (digits(&p, 1, &d)) return -1;
  } else if (digits(&p, 2, &d)) {
    return -1;
  }
  if (lit(&p, " ") || digits(&p, 2, &hh) || lit(&p, ":") || digits(&p, 2, &mm) || lit(&p, ":") ||
      digits(&p, 2, &ss) || lit(&p, " ") || digits(&p, 4, &y) || *p)
    return -1;
  return to_epoch(y, mon, d, hh, mm, ss);
}

/* ---- Error names, from the one list in llmrt/error.h ---- */

static const struct {
  const char *name;
  int code;
} err_names[] = {
#define RETRY_ERR_ROW_(name, val, msg) {#name, val},
    LLMRT_ERRNO_MAP(RETRY_ERR_ROW_)
#undef RETRY_ERR_ROW_
};

const char *retry__err_name(int code) {
  for (size_t i = 0; i < sizeof err_names / sizeof err_names[0]; i++)
    if (err_names[i].code == code) return err_names[i].name;
  return NULL;
}

int retry__err_code(const char *name) {
  if (!strncmp(name, "LLMRT_", 6)) name += 6;
  for (size_t i = 0; i < sizeof err_names / sizeof err_names[0]; i++)
    if (!strcmp(err_names[i].name, name)) return err_names[i].code;
  return 0;
}

/* ---- Retry budget: a token bucket over a sliding window ----
 * Every call deposits budget_ratio of a retry, every retry withdraws one,
 * and deposits expire after the window (Finagle's RetryBudget, gRPC's retry
 * throttling). budget_min retries per window are always allowed, so a quiet
 * upstream can still be retried. */

retry_budget_t *retry__budget(retry_t *r, const char *upstream) {
  if (!upstream) upstream = "";
  for (int i = 0; i < r->n_ups; i++)
    if (!strncmp(r->ups[i].name, upstream, sizeof r->ups[i].name - 1)) return &r->ups[i];
  if (r->n_ups == RETRY_MAX_UPSTREAMS) return NULL;
  retry_budget_t *b = &r->ups[r->n_ups++];
  memset(b, 0, sizeof *b);
  strncpy(b->name, upstream, sizeof b->name - 1);
  return b;
}

/* The slot for now, cleared when it held an older period. */
static int slot_now(retry_t *r, retry_budget_t *b, uint64_t now_ms) {
  uint64_t width = r->budget_window_ms / RETRY_SLOTS;
  if (width == 0) width = 1;
  uint64_t epoch = now_ms / width + 1; /* + 1: epoch 0 means "never used" */
  int i = (int)(epoch % RETRY_SLOTS);
  if (b->slot_epoch[i] != epoch) {
    b->slot_epoch[i] = epoch;
    b->calls[i] = 0;
    b->retries[i] = 0;
  }
  return i;
}

void retry__budget_call(retry_t *r, retry_budget_t *b, uint64_t now_ms) {
  if (!b || r->budget_ratio < 0) return;
  int i = slot_now(r, b, now_ms);
  if (b->calls[i] < UINT32_MAX) b->calls[i]++;
}

int retry__budget_take(retry_t *r, retry_budget_t *b, uint64_t now_ms, uint32_t *calls,
                       uint32_t *retries) {
  *calls = *retries = 0;
  if (!b || r->budget_ratio < 0) return 1;
  int cur = slot_now(r, b, now_ms);
  uint64_t width = r->budget_window_ms / RETRY_SLOTS;
  if (width == 0) width = 1;
  uint64_t epoch = now_ms / width + 1;
  uint64_t c = 0, t = 0;
  for (int i = 0; i < RETRY_SLOTS; i++) {
    if (b->slot_epoch[i] + RETRY_SLOTS <= epoch) continue; /* older than the window */
    c += b->calls[i];
    t += b->retries[i];
  }
  *calls = (uint32_t)(c < UINT32_MAX ? c : UINT32_MAX);
  *retries = (uint32_t)(t < UINT32_MAX ? t : UINT32_MAX);
  if ((double)t + 1 > r->budget_min + r->budget_ratio * (double)c) return 0;
  if (b->retries[cur] < UINT32_MAX) b->retries[cur]++;
  return 1;
}
