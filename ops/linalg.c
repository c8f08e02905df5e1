/* Matrix products through CBLAS (int64: a loop of its own). One node kind, batched matmul of operands
 * with >= 2 dims (batch dims broadcast); 1-D operands are handled with
 * unsqueeze/squeeze views around it, as PyTorch specifies. A transposed
 * operand is passed to BLAS with its trans flag, never copied. */
#include <cblas.h>
#include <stdatomic.h>
#include <string.h>

#include "ops_internal.h"

/* How BLAS can read a rows x cols matrix with element strides (rs, cs):
 * row-major as is, or transposed. false: it must be copied first. */
static bool blas_layout(size_t rows, size_t cols, ptrdiff_t rs, ptrdiff_t cs, bool *trans, int *ld) {
  if ((cols == 1 || cs == 1) && (rows == 1 || rs >= (ptrdiff_t)cols)) {
    *trans = false;
    *ld = rows == 1 ? (int)(cols > 1 ? cols : 1) : (int)rs;
    if (*ld < (int)cols) *ld = (int)cols;
    return true;
  }
  if ((rows == 1 || rs == 1) && (cols == 1 || cs >= (ptrdiff_t)rows)) {
    *trans = true;
    *ld = cols == 1 ? (int)(rows > 1 ? rows : 1) : (int)cs;
    if (*ld < (int)rows) *ld = (int)rows;
    return true;
  }
  return false;
}

static bool blas_ok(const tg_tensor *t) {
  bool tr = false;
  int ld = 1;
  int r = t->ndim - 2, c = t->ndim - 1;
  return blas_layout(t->shape[r], t->shape[c], t->strides[r], t->strides[c], &tr, &ld);
}

/* Threads for products. A product of at least GEMM_SPLIT_MIN_FLOP is cut
 * into row (or column) blocks of C, one per thread, each a one-thread BLAS
 * call run by tapegrad's workers (tensor/parallel.c). OpenBLAS itself is
 * kept at one thread, set once per configuration (the first product and
 * each tg_set_num_threads), never around a call: its count is process-wide,
 * so a call that raised it would let every other thread's products run on
 * OpenBLAS's threads meanwhile, and its threaded driver sums a large
 * product's elements differently from the one-thread kernel (other last
 * bits at 1 and 2 threads) and mallocs per call. The price is in products
 * of about 5e8 flop and more, where OpenBLAS's threads share packed panels
 * (bench/RESULTS.md, "Figures moved from code comments"). */
#define GEMM_SPLIT_MIN_FLOP 4e6
#define GEMM_SPLIT_MIN_LEN 32

typedef struct gemm_job {
  bool ta, tb, split_rows;
  size_t m, n, k, lda, ldb, ldc;
  tg_dtype dt;
  double beta;
  const char *a, *b;
  char *c;
} gemm_job;

/* C[m0:m1, n0:n1] of the job */
static void gemm_block(const gemm_job *j, size_t m0, size_t m1, size_t n0, size_t n1) {
  if (m1 <= m0 || n1 <= n0) return;
  size_t es = tg_elem_bytes(j->dt);
  const char *a = j->a + (j->ta ? m0 : m0 * j->lda) * es;
  const char *b = j->b + (j->tb ? n0 * j->ldb : n0) * es;
  char *c = j->c + (m0 * j->ldc + n0) * es;
  CBLAS_TRANSPOSE TA = j->ta ? CblasTrans : CblasNoTrans, TB = j->tb ? CblasTrans : CblasNoTrans;
  int m = (int)(m1 - m0), n = (int)(n1 - n0), k = (int)j->k;
  if (j->dt == TG_FLOAT32)
    cblas_sgemm(CblasRowMajor, TA, TB, m, n, k, 1.0f, (const float *)a, (int)j->lda,
                (const float *)b, (int)j->ldb, (float)j->beta, (float *)c, (int)j->ldc);
  else
    cblas_dgemm(CblasRowMajor, TA, TB, m, n, k, 1.0, (const double *)a, (int)j->lda,
                (const double *)b, (int)j->ldb, j->beta, (double *)c, (int)j->ldc);
}

static void gemm_part(void *arg, int part, int n_parts) {
  const gemm_job *j = arg;
  size_t len = j->split_rows ? j->m : j->n;
  size_t lo = len * (size_t)part / (size_t)n_parts, hi = len * (size_t)(part + 1) / (size_t)n_parts;
  if (j->split_rows) gemm_block(j, lo, hi, 0, j->n);
  else gemm_block(j, 0, j->m, lo, hi);
}

/* OpenBLAS to one thread; the first time, the thread count is what
 * OpenBLAS was given (OPENBLAS_NUM_THREADS or all cores) unless
 * tg_set_num_threads came first. Idempotent, so two threads racing to the
 * first product both do the same. */
static atomic_bool blas_configured;
static void blas_configure(void) {
#ifdef OPENBLAS_VERSION
  if (tg_parallel_threads() == 0) tg_parallel_set_threads(openblas_get_num_threads());
  openblas_set_num_threads(1);
#endif
  atomic_store_explicit(&blas_configured, true, memory_order_release);
}

static int product_threads(void) {
  if (__builtin_expect(!atomic_load_explicit(&blas_configured, memory_order_acquire), 0))
    blas_configure();
  int t = tg_parallel_threads();
  return t > 0 ? t : 1;
}

int ops_blas_threads(void) { return product_threads(); }

static void gemm_run(gemm_job *j) {
  if (j->m == 0 || j->n == 0) return;
  if (j->k == 0) {
    for (size_t i = 0; i < j->m && j->beta == 0; i++)
      memset(j->c + i * j->ldc * tg_elem_bytes(j->dt), 0, j->n * tg_elem_bytes(j->dt));
    return;
  }
  int threads = product_threads();
  j->split_rows = j->m >= j->n;
  size_t len = j->split_rows ? j->m : j->n;
  size_t parts = (size_t)threads;
  if (parts > len / GEMM_SPLIT_MIN_LEN) parts = len / GEMM_SPLIT_MIN_LEN;
  double flop = 2.0 * (double)j->m * (double)j->n * (double)j->k;
  if (flop < GEMM_SPLIT_MIN_FLOP || parts < 2) gemm_block(j, 0, j->m, 0, j->n);
  else tg_parallel_run((int)parts, gemm_part, j);
}

/* int64 has no BLAS: a plain loop over any strides, wrapping on overflow
 * as PyTorch's integer products */
static void gemm_i64(const tg_tensor *a, size_t aoff, const tg_tensor *b, size_t boff, tg_tensor *out,
                     size_t ooff) {
  int ra = a->ndim - 2, rb = b->ndim - 2;
  size_t m = a->shape[ra], k = a->shape[ra + 1], n = b->shape[rb + 1];
  ptrdiff_t ar = a->strides[ra], ac = a->strides[ra + 1], br = b->strides[rb], bc = b->strides[rb + 1];
  const int64_t *pa = (const int64_t *)tg_ptr(a) + aoff, *pb = (const int64_t *)tg_ptr(b) + boff;
  int64_t *pc = (int64_t *)tg_ptr(out) + ooff;
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) {
      uint64_t s = 0;
      for (size_t p = 0; p < k; p++)
        s += (uint64_t)pa[(ptrdiff_t)i * ar + (ptrdiff_t)p * ac] * (uint64_t)pb[(ptrdiff_t)p * br + (ptrdiff_t)j * bc];
      pc[i * n + j] = (int64_t)s;
    }
}

static void gemm(const tg_tensor *a, size_t aoff, const tg_tensor *b, size_t boff, tg_tensor *out,
                 size_t ooff) {
  if (out->dtype == TG_INT64) {
    gemm_i64(a, aoff, b, boff, out, ooff);
    return;
  }
  int ra = a->ndim - 2, rb = b->ndim - 2;
  size_t m = a->shape[ra], k = a->shape[ra + 1], n = b->shape[rb + 1];
  bool ta = false, tb = false;
  int lda = 1, ldb = 1;
  blas_layout(m, k, a->strides[ra], a->strides[ra + 1], &ta, &lda);
  blas_layout(k, n, b->strides[rb], b->strides[rb + 1], &tb, &ldb);
  size_t es = tg_elem_bytes(out->dtype);
  gemm_job j = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = (size_t)lda, .ldb = (size_t)ldb,
                .ldc = n, .dt = out->dtype, .beta = 0, .a = tg_ptr(a) + aoff * es,
                .b = tg_ptr(b) + boff * es, .c = tg_ptr(out) + ooff * es};
  gemm_run(&j);
}

void ops_gemm(bool ta, bool tb, size_t m, size_t n, size_t k, const tg_tensor *a, size_t lda,
              const tg_tensor *b, size_t ldb, double beta, tg_tensor *c) {
  gemm_job j = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldc = n,
                .dt = c->dtype, .beta = beta, .a = tg_ptr(a), .b = tg_ptr(b), .c = tg_ptr(c)};
  gemm_run(&j);
}

/* dC = g; dA = g @ B^T, dB = A^T @ g (at the broadcast batch shape: the
 * engine sums over broadcast batch dims) */
static void matmul_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *a = n->in[0], *b = n->in[1];
  if (tg_node_needs_grad(n, 0)) gi[0] = tg_matmul(g, tg_transpose(b, -1, -2));
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_matmul(tg_transpose(a, -1, -2), g);
}
/* tangent: ta @ b + a @ tb */
static tg_tensor *matmul_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *p = t[0] ? tg_matmul(t[0], n->in[1]) : NULL, *q = t[1] ? tg_matmul(n->in[0], t[1]) : NULL;
  return !p ? q : !q ? p : tg_add(p, q);
}
TG_DEFINE_OP_JVP(OP_MATMUL, "MmBackward", matmul_backward, matmul_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));

/* both operands have >= 2 dims */
static tg_tensor *matmul_nd(tg_tensor *a, tg_tensor *b) {
  char b1[96], b2[96];
  size_t m = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1];
  size_t k2 = b->shape[b->ndim - 2], n = b->shape[b->ndim - 1];
  if (k != k2) {
    tg_error("matmul: %s @ %s: inner dimensions %zu and %zu differ", tg_shape_str(a, b1, sizeof b1),
             tg_shape_str(b, b2, sizeof b2), k, k2);
    return NULL;
  }
  if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX) {
    tg_error("matmul: dimensions above 2^31 are not supported by BLAS");
    return NULL;
  }
  size_t batch[TG_MAX_DIMS];
  int nb;
  if (tg_broadcast_shapes("matmul (batch dims)", a->ndim - 2, a->shape, b->ndim - 2, b->shape, &nb, batch))
    return NULL;
  if (nb + 2 > TG_MAX_DIMS) {
    tg_error("matmul: result would have more than %d dims", TG_MAX_DIMS);
    return NULL;
  }
  /* operands BLAS cannot read (e.g. expanded) are copied, without history */
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *ra = blas_ok(a) ? a : tg_clone(a), *rb = blas_ok(b) ? b : tg_clone(b);
  tg_set_grad_enabled(prev);
  size_t shape[TG_MAX_DIMS];
  memcpy(shape, batch, (size_t)nb * sizeof *shape);
  shape[nb] = m;
  shape[nb + 1] = n;
  tg_tensor *out = ra && rb ? tg_tensor_alloc(a->dtype, nb + 2, shape) : NULL;
  if (!out) return NULL;
  size_t nbatch = tg_shape_numel(nb, batch);
  for (size_t i = 0; i < nbatch; i++) {
    /* offsets of batch i in each operand, broadcasting size-1 batch dims */
    size_t aoff = 0, boff = 0, r = i;
    for (int d = nb - 1; d >= 0; d--) {
      size_t id = r % batch[d];
      r /= batch[d];
      int da = d - (nb - (ra->ndim - 2)), db = d - (nb - (rb->ndim - 2));
      if (da >= 0 && ra->shape[da] != 1) aoff += id * (size_t)ra->strides[da];
      if (db >= 0 && rb->shape[db] != 1) boff += id * (size_t)rb->strides[db];
    }
    gemm(ra, aoff, rb, boff, out, i * m * n);
  }
  ops_record(out, &OP_MATMUL, 2, (tg_tensor *[]){a, b});
  return out;
}

tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b) {
  if (!ops_check_numeric("matmul", a, 1) || !ops_check_numeric("matmul", b, 2) ||
      !ops_check_same_dtype("matmul", a, b))
    return NULL;
  if (a->ndim == 0 || b->ndim == 0) {
    tg_error("matmul: both arguments need at least 1 dimension, got %dD and %dD", a->ndim, b->ndim);
    return NULL;
  }
  if (a->ndim == 1 && b->ndim == 1 && a->shape[0] != b->shape[0]) {
    tg_error("matmul: 1D tensors of sizes %zu and %zu: a dot product needs equal sizes",
             a->shape[0], b->shape[0]);
    return NULL;
  }
  tg_tensor *a2 = a->ndim == 1 ? tg_unsqueeze(a, 0) : a; /* [k] -> [1,k] */
  tg_tensor *b2 = b->ndim == 1 ? tg_unsqueeze(b, 1) : b; /* [k] -> [k,1] */
  tg_tensor *out = matmul_nd(a2, b2);
  if (b->ndim == 1) out = tg_squeeze(out, -1);
  if (a->ndim == 1) out = tg_squeeze(out, b->ndim == 1 ? -1 : -2);
  return out;
}

void tg_set_num_threads(int n) {
  tg_parallel_set_threads(n);
  blas_configure();
}

tg_tensor *tg_dot(tg_tensor *a, tg_tensor *b) {
  if (!ops_check_numeric("dot", a, 1) || !ops_check_numeric("dot", b, 2) || !ops_check_same_dtype("dot", a, b))
    return NULL;
  if (a->ndim != 1 || b->ndim != 1) {
    tg_error("dot: 1D tensors expected, but got %dD and %dD tensors", a->ndim, b->ndim);
    return NULL;
  }
  return tg_matmul(a, b);
}

/* a product of every pair, so any dtypes, promoted as tg_mul (PyTorch's) */
tg_tensor *tg_outer(tg_tensor *a, tg_tensor *b) {
  if (!tg_tensor_ok(a, "outer", 1) || !tg_tensor_ok(b, "outer", 2)) return NULL;
  if (a->ndim != 1 || b->ndim != 1) {
    tg_error("outer: 1D tensors expected, but got %dD and %dD tensors", a->ndim, b->ndim);
    return NULL;
  }
  return tg_mul(tg_unsqueeze(a, 1), tg_unsqueeze(b, 0));
}
