/* Shape ops that copy: flip, tril, triu. Written with index_select and
 * masked_fill, whose backwards are differentiable, so double backward
 * comes with them (flip's backward is flip; tril's is tril). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

/* x's entries idx[k] along d: index_select for floats (its backward is
 * differentiable); int64 and bool carry no gradient and are copied */
static tg_tensor *take(tg_tensor *x, int d, tg_tensor *idx) {
  if (tg_dtype_is_float(x->dtype)) return tg_index_select(x, d, idx);
  tg_tensor *src = tg_contiguous(x);
  size_t shape[TG_MAX_DIMS], outer = 1, inner = tg_elem_bytes(x->dtype), len = x->shape[d];
  size_t total = idx->numel;
  if (!src) return NULL;
  memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
  shape[d] = total;
  for (int k = 0; k < x->ndim; k++)
    if (k < d) outer *= x->shape[k];
    else if (k > d) inner *= x->shape[k];
  tg_tensor *out = tg_empty(x->dtype, x->ndim, shape);
  if (!out) return NULL;
  const char *from = tg_data(src);
  const int64_t *p = tg_data(idx);
  char *to = tg_data(out);
  for (size_t o = 0; o < outer; o++)
    for (size_t k = 0; k < total; k++, to += inner) memcpy(to, from + (o * len + (size_t)p[k]) * inner, inner);
  return out;
}

tg_tensor *tg_flip(tg_tensor *a, int n, const int *dims) {
  if (!tg_tensor_check(a, "flip", 1)) return NULL;
  if (n < 0 || (n > 0 && !dims)) {
    tg_error("flip: invalid dims list (n = %d%s)", n, dims ? "" : ", dims is NULL");
    return NULL;
  }
  unsigned seen = 0;
  for (int k = 0; k < n; k++) {
    int d = tg_norm_dim("flip", dims[k], a->ndim);
    if (d < 0) return NULL;
    if (seen & (1u << d)) {
      tg_error("flip: dim %d appears multiple times in the list of dims", d);
      return NULL;
    }
    seen |= 1u << d;
  }
  tg_tensor *out = a;
  for (int d = 0; d < a->ndim && out; d++) {
    if (!(seen & (1u << d))) continue;
    size_t len = a->shape[d];
    tg_tensor *idx = tg_zeros(TG_INT64, 1, &len);
    if (!idx) return NULL;
    int64_t *p = tg_data(idx);
    for (size_t i = 0; i < len; i++) p[i] = (int64_t)(len - 1 - i);
    out = take(out, d, idx);
  }
  return out == a ? tg_clone(a) : out; /* a copy even with no dims, as PyTorch */
}

/* keep (i, j) of the last two dims where j - i <= diagonal (tril) or
 * j - i >= diagonal (triu); zero the rest */
static tg_tensor *triangle(tg_tensor *a, long diagonal, bool upper, const char *op) {
  if (!tg_tensor_check(a, op, 1)) return NULL;
  if (a->ndim < 2) {
    tg_error("%s: input tensor must have at least 2 dimensions (got %d)", op, a->ndim);
    return NULL;
  }
  size_t r = a->shape[a->ndim - 2], c = a->shape[a->ndim - 1];
  tg_tensor *drop = tg_zeros(TG_BOOL, 2, (size_t[]){r, c});
  if (!drop) return NULL;
  uint8_t *m = tg_data(drop);
  for (size_t i = 0; i < r; i++)
    for (size_t j = 0; j < c; j++) {
      long off = (long)j - (long)i;
      m[i * c + j] = upper ? off < diagonal : off > diagonal;
    }
  tg_tensor *out = tg_masked_fill(a, drop, 0);
  return out == a ? tg_clone(a) : out;
}

tg_tensor *tg_tril(tg_tensor *a, long diagonal) { return triangle(a, diagonal, false, "tril"); }
tg_tensor *tg_triu(tg_tensor *a, long diagonal) { return triangle(a, diagonal, true, "triu"); }

static tg_tensor *roll_dim(tg_tensor *a, int d, long shift) {
  long n = (long)a->shape[d];
  if (n == 0) return a;
  long s = ((shift % n) + n) % n;
  if (s == 0) return a;
  tg_tensor *parts[2] = {tg_narrow(a, d, n - s, (size_t)s), tg_narrow(a, d, 0, (size_t)(n - s))};
  return tg_cat(2, parts, d);
}

tg_tensor *tg_roll(tg_tensor *a, int n_shifts, const long *shifts, int n_dims, const int *dims) {
  if (!tg_tensor_check(a, "roll", 1)) return NULL;
  if (n_shifts <= 0 || !shifts || n_dims < 0 || (n_dims > 0 && !dims)) {
    tg_error("roll: `shifts` required (n_shifts = %d%s%s)", n_shifts, shifts ? "" : ", shifts is NULL",
             n_dims > 0 && !dims ? ", dims is NULL" : "");
    return NULL;
  }
  if (n_dims == 0) {
    if (n_shifts != 1) {
      tg_error("roll: shifts and dimensions must align. shifts: %d, dims:0", n_shifts);
      return NULL;
    }
    tg_tensor *flat = tg_reshape(a, TG_SHAPE((size_t)-1));
    tg_tensor *r = flat ? roll_dim(flat, 0, shifts[0]) : NULL;
    return r == flat ? tg_clone(a) : tg_reshape(r, a->ndim, a->shape);
  }
  if (n_shifts != n_dims) {
    tg_error("roll: shifts and dimensions must align. shifts: %d, dims:%d", n_shifts, n_dims);
    return NULL;
  }
  if (a->ndim == 0) {
    tg_error("roll: Dimension specified as %d but tensor has no dimensions", dims[0]);
    return NULL;
  }
  tg_tensor *out = a;
  for (int k = 0; k < n_dims && out; k++) {
    int d = tg_norm_dim("roll", dims[k], a->ndim);
    if (d < 0) return NULL;
    out = roll_dim(out, d, shifts[k]);
  }
  return out == a ? tg_clone(a) : out;
}

/* each of a's (trailing) dims repeated reps[k] times as whole blocks:
 * unsqueeze, expand, merge, one dim at a time (ndim + 1 <= TG_MAX_DIMS) */
tg_tensor *tg_repeat(tg_tensor *a, int n, const size_t *reps) {
  if (!tg_tensor_check(a, "repeat", 1)) return NULL;
  if (n < 0 || n > TG_MAX_DIMS || (n > 0 && !reps)) {
    tg_error("repeat: invalid repeats (n = %d%s)", n, reps ? "" : ", repeats is NULL");
    return NULL;
  }
  if (n < a->ndim) {
    tg_error("repeat: Number of dimensions of repeat dims can not be smaller than number of "
             "dimensions of tensor (%d < %d)", n, a->ndim);
    return NULL;
  }
  size_t shape[TG_MAX_DIMS];
  for (int k = 0; k < n; k++) {
    if (reps[k] > (size_t)PTRDIFF_MAX) {
      tg_error("repeat: Trying to create tensor with negative dimension %td", (ptrdiff_t)reps[k]);
      return NULL;
    }
    shape[k] = k < n - a->ndim ? 1 : a->shape[k - (n - a->ndim)];
  }
  tg_tensor *x = tg_reshape(a, n, shape);
  for (int k = 0; k < n && x; k++) {
    if (reps[k] == 1) continue;
    size_t es[TG_MAX_DIMS];
    memcpy(es, x->shape, (size_t)k * sizeof *es);
    es[k] = reps[k];
    memcpy(es + k + 1, x->shape + k, (size_t)(n - k) * sizeof *es);
    x = tg_flatten(tg_expand(tg_unsqueeze(x, k), n + 1, es), k, k + 1);
  }
  return x == a ? tg_clone(a) : (x && x->storage == a->storage ? tg_clone(x) : x);
}

/* repeat with reps padded with leading 1s to a's ndim, as PyTorch's tile */
tg_tensor *tg_tile(tg_tensor *a, int n, const size_t *reps) {
  if (!tg_tensor_check(a, "tile", 1)) return NULL;
  if (n < 0 || n > TG_MAX_DIMS || (n > 0 && !reps)) {
    tg_error("tile: invalid dims (n = %d%s)", n, reps ? "" : ", dims is NULL");
    return NULL;
  }
  size_t r[TG_MAX_DIMS];
  int m = n < a->ndim ? a->ndim : n;
  for (int k = 0; k < m; k++) r[k] = k < m - n ? 1 : reps[k - (m - n)];
  return tg_repeat(a, m, r);
}

/* index_select by the index that names each kept row counts[i] times
 * (counts NULL: each `each` times) */
static tg_tensor *interleave(tg_tensor *a, const int *dim, int64_t each, const int64_t *counts,
                             size_t n_counts, const char *op) {
  if (a->ndim == 0 && dim) {
    tg_error("%s: Dimension specified as %d but tensor has no dimensions", op, *dim);
    return NULL;
  }
  tg_tensor *x = dim ? a : tg_reshape(a, TG_SHAPE((size_t)-1));
  int d = dim ? tg_norm_dim(op, *dim, a->ndim) : 0;
  if (!x || d < 0) return NULL;
  size_t len = x->shape[d], total = 0;
  if (counts && n_counts != len && n_counts != 1) {
    tg_error("%s: repeats must have the same size as input along dim (%zu repeats, size %zu)", op,
             n_counts, len);
    return NULL;
  }
  /* only the counts in use are checked: torch takes a -1 for an empty dim */
  for (size_t i = 0; i < len; i++) {
    int64_t n = counts ? counts[n_counts == 1 ? 0 : i] : each;
    size_t c = (size_t)n;
    if (n < 0) {
      tg_error("%s: repeats can not be negative (got %lld)", op, (long long)n);
      return NULL;
    }
    if (c && total > SIZE_MAX / 2 - c) {
      tg_error("%s: the result is too large", op);
      return NULL;
    }
    total += c;
  }
  tg_tensor *idx = tg_zeros(TG_INT64, 1, &total);
  if (!idx) return NULL;
  int64_t *p = tg_data(idx);
  for (size_t i = 0, k = 0; i < len; i++)
    for (int64_t c = counts ? counts[n_counts == 1 ? 0 : i] : each; c > 0; c--) p[k++] = (int64_t)i;
  return take(x, d, idx);
}

tg_tensor *tg_repeat_interleave(tg_tensor *a, size_t repeats, const int *dim) {
  if (!tg_tensor_check(a, "repeat_interleave", 1)) return NULL;
  /* (size_t)-1 is a -1: refused unless the dim is empty, as torch */
  return interleave(a, dim, (int64_t)repeats, NULL, 0, "repeat_interleave");
}

tg_tensor *tg_repeat_interleave_tensor(tg_tensor *a, tg_tensor *repeats, const int *dim) {
  const char *op = "repeat_interleave";
  if (!tg_tensor_check(a, op, 1) || !tg_tensor_check(repeats, op, 2)) return NULL;
  if (repeats->dtype != TG_INT64 || repeats->ndim > 1) {
    tg_error("%s: repeats must be a 0-d or 1-d int64 tensor (got %s, %d-d)", op,
             tg_dtype_name(repeats->dtype), repeats->ndim);
    return NULL;
  }
  tg_tensor *r = tg_contiguous(repeats);
  if (!r) return NULL;
  return interleave(a, dim, 0, tg_data(r), r->numel, op);
}

tg_tensor *tg_one_hot(tg_tensor *a, long num_classes) {
  if (!tg_tensor_check(a, "one_hot", 1)) return NULL;
  if (a->dtype != TG_INT64) {
    tg_error("one_hot: one_hot is only applicable to index tensor (got %s)", tg_dtype_name(a->dtype));
    return NULL;
  }
  if (a->ndim >= TG_MAX_DIMS) {
    tg_error("one_hot: the result would have more than %d dims", TG_MAX_DIMS);
    return NULL;
  }
  /* torch's order: an empty a needs a positive num_classes, then
   * negatives, then the upper bound */
  if (a->numel == 0 && num_classes <= 0) {
    tg_error("one_hot: Can not infer total number of classes from empty tensor.");
    return NULL;
  }
  tg_tensor *x = tg_contiguous(a);
  if (!x) return NULL;
  const int64_t *v = tg_data(x);
  int64_t hi = -1;
  for (size_t i = 0; i < x->numel; i++) {
    if (v[i] < 0) {
      tg_error("one_hot: Class values must be non-negative (got %lld)", (long long)v[i]);
      return NULL;
    }
    if (v[i] > hi) hi = v[i];
  }
  if (num_classes == -1) {
    num_classes = (long)hi + 1;
  } else if (a->numel > 0 && hi >= num_classes) {
    tg_error("one_hot: Class values must be smaller than num_classes (%lld >= %ld)", (long long)hi,
             num_classes);
    return NULL;
  }
  size_t shape[TG_MAX_DIMS];
  memcpy(shape, a->shape, (size_t)a->ndim * sizeof *shape);
  shape[a->ndim] = (size_t)num_classes;
  tg_tensor *out = tg_zeros(TG_INT64, a->ndim + 1, shape);
  if (!out) return NULL;
  int64_t *o = tg_data(out);
  for (size_t i = 0; i < x->numel; i++) o[i * (size_t)num_classes + (size_t)v[i]] = 1;
  return out;
}
