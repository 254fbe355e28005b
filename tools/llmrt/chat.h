/* llmrt chat's state, shared by chat.c (options, turns) and chat_out.c
 * (what is printed: tokens, the -v report, --json, errors). */
#ifndef LLMRT_TOOL_CHAT_H
#define LLMRT_TOOL_CHAT_H

#include "cmds.h"
#include "llmrt.h"
#include "llmrt_mock.h"

#define CHAT_MAX_HEADERS 32

typedef struct {
  llmrt_t *rt;
  llmrt_mock_t *mock;
  uint64_t call_id; /* in flight, 0 between turns */
  llmrt_request_t req;
  llmrt_callbacks_t cbs;
  /* The conversation: OWNED copies of every turn's text. */
  llmrt_message_t *msgs;
  size_t n_msgs, cap_msgs;
  /* -H headers, then our User-Agent unless the user gave one. */
  llmrt_header_t headers[CHAT_MAX_HEADERS + 1];
  size_t n_headers;
  const char *api_key; /* to keep it out of everything printed */
  uv_signal_t sigint;
  int sig_on;
  int interrupted;
  int verbose;
  int json;
  int done;
  int printed;
  int exit_code;
} chat_t;

int chat_push(chat_t *ch, const char *role, const char *text, size_t len);
void chat_free_history(chat_t *ch);
void chat_set_headers(chat_t *ch);
void chat_on_token(llmrt_call_t *call, const char *text, size_t len, void *user);
void chat_on_done(llmrt_call_t *call, int status, const llmrt_result_t *res, void *user);

#endif
