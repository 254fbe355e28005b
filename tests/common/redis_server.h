/* redis-server as a real peer for tests.
 *
 * test_redis_start starts `redis-server` as a child process on a free port
 * of 127.0.0.1, in a fresh temporary directory, with no persistence (no RDB
 * snapshots, no AOF), optionally a password, and waits until it answers
 * PING. It aborts the test with a clear message when redis-server is
 * missing or does not come up (CI installs it: missing is a failure, not a
 * skip). test_redis_stop kills it (also a stopped one), reaps it and removes
 * the directory. test_redis_pause / _resume send SIGSTOP / SIGCONT (a
 * stalled Redis: the socket stays open, nothing is answered);
 * test_redis_kill kills it and test_redis_restart starts it again on the
 * same port (an outage, then Redis back, empty). */
#ifndef LLMRT_TEST_REDIS_SERVER_H
#define LLMRT_TEST_REDIS_SERVER_H

#include <sys/types.h>

typedef struct {
  char dir[256];
  char password[64]; /* "" for none */
  pid_t pid;         /* 0 when not running */
  int port;
} test_redis_t;

/* password may be NULL. */
void test_redis_start(test_redis_t *r, const char *password);
void test_redis_stop(test_redis_t *r);
void test_redis_pause(test_redis_t *r);
void test_redis_resume(test_redis_t *r);
void test_redis_kill(test_redis_t *r);
void test_redis_restart(test_redis_t *r);

#endif
