/* Where `llmrt chat` and `llmrt bench` send their calls: a provider, a base
 * URL (flag or environment, with the SDKs' conventions), an optional
 * configuration file with plugins, and the retry plugin for --retries. The
 * result is one llmrt configuration document, checked before any network
 * activity so that mistakes are reported as the user's own words. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <mbedtls/x509_crt.h>

#include "cmds.h"
#include "llmrt.h"

#define MAX_CONFIG_BYTES (1u << 20)

void llmrt_tool_target_init(llmrt_tool_target_t *t) {
  memset(t, 0, sizeof *t);
  t->retries = 2; /* like the official OpenAI and Anthropic SDKs */
}

/* Reads a whole file of at most max bytes; NULL with errno set on failure
 * (EFBIG when it is larger). */
char *llmrt_tool_read_file(const char *path, size_t max, size_t *len_out) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  char *s = malloc(cap);
  while (s) {
    size_t n = fread(s + len, 1, cap - len - 1, f);
    len += n;
    if (n == 0) break;
    if (len > max) {
      free(s);
      s = NULL;
      errno = EFBIG;
      break;
    }
    if (cap - len < 2) {
      char *p = realloc(s, cap * 2);
      if (!p) {
        free(s);
        s = NULL;
        errno = ENOMEM;
        break;
      }
      s = p;
      cap *= 2;
    }
  }
  int err = errno;
  if (s && ferror(f)) {
    free(s);
    s = NULL;
    err = EIO;
  }
  fclose(f);
  if (s) {
    s[len] = '\0';
    if (len_out) *len_out = len;
  }
  errno = err;
  return s;
}

int llmrt_tool_check_ca_file(const char *cmd, const char *path) {
  char esc[256];
  llmrt_tool_escape(esc, sizeof esc, path, 200);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "llmrt %s: cannot read --ca-file '%s': %s\n", cmd, esc, strerror(errno));
    return EXIT_USAGE;
  }
  fclose(f);
  /* The same parser the runtime uses: a file without one usable PEM
   * certificate would otherwise only fail at the first TLS handshake, as a
   * "network" error. */
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  int r = mbedtls_x509_crt_parse_file(&crt, path);
  int any = crt.version != 0;
  mbedtls_x509_crt_free(&crt);
  if (r < 0 || !any) {
    fprintf(stderr, "llmrt %s: --ca-file '%s' holds no usable PEM certificate\n", cmd, esc);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

/* Normalizes a base URL the way the official SDKs read it: OpenAI's
 * includes the API version ("https://api.openai.com/v1"), Anthropic's does
 * not ("https://api.anthropic.com"; the SDK adds /v1). So that either form
 * works everywhere (the mock prints ".../v1"), a URL with no path gets /v1
 * for OpenAI, and an Anthropic URL gets /v1 unless it already ends in it.
 * Returns 0, or -1 when the URL is not http(s)://host... */
static int normalize_url(char *out, size_t cap, const char *in, int anthropic) {
  const char *p = NULL;
  if (!strncmp(in, "http://", 7))
    p = in + 7;
  else if (!strncmp(in, "https://", 8))
    p = in + 8;
  if (!p || !*p || *p == '/' || strpbrk(in, " \t\r\n?#")) return -1;
  size_t n = strlen(in);
  while (n && in[n - 1] == '/')
    n--;
  if (n + 4 >= cap) return -1;
  memcpy(out, in, n);
  out[n] = '\0';
  const char *path = strchr(out + (size_t)(p - in), '/');
  int has_v1 = n >= 3 && !strcmp(out + n - 3, "/v1");
  if ((anthropic && !has_v1) || (!anthropic && !path)) strcat(out, "/v1");
  return 0;
}

/* The upstream's name in the configuration, which appears in the library's
 * messages ("upstream 'api.openai.com' answered HTTP 429"): the host and
 * port the user gave, never a name they did not choose. */
static void origin_name(char *out, size_t cap, const char *url) {
  const char *h = strstr(url, "://");
  h = h ? h + 3 : url;
  const char *at = strchr(h, '@');
  size_t auth = strcspn(h, "/");
  if (at && (size_t)(at - h) < auth) { /* never user:password */
    auth -= (size_t)(at + 1 - h);
    h = at + 1;
  }
  snprintf(out, cap, "%.*s", (int)(auth < 200 ? auth : 200), h);
}

static int has_plugin(const cJSON *plugins, const char *name) {
  const cJSON *p;
  cJSON_ArrayForEach(p, plugins) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(p, "name");
    if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return 1;
  }
  return 0;
}

int llmrt_tool_target_config(const char *cmd, llmrt_tool_target_t *t) {
  char esc[256];
  cJSON *root = NULL;
  t->config_json = NULL;
  t->key_env = NULL;
  t->uses_file_upstreams = 0;
  t->url[0] = '\0';
  if (!t->provider && !t->mock_url && !t->base_url_flag) {
    /* The provider whose key is set, OpenAI when both or neither are. */
    t->provider =
        (!getenv("OPENAI_API_KEY") && getenv("ANTHROPIC_API_KEY")) ? "anthropic" : "openai";
  }
  if (!t->provider) t->provider = "openai";
  t->anthropic = !strcmp(t->provider, "anthropic");
  if (!t->anthropic && strcmp(t->provider, "openai")) {
    llmrt_tool_escape(esc, sizeof esc, t->provider, 40);
    fprintf(stderr, "llmrt %s: unknown provider '%s' (openai or anthropic)\n", cmd, esc);
    return EXIT_USAGE;
  }
  if (t->config_file) {
    llmrt_tool_escape(esc, sizeof esc, t->config_file, 200);
    size_t len;
    char *text = llmrt_tool_read_file(t->config_file, MAX_CONFIG_BYTES, &len);
    if (!text) {
      fprintf(stderr, "llmrt %s: cannot read --config '%s': %s\n", cmd, esc,
              errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
      return EXIT_USAGE;
    }
    root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
      fprintf(stderr, "llmrt %s: --config '%s' is not a JSON object\n", cmd, esc);
      cJSON_Delete(root);
      return EXIT_USAGE;
    }
  } else {
    root = cJSON_CreateObject();
    if (!root) goto nomem;
  }
  if (cJSON_GetObjectItemCaseSensitive(root, "upstreams")) {
    /* The file says where calls go; flags that say it too would be
     * silently ignored, so they are refused. */
    if (t->base_url_flag || t->provider_flag || t->mock_url) {
      fprintf(stderr, "llmrt %s: --config '%s' defines its upstreams: drop %s\n", cmd, esc,
              t->mock_url        ? "--mock"
              : t->base_url_flag ? "--base-url"
                                 : "--provider");
      cJSON_Delete(root);
      return EXIT_USAGE;
    }
    t->uses_file_upstreams = 1;
  } else {
    const char *src, *url;
    char norm[1100], name[256];
    if (t->mock_url) {
      src = "the mock";
      url = t->mock_url;
    } else if (t->base_url_flag) {
      src = "--base-url";
      url = t->base_url_flag;
    } else {
      src = t->anthropic ? "ANTHROPIC_BASE_URL" : "OPENAI_BASE_URL";
      url = getenv(src);
      if (!url || !*url)
        url = t->anthropic ? "https://api.anthropic.com" : "https://api.openai.com/v1";
    }
    if (normalize_url(norm, sizeof norm, url, t->anthropic) != 0) {
      char uesc[256];
      llmrt_tool_escape(uesc, sizeof uesc, url, 200);
      fprintf(stderr,
              "llmrt %s: bad base URL '%s' (from %s): want http://HOST... or https://HOST...\n",
              cmd, uesc, src);
      cJSON_Delete(root);
      return EXIT_USAGE;
    }
    t->key_env = t->mock_url    ? "LLMRT_MOCK_API_KEY"
                 : t->anthropic ? "ANTHROPIC_API_KEY"
                                : "OPENAI_API_KEY";
    origin_name(name, sizeof name, norm);
    snprintf(t->url, sizeof t->url, "%s", norm);
    cJSON *ups = cJSON_AddObjectToObject(root, "upstreams");
    cJSON *up = ups ? cJSON_AddObjectToObject(ups, name) : NULL;
    if (!up || !cJSON_AddStringToObject(up, "base_url", norm) ||
        !cJSON_AddStringToObject(up, "api", t->provider) ||
        !cJSON_AddStringToObject(up, "api_key_env", t->key_env) ||
        !cJSON_AddStringToObject(root, "default_upstream", name))
      goto nomem;
  }
  cJSON *plugins = cJSON_GetObjectItemCaseSensitive(root, "plugins");
  if (plugins && !cJSON_IsArray(plugins)) plugins = NULL; /* llmrt_configure names it */
  if (plugins && has_plugin(plugins, "retry")) {
    if (t->retries_flag) {
      fprintf(stderr, "llmrt %s: --retries: --config '%s' has its own retry plugin\n", cmd, esc);
      cJSON_Delete(root);
      return EXIT_USAGE;
    }
  } else if (t->retries > 0 && !cJSON_GetObjectItemCaseSensitive(root, "plugins")) {
    plugins = cJSON_AddArrayToObject(root, "plugins");
    if (!plugins) goto nomem;
  }
  if (plugins && !has_plugin(plugins, "retry") && t->retries > 0) {
    /* Innermost, so that plugins outside it (a cache, metrics) see each
     * call once, as the SDKs' built-in retries would. */
    cJSON *r = cJSON_CreateObject();
    if (!r || !cJSON_AddStringToObject(r, "name", "retry") ||
        !cJSON_AddNumberToObject(r, "max_attempts", t->retries + 1) ||
        !cJSON_AddItemToArray(plugins, r)) {
      cJSON_Delete(r);
      goto nomem;
    }
  }
  t->config_json = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!t->config_json) goto nomem;
  return EXIT_OK;
nomem:
  cJSON_Delete(root);
  fprintf(stderr, "llmrt %s: %s\n", cmd, llmrt_strerror(LLMRT_ENOMEM));
  return EXIT_FAIL;
}

int llmrt_tool_target_apply(const char *cmd, llmrt_tool_target_t *t, llmrt_t *rt) {
  char errbuf[512], esc[600];
  int r = llmrt_configure(rt, t->config_json, errbuf, sizeof errbuf);
  if (r == 0) return EXIT_OK;
  llmrt_tool_escape(esc, sizeof esc, errbuf, 500);
  if (t->config_file) {
    char fesc[256];
    llmrt_tool_escape(fesc, sizeof fesc, t->config_file, 200);
    /* The paths in errbuf are those of the user's file, plus at most the
     * upstream and retry entry added here, which --help describes. */
    fprintf(stderr, "llmrt %s: --config '%s': %s\n", cmd, fesc, esc);
  } else {
    fprintf(stderr, "llmrt %s: %s\n", cmd, llmrt_strerror(r));
  }
  return r == LLMRT_ENOMEM ? EXIT_FAIL : EXIT_CONFIG;
}

/* The proxy the environment asks for, as curl reads it: HTTPS_PROXY (or
 * https_proxy) for https upstreams, http_proxy for http ones (only the
 * lower-case name: a CGI environment sets HTTP_PROXY from a request
 * header), and NO_PROXY (or no_proxy) for hosts to reach directly. The URL
 * is the upstream's, or NULL when a --config file names the upstreams (its
 * calls then use HTTPS_PROXY). */
void llmrt_tool_proxy_env(const char *url, const char **proxy, const char **no_proxy) {
  const char *p;
  if (url && !strncmp(url, "http://", 7)) {
    p = getenv("http_proxy");
  } else {
    p = getenv("HTTPS_PROXY");
    if (!p || !*p) p = getenv("https_proxy");
  }
  const char *np = getenv("NO_PROXY");
  if (!np || !*np) np = getenv("no_proxy");
  *proxy = p && *p ? p : NULL;
  *no_proxy = np && *np ? np : NULL;
}

int llmrt_tool_check_proxy(const char *cmd, const char *proxy) {
  if (!proxy) return EXIT_OK;
  const char *h = !strncmp(proxy, "http://", 7) ? proxy + 7 : NULL;
  size_t n = h ? strcspn(h, "/") : 0;
  if (!h || !n || strchr(h, '@') || (h[n] && strcmp(h + n, "/"))) {
    /* The value may hold credentials: name the variable, not its value. */
    fprintf(stderr,
            "llmrt %s: the proxy variable is not http://HOST:PORT (no credentials, no https)\n",
            cmd);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

void llmrt_tool_target_free(llmrt_tool_target_t *t) {
  cJSON_free(t->config_json);
  t->config_json = NULL;
}

int llmrt_tool_parse_header(const char *cmd, const char *arg, llmrt_header_t *out, char *buf,
                            size_t cap) {
  char esc[128];
  const char *colon = strchr(arg, ':');
  size_t n = colon ? (size_t)(colon - arg) : 0;
  int ok = colon && n > 0 && strlen(arg) < cap;
  for (size_t i = 0; ok && i < n; i++) /* an HTTP token */
    ok = arg[i] > 0x20 && arg[i] < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", arg[i]);
  for (const char *v = colon ? colon + 1 : ""; ok && *v; v++)
    ok = (unsigned char)*v >= 0x20 && *v != 0x7f;
  if (!ok) {
    /* Only the name: a header's value is often a secret. */
    snprintf(esc, sizeof esc, "%.*s", (int)(n && n < 60 ? n : 0), arg);
    char safe[256];
    llmrt_tool_escape(safe, sizeof safe, esc, 60);
    fprintf(stderr, "llmrt %s: bad -H header '%s': want 'Name: value', no control characters\n",
            cmd, *safe ? safe : "(no name)");
    return EXIT_USAGE;
  }
  memcpy(buf, arg, n);
  buf[n] = '\0';
  static const char *const reserved[] = {
      "authorization",     "x-api-key",  "host",         "content-length",
      "transfer-encoding", "connection", "content-type", NULL};
  for (int i = 0; reserved[i]; i++) {
    if (!strcasecmp(buf, reserved[i])) {
      llmrt_tool_escape(esc, sizeof esc, buf, 60);
      fprintf(stderr, "llmrt %s: -H '%s': llmrt sets this header itself%s\n", cmd, esc,
              i < 2 ? " (the key comes from the environment)" : "");
      return EXIT_USAGE;
    }
  }
  const char *v = colon + 1;
  while (*v == ' ' || *v == '\t')
    v++;
  snprintf(buf + n + 1, cap - n - 1, "%s", v);
  out->name = buf;
  out->value = buf + n + 1;
  return EXIT_OK;
}
