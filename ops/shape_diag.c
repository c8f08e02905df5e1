/* diagonal (a view), diag and trace. diagonal's backward writes the
 * gradient into the diagonal of zeros (diagonal_scatter), whose own
 * backward is the diagonal again: double backward for free. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

static tg_tensor *diagonal_scatter(tg_tensor *g, int ndim, const size_t *shape, long offset,
                                   int d1, int d2);

/* the diagonal's shape, strides and offset in a's storage */
static size_t diag_layout(const tg_tensor *a, long offset, int d1, int d2, size_t *shape,
                          ptrdiff_t *st, size_t *start) {
  int nd = 0;
  for (int k = 0; k < a->ndim; k++)
    if (k != d1 && k != d2) shape[nd] = a->shape[k], st[nd++] = a->strides[k];
  long r = (long)a->shape[d1], c = (long)a->shape[d2];
  long len = offset >= 0 ? (c - offset < r ? c - offset : r) : (r + offset < c ? r + offset : c);
  if (len < 0) len = 0;
  *start = a->offset;
  if (len > 0)
    *start += offset >= 0 ? (size_t)offset * (size_t)a->strides[d2]
                          : (size_t)(-offset) * (size_t)a->strides[d1];
  shape[nd] = (size_t)len;
  st[nd] = a->strides[d1] + a->strides[d2];
  return (size_t)len;
}

static void diagonal_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  const int64_t *i = tg_node_i(n);
  gi[0] = diagonal_scatter(g, n->in[0]->ndim, n->in[0]->shape, (long)i[0], (int)i[1], (int)i[2]);
}
/* a view: the tangent's diagonal */
static tg_tensor *diagonal_jvp(tg_node *n, tg_tensor *const *t) {
  const int64_t *i = tg_node_i(n);
  return tg_diagonal(t[0], (long)i[0], (int)i[1], (int)i[2]);
}
TG_DEFINE_OP_JVP(OP_DIAGONAL, "DiagonalBackward", diagonal_backward, diagonal_jvp, TG_NODE_I);

static void diagonal_scatter_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  const int64_t *i = tg_node_i(n);
  gi[0] = tg_diagonal(g, (long)i[0], (int)i[1], (int)i[2]);
}
static tg_tensor *diagonal_scatter_jvp(tg_node *n, tg_tensor *const *t) {
  const int64_t *i = tg_node_i(n);
  return diagonal_scatter(t[0], n->out->ndim, n->out->shape, (long)i[0], (int)i[1], (int)i[2]);
}
TG_DEFINE_OP_JVP(OP_DIAGONAL_SCATTER, "DiagonalScatterBackward", diagonal_scatter_backward, diagonal_scatter_jvp, TG_NODE_I);

static void save_args(tg_node *n, long offset, int d1, int d2) {
  if (n) tg_node_i(n)[0] = offset, tg_node_i(n)[1] = d1, tg_node_i(n)[2] = d2;
}

/* zeros of shape with g written into its diagonal (offset, d1, d2) */
static tg_tensor *diagonal_scatter(tg_tensor *g, int ndim, const size_t *shape, long offset,
                                   int d1, int d2) {
  if (!g) return NULL;
  tg_tensor *out = tg_zeros(g->dtype, ndim, shape);
  if (!out) return NULL;
  size_t s[TG_MAX_DIMS], start;
  ptrdiff_t st[TG_MAX_DIMS];
  diag_layout(out, offset, d1, d2, s, st, &start);
  tg_tensor *window = tg_tensor_view(out, ndim - 1, s, st, start);
  if (!window || tg_copy_(window, g) != 0) return NULL;
  out->storage->version = 0;
  save_args(ops_record(out, &OP_DIAGONAL_SCATTER, 1, &g), offset, d1, d2);
  return out;
}

tg_tensor *tg_diagonal(tg_tensor *a, long offset, int dim1, int dim2) {
  if (!tg_tensor_check(a, "diagonal", 1)) return NULL;
  if (a->ndim < 2) {
    tg_error("diagonal: Dimension out of range (a %d-d tensor has no two dims to take the "
             "diagonal of)", a->ndim);
    return NULL;
  }
  int d1 = tg_norm_dim("diagonal", dim1, a->ndim), d2 = tg_norm_dim("diagonal", dim2, a->ndim);
  if (d1 < 0 || d2 < 0) return NULL;
  if (d1 == d2) {
    tg_error("diagonal: diagonal dimensions cannot be identical %d, %d", dim1, dim2);
    return NULL;
  }
  size_t s[TG_MAX_DIMS], start;
  ptrdiff_t st[TG_MAX_DIMS];
  diag_layout(a, offset, d1, d2, s, st, &start);
  tg_tensor *out = tg_tensor_view(a, a->ndim - 1, s, st, start);
  save_args(ops_record(out, &OP_DIAGONAL, 1, &a), offset, d1, d2);
  return out;
}

/* 1-d: the (n+|k|)-square matrix with a on diagonal k; 2-d: a copy of
 * diagonal k. An offset past the matrix gives an empty diagonal (torch
 * 1.13 fails there with "integer multiplication overflow"). */
tg_tensor *tg_diag(tg_tensor *a, long offset) {
  if (!tg_tensor_check(a, "diag", 1)) return NULL;
  if (a->ndim == 2) return tg_clone(tg_diagonal(a, offset, 0, 1));
  if (a->ndim != 1) {
    tg_error("diag: matrix or a vector expected (got a %d-d tensor)", a->ndim);
    return NULL;
  }
  size_t k = (size_t)(offset < 0 ? -offset : offset), n = a->shape[0] + k;
  if (k > (size_t)PTRDIFF_MAX / 2 || (n && n > SIZE_MAX / n)) {
    tg_error("diag: offset %ld is too large", offset);
    return NULL;
  }
  return diagonal_scatter(a, 2, (size_t[]){n, n}, offset, 0, 1);
}

tg_tensor *tg_trace(tg_tensor *a) {
  if (!tg_tensor_check(a, "trace", 1)) return NULL;
  if (a->ndim != 2) {
    tg_error("trace: expected a matrix, but got tensor with dim %d", a->ndim);
    return NULL;
  }
  return tg_sum(tg_diagonal(a, 0, 0, 1));
}
