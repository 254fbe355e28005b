/* Subcommands of the llmrt tool. Each returns the process exit code. */
#ifndef LLMRT_TOOL_CMDS_H
#define LLMRT_TOOL_CMDS_H

#include <stddef.h>

/* Exit codes shared by the subcommands (documented in `llmrt chat --help`
 * and README.md; see exit_code_for() in chat.c for which error goes where). */
enum {
  EXIT_OK = 0,
  EXIT_FAIL = 1,       /* internal: out of memory, configuration, plugin */
  EXIT_USAGE = 2,      /* bad command line (option, value, base URL) */
  EXIT_NOKEY = 3,      /* API key missing */
  EXIT_NETWORK = 4,    /* DNS, connect, reset, TLS, certificates, timeouts */
  EXIT_UPSTREAM = 5,   /* the upstream answered with an error (HTTP status, error event) */
  EXIT_BADRESPONSE = 6 /* the upstream's answer was malformed, truncated or too large */
};

/* Prints "llmrt CMD: unknown option 'X'" (or "needs a value" when c is
 * ':'), naming only what the user typed, after getopt_long returned c ('?'
 * or ':') with opterr 0 and an optstring starting with ':'. */
void llmrt_tool_bad_option(const char *cmd, int c, char **argv);

/* Terminal-safe copy of at most max bytes of s into out[cap]: controls
 * escaped as \xNN, "..." appended when cut. Always NUL-terminated. */
void llmrt_tool_escape(char *out, size_t cap, const char *s, size_t max);

int llmrt_cmd_chat(int argc, char **argv);
int llmrt_cmd_mock(int argc, char **argv);
int llmrt_cmd_demo(int argc, char **argv);
int llmrt_cmd_serve(int argc, char **argv);

#endif
