/* scatter and scatter_value (a node each, on the kernel of ops/index.c), and
 * take_along_dim and index_fill, composed from differentiable ops (gather,
 * expand, masked_fill), so their gradients and double backward come along. */
#include <string.h>

#include "ops_internal.h"

/* a and indices broadcast against each other except along dim, where each
 * keeps its own size; then gather (indices are not wrapped, as PyTorch) */
tg_tensor *tg_take_along_dim(tg_tensor *a, tg_tensor *indices, int dim) {
  if (!ops_check_numeric("take_along_dim", a, 1) || !ops_check_index("take_along_dim", indices, 2))
    return NULL;
  if (a->ndim != indices->ndim) {
    tg_error("take_along_dim: input and indices should have the same number of dimensions, got "
             "%d and %d", a->ndim, indices->ndim);
    return NULL;
  }
  int d = tg_norm_dim("take_along_dim", dim, a->ndim);
  if (d < 0) return NULL;
  if (a->ndim == 0) return tg_gather(a, d, indices);
  size_t sa[TG_MAX_DIMS], shape[TG_MAX_DIMS];
  int nd;
  memcpy(sa, a->shape, (size_t)a->ndim * sizeof *sa);
  sa[d] = indices->shape[d];
  if (tg_broadcast_shapes("take_along_dim", a->ndim, sa, indices->ndim, indices->shape, &nd, shape))
    return NULL;
  tg_tensor *ix = tg_expand(indices, nd, shape);
  shape[d] = a->shape[d];
  return tg_gather(tg_expand(a, nd, shape), d, ix);
}

/* PyTorch's dim=None: a and indices flattened, a 1-D result */
tg_tensor *tg_take_along_dim_flat(tg_tensor *a, tg_tensor *indices) {
  if (!ops_check_numeric("take_along_dim", a, 1) || !ops_check_index("take_along_dim", indices, 2))
    return NULL;
  return tg_gather(tg_reshape(a, TG_SHAPE(a->numel)), 0, tg_reshape(indices, TG_SHAPE(indices->numel)));
}

/* a bool [.., size, ..] (1 elsewhere) true at the rows index picks along d;
 * indices in [-size, size), negative counting from the end, as PyTorch */
static tg_tensor *row_mask(const char *op, const tg_tensor *a, int d, tg_tensor *index) {
  size_t size = a->ndim ? a->shape[d] : 1, shape[TG_MAX_DIMS];
  for (int k = 0; k < a->ndim; k++) shape[k] = k == d ? size : 1;
  tg_tensor *mask = tg_zeros(TG_BOOL, a->ndim, shape), *ix = tg_contiguous(index);
  if (!mask || !ix) return NULL;
  const int64_t *v = (const int64_t *)tg_ptr(ix);
  unsigned char *m = (unsigned char *)tg_ptr(mask);
  for (size_t i = 0; i < ix->numel; i++) {
    if (v[i] < -(int64_t)size || v[i] >= (int64_t)size) {
      tg_error("%s: index %lld is out of bounds for dim %d with size %zu", op, (long long)v[i], d, size);
      return NULL;
    }
    m[v[i] < 0 ? v[i] + (int64_t)size : v[i]] = 1;
  }
  return mask;
}

tg_tensor *tg_index_fill(tg_tensor *a, int dim, tg_tensor *index, double value) {
  if (!tg_tensor_check(a, "index_fill", 1) || !ops_check_index("index_fill", index, 3)) return NULL;
  if (index->ndim > 1) {
    tg_error("index_fill: index must be 0-d or 1-D, got %d dims", index->ndim);
    return NULL;
  }
  int d = tg_norm_dim("index_fill", dim, a->ndim);
  if (d < 0) return NULL;
  tg_tensor *mask = row_mask("index_fill", a, d, index);
  return mask ? tg_masked_fill(a, mask, value) : NULL;
}

/* ------------------------------------------------ scatter/scatter_value */

static tg_tensor *scatter_forward(const char *op, tg_tensor *a, int dim, tg_tensor *index,
                                  tg_tensor *src, double value, int *d) {
  *d = tg_norm_dim(op, dim, a->ndim);
  if (*d < 0 || !ops_check_gather_shapes(op, a, *d, index, src)) return NULL;
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *out = tg_clone(a);
  tg_set_grad_enabled(prev);
  if (!out || !ops_scatter_kernel(op, a, *d, index, out, src, OPS_SCATTER_SET, value)) return NULL;
  return out;
}

/* the written places get no gradient: g with them set to 0 */
static void scatter_value_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_scatter_value(g, (int)tg_node_i(n)[0], tg_node_saved(n), 0.0);
}
/* the written places have a constant value: zero tangent there */
static tg_tensor *scatter_value_jvp(tg_node *n, tg_tensor *const *t) {
  return tg_scatter_value(t[0], (int)tg_node_i(n)[0], tg_node_saved(n), 0.0);
}
TG_DEFINE_OP_JVP(OP_SCATTER_VALUE, "ScatterBackward1", scatter_value_backward, scatter_value_jvp, TG_NODE_I | TG_NODE_SAVED);

tg_tensor *tg_scatter_value(tg_tensor *a, int dim, tg_tensor *index, double value) {
  if (!ops_check_numeric("scatter", a, 1) || !ops_check_index("scatter", index, 3) ||
      !ops_check_int_value("scatter", a, value))
    return NULL;
  int d;
  tg_tensor *out = scatter_forward("scatter", a, dim, index, NULL, value, &d);
  tg_node *n = out ? ops_record(out, &OP_SCATTER_VALUE, 1, &a) : NULL;
  if (n) {
    tg_node_i(n)[0] = d;
    tg_node_save(n, index);
  }
  return out;
}

static void scatter_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  int d = (int)tg_node_i(n)[0];
  tg_tensor *index = tg_node_saved(n);
  if (tg_node_needs_grad(n, 0)) gi[0] = tg_scatter_value(g, d, index, 0.0);
  if (tg_node_needs_grad(n, 1)) gi[1] = ops_scatter_src_grad(g, d, index, n->in[1]);
}
/* linear in (a, src): the scatter of the tangents */
static tg_tensor *scatter_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *ta = t[0] ? t[0] : tg_zeros_like(n->out), *ts = t[1] ? t[1] : tg_zeros_like(n->in[1]);
  return tg_scatter(ta, (int)tg_node_i(n)[0], tg_node_saved(n), ts);
}
TG_DEFINE_OP_JVP(OP_SCATTER, "ScatterBackward0", scatter_backward, scatter_jvp, TG_NODE_I | TG_NODE_SAVED);

tg_tensor *tg_scatter(tg_tensor *a, int dim, tg_tensor *index, tg_tensor *src) {
  /* src is argument 4: checked on its own first, so a message names it so */
  if (!ops_check_numeric("scatter", a, 1) || !ops_check_numeric("scatter", src, 4) ||
      !ops_check_same_dtype("scatter", a, src) || !ops_check_index("scatter", index, 3))
    return NULL;
  int d;
  tg_tensor *out = scatter_forward("scatter", a, dim, index, src, 0, &d);
  tg_node *n = out ? ops_record(out, &OP_SCATTER, 2, (tg_tensor *[]){a, src}) : NULL;
  if (n) {
    tg_node_i(n)[0] = d;
    tg_node_save(n, index);
  }
  return out;
}

/* ------------------------------------------------------------ index_put */

/* the flat row of a[i0, i1, .., i(n-1)] in a viewed as [prod(shape[:n]), ..]
 * for every element of the indices broadcast together (shape bshape) */
static tg_tensor *flat_rows(const tg_tensor *a, int n, tg_tensor **indices, int *nb, size_t *bshape) {
  *nb = 0;
  for (int k = 0; k < n; k++)
    if (tg_broadcast_shapes("index_put", *nb, bshape, indices[k]->ndim, indices[k]->shape, nb, bshape))
      return NULL;
  size_t m = tg_shape_numel(*nb, bshape);
  tg_tensor *rows = tg_zeros(TG_INT64, 1, (size_t[]){m});
  if (!rows) return NULL;
  int64_t *r = (int64_t *)tg_ptr(rows);
  size_t mult = 1;
  for (int k = n - 1; k >= 0; k--) {
    tg_tensor *ix = tg_contiguous(tg_expand(indices[k], *nb, bshape));
    if (!ix) return NULL;
    const int64_t *v = (const int64_t *)tg_ptr(ix);
    int64_t size = (int64_t)a->shape[k];
    for (size_t i = 0; i < m; i++) {
      if (v[i] < -size || v[i] >= size) {
        tg_error("index_put: index %lld is out of bounds for dim %d with size %lld", (long long)v[i], k,
                 (long long)size);
        return NULL;
      }
      r[i] += (v[i] < 0 ? v[i] + size : v[i]) * (int64_t)mult;
    }
    mult *= a->shape[k];
  }
  return rows;
}

/* each bool mask among the n indices becomes its nonzero() columns, one
 * int64 index for each dim it covers, as PyTorch's; *n becomes the count */
static bool expand_masks(const tg_tensor *a, int *n, tg_tensor **indices, tg_tensor **out) {
  long dims = 0;
  for (int k = 0; k < *n; k++) {
    const tg_tensor *ix = indices[k];
    if (!tg_tensor_check(ix, "index_put", 3)) return false;
    if (ix->dtype != TG_INT64 && ix->dtype != TG_BOOL) {
      tg_error("index_put: tensors used as indices must be int64 or bool, got %s", tg_dtype_name(ix->dtype));
      return false;
    }
    if (ix->dtype == TG_BOOL && ix->ndim == 0) {
      tg_error("index_put: a 0-d bool index is not supported (index %d)", k);
      return false;
    }
    dims += ix->dtype == TG_BOOL ? ix->ndim : 1;
  }
  if (dims > a->ndim) {
    tg_error("index_put: too many indices for tensor of dimension %d (got %ld)", a->ndim, dims);
    return false;
  }
  int m = 0;
  for (int k = 0; k < *n; k++) {
    tg_tensor *ix = indices[k];
    if (ix->dtype == TG_INT64) {
      out[m++] = ix;
      continue;
    }
    for (int j = 0; j < ix->ndim; j++)
      if (ix->shape[j] != a->shape[m + j]) {
        char b1[96], b2[96];
        tg_error("index_put: the shape of the mask %s at index %d does not match the shape of the "
                 "indexed tensor %s at index %d", tg_shape_str(ix, b1, sizeof b1), j,
                 tg_shape_str(a, b2, sizeof b2), m + j);
        return false;
      }
    tg_tensor *nz = tg_nonzero(ix);
    for (int j = 0; j < ix->ndim; j++)
      if (!(out[m++] = tg_select(nz, 1, j))) return false;
  }
  *n = m;
  return true;
}

/* a[i0, .., i(n-1)] = values (+= with accumulate) as a scatter along dim 0
 * of a viewed as [rows, rest..]: the gradient comes from scatter's */
tg_tensor *tg_index_put(tg_tensor *a, int n, tg_tensor **indices, tg_tensor *values, bool accumulate) {
  if (!ops_check_numeric("index_put", a, 1)) return NULL;
  if (n < 1) {
    tg_error("index_put: %d index tensors (expected at least 1)", n);
    return NULL;
  }
  if (!indices) {
    tg_error("index_put: indices (argument 3) is NULL");
    return NULL;
  }
  tg_tensor *ixs[TG_MAX_DIMS];
  bool one_index = n == 1;
  if (!expand_masks(a, &n, indices, ixs)) return NULL;
  bool one_mask = one_index && indices[0]->dtype == TG_BOOL;
  indices = ixs;
  if (!ops_check_numeric("index_put", values, 4)) return NULL;
  /* PyTorch runs one mask and one value without accumulate as masked_fill,
   * which converts the value to a's dtype; everywhere else they must agree */
  if (one_mask && !accumulate && values->numel == 1 && values->dtype != a->dtype)
    values = tg_to_dtype(values, a->dtype);
  if (values->dtype != a->dtype) {
    tg_error("index_put: values dtype %s differs from the input's %s", tg_dtype_name(values->dtype),
             tg_dtype_name(a->dtype));
    return NULL;
  }
  size_t bshape[TG_MAX_DIMS], target[TG_MAX_DIMS], flat[TG_MAX_DIMS], vs[TG_MAX_DIMS];
  int nb, rest = a->ndim - n;
  tg_tensor *rows = flat_rows(a, n, indices, &nb, bshape);
  if (!rows) return NULL;
  if (nb + rest > TG_MAX_DIMS) {
    tg_error("index_put: the indexed shape would have more than %d dims", TG_MAX_DIMS);
    return NULL;
  }
  memcpy(target, bshape, (size_t)nb * sizeof *target);
  memcpy(target + nb, a->shape + n, (size_t)rest * sizeof *target);
  int nv = 0;
  bool ok = values->ndim <= nb + rest &&
            !tg_broadcast_shapes("index_put", values->ndim, values->shape, nb + rest, target, &nv, vs);
  for (int k = 0; ok && k < nv; k++) ok = vs[k] == target[k];
  if (!ok) {
    char b1[96];
    tg_error("index_put: shape mismatch: values of shape %s cannot be broadcast to the indexed shape",
             tg_shape_str(values, b1, sizeof b1));
    return NULL;
  }
  /* a as [rows, rest..], values as [m, rest..], the row index spread over rest */
  flat[0] = tg_shape_numel(n, a->shape);
  memcpy(flat + 1, a->shape + n, (size_t)rest * sizeof *flat);
  tg_tensor *a2 = tg_reshape(a, rest + 1, flat);
  flat[0] = rows->numel;
  tg_tensor *v2 = tg_reshape(tg_expand(values, nb + rest, target), rest + 1, flat);
  size_t ones[TG_MAX_DIMS];
  ones[0] = rows->numel;
  for (int k = 1; k <= rest; k++) ones[k] = 1;
  tg_tensor *ix = tg_expand(tg_reshape(rows, rest + 1, ones), rest + 1, flat);
  tg_tensor *out = accumulate ? tg_scatter_add(a2, 0, ix, v2) : tg_scatter(a2, 0, ix, v2);
  return tg_reshape(out, a->ndim, a->shape);
}
