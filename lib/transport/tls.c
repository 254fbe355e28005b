#include "internal.h"
int llmrt__tls_client_prepare(llmrt__conn_t *c) { return LLMRT_ETLS; }
void llmrt__tls_client_start(llmrt__conn_t *c) {}
int llmrt__tls_server_start(llmrt__conn_t *c) { return LLMRT_ETLS; }
void llmrt__tls_on_input(llmrt__conn_t *c) {}
void llmrt__tls_on_eof(llmrt__conn_t *c, int uverr) {}
int llmrt__tls_has_pending(llmrt__conn_t *c) { return 0; }
void llmrt__tls_drain(llmrt__conn_t *c) {}
int llmrt__tls_write(llmrt__conn_t *c, const uv_buf_t *bufs, unsigned n, llmrt__conn_write_cb cb, void *arg) { return LLMRT_ETLS; }
void llmrt__tls_close_notify(llmrt__conn_t *c) {}
void llmrt__tls_conn_free(llmrt__conn_t *c) { llmrt__buf_free(&c->tls_in); llmrt__buf_free(&c->tls_out); }
void llmrt__tls_server_ref(llmrt__tls_server_t *s) {}
int llmrt__tls_server_new(llmrt_t *rt, const char *cert_file, const char *key_file, llmrt__tls_server_t **out, char *errbuf, size_t errlen) { return LLMRT_ETLS; }
void llmrt__tls_server_free(llmrt__tls_server_t *s) {}
