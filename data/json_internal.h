/* A small JSON reader, private to data/: enough for safetensors headers.
 * Strict RFC 8259 (strings with escapes and UTF-8 checks, numbers, arrays,
 * objects, literals), bounded nesting, duplicate object keys rejected.
 * Every read stays inside the given buffer, whatever its contents. */
#ifndef TG_JSON_INTERNAL_H
#define TG_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_JSON_MAX_DEPTH 64

typedef enum {
  TG_JSON_NULL,
  TG_JSON_BOOL,
  TG_JSON_NUMBER,
  TG_JSON_STRING,
  TG_JSON_ARRAY,
  TG_JSON_OBJECT
} tg_json_type;

typedef struct tg_json {
  tg_json_type type;
  size_t pos;      /* byte offset of the value in the text, for messages */
  bool boolean;    /* BOOL */
  char *str;       /* STRING: decoded, NUL-terminated; NUMBER: its literal text */
  size_t len;      /* length of str (a decoded string may hold NUL bytes) */
  char *key;       /* member of an OBJECT: its decoded key */
  size_t key_len;
  size_t n;              /* ARRAY, OBJECT: number of items */
  struct tg_json *items; /* ARRAY, OBJECT: the items, in document order */
  size_t *sorted;        /* OBJECT: item indices sorted by key (for lookup) */
} tg_json;

/* Limits for input whose shape is known: a safetensors header is three
 * levels deep and its arrays are short, so anything far outside that is
 * rejected before it costs memory (each value takes ~90 bytes of tree). */
typedef struct tg_json_limits {
  int max_depth;        /* containers inside containers; 0 = TG_JSON_MAX_DEPTH */
  size_t max_array_len; /* items in one array; 0 = unlimited */
} tg_json_limits;

/* Parse text[0..len) into *out (lim may be NULL). Returns 0, or -1 with a
 * message naming the byte offset in err. *out needs tg_json_free only after
 * success. */
int tg_json_parse(const char *text, size_t len, const tg_json_limits *lim, tg_json *out,
                  char *err, size_t errlen);
void tg_json_free(tg_json *v);

/* member of an object by key (binary search), or NULL */
const tg_json *tg_json_get(const tg_json *obj, const char *key, size_t key_len);

/* a NUMBER that is a non-negative integer without fraction or exponent and
 * fits in uint64_t; false otherwise */
bool tg_json_u64(const tg_json *v, uint64_t *out);

/* true if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates) */
bool tg_utf8_valid(const char *s, size_t len);

#endif
