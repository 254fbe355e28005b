/* Helpers shared by the subcommands: option errors and terminal-safe text. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"

void llmrt_tool_bad_option(const char *cmd, int c, char **argv) {
  /* getopt's own messages (opterr) start with argv[0] ("chat: ...") and
   * list every option an ambiguous prefix could mean; ours name only what
   * the user typed, without any "=value" part. */
  const char *arg = optind > 0 ? argv[optind - 1] : "";
  if (optopt && optopt < 0x80 && optopt != '?' && (arg[0] != '-' || arg[1] != '-')) {
    if (c == ':')
      fprintf(stderr, "llmrt %s: option '-%c' needs a value\n", cmd, optopt);
    else
      fprintf(stderr, "llmrt %s: unknown option '-%c'\n", cmd, optopt);
  } else {
    char name[48], safe[64];
    size_t n = strcspn(arg, "=");
    snprintf(name, sizeof name, "%.*s", (int)(n < 40 ? n : 40), arg);
    llmrt_tool_escape(safe, sizeof safe, name, 40);
    if (c == ':')
      fprintf(stderr, "llmrt %s: option '%s' needs a value\n", cmd, safe);
    else
      fprintf(stderr, "llmrt %s: unknown option '%s'\n", cmd, safe);
  }
  fprintf(stderr, "try 'llmrt %s --help'\n", cmd);
}

/* Copies at most max bytes of s (cut before a UTF-8 sequence, never inside
 * one) into out, escaping C0 controls, DEL and the C1 controls (U+0080..
 * U+009F, which some terminals obey) as \xNN, and a backslash as \\, so a
 * hostile upstream cannot move the cursor, retitle the window or hide text.
 * Appends "..." when s was longer. out is always NUL-terminated. */
void llmrt_tool_escape(char *out, size_t cap, const char *s, size_t max) {
  size_t o = 0, len = strlen(s);
  int cut = 0;
  if (cap == 0) return;
  if (len > max) {
    len = max;
    while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
      len--; /* do not split a UTF-8 sequence */
    cut = 1;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    char esc[16];
    size_t n;
    if (ch < 0x20 || ch == 0x7f) {
      n = (size_t)snprintf(esc, sizeof esc, "\\x%02x", ch);
    } else if (ch == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
               (unsigned char)s[i + 1] <= 0x9f) {
      n = (size_t)snprintf(esc, sizeof esc, "\\u%04x", (unsigned char)s[++i]);
    } else if (ch == '\\') {
      n = (size_t)snprintf(esc, sizeof esc, "\\\\");
    } else {
      esc[0] = (char)ch;
      n = 1;
    }
    if (o + n + 4 > cap) { /* room for "..." and the NUL */
      cut = 1;
      break;
    }
    memcpy(out + o, esc, n);
    o += n;
  }
  if (cut && o + 4 <= cap) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}

int llmrt_tool_parse_long(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (!*s || *end || errno || v < min || v > max || *s == ' ') return -1;
  *out = v;
  return 0;
}

int llmrt_tool_parse_double(const char *s, double min, double max, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (!*s || *end || errno || !(v >= min && v <= max) || *s == ' ') return -1;
  *out = v;
  return 0;
}

int llmrt_tool_bad_value(const char *cmd, const char *opt, const char *value) {
  char esc[64];
  llmrt_tool_escape(esc, sizeof esc, value, 40);
  fprintf(stderr, "llmrt %s: bad value for %s: '%s'\n", cmd, opt, esc);
  return EXIT_USAGE;
}
