/* scatter and scatter_value (a node each, on the kernel of ops/index.c), and
 * take_along_dim and index_fill, composed from differentiable ops (gather,
 * expand, masked_fill), so their gradients and double backward come along. */
#include <string.h>

#include "ops_internal.h"

/* a and indices broadcast against each other except along dim, where each
 * keeps its own size; then gather (indices are not wrapped, as PyTorch) */
tg_tensor *tg_take_along_dim(tg_tensor *a, tg_tensor *indices, int dim) {
  if (!ops_check_float("take_along_dim", a, 1) || !ops_check_index("take_along_dim", indices, 2))
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
TG_DEFINE_OP(OP_SCATTER_VALUE, "ScatterBackward1", scatter_value_backward, TG_NODE_I | TG_NODE_SAVED);

tg_tensor *tg_scatter_value(tg_tensor *a, int dim, tg_tensor *index, double value) {
  if (!ops_check_float("scatter", a, 1) || !ops_check_index("scatter", index, 3)) return NULL;
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
TG_DEFINE_OP(OP_SCATTER, "ScatterBackward0", scatter_backward, TG_NODE_I | TG_NODE_SAVED);

tg_tensor *tg_scatter(tg_tensor *a, int dim, tg_tensor *index, tg_tensor *src) {
  /* src is argument 4: checked on its own first, so a message names it so */
  if (!ops_check_float("scatter", a, 1) || !ops_check_float("scatter", src, 4) ||
      !ops_check_pair("scatter", a, src) || !ops_check_index("scatter", index, 3))
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
