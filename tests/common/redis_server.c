/* redis-server fixture: see redis_server.h. */
#include "redis_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIE(...)                                                                                   \
  do {                                                                                             \
    fprintf(stderr, "redis fixture: ");                                                            \
    fprintf(stderr, __VA_ARGS__);                                                                  \
    fprintf(stderr, "\n");                                                                         \
    abort();                                                                                       \
  } while (0)

static int free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) DIE("socket: %s", strerror(errno));
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) DIE("bind: %s", strerror(errno));
  socklen_t len = sizeof a;
  if (getsockname(s, (struct sockaddr *)&a, &len) != 0) DIE("getsockname: %s", strerror(errno));
  close(s);
  return ntohs(a.sin_port);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A blocking PING over a plain socket (the fixture runs outside any loop). */
static int pings(const test_redis_t *r) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return 0;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)r->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {1, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int ok = 0;
  if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
    char cmd[160];
    int n = r->password[0] ? snprintf(cmd, sizeof cmd, "AUTH %s\r\nPING\r\n", r->password)
                           : snprintf(cmd, sizeof cmd, "PING\r\n");
    if (write(s, cmd, (size_t)n) == n) {
      char buf[256];
      size_t got = 0;
      for (int i = 0; i < 20 && got < sizeof buf - 1; i++) {
        ssize_t k = read(s, buf + got, sizeof buf - 1 - got);
        if (k <= 0) break;
        got += (size_t)k;
        buf[got] = '\0';
        if (strstr(buf, "+PONG")) {
          ok = 1;
          break;
        }
      }
    }
  }
  close(s);
  return ok;
}

static void spawn(test_redis_t *r) {
  char port[16], dir[300];
  snprintf(port, sizeof port, "%d", r->port);
  snprintf(dir, sizeof dir, "%s", r->dir);
  pid_t pid = fork();
  if (pid < 0) DIE("fork: %s", strerror(errno));
  if (pid == 0) {
    /* A test that aborts must not leave its Redis behind. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Nor hold the test's output pipe open (it logs to its own file). */
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      close(devnull);
    }
    char log[320];
    snprintf(log, sizeof log, "%s/redis.log", dir);
    const char *argv[32];
    int n = 0;
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--dir";
    argv[n++] = dir;
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    argv[n++] = "--logfile";
    argv[n++] = log;
    if (r->password[0]) {
      argv[n++] = "--requirepass";
      argv[n++] = r->password;
    }
    argv[n] = NULL;
    execvp("redis-server", (char *const *)argv);
    fprintf(stderr, "redis fixture: cannot run redis-server: %s (apt-get install redis-server)\n",
            strerror(errno));
    _exit(127);
  }
  r->pid = pid;
  for (int i = 0; i < 200; i++) {
    if (pings(r)) return;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      r->pid = 0;
      DIE("redis-server exited at start (port %d, log in %s/redis.log)", r->port, r->dir);
    }
    sleep_ms(25);
  }
  DIE("redis-server did not answer PING within 5 s (port %d)", r->port);
}

void test_redis_start(test_redis_t *r, const char *password) {
  memset(r, 0, sizeof *r);
  snprintf(r->password, sizeof r->password, "%s", password ? password : "");
  snprintf(r->dir, sizeof r->dir, "/tmp/llmrt-redis-XXXXXX");
  if (!mkdtemp(r->dir)) DIE("mkdtemp: %s", strerror(errno));
  r->port = free_port();
  spawn(r);
}

void test_redis_kill(test_redis_t *r) {
  if (!r->pid) return;
  kill(r->pid, SIGKILL);
  int st;
  waitpid(r->pid, &st, 0);
  r->pid = 0;
}

void test_redis_restart(test_redis_t *r) {
  test_redis_kill(r);
  spawn(r);
}

void test_redis_pause(test_redis_t *r) {
  if (r->pid) kill(r->pid, SIGSTOP);
}

void test_redis_resume(test_redis_t *r) {
  if (r->pid) kill(r->pid, SIGCONT);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  return remove(path);
}

void test_redis_stop(test_redis_t *r) {
  test_redis_kill(r);
  if (r->dir[0]) nftw(r->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
  r->dir[0] = '\0';
}
