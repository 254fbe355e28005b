/* llmrt_configure: good configurations are installed as written; each bad
 * one is refused with LLMRT_ECONFIG and a message naming its JSON path,
 * changes nothing, and never shows an API key. */
#include <stdlib.h>
#include <string.h>

#include "chain/chain.h"
#include "chain_fixture.h"
#include "failalloc.h"
#include "test.h"

#ifndef LLMRT_TEST_PLUGIN_DIR
#define LLMRT_TEST_PLUGIN_DIR LLMRT_BINARY_DIR "/test-plugins"
#endif

#define SECRET "sk-test-DO-NOT-LEAK-1234567890"
#define SECRET_ID "566e58f2e08b5166" /* sha256sum of SECRET, first 16 hex digits */

/* Everything llmrt logs, at every level. */
static logcap_t logs;

static llmrt_t *new_rt(void) {
  return chainfx_rt_new(NULL, &logs);
}

static void free_rt(llmrt_t *rt) {
  chainfx_rt_close(rt, NULL);
}

static void test_good_minimal(void) {
  llmrt_t *rt = new_rt();
  char err[256] = "x";
  ASSERT_ERR(llmrt_configure(rt, "{}", err, sizeof err), 0);
  ASSERT_STR_EQ(err, "");
  llmrt__chain_t *ch = llmrt__chain_get(rt);
  ASSERT(ch->conf != NULL);
  ASSERT_EQ(ch->conf->n_upstreams, 0);
  ASSERT_EQ(ch->conf->n_plugins, 0);
  ASSERT(ch->conf->default_upstream >= ch->conf->n_upstreams); /* no default */
  free_rt(rt);
}

static void test_good_full(void) {
  setenv("LLMRT_TEST_KEY", SECRET, 1);
  unsetenv("LLMRT_TEST_MISSING_KEY");
  llmrt_t *rt = new_rt();
  char err[256];
  const char *cfg =
      "{\n"
      "  \"upstreams\": {\n"
      "    \"openai\": {\"base_url\": \"https://api.openai.com/v1/\", \"api\": \"openai\",\n"
      "               \"api_key_env\": \"LLMRT_TEST_KEY\", \"max_connections\": 64,\n"
      "               \"headers\": {\"OpenAI-Organization\": \"org-1\", \"X-Two\": \"2\"}},\n"
      "    \"claude\": {\"base_url\": \"http://127.0.0.1:8080\", \"api\": \"anthropic\",\n"
      "               \"api_key_env\": \"LLMRT_TEST_MISSING_KEY\"},\n"
      "    \"local\": {\"base_url\": \"http://127.0.0.1:9/v1\"}\n"
      "  },\n"
      "  \"default_upstream\": \"claude\",\n"
      "  \"plugins\": []\n"
      "}";
  ASSERT_ERR(llmrt_configure(rt, cfg, err, sizeof err), 0);
  llmrt__chain_t *ch = llmrt__chain_get(rt);
  ASSERT_EQ(ch->conf->n_upstreams, 3);
  ASSERT_EQ(ch->conf->default_upstream, 1);
  const llmrt__upstream_t *u = &ch->conf->upstreams[0];
  ASSERT_STR_EQ(u->name, "openai");
  ASSERT_STR_EQ(u->base_url, "https://api.openai.com/v1"); /* trailing '/' dropped */
  ASSERT_STR_EQ(u->provider->name, "openai");
  ASSERT_STR_EQ(u->api_key, SECRET);
  ASSERT_STR_EQ(u->key_id, SECRET_ID);
  ASSERT_STR_EQ(u->key_env, "LLMRT_TEST_KEY");
  ASSERT_EQ(u->max_connections, 64);
  ASSERT_EQ(u->n_headers, 2);
  ASSERT_STR_EQ(u->headers[0].name, "OpenAI-Organization");
  ASSERT_STR_EQ(u->headers[0].value, "org-1");
  ASSERT_STR_EQ(u->headers[1].name, "X-Two");

  u = &ch->conf->upstreams[1];
  ASSERT_STR_EQ(u->name, "claude");
  ASSERT_STR_EQ(u->provider->name, "anthropic");
  ASSERT(u->api_key == NULL); /* missing variable: not an error now */
  ASSERT_STR_EQ(u->key_id, "");
  ASSERT_STR_EQ(u->key_env, "LLMRT_TEST_MISSING_KEY");
  ASSERT_EQ(u->max_connections, 0);

  u = &ch->conf->upstreams[2];
  ASSERT_STR_EQ(u->provider->name, "openai"); /* the default api */
  ASSERT(u->key_env == NULL && u->api_key == NULL);
  ASSERT(llmrt__upstream_find(ch->conf, "local") == u);
  ASSERT(llmrt__upstream_find(ch->conf, "nope") == NULL);

  /* The missing variable was named, the key id may be logged, the key not. */
  ASSERT_CONTAINS(logs.text, "LLMRT_TEST_MISSING_KEY is not set");
  ASSERT_CONTAINS(logs.text, SECRET_ID);
  ASSERT(strstr(logs.text, SECRET) == NULL);
  free_rt(rt);
}

static void test_single_upstream_is_default(void) {
  llmrt_t *rt = new_rt();
  char err[256];
  ASSERT_ERR(llmrt_configure(rt, "{\"upstreams\":{\"a\":{\"base_url\":\"http://127.0.0.1:1\"}}}",
                             err, sizeof err),
             0);
  ASSERT_EQ(llmrt__chain_get(rt)->conf->default_upstream, 0);
  free_rt(rt);

  /* Two upstreams and no default_upstream: refused, no guessing. */
  rt = new_rt();
  ASSERT_ERR(llmrt_configure(rt,
                             "{\"upstreams\":{\"a\":{\"base_url\":\"http://127.0.0.1:1\"},"
                             "\"b\":{\"base_url\":\"http://127.0.0.1:2\"}}}",
                             err, sizeof err),
             LLMRT_ECONFIG);
  ASSERT_CONTAINS(err, "$.default_upstream: required when there are several upstreams");
  free_rt(rt);
}

typedef struct {
  const char *json;
  const char *want; /* a substring of the message */
} bad_t;

#define UP(body) "{\"upstreams\":{\"openai\":" body "}}"
#define URL "\"base_url\":\"https://api.openai.com/v1\""

static const bad_t bad[] = {
    {"", "$: not valid JSON near line 1"},
    {"{\"upstreams\": {}\n,\n \"plugins\": [}", "$: not valid JSON near line 3"},
    {"{} trailing", "$: not valid JSON"},
    {"[1,2]", "$: must be an object"},
    {"{\"upstream\": {}}", "$.upstream: unknown key"},
    {"{\"upstreams\": [], \"upstreams\": {}}", "$.upstreams: duplicate key"},
    {"{\"upstreams\": 3}", "$.upstreams: must be an object"},
    {UP("3"), "$.upstreams.openai: must be an object"},
    {UP("{}"), "$.upstreams.openai.base_url: must be a string starting with http:// or https://"},
    {UP("{\"base_url\": 5}"), "$.upstreams.openai.base_url: must be a string starting with"},
    {UP("{\"base_url\": \"ftp://x\"}"), "$.upstreams.openai.base_url: must be a string starting"},
    {UP("{\"base_url\": \"https://\"}"), "$.upstreams.openai.base_url: has no host"},
    {UP("{\"base_url\": \"https://h/v1?api-key=sk-SECRETQ\"}"),
     "$.upstreams.openai.base_url: has no host, or contains a space, a query"},
    {UP("{\"base_url\": \"http://u:sk-SECRETU@127.0.0.1:1/v1\"}"),
     "$.upstreams.openai.base_url: must not carry credentials"},
    {UP("{\"base_url\": \"http://h/v1\", \"headers\": {\"Authorization\": \"Bearer x\"}}"),
     "$.upstreams.openai.headers.Authorization: set by llmrt itself"},
    {UP("{" URL ", \"api\": \"gemini\"}"), "$.upstreams.openai.api: must be \"openai\" or"},
    {UP("{" URL ", \"api\": 1}"), "$.upstreams.openai.api: must be"},
    {UP("{" URL ", \"api_key_env\": 5}"), "$.upstreams.openai.api_key_env: must be the name"},
    {UP("{" URL ", \"api_key_env\": \"A-B\"}"), "$.upstreams.openai.api_key_env: must be"},
    {UP("{" URL ", \"headers\": []}"), "$.upstreams.openai.headers: must be an object"},
    {UP("{" URL ", \"headers\": {\"X-A\": 1}}"),
     "$.upstreams.openai.headers.X-A: must be a string"},
    {UP("{" URL ", \"headers\": {\"X-A\": \"a\\r\\nEvil: 1\"}}"),
     "$.upstreams.openai.headers.X-A: must be a string without control"},
    {UP("{" URL ", \"headers\": {\"Bad Name\": \"a\"}}"),
     "$.upstreams.openai.headers[\"Bad Name\"]: not a valid HTTP header name"},
    {UP("{" URL ", \"max_connections\": -1}"), "$.upstreams.openai.max_connections: must be an"},
    {UP("{" URL ", \"max_connections\": 1.5}"), "$.upstreams.openai.max_connections: must be an"},
    {UP("{" URL ", \"max_connections\": \"8\"}"), "$.upstreams.openai.max_connections: must be"},
    {UP("{" URL ", \"timeout\": 5}"), "$.upstreams.openai.timeout: unknown key"},
    {UP("{" URL ", \"api\": \"openai\", \"api\": \"anthropic\"}"),
     "$.upstreams.openai.api: duplicate key"},
    {"{\"upstreams\":{\"a b\":{}}}", "$.upstreams[\"a b\"].base_url: must be"},
    {"{\"upstreams\":{\"\":{" URL "}}}", "$.upstreams[\"\"]: an upstream needs a non-empty name"},
    {"{\"upstreams\":{\"a\":{" URL "},\"a\":{" URL "}}}", "$.upstreams.a: duplicate key"},
    {"{\"upstreams\":{\"a\":{" URL "}},\"default_upstream\":\"b\"}",
     "$.default_upstream: no upstream named \"b\""},
    {"{\"upstreams\":{\"a\":{" URL "}},\"default_upstream\":1}", "$.default_upstream: must be"},
    {"{\"default_upstream\":\"a\"}", "$.default_upstream: there are no upstreams"},
    {"{\"plugins\": {}}", "$.plugins: must be an array"},
    {"{\"plugins\": [1]}", "$.plugins[0]: must be an object"},
    {"{\"plugins\": [{}]}", "$.plugins[0].name: must be a plugin name or a path"},
    {"{\"plugins\": [{\"name\": \"\"}]}", "$.plugins[0].name: must be"},
    {"{\"plugins\": [{\"name\": 3}]}", "$.plugins[0].name: must be"},
    {"{\"plugins\": [{\"name\": \"no-such-plugin-x\"}]}",
     "$.plugins[0].name: plugin no-such-plugin-x: not a registered or built-in plugin, and no "
     "no-such-plugin-x.so in LLMRT_PLUGIN_PATH"},
    {"{\"plugins\": [{\"name\": \"/nonexistent/dir/p.so\"}]}",
     "$.plugins[0].name: plugin /nonexistent/dir/p.so: cannot open shared object file"},
};

static void test_key_whitespace(void) {
  /* A key pasted with its newline still works; one with control characters
   * inside is refused, naming the variable and never the value. */
  setenv("LLMRT_TEST_NL_KEY", "  sk-newline-key\n", 1);
  llmrt_t *rt = new_rt();
  char err[256] = "";
  ASSERT_ERR(llmrt_configure(rt,
                             "{\"upstreams\":{\"a\":{\"base_url\":\"http://h/v1\","
                             "\"api_key_env\":\"LLMRT_TEST_NL_KEY\"}}}",
                             err, sizeof err),
             0);
  ASSERT_STR_EQ(llmrt__chain_get(rt)->conf->upstreams[0].api_key, "sk-newline-key");
  free_rt(rt);
  setenv("LLMRT_TEST_NL_KEY", "sk-bad\x01key-SECRET", 1);
  rt = new_rt();
  ASSERT_ERR(llmrt_configure(rt,
                             "{\"upstreams\":{\"a\":{\"base_url\":\"http://h/v1\","
                             "\"api_key_env\":\"LLMRT_TEST_NL_KEY\"}}}",
                             err, sizeof err),
             LLMRT_ECONFIG);
  ASSERT_CONTAINS(err, "LLMRT_TEST_NL_KEY");
  ASSERT(strstr(err, "SECRET") == NULL);
  free_rt(rt);
  unsetenv("LLMRT_TEST_NL_KEY");
}

static void test_bad(void) {
  unsetenv("LLMRT_PLUGIN_PATH");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    llmrt_t *rt = new_rt();
    char err[512] = "";
    int r = llmrt_configure(rt, bad[i].json, err, sizeof err);
    fprintf(stderr, "   %s\n      -> %s\n", bad[i].json, err);
    int want = strstr(bad[i].want, "$.plugins[0].name: plugin") ? LLMRT_EPLUGINLOAD : LLMRT_ECONFIG;
    ASSERT_ERR(r, want);
    ASSERT_CONTAINS(err, bad[i].want);
    ASSERT(strstr(err, "SECRET") == NULL); /* a URL with a secret is never echoed */
    /* Nothing changed: a good configuration still goes in. */
    llmrt__chain_t *ch = llmrt__chain_get(rt);
    ASSERT(ch->conf == NULL);
    ASSERT_ERR(llmrt_configure(rt, "{}", err, sizeof err), 0);
    free_rt(rt);
  }
}

/* The key is refused in the configuration itself, and never echoed. */
static void test_key_never_shown(void) {
  setenv("LLMRT_TEST_KEY", SECRET, 1);
  logcap_clear(&logs);
  const char *cfgs[] = {
      UP("{" URL ", \"api_key\": \"" SECRET "\"}"),
      UP("{" URL ", \"api_key_env\": \"LLMRT_TEST_KEY\", \"api\": \"nope\"}"),
      UP("{" URL ", \"api_key_env\": \"LLMRT_TEST_KEY\", \"max_connections\": 0}"),
      /* The key is read before the plugin fails: the failure must not show it. */
      "{\"upstreams\":{\"o\":{" URL ", \"api_key_env\": \"LLMRT_TEST_KEY\"}},"
      "\"plugins\":[{\"name\":\"./nope.so\"}]}",
      "{\"upstreams\":{\"o\":{" URL ", \"api_key_env\": \"LLMRT_TEST_KEY\"}}}",
  };
  for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
    llmrt_t *rt = new_rt();
    char err[512] = "";
    int r = llmrt_configure(rt, cfgs[i], err, sizeof err);
    ASSERT(strstr(err, SECRET) == NULL);
    if (i == 0) {
      ASSERT_ERR(r, LLMRT_ECONFIG);
      ASSERT_CONTAINS(err, "$.upstreams.openai.api_key: keys are not accepted");
    }
    if (i == 4) ASSERT_ERR(r, 0);
    free_rt(rt);
  }
  ASSERT(logs.len > 0);
  ASSERT(strstr(logs.text, SECRET) == NULL);
}

static void test_twice_and_args(void) {
  llmrt_t *rt = new_rt();
  char err[256];
  ASSERT_ERR(llmrt_configure(rt, "{}", err, sizeof err), 0);
  /* Again: it replaces the configuration (tests/chain/test_reconfigure.c). */
  ASSERT_ERR(llmrt_configure(rt, "{}", err, sizeof err), 0);
  ASSERT_ERR(llmrt_configure(rt, NULL, err, sizeof err), LLMRT_EINVAL);
  ASSERT_ERR(llmrt_configure(NULL, "{}", err, sizeof err), LLMRT_EINVAL);
  free_rt(rt);

  /* A NULL or tiny errbuf is fine; the message is cut and terminated. */
  rt = new_rt();
  char tiny[8];
  memset(tiny, 'z', sizeof tiny);
  ASSERT_ERR(llmrt_configure(rt, "[", NULL, 0), LLMRT_ECONFIG);
  ASSERT_ERR(llmrt_configure(rt, "[", tiny, sizeof tiny), LLMRT_ECONFIG);
  ASSERT_STR_EQ(tiny, "$: not ");
  free_rt(rt);
}

/* ---- Allocation failures: each allocation of llmrt_configure fails in
 * turn; it must refuse cleanly, change nothing and leak nothing. ---- */

static void test_alloc_failures(void) {
  setenv("LLMRT_TEST_KEY", SECRET, 1);
  const char *cfg =
      "{\"upstreams\":{\"a\":{\"base_url\":\"https://x.example/"
      "v1\",\"api_key_env\":\"LLMRT_TEST_KEY\","
      "\"headers\":{\"X-A\":\"1\",\"X-B\":\"2\"}},\"b\":{\"base_url\":\"http://127.0.0.1:1\","
      "\"api\":\"anthropic\"}},\"default_upstream\":\"b\",\"plugins\":["
      "{\"name\":\"" LLMRT_TEST_PLUGIN_DIR "/testgood.so\",\"tag\":\"x\",\"timer_ms\":1000},"
      "{\"name\":\"" LLMRT_TEST_PLUGIN_DIR "/testgood.so\",\"tag\":\"y\"}]}";
  int ok = 0;
  for (long n = 0; !ok; n++) {
    long before = failalloc_live();
    llmrt_t *rt = new_rt();
    llmrt__chain_get(rt); /* made before the budget: it is not configure's */
    char err[512] = "";
    failalloc_arm_from(n + 1); /* n allocations succeed, then every one fails */
    int r = llmrt_configure(rt, cfg, err, sizeof err);
    failalloc_disarm();
    if (r == 0) {
      ok = 1;
      ASSERT_EQ(llmrt__chain_get(rt)->conf->n_plugins, 2);
      fprintf(stderr, "   configure succeeded once given %ld allocations\n", n);
      ASSERT_GE(n, 20); /* the loop did fail allocations along the way */
    } else {
      /* cJSON cannot tell a failed allocation from bad syntax. */
      if (r != LLMRT_ENOMEM && r != LLMRT_ECONFIG)
        TEST_FAIL_("allocation %ld: %s: %s", n, llmrt_err_name(r), err);
      ASSERT(strstr(err, SECRET) == NULL);
      llmrt__chain_t *ch = llmrt__chain_get(rt);
      ASSERT(ch->conf == NULL);
      ASSERT_ERR(llmrt_configure(rt, cfg, err, sizeof err), 0);
    }
    free_rt(rt);
    if (failalloc_live() != before)
      TEST_FAIL_("allocation %ld: %ld allocations leaked", n, failalloc_live() - before);
    ASSERT(n < 10000);
  }
}

int main(void) {
  /* Before anything else: counts every allocation llmrt and cJSON make. */
  failalloc_install();
  RUN_TEST(test_good_minimal);
  RUN_TEST(test_good_full);
  RUN_TEST(test_single_upstream_is_default);
  RUN_TEST(test_bad);
  RUN_TEST(test_key_whitespace);
  RUN_TEST(test_key_never_shown);
  RUN_TEST(test_twice_and_args);
  RUN_TEST(test_alloc_failures);
  return 0;
}
