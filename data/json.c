/* A strict JSON reader for headers that come from files: anything may be in
 * them, so every read is bounds-checked against the text length, nesting is
 * limited (the parser recurses) and a failure frees what was built so far.
 * Memory is proportional to the text length: each value costs at least one
 * byte of text. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

typedef struct parser {
  const unsigned char *s;
  size_t n, i;
  int depth, max_depth;
  size_t max_array_len;
  char *err;
  size_t errlen;
} parser;

static int fail(parser *p, size_t pos, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(p->err, p->errlen, "at byte %zu: %s", pos, msg);
  return -1;
}

void tg_json_free(tg_json *v) {
  if (!v) return;
  free(v->key);
  free(v->str);
  for (size_t k = 0; k < v->n; k++) tg_json_free(&v->items[k]);
  free(v->items);
  free(v->sorted);
  memset(v, 0, sizeof *v);
}

/* ---------------------------------------------------------------- UTF-8 */

/* length of the well-formed UTF-8 sequence at s (avail bytes left), 0 if
 * it is malformed, overlong, a surrogate or past U+10FFFF */
static size_t utf8_seq(const unsigned char *s, size_t avail) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp, min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1Fu, min = 0x80;
  else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0Fu, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07u, min = 0x10000;
  else return 0;
  if (len > avail) return 0;
  for (size_t k = 1; k < len; k++) {
    if ((s[k] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[k] & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool tg_utf8_valid(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    size_t k = utf8_seq(u + i, len - i);
    if (!k) return false;
    i += k;
  }
  return true;
}

static size_t utf8_put(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* --------------------------------------------------------------- strings */

static int hex4(const unsigned char *s, uint32_t *out) {
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned char c = s[k];
    uint32_t d;
    if (c >= '0' && c <= '9') d = (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') d = (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = (uint32_t)(c - 'A' + 10);
    else return -1;
    v = v << 4 | d;
  }
  *out = v;
  return 0;
}

/* \uXXXX at p->i (the backslash), with its low surrogate if it is a high
 * one; end is the closing quote, which bounds every read */
static int unicode_escape(parser *p, size_t end, uint32_t *cp) {
  size_t at = p->i;
  if (end - at < 6 || hex4(p->s + at + 2, cp) != 0)
    return fail(p, at, "malformed \\u escape in string");
  p->i += 6;
  if (*cp >= 0xDC00 && *cp <= 0xDFFF) return fail(p, at, "lone low surrogate in \\u escape");
  if (*cp < 0xD800 || *cp > 0xDBFF) return 0;
  uint32_t lo;
  if (end - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' ||
      hex4(p->s + p->i + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
    return fail(p, at, "high surrogate in \\u escape without its low surrogate");
  p->i += 6;
  *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
  return 0;
}

static int escape(parser *p, size_t end, char *buf, size_t *k) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  if (end - p->i < 2) return fail(p, p->i, "unfinished escape in string");
  unsigned char c = p->s[p->i + 1];
  if (c == 'u') {
    uint32_t cp = 0;
    if (unicode_escape(p, end, &cp) != 0) return -1;
    *k += utf8_put(buf + *k, cp);
    return 0;
  }
  const char *hit = c ? strchr(from, c) : NULL;
  if (!hit) return fail(p, p->i, "invalid escape '\\%c' in string", c >= 0x20 && c < 0x7f ? c : '?');
  buf[(*k)++] = to[hit - from];
  p->i += 2;
  return 0;
}

/* the string starting at the quote p->s[p->i]; decoded output is never
 * longer than the source text, which sizes the buffer */
static int parse_string(parser *p, char **out, size_t *outlen) {
  size_t open = p->i, end = open + 1;
  while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
  if (end >= p->n) return fail(p, open, "unterminated string");
  char *buf = malloc(end - open);
  if (!buf) return fail(p, open, "out of memory");
  size_t k = 0;
  p->i = open + 1;
  while (p->i < end) {
    unsigned char c = p->s[p->i];
    size_t len;
    if (c == '\\') {
      if (escape(p, end, buf, &k) != 0) goto bad;
      continue;
    }
    if (c < 0x20) {
      fail(p, p->i, "control character 0x%02x in string", c);
      goto bad;
    }
    if (!(len = utf8_seq(p->s + p->i, end - p->i))) {
      fail(p, p->i, "invalid UTF-8 in string");
      goto bad;
    }
    memcpy(buf + k, p->s + p->i, len);
    k += len;
    p->i += len;
  }
  buf[k] = '\0';
  p->i = end + 1;
  *out = buf;
  *outlen = k;
  return 0;
bad:
  free(buf);
  return -1;
}

/* --------------------------------------------------------------- scalars */

static bool is_digit(parser *p) { return p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9'; }

static void digits(parser *p) {
  while (is_digit(p)) p->i++;
}

/* RFC 8259 number grammar; the value keeps its literal text */
static int parse_number(parser *p, tg_json *v) {
  size_t start = p->i;
  if (p->s[p->i] == '-') p->i++;
  if (!is_digit(p)) return fail(p, start, "invalid number");
  if (p->s[p->i] == '0') p->i++;
  else digits(p);
  if (p->i < p->n && p->s[p->i] == '.') {
    p->i++;
    if (!is_digit(p)) return fail(p, start, "invalid number: no digit after '.'");
    digits(p);
  }
  if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
    p->i++;
    if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
    if (!is_digit(p)) return fail(p, start, "invalid number: no digit in exponent");
    digits(p);
  }
  v->type = TG_JSON_NUMBER;
  v->len = p->i - start;
  if (!(v->str = malloc(v->len + 1))) return fail(p, start, "out of memory");
  memcpy(v->str, p->s + start, v->len);
  v->str[v->len] = '\0';
  return 0;
}

static int parse_literal(parser *p, tg_json *v) {
  static const struct { const char *word; tg_json_type type; bool b; } lits[] = {
      {"true", TG_JSON_BOOL, true}, {"false", TG_JSON_BOOL, false}, {"null", TG_JSON_NULL, false}};
  for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
    size_t len = strlen(lits[k].word);
    if (p->n - p->i >= len && memcmp(p->s + p->i, lits[k].word, len) == 0) {
      v->type = lits[k].type;
      v->boolean = lits[k].b;
      p->i += len;
      return 0;
    }
  }
  unsigned char c = p->s[p->i];
  return fail(p, p->i, "unexpected character '%c' (0x%02x)", c >= 0x20 && c < 0x7f ? c : '?', c);
}

/* ------------------------------------------------------------ containers */

static void skip_ws(parser *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                         p->s[p->i] == '\r'))
    p->i++;
}

static int parse_value(parser *p, tg_json *v);

/* a fresh zeroed slot at the end of v->items (not yet counted in v->n) */
static tg_json *next_slot(parser *p, tg_json *v, size_t *cap) {
  if (v->n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 4;
    tg_json *grown = ncap < SIZE_MAX / sizeof *grown ? realloc(v->items, ncap * sizeof *grown) : NULL;
    if (!grown) {
      fail(p, p->i, "out of memory");
      return NULL;
    }
    v->items = grown;
    *cap = ncap;
  }
  memset(&v->items[v->n], 0, sizeof v->items[v->n]);
  return &v->items[v->n];
}

/* after an item: ',' (more follow, returns 1) or the closing bracket (0) */
static int separator(parser *p, char close) {
  skip_ws(p);
  if (p->i < p->n && p->s[p->i] == ',') {
    p->i++;
    return 1;
  }
  if (p->i < p->n && p->s[p->i] == close) {
    p->i++;
    return 0;
  }
  return fail(p, p->i, "expected ',' or '%c'", close);
}

/* true if the container opened at p->i is empty (and consumes its close) */
static bool open_container(parser *p, char close) {
  p->i++;
  skip_ws(p);
  if (p->i < p->n && p->s[p->i] == close) {
    p->i++;
    return true;
  }
  return false;
}

static int parse_array(parser *p, tg_json *v) {
  size_t cap = 0;
  int more = 1;
  v->type = TG_JSON_ARRAY;
  if (open_container(p, ']')) return 0;
  while (more == 1) {
    if (p->max_array_len && v->n == p->max_array_len)
      return fail(p, p->i, "array longer than %zu items", p->max_array_len);
    tg_json *item = next_slot(p, v, &cap);
    if (!item || parse_value(p, item) != 0) {
      tg_json_free(item); /* the slot is not counted in v->n yet */
      return -1;
    }
    v->n++;
    more = separator(p, ']');
  }
  return more;
}

static int member(parser *p, tg_json *v, size_t *cap) {
  skip_ws(p);
  if (p->i >= p->n || p->s[p->i] != '"') return fail(p, p->i, "expected a string key");
  char *key;
  size_t key_len;
  if (parse_string(p, &key, &key_len) != 0) return -1;
  skip_ws(p);
  if (p->i >= p->n || p->s[p->i] != ':') {
    free(key);
    return fail(p, p->i, "expected ':' after key");
  }
  p->i++;
  tg_json *item = next_slot(p, v, cap);
  if (!item || parse_value(p, item) != 0) {
    tg_json_free(item); /* the slot is not counted in v->n yet */
    free(key);
    return -1;
  }
  item->key = key;
  item->key_len = key_len;
  v->n++;
  return 0;
}

static int key_cmp(const tg_json *a, const tg_json *b) {
  size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  int c = memcmp(a->key, b->key, n);
  if (c) return c;
  return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static int key_ptr_cmp(const void *a, const void *b) {
  return key_cmp(*(const tg_json *const *)a, *(const tg_json *const *)b);
}

/* index the keys in sorted order: lookups by binary search, and duplicates
 * are found as neighbours in O(n log n) even for huge headers */
static int index_keys(parser *p, tg_json *v) {
  if (v->n == 0) return 0;
  const tg_json **byk = malloc(v->n * sizeof *byk);
  v->sorted = malloc(v->n * sizeof *v->sorted);
  if (!byk || !v->sorted) {
    free(byk);
    return fail(p, v->pos, "out of memory");
  }
  for (size_t k = 0; k < v->n; k++) byk[k] = &v->items[k];
  qsort(byk, v->n, sizeof *byk, key_ptr_cmp);
  int rc = 0;
  for (size_t k = 0; k < v->n; k++) {
    v->sorted[k] = (size_t)(byk[k] - v->items);
    if (k > 0 && rc == 0 && key_cmp(byk[k - 1], byk[k]) == 0)
      rc = fail(p, byk[k]->pos, "duplicate key \"%.60s\"", byk[k]->key);
  }
  free(byk);
  return rc;
}

static int parse_object(parser *p, tg_json *v) {
  size_t cap = 0;
  int more = 1;
  v->type = TG_JSON_OBJECT;
  if (open_container(p, '}')) return 0;
  while (more == 1) {
    if (member(p, v, &cap) != 0) return -1;
    more = separator(p, '}');
  }
  return more == 0 ? index_keys(p, v) : -1;
}

static int parse_value(parser *p, tg_json *v) {
  skip_ws(p);
  if (p->i >= p->n) return fail(p, p->i, "unexpected end of text, expected a value");
  v->pos = p->i;
  unsigned char c = p->s[p->i];
  if (c == '"') {
    v->type = TG_JSON_STRING;
    return parse_string(p, &v->str, &v->len);
  }
  if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
  if (c != '[' && c != '{') return parse_literal(p, v);
  if (p->depth >= p->max_depth) return fail(p, p->i, "nesting deeper than %d levels", p->max_depth);
  p->depth++;
  int rc = c == '[' ? parse_array(p, v) : parse_object(p, v);
  p->depth--;
  return rc;
}

int tg_json_parse(const char *text, size_t len, const tg_json_limits *lim, tg_json *out,
                  char *err, size_t errlen) {
  parser p = {.s = (const unsigned char *)text, .n = len, .err = err, .errlen = errlen};
  p.max_depth = lim && lim->max_depth > 0 && lim->max_depth < TG_JSON_MAX_DEPTH ? lim->max_depth
                                                                              : TG_JSON_MAX_DEPTH;
  p.max_array_len = lim ? lim->max_array_len : 0;
  memset(out, 0, sizeof *out);
  if (errlen) err[0] = '\0';
  int rc = parse_value(&p, out);
  if (rc == 0) {
    skip_ws(&p);
    if (p.i != p.n) rc = fail(&p, p.i, "unexpected text after the JSON value");
  }
  if (rc != 0) tg_json_free(out);
  return rc;
}

/* ---------------------------------------------------------------- access */

const tg_json *tg_json_get(const tg_json *obj, const char *key, size_t key_len) {
  if (!obj || obj->type != TG_JSON_OBJECT || !obj->sorted) return NULL;
  tg_json probe = {.key = (char *)key, .key_len = key_len};
  size_t lo = 0, hi = obj->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const tg_json *m = &obj->items[obj->sorted[mid]];
    int c = key_cmp(m, &probe);
    if (c == 0) return m;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

bool tg_json_u64(const tg_json *v, uint64_t *out) {
  if (!v || v->type != TG_JSON_NUMBER || v->len == 0) return false;
  uint64_t x = 0;
  for (size_t k = 0; k < v->len; k++) {
    unsigned char c = (unsigned char)v->str[k];
    if (c < '0' || c > '9') return false;
    if (x > (UINT64_MAX - (c - '0')) / 10) return false;
    x = x * 10 + (c - '0');
  }
  *out = x;
  return true;
}
