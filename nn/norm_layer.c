/* Group and layer normalisation: the fused per-channel node of nn/norm.c
 * on a (1, groups, values) view of the input, each group (n, g) or each
 * leading index a "channel" of that view, then the elementwise affine. */
#include <string.h>

#include "nn_internal.h"

/* y = x normalised over each row of its (1, rows, cols) view, back in x's shape */
static tg_tensor *normalise_rows(tg_tensor *x, size_t rows, size_t cols, double eps) {
  tg_tensor *y = nn_norm_channels(tg_reshape(x, TG_SHAPE(1, rows, cols)), NULL, NULL, NULL, NULL, eps,
                                  NULL, NULL);
  return tg_reshape(y, x->ndim, x->shape);
}

/* ---------------------------------------------------------- group_norm */

/* weight or bias: float (C), of x's dtype; PyTorch's words */
static bool check_group_affine(const char *what, int argno, const tg_tensor *t, const tg_tensor *x) {
  char a[96], b[96];
  if (!t) return true;
  if (!tg_tensor_check(t, "group_norm", argno)) return false;
  if (t->ndim != 1 || t->shape[0] != x->shape[1] || t->dtype != x->dtype) {
    tg_error("group_norm: expected %s to be a %s vector of size equal to the number of channels in "
             "input, but got %s of shape %s and input of shape %s",
             what, tg_dtype_name(x->dtype), what, tg_shape_str(t, a, sizeof a), tg_shape_str(x, b, sizeof b));
    return false;
  }
  return true;
}

tg_tensor *tg_group_norm(tg_tensor *x, int num_groups, tg_tensor *weight, tg_tensor *bias, double eps) {
  char a[96];
  if (!ops_check_float("group_norm", x, 1)) return NULL;
  if (x->ndim < 2) {
    tg_error("group_norm: input must be (N, C, ...) with at least 2 dims, got %s", tg_shape_str(x, a, sizeof a));
    return NULL;
  }
  if (num_groups <= 0) {
    tg_error("group_norm: expected num groups to be greater than 0, got %d", num_groups);
    return NULL;
  }
  size_t N = x->shape[0], C = x->shape[1], G = (size_t)num_groups;
  size_t spatial = tg_shape_numel(x->ndim - 2, x->shape + 2);
  /* PyTorch's first check, on (N C / G, G, spatial) */
  if (N * C / G * spatial == 1) {
    tg_error("group_norm: expected more than 1 value per channel when training, got input %s with "
             "%d groups", tg_shape_str(x, a, sizeof a), num_groups);
    return NULL;
  }
  if (C % G != 0) {
    tg_error("group_norm: expected number of channels in input to be divisible by num_groups, but "
             "got input of shape %s and num_groups=%d", tg_shape_str(x, a, sizeof a), num_groups);
    return NULL;
  }
  if (!check_group_affine("weight", 3, weight, x) || !check_group_affine("bias", 4, bias, x)) return NULL;
  tg_tensor *y = normalise_rows(x, N * G, C / G * spatial, eps);
  /* the affine is per channel, not per group: (C, 1, ..., 1) against (N, C, ...) */
  size_t shape[TG_MAX_DIMS] = {C};
  for (int d = 1; d < x->ndim - 1; d++) shape[d] = 1;
  if (weight) y = tg_mul(y, tg_reshape(weight, x->ndim - 1, shape));
  if (bias) y = tg_add(y, tg_reshape(bias, x->ndim - 1, shape));
  return y;
}

/* ---------------------------------------------------------- layer_norm */

static bool same_dims(int na, const size_t *a, int nb, const size_t *b) {
  return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

bool nn_check_norm_affine(const char *op, const char *what, int argno, const tg_tensor *t,
                          const tg_tensor *x, int nd, const size_t *ns) {
  char a[96], b[96];
  if (!t) return true;
  if (!tg_tensor_check(t, op, argno)) return false;
  if (!same_dims(t->ndim, t->shape, nd, ns) || t->dtype != x->dtype) {
    tg_error("%s: expected %s to be %s of same shape as normalized_shape, but got %s %s of "
             "shape %s and normalized_shape = %s",
             op, what, tg_dtype_name(x->dtype), what, tg_dtype_name(t->dtype), tg_shape_str(t, a, sizeof a),
             tg_dims_str(nd, ns, b, sizeof b));
    return false;
  }
  return true;
}

bool nn_check_normalized_shape(const char *op, const tg_tensor *x, int ndim, const size_t *ns) {
  char a[96], b[96], c[96];
  if (!ops_check_float(op, x, 1) || !tg_shape_given(op, ndim, ns)) return false;
  if (ndim < 1) {
    tg_error("%s: expected normalized_shape to be at least 1-dimensional, i.e., containing "
             "at least one element, but got normalized_shape = []", op);
    return false;
  }
  if (ndim > x->ndim || !same_dims(ndim, x->shape + x->ndim - ndim, ndim, ns)) {
    tg_error("%s: given normalized_shape=%s, expected input with shape [*, %s, but got "
             "input of size %s",
             op, tg_dims_str(ndim, ns, a, sizeof a), tg_dims_str(ndim, ns, b, sizeof b) + 1,
             tg_shape_str(x, c, sizeof c));
    return false;
  }
  return true;
}

tg_tensor *tg_layer_norm(tg_tensor *x, int ndim, const size_t *normalized_shape, tg_tensor *weight,
                         tg_tensor *bias, double eps) {
  if (!nn_check_normalized_shape("layer_norm", x, ndim, normalized_shape) ||
      !nn_check_norm_affine("layer_norm", "weight", 4, weight, x, ndim, normalized_shape) ||
      !nn_check_norm_affine("layer_norm", "bias", 5, bias, x, ndim, normalized_shape))
    return NULL;
  size_t cols = tg_shape_numel(ndim, normalized_shape);
  size_t rows = tg_shape_numel(x->ndim - ndim, x->shape);
  if (ndim == 1 && rows && cols) return nn_layer_norm_rows(x, weight, bias, eps); /* one node */
  tg_tensor *y = normalise_rows(x, rows, cols, eps);
  if (weight) y = tg_mul(y, weight); /* normalized_shape: the trailing dims broadcast */
  if (bias) y = tg_add(y, bias);
  return y;
}
