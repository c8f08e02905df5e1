/* Shape ops that copy: flip, tril, triu. Written with index_select and
 * masked_fill, whose backwards are differentiable, so double backward
 * comes with them (flip's backward is flip; tril's is tril). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops_internal.h"

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
    out = tg_index_select(out, d, idx);
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
