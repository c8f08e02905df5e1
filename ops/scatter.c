/* take_along_dim and index_fill, composed from differentiable ops (gather,
 * expand, masked_fill), so their gradients and double backward come along. */
#include <string.h>

#include "ops_internal.h"

static bool check_int64(const char *op, const tg_tensor *idx, int argno) {
  if (!tg_tensor_check(idx, op, argno)) return false;
  if (idx->dtype != TG_INT64) {
    tg_error("%s: index (argument %d) must be int64, got %s", op, argno, tg_dtype_name(idx->dtype));
    return false;
  }
  return true;
}

/* a and indices broadcast against each other except along dim, where each
 * keeps its own size; then gather (indices are not wrapped, as PyTorch) */
tg_tensor *tg_take_along_dim(tg_tensor *a, tg_tensor *indices, int dim) {
  if (!ops_check_float("take_along_dim", a, 1) || !check_int64("take_along_dim", indices, 2))
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
  if (!tg_tensor_check(a, "index_fill", 1) || !check_int64("index_fill", index, 3)) return NULL;
  if (index->ndim > 1) {
    tg_error("index_fill: index must be 0-d or 1-D, got %d dims", index->ndim);
    return NULL;
  }
  int d = tg_norm_dim("index_fill", dim, a->ndim);
  if (d < 0) return NULL;
  tg_tensor *mask = row_mask("index_fill", a, d, index);
  return mask ? tg_masked_fill(a, mask, value) : NULL;
}
