/* redact: an llmrt plugin that replaces sensitive text in the answer before
 * the application sees it, also when a match is split across stream deltas.
 *
 *   {"name": "./redact.so", "literal": ["Project Falcon", "hunter2"],
 *    "digits": 6, "replacement": "[redacted]"}
 *
 * literal      a string or an array of strings, replaced wherever they occur
 * digits       replace every run of at least this many ASCII digits (card,
 *              phone and account numbers); 0 (the default) turns it off
 * replacement  what goes in their place (default "[redacted]")
 *
 * Streaming: a delta may end with the start of a match ("Project Fal") whose
 * rest comes in the next delta. The plugin holds that tail back in its
 * per-call state, prepends it to the next delta, and emits the held text
 * when a non-text event (finish, usage, tool call) shows the text has
 * ended. The tail is never longer than the longest literal or `digits`.
 *
 * Only text deltas are redacted, not tool-call arguments or reasoning. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmrt/plugin.h"

#define MAX_LITERALS 16
#define MAX_LITERAL_LEN 256

static const llmrt_host_t *host;

/* strdup is POSIX, not C11. */
static char *copy_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  return d ? memcpy(d, s, n) : NULL;
}

typedef struct {
  char *literal[MAX_LITERALS];
  size_t literal_len[MAX_LITERALS];
  size_t n_literals;
  size_t digits;
  char *replacement;
  size_t replacement_len;
  llmrt_metric_t *matches; /* llmrt_redact_matches_total */
} redact_t;

/* Per call. OWNERSHIP: the runtime allocates and zeroes this struct; the
 * buffers it points to are ours and freed in on_call_end. */
typedef struct {
  char *held; /* possible start of a match, from the end of the last delta */
  size_t held_len;
  char *work; /* held + the new delta */
  size_t work_cap;
  char *out; /* the redacted delta handed on; valid until our next hook */
  size_t out_len, out_cap;
  int in_run; /* inside a digit run already replaced: swallow more digits */
} redact_call_t;

/* ---- Configuration ---- */

static void redact_free(redact_t *r) {
  for (size_t i = 0; i < r->n_literals; i++)
    free(r->literal[i]);
  free(r->replacement);
  free(r);
}

static int add_literal(redact_t *r, const cJSON *v, char *err, size_t errlen) {
  size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
  if (n == 0 || n > MAX_LITERAL_LEN) {
    snprintf(err, errlen, "\"literal\" must hold strings of 1 to %d bytes", MAX_LITERAL_LEN);
    return LLMRT_EINVAL;
  }
  if (r->n_literals == MAX_LITERALS) {
    snprintf(err, errlen, "\"literal\" holds more than %d strings", MAX_LITERALS);
    return LLMRT_EINVAL;
  }
  if (!(r->literal[r->n_literals] = copy_str(v->valuestring))) return LLMRT_ENOMEM;
  r->literal_len[r->n_literals++] = n;
  return 0;
}

static int parse(redact_t *r, const cJSON *root, char *err, size_t errlen) {
  const cJSON *lit = cJSON_GetObjectItemCaseSensitive(root, "literal");
  const cJSON *dig = cJSON_GetObjectItemCaseSensitive(root, "digits");
  const cJSON *rep = cJSON_GetObjectItemCaseSensitive(root, "replacement");
  int rc = 0;
  if (cJSON_IsArray(lit)) {
    for (const cJSON *v = lit->child; v && !rc; v = v->next)
      rc = add_literal(r, v, err, errlen);
  } else if (lit) {
    rc = add_literal(r, lit, err, errlen);
  }
  if (rc) return rc;
  if (dig) {
    double d = cJSON_IsNumber(dig) ? dig->valuedouble : -1;
    if (!(d == 0 || (d >= 2 && d <= 64)) || d != (double)(int)d) {
      snprintf(err, errlen, "\"digits\" must be 0 (off) or an integer from 2 to 64");
      return LLMRT_EINVAL;
    }
    r->digits = (size_t)d;
  }
  if (rep && !cJSON_IsString(rep)) {
    snprintf(err, errlen, "\"replacement\" must be a string");
    return LLMRT_EINVAL;
  }
  if (!(r->replacement = copy_str(rep ? rep->valuestring : "[redacted]"))) return LLMRT_ENOMEM;
  r->replacement_len = strlen(r->replacement);
  if (r->n_literals == 0 && r->digits == 0) {
    snprintf(err, errlen, "nothing to redact: set \"literal\" and/or \"digits\"");
    return LLMRT_EINVAL;
  }
  return 0;
}

static int init(llmrt_plugin_rt_t *prt, const char *cfg, size_t len, void **state, char *err,
                size_t errlen) {
  redact_t *r = calloc(1, sizeof *r);
  if (!r) return LLMRT_ENOMEM;
  cJSON *root = cJSON_ParseWithLength(cfg, len);
  int rc = root ? parse(r, root, err, errlen) : LLMRT_ENOMEM;
  cJSON_Delete(root);
  if (!rc)
    rc = host->metric(prt, LLMRT_METRIC_COUNTER, "llmrt_redact_matches_total",
                      "Matches the redact plugin replaced", &r->matches);
  if (rc) {
    redact_free(r);
    return rc;
  }
  *state = r;
  return 0;
}

static void fini(void *state) {
  redact_free(state);
}

/* ---- Streaming ---- */

static int grow(char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 256;
  while (c < need)
    c *= 2;
  char *p = realloc(*buf, c);
  if (!p) return LLMRT_ENOMEM;
  *buf = p;
  *cap = c;
  return 0;
}

static int put(redact_call_t *cs, const char *s, size_t n) {
  if (grow(&cs->out, &cs->out_cap, cs->out_len + n)) return LLMRT_ENOMEM;
  memcpy(cs->out + cs->out_len, s, n);
  cs->out_len += n;
  return 0;
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Rewrites text[0..n) into cs->out. Whatever might be the start of a match
 * that continues in the next delta goes to cs->held instead, unless `final`
 * (the text has ended). The longest literal wins wherever several match, so
 * the result does not depend on where the deltas were cut. */
static int scan(const redact_t *r, redact_call_t *cs, const char *text, size_t n, int final,
                unsigned *matches) {
  size_t i = 0;
  cs->out_len = 0;
  while (i < n) {
    if (cs->in_run) {
      if (is_digit(text[i])) {
        i++;
        continue;
      }
      cs->in_run = 0;
    }
    size_t full = 0;
    int partial = 0;
    for (size_t k = 0; k < r->n_literals; k++) {
      size_t ln = r->literal_len[k], m = ln < n - i ? ln : n - i;
      if (memcmp(text + i, r->literal[k], m) != 0) continue;
      if (m == ln) {
        if (ln > full) full = ln;
      } else if (!final) {
        partial = 1; /* text ends inside a possible (longer) match */
      }
    }
    if (partial) break;
    if (full) {
      if (put(cs, r->replacement, r->replacement_len)) return LLMRT_ENOMEM;
      (*matches)++;
      i += full;
      continue;
    }
    if (r->digits && is_digit(text[i])) {
      size_t j = i;
      while (j < n && is_digit(text[j]))
        j++;
      if (j - i >= r->digits) {
        if (put(cs, r->replacement, r->replacement_len)) return LLMRT_ENOMEM;
        (*matches)++;
        cs->in_run = j == n && !final; /* the run may go on in the next delta */
        i = j;
        continue;
      }
      if (j == n && !final) break; /* a short run at the end may still grow */
      if (put(cs, text + i, j - i)) return LLMRT_ENOMEM;
      i = j;
      continue;
    }
    if (put(cs, text + i, 1)) return LLMRT_ENOMEM;
    i++;
  }
  /* The tail is shorter than the longest literal or `digits`: bounded. */
  cs->held_len = n - i;
  if (cs->held_len) memmove(cs->held, text + i, cs->held_len);
  return 0;
}

static int on_text(const redact_t *r, redact_call_t *cs, llmrt_event_t *ev) {
  size_t n = cs->held_len + ev->len;
  if (grow(&cs->work, &cs->work_cap, n)) return LLMRT_ENOMEM;
  if (!cs->held) {
    /* Sized for the longest tail we ever keep. */
    size_t most = r->digits > MAX_LITERAL_LEN ? r->digits : MAX_LITERAL_LEN;
    if (!(cs->held = malloc(most))) return LLMRT_ENOMEM;
  }
  memcpy(cs->work, cs->held, cs->held_len);
  memcpy(cs->work + cs->held_len, ev->text, ev->len);
  unsigned matches = 0;
  if (scan(r, cs, cs->work, n, 0, &matches)) return LLMRT_ENOMEM;
  if (matches) host->metric_add(r->matches, NULL, matches);
  if (cs->out_len == 0) return LLMRT_STOP; /* all held back: drop this delta */
  /* OWNERSHIP: out stays valid until our next hook call, as the ABI asks. */
  ev->text = cs->out;
  ev->len = cs->out_len;
  return LLMRT_CONTINUE;
}

/* The text ended: what was held back is scanned once more, now knowing
 * nothing follows, and sent on before the current event. */
static int flush(const redact_t *r, redact_call_t *cs, llmrt_ctx_t *ctx) {
  if (cs->held_len == 0) return 0;
  unsigned matches = 0;
  if (grow(&cs->work, &cs->work_cap, cs->held_len)) return LLMRT_ENOMEM;
  memcpy(cs->work, cs->held, cs->held_len);
  if (scan(r, cs, cs->work, cs->held_len, 1, &matches)) return LLMRT_ENOMEM;
  if (matches) host->metric_add(r->matches, NULL, matches);
  llmrt_event_t t;
  memset(&t, 0, sizeof t);
  t.type = LLMRT_EV_TEXT;
  t.text = cs->out;
  t.len = cs->out_len;
  return host->emit(ctx, &t); /* goes outward before the current event */
}

static int on_request(llmrt_ctx_t *ctx) {
  /* A new attempt (an outer plugin retried) starts a new text. */
  redact_call_t *cs = host->call_state(ctx);
  cs->held_len = 0;
  cs->in_run = 0;
  return LLMRT_CONTINUE;
}

static int on_event(llmrt_ctx_t *ctx, llmrt_event_t *ev) {
  const redact_t *r = host->plugin_state(ctx);
  redact_call_t *cs = host->call_state(ctx);
  if (ev->type == LLMRT_EV_TEXT) return on_text(r, cs, ev);
  cs->in_run = 0;
  int rc = flush(r, cs, ctx);
  return rc < 0 ? rc : LLMRT_CONTINUE;
}

static void on_call_end(llmrt_ctx_t *ctx, int status) {
  (void)status;
  redact_call_t *cs = host->call_state(ctx);
  free(cs->held);
  free(cs->work);
  free(cs->out);
}

static const llmrt_plugin_t desc = {
    .abi_version = LLMRT_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llmrt_plugin_t),
    .name = "redact",
    .version = "1.0",
    .init = init,
    .fini = fini,
    .call_state_size = sizeof(redact_call_t),
    .on_request = on_request,
    .on_event = on_event,
    .on_call_end = on_call_end,
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin_t *llmrt_plugin_entry(const llmrt_host_t *h) {
  host = h;
  return &desc;
}
