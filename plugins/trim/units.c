/* The units the history budget drops: whole turns, so that a conversation
 * still starts with a user message and a tool result never outlives the
 * assistant message that called the tool (nor a call its results). */
#include <cjson/cJSON.h>
#include <string.h>

#include "trim.h"

/* 1 when the assistant message's tool_calls_json has a call with this id. */
static int calls_id(const char *tool_calls_json, const char *id) {
  /* A plain search first: most messages do not mention the id at all. */
  if (!strstr(tool_calls_json, id)) return 0;
  cJSON *arr = cJSON_Parse(tool_calls_json);
  if (!arr) return 1; /* unparsable (or no memory): assume it is the call, keep them together */
  int found = 0;
  const cJSON *tc;
  cJSON_ArrayForEach(tc, arr) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(tc, "id");
    if (cJSON_IsString(v) && !strcmp(v->valuestring, id)) found = 1;
  }
  cJSON_Delete(arr);
  return found;
}

/* 1 when a user message carries tool_result blocks (Anthropic's format,
 * forwarded as content_json): it answers the assistant message before it and
 * continues that turn rather than starting one. */
static int has_tool_result(const llmrt_message_t *m) {
  if (!m->content_json) return 0;
  size_t n = m->content_json_len ? m->content_json_len : strlen(m->content_json);
  if (!memmem(m->content_json, n, "tool_result", 11)) return 0;
  cJSON *arr = cJSON_ParseWithLength(m->content_json, n);
  if (!arr) return 1; /* unparsable (or no memory): keep it with the call, as calls_id does */
  int found = 0;
  const cJSON *part;
  cJSON_ArrayForEach(part, arr) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type");
    if (cJSON_IsString(t) && !strcmp(t->valuestring, "tool_result")) found = 1;
  }
  cJSON_Delete(arr);
  return found;
}

uint32_t trim__units(trim__msg_t *v, size_t n) {
  /* A turn starts at each user message; what comes before the first one
   * (assistant or tool messages) is a turn of its own, the oldest. */
  uint32_t turn = 1;
  int seen = 0;
  for (size_t i = 0; i < n; i++) {
    const char *role = v[i].m.role ? v[i].m.role : "";
    if (!strcmp(role, "system")) {
      v[i].unit = 0;
      continue;
    }
    if (!strcmp(role, "user") && seen && !has_tool_result(&v[i].m)) turn++;
    seen = 1;
    v[i].unit = turn;
  }
  /* Join turns where a tool result follows a user message that came after
   * its call: every message from the call to the result joins the call's
   * turn. Tool messages without a call anywhere before stay where they
   * are (the provider would refuse them anyway; that is not ours to fix). */
  for (size_t k = 0; k < n; k++) {
    if (!v[k].m.role || strcmp(v[k].m.role, "tool") || !v[k].m.tool_call_id) continue;
    for (size_t j = k; j-- > 0;) {
      if (!v[j].m.role || strcmp(v[j].m.role, "assistant") || !v[j].m.tool_calls_json) continue;
      if (!calls_id(v[j].m.tool_calls_json, v[k].m.tool_call_id)) continue;
      uint32_t u = v[j].unit, old = v[k].unit;
      if (u != old) {
        /* Renumber: every message of the turns from u to old belongs to u. */
        for (size_t i = j; i < n; i++)
          if (v[i].unit > u && v[i].unit <= old) v[i].unit = u;
        /* Later turns close the gap so numbers stay ordered. */
        for (size_t i = 0; i < n; i++)
          if (v[i].unit > old) v[i].unit -= old - u;
      }
      break;
    }
  }
  uint32_t last = 0;
  for (size_t i = 0; i < n; i++)
    if (v[i].unit > last) last = v[i].unit;
  return last;
}
