/* Deterministic answers: a seeded generator of words (English, or Chinese
 * with an emoji now and then to exercise 4-byte UTF-8), text splitting into
 * tokens, and tool-call arguments. Same seed, same tokens, on any machine. */
#include <stdio.h>
#include <string.h>

#include "mock_internal.h"

uint64_t mock__fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* splitmix64: tiny, good enough and the same everywhere. */
static uint64_t next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static const char *const en_words[] = {
    "the",     "model",   "runtime", "stream",   "token",  "request", "answer",  "server",
    "client",  "latency", "buffer",  "event",    "loop",   "socket",  "quick",   "steady",
    "simple",  "careful", "large",   "small",    "remote", "local",   "network", "message",
    "context", "budget",  "cache",   "retry",    "window", "packet",  "header",  "body",
    "is",      "are",     "was",     "can",      "will",   "should",  "returns", "sends",
    "reads",   "writes",  "keeps",   "measures", "a",      "an",      "and",     "or",
    "with",    "without", "before",  "after",    "every",  "each",    "some",    "many",
    "of",      "to",      "in",      "on",       "for",    "from",    "by",      "when",
};

/* Chinese words (1 to 3 characters) and one emoji (U+1F680, 4 bytes). */
static const char *const zh_words[] = {
    "模型",   "运行时", "数据",
    "流式",   "请求",   "回答",
    "服务器", "客户端", "延迟",
    "缓冲",   "事件",   "循环",
    "连接",   "网络",   "消息",
    "上下文", "缓存",   "重试",
    "快速",   "稳定",   "简单",
    "我们",   "你好",   "世界",
    "是",     "的",     "在",
    "和",     "每个",   "一些",
    "发送",   "读取",   "\xF0\x9F\x9A\x80",
};

#define N_EN (sizeof en_words / sizeof en_words[0])
#define N_ZH (sizeof zh_words / sizeof zh_words[0])

void mock__tokens_free(mock_tokens_t *t) {
  llmrt__buf_free(&t->text);
  llmrt__free(t->ends);
  t->ends = NULL;
  t->n = t->cap = 0;
}

static int push_end(mock_tokens_t *t) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 32;
    size_t *e = llmrt__realloc(t->ends, cap * sizeof *e);
    if (!e) return LLMRT_ENOMEM;
    t->ends = e;
    t->cap = cap;
  }
  t->ends[t->n++] = t->text.len;
  return 0;
}

int mock__gen_words(mock_tokens_t *t, uint64_t seed, int n, int lang) {
  uint64_t s = seed;
  int sentence = 0, sentence_len = 0; /* words in this sentence, its planned length */
  for (int i = 0; i < n; i++) {
    int rc = 0;
    if (sentence == 0) sentence_len = 6 + (int)(next(&s) % 8);
    int last_of_sentence = sentence + 1 == sentence_len || i + 1 == n;
    if (lang == 1) {
      rc = llmrt__buf_puts(&t->text, zh_words[next(&s) % N_ZH]);
      if (rc == 0 && last_of_sentence)
        rc = llmrt__buf_puts(&t->text, "\xE3\x80\x82"); /* 。 */
      else if (rc == 0 && sentence == sentence_len / 2)
        rc = llmrt__buf_puts(&t->text, "\xEF\xBC\x8C"); /* ， */
    } else {
      const char *w = en_words[next(&s) % N_EN];
      if (i > 0) rc = llmrt__buf_puts(&t->text, " ");
      if (rc == 0 && sentence == 0) {
        char cap = (char)(w[0] - 'a' + 'A');
        rc = llmrt__buf_append(&t->text, &cap, 1);
        w++;
      }
      if (rc == 0) rc = llmrt__buf_puts(&t->text, w);
      if (rc == 0 && last_of_sentence) rc = llmrt__buf_puts(&t->text, ".");
    }
    if (rc == 0) rc = push_end(t);
    if (rc != 0) return rc;
    sentence = last_of_sentence ? 0 : sentence + 1;
  }
  return 0;
}

static size_t utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1; /* stray byte: pass it through alone */
}

int mock__gen_split(mock_tokens_t *t, const char *text, size_t len) {
  if (llmrt__buf_append(&t->text, text, len) != 0) return LLMRT_ENOMEM;
  const unsigned char *p = (const unsigned char *)t->text.data;
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && (p[j] == ' ' || p[j] == '\n' || p[j] == '\t'))
      j++;
    if (j < len && p[j] >= 0x80) {
      /* Up to two non-ASCII characters per token. */
      for (int k = 0; k < 2 && j < len && p[j] >= 0x80; k++) {
        size_t cl = utf8_len(p[j]);
        j = j + cl > len ? len : j + cl;
      }
    } else {
      while (j < len && p[j] != ' ' && p[j] != '\n' && p[j] != '\t' && p[j] < 0x80)
        j++;
    }
    /* push_end records text.len; record j instead. */
    size_t save = t->text.len;
    t->text.len = j;
    int rc = push_end(t);
    t->text.len = save;
    if (rc != 0) return rc;
    i = j;
  }
  return 0;
}

int mock__gen_tool_args(mock_tokens_t *t, uint64_t seed) {
  static const char *const cities[] = {"Paris", "Tokyo", "Lima", "Oslo", "Nairobi", "Hanoi"};
  uint64_t s = seed;
  char args[160];
  int n = snprintf(args, sizeof args, "{\"location\":\"%s\",\"unit\":\"%s\",\"days\":%d}",
                   cities[next(&s) % 6], next(&s) % 2 ? "celsius" : "fahrenheit",
                   1 + (int)(next(&s) % 7));
  if (llmrt__buf_append(&t->text, args, (size_t)n) != 0) return LLMRT_ENOMEM;
  /* Fragments of 7 bytes, as the real APIs send arguments in small pieces. */
  for (size_t off = 0; off < (size_t)n;) {
    off = off + 7 > (size_t)n ? (size_t)n : off + 7;
    size_t save = t->text.len;
    t->text.len = off;
    int rc = push_end(t);
    t->text.len = save;
    if (rc != 0) return rc;
  }
  return 0;
}

int mock__json_str(llmrt__buf_t *b, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  int rc = llmrt__buf_reserve(b, len + 2);
  if (rc) return rc;
  rc = llmrt__buf_append(b, "\"", 1);
  size_t start = 0;
  for (size_t i = 0; i < len && rc == 0; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char u[7];
    switch (c) {
    case '"':
      esc = "\\\"";
      break;
    case '\\':
      esc = "\\\\";
      break;
    case '\n':
      esc = "\\n";
      break;
    case '\r':
      esc = "\\r";
      break;
    case '\t':
      esc = "\\t";
      break;
    default:
      if (c < 0x20) {
        u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15];
        u[6] = '\0';
        esc = u;
      }
    }
    if (!esc) continue;
    rc = llmrt__buf_append(b, s + start, i - start);
    if (rc == 0) rc = llmrt__buf_puts(b, esc);
    start = i + 1;
  }
  if (rc == 0) rc = llmrt__buf_append(b, s + start, len - start);
  if (rc == 0) rc = llmrt__buf_append(b, "\"", 1);
  return rc;
}
