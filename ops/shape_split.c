/* Splitting a tensor into views along one dim (split, chunk, unbind).
 * Every part is a narrow/select view, so its backward is the slice's. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

static bool split_args(tg_tensor *a, const char *op, int dim, tg_tensor **out, int *d) {
  if (!tg_tensor_check(a, op, 1)) return false;
  if (!out) {
    tg_error("%s: out is NULL", op);
    return false;
  }
  if (a->ndim == 0) {
    tg_error("%s: %s expects at least a 1-dimensional tensor", op, op);
    return false;
  }
  *d = tg_norm_dim(op, dim, a->ndim);
  return *d >= 0;
}

/* out[0..k] cleared after part k failed, so that no part is left in out */
static int drop_parts(tg_tensor **out, size_t k) {
  for (size_t j = 0; j <= k; j++) out[j] = NULL;
  return -1;
}

/* parts of the given sizes; on failure no part is left in out */
static int split_parts(tg_tensor *a, int d, size_t n, const size_t *sizes, size_t each,
                       size_t last, tg_tensor **out) {
  size_t off = 0;
  for (size_t k = 0; k < n; k++) {
    size_t len = sizes ? sizes[k] : (k + 1 == n ? last : each);
    out[k] = tg_narrow(a, d, (long)off, len);
    if (!out[k]) return drop_parts(out, k);
    off += len;
  }
  return (int)n;
}

int tg_split(tg_tensor *a, size_t n, const size_t *sizes, int dim, tg_tensor **out) {
  int d;
  if (!split_args(a, "split", dim, out, &d)) return -1;
  if (n == 0 || !sizes || n > INT32_MAX) {
    tg_error("split: expected a non-empty list of split sizes (n = %zu%s)", n,
             sizes ? "" : ", sizes is NULL");
    return -1;
  }
  size_t total = 0;
  for (size_t k = 0; k < n; k++) {
    if (sizes[k] > (size_t)PTRDIFF_MAX) {
      tg_error("split: split_with_sizes expects split_sizes have only non-negative entries, but "
               "got split_sizes entry %td", (ptrdiff_t)sizes[k]);
      return -1;
    }
    total += sizes[k];
  }
  if (total != a->shape[d]) {
    tg_error("split: split_with_sizes expects split_sizes to sum exactly to %zu (input tensor's "
             "size at dimension %d), but the sizes sum to %zu", a->shape[d], d, total);
    return -1;
  }
  return split_parts(a, d, n, sizes, 0, 0, out);
}

/* PyTorch's split(split_size): ceil(len / split_size) parts (one when the
 * dim is empty), the last one shorter */
int tg_split_size(tg_tensor *a, size_t split_size, int dim, size_t max_out, tg_tensor **out) {
  int d;
  if (!split_args(a, "split_size", dim, out, &d)) return -1;
  size_t len = a->shape[d];
  if (split_size > (size_t)PTRDIFF_MAX) {
    tg_error("split_size: split expects split_size be non-negative, but got split_size=%td",
             (ptrdiff_t)split_size);
    return -1;
  }
  if (split_size == 0 && len != 0) {
    tg_error("split_size: split_size can only be 0 if dimension size is 0, but got dimension "
             "size of %zu", len);
    return -1;
  }
  size_t n = split_size ? (len + split_size - 1) / split_size : 1;
  if (n == 0) n = 1;
  if (n > max_out || n > INT32_MAX) {
    tg_error("split_size: %zu parts do not fit in out (max_out = %zu)", n, max_out);
    return -1;
  }
  return split_parts(a, d, n, NULL, split_size, len - split_size * (n - 1), out);
}

/* out holds chunks entries; PyTorch's chunk gives ceil(len / ceil(len /
 * chunks)) parts, which may be fewer than chunks */
int tg_chunk(tg_tensor *a, size_t chunks, int dim, tg_tensor **out) {
  int d;
  if (!split_args(a, "chunk", dim, out, &d)) return -1;
  if (chunks == 0 || chunks > INT32_MAX) {
    tg_error("chunk: chunk expects `chunks` to be greater than 0, got: %td", (ptrdiff_t)chunks);
    return -1;
  }
  size_t len = a->shape[d], each = (len + chunks - 1) / chunks;
  if (len == 0) return split_parts(a, d, chunks, NULL, 0, 0, out);
  return tg_split_size(a, each, d, chunks, out) < 0 ? -1
         : (int)((len + each - 1) / each);
}

int tg_unbind(tg_tensor *a, int dim, size_t max_out, tg_tensor **out) {
  if (!tg_tensor_check(a, "unbind", 1)) return -1;
  if (!out) {
    tg_error("unbind: out is NULL");
    return -1;
  }
  if (a->ndim == 0) {
    tg_error("unbind: Dimension specified as %d but tensor has no dimensions", dim);
    return -1;
  }
  int d = tg_norm_dim("unbind", dim, a->ndim);
  if (d < 0) return -1;
  size_t n = a->shape[d];
  if (n > max_out || n > INT32_MAX) {
    tg_error("unbind: %zu parts do not fit in out (max_out = %zu)", n, max_out);
    return -1;
  }
  for (size_t k = 0; k < n; k++) {
    out[k] = tg_select(a, d, (long)k);
    if (!out[k]) return drop_parts(out, k);
  }
  return (int)n;
}

/* out[k] = ts[k] viewed along dim k (dims 0 and 1 swapped for "xy") and
 * expanded to the grid of all the sizes: views, as PyTorch's */
int tg_meshgrid(int n, tg_tensor **ts, const char *indexing, tg_tensor **out) {
  if (n <= 0 || n > TG_MAX_DIMS || !ts || !out) {
    tg_error("meshgrid: expects a non-empty list of at most %d tensors (n = %d%s%s)", TG_MAX_DIMS,
             n, ts ? "" : ", ts is NULL", out ? "" : ", out is NULL");
    return -1;
  }
  bool xy = indexing && !strcmp(indexing, "xy");
  if (indexing && !xy && strcmp(indexing, "ij")) {
    tg_error("meshgrid: indexing must be one of \"xy\" or \"ij\", but received: %s", indexing);
    return -1;
  }
  size_t grid[TG_MAX_DIMS];
  for (int k = 0; k < n; k++) {
    if (!tg_tensor_check(ts[k], "meshgrid", k + 1)) return -1;
    if (ts[k]->ndim > 1) {
      tg_error("meshgrid: Expected 0D or 1D tensor in the tensor list but got a %d-d tensor "
               "(argument %d)", ts[k]->ndim, k + 1);
      return -1;
    }
    if (ts[k]->dtype != ts[0]->dtype) {
      tg_error("meshgrid: expects all tensors to have the same dtype (%s and %s)",
               tg_dtype_name(ts[0]->dtype), tg_dtype_name(ts[k]->dtype));
      return -1;
    }
    grid[k] = ts[k]->numel;
  }
  bool swap = xy && n >= 2;
  if (swap) grid[0] = ts[1]->numel, grid[1] = ts[0]->numel;
  for (int k = 0; k < n; k++) {
    int at = swap && k < 2 ? 1 - k : k;
    size_t s[TG_MAX_DIMS];
    for (int j = 0; j < n; j++) s[j] = j == at ? grid[j] : 1;
    out[k] = tg_expand(tg_reshape(ts[k], n, s), n, grid);
    if (!out[k]) return drop_parts(out, (size_t)k);
  }
  return n;
}
