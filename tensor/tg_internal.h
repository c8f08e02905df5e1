/* Internal to the library: the per-thread context, the block pool, the
 * strided iterator and error helpers that the layers above build on. */
#ifndef TG_INTERNAL_H
#define TG_INTERNAL_H

#include <stdarg.h>

#include "tg_tensor.h"

#define TG_MAGIC_TENSOR 0x7e45a11du
#define TG_MAGIC_NODE 0x90de0a11u
#define TG_MAGIC_DEAD 0xdeadbeefu

#define TG_POOL_CLASSES 72 /* memory.c's size classes, up to 2^47 bytes */

struct tg_node;

typedef struct tg_scope {
  tg_obj *head; /* newest first */
} tg_scope;

typedef struct tg_context {
  void *free_list[TG_POOL_CLASSES];
  void *slabs; /* the pool's slabs (memory.c), newest first */
  tg_memory_stats stats;
  tg_scope *scopes; /* scopes[0] = persistent objects */
  int depth, scope_cap;
  struct tg_node *tape_tail; /* newest node; nodes link to older ones */
  uint64_t next_seq;
  bool grad_enabled_off; /* inverted so a zeroed context means grad on */
  bool anomaly; /* mirrors tg_anomaly_enabled for the library's own checks */
  bool grad_sink; /* set by the engine while a backward may write leaf .grad directly */
  bool err_set, err_echo;
  /* set by autograd/: how scope_end destroys a graph node */
  void (*node_destroy)(tg_obj *node);
  const char *(*node_name)(const struct tg_node *node);
  /* set by autograd/hooks.c: drops the hooks of a tensor that dies */
  void (*tensor_unhook)(tg_tensor *t);
  /* set by ops/: differentiable add and sum-to-shape, which the backward
   * engine needs only when it records the backward (create_graph) */
  tg_tensor *(*grad_add)(tg_tensor *a, tg_tensor *b);
  tg_tensor *(*grad_sum_to)(tg_tensor *t, int ndim, const size_t *shape);
  bool rng_seeded;
  tg_rng rng;
} tg_context;

#if defined(__GNUC__)
#define TG_TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define TG_TLS_FAST
#endif
extern _Thread_local tg_context tg_ctx TG_TLS_FAST;

/* errors */
#if defined(__GNUC__)
#define TG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TG_PRINTF(a, b)
#endif
/* exported: user-written ops and modules report errors with them too
 * (declared for users in autograd/tg_extension.h) */
TG_API void tg_error(const char *fmt, ...) TG_PRINTF(1, 2);
TG_API void tg_verror(const char *fmt, va_list ap) TG_PRINTF(1, 0);

/* block pool: size classes (fine below 1 KiB, powers of two above), free
 * lists per thread, never shrinks until tg_release_cached. Blocks are
 * 16-byte aligned. Alloc and free are inline because every recorded op
 * makes a tensor and a node: the common case (a block of at most 256 bytes
 * from a non-empty free list) is a pop, everything else tg_pool_alloc_slow. */
typedef struct tg_pool_hdr { /* hidden before each block; 16 bytes keep malloc's alignment */
  void *next_free;
  uint32_t cls;
  uint32_t in_use;
} tg_pool_hdr;
void *tg_pool_alloc_slow(size_t nbytes);

/* bytes in a block of class c: 16-byte steps up to 256, 32-byte steps up
 * to 512, 64-byte steps up to 1 KiB, then powers of two */
static inline size_t tg_pool_class_size(unsigned c) {
  if (c < 16) return ((size_t)c + 1) * 16;
  if (c < 24) return 256 + ((size_t)c - 15) * 32;
  if (c < 32) return 512 + ((size_t)c - 23) * 64;
  return (size_t)1 << (c - 32 + 11);
}

#define TG_POOL_PREFETCH_BLOCKS 4 /* how far ahead tg_pool_alloc prefetches */

static inline void *tg_pool_alloc(size_t nbytes) {
  /* the fast path serves the 16-byte classes (1 to 256 bytes: every tensor
   * header and node of a scalar tape); nbytes = 0 wraps to the slow path */
  size_t c = (nbytes - 1) >> 4;
  tg_pool_hdr *h = c < 16 ? (tg_pool_hdr *)tg_ctx.free_list[c] : NULL;
  if (__builtin_expect(h == NULL, 0)) return tg_pool_alloc_slow(nbytes);
  unsigned cls = (unsigned)c;
  tg_ctx.free_list[cls] = h->next_free;
  size_t bytes = tg_pool_class_size(cls);
  /* Blocks of a slab are popped in address order: fetch the lines of the
   * ones a few pops ahead now, so recording a long chain does not wait on
   * each fresh line (prefetches never fault, even past a slab's end) */
  char *ahead = (char *)h + TG_POOL_PREFETCH_BLOCKS * (sizeof(tg_pool_hdr) + bytes);
  __builtin_prefetch(ahead, 1);
  __builtin_prefetch(ahead + 64, 1);
  __builtin_prefetch(ahead + 128, 1);
  tg_ctx.stats.bytes_cached -= bytes;
  h->in_use = 1;
  return h + 1;
}

static inline void tg_pool_free(void *p) {
  if (!p) return;
  tg_pool_hdr *h = (tg_pool_hdr *)p - 1;
  h->in_use = 0;
  h->next_free = tg_ctx.free_list[h->cls];
  tg_ctx.free_list[h->cls] = h;
  tg_ctx.stats.bytes_cached += tg_pool_class_size(h->cls);
}

/* worker threads (parallel.c): fn(arg, part, n_parts) once for every part,
 * each on whichever thread claims it (the caller included); parts must not
 * touch tensors or the context */
typedef void (*tg_part_fn)(void *arg, int part, int n_parts);
void tg_parallel_run(int n_parts, tg_part_fn fn, void *arg);
void tg_parallel_set_threads(int n);
int tg_parallel_threads(void); /* 0 until tg_set_num_threads */
void tg_parallel_shutdown(void); /* join the workers; the next job starts them again */

/* scope membership of tensors and nodes: a doubly linked list per scope,
 * newest first (inline: every result tensor and node joins one) */
int tg_scopes_reserve(int depth); /* 0, or -1 with an error */
static inline void tg_obj_attach(tg_obj *o, int scope, uint32_t magic) {
  if (__builtin_expect(scope >= tg_ctx.scope_cap, 0) && tg_scopes_reserve(scope) != 0)
    scope = 0; /* unreachable for depth 0 once started */
  o->scope = scope;
  o->magic = magic;
  o->prev = NULL;
  o->next = tg_ctx.scopes[scope].head;
  if (o->next) o->next->prev = o;
  tg_ctx.scopes[scope].head = o;
  tg_ctx.stats.live_objects++;
}
static inline void tg_obj_detach(tg_obj *o) {
  if (o->prev) o->prev->next = o->next;
  else tg_ctx.scopes[o->scope].head = o->next;
  if (o->next) o->next->prev = o->prev;
  o->prev = o->next = NULL;
  o->magic = TG_MAGIC_DEAD;
  tg_ctx.stats.live_objects--;
}
void tg_obj_move(tg_obj *o, int scope);

/* a tensor header with fresh contiguous storage (uninitialised data) */
tg_tensor *tg_tensor_alloc(tg_dtype dt, int ndim, const size_t *shape);
/* a header viewing base's storage with the given geometry */
tg_tensor *tg_tensor_view(const tg_tensor *base, int ndim, const size_t *shape,
                          const ptrdiff_t *strides, size_t offset);
void tg_tensor_destroy(tg_tensor *t);
/* allocate in a given scope (for grads that must live as long as their tensor) */
tg_tensor *tg_tensor_alloc_in(int scope, tg_dtype dt, int ndim, const size_t *shape);
void tg_contiguous_strides(int ndim, const size_t *shape, ptrdiff_t *strides);
/* false, with "op: shape is NULL ..." recorded, for a NULL shape of ndim > 0 */
bool tg_shape_given(const char *op, int ndim, const size_t *shape);
static inline size_t tg_shape_numel(int ndim, const size_t *shape) {
  size_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  return n;
}
const char *tg_dims_str(int ndim, const size_t *shape, char *buf, size_t len);

/* inline forms of tg_dtype_size, tg_is_contiguous and tg_tensor_check for
 * the per-op path (the public functions call these) */
static inline size_t tg_elem_bytes(tg_dtype dt) {
  return dt == TG_FLOAT32 ? 4 : dt == TG_BOOL ? 1 : 8;
}
static inline bool tg_dtype_is_float(tg_dtype dt) { return dt == TG_FLOAT32 || dt == TG_FLOAT64; }
static inline bool tg_contiguous_(const tg_tensor *t) {
  if (t->numel == 0) return true; /* as in PyTorch: no element is out of place */
  ptrdiff_t s = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->strides[d] != s) return false;
    s *= (ptrdiff_t)t->shape[d];
  }
  return true;
}
static inline bool tg_tensor_ok(const tg_tensor *t, const char *op, int argno) {
  return __builtin_expect(t != NULL && t->obj.magic == TG_MAGIC_TENSOR, 1) || tg_tensor_check(t, op, argno);
}

static inline char *tg_ptr(const tg_tensor *t) {
  return (char *)t->storage->data + t->offset * tg_elem_bytes(t->dtype);
}

/* Strided N-d iteration. Operand k starts at base[k] and steps by
 * strides[k][d] bytes along dim d; the loop body gets the innermost run. */
typedef void (*tg_loop_fn)(char **p, const ptrdiff_t *s, size_t n, const void *arg);
#define TG_ITER_MAX_OPS 4
void tg_iter(int nops, char **base, int ndim, const size_t *shape,
             ptrdiff_t strides[][TG_MAX_DIMS], tg_loop_fn fn, const void *arg);

/* broadcast shapes as NumPy does; -1 with an error naming op on mismatch */
int tg_broadcast_shapes(const char *op, int na, const size_t *sa, int nb,
                        const size_t *sb, int *nout, size_t *out);
/* byte strides of t viewed at the broadcast shape (0 along broadcast dims) */
void tg_broadcast_strides(const tg_tensor *t, int ndim, const size_t *shape,
                          ptrdiff_t *out);
/* true, with "op: unsupported operation: more than one element ..." (PyTorch's
 * words), when two elements of t share a memory location: a dim of size > 1
 * with stride 0, or strides whose spans interleave. In-place writers check. */
bool tg_write_overlaps(const tg_tensor *t, const char *op);

/* normalise a possibly negative dim; -1 with an error on range */
int tg_norm_dim(const char *op, int dim, int ndim);

#endif
