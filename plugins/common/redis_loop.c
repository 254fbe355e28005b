/* A hiredis async context driven by the plugin host's watch and timers.
 *
 * Connection states, one transition point each:
 *
 *   BACKOFF --timer--> CONNECTING --onConnect ok--> HANDSHAKE --PING ok--> READY
 *      ^                   |                            |                    |
 *      +---- fail, connect timeout, error reply --------+---- lost, stall ---+
 *
 * A command is a redis_cmd_t handed to hiredis as privdata; hiredis calls
 * on_reply exactly once for it (with a reply, or NULL when the connection
 * goes), and that is where it is freed. The user's callback may run earlier
 * (timeout) or never (cancel): user_done says it ran. */
#include "redis_loop.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/async.h>

typedef enum { RL_BACKOFF, RL_CONNECTING, RL_HANDSHAKE, RL_READY, RL_CLOSED } rl_state_t;

struct redis_cmd_s {
  redis_loop_t *rl;
  redis_loop_cb cb;
  void *arg;
  llmrt_timer_t *timer;
  int user_done;
  redis_cmd_t *prev, *next; /* in rl->cmds until hiredis answered */
};

struct redis_loop_s {
  const llmrt_host_t *H;
  llmrt_plugin_rt_t *prt;
  redis_loop_opts_t o;
  char host[64];
  char label[32];
  char *password;
  rl_state_t state;
  redisAsyncContext *ac;
  llmrt_watch_t *watch;
  int events;
  llmrt_timer_t *timer; /* connect timeout or backoff */
  uint32_t backoff_ms;
  uint32_t consec_timeouts;
  uint32_t pending;
  int handshake_left;
  int warned; /* a failure was logged at warning level since the last success */
  int freeing;
  redis_cmd_t *cmds;
  redis_loop_stats_t st;
};

static void start_connect(redis_loop_t *rl);

static void logf_(redis_loop_t *rl, int level, const char *fmt, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, rl->label, rl->host, rl->o.port, what);
  rl->H->log(rl->prt, level, msg);
}

static void notify(redis_loop_t *rl, int ready) {
  if (rl->o.on_state && !rl->freeing) rl->o.on_state(rl->o.state_arg, ready);
}

static void stop_timer(redis_loop_t *rl) {
  if (rl->timer) rl->H->timer_stop(rl->timer);
  rl->timer = NULL;
}

/* ---- hiredis's event hooks: one watch on the socket ---- */

static void ev_update(redis_loop_t *rl, int add, int flag) {
  int e = add ? (rl->events | flag) : (rl->events & ~flag);
  if (e == rl->events) return;
  rl->events = e;
  if (rl->watch) rl->H->watch_set(rl->watch, e);
}

static void ev_add_read(void *p) {
  ev_update(p, 1, LLMRT_WATCH_READABLE);
}
static void ev_del_read(void *p) {
  ev_update(p, 0, LLMRT_WATCH_READABLE);
}
static void ev_add_write(void *p) {
  ev_update(p, 1, LLMRT_WATCH_WRITABLE);
}
static void ev_del_write(void *p) {
  ev_update(p, 0, LLMRT_WATCH_WRITABLE);
}
static void ev_cleanup(void *p) {
  redis_loop_t *rl = p;
  if (rl->watch) rl->H->watch_stop(rl->watch);
  rl->watch = NULL;
  rl->events = 0;
}

static void on_watch(llmrt_watch_t *w, int events, int status, void *arg) {
  redis_loop_t *rl = arg;
  redisAsyncContext *ac = rl->ac;
  if (!ac) return;
  /* A poll error: let hiredis find the socket error on a read. */
  if (status < 0) events = LLMRT_WATCH_READABLE;
  if (events & LLMRT_WATCH_WRITABLE) redisAsyncHandleWrite(ac);
  if ((events & LLMRT_WATCH_READABLE) && rl->ac == ac) redisAsyncHandleRead(ac);
}

/* ---- Connection ---- */

static void on_backoff(llmrt_timer_t *t, void *arg) {
  redis_loop_t *rl = arg;
  stop_timer(rl);
  start_connect(rl);
}

static void schedule_reconnect(redis_loop_t *rl) {
  stop_timer(rl);
  rl->state = RL_BACKOFF;
  if (rl->freeing) return;
  uint32_t d = rl->backoff_ms;
  /* Jitter in [d/2, d] so processes that lost Redis together spread out. */
  uint64_t r = (rl->H->now_ms(rl->prt) * 2654435761u) ^ (uintptr_t)rl;
  uint32_t delay = d / 2 + (uint32_t)(r % (d - d / 2 + 1));
  rl->backoff_ms = d >= rl->o.backoff_max_ms / 2 ? rl->o.backoff_max_ms : d * 2;
  if (rl->H->timer_start(rl->prt, delay, 0, on_backoff, rl, &rl->timer) != 0) rl->timer = NULL;
}

/* Drops the connection on purpose (timeout, stall, failed handshake) and
 * plans the next attempt. Pending commands get LLMRT_ECLOSED. */
static void drop(redis_loop_t *rl, const char *why) {
  redisAsyncContext *ac = rl->ac;
  int was_ready = rl->state == RL_READY;
  if (was_ready)
    rl->st.disconnects++;
  else
    rl->st.connect_fails++;
  if (!rl->warned || was_ready) {
    logf_(rl, LLMRT_LOG_WARN, "%s: redis %s:%u: %s; reconnecting with backoff", why);
    rl->warned = 1;
  }
  rl->ac = NULL;
  schedule_reconnect(rl);
  /* Deferred by hiredis when inside one of its callbacks. */
  if (ac) redisAsyncFree(ac);
  if (was_ready) notify(rl, 0);
}

static void on_connect_timeout(llmrt_timer_t *t, void *arg) {
  redis_loop_t *rl = arg;
  stop_timer(rl);
  drop(rl, "connect or handshake timed out");
}

static void on_handshake(redisAsyncContext *ac, void *r, void *privdata) {
  redis_loop_t *rl = ac->data;
  redisReply *reply = r;
  if (rl->ac != ac || rl->state != RL_HANDSHAKE) return; /* dropped meanwhile */
  if (!reply || reply->type == REDIS_REPLY_ERROR) {
    char why[160];
    snprintf(why, sizeof why, "handshake refused (%.100s)",
             reply && reply->str ? reply->str : "connection lost");
    drop(rl, why);
    return;
  }
  if (--rl->handshake_left > 0) return;
  stop_timer(rl);
  rl->state = RL_READY;
  rl->backoff_ms = rl->o.backoff_min_ms;
  rl->consec_timeouts = 0;
  rl->st.connects++;
  if (rl->warned)
    logf_(rl, LLMRT_LOG_WARN, "%s: redis %s:%u: %s", "connected again");
  else
    logf_(rl, LLMRT_LOG_INFO, "%s: redis %s:%u: %s", "connected");
  rl->warned = 0;
  notify(rl, 1);
}

static void on_connect(const redisAsyncContext *cac, int status) {
  redisAsyncContext *ac = (redisAsyncContext *)cac;
  redis_loop_t *rl = ac->data;
  if (rl->ac != ac) return;
  if (status != REDIS_OK) {
    /* hiredis frees the context after this callback returns. */
    rl->ac = NULL;
    rl->st.connect_fails++;
    if (!rl->warned) {
      logf_(rl, LLMRT_LOG_WARN, "%s: redis %s:%u: %s; retrying with backoff",
            ac->errstr[0] ? ac->errstr : "connect failed");
      rl->warned = 1;
    }
    schedule_reconnect(rl);
    return;
  }
  rl->state = RL_HANDSHAKE;
  rl->handshake_left = 0;
  int ok = 1;
  if (rl->password) {
    const char *argv[2] = {"AUTH", rl->password};
    ok = ok && redisAsyncCommandArgv(ac, on_handshake, NULL, 2, argv, NULL) == REDIS_OK;
    rl->handshake_left++;
  }
  if (rl->o.db) {
    char db[16];
    snprintf(db, sizeof db, "%d", rl->o.db);
    const char *argv[2] = {"SELECT", db};
    ok = ok && redisAsyncCommandArgv(ac, on_handshake, NULL, 2, argv, NULL) == REDIS_OK;
    rl->handshake_left++;
  }
  const char *ping[1] = {"PING"};
  ok = ok && redisAsyncCommandArgv(ac, on_handshake, NULL, 1, ping, NULL) == REDIS_OK;
  rl->handshake_left++;
  if (!ok) drop(rl, "cannot send the handshake");
}

static void on_disconnect(const redisAsyncContext *cac, int status) {
  redisAsyncContext *ac = (redisAsyncContext *)cac;
  redis_loop_t *rl = ac->data;
  if (rl->ac != ac) return; /* dropped on purpose: already handled */
  rl->ac = NULL;
  if (rl->freeing) return;
  int was_ready = rl->state == RL_READY;
  if (was_ready)
    rl->st.disconnects++;
  else
    rl->st.connect_fails++;
  if (!rl->warned || was_ready) {
    logf_(rl, LLMRT_LOG_WARN, "%s: redis %s:%u: %s; reconnecting with backoff",
          ac->errstr[0] ? ac->errstr : "connection lost");
    rl->warned = 1;
  }
  schedule_reconnect(rl);
  if (was_ready) notify(rl, 0);
}

static void start_connect(redis_loop_t *rl) {
  if (rl->freeing || rl->ac || rl->watch) return;
  rl->state = RL_CONNECTING;
  redisAsyncContext *ac = redisAsyncConnect(rl->host, rl->o.port);
  if (!ac) {
    schedule_reconnect(rl);
    return;
  }
  if (ac->err) {
    rl->st.connect_fails++;
    if (!rl->warned) {
      logf_(rl, LLMRT_LOG_WARN, "%s: redis %s:%u: %s; retrying with backoff", ac->errstr);
      rl->warned = 1;
    }
    redisAsyncFree(ac);
    schedule_reconnect(rl);
    return;
  }
  ac->data = rl;
  ac->ev.data = rl;
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  ac->ev.cleanup = ev_cleanup;
  rl->events = 0;
  if (rl->H->watch_start(rl->prt, ac->c.fd, 0, on_watch, rl, &rl->watch) != 0) {
    rl->watch = NULL;
    ac->ev.cleanup = NULL;
    redisAsyncFree(ac);
    schedule_reconnect(rl);
    return;
  }
  rl->ac = ac;
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  redisAsyncSetConnectCallback(ac, on_connect); /* arms the first write wait */
  if (rl->H->timer_start(rl->prt, rl->o.connect_timeout_ms, 0, on_connect_timeout, rl,
                         &rl->timer) != 0) {
    rl->timer = NULL;
    drop(rl, "out of memory arming the connect timeout");
  }
}

/* ---- Commands ---- */

static void finish_user(redis_cmd_t *cmd, int status, const redisReply *reply) {
  if (cmd->timer) cmd->rl->H->timer_stop(cmd->timer);
  cmd->timer = NULL;
  if (cmd->user_done) return;
  cmd->user_done = 1;
  if (cmd->cb) cmd->cb(cmd->arg, status, reply);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata) {
  redis_cmd_t *cmd = privdata;
  redis_loop_t *rl = cmd->rl;
  if (r)
    rl->consec_timeouts = 0;
  else if (!cmd->user_done && !rl->freeing)
    rl->st.errors++;
  finish_user(cmd, r ? 0 : rl->freeing ? LLMRT_ESHUTDOWN : LLMRT_ECLOSED, r);
  if (cmd->prev)
    cmd->prev->next = cmd->next;
  else
    rl->cmds = cmd->next;
  if (cmd->next) cmd->next->prev = cmd->prev;
  rl->pending--;
  rl->H->free(cmd);
}

static void on_cmd_timeout(llmrt_timer_t *t, void *arg) {
  redis_cmd_t *cmd = arg;
  redis_loop_t *rl = cmd->rl;
  rl->st.timeouts++;
  finish_user(cmd, LLMRT_ETIMEDOUT, NULL);
  /* A Redis that answers nothing for several commands in a row is stalled
   * (stopped, swapped out, a dead link that TCP has not noticed yet). */
  if (++rl->consec_timeouts >= rl->o.stall_timeouts && rl->state == RL_READY)
    drop(rl, "commands time out (stalled)");
}

int redis_loop_command(redis_loop_t *rl, int argc, const char **argv, const size_t *argvlen,
                       uint32_t timeout_ms, redis_loop_cb cb, void *arg, redis_cmd_t **out) {
  if (out) *out = NULL;
  if (rl->state != RL_READY || !rl->ac) {
    rl->st.errors++;
    return LLMRT_ECLOSED;
  }
  if (rl->pending >= rl->o.max_pending) {
    rl->st.errors++;
    return LLMRT_EBUSY;
  }
  redis_cmd_t *cmd = rl->H->calloc(1, sizeof *cmd);
  if (!cmd) return LLMRT_ENOMEM;
  cmd->rl = rl;
  cmd->cb = cb;
  cmd->arg = arg;
  if (timeout_ms &&
      rl->H->timer_start(rl->prt, timeout_ms, 0, on_cmd_timeout, cmd, &cmd->timer) != 0) {
    rl->H->free(cmd);
    return LLMRT_ENOMEM;
  }
  if (redisAsyncCommandArgv(rl->ac, on_reply, cmd, argc, argv, argvlen) != REDIS_OK) {
    if (cmd->timer) rl->H->timer_stop(cmd->timer);
    rl->H->free(cmd);
    return LLMRT_ENOMEM; /* hiredis refuses only when it cannot format or queue */
  }
  cmd->next = rl->cmds;
  if (rl->cmds) rl->cmds->prev = cmd;
  rl->cmds = cmd;
  rl->pending++;
  if (out) *out = cmd;
  return 0;
}

void redis_loop_cancel(redis_cmd_t *cmd) {
  if (!cmd) return;
  if (cmd->timer) cmd->rl->H->timer_stop(cmd->timer);
  cmd->timer = NULL;
  cmd->user_done = 1;
}

/* ---- Life ---- */

int redis_loop_new(const llmrt_host_t *host, llmrt_plugin_rt_t *prt, const redis_loop_opts_t *o,
                   redis_loop_t **out) {
  *out = NULL;
  const char *h = o->host && *o->host ? o->host : "127.0.0.1";
  if (!strcmp(h, "localhost")) h = "127.0.0.1";
  unsigned char tmp[16];
  if (strlen(h) >= 64 || (inet_pton(AF_INET, h, tmp) != 1 && inet_pton(AF_INET6, h, tmp) != 1))
    return LLMRT_EINVAL;
  redis_loop_t *rl = host->calloc(1, sizeof *rl);
  if (!rl) return LLMRT_ENOMEM;
  rl->H = host;
  rl->prt = prt;
  rl->o = *o;
  snprintf(rl->host, sizeof rl->host, "%s", h);
  snprintf(rl->label, sizeof rl->label, "%s", o->label ? o->label : "redis");
  rl->o.host = rl->host;
  rl->o.label = rl->label;
  rl->o.password = NULL;
  if (!rl->o.port) rl->o.port = 6379;
  if (!rl->o.connect_timeout_ms) rl->o.connect_timeout_ms = 500;
  if (!rl->o.backoff_min_ms) rl->o.backoff_min_ms = 100;
  if (!rl->o.backoff_max_ms) rl->o.backoff_max_ms = 5000;
  if (rl->o.backoff_max_ms < rl->o.backoff_min_ms) rl->o.backoff_max_ms = rl->o.backoff_min_ms;
  if (!rl->o.stall_timeouts) rl->o.stall_timeouts = 3;
  if (!rl->o.max_pending) rl->o.max_pending = 1024;
  if (o->password) {
    size_t n = strlen(o->password);
    rl->password = host->malloc(n + 1);
    if (!rl->password) {
      host->free(rl);
      return LLMRT_ENOMEM;
    }
    memcpy(rl->password, o->password, n + 1);
  }
  rl->backoff_ms = rl->o.backoff_min_ms;
  rl->state = RL_BACKOFF;
  start_connect(rl);
  *out = rl;
  return 0;
}

void redis_loop_free(redis_loop_t *rl) {
  if (!rl) return;
  rl->freeing = 1;
  stop_timer(rl);
  redisAsyncContext *ac = rl->ac;
  rl->state = RL_CLOSED;
  if (ac) {
    /* Pending commands' callbacks run now, with LLMRT_ESHUTDOWN; the
     * disconnect callback sees freeing and does nothing. */
    redisAsyncFree(ac);
    rl->ac = NULL;
  }
  ev_cleanup(rl);
  if (rl->password) {
    volatile char *p = rl->password;
    while (*p)
      *p++ = 0;
    rl->H->free(rl->password);
  }
  rl->H->free(rl);
}

int redis_loop_ready(const redis_loop_t *rl) {
  return rl && rl->state == RL_READY;
}

void redis_loop_stats(const redis_loop_t *rl, redis_loop_stats_t *out) {
  *out = rl->st;
}
