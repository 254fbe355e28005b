/* Whitespace normalization that keeps meaning: trailing spaces, blank-line
 * runs, runs of spaces inside a line. Code is never touched: the inside of a
 * fenced block (a line starting, after at most three spaces, with ``` or
 * ~~~, up to the closing fence of the same kind) is copied byte for byte, and
 * so is each line's leading indentation (Markdown lists nest by it). */
#include <string.h>

#include "trim.h"

static int is_fence(const char *line, size_t n, char *kind) {
  size_t i = 0;
  while (i < n && i < 3 && line[i] == ' ')
    i++;
  if (i + 3 <= n && (line[i] == '`' || line[i] == '~') && line[i + 1] == line[i] &&
      line[i + 2] == line[i]) {
    *kind = line[i];
    return 1;
  }
  return 0;
}

/* Writes the blank lines held back before the next written line: one when
 * runs collapse, all otherwise; none at the start of a trimmed message. */
static size_t flush_blank(const trim__rules_t *r, size_t blank, int started, char *out) {
  if (!started && r->trim_messages) return 0;
  size_t keep = r->blank_lines && blank > 1 ? 1 : blank;
  memset(out, '\n', keep);
  return keep;
}

static int ws_only(const char *line, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') return 0;
  return 1;
}

size_t trim__normalize(const trim__rules_t *r, const char *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  char fence = 0;   /* the open fence's character, 0 outside code */
  size_t blank = 0; /* blank lines held back, outside code */
  int started = 0;  /* a line was written */
  while (i < n) {
    const char *nl = memchr(in + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - in) : n; /* the line is in[i..end) */
    const char *line = in + i;
    size_t len = end - i;
    char kind;
    int fenced = is_fence(line, len, &kind);
    if (fence || fenced) {
      /* Code, or a fence line: as it is. */
      if (fenced) fence = !fence ? kind : (kind == fence ? 0 : fence);
      o += flush_blank(r, blank, started, out + o);
      blank = 0;
      memcpy(out + o, line, len);
      o += len;
      started = 1;
    } else if (ws_only(line, len) && ((!started && r->trim_messages) || r->blank_lines)) {
      /* Held back: dropped at the start, collapsed in a run, or written
       * before the next line. */
      blank++;
      if (!nl) break;
      i = end + 1;
      continue;
    } else {
      size_t e = len;
      if (r->trailing_ws)
        while (e > 0 && (line[e - 1] == ' ' || line[e - 1] == '\t' || line[e - 1] == '\r'))
          e--;
      o += flush_blank(r, blank, started, out + o);
      blank = 0;
      size_t j = 0;
      while (j < e && (line[j] == ' ' || line[j] == '\t'))
        j++;
      if (started || !r->trim_messages) { /* indentation stays, except a message's first */
        memcpy(out + o, line, j);
        o += j;
      }
      for (; j < e; j++) {
        if (r->collapse_spaces && line[j] == ' ' && j + 1 < e && line[j + 1] == ' ') continue;
        out[o++] = line[j];
      }
      started = 1;
    }
    if (!nl) break;
    out[o++] = '\n';
    i = end + 1;
  }
  if (!r->trim_messages) o += flush_blank(r, blank, 1, out + o);
  if (r->trim_messages)
    while (o > 0 &&
           (out[o - 1] == ' ' || out[o - 1] == '\t' || out[o - 1] == '\n' || out[o - 1] == '\r'))
      o--;
  return o;
}
