/* The access log, written off the loop: each line goes to the threadpool
 * with uv_fs_write (the loop never blocks on a slow disk or a full pipe).
 * At most GW_LOG_MAX_PENDING lines wait at once; beyond that lines are
 * dropped and counted (llmrt_gateway_access_log_dropped_total), so a
 * stalled log costs bounded memory, never the gateway's progress. */
#include <string.h>
#include <unistd.h>

#include "gw_internal.h"

#define GW_LOG_MAX_PENDING 1024

typedef struct {
  uv_fs_t req;
  llmrt_gw_t *gw;
  size_t len;
  char data[];
} gw_line_t;

static void wrote(uv_fs_t *req) {
  gw_line_t *l = req->data;
  llmrt_gw_t *gw = l->gw;
  /* Descriptors a reload replaced may have had lines on their way: they
   * close once nothing is pending. */
  if (--gw->log_pending == 0)
    while (gw->n_old_log_fds)
      close(gw->old_log_fds[--gw->n_old_log_fds]);
  uv_fs_req_cleanup(req);
  llmrt__free(l);
}

void llmrt__gw_log_line(llmrt_gw_t *gw, int fd, const char *line, size_t len) {
  if (gw->log_pending >= GW_LOG_MAX_PENDING) {
    gw->log_dropped++;
    return;
  }
  gw_line_t *l = llmrt__malloc(sizeof *l + len);
  if (!l) {
    gw->log_dropped++;
    return;
  }
  memcpy(l->data, line, len);
  l->len = len;
  l->gw = gw;
  l->req.data = l;
  uv_buf_t b = uv_buf_init(l->data, (unsigned)len);
  /* Offset -1: the file's current position (O_APPEND for files). */
  if (uv_fs_write(gw->loop, &l->req, fd, &b, 1, -1, wrote) != 0) {
    gw->log_dropped++;
    llmrt__free(l);
    return;
  }
  gw->log_pending++;
}
