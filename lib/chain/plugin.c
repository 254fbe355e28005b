/* Plugin instances: finding and loading a plugin (built-in or a shared
 * object), checking its descriptor against our ABI, running init and fini,
 * and the timers, clock and log behind the host table.
 *
 * Loading happens in llmrt_configure, before calls run, so the blocking
 * dlopen and file checks here never stall a call in flight. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtins.h"
#include "chain.h"

/* The instance and a private copy of its descriptor. The copy is full-size
 * and zero past the plugin's struct_size, so a plugin built against an older,
 * shorter llmrt_plugin_t reads as NULL hooks instead of past its end. */
typedef struct {
  struct llmrt_plugin_rt_s prt; /* first: the instance's address is the block's */
  llmrt_plugin_t desc;
} instance_t;

struct llmrt_timer_s {
  uv_timer_t handle;
  llmrt__link_t link; /* in its owner's list (an instance's or a call's) until stopped */
  llmrt_t *rt;
  void (*cb)(llmrt_timer_t *t, void *arg);
  void *arg;
  int stopped;
};

/* The smallest descriptor we accept: everything up to on_call_end. */
#define DESC_MIN_SIZE (offsetof(llmrt_plugin_t, on_call_end) + sizeof(void (*)(llmrt_ctx_t *, int)))

static int is_path(const char *name) {
  size_t n = strlen(name);
  return strchr(name, '/') != NULL || (n >= 3 && strcmp(name + n - 3, ".so") == 0);
}

/* Opens `file`. On failure writes uv_dlerror's text to why and frees the
 * message libuv allocated (uv_dlclose does that even for a failed open). */
static int open_lib(uv_lib_t *lib, const char *file, char *why, size_t whylen) {
  if (uv_dlopen(file, lib) == 0) return 0;
  /* dlerror starts with the file name, which our message names already. */
  const char *msg = uv_dlerror(lib);
  size_t n = strlen(file);
  if (strncmp(msg, file, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
  snprintf(why, whylen, "%s", msg);
  uv_dlclose(lib);
  return -1;
}

/* The plugin directory of the install this code was loaded from, when it
 * runs as a shared libllmrt: <its directory>/llmrt/plugins. So an install
 * copied or moved to another prefix (cmake --install --prefix, a package
 * unpacked elsewhere) still finds its own plugins, as its llmrt.pc, which is
 * relative too, says. "" when linked statically (the executable's directory
 * is not an install's) or when it is the configured directory anyway. */
static void own_plugin_dir(char *out, size_t cap) {
  Dl_info info;
  out[0] = '\0';
  if (!dladdr((void *)own_plugin_dir, &info) || !info.dli_fname) return;
  const char *slash = strrchr(info.dli_fname, '/');
  if (!slash || strncmp(slash + 1, "libllmrt.so", 11) != 0) return;
  int n = snprintf(out, cap, "%.*s/llmrt/plugins", (int)(slash - info.dli_fname), info.dli_fname);
  if (n < 0 || (size_t)n >= cap || strcmp(out, LLMRT_PLUGIN_DIR) == 0) out[0] = '\0';
}

/* Looks for <dir>/<name>.so in LLMRT_PLUGIN_PATH, the install's plugin
 * directory (configured, then next to the shared library in use), and opens
 * the first that exists. Never the build tree: an installed library must not
 * pick up whatever a build directory on the machine holds (tests point
 * LLMRT_PLUGIN_PATH at it instead). A file that exists but does not open is
 * an error, not a reason to look further: silently loading another copy
 * would hide the problem. */
static int search_and_open(llmrt_plugin_rt_t *p, const char *name, char *file, size_t filelen,
                           char *why, size_t whylen) {
  const char *env = getenv("LLMRT_PLUGIN_PATH");
  char own[1024];
  own_plugin_dir(own, sizeof own);
  const char *dirs[2] = {LLMRT_PLUGIN_DIR, own};
  const char *s = env ? env : "";
  for (int pass = 0; pass < 3; pass++) {
    for (;;) {
      const char *dir;
      size_t dlen;
      if (pass == 0) {
        if (!*s) break;
        const char *colon = strchr(s, ':');
        dir = s;
        dlen = colon ? (size_t)(colon - s) : strlen(s);
        s = colon ? colon + 1 : s + dlen;
        if (dlen == 0) continue;
      } else {
        dir = dirs[pass - 1];
        dlen = strlen(dir);
        if (dlen == 0) break;
      }
      int n = snprintf(file, filelen, "%.*s/%s.so", (int)dlen, dir, name);
      if (n > 0 && (size_t)n < filelen && access(file, F_OK) == 0) {
        if (open_lib(&p->lib, file, why, whylen)) return LLMRT_EPLUGINLOAD;
        return 0;
      }
      if (pass > 0) break;
    }
  }
  snprintf(why, whylen,
           "not a registered or built-in plugin, and no %s.so in LLMRT_PLUGIN_PATH "
           "(%s) or " LLMRT_PLUGIN_DIR "%s%.300s",
           name, env && *env ? env : "unset", own[0] ? " or " : "", own);
  file[0] = '\0';
  return LLMRT_EPLUGINLOAD;
}

/* Finds the entry point: plugins the application registered, the built-in
 * table, then a file. `file` receives the
 * file's path ("" for a built-in). */
static int find_entry(llmrt_plugin_rt_t *p, const char *name, llmrt_plugin_entry_fn *entry,
                      char *file, size_t filelen, char *why, size_t whylen) {
  file[0] = '\0';
  if (!is_path(name)) {
    /* The application's own plugins (llmrt_add_plugin) may shadow ours. */
    if ((*entry = llmrt__plugin_registered(p->rt, name))) return 0;
    for (const llmrt__builtin_t *b = llmrt__builtins; b->name; b++) {
      if (strcmp(b->name, name) == 0) {
        *entry = b->entry;
        return 0;
      }
    }
  }
  int r;
  if (is_path(name)) {
    snprintf(file, filelen, "%s", name);
    r = open_lib(&p->lib, name, why, whylen) ? LLMRT_EPLUGINLOAD : 0;
  } else {
    r = search_and_open(p, name, file, filelen, why, whylen);
  }
  if (r) return r;
  p->has_lib = 1;
  void *sym = NULL;
  if (uv_dlsym(&p->lib, "llmrt_plugin_entry", &sym) || !sym) {
    snprintf(why, whylen, "no llmrt_plugin_entry symbol: not an llmrt plugin");
    return LLMRT_EPLUGINLOAD;
  }
  /* dlsym hands back a data pointer; POSIX guarantees it converts. */
  memcpy(entry, &sym, sizeof *entry);
  return 0;
}

/* Checks a descriptor against this runtime's ABI. */
static int check_desc(const llmrt_plugin_t *d, char *why, size_t whylen) {
  if (!d) {
    snprintf(why, whylen, "llmrt_plugin_entry returned NULL");
    return LLMRT_EPLUGINLOAD;
  }
  if (d->abi_version != LLMRT_PLUGIN_ABI_VERSION) {
    snprintf(why, whylen, "built for plugin ABI %u, this runtime speaks %u",
             (unsigned)d->abi_version, (unsigned)LLMRT_PLUGIN_ABI_VERSION);
    return LLMRT_EPLUGINABI;
  }
  if (d->struct_size < DESC_MIN_SIZE || d->struct_size > sizeof(llmrt_plugin_t)) {
    snprintf(why, whylen, "descriptor struct_size %u is outside %zu..%zu for plugin ABI %u",
             (unsigned)d->struct_size, (size_t)DESC_MIN_SIZE, sizeof(llmrt_plugin_t),
             (unsigned)LLMRT_PLUGIN_ABI_VERSION);
    return LLMRT_EPLUGINABI;
  }
  if (!d->name) {
    snprintf(why, whylen, "descriptor has no name");
    return LLMRT_EPLUGINABI;
  }
  /* Reserved slots a newer plugin fills would be ignored here: refuse. */
  size_t first = offsetof(llmrt_plugin_t, reserved);
  for (size_t i = 0; i < 8 && first + (i + 1) * sizeof(void *) <= d->struct_size; i++)
    if (d->reserved[i]) {
      snprintf(why, whylen, "descriptor reserved[%zu] is set: the plugin needs a newer runtime", i);
      return LLMRT_EPLUGINABI;
    }
  return 0;
}

static void stop_all_timers(llmrt_plugin_rt_t *p) {
  llmrt__timers_stop_all(&p->timers);
  llmrt__plugin_watches_stop(p);
}

static void instance_free(llmrt_plugin_rt_t *p) {
  stop_all_timers(p);
  llmrt__plugin_wakes_free(p);
  llmrt__plugin_tokens_free(p);
  if (p->has_lib) uv_dlclose(&p->lib);
  for (size_t i = 0; i < p->n_aliases; i++) llmrt__free(p->aliases[i]);
  llmrt__free(p->aliases);
  llmrt__free(p->label);
  llmrt__free(p);
}

int llmrt__plugin_load(llmrt_t *rt, const char *name, const char *config_json, size_t config_len,
                       llmrt_plugin_rt_t **out, char *err, size_t errlen) {
  char dummy[1];
  if (!err || errlen == 0) {
    err = dummy;
    errlen = sizeof dummy;
  }
  err[0] = '\0';
  *out = NULL;
  if (!name || !*name) {
    snprintf(err, errlen, "plugin: empty name");
    return LLMRT_EINVAL;
  }
  instance_t *inst = llmrt__calloc(1, sizeof *inst);
  if (!inst) return LLMRT_ENOMEM;
  llmrt_plugin_rt_t *p = &inst->prt;
  p->rt = rt;
  llmrt__list_init(&p->timers);
  llmrt__list_init(&p->wakes);
  llmrt__list_init(&p->watches);
  p->label = llmrt__strdup(name);
  if (!p->label) {
    llmrt__free(inst);
    return LLMRT_ENOMEM;
  }

  char file[1024], why[768] = "";
  llmrt_plugin_entry_fn entry = NULL;
  int r = find_entry(p, name, &entry, file, sizeof file, why, sizeof why);
  if (!r) {
    const llmrt_plugin_t *d = entry(&llmrt__host);
    r = check_desc(d, why, sizeof why);
    if (!r) {
      memcpy(&inst->desc, d, d->struct_size);
      p->desc = &inst->desc;
    }
  }
  if (r) {
    /* Name the file too when it is not what the user wrote. */
    int show = file[0] && strcmp(file, name) != 0;
    snprintf(err, errlen, "plugin %s: %s%s%s", name, show ? file : "", show ? ": " : "", why);
    instance_free(p);
    return r;
  }

  llmrt__chain_t *ch = llmrt__chain_get(rt);
  if (ch) {
    p->ups = ch->cfg_ups;
    p->n_ups = ch->cfg_n_ups;
  }
  if (p->desc->init) {
    char ebuf[512] = "";
    p->in_init = 1;
    r = p->desc->init(p, config_json ? config_json : "{}", config_json ? config_len : 2, &p->state,
                      ebuf, sizeof ebuf);
    p->in_init = 0;
    ebuf[sizeof ebuf - 1] = '\0';
    if (r) {
      if (ebuf[0])
        snprintf(err, errlen, "plugin %s: %s", name, ebuf);
      else
        snprintf(err, errlen, "plugin %s: init failed: %s", name, llmrt_strerror(r));
      /* init failed, so there is no state for fini; timers it may have
       * started are stopped before the library goes away. */
      instance_free(p);
      return r == LLMRT_ENOMEM ? r : LLMRT_EPLUGIN;
    }
  }
  p->inited = 1;
  *out = p;
  return 0;
}

void llmrt__plugin_unload(llmrt_plugin_rt_t *p) {
  if (!p) return;
  stop_all_timers(p);
  if (p->inited && p->desc->fini) p->desc->fini(p->state);
  instance_free(p);
}

/* ---- Timers ---- */

static void on_timer_close(uv_handle_t *h) {
  llmrt_timer_t *t = h->data;
  llmrt_t *rt = t->rt;
  llmrt__free(t);
  llmrt__rt_unref(rt);
}

static void on_timer(uv_timer_t *h) {
  llmrt_timer_t *t = h->data;
  if (t->stopped) return;
  /* t stays allocated through the callback even if cb stops it: the memory
   * goes only in the close callback, on a later loop turn. */
  t->cb(t, t->arg);
}

int llmrt__timer_start_on(llmrt_t *rt, llmrt__link_t *owner, uint64_t timeout_ms,
                          uint64_t repeat_ms, void (*cb)(llmrt_timer_t *t, void *arg), void *arg,
                          llmrt_timer_t **out) {
  if (out) *out = NULL;
  if (!cb) return LLMRT_EINVAL;
  if (rt->closing) return LLMRT_ESHUTDOWN;
  llmrt_timer_t *t = llmrt__calloc(1, sizeof *t);
  if (!t) return LLMRT_ENOMEM;
  int r = uv_timer_init(rt->loop, &t->handle);
  if (r) {
    llmrt__free(t);
    return r;
  }
  t->handle.data = t;
  t->rt = rt;
  t->cb = cb;
  t->arg = arg;
  llmrt__list_init(&t->link);
  /* Held until the handle's close callback: the runtime's done waits. */
  llmrt__rt_ref(rt);
  r = uv_timer_start(&t->handle, on_timer, timeout_ms, repeat_ms);
  if (r) {
    t->stopped = 1;
    uv_close((uv_handle_t *)&t->handle, on_timer_close);
    return r;
  }
  llmrt__list_push_back(owner, &t->link);
  if (out) *out = t;
  return 0;
}

int llmrt__timer_start(llmrt_plugin_rt_t *prt, uint64_t timeout_ms, uint64_t repeat_ms,
                       void (*cb)(llmrt_timer_t *t, void *arg), void *arg, llmrt_timer_t **out) {
  if (out) *out = NULL;
  if (!prt) return LLMRT_EINVAL;
  return llmrt__timer_start_on(prt->rt, &prt->timers, timeout_ms, repeat_ms, cb, arg, out);
}

void llmrt__timer_stop(llmrt_timer_t *t) {
  if (!t || t->stopped) return;
  t->stopped = 1;
  llmrt__list_remove(&t->link);
  uv_timer_stop(&t->handle);
  uv_close((uv_handle_t *)&t->handle, on_timer_close);
}

void llmrt__timers_stop_all(llmrt__link_t *owner) {
  while (!llmrt__list_empty(owner))
    llmrt__timer_stop(LLMRT__CONTAINER(owner->next, llmrt_timer_t, link));
}

uint64_t llmrt__plugin_now_ms(llmrt_plugin_rt_t *prt) {
  return prt ? uv_now(prt->rt->loop) : 0;
}

void llmrt__plugin_log(llmrt_plugin_rt_t *prt, int level, const char *msg) {
  if (!prt) return;
  if (level < LLMRT_LOG_ERROR) level = LLMRT_LOG_ERROR;
  if (level > LLMRT_LOG_DEBUG) level = LLMRT_LOG_DEBUG;
  llmrt__log(prt->rt, level, "plugin %s: %s", prt->label, msg ? msg : "");
}
