/* Internal to lib/llm: an allocation-free JSON scanner for decoding, a string
 * arena over a caller's buffer, and a small JSON writer for encoding.
 *
 * Why not cJSON for decoding: cJSON_Parse allocates one node per value (and
 * copies every string), so a typical 25-value OpenAI stream chunk would cost
 * ~40 mallocs per event, against invariant 8 (no allocation per stream event).
 * The scanner (jscan.c) is jsmn-like: one pass fills a token array (on the
 * caller's stack) with offsets into the document; strings are unescaped only
 * when read, into an arena over pstate.scratch, or not at all when they hold
 * no escapes. Documents with more tokens than the stack array take a heap
 * array that grows up to a budget: rare, never in steady state. A keep list
 * stores only the members a decoder reads, so a body's token memory is
 * bounded by its budget whatever its shape. The scanner is strict (RFC 8259):
 * anything malformed is LLMRT_EBADRESPONSE, with the byte offset and reason. */
#ifndef LLMRT_LLM_JSON_H
#define LLMRT_LLM_JSON_H

#include <string.h>

#include "../core/core.h"

enum { LLMRT__JSON_OBJECT = 1, LLMRT__JSON_ARRAY, LLMRT__JSON_STRING, LLMRT__JSON_PRIM };

typedef struct {
  uint8_t type;        /* LLMRT__JSON_* */
  uint8_t esc;         /* string holds backslash escapes */
  uint32_t start, end; /* byte range; for strings the inside of the quotes */
  uint32_t size;       /* objects: members; arrays: elements */
  uint32_t next;       /* index of the first token after this value's subtree */
} llmrt__jtok_t;

typedef struct {
  const char *js;
  size_t len;
  llmrt__jtok_t *tok;
  uint32_t n;
  llmrt__jtok_t *heap; /* the token array when the caller's was too small */
  /* Why a parse failed: byte offset and a short reason (static string). */
  size_t err_at;
  const char *err;
  int too_many; /* the failure was the token budget, not bad syntax */
  int partial;  /* open values were closed at a cut (llmrt__jscan_close_partial) */
} llmrt__json_t;

#define LLMRT__JSON_MAX_DEPTH 128
#define LLMRT__JSON_MAX_NUMBER 4096 /* bytes; a longer number is malformed */

static inline int llmrt__hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A member name a scan keeps; opaque: its value is one token, nothing
 * inside it is stored (the decoder takes it as raw text). */
typedef struct {
  const char *s;
  uint8_t n;
  uint8_t opaque;
} llmrt__jkeep_t;
#define LLMRT__JKEEP(lit)                                                                          \
  { lit, sizeof(lit) - 1, 0 }
#define LLMRT__JKEEP_OPAQUE(lit)                                                                   \
  { lit, sizeof(lit) - 1, 1 }

typedef struct {
  uint32_t tok, size; /* token of the container (or none), members/elements kept */
  uint8_t obj, skip;  /* skip: its contents are not stored */
} llmrt__jframe_t;

/* A resumable scan. Fixed size (no allocation unless tokens overflow the
 * caller's array); keep it in place between feeds. */
typedef struct {
  const llmrt__jkeep_t *keep; /* NULL: keep every member */
  uint32_t n_keep;
  uint32_t max_tok;
  llmrt__jtok_t *tok;
  uint32_t cap, n;
  llmrt__jtok_t *heap;
  size_t pos, tstart; /* next byte to scan; start of a token cut by the input's end */
  int state, in, mode, depth, in_key, rc, too_many, partial;
  uint8_t esc;
  uint8_t shift;        /* nonzero: the budget grows by one token per 2^shift bytes scanned */
  uint32_t pending_key; /* a kept member name whose value has not started */
  size_t err_at;
  const char *err;
  llmrt__jframe_t st[LLMRT__JSON_MAX_DEPTH];
} llmrt__jscan_t;

/* Starts a scan: tokens go to stack[stack_cap] (may be NULL), then to a
 * heap array that grows up to max_tok tokens (more fail the scan with
 * too_many set). keep[n_keep] lists the member names kept at any depth
 * (NULL: all). */
void llmrt__jscan_init(llmrt__jscan_t *sc, const llmrt__jkeep_t *keep, uint32_t n_keep,
                       uint32_t max_tok, llmrt__jtok_t *stack, uint32_t stack_cap);
/* Scans js[0..len), of which earlier feeds saw a prefix (the same bytes,
 * possibly moved: only offsets are kept). final: no more bytes will come,
 * so a document still open is an error. Returns 0, LLMRT_EBADRESPONSE
 * (err_at and err say where and why) or LLMRT_ENOMEM; once failed, it
 * keeps returning that. Work is proportional to the new bytes. */
int llmrt__jscan_feed(llmrt__jscan_t *sc, const char *js, size_t len, int final);
/* True when one whole value has been scanned. */
int llmrt__jscan_done(const llmrt__jscan_t *sc);
/* Closes whatever is open at the end of the input so far, as if the text
 * ended there: a string value cut short keeps what was read, a member name
 * or number cut short is dropped. For reading a document of which only a
 * prefix was kept. */
void llmrt__jscan_close_partial(llmrt__jscan_t *sc);
/* Hands the tokens (and the heap array) to j; pair with llmrt__json_free.
 * j->n is 0 when the scan failed. */
void llmrt__jscan_result(llmrt__jscan_t *sc, const char *js, size_t len, llmrt__json_t *j);
void llmrt__jscan_free(llmrt__jscan_t *sc);

/* Parses js into tokens in one go, using stack[stack_cap] when it is large
 * enough. Returns 0, LLMRT_EBADRESPONSE or LLMRT_ENOMEM. Always pair with
 * llmrt__json_free (a no-op unless the heap array was needed). Token 0 is the
 * top-level value. */
int llmrt__json_parse(llmrt__json_t *j, const char *js, size_t len, llmrt__jtok_t *stack,
                      uint32_t stack_cap);
/* The same with a keep list and a token budget (see llmrt__jscan_init). */
int llmrt__json_parse_keep(llmrt__json_t *j, const char *js, size_t len, llmrt__jtok_t *stack,
                           uint32_t stack_cap, const llmrt__jkeep_t *keep, uint32_t n_keep,
                           uint32_t max_tok);
void llmrt__json_free(llmrt__json_t *j);

/* Value of member `key` of object token obj, or -1 (absent, or obj is not an
 * object, or obj < 0). With duplicate keys the last one wins. */
int llmrt__json_getn(const llmrt__json_t *j, int obj, const char *key, size_t klen);
static inline int llmrt__json_get(const llmrt__json_t *j, int obj, const char *key) {
  return llmrt__json_getn(j, obj, key, strlen(key)); /* strlen of a literal folds */
}
/* A member name with its length, for llmrt__json_fields. */
typedef struct {
  const char *s;
  size_t n;
} llmrt__jkey_t;
#define LLMRT__JKEY(lit)                                                                           \
  { lit, sizeof(lit) - 1 }

/* Several members in one pass over obj: out[i] is the value of keys[i] or
 * -1. Cheaper than n lookups on the hot path. */
void llmrt__json_fields(const llmrt__json_t *j, int obj, const llmrt__jkey_t *keys, int n,
                        int *out);
/* Element idx of array token arr, or -1. */
int llmrt__json_at(const llmrt__json_t *j, int arr, uint32_t idx);
/* Type of token t, 0 when t < 0. */
int llmrt__json_type(const llmrt__json_t *j, int t);
/* True when t is a string equal to s (escapes decoded). */
int llmrt__json_streq(const llmrt__json_t *j, int t, const char *s);
/* True when string tokens a and b hold the same text once decoded (so
 * "str\u0065am" equals "stream"), whatever their length; invalid UTF-8
 * counts as U+FFFD, as llmrt__jw_value writes it. */
int llmrt__json_str_same(const llmrt__json_t *j, int a, int b);
/* True when t is absent or the literal null. */
int llmrt__json_isnull(const llmrt__json_t *j, int t);
/* Integer value of a number token (a fraction is truncated); 0 or -1. */
int llmrt__json_int(const llmrt__json_t *j, int t, int64_t *out);

/* Decodes the JSON string body s[0..n) (between the quotes, already
 * validated) into out, which needs n bytes at most; returns the length.
 * \uXXXX escapes become UTF-8, surrogate pairs one 4-byte character, a lone
 * surrogate U+FFFD. When hi is not NULL it carries a high surrogate across
 * calls: a pending *hi pairs with a low surrogate opening s, and a high
 * surrogate ending s is stored in *hi instead of being written (one split
 * between two stream deltas). */
size_t llmrt__json_unescape(const char *s, size_t n, char *out, uint32_t *hi);

/* ---- Arena: bump allocation over a fixed buffer, heap beyond it. ---- */
typedef struct llmrt__jblk_s llmrt__jblk_t;
typedef struct {
  char *buf;
  size_t cap, used;
  llmrt__jblk_t *heap; /* overflow blocks, freed by llmrt__jarena_free */
} llmrt__jarena_t;

void llmrt__jarena_init(llmrt__jarena_t *a, char *buf, size_t cap);
void *llmrt__jarena_alloc(llmrt__jarena_t *a, size_t n); /* NULL: out of memory */
void llmrt__jarena_free(llmrt__jarena_t *a);

/* The decoded value of string token t in *out and *len. Without escapes and with
 * nul == 0 it points into the document (no copy); otherwise it is decoded
 * into the arena, NUL-terminated. Returns 0, LLMRT_EBADRESPONSE (t is not a
 * string) or LLMRT_ENOMEM. */
int llmrt__json_str(const llmrt__json_t *j, int t, llmrt__jarena_t *a, int nul, const char **out,
                    size_t *len);

/* ---- Writer ---- */
/* Appends s[0..n) as a quoted JSON string. Invalid UTF-8 becomes U+FFFD, so
 * the output is always valid JSON. */
int llmrt__jw_string(llmrt__buf_t *b, const char *s, size_t n);
/* Appends value token t of j as compact JSON: objects and arrays rebuilt,
 * numbers and literals as written (no rounding through a double), strings
 * with their escapes kept except that a lone surrogate escape and invalid
 * UTF-8 become U+FFFD. So whatever the scanner accepted is sent as one
 * valid JSON value and nothing else. Returns 0 or LLMRT_ENOMEM. */
int llmrt__jw_value(llmrt__buf_t *b, const llmrt__json_t *j, int t);
/* Length of the valid UTF-8 sequence at s (n > 0 bytes left), 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
size_t llmrt__utf8_seq(const unsigned char *s, size_t n);
/* Appends a number in the shortest form that reads back exactly, with '.'
 * whatever the locale; LLMRT_EINVAL for NaN and infinities. */
int llmrt__jw_double(llmrt__buf_t *b, double v);

#endif
