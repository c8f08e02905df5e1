/* Checkpoints in the safetensors format, so that safetensors.torch.load_file
 * reads a tapegrad model and tapegrad reads PyTorch's files:
 *
 *   [8 bytes: N, little-endian][N bytes: JSON header][data section]
 *
 * The header maps each name to {"dtype", "shape", "data_offsets": [begin,
 * end]} (relative to the data section) plus an optional "__metadata__"
 * object of strings. tapegrad adds an XXH3-64 checksum per tensor there, so
 * a damaged file is an error that names the tensor, never wrong weights.
 *
 * A file is untrusted input: the reader checks the header length against
 * the file size and every offset, size and shape (overflow-checked) before
 * it allocates anything for the data, and it requires the tensors to cover
 * the data section exactly, as the reference implementation does. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "atomic_internal.h"
#include "tg_data.h"
#include "tg_internal.h"
#include "json_internal.h"

/* the reference implementation's limit; a longer header is damage */
#define MAX_HEADER ((uint64_t)100 * 1000 * 1000)
#define SUM_PREFIX "tapegrad.xxh3."
#define SUM_PREFIX_LEN (sizeof SUM_PREFIX - 1)

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BIG_ENDIAN 1
#else
#define HOST_BIG_ENDIAN 0
#endif

static const struct {
  tg_dtype dt;
  const char *name;
} DTYPES[] = {{TG_FLOAT32, "F32"}, {TG_FLOAT64, "F64"}, {TG_INT64, "I64"}, {TG_BOOL, "BOOL"}};

static const char *st_dtype_name(tg_dtype dt) {
  for (size_t k = 0; k < sizeof DTYPES / sizeof DTYPES[0]; k++)
    if (DTYPES[k].dt == dt) return DTYPES[k].name;
  return "?";
}

/* the file stores little-endian; on a big-endian host swap in place */
static void swap_elements(void *data, size_t nbytes, size_t es) {
  unsigned char *p = data;
  for (size_t at = 0; at + es <= nbytes; at += es)
    for (size_t k = 0; k < es / 2; k++) {
      unsigned char t = p[at + k];
      p[at + k] = p[at + es - 1 - k];
      p[at + es - 1 - k] = t;
    }
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* ============================================================ writing */

/* a growing text buffer; oom sticks so appends can be checked once */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof tmp, "%" PRIu64, v);
  sb_str(b, tmp);
}

/* s escaped for the inside of a JSON string; s is valid UTF-8 (checked by
 * the caller), which JSON carries as it is */
static void sb_json_chars(sbuf *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c;
      sb_put(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      sb_str(b, esc);
    } else {
      sb_put(b, s, 1);
    }
  }
}

/* "prefix+s" as one JSON string literal */
static void sb_json_string(sbuf *b, const char *prefix, const char *s) {
  sb_put(b, "\"", 1);
  sb_json_chars(b, prefix);
  sb_json_chars(b, s);
  sb_put(b, "\"", 1);
}

typedef struct save_item {
  const char *name;
  const tg_tensor *t;
  tg_tensor *copy;   /* contiguous little-endian copy, when t is not one already */
  const void *bytes; /* what goes into the file */
  size_t nbytes;
  uint64_t sum;
} save_item;

static int check_text(const char *op, const char *what, int i, const char *s, bool nonempty) {
  if (!s) tg_error("%s: %s %d is NULL", op, what, i);
  else if (nonempty && !*s) tg_error("%s: %s %d is empty", op, what, i);
  else if (!tg_utf8_valid(s, strlen(s))) tg_error("%s: %s %d is not valid UTF-8", op, what, i);
  else return 0;
  return -1;
}

static int str_ptr_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* -1 (with an error naming `what`) if two of the n strings are equal */
static int check_unique(const char *op, const char *what, const char **s, size_t n) {
  if (n < 2) return 0;
  const char **sorted = malloc(n * sizeof *sorted);
  if (!sorted) {
    tg_error("%s: out of memory", op);
    return -1;
  }
  memcpy(sorted, s, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, str_ptr_cmp);
  int rc = 0;
  for (size_t k = 1; k < n && rc == 0; k++)
    if (strcmp(sorted[k - 1], sorted[k]) == 0) {
      tg_error("%s: %s '%s' appears twice", op, what, sorted[k]);
      rc = -1;
    }
  free(sorted);
  return rc;
}

static int check_save_args(const char *op, int n, const char **names, tg_tensor **tensors,
                           const tg_kv *meta, int n_meta) {
  if (n < 0 || n_meta < 0 || (n > 0 && (!names || !tensors)) || (n_meta > 0 && !meta)) {
    tg_error("%s: bad arguments (n = %d, n_meta = %d, or a NULL array)", op, n, n_meta);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    if (check_text(op, "name", i, names[i], true) != 0 || !tg_tensor_check(tensors[i], op, i))
      return -1;
    if (strcmp(names[i], "__metadata__") == 0) {
      tg_error("%s: a tensor cannot be called '__metadata__' (the header reserves it)", op);
      return -1;
    }
  }
  for (int i = 0; i < n_meta; i++) {
    if (check_text(op, "metadata key", i, meta[i].key, true) != 0 ||
        check_text(op, "metadata value", i, meta[i].value, false) != 0)
      return -1;
    if (strncmp(meta[i].key, SUM_PREFIX, SUM_PREFIX_LEN) == 0) {
      tg_error("%s: metadata key '%s': the prefix '" SUM_PREFIX "' is reserved for checksums",
               op, meta[i].key);
      return -1;
    }
  }
  return check_unique(op, "tensor name", names, (size_t)n);
}

static int check_meta_unique(const char *op, const tg_kv *meta, int n_meta) {
  if (n_meta == 0) return 0;
  const char **keys = malloc((size_t)n_meta * sizeof *keys);
  if (!keys) {
    tg_error("%s: out of memory", op);
    return -1;
  }
  for (int i = 0; i < n_meta; i++) keys[i] = meta[i].key;
  int rc = check_unique(op, "metadata key", keys, (size_t)n_meta);
  free(keys);
  return rc;
}

/* point the item at little-endian contiguous bytes and checksum them */
static int prepare_item(save_item *it) {
  const tg_tensor *t = it->t;
  size_t es = tg_elem_bytes(t->dtype);
  if (!tg_is_contiguous(t) || HOST_BIG_ENDIAN) {
    it->copy = tg_tensor_alloc_in(0, t->dtype, t->ndim, t->shape);
    if (!it->copy || tg_copy_(it->copy, t) != 0) return -1;
    if (HOST_BIG_ENDIAN) swap_elements(tg_ptr(it->copy), t->numel * es, es);
  }
  it->bytes = tg_ptr(it->copy ? it->copy : t);
  it->nbytes = t->numel * es;
  it->sum = XXH3_64bits(it->bytes, it->nbytes);
  return 0;
}

static void free_items(save_item *items, int n) {
  for (int i = 0; items && i < n; i++)
    if (items[i].copy) tg_tensor_destroy(items[i].copy);
  free(items);
}

static void header_metadata(sbuf *b, const save_item *items, int n, const tg_kv *meta,
                            int n_meta) {
  sb_str(b, "\"__metadata__\":{");
  for (int i = 0; i < n_meta; i++) {
    if (i) sb_put(b, ",", 1);
    sb_json_string(b, "", meta[i].key);
    sb_put(b, ":", 1);
    sb_json_string(b, "", meta[i].value);
  }
  for (int i = 0; i < n; i++) {
    char hex[20];
    snprintf(hex, sizeof hex, "%016" PRIx64, items[i].sum);
    if (i || n_meta) sb_put(b, ",", 1);
    sb_json_string(b, SUM_PREFIX, items[i].name);
    sb_put(b, ":", 1);
    sb_json_string(b, "", hex);
  }
  sb_put(b, "}", 1);
}

static void header_tensor(sbuf *b, const save_item *it, uint64_t begin) {
  const tg_tensor *t = it->t;
  sb_json_string(b, "", it->name);
  sb_str(b, ":{\"dtype\":\"");
  sb_str(b, st_dtype_name(t->dtype));
  sb_str(b, "\",\"shape\":[");
  for (int d = 0; d < t->ndim; d++) {
    if (d) sb_put(b, ",", 1);
    sb_u64(b, t->shape[d]);
  }
  sb_str(b, "],\"data_offsets\":[");
  sb_u64(b, begin);
  sb_put(b, ",", 1);
  sb_u64(b, begin + it->nbytes);
  sb_str(b, "]}");
}

/* the JSON header in data order, padded with spaces to a multiple of 8 as
 * the reference writer does (keeps the data section 8-byte aligned) */
static int build_header(const char *op, sbuf *b, const save_item *items, int n,
                        const tg_kv *meta, int n_meta) {
  uint64_t offset = 0;
  sb_put(b, "{", 1);
  if (n > 0 || n_meta > 0) header_metadata(b, items, n, meta, n_meta);
  for (int i = 0; i < n; i++) {
    sb_put(b, ",", 1);
    header_tensor(b, &items[i], offset);
    offset += items[i].nbytes;
  }
  sb_put(b, "}", 1);
  while (!b->oom && b->len % 8) sb_put(b, " ", 1);
  if (b->oom) tg_error("%s: out of memory building the header", op);
  else if (b->len > MAX_HEADER) /* readers, this one included, would refuse it */
    tg_error("%s: the header would be %zu bytes, over the format's 100 MB limit", op, b->len);
  return b->oom || b->len > MAX_HEADER ? -1 : 0;
}

static int write_file(const char *op, const char *path, const sbuf *header,
                      const save_item *items, int n) {
  unsigned char prefix[8];
  for (int k = 0; k < 8; k++) prefix[k] = (unsigned char)((uint64_t)header->len >> (8 * k));
  tg_atomic_file a;
  if (tg_atomic_open(&a, op, path) != 0 || tg_atomic_write(&a, op, prefix, 8) != 0 ||
      tg_atomic_write(&a, op, header->p, header->len) != 0)
    return -1;
  for (int i = 0; i < n; i++)
    if (tg_atomic_write(&a, op, items[i].bytes, items[i].nbytes) != 0) return -1;
  return tg_atomic_commit(&a, op);
}

int tg_save_safetensors(const char *path, int n, const char **names, tg_tensor **tensors,
                        const tg_kv *metadata, int n_meta) {
  const char *op = "save_safetensors";
  if (!path || !*path) {
    tg_error("%s: path is NULL or empty", op);
    return -1;
  }
  if (check_save_args(op, n, names, tensors, metadata, n_meta) != 0 ||
      check_meta_unique(op, metadata, n_meta) != 0)
    return -1;
  save_item *items = calloc(n > 0 ? (size_t)n : 1, sizeof *items);
  sbuf header = {0};
  int rc = items ? 0 : -1;
  if (!items) tg_error("%s: out of memory", op);
  for (int i = 0; rc == 0 && i < n; i++) {
    items[i].name = names[i];
    items[i].t = tensors[i];
    rc = prepare_item(&items[i]);
  }
  if (rc == 0) rc = build_header(op, &header, items, n, metadata, n_meta);
  if (rc == 0) rc = write_file(op, path, &header, items, n);
  free(header.p);
  free_items(items, n);
  return rc;
}

/* ============================================================ reading */

/* one header entry; entries[k] belongs to root.items[k] */
typedef struct entry {
  const char *name; /* the JSON key */
  bool is_meta;     /* the "__metadata__" member */
  tg_dtype dtype;
  int ndim;
  size_t shape[TG_MAX_DIMS];
  uint64_t begin, end;
  bool has_sum;
  uint64_t sum;
} entry;

typedef struct reader {
  const char *path;
  FILE *f;
  uint64_t file_size, header_len, data_size;
  char *text;
  tg_json root;
  const tg_json *meta; /* "__metadata__" or NULL */
  entry *e;            /* root.n entries */
  size_t n_tensors;
  bool has_sums;
} reader;

struct tg_checkpoint {
  size_t n;
  char **names;
  tg_tensor **tensors;
  size_t n_meta;
  char **meta_keys, **meta_values;
  bool verified;
};

#define LOAD_OP "load_safetensors"

/* every reader error starts with the file's name */
static int rfail(const reader *r, const char *fmt, ...) TG_PRINTF(2, 3);
static int rfail(const reader *r, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tg_error(LOAD_OP ": '%s': %s", r->path, msg);
  return -1;
}

static void reader_close(reader *r) {
  if (r->f) fclose(r->f);
  free(r->text);
  tg_json_free(&r->root);
  free(r->e);
  r->f = NULL;
  r->text = NULL;
  r->e = NULL;
}

static int open_file(reader *r) {
  struct stat st;
  if (!(r->f = fopen(r->path, "rb"))) return rfail(r, "cannot open: %s", strerror(errno));
  if (fstat(fileno(r->f), &st) != 0) return rfail(r, "cannot stat: %s", strerror(errno));
  if (!S_ISREG(st.st_mode)) return rfail(r, "not a regular file");
  r->file_size = (uint64_t)st.st_size;
  return 0;
}

/* the 8-byte header length, checked against the file before any malloc */
static int read_prefix(reader *r) {
  unsigned char b[8];
  if (r->file_size < 8)
    return rfail(r, "the file is %" PRIu64 " bytes, too short for the 8-byte header length "
                    "(truncated, or not a safetensors file)", r->file_size);
  if (fread(b, 1, 8, r->f) != 8) return rfail(r, "cannot read the header length");
  r->header_len = 0;
  for (int k = 7; k >= 0; k--) r->header_len = r->header_len << 8 | b[k];
  if (r->header_len > MAX_HEADER)
    return rfail(r, "header length %" PRIu64 " exceeds the 100 MB limit "
                    "(corrupted, or not a safetensors file)", r->header_len);
  if (r->header_len > r->file_size - 8)
    return rfail(r, "header length %" PRIu64 " exceeds the %" PRIu64
                    " bytes after it (truncated or corrupted)", r->header_len, r->file_size - 8);
  if (r->header_len < 2) return rfail(r, "header length %" PRIu64 " is too short for a JSON object", r->header_len);
  r->data_size = r->file_size - 8 - r->header_len;
  return 0;
}

static int read_header(reader *r) {
  char err[240];
  if (!(r->text = malloc((size_t)r->header_len)))
    return rfail(r, "out of memory for a %" PRIu64 "-byte header", r->header_len);
  if (fread(r->text, 1, (size_t)r->header_len, r->f) != r->header_len)
    return rfail(r, "the header ends early (file changed while reading?)");
  /* three levels and short arrays are all a header has; the slack is for
   * fields of other writers that are ignored */
  const tg_json_limits lim = {.max_depth = 8, .max_array_len = 64};
  if (tg_json_parse(r->text, (size_t)r->header_len, &lim, &r->root, err, sizeof err) != 0)
    return rfail(r, "header is not valid JSON: %s", err);
  if (r->root.type != TG_JSON_OBJECT) return rfail(r, "header is not a JSON object");
  return 0;
}

static const tg_json *field(const tg_json *obj, const char *key) {
  return tg_json_get(obj, key, strlen(key));
}

static int entry_dtype(reader *r, entry *e, const tg_json *v) {
  const tg_json *d = field(v, "dtype");
  if (!d || d->type != TG_JSON_STRING)
    return rfail(r, "header: tensor '%.80s': \"dtype\" is missing or not a string", e->name);
  for (size_t k = 0; k < sizeof DTYPES / sizeof DTYPES[0]; k++)
    if (strcmp(d->str, DTYPES[k].name) == 0 && strlen(d->str) == d->len) {
      e->dtype = DTYPES[k].dt;
      return 0;
    }
  return rfail(r, "header: tensor '%.80s': unsupported dtype \"%.20s\" (tapegrad reads F32, F64, I64 and BOOL)",
               e->name, d->str);
}

/* the shape, and the bytes it needs (overflow-checked) */
static int entry_shape(reader *r, entry *e, const tg_json *v, uint64_t *nbytes) {
  const tg_json *s = field(v, "shape");
  if (!s || s->type != TG_JSON_ARRAY)
    return rfail(r, "header: tensor '%.80s': \"shape\" is missing or not an array", e->name);
  if (s->n > TG_MAX_DIMS)
    return rfail(r, "header: tensor '%.80s': shape has %zu dims; tapegrad supports at most %d",
                 e->name, s->n, TG_MAX_DIMS);
  e->ndim = (int)s->n;
  size_t numel = 1;
  bool zero = false, overflow = false;
  for (int d = 0; d < e->ndim; d++) {
    uint64_t x;
    if (!tg_json_u64(&s->items[d], &x) || x > SIZE_MAX)
      return rfail(r, "header: tensor '%.80s': shape[%d] is not a non-negative integer of at most %zu",
                   e->name, d, (size_t)SIZE_MAX);
    e->shape[d] = (size_t)x;
    if (x == 0) zero = true;
    else if (numel > SIZE_MAX / x) overflow = true;
    else numel *= (size_t)x;
  }
  size_t es = tg_elem_bytes(e->dtype);
  if (zero) numel = 0;
  if (overflow || numel > SIZE_MAX / es)
    return rfail(r, "header: tensor '%.80s': the shape's byte size overflows", e->name);
  *nbytes = (uint64_t)numel * es;
  return 0;
}

static int entry_offsets(reader *r, entry *e, const tg_json *v, uint64_t nbytes) {
  const tg_json *o = field(v, "data_offsets");
  char dims[160];
  if (!o || o->type != TG_JSON_ARRAY || o->n != 2 || !tg_json_u64(&o->items[0], &e->begin) ||
      !tg_json_u64(&o->items[1], &e->end))
    return rfail(r, "header: tensor '%.80s': \"data_offsets\" must be [begin, end], two "
                    "non-negative integers", e->name);
  if (e->begin > e->end)
    return rfail(r, "header: tensor '%.80s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin",
                 e->name, e->begin, e->end);
  if (e->end > r->data_size)
    return rfail(r, "header: tensor '%.80s': data_offsets [%" PRIu64 ", %" PRIu64 "] run past the end of "
                    "the %" PRIu64 "-byte data section (truncated or corrupted)",
                 e->name, e->begin, e->end, r->data_size);
  if (e->end - e->begin != nbytes)
    return rfail(r, "header: tensor '%.80s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                    " bytes but %s %s needs %" PRIu64, e->name, e->begin, e->end, e->end - e->begin,
                 st_dtype_name(e->dtype), tg_dims_str(e->ndim, e->shape, dims, sizeof dims), nbytes);
  return 0;
}

static int parse_entry(reader *r, entry *e, const tg_json *item) {
  uint64_t nbytes = 0;
  if (strlen(item->key) != item->key_len)
    return rfail(r, "header: a tensor name contains a NUL character");
  if (item->type != TG_JSON_OBJECT)
    return rfail(r, "header: tensor '%.80s' is not described by a JSON object", e->name);
  if (entry_dtype(r, e, item) != 0 || entry_shape(r, e, item, &nbytes) != 0) return -1;
  return entry_offsets(r, e, item, nbytes);
}

static int parse_entries(reader *r) {
  if (!(r->e = calloc(r->root.n ? r->root.n : 1, sizeof *r->e))) return rfail(r, "out of memory");
  for (size_t k = 0; k < r->root.n; k++) {
    const tg_json *item = &r->root.items[k];
    entry *e = &r->e[k];
    e->name = item->key;
    if (item->key_len == 12 && memcmp(item->key, "__metadata__", 12) == 0) {
      e->is_meta = true;
      r->meta = item;
      continue;
    }
    if (parse_entry(r, e, item) != 0) return -1;
    r->n_tensors++;
  }
  return 0;
}

/* exactly 16 lowercase hex digits, as written by tg_save_safetensors */
static bool parse_hex16(const char *s, size_t len, uint64_t *out) {
  uint64_t v = 0;
  if (len != 16) return false;
  for (size_t k = 0; k < 16; k++) {
    char c = s[k];
    if (c >= '0' && c <= '9') v = v << 4 | (uint64_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v = v << 4 | (uint64_t)(c - 'a' + 10);
    else return false;
  }
  *out = v;
  return true;
}

static int parse_checksum(reader *r, const tg_json *m) {
  const tg_json *t = tg_json_get(&r->root, m->key + SUM_PREFIX_LEN, m->key_len - SUM_PREFIX_LEN);
  entry *e = t ? &r->e[t - r->root.items] : NULL;
  if (!e || e->is_meta)
    return rfail(r, "header: __metadata__ has checksum '%.80s' for a tensor the file does not hold "
                    "(corrupted header)", m->key);
  if (!parse_hex16(m->str, m->len, &e->sum))
    return rfail(r, "header: the checksum of tensor '%.80s' is \"%.40s\", not 16 lowercase hex digits",
                 e->name, m->str);
  e->has_sum = r->has_sums = true;
  return 0;
}

/* metadata must be strings (as in the reference format); tapegrad's
 * checksums, if any, must cover every tensor */
static int parse_metadata(reader *r) {
  if (!r->meta) return 0;
  if (r->meta->type != TG_JSON_OBJECT) return rfail(r, "header: \"__metadata__\" is not an object");
  for (size_t k = 0; k < r->meta->n; k++) {
    const tg_json *m = &r->meta->items[k];
    if (m->type != TG_JSON_STRING)
      return rfail(r, "header: __metadata__ entry '%.80s' is not a string", m->key);
    if (strlen(m->key) != m->key_len || strlen(m->str) != m->len)
      return rfail(r, "header: __metadata__ entry '%.80s' contains a NUL character", m->key);
    if (m->key_len >= SUM_PREFIX_LEN && memcmp(m->key, SUM_PREFIX, SUM_PREFIX_LEN) == 0 &&
        parse_checksum(r, m) != 0)
      return -1;
  }
  for (size_t k = 0; r->has_sums && k < r->root.n; k++)
    if (!r->e[k].is_meta && !r->e[k].has_sum)
      return rfail(r, "header: tensor '%.80s' has no checksum although the file carries tapegrad "
                      "checksums (corrupted header)", r->e[k].name);
  return 0;
}

static int entry_cmp(const void *a, const void *b) {
  const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return (x->end > y->end) - (x->end < y->end);
}

/* the tensors, ordered by offset, must tile the data section exactly: no
 * overlap (two tensors sharing bytes), no gap, nothing after the last */
static int check_layout(reader *r, entry ***order_out) {
  entry **order = malloc((r->n_tensors ? r->n_tensors : 1) * sizeof *order);
  if (!order) return rfail(r, "out of memory");
  size_t m = 0;
  for (size_t k = 0; k < r->root.n; k++)
    if (!r->e[k].is_meta) order[m++] = &r->e[k];
  qsort(order, m, sizeof *order, entry_cmp);
  *order_out = order;
  uint64_t at = 0;
  for (size_t k = 0; k < m; k++) {
    const entry *e = order[k];
    if (e->begin < at)
      return rfail(r, "header: tensor '%.80s' data_offsets [%" PRIu64 ", %" PRIu64 "] overlap those of "
                      "tensor '%.80s' (which end at %" PRIu64 ")", e->name, e->begin, e->end,
                   order[k - 1]->name, at);
    if (e->begin > at)
      return rfail(r, "header: data bytes [%" PRIu64 ", %" PRIu64 ") belong to no tensor (the next is "
                      "'%.80s')", at, e->begin, e->name);
    at = e->end;
  }
  if (at != r->data_size)
    return rfail(r, "header: the tensors cover %" PRIu64 " bytes but the data section holds %" PRIu64
                    " (trailing bytes, or a corrupted header)", at, r->data_size);
  return 0;
}

/* ---------------------------------------------------- the checkpoint */

typedef struct name_idx {
  const char *name;
  size_t idx;
} name_idx;

/* appended after the public struct: the names sorted, for lookups */
typedef struct ck_full {
  tg_checkpoint pub;
  name_idx *by_name;
} ck_full;

static int name_idx_cmp(const void *a, const void *b) {
  return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

void tg_checkpoint_free(tg_checkpoint *ck) {
  if (!ck) return;
  for (size_t i = 0; i < ck->n; i++) {
    if (ck->tensors && ck->tensors[i]) tg_free(ck->tensors[i]);
    if (ck->names) free(ck->names[i]);
  }
  for (size_t i = 0; i < ck->n_meta; i++) {
    if (ck->meta_keys) free(ck->meta_keys[i]);
    if (ck->meta_values) free(ck->meta_values[i]);
  }
  free(ck->names);
  free(ck->tensors);
  free(ck->meta_keys);
  free(ck->meta_values);
  free(((ck_full *)ck)->by_name);
  free(ck);
}

static int copy_meta(tg_checkpoint *ck, const tg_json *meta) {
  ck->n_meta = meta ? meta->n : 0;
  size_t cnt = ck->n_meta ? ck->n_meta : 1;
  ck->meta_keys = calloc(cnt, sizeof *ck->meta_keys);
  ck->meta_values = calloc(cnt, sizeof *ck->meta_values);
  if (!ck->meta_keys || !ck->meta_values) return -1;
  for (size_t k = 0; k < ck->n_meta; k++)
    if (!(ck->meta_keys[k] = dup_str(meta->items[k].key)) ||
        !(ck->meta_values[k] = dup_str(meta->items[k].str)))
      return -1;
  return 0;
}

/* the checkpoint's names and metadata; entry k gets its slot in order */
static tg_checkpoint *ck_new(reader *r, size_t *slot_of_entry) {
  ck_full *full = calloc(1, sizeof *full);
  if (!full) {
    rfail(r, "out of memory");
    return NULL;
  }
  tg_checkpoint *ck = &full->pub;
  size_t cnt = r->n_tensors ? r->n_tensors : 1;
  bool ok = (ck->names = calloc(cnt, sizeof *ck->names)) &&
            (ck->tensors = calloc(cnt, sizeof *ck->tensors)) &&
            (full->by_name = calloc(cnt, sizeof *full->by_name));
  if (ok) ck->n = r->n_tensors;
  for (size_t k = 0, i = 0; ok && k < r->root.n; k++) {
    if (r->e[k].is_meta) continue;
    slot_of_entry[k] = i;
    ok = (ck->names[i] = dup_str(r->e[k].name)) != NULL;
    full->by_name[i] = (name_idx){ck->names[i], i};
    i++;
  }
  if (ok) ok = copy_meta(ck, r->meta) == 0;
  if (!ok) {
    tg_checkpoint_free(ck);
    rfail(r, "out of memory");
    return NULL;
  }
  qsort(full->by_name, ck->n, sizeof *full->by_name, name_idx_cmp);
  ck->verified = r->has_sums;
  return ck;
}

static int load_tensor(reader *r, const entry *e, tg_tensor **out) {
  size_t nbytes = (size_t)(e->end - e->begin);
  tg_tensor *t = tg_tensor_alloc_in(0, e->dtype, e->ndim, e->shape);
  if (!t) return rfail(r, "tensor '%.80s': cannot allocate %zu bytes", e->name, nbytes);
  if (nbytes && fread(tg_ptr(t), 1, nbytes, r->f) != nbytes) {
    tg_tensor_destroy(t);
    return rfail(r, "tensor '%.80s': the file ends inside its data (changed while reading?)", e->name);
  }
  uint64_t sum = e->has_sum ? XXH3_64bits(tg_ptr(t), nbytes) : 0;
  if (sum != e->sum) {
    tg_tensor_destroy(t);
    return rfail(r, "tensor '%.80s': checksum mismatch: the header records XXH3 %016" PRIx64
                    " but its %zu bytes at data offset %" PRIu64 " hash to %016" PRIx64
                    ": the file is corrupted", e->name, e->sum, nbytes, e->begin, sum);
  }
  if (HOST_BIG_ENDIAN) swap_elements(tg_ptr(t), nbytes, tg_elem_bytes(e->dtype));
  /* bool kernels read a byte as 0 or 1; any other nonzero byte is true */
  if (e->dtype == TG_BOOL)
    for (uint8_t *p = (uint8_t *)tg_ptr(t), *end = p + t->numel; p < end; p++) *p = *p != 0;
  *out = t;
  return 0;
}

/* read the data section front to back (the layout check made it one
 * contiguous run in this order) */
static int load_all(reader *r, tg_checkpoint *ck, entry **order, const size_t *slot_of_entry) {
  for (size_t k = 0; k < r->n_tensors; k++) {
    size_t e_idx = (size_t)(order[k] - r->e);
    if (load_tensor(r, order[k], &ck->tensors[slot_of_entry[e_idx]]) != 0) return -1;
  }
  return 0;
}

static int validate(reader *r, entry ***order) {
  if (open_file(r) != 0 || read_prefix(r) != 0 || read_header(r) != 0 ||
      parse_entries(r) != 0 || parse_metadata(r) != 0)
    return -1;
  return check_layout(r, order);
}

tg_checkpoint *tg_checkpoint_read(const char *path) {
  if (!path) {
    tg_error("checkpoint_read: path is NULL");
    return NULL;
  }
  reader r = {.path = path};
  entry **order = NULL;
  size_t *slot = NULL;
  tg_checkpoint *ck = NULL;
  if (validate(&r, &order) == 0) {
    if (!(slot = calloc(r.root.n ? r.root.n : 1, sizeof *slot))) rfail(&r, "out of memory");
    else ck = ck_new(&r, slot);
  }
  if (ck && load_all(&r, ck, order, slot) != 0) {
    tg_checkpoint_free(ck);
    ck = NULL;
  }
  free(slot);
  free(order);
  reader_close(&r);
  return ck;
}

/* ---------------------------------------------------------- accessors */

/* a NULL checkpoint is an error; out-of-range indices and absent names
 * are answered with NULL quietly */
static bool ck_given(const tg_checkpoint *ck, const char *op) {
  if (!ck) tg_error("%s: the checkpoint is NULL", op);
  return ck != NULL;
}

size_t tg_checkpoint_count(const tg_checkpoint *ck) {
  return ck_given(ck, "checkpoint_count") ? ck->n : 0;
}

const char *tg_checkpoint_name(const tg_checkpoint *ck, size_t i) {
  return ck_given(ck, "checkpoint_name") && i < ck->n ? ck->names[i] : NULL;
}

tg_tensor *tg_checkpoint_tensor(const tg_checkpoint *ck, size_t i) {
  return ck_given(ck, "checkpoint_tensor") && i < ck->n ? ck->tensors[i] : NULL;
}

tg_tensor *tg_checkpoint_take(tg_checkpoint *ck, size_t i) {
  if (!ck_given(ck, "checkpoint_take")) return NULL;
  tg_tensor *t = tg_checkpoint_tensor(ck, i);
  if (t) ck->tensors[i] = NULL;
  return t;
}

static const name_idx *find_name(const tg_checkpoint *ck, const char *name) {
  if (!ck || !name) return NULL;
  name_idx probe = {name, 0};
  return bsearch(&probe, ((const ck_full *)ck)->by_name, ck->n, sizeof probe, name_idx_cmp);
}

tg_tensor *tg_checkpoint_find(const tg_checkpoint *ck, const char *name) {
  if (!ck_given(ck, "checkpoint_find")) return NULL;
  if (!name) {
    tg_error("checkpoint_find: name is NULL");
    return NULL;
  }
  const name_idx *hit = find_name(ck, name);
  return hit ? ck->tensors[hit->idx] : NULL;
}

size_t tg_checkpoint_meta_count(const tg_checkpoint *ck) {
  return ck_given(ck, "checkpoint_meta_count") ? ck->n_meta : 0;
}

const char *tg_checkpoint_meta_key(const tg_checkpoint *ck, size_t i) {
  return ck_given(ck, "checkpoint_meta_key") && i < ck->n_meta ? ck->meta_keys[i] : NULL;
}

const char *tg_checkpoint_meta_value(const tg_checkpoint *ck, size_t i) {
  return ck_given(ck, "checkpoint_meta_value") && i < ck->n_meta ? ck->meta_values[i] : NULL;
}

const char *tg_checkpoint_meta_get(const tg_checkpoint *ck, const char *key) {
  if (!ck_given(ck, "checkpoint_meta_get")) return NULL;
  if (!key) {
    tg_error("checkpoint_meta_get: key is NULL");
    return NULL;
  }
  for (size_t i = 0; i < ck->n_meta; i++)
    if (strcmp(ck->meta_keys[i], key) == 0) return ck->meta_values[i];
  return NULL;
}

bool tg_checkpoint_verified(const tg_checkpoint *ck) {
  return ck_given(ck, "checkpoint_verified") && ck->verified;
}

/* ------------------------------------------------- loading into tensors */

static int match_target(const char *op, const char *path, const tg_checkpoint *ck,
                        const char *name, const tg_tensor *dst, const tg_tensor **src) {
  char a[160], b[160];
  if (!(*src = tg_checkpoint_find(ck, name))) {
    tg_error("%s: '%s' holds no tensor named '%.80s'", op, path, name);
    return -1;
  }
  if ((*src)->dtype != dst->dtype || !tg_same_shape(*src, dst)) {
    tg_error("%s: '%s': tensor '%.80s' is %s %s in the file but the destination is %s %s", op, path,
             name, tg_dtype_name((*src)->dtype), tg_shape_str(*src, a, sizeof a),
             tg_dtype_name(dst->dtype), tg_shape_str(dst, b, sizeof b));
    return -1;
  }
  return 0;
}

int tg_load_safetensors_into(const char *path, int n, const char **names, tg_tensor **tensors) {
  const char *op = "load_safetensors_into";
  if (!path || n < 0 || (n > 0 && (!names || !tensors))) {
    tg_error("%s: bad arguments (NULL path or array, or n = %d)", op, n);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    if (!names[i]) {
      tg_error("%s: name %d is NULL", op, i);
      return -1;
    }
    if (!tg_tensor_check(tensors[i], op, i)) return -1;
  }
  tg_checkpoint *ck = tg_checkpoint_read(path);
  if (!ck) return -1;
  int rc = 0;
  /* match everything first so that a mismatch leaves every destination as it was */
  for (int i = 0; rc == 0 && i < n; i++) {
    const tg_tensor *src;
    rc = match_target(op, path, ck, names[i], tensors[i], &src);
  }
  for (int i = 0; rc == 0 && i < n; i++) rc = tg_copy_(tensors[i], tg_checkpoint_find(ck, names[i]));
  tg_checkpoint_free(ck);
  return rc;
}
