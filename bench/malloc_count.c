/* Counting wrappers, linked into every benchmark program (never into the
 * library): the executable's definitions of malloc, calloc, realloc, free,
 * posix_memalign, aligned_alloc, memalign and cblas_sgemm take precedence
 * over libc's and OpenBLAS's for the whole process (libtapegrad.so's calls
 * included), count or time the call, and forward it to the next definition
 * found with dlsym(RTLD_NEXT). dlsym may itself allocate before the real
 * functions are known: those few requests are served from a static arena
 * that is never given back. */
#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "tapegrad.h"

/* Sanitizer runtimes own malloc and allocate before main, before dlsym can
 * work: there the wrappers are left out and the counts fall back to the
 * library's own (tg_memory_get_stats().mallocs). */
#if defined(__SANITIZE_ADDRESS__)
#define BENCH_NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
#define BENCH_NO_INTERPOSE 1
#endif
#endif

/* var = the next definition of name (memcpy: ISO C has no cast from an
 * object pointer to a function pointer) */
#define LOAD_NEXT(var, name)                                                   \
  do {                                                                         \
    void *sym_ = dlsym(RTLD_NEXT, name);                                       \
    memcpy(&(var), &sym_, sizeof(var));                                        \
  } while (0)

/* ---------------------------------------------------------------- malloc */

#ifdef BENCH_NO_INTERPOSE
static _Thread_local bool in_sgemm;
const char *bench_malloc_counter(void) { return "tg_pool_only(sanitizer_build)"; }
uint64_t bench_malloc_calls(void) { return tg_memory_get_stats().mallocs; }
uint64_t bench_blas_malloc_calls(void) { return 0; }
#else
const char *bench_malloc_counter(void) { return "interposed"; }

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);

static atomic_uint_fast64_t malloc_calls, blas_malloc_calls;
static _Thread_local bool in_sgemm; /* this thread is inside cblas_sgemm */

/* bootstrap arena: 16-byte aligned blocks, each after a size_t header */
static _Alignas(16) char boot[1 << 16];
static size_t boot_used;
static int resolving;

static bool in_boot(const void *p) {
  return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static void *boot_alloc(size_t n) {
  size_t need = 16 + ((n + 15) & ~(size_t)15);
  if (boot_used + need > sizeof boot) return NULL;
  char *p = boot + boot_used + 16;
  memcpy(p - sizeof(size_t), &n, sizeof n);
  boot_used += need;
  return p; /* static storage: already zero */
}

static void resolve(void) {
  if (real_free || resolving) return;
  resolving = 1;
  LOAD_NEXT(real_malloc, "malloc");
  LOAD_NEXT(real_calloc, "calloc");
  LOAD_NEXT(real_realloc, "realloc");
  LOAD_NEXT(real_posix_memalign, "posix_memalign");
  LOAD_NEXT(real_aligned_alloc, "aligned_alloc");
  LOAD_NEXT(real_memalign, "memalign");
  LOAD_NEXT(real_free, "free");
  resolving = 0;
  if (!real_malloc || !real_calloc || !real_realloc || !real_free || !real_posix_memalign) abort();
}

uint64_t bench_malloc_calls(void) { return atomic_load_explicit(&malloc_calls, memory_order_relaxed); }

uint64_t bench_blas_malloc_calls(void) {
  return atomic_load_explicit(&blas_malloc_calls, memory_order_relaxed);
}

static void count(void) {
  atomic_fetch_add_explicit(&malloc_calls, 1, memory_order_relaxed);
  if (in_sgemm) atomic_fetch_add_explicit(&blas_malloc_calls, 1, memory_order_relaxed);
}

void *malloc(size_t n) {
  resolve();
  if (!real_malloc) return boot_alloc(n);
  count();
  return real_malloc(n);
}

void *calloc(size_t n, size_t size) {
  resolve();
  if (!real_calloc) return size && n > SIZE_MAX / size ? NULL : boot_alloc(n * size);
  count();
  return real_calloc(n, size);
}

void *realloc(void *p, size_t n) {
  resolve();
  if (!real_realloc || in_boot(p)) {
    size_t old = 0;
    if (p) memcpy(&old, (char *)p - sizeof(size_t), sizeof old);
    void *q = real_malloc ? malloc(n) : boot_alloc(n);
    if (q && p) memcpy(q, p, old < n ? old : n);
    return q;
  }
  count();
  return real_realloc(p, n);
}

void free(void *p) {
  if (!p || in_boot(p)) return;
  resolve();
  real_free(p);
}

int posix_memalign(void **out, size_t align, size_t n) {
  resolve();
  count();
  return real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n) {
  resolve();
  count();
  return real_aligned_alloc ? real_aligned_alloc(align, n) : NULL;
}

void *memalign(size_t align, size_t n) {
  resolve();
  count();
  return real_memalign ? real_memalign(align, n) : NULL;
}

#endif /* BENCH_NO_INTERPOSE */

/* ----------------------------------------------------------- cblas_sgemm */

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
                         const enum CBLAS_TRANSPOSE, const blasint, const blasint, const blasint,
                         const float, const float *, const blasint, const float *, const blasint,
                         const float, float *, const blasint);
static sgemm_fn real_sgemm;
static bool gemm_recording, gemm_timing;
static bench_gemm_call *gemm_list;
static size_t gemm_n, gemm_cap;
static double gemm_secs;
static atomic_uint_fast64_t gemm_count;

static sgemm_fn sgemm_next(void) {
  if (!real_sgemm) LOAD_NEXT(real_sgemm, "cblas_sgemm");
  if (!real_sgemm) abort();
  return real_sgemm;
}

void bench_gemm_record(bool on) {
  gemm_recording = on;
  if (on) gemm_n = 0;
}

size_t bench_gemm_recorded(const bench_gemm_call **calls) {
  *calls = gemm_list;
  return gemm_n;
}

void bench_gemm_timing(bool on) {
  gemm_timing = on;
  if (on) gemm_secs = 0;
}

double bench_gemm_seconds(void) { return gemm_secs; }

uint64_t bench_gemm_calls(void) { return atomic_load_explicit(&gemm_count, memory_order_relaxed); }

void bench_real_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc) {
  sgemm_next()((enum CBLAS_ORDER)order, (enum CBLAS_TRANSPOSE)ta, (enum CBLAS_TRANSPOSE)tb, m, n, k,
               alpha, a, lda, b, ldb, beta, c, ldc);
}

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                 const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n, const blasint k,
                 const float alpha, const float *a, const blasint lda, const float *b,
                 const blasint ldb, const float beta, float *c, const blasint ldc) {
  sgemm_fn f = sgemm_next();
  atomic_fetch_add_explicit(&gemm_count, 1, memory_order_relaxed);
  if (gemm_recording) {
    if (gemm_n == gemm_cap) { /* grows while recording only, never in a timed step */
      size_t cap = gemm_cap ? 2 * gemm_cap : 64;
      bench_gemm_call *p = realloc(gemm_list, cap * sizeof *p);
      if (!p) abort();
      gemm_list = p;
      gemm_cap = cap;
    }
    gemm_list[gemm_n++] = (bench_gemm_call){(int)order, (int)ta, (int)tb, (int)m, (int)n, (int)k,
                                            (int)lda, (int)ldb, (int)ldc, alpha, beta};
  }
  in_sgemm = true;
  if (!gemm_timing) {
    f(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    double t0 = bench_now();
    f(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    gemm_secs += bench_now() - t0;
  }
  in_sgemm = false;
}
