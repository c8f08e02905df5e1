/* The one strided loop every elementwise op and reduction runs through.
 * Dims of size 1 are dropped and adjacent dims that are contiguous for every
 * operand are merged, so a contiguous tensor of any shape becomes one run. */
#include <string.h>

#include "tg_internal.h"

void tg_iter(int nops, char **base, int ndim, const size_t *shape,
             ptrdiff_t strides[][TG_MAX_DIMS], tg_loop_fn fn, const void *arg) {
  size_t sh[TG_MAX_DIMS];
  ptrdiff_t st[TG_ITER_MAX_OPS][TG_MAX_DIMS];
  int nd = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 0) return;
    if (shape[d] == 1) continue;
    if (nd > 0) {
      bool merge = true;
      for (int k = 0; k < nops; k++)
        if (st[k][nd - 1] != strides[k][d] * (ptrdiff_t)shape[d]) merge = false;
      if (merge) {
        sh[nd - 1] *= shape[d];
        for (int k = 0; k < nops; k++) st[k][nd - 1] = strides[k][d];
        continue;
      }
    }
    sh[nd] = shape[d];
    for (int k = 0; k < nops; k++) st[k][nd] = strides[k][d];
    nd++;
  }
  ptrdiff_t inner_s[TG_ITER_MAX_OPS];
  char *p[TG_ITER_MAX_OPS];
  for (int k = 0; k < nops; k++) {
    p[k] = base[k];
    inner_s[k] = nd ? st[k][nd - 1] : 0;
  }
  size_t inner_n = nd ? sh[nd - 1] : 1;
  if (nd <= 1) {
    fn(p, inner_s, inner_n, arg);
    return;
  }
  size_t idx[TG_MAX_DIMS] = {0};
  for (;;) {
    fn(p, inner_s, inner_n, arg);
    int d = nd - 2;
    for (; d >= 0; d--) {
      for (int k = 0; k < nops; k++) p[k] += st[k][d];
      if (++idx[d] < sh[d]) break;
      for (int k = 0; k < nops; k++) p[k] -= st[k][d] * (ptrdiff_t)sh[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

const char *tg_dims_str(int ndim, const size_t *shape, char *buf, size_t len) {
  size_t used = 0;
  if (len == 0) return buf;
  buf[0] = '\0';
  used += (size_t)snprintf(buf + used, len - used, "[");
  for (int d = 0; d < ndim && used < len; d++)
    used += (size_t)snprintf(buf + used, len - used, d ? ",%zu" : "%zu", shape[d]);
  if (used < len) snprintf(buf + used, len - used, "]");
  return buf;
}

const char *tg_shape_str(const tg_tensor *t, char *buf, size_t len) {
  if (!buf) {
    if (len) tg_error("shape_str: buf is NULL (with len %zu)", len);
    return NULL;
  }
  if (!t) {
    snprintf(buf, len, "(null)");
    return buf;
  }
  return tg_dims_str(t->ndim, t->shape, buf, len);
}

int tg_broadcast_shapes(const char *op, int na, const size_t *sa, int nb,
                        const size_t *sb, int *nout, size_t *out) {
  int n = na > nb ? na : nb;
  for (int i = 0; i < n; i++) {
    int da = na - n + i, db = nb - n + i;
    size_t a = da >= 0 ? sa[da] : 1, b = db >= 0 ? sb[db] : 1;
    if (a != b && a != 1 && b != 1) {
      char ba[96], bb[96];
      tg_error("%s: shapes %s and %s cannot be broadcast: dimension %d is %zu vs %zu",
               op, tg_dims_str(na, sa, ba, sizeof ba), tg_dims_str(nb, sb, bb, sizeof bb),
               i, a, b);
      return -1;
    }
    out[i] = a == 1 ? b : a;
  }
  *nout = n;
  return 0;
}

void tg_broadcast_strides(const tg_tensor *t, int ndim, const size_t *shape, ptrdiff_t *out) {
  ptrdiff_t es = (ptrdiff_t)tg_elem_bytes(t->dtype);
  for (int i = 0; i < ndim; i++) {
    int d = t->ndim - ndim + i;
    if (d < 0 || t->shape[d] == 1 || shape[i] == 1) out[i] = 0;
    else out[i] = t->strides[d] * es;
  }
}

int tg_norm_dim(const char *op, int dim, int ndim) {
  int n = ndim == 0 ? 1 : ndim; /* a 0-d tensor accepts dim 0 / -1 as PyTorch does */
  if (dim < -n || dim >= n) {
    tg_error("%s: dim %d is out of range for a %d-d tensor (expected %d..%d)", op, dim,
             ndim, -n, n - 1);
    return -1;
  }
  return dim < 0 ? dim + n : dim;
}
