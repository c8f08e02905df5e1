/* Memory: a per-thread pool of size-classed blocks and a stack of scopes.
 *
 * Every tensor header and graph node is linked into the scope that was
 * current when it was made; tg_scope_end walks that list and returns each
 * block to the pool, so the next iteration of a training loop reuses the same
 * blocks and the system allocator is not called again. Storage is refcounted
 * separately because views may outlive the tensor they were taken from
 * (tg_keep on a view). */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tg_internal.h"

/* initial-exec: the hot per-op state is reached with one TLS offset, not a
 * __tls_get_addr call per access (that call was a fifth of recording time) */
_Thread_local tg_context tg_ctx TG_TLS_FAST;
/* the message buffer is cold: kept out of the fast TLS block */
static _Thread_local char err_buf[512];

/* ---------------------------------------------------------------- errors */

void tg_verror(const char *fmt, va_list ap) {
  /* public now: a user's NULL format is a message, not a crash */
  if (fmt) vsnprintf(err_buf, sizeof err_buf, fmt, ap);
  else snprintf(err_buf, sizeof err_buf, "error: tg_error called with a NULL format");
  tg_ctx.err_set = true;
  if (tg_ctx.err_echo) fprintf(stderr, "tapegrad: %s\n", err_buf);
}

void tg_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tg_verror(fmt, ap);
  va_end(ap);
}

const char *tg_last_error(void) { return tg_ctx.err_set ? err_buf : ""; }
bool tg_has_error(void) { return tg_ctx.err_set; }
void tg_set_error_echo(bool on) { tg_ctx.err_echo = on; }
void tg_clear_error(void) {
  tg_ctx.err_set = false;
  err_buf[0] = '\0';
}

/* ------------------------------------------------------------------ pool */

/* The block header (tg_pool_hdr) and the fast paths of alloc and free are
 * inline in tg_internal.h; what is here is the slow path and the slabs. */
/* Size classes: 16-byte steps up to 256 bytes, 32-byte steps up to 512,
 * 64-byte steps up to 1 KiB (tensor headers, nodes and small storages land
 * in tight classes, so a recorded op costs few cache lines), then powers of
 * two. */
static unsigned size_class(size_t n) {
  if (n <= 256) return n ? (unsigned)((n + 15) / 16 - 1) : 0;
  if (n <= 512) return 16 + (unsigned)((n - 256 + 31) / 32 - 1);
  if (n <= 1024) return 24 + (unsigned)((n - 512 + 63) / 64 - 1);
  unsigned bits = 64u - (unsigned)__builtin_clzll((unsigned long long)(n - 1)); /* ceil(log2 n) */
  return 32 + bits - 11;
}

/* Blocks of the classes up to 1 KiB are carved from 64 KiB slabs, in
 * address order, so the headers and nodes of consecutive ops sit next to
 * each other and a recorded chain streams through memory instead of
 * chasing blocks scattered by malloc. Under AddressSanitizer every block is
 * its own malloc, so an overflow into the next block is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define TG_POOL_SLABS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_POOL_SLABS 0
#endif
#endif
#ifndef TG_POOL_SLABS
#define TG_POOL_SLABS 1
#endif
#define SLAB_CLASSES 32 /* classes below this (blocks up to 1 KiB) come from slabs */
#define SLAB_BYTES ((size_t)64 << 10)

typedef struct slab_hdr {
  struct slab_hdr *next;
  uint32_t cls, n_blocks;
} slab_hdr;
_Static_assert(sizeof(slab_hdr) % 16 == 0, "slab header must keep 16-byte alignment");

static size_t block_bytes(unsigned cls) { return sizeof(tg_pool_hdr) + tg_pool_class_size(cls); }

static tg_pool_hdr *slab_block(slab_hdr *s, size_t i) {
  return (tg_pool_hdr *)((char *)(s + 1) + i * block_bytes(s->cls));
}

/* push s's free blocks, highest address first, so the lowest pops first */
static void slab_push_free(slab_hdr *s) {
  for (size_t i = s->n_blocks; i-- > 0;) {
    tg_pool_hdr *h = slab_block(s, i);
    if (h->in_use) continue;
    h->next_free = tg_ctx.free_list[s->cls];
    tg_ctx.free_list[s->cls] = h;
    tg_ctx.stats.bytes_cached += tg_pool_class_size(s->cls);
  }
}

static void thread_register(void);

static tg_pool_hdr *slab_new(unsigned cls) {
  thread_register();
  size_t n = (SLAB_BYTES - sizeof(slab_hdr)) / block_bytes(cls);
  slab_hdr *s = malloc(sizeof(slab_hdr) + n * block_bytes(cls));
  if (!s) return NULL;
  s->next = tg_ctx.slabs;
  s->cls = cls;
  s->n_blocks = (uint32_t)n;
  tg_ctx.slabs = s;
  tg_ctx.stats.mallocs++;
  tg_ctx.stats.bytes_reserved += sizeof(slab_hdr) + n * block_bytes(cls);
  for (size_t i = 0; i < n; i++) {
    slab_block(s, i)->cls = cls;
    slab_block(s, i)->in_use = 0;
  }
  slab_push_free(s);
  tg_pool_hdr *h = tg_ctx.free_list[cls];
  tg_ctx.free_list[cls] = h->next_free;
  tg_ctx.stats.bytes_cached -= tg_pool_class_size(cls);
  return h;
}

/* everything tg_pool_alloc's inline fast path does not take: large
 * classes, empty free lists (a new slab or a malloc), absurd sizes */
void *tg_pool_alloc_slow(size_t nbytes) {
  if (nbytes > ((size_t)1 << 47)) {
    tg_error("out of memory: a block of %zu bytes is larger than the pool allows (128 TiB)", nbytes);
    return NULL;
  }
  unsigned cls = size_class(nbytes);
  tg_pool_hdr *h = tg_ctx.free_list[cls];
  if (h) {
    tg_ctx.free_list[cls] = h->next_free;
    tg_ctx.stats.bytes_cached -= tg_pool_class_size(cls);
  } else if (TG_POOL_SLABS && cls < SLAB_CLASSES) {
    h = slab_new(cls);
    if (!h) {
      tg_error("out of memory: could not allocate a %zu-byte slab", SLAB_BYTES);
      return NULL;
    }
  } else {
    thread_register();
    h = malloc(sizeof(tg_pool_hdr) + tg_pool_class_size(cls));
    if (!h) {
      tg_error("out of memory: could not allocate %zu bytes", nbytes);
      return NULL;
    }
    h->cls = cls;
    tg_ctx.stats.mallocs++;
    tg_ctx.stats.bytes_reserved += sizeof(tg_pool_hdr) + tg_pool_class_size(cls);
  }
  h->in_use = 1;
  return h + 1;
}

/* slabs with no block in use go back to the system; the free blocks of the
 * others are listed again */
static void release_slabs(void) {
  for (int c = 0; c < SLAB_CLASSES; c++) tg_ctx.free_list[c] = NULL;
  slab_hdr **link = (slab_hdr **)&tg_ctx.slabs;
  while (*link) {
    slab_hdr *s = *link;
    bool used = false;
    for (size_t i = 0; i < s->n_blocks && !used; i++) used = slab_block(s, i)->in_use;
    if (used) {
      slab_push_free(s);
      link = &s->next;
      continue;
    }
    *link = s->next;
    tg_ctx.stats.bytes_reserved -= sizeof(slab_hdr) + s->n_blocks * block_bytes(s->cls);
    tg_ctx.stats.frees++;
    free(s);
  }
}

void tg_release_cached(void) {
  tg_ctx.stats.bytes_cached = 0;
  if (TG_POOL_SLABS) release_slabs();
  for (int c = TG_POOL_SLABS ? SLAB_CLASSES : 0; c < TG_POOL_CLASSES; c++) {
    tg_pool_hdr *h = tg_ctx.free_list[c];
    while (h) {
      tg_pool_hdr *next = h->next_free;
      tg_ctx.stats.bytes_reserved -= sizeof(tg_pool_hdr) + tg_pool_class_size(h->cls);
      free(h);
      tg_ctx.stats.frees++;
      h = next;
    }
    tg_ctx.free_list[c] = NULL;
  }
  if (tg_ctx.scopes && tg_ctx.depth == 0 && !tg_ctx.scopes[0].head) {
    free(tg_ctx.scopes);
    tg_ctx.stats.frees++;
    tg_ctx.scopes = NULL;
    tg_ctx.scope_cap = 0;
  }
}

tg_memory_stats tg_memory_get_stats(void) { return tg_ctx.stats; }

/* ----------------------------------------------------------- thread exit */

/* A thread's pool lives in its TLS, which vanishes when the thread exits:
 * without this, every block it cached would be lost. The first time a
 * thread takes memory from the system it sets a value for a key whose
 * destructor returns the cached blocks (and the scope stack, when nothing
 * is left in it). Blocks still in use stay where they are: their tensors
 * are the program's to free, and a slab holding one is kept whole. The
 * main thread's pool, which no key destructor sees at exit(), is returned
 * by tg_shutdown. */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static bool exit_key_ok;
static _Thread_local bool thread_registered;

static void thread_exit(void *unused) {
  (void)unused;
  tg_release_cached();
}

static void exit_key_make(void) { exit_key_ok = pthread_key_create(&exit_key, thread_exit) == 0; }

/* slow paths only: the system is about to be asked for memory */
static void thread_register(void) {
  if (__builtin_expect(thread_registered, 1)) return;
  thread_registered = true;
  pthread_once(&exit_key_once, exit_key_make);
  /* any non-NULL value: the destructor runs only for those */
  if (exit_key_ok) pthread_setspecific(exit_key, &thread_registered);
}

/* ---------------------------------------------------------------- scopes */

int tg_scopes_reserve(int depth) {
  if (depth < tg_ctx.scope_cap) return 0;
  thread_register();
  int cap = tg_ctx.scope_cap ? tg_ctx.scope_cap * 2 : 16;
  while (cap <= depth) cap *= 2;
  tg_scope *s = realloc(tg_ctx.scopes, (size_t)cap * sizeof *s);
  if (!s) {
    tg_error("scope: out of memory for a stack of %d scopes", depth + 1);
    return -1;
  }
  memset(s + tg_ctx.scope_cap, 0, (size_t)(cap - tg_ctx.scope_cap) * sizeof *s);
  tg_ctx.stats.mallocs++;
  if (tg_ctx.scope_cap) tg_ctx.stats.frees++; /* realloc gave the old block back */
  tg_ctx.scopes = s;
  tg_ctx.scope_cap = cap;
  return 0;
}

void tg_obj_move(tg_obj *o, int scope) {
  uint32_t magic = o->magic;
  tg_obj_detach(o);
  tg_obj_attach(o, scope, magic);
}

/* far deeper than any program nests (a scope per recursion level, say), low
 * enough that a runaway loop of scope_begin fails in milliseconds rather
 * than growing the stack until tg_scopes_reserve's int capacity overflows */
#define TG_MAX_SCOPE_DEPTH (1 << 20)

int tg_scope_begin(void) {
  if (tg_ctx.depth >= TG_MAX_SCOPE_DEPTH) {
    tg_error("scope_begin: %d scopes are open, the most there can be", tg_ctx.depth);
    return -1;
  }
  if (tg_scopes_reserve(tg_ctx.depth + 1) != 0) return -1;
  tg_ctx.depth++;
  tg_ctx.scopes[tg_ctx.depth].head = NULL;
  return 0;
}

static inline void tensor_release(tg_tensor *t);

int tg_scope_end(void) {
  if (tg_ctx.depth == 0) {
    tg_error("scope_end: no scope is open (scope_end called more often than scope_begin)");
    return -1;
  }
  /* Each object is the head of the list when the walk reaches it (nothing
   * destroyed unlinks another): a tensor leaves it by moving the head, with
   * no neighbour to patch; a node unlinks itself (node_destroy) */
  tg_scope *sc = &tg_ctx.scopes[tg_ctx.depth];
  tg_obj *o = sc->head;
  while (o) {
    if (o->next) __builtin_prefetch(o->next->next, 1); /* a long list walk: one ahead */
    /* a dying tensor's hooks go first, as in tg_tensor_destroy */
    if (o->magic == TG_MAGIC_TENSOR && __builtin_expect(((tg_tensor *)o)->hooks != 0, 0) &&
        tg_ctx.tensor_unhook)
      tg_ctx.tensor_unhook((tg_tensor *)o);
    tg_obj *next = o->next;
    if (o->magic == TG_MAGIC_TENSOR) {
      sc->head = next;
      if (next) next->prev = NULL;
      o->next = NULL;
      o->magic = TG_MAGIC_DEAD;
      tg_ctx.stats.live_objects--;
      tensor_release((tg_tensor *)o);
    } else if (o->magic == TG_MAGIC_NODE && tg_ctx.node_destroy) {
      tg_ctx.node_destroy(o);
    }
    o = next;
  }
  tg_ctx.scopes[tg_ctx.depth].head = NULL;
  tg_ctx.depth--;
  return 0;
}

int tg_scope_depth(void) { return tg_ctx.depth; }

/* --------------------------------------------------------------- tensors */

size_t tg_dtype_size(tg_dtype dt) { return tg_elem_bytes(dt); }

const char *tg_dtype_name(tg_dtype dt) {
  switch (dt) {
  case TG_FLOAT32: return "float32";
  case TG_FLOAT64: return "float64";
  case TG_INT64: return "int64";
  case TG_BOOL: return "bool";
  }
  return "unknown";
}

void tg_contiguous_strides(int ndim, const size_t *shape, ptrdiff_t *strides) {
  ptrdiff_t s = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    strides[d] = s;
    s *= (ptrdiff_t)(shape[d] ? shape[d] : 1);
  }
}

/* bytes of a header with its shape and strides */
static size_t header_bytes(int ndim) { return sizeof(tg_tensor) + 2 * (size_t)ndim * sizeof(size_t); }

/* every field of a fresh header but its shape (a struct assignment: a few
 * wide stores, not a call to memset) */
static inline void header_init(tg_tensor *t, int scope, tg_dtype dt, int ndim, size_t numel) {
  *t = (tg_tensor){.dtype = dt, .ndim = ndim, .numel = numel};
  t->shape = (size_t *)(t + 1);
  t->strides = (ptrdiff_t *)(t->shape + ndim);
  tg_obj_attach(&t->obj, scope, TG_MAGIC_TENSOR);
}

/* a header in scope; `extra` more bytes are allocated after shape and
 * strides (a small tensor's storage) */
static tg_tensor *header_in(int scope, tg_dtype dt, int ndim, const size_t *shape, size_t extra) {
  if (ndim < 0 || ndim > TG_MAX_DIMS) {
    tg_error("tensor: %d dimensions requested; between 0 and %d are supported", ndim, TG_MAX_DIMS);
    return NULL;
  }
  if (ndim > 0 && !shape) {
    tg_error("tensor: shape is NULL for a %d-d tensor", ndim);
    return NULL;
  }
  if ((unsigned)dt > TG_BOOL) {
    tg_error("tensor: unknown dtype %d", (int)dt);
    return NULL;
  }
  /* the data must fit a pool block (2^47 bytes): larger sizes would wrap
   * the byte counts computed from numel. A zero dim makes any shape
   * empty, as in PyTorch. */
  size_t numel = 1, max_numel = ((size_t)1 << 47) / tg_elem_bytes(dt);
  for (int d = 0; d < ndim; d++) {
    if (__builtin_mul_overflow(numel, shape[d], &numel) || numel > max_numel) {
      bool empty = false;
      for (int e = 0; e < ndim; e++) empty |= shape[e] == 0;
      if (empty) {
        numel = 0;
        break;
      }
      char buf[96];
      tg_error("tensor: shape %s is too large (more than 2^47 bytes of %s)",
               tg_dims_str(ndim, shape, buf, sizeof buf), tg_dtype_name(dt));
      return NULL;
    }
  }
  /* shape and strides follow the header: a 1-d tensor is 144 bytes, not 256 */
  tg_tensor *t = tg_pool_alloc(header_bytes(ndim) + extra);
  if (!t) return NULL;
  header_init(t, scope, dt, ndim, numel);
  for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
  return t;
}

/* Storage header and data share a block; data starts 32 bytes in. For a
 * small tensor that block is the tensor's own (one allocation per result,
 * not two): the block then lives until both the tensor and the last view of
 * its storage are gone, and s->block says which block to free. */
#define STORAGE_HDR 32
#define INLINE_STORAGE_MAX 256
_Static_assert(sizeof(tg_storage) <= STORAGE_HDR, "storage header must fit its slot");

static tg_storage *storage_init(char *mem, size_t nbytes, void *block) {
  tg_storage *s = (tg_storage *)mem;
  s->data = mem + STORAGE_HDR;
  s->nbytes = nbytes;
  s->refs = 1;
  s->version = 0;
  s->block = block;
  return s;
}

static tg_storage *storage_new(size_t nbytes) {
  char *mem = tg_pool_alloc(STORAGE_HDR + nbytes);
  return mem ? storage_init(mem, nbytes, mem) : NULL;
}

static void storage_unref(tg_storage *s) {
  if (s && --s->refs == 0) tg_pool_free(s->block);
}

/* a 0-d tensor: nothing to check but the dtype, header and value in one
 * block (every op result of a scalar graph comes through here) */
static tg_tensor *scalar_alloc(int scope, tg_dtype dt) {
  size_t es = tg_elem_bytes(dt);
  tg_tensor *t = tg_pool_alloc(sizeof(tg_tensor) + STORAGE_HDR + es);
  if (!t) return NULL;
  header_init(t, scope, dt, 0, 1);
  t->storage = storage_init((char *)(t + 1), es, t);
  return t;
}

/* kept out of line so the 0-d path of tg_tensor_alloc_in saves no registers */
__attribute__((noinline)) static tg_tensor *alloc_general(int scope, tg_dtype dt, int ndim,
                                                         const size_t *shape) {
  /* numel is checked by header_in; this is only a size hint */
  size_t guess = tg_shape_numel(ndim > 0 && shape ? ndim : 0, shape) * tg_elem_bytes(dt);
  bool inline_data = ndim >= 0 && ndim <= TG_MAX_DIMS && guess <= INLINE_STORAGE_MAX;
  tg_tensor *t = header_in(scope, dt, ndim, shape, inline_data ? STORAGE_HDR + guess : 0);
  if (!t) return NULL;
  size_t nbytes = t->numel * tg_elem_bytes(dt);
  if (inline_data) t->storage = storage_init((char *)t + header_bytes(ndim), nbytes, t);
  else t->storage = storage_new(nbytes);
  if (!t->storage) {
    tg_tensor_destroy(t);
    return NULL;
  }
  tg_contiguous_strides(ndim, shape, t->strides);
  return t;
}

tg_tensor *tg_tensor_alloc_in(int scope, tg_dtype dt, int ndim, const size_t *shape) {
  if (ndim == 0 && (unsigned)dt <= TG_BOOL) return scalar_alloc(scope, dt);
  return alloc_general(scope, dt, ndim, shape);
}

tg_tensor *tg_tensor_alloc(tg_dtype dt, int ndim, const size_t *shape) {
  int scope = tg_ctx.depth;
  if (ndim == 0 && (unsigned)dt <= TG_BOOL) return scalar_alloc(scope, dt);
  return alloc_general(scope, dt, ndim, shape);
}

tg_tensor *tg_tensor_view(const tg_tensor *base, int ndim, const size_t *shape,
                          const ptrdiff_t *strides, size_t offset) {
  tg_tensor *t = header_in(tg_ctx.depth, base->dtype, ndim, shape, 0);
  if (!t) return NULL;
  for (int d = 0; d < ndim; d++) t->strides[d] = strides[d];
  t->offset = offset;
  t->storage = base->storage;
  t->storage->refs++;
  return t;
}

void tg_tensor_destroy(tg_tensor *t) {
  if (__builtin_expect(t->hooks != 0, 0) && tg_ctx.tensor_unhook) tg_ctx.tensor_unhook(t); /* HOOKS */
  tg_obj_detach(&t->obj);
  tensor_release(t);
}

/* a detached tensor's storage reference and block */
static inline void tensor_release(tg_tensor *t) {
  tg_storage *s = t->storage;
  t->storage = NULL;
  /* a block holding the storage is freed with the storage's last reference */
  bool holds_storage = s && s->block == (void *)t;
  storage_unref(s);
  if (!holds_storage) tg_pool_free(t);
}

bool tg_tensor_check(const tg_tensor *t, const char *op, int argno) {
  if (!t) {
    /* keep the message of the op that produced the NULL, if there was one */
    if (!tg_ctx.err_set) tg_error("%s: argument %d is NULL", op, argno);
    return false;
  }
  if (t->obj.magic != TG_MAGIC_TENSOR) {
    tg_error("%s: argument %d is a tensor whose scope has ended (or that was freed); "
             "tg_keep it before scope_end to use it afterwards", op, argno);
    return false;
  }
  return true;
}
