/* Subcommands of the llmrt tool. Each returns the process exit code. */
#ifndef LLMRT_TOOL_CMDS_H
#define LLMRT_TOOL_CMDS_H

#include <stddef.h>

/* Exit codes shared by the subcommands (documented in `llmrt chat --help`
 * and README.md; see exit_code_for() in chat.c for which error goes where). */
enum {
  EXIT_OK = 0,
  EXIT_FAIL = 1,         /* internal: out of memory, configuration, plugin */
  EXIT_USAGE = 2,        /* bad command line (option, value, base URL) */
  EXIT_NOKEY = 3,        /* API key missing */
  EXIT_NETWORK = 4,      /* DNS, connect, reset, TLS, certificates, timeouts */
  EXIT_UPSTREAM = 5,     /* the upstream answered with an error (HTTP status, error event) */
  EXIT_BADRESPONSE = 6,  /* the upstream's answer was malformed, truncated or too large */
  EXIT_CONFIG = 7,       /* --config refused: unknown key, bad value, plugin not found */
  EXIT_INTERRUPTED = 130 /* SIGINT (Ctrl-C): the call was cancelled */
};

/* Prints "llmrt CMD: unknown option 'X'" (or "needs a value" when c is
 * ':'), naming only what the user typed, after getopt_long returned c ('?'
 * or ':') with opterr 0 and an optstring starting with ':'. */
void llmrt_tool_bad_option(const char *cmd, int c, char **argv);

/* Terminal-safe copy of at most max bytes of s into out[cap]: controls
 * escaped as \xNN, "..." appended when cut. Always NUL-terminated. */
void llmrt_tool_escape(char *out, size_t cap, const char *s, size_t max);

/* Where chat and bench send calls (target.c). Fill with _init, then set
 * what the user gave; _config checks it and builds config_json. */
typedef struct {
  const char *provider;      /* "openai", "anthropic"; NULL: by which key is set */
  int provider_flag;         /* 1: given with --provider */
  const char *base_url_flag; /* --base-url, NULL: the environment */
  const char *mock_url;      /* --mock: the in-process mock's URL */
  const char *config_file;   /* --config */
  int retries;               /* attempts after the first (default 2) */
  int retries_flag;          /* 1: given with --retries */
  /* Set by llmrt_tool_target_config(): */
  int anthropic;
  int uses_file_upstreams; /* the --config file names the upstreams */
  const char *key_env;     /* NULL when the file's upstreams name theirs */
  char *config_json;       /* OWNED: freed by llmrt_tool_target_free */
  char url[1100];          /* the upstream's normalized URL, "" with file upstreams */
} llmrt_tool_target_t;

#include "llmrt.h"

void llmrt_tool_target_init(llmrt_tool_target_t *t);
/* Returns EXIT_OK or the exit code after printing "llmrt CMD: ...". */
int llmrt_tool_target_config(const char *cmd, llmrt_tool_target_t *t);
/* llmrt_configure with the messages of the tool; returns an exit code. */
int llmrt_tool_target_apply(const char *cmd, llmrt_tool_target_t *t, llmrt_t *rt);
void llmrt_tool_target_free(llmrt_tool_target_t *t);
/* The proxy settings of the environment for an upstream URL (NULL: any),
 * and a check of the proxy URL (EXIT_USAGE, naming no value). */
void llmrt_tool_proxy_env(const char *url, const char **proxy, const char **no_proxy);
int llmrt_tool_check_proxy(const char *cmd, const char *proxy);
/* Checks that path holds at least one PEM certificate (EXIT_USAGE if not). */
int llmrt_tool_check_ca_file(const char *cmd, const char *path);
/* Parses "Name: value" into out, copying into buf[cap]. */
int llmrt_tool_parse_header(const char *cmd, const char *arg, llmrt_header_t *out, char *buf,
                            size_t cap);
/* Reads a whole file of at most max bytes; NULL with errno set. */
char *llmrt_tool_read_file(const char *path, size_t max, size_t *len_out);
/* Maps an llmrt or libuv error to the exit codes above (chat.c). */
int llmrt_tool_exit_code(int err);
/* Strict number parsing, as in `llmrt mock`: the whole string, in range. */
int llmrt_tool_parse_long(const char *s, long min, long max, long *out);
int llmrt_tool_parse_double(const char *s, double min, double max, double *out);
/* "llmrt CMD: bad value for OPT: 'VALUE'" (escaped, bounded); EXIT_USAGE. */
int llmrt_tool_bad_value(const char *cmd, const char *opt, const char *value);

int llmrt_cmd_chat(int argc, char **argv);
int llmrt_cmd_mock(int argc, char **argv);
int llmrt_cmd_demo(int argc, char **argv);
int llmrt_cmd_tokens(int argc, char **argv);
int llmrt_cmd_bench(int argc, char **argv);
int llmrt_cmd_serve(int argc, char **argv);

#endif
