/* Subcommands of the llmrt tool. Each returns the process exit code. */
#ifndef LLMRT_TOOL_CMDS_H
#define LLMRT_TOOL_CMDS_H

/* Exit codes shared by the subcommands. */
enum {
  EXIT_OK = 0,
  EXIT_FAIL = 1,      /* anything else */
  EXIT_USAGE = 2,     /* bad command line */
  EXIT_NOKEY = 3,     /* API key missing */
  EXIT_NETWORK = 4,   /* host unreachable, DNS, TLS, timeouts */
  EXIT_UPSTREAM = 5   /* the upstream answered with an error */
};

int llmrt_cmd_chat(int argc, char **argv);
int llmrt_cmd_mock(int argc, char **argv);
int llmrt_cmd_demo(int argc, char **argv);

#endif
