/* The providers' rate-limit headers, read defensively: they come from the
 * network, so every value is bounded in length and size, and anything
 * malformed counts as absent (the local limits still apply).
 *
 *   OpenAI:    x-ratelimit-{limit,remaining}-{requests,tokens}: integers;
 *              x-ratelimit-reset-{requests,tokens}: Go durations ("6m0s",
 *              "1.5s", "20ms").
 *   Anthropic: anthropic-ratelimit-{requests,tokens}-{limit,remaining}:
 *              integers; anthropic-ratelimit-{requests,tokens}-reset:
 *              RFC 3339 times.
 *   Both:      Retry-After (seconds or an HTTP date), retry-after-ms. */
#include <string.h>
#include <strings.h>

#include "limits_int.h"

#define MAX_VALUE_LEN 64
#define MAX_COUNT 1000000000000LL     /* a limit or remaining count */
#define MAX_MS (366LL * 86400 * 1000) /* a reset or retry: at most a year */

static int digit(char c) {
  return c >= '0' && c <= '9';
}

/* A non-negative decimal integer, the whole string (surrounding blanks
 * allowed); -1 otherwise or past MAX_COUNT. */
static int64_t parse_count(const char *s) {
  if (strlen(s) > MAX_VALUE_LEN) return -1;
  while (*s == ' ' || *s == '\t')
    s++;
  if (!digit(*s)) return -1;
  int64_t v = 0;
  for (; digit(*s); s++) {
    v = v * 10 + (*s - '0');
    if (v > MAX_COUNT) return -1;
  }
  while (*s == ' ' || *s == '\t')
    s++;
  return *s ? -1 : v;
}

/* A decimal number with an optional fraction at *p: its value in
 * millionths, advancing *p; -1 if none. Bounded to 10^12 units. */
static int64_t parse_micro(const char **p) {
  const char *s = *p;
  int64_t whole = 0, frac = 0, scale = 1000000;
  if (!digit(*s) && !(*s == '.' && digit(s[1]))) return -1;
  for (; digit(*s); s++) {
    whole = whole * 10 + (*s - '0');
    if (whole > 1000000000000LL) return -1;
  }
  if (*s == '.') {
    s++;
    if (!digit(*s)) return -1;
    for (; digit(*s); s++) {
      if (scale > 1) {
        scale /= 10;
        frac += (*s - '0') * scale;
      }
    }
  }
  *p = s;
  return whole * 1000000 + frac;
}

int64_t limits__parse_duration_ms(const char *s) {
  /* Go's time.Duration.String(): [-]{number unit}+, units h m s ms us µs ns.
   * Only what a reset can be: non-negative, at most MAX_MS. */
  if (!s || strlen(s) > MAX_VALUE_LEN) return -1;
  while (*s == ' ')
    s++;
  if (!*s) return -1;
  if (!strcmp(s, "0")) return 0;
  double total_us = 0;
  while (*s && *s != ' ') {
    int64_t micro = parse_micro(&s); /* the number, in millionths */
    if (micro < 0) return -1;
    double unit_us;
    if (!strncmp(s, "ms", 2)) {
      unit_us = 1000, s += 2;
    } else if (!strncmp(s, "us", 2)) {
      unit_us = 1, s += 2;
    } else if (!strncmp(s, "\xc2\xb5s", 3)) {
      unit_us = 1, s += 3;
    } else if (!strncmp(s, "ns", 2)) {
      unit_us = 0.001, s += 2;
    } else if (*s == 'h') {
      unit_us = 3600e6, s++;
    } else if (*s == 'm') {
      unit_us = 60e6, s++;
    } else if (*s == 's') {
      unit_us = 1e6, s++;
    } else {
      return -1;
    }
    total_us += (double)micro / 1e6 * unit_us;
    if (total_us > (double)MAX_MS * 1000) return -1;
  }
  while (*s == ' ')
    s++;
  if (*s) return -1;
  /* Round up: waiting a little long is safe, a little short is a 429. */
  int64_t ms = (int64_t)(total_us / 1000);
  return (double)ms * 1000 < total_us ? ms + 1 : ms;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int fixed(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!digit((*p)[i])) return -1;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

static int valid_date(int y, int mo, int d, int h, int mi, int s) {
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return y >= 1970 && y <= 9999 && mo >= 1 && mo <= 12 && d >= 1 && d <= mdays[mo - 1] && h <= 23 &&
         mi <= 59 && s <= 60;
}

int64_t limits__parse_rfc3339_ms(const char *s) {
  if (!s || strlen(s) > MAX_VALUE_LEN) return -1;
  int y, mo, d, h, mi, sec, frac_ms = 0;
  if (fixed(&s, 4, &y) || *s++ != '-' || fixed(&s, 2, &mo) || *s++ != '-' || fixed(&s, 2, &d) ||
      (*s != 'T' && *s != 't' && *s != ' '))
    return -1;
  s++;
  if (fixed(&s, 2, &h) || *s++ != ':' || fixed(&s, 2, &mi) || *s++ != ':' || fixed(&s, 2, &sec))
    return -1;
  if (*s == '.') {
    s++;
    if (!digit(*s)) return -1;
    int nd = 0;
    for (; digit(*s); s++)
      if (nd < 3) frac_ms = frac_ms * 10 + (*s - '0'), nd++;
    for (; nd < 3; nd++)
      frac_ms *= 10; /* ".5" is 500 ms */
  }
  int64_t off_min = 0;
  if (*s == 'Z' || *s == 'z') {
    s++;
  } else if (*s == '+' || *s == '-') {
    int sign = *s++ == '-' ? -1 : 1, oh, om;
    if (fixed(&s, 2, &oh) || *s++ != ':' || fixed(&s, 2, &om) || oh > 23 || om > 59) return -1;
    off_min = sign * (oh * 60 + om);
  } else {
    return -1;
  }
  if (*s || !valid_date(y, mo, d, h, mi, sec)) return -1;
  int64_t days = days_from_civil(y, mo, d);
  int64_t t = ((days * 24 + h) * 60 + mi - off_min) * 60 + sec;
  return t * 1000 + frac_ms;
}

int64_t limits__parse_http_date_ms(const char *s) {
  /* IMF-fixdate only (RFC 9110 says senders use it): "Sun, 06 Nov 1994
   * 08:49:37 GMT". */
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (!s || strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
      s[16] != ' ' || strcmp(s + 25, " GMT"))
    return -1;
  const char *p = s + 5;
  int d, y, h, mi, sec, mo = -1;
  if (fixed(&p, 2, &d)) return -1;
  for (int i = 0; i < 12; i++)
    if (!strncmp(s + 8, months + 3 * i, 3)) mo = i + 1;
  p = s + 12;
  if (mo < 0 || fixed(&p, 4, &y) || *p++ != ' ' || fixed(&p, 2, &h) || *p++ != ':' ||
      fixed(&p, 2, &mi) || *p++ != ':' || fixed(&p, 2, &sec) || !valid_date(y, mo, d, h, mi, sec))
    return -1;
  return (((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec) * 1000;
}

static int64_t until(int64_t at_ms, int64_t now_ms) {
  if (at_ms < 0) return -1;
  int64_t d = at_ms - now_ms;
  return d < 0 ? 0 : d > MAX_MS ? MAX_MS : d;
}

void limits__headers_parse(const llmrt_header_t *h, size_t n, int64_t now_unix_ms,
                           lim_rl_info_t *o) {
  o->req_limit = o->req_remaining = o->tok_limit = o->tok_remaining = -1;
  o->req_reset_ms = o->tok_reset_ms = o->retry_after_ms = -1;
  int64_t ra_ms = -1, ra = -1;
  for (size_t i = 0; i < n; i++) {
    const char *k = h[i].name, *v = h[i].value;
    if (!k || !v) continue;
    if (!strncasecmp(k, "x-ratelimit-", 12)) {
      k += 12;
      if (!strcasecmp(k, "limit-requests"))
        o->req_limit = parse_count(v);
      else if (!strcasecmp(k, "limit-tokens"))
        o->tok_limit = parse_count(v);
      else if (!strcasecmp(k, "remaining-requests"))
        o->req_remaining = parse_count(v);
      else if (!strcasecmp(k, "remaining-tokens"))
        o->tok_remaining = parse_count(v);
      else if (!strcasecmp(k, "reset-requests"))
        o->req_reset_ms = limits__parse_duration_ms(v);
      else if (!strcasecmp(k, "reset-tokens"))
        o->tok_reset_ms = limits__parse_duration_ms(v);
    } else if (!strncasecmp(k, "anthropic-ratelimit-", 20)) {
      k += 20;
      if (!strcasecmp(k, "requests-limit"))
        o->req_limit = parse_count(v);
      else if (!strcasecmp(k, "tokens-limit"))
        o->tok_limit = parse_count(v);
      else if (!strcasecmp(k, "requests-remaining"))
        o->req_remaining = parse_count(v);
      else if (!strcasecmp(k, "tokens-remaining"))
        o->tok_remaining = parse_count(v);
      else if (!strcasecmp(k, "requests-reset"))
        o->req_reset_ms = until(limits__parse_rfc3339_ms(v), now_unix_ms);
      else if (!strcasecmp(k, "tokens-reset"))
        o->tok_reset_ms = until(limits__parse_rfc3339_ms(v), now_unix_ms);
    } else if (!strcasecmp(k, "retry-after-ms")) {
      int64_t x = parse_count(v);
      if (x >= 0) ra_ms = x > MAX_MS ? MAX_MS : x;
    } else if (!strcasecmp(k, "retry-after")) {
      int64_t x = parse_count(v);
      if (x >= 0)
        ra = x > MAX_MS / 1000 ? MAX_MS : x * 1000;
      else
        ra = until(limits__parse_http_date_ms(v), now_unix_ms);
    }
  }
  /* retry-after-ms is the more precise of the two when both came. */
  o->retry_after_ms = ra_ms >= 0 ? ra_ms : ra;
}
