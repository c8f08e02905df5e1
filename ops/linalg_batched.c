/* bmm, mv, addmm, baddbmm: tg_matmul with PyTorch's stricter shape rules
 * (no broadcasting of batch dims, exact ranks) and the beta/alpha scalings.
 * Each checks shapes itself, so a message names the op the caller used.
 * float32, float64 or int64 operands of one dtype, as PyTorch's. */
#include "ops_internal.h"

static bool check_rank(const char *op, const tg_tensor *t, int argno, int ndim, const char *what) {
  if (t->ndim == ndim) return true;
  tg_error("%s: %s (argument %d) must be a %dD tensor, got %dD", op, what, argno, ndim, t->ndim);
  return false;
}

/* a [.., n, k] @ b [.., k, p]: inner sizes and (3-D) batch sizes agree */
static bool check_product(const char *op, const tg_tensor *a, const tg_tensor *b) {
  int r = a->ndim - 2;
  bool ok = a->shape[r + 1] == b->shape[r] && (r == 0 || a->shape[0] == b->shape[0]);
  if (!ok) {
    char b1[96], b2[96];
    tg_error("%s: shapes %s and %s cannot be multiplied%s", op, tg_shape_str(a, b1, sizeof b1),
             tg_shape_str(b, b2, sizeof b2), r ? " (batch sizes must be equal)" : "");
  }
  return ok;
}

/* both float or both int64, one dtype */
static bool check_two(const char *op, const tg_tensor *a, const tg_tensor *b) {
  return ops_check_numeric(op, a, 1) && ops_check_numeric(op, b, 2) && ops_check_same_dtype(op, a, b);
}

tg_tensor *tg_bmm(tg_tensor *a, tg_tensor *b) {
  if (!check_two("bmm", a, b) || !check_rank("bmm", a, 1, 3, "batch1") ||
      !check_rank("bmm", b, 2, 3, "batch2") || !check_product("bmm", a, b))
    return NULL;
  return tg_matmul(a, b);
}

tg_tensor *tg_mv(tg_tensor *a, tg_tensor *v) {
  if (!check_two("mv", a, v) || !check_rank("mv", a, 1, 2, "matrix") ||
      !check_rank("mv", v, 2, 1, "vector"))
    return NULL;
  if (a->shape[1] != v->shape[0]) {
    char b1[96], b2[96];
    tg_error("mv: matrix %s and vector %s cannot be multiplied", tg_shape_str(a, b1, sizeof b1),
             tg_shape_str(v, b2, sizeof b2));
    return NULL;
  }
  return tg_matmul(a, v);
}

/* beta * input + alpha * prod, input expandable (not merely broadcastable)
 * to prod's shape. beta 0 ignores input, NaN and inf in it too, as PyTorch:
 * its share is masked_fill'ed to zeros, which keeps a zero gradient. */
static tg_tensor *scaled_sum(const char *op, tg_tensor *input, tg_tensor *prod, double beta, double alpha) {
  if (!prod) return NULL;
  size_t shape[TG_MAX_DIMS];
  int nd = 0;
  bool ok = input->ndim <= prod->ndim &&
            tg_broadcast_shapes(op, input->ndim, input->shape, prod->ndim, prod->shape, &nd, shape) == 0;
  for (int k = 0; ok && k < nd; k++) ok = shape[k] == prod->shape[k];
  if (!ok) {
    char b1[96], b2[96];
    tg_error("%s: input %s cannot be expanded to the product's shape %s", op,
             tg_shape_str(input, b1, sizeof b1), tg_shape_str(prod, b2, sizeof b2));
    return NULL;
  }
  if (prod->dtype == TG_INT64) {
    /* PyTorch casts the scalars to int64: truncated toward 0 */
    if (!ops_check_int_value(op, prod, beta) || !ops_check_int_value(op, prod, alpha)) return NULL;
    beta = (double)(int64_t)beta;
    alpha = (double)(int64_t)alpha;
  }
  tg_tensor *p = alpha == 1 ? prod : tg_mul_scalar(prod, alpha);
  tg_tensor *in;
  if (beta == 0) in = tg_masked_fill(input, tg_full(TG_BOOL, 0, NULL, 1), 0.0);
  else in = beta == 1 ? input : tg_mul_scalar(input, beta);
  return tg_add(in, p);
}

/* the three operands of addmm/baddbmm, numbered as the caller passed them:
 * of one dtype; baddbmm converts input to the batches' dtype, as PyTorch */
static bool check_three(const char *op, tg_tensor **input, const tg_tensor *a, const tg_tensor *b,
                        bool convert_input) {
  if (!ops_check_numeric(op, *input, 1) || !ops_check_numeric(op, a, 2) || !ops_check_numeric(op, b, 3))
    return false;
  if (convert_input && a->dtype == b->dtype && (*input)->dtype != a->dtype)
    return (*input = tg_to_dtype(*input, a->dtype)) != NULL;
  if ((*input)->dtype != a->dtype || a->dtype != b->dtype) {
    tg_error("%s: dtypes differ (%s, %s and %s); convert with tg_to_dtype", op,
             tg_dtype_name((*input)->dtype), tg_dtype_name(a->dtype), tg_dtype_name(b->dtype));
    return false;
  }
  return true;
}

tg_tensor *tg_addmm(tg_tensor *input, tg_tensor *m1, tg_tensor *m2, double beta, double alpha) {
  if (!check_three("addmm", &input, m1, m2, false) || !check_rank("addmm", m1, 2, 2, "mat1") ||
      !check_rank("addmm", m2, 3, 2, "mat2") || !check_product("addmm", m1, m2))
    return NULL;
  return scaled_sum("addmm", input, tg_matmul(m1, m2), beta, alpha);
}

tg_tensor *tg_baddbmm(tg_tensor *input, tg_tensor *b1, tg_tensor *b2, double beta, double alpha) {
  if (!check_three("baddbmm", &input, b1, b2, true) || !check_rank("baddbmm", b1, 2, 3, "batch1") ||
      !check_rank("baddbmm", b2, 3, 3, "batch2") || !check_product("baddbmm", b1, b2))
    return NULL;
  return scaled_sum("baddbmm", input, tg_matmul(b1, b2), beta, alpha);
}
