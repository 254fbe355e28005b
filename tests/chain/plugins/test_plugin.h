/* State of the test plugin good.c, shared with the tests that read it
 * through the instance (chain.h's llmrt_plugin_rt_t.state). */
#ifndef LLMRT_TEST_PLUGIN_H
#define LLMRT_TEST_PLUGIN_H
#include "llmrt/plugin.h"

#define TEST_PLUGIN_MAGIC 0x7e57c0de

typedef struct {
  unsigned magic;
  llmrt_plugin_rt_t *prt;
  char config[256]; /* the config_json init got */
  char tag[32];
  int ticks;
  int never_fired;
  llmrt_timer_t *tick_timer;
  llmrt_timer_t *never_timer;
} test_plugin_state_t;

#endif
