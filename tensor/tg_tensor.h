/* tensor layer: storage, shape/strides, views, creation, RNG, printing,
 * scopes (memory), and the error model. Nothing here knows about autograd
 * except the two pointers a tensor carries for it (grad, grad_fn). */
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* TG_API marks every declaration the shared library exports; the library
 * is built with -fvisibility=hidden, so a function without it stays
 * internal (and cannot clash with a user's symbol of the same name). */
#if defined(__GNUC__) || defined(__clang__)
#define TG_API __attribute__((visibility("default")))
#else
#define TG_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define TG_MAX_DIMS 8

/* TG_BOOL: one byte per element, 0 or 1; a conversion to bool maps every
 * nonzero value (NaN included) to true, as PyTorch */
typedef enum { TG_FLOAT32 = 0, TG_FLOAT64 = 1, TG_INT64 = 2, TG_BOOL = 3 } tg_dtype;

/* TG_SHAPE(2, 3) expands to the (ndim, shape) argument pair. */
#define TG_SHAPE(...)                                                          \
  (int)(sizeof((const size_t[]){__VA_ARGS__}) / sizeof(size_t)),               \
      (const size_t[]) { __VA_ARGS__ }

/* Every scope-owned object (tensor, graph node) starts with this link, so a
 * scope can free everything created since it began in one walk. */
typedef struct tg_obj {
  struct tg_obj *prev, *next;
  int scope;    /* owning scope depth; 0 = persistent */
  uint32_t magic; /* changes when the object dies: catches use after scope end */
} tg_obj;

typedef struct tg_storage {
  void *data;
  size_t nbytes;
  uint32_t refs;    /* tensors viewing this storage */
  uint32_t version; /* bumped by in-place writes */
  void *block;      /* the pool block to free with the last reference */
} tg_storage;

struct tg_node;

/* Fields are public for reading; change them only through the API. */
typedef struct tg_tensor {
  tg_obj obj;
  tg_dtype dtype;
  int ndim;
  size_t *shape;                  /* ndim sizes, stored right after the header */
  ptrdiff_t *strides;             /* ndim strides in elements, after shape */
  size_t offset;                  /* in elements, into storage */
  size_t numel;
  tg_storage *storage;
  bool requires_grad;
  bool retains_grad;
  uint32_t hooks;          /* autograd/hooks.c's record of its hooks + 1; 0: none (fills padding) */
  struct tg_tensor *grad;  /* accumulated gradient (leaves, retain_grad) */
  struct tg_node *grad_fn; /* the op that made it; NULL for leaves */
  char name[24];           /* optional, for printing and graph export */
} tg_tensor;

/* ---- errors: ops return NULL (or -1) and leave a message here ---- */
TG_API const char *tg_last_error(void); /* "" when none */
TG_API void tg_clear_error(void);
TG_API bool tg_has_error(void);
/* print every new error to stderr as it happens (off by default) */
TG_API void tg_set_error_echo(bool on);

/* ---- memory: scopes own intermediates; persistent tensors are freed by hand */
/* 0, or -1 with an error and no scope opened (no memory for a deeper
 * stack, or 2^20 scopes open already): a caller that goes on must not end
 * a scope */
TG_API int tg_scope_begin(void);
TG_API int tg_scope_end(void); /* 0, or -1 when no scope is open */
TG_API int tg_scope_depth(void);
/* tg_keep and tg_free live in autograd/ (they must know about graphs). */
/* Drop cached memory blocks (call at exit for a clean leak report). */
TG_API void tg_release_cached(void);
/* Join tapegrad's worker threads and return the calling thread's cached
 * blocks, as tg_release_cached. Registered with atexit when the first
 * worker starts, so a program that exits normally needs no call; safe to
 * call more than once, and the library starts its workers again when a
 * later product needs them. Other threads' pools are returned when those
 * threads exit. Not to be called while another thread is inside tapegrad. */
TG_API void tg_shutdown(void);

typedef struct tg_memory_stats {
  size_t mallocs;      /* calls to the system allocator so far */
  size_t frees;        /* blocks returned to the system */
  size_t bytes_cached; /* bytes held in free lists for reuse */
  size_t bytes_reserved; /* bytes obtained from the system and not yet returned */
  size_t live_objects; /* tensors and nodes alive */
} tg_memory_stats;
TG_API tg_memory_stats tg_memory_get_stats(void);

/* true if t is non-NULL and its scope has not ended; otherwise records an
 * error naming op and returns false. */
TG_API bool tg_tensor_check(const tg_tensor *t, const char *op, int argno);

/* ---- creation (float dtypes unless noted); results belong to the current scope */
TG_API tg_tensor *tg_empty(tg_dtype dt, int ndim, const size_t *shape);
TG_API tg_tensor *tg_zeros(tg_dtype dt, int ndim, const size_t *shape);
TG_API tg_tensor *tg_ones(tg_dtype dt, int ndim, const size_t *shape);
TG_API tg_tensor *tg_full(tg_dtype dt, int ndim, const size_t *shape, double value);
TG_API tg_tensor *tg_scalar(tg_dtype dt, double value); /* 0-d tensor */
/* copies data, which holds numel elements of dt */
TG_API tg_tensor *tg_from_data(tg_dtype dt, int ndim, const size_t *shape, const void *data);
TG_API tg_tensor *tg_from_f32(int ndim, const size_t *shape, const float *data);
TG_API tg_tensor *tg_from_f64(int ndim, const size_t *shape, const double *data);
TG_API tg_tensor *tg_from_i64(int ndim, const size_t *shape, const int64_t *data);
TG_API tg_tensor *tg_from_bool(int ndim, const size_t *shape, const bool *data); /* nonzero bytes = true */
TG_API tg_tensor *tg_arange(tg_dtype dt, double start, double end, double step);
TG_API tg_tensor *tg_linspace(tg_dtype dt, double start, double end, size_t steps);
TG_API tg_tensor *tg_eye(tg_dtype dt, size_t n);
TG_API tg_tensor *tg_zeros_like(const tg_tensor *t);
TG_API tg_tensor *tg_ones_like(const tg_tensor *t);

/* ---- random numbers: xoshiro256** seeded by splitmix64(seed); the same seed
 * gives the same numbers on every machine. Normals by Box-Muller. Wherever
 * a tg_rng * is taken, NULL means the default generator. */
typedef struct tg_rng {
  uint64_t s[4];
} tg_rng;
TG_API void tg_rng_seed(tg_rng *r, uint64_t seed);
TG_API uint64_t tg_rng_next(tg_rng *r);
TG_API double tg_rng_uniform(tg_rng *r); /* [0, 1), 53 random bits */
TG_API double tg_rng_normal(tg_rng *r);  /* N(0, 1) */
TG_API tg_rng *tg_default_rng(void);      /* per thread, seed 0 until tg_manual_seed */
TG_API void tg_manual_seed(uint64_t seed);
/* rng NULL = default generator */
TG_API tg_tensor *tg_rand(tg_rng *r, tg_dtype dt, int ndim, const size_t *shape);
TG_API tg_tensor *tg_randn(tg_rng *r, tg_dtype dt, int ndim, const size_t *shape);
TG_API tg_tensor *tg_uniform(tg_rng *r, tg_dtype dt, int ndim, const size_t *shape, double lo, double hi);
TG_API tg_tensor *tg_normal(tg_rng *r, tg_dtype dt, int ndim, const size_t *shape, double mean, double std);
/* in-place fills (no history); return t, or NULL on error */
TG_API tg_tensor *tg_fill_(tg_tensor *t, double value);
TG_API tg_tensor *tg_uniform_(tg_tensor *t, tg_rng *r, double lo, double hi);
TG_API tg_tensor *tg_normal_(tg_tensor *t, tg_rng *r, double mean, double std);

/* ---- element access and properties */
TG_API bool tg_is_contiguous(const tg_tensor *t); /* false and an error for NULL */
TG_API size_t tg_dtype_size(tg_dtype dt);
TG_API const char *tg_dtype_name(tg_dtype dt);
/* value of a one-element tensor; NaN and an error otherwise */
TG_API double tg_item(const tg_tensor *t);
/* element at a multi-index (ndim entries), as double */
TG_API double tg_get(const tg_tensor *t, const size_t *index);
TG_API int tg_set(tg_tensor *t, const size_t *index, double value);
/* element i in row-major logical order, for any strides */
TG_API double tg_get_flat(const tg_tensor *t, size_t i);
/* copy all elements in logical order into out (numel doubles) */
TG_API int tg_to_f64_array(const tg_tensor *t, double *out);
/* pointer to the first element; valid for contiguous tensors */
TG_API void *tg_data(const tg_tensor *t);
TG_API float *tg_data_f32(const tg_tensor *t);
TG_API double *tg_data_f64(const tg_tensor *t);
/* "[2,3]" into buf ("(null)" for a NULL t); NULL and an error for a NULL
 * buf with len > 0 */
TG_API const char *tg_shape_str(const tg_tensor *t, char *buf, size_t len);
TG_API bool tg_same_shape(const tg_tensor *a, const tg_tensor *b);
TG_API void tg_set_name(tg_tensor *t, const char *name);

/* ---- printing like PyTorch: tensor([[1., 2.]], requires_grad=True) */
TG_API int tg_print(const tg_tensor *t);
TG_API int tg_fprint(FILE *f, const tg_tensor *t);
/* writes into buf (always NUL-terminated); returns length it wanted. buf
 * NULL only measures, as snprintf(NULL, 0). tg_fprint: -1 for a NULL FILE. */
TG_API size_t tg_format(const tg_tensor *t, char *buf, size_t len);

/* ---- copies without history (the differentiable versions live in ops/) */
/* copy src into dst (same numel, any strides; dtype converts); bumps version.
 * Refused, as every in-place writer here, when dst has elements sharing one
 * memory location (an expanded view): clone it first */
TG_API int tg_copy_(tg_tensor *dst, const tg_tensor *src);
/* dst += src summed down to dst's shape (src's shape must broadcast to
 * itself from dst's: each dst dim equals src's or is 1); same float dtype */
TG_API int tg_accumulate_(tg_tensor *dst, const tg_tensor *src);

#ifdef __cplusplus
}
#endif
#endif
