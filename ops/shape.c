/* Shape ops. Views share storage (no copy) and their backward is the
 * inverse view; expand's backward is the engine's sum-to-shape. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

static tg_tensor *view_of(tg_tensor *a, int ndim, const size_t *shape, const ptrdiff_t *strides,
                          size_t offset, const tg_op *op) {
  tg_tensor *out = tg_tensor_view(a, ndim, shape, strides, offset);
  ops_record(out, op, 1, &a);
  return out;
}

/* ------------------------------------------------------------ reshape */

static void reshape_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_reshape(g, n->in[0]->ndim, n->in[0]->shape);
}
/* the views recorded as ViewBackward keep the element order: the tangent
 * is reshaped the same way */
static tg_tensor *reshape_jvp(tg_node *n, tg_tensor *const *t) {
  return tg_reshape(t[0], n->out->ndim, n->out->shape);
}
TG_DEFINE_OP_JVP(OP_RESHAPE, "ViewBackward", reshape_backward, reshape_jvp, 0);

/* "[-1,3]": the shape as the caller wrote it, sizes past PTRDIFF_MAX
 * shown as the negative numbers they were */
static const char *shape_arg_str(int ndim, const size_t *shape, char *buf, size_t len) {
  size_t k = (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < ndim && k < len; d++) {
    bool neg = shape[d] > (size_t)PTRDIFF_MAX;
    k += neg ? (size_t)snprintf(buf + k, len - k, d ? ",%td" : "%td", (ptrdiff_t)shape[d])
             : (size_t)snprintf(buf + k, len - k, d ? ",%zu" : "%zu", shape[d]);
  }
  if (k < len) snprintf(buf + k, len - k, "]");
  return buf;
}

static bool shape_invalid(const char *op, const tg_tensor *a, int ndim, const size_t *shape) {
  char b1[96], b2[96];
  tg_error("%s: shape %s is invalid for input of shape %s (%zu elements)", op,
           shape_arg_str(ndim, shape, b1, sizeof b1), tg_shape_str(a, b2, sizeof b2), a->numel);
  return false;
}

/* out = shape with its one (size_t)-1 ("infer", as PyTorch's -1) replaced
 * by the size that keeps a's number of elements; PyTorch's errors for two
 * -1s, other negative sizes and a count that does not match */
static bool infer_shape(const char *op, const tg_tensor *a, int ndim, const size_t *shape,
                        size_t *out) {
  if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) {
    tg_error("%s: invalid target shape (%d dims%s)", op, ndim, shape ? "" : ", shape is NULL");
    return false;
  }
  int infer = -1;
  size_t known = 1;
  bool wraps = false;
  for (int d = 0; d < ndim; d++) {
    out[d] = shape[d];
    if (shape[d] == (size_t)-1) {
      if (infer >= 0) {
        tg_error("%s: only one dimension can be inferred (dims %d and %d are -1)", op, infer, d);
        return false;
      }
      infer = d;
      continue;
    }
    if (shape[d] > (size_t)PTRDIFF_MAX) {
      tg_error("%s: invalid shape dimension %td (dim %d)", op, (ptrdiff_t)shape[d], d);
      return false;
    }
    wraps = wraps || (shape[d] && known > SIZE_MAX / shape[d]);
    known *= shape[d];
  }
  if (wraps) return shape_invalid(op, a, ndim, shape);
  if (infer < 0) return known == a->numel || shape_invalid(op, a, ndim, shape);
  if (known == 0 && a->numel == 0) {
    char b[96];
    tg_error("%s: cannot reshape a tensor of 0 elements into shape %s: the size -1 could be any "
             "value and is ambiguous", op, shape_arg_str(ndim, shape, b, sizeof b));
    return false;
  }
  if (known == 0 || a->numel % known != 0) return shape_invalid(op, a, ndim, shape);
  out[infer] = a->numel / known;
  return true;
}

/* Strides under which (ndim, shape) views a's elements in a's logical
 * order, as PyTorch's computeStride: a's dims fall into runs that are
 * contiguous with each other, and each run must be split or merged into
 * whole dims of the view. False if a dim of the view spans two runs. */
static bool view_strides(const tg_tensor *a, int ndim, const size_t *shape, ptrdiff_t *st) {
  if (a->ndim == 0 || a->numel == 0) {
    if (a->numel == 0 && ndim == a->ndim && !memcmp(shape, a->shape, (size_t)ndim * sizeof *shape))
      memcpy(st, a->strides, (size_t)ndim * sizeof *st);
    else
      tg_contiguous_strides(ndim, shape, st);
    return true;
  }
  int vd = ndim - 1;
  ptrdiff_t run_stride = a->strides[a->ndim - 1];
  size_t run_numel = 1, view_numel = 1;
  for (int td = a->ndim - 1; td >= 0; td--) {
    run_numel *= a->shape[td];
    bool run_ends = td == 0 || (a->shape[td - 1] != 1 &&
                                a->strides[td - 1] != (ptrdiff_t)run_numel * run_stride);
    if (!run_ends) continue;
    while (vd >= 0 && (view_numel < run_numel || shape[vd] == 1)) {
      st[vd] = (ptrdiff_t)view_numel * run_stride;
      view_numel *= shape[vd];
      vd--;
    }
    if (view_numel != run_numel) return false;
    if (td > 0) run_stride = a->strides[td - 1], run_numel = 1, view_numel = 1;
  }
  return vd == -1;
}

tg_tensor *tg_view(tg_tensor *a, int ndim, const size_t *shape) {
  size_t s[TG_MAX_DIMS];
  if (!tg_tensor_check(a, "view", 1) || !infer_shape("view", a, ndim, shape, s)) return NULL;
  ptrdiff_t st[TG_MAX_DIMS];
  if (!view_strides(a, ndim, s, st)) {
    char b1[96], b2[96], b3[160];
    size_t k = 0;
    for (int d = 0; d < a->ndim && k < sizeof b3; d++)
      k += (size_t)snprintf(b3 + k, sizeof b3 - k, d ? ",%td" : "%td", a->strides[d]);
    tg_error("view: view size %s is not compatible with input tensor's size %s and stride [%s] "
             "(at least one dimension spans across two contiguous subspaces); use tg_reshape "
             "(which copies) instead", tg_dims_str(ndim, s, b1, sizeof b1),
             tg_shape_str(a, b2, sizeof b2), b3);
    return NULL;
  }
  return view_of(a, ndim, s, st, a->offset, &OP_RESHAPE);
}

/* a view where the strides allow one (as PyTorch), else a contiguous copy */
tg_tensor *tg_reshape(tg_tensor *a, int ndim, const size_t *shape) {
  size_t s[TG_MAX_DIMS];
  if (!tg_tensor_check(a, "reshape", 1) || !infer_shape("reshape", a, ndim, shape, s)) return NULL;
  ptrdiff_t st[TG_MAX_DIMS];
  if (view_strides(a, ndim, s, st)) return view_of(a, ndim, s, st, a->offset, &OP_RESHAPE);
  return tg_view(tg_contiguous(a), ndim, s);
}

tg_tensor *tg_reshape_infer(tg_tensor *a, int ndim, const long *shape) {
  if (!tg_tensor_check(a, "reshape", 1)) return NULL;
  if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) {
    tg_error("reshape: invalid target shape (%d dims%s)", ndim, shape ? "" : ", shape is NULL");
    return NULL;
  }
  size_t s[TG_MAX_DIMS];
  for (int d = 0; d < ndim; d++) s[d] = (size_t)shape[d]; /* -1 becomes (size_t)-1: infer */
  return tg_reshape(a, ndim, s);
}

tg_tensor *tg_flatten(tg_tensor *a, int start_dim, int end_dim) {
  if (!tg_tensor_check(a, "flatten", 1)) return NULL;
  int s = tg_norm_dim("flatten", start_dim, a->ndim), e = tg_norm_dim("flatten", end_dim, a->ndim);
  if (s < 0 || e < 0) return NULL;
  if (a->ndim == 0) return tg_reshape(a, TG_SHAPE(1));
  if (s > e) {
    tg_error("flatten: start_dim %d comes after end_dim %d", s, e);
    return NULL;
  }
  size_t shape[TG_MAX_DIMS];
  int nd = 0;
  for (int d = 0; d < a->ndim; d++) {
    if (d > s && d <= e) shape[nd - 1] *= a->shape[d];
    else shape[nd++] = a->shape[d];
  }
  return tg_reshape(a, nd, shape);
}

tg_tensor *tg_squeeze(tg_tensor *a, int dim) {
  if (!tg_tensor_check(a, "squeeze", 1)) return NULL;
  int d = tg_norm_dim("squeeze", dim, a->ndim);
  if (d < 0) return NULL;
  if (a->ndim == 0 || a->shape[d] != 1) return view_of(a, a->ndim, a->shape, a->strides, a->offset, &OP_RESHAPE);
  size_t shape[TG_MAX_DIMS];
  ptrdiff_t st[TG_MAX_DIMS];
  int nd = 0;
  for (int k = 0; k < a->ndim; k++)
    if (k != d) shape[nd] = a->shape[k], st[nd++] = a->strides[k];
  return view_of(a, nd, shape, st, a->offset, &OP_RESHAPE);
}

tg_tensor *tg_squeeze_all(tg_tensor *a) {
  if (!tg_tensor_check(a, "squeeze", 1)) return NULL;
  size_t shape[TG_MAX_DIMS];
  ptrdiff_t st[TG_MAX_DIMS];
  int nd = 0;
  for (int k = 0; k < a->ndim; k++)
    if (a->shape[k] != 1) shape[nd] = a->shape[k], st[nd++] = a->strides[k];
  return view_of(a, nd, shape, st, a->offset, &OP_RESHAPE);
}

tg_tensor *tg_unsqueeze(tg_tensor *a, int dim) {
  if (!tg_tensor_check(a, "unsqueeze", 1)) return NULL;
  if (a->ndim == TG_MAX_DIMS) {
    tg_error("unsqueeze: the tensor already has the maximum of %d dims", TG_MAX_DIMS);
    return NULL;
  }
  int d = tg_norm_dim("unsqueeze", dim, a->ndim + 1);
  if (d < 0) return NULL;
  size_t shape[TG_MAX_DIMS];
  ptrdiff_t st[TG_MAX_DIMS];
  for (int k = 0, j = 0; k <= a->ndim; k++) {
    if (k == d) {
      shape[k] = 1;
      st[k] = j < a->ndim ? a->strides[j] * (ptrdiff_t)a->shape[j] : 1;
    } else {
      shape[k] = a->shape[j];
      st[k] = a->strides[j++];
    }
  }
  return view_of(a, a->ndim + 1, shape, st, a->offset, &OP_RESHAPE);
}

/* ------------------------------------------------------------ permute */

_Static_assert(TG_MAX_DIMS <= 16, "permute packs a dim index in 4 bits");

static void permute_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  int inv[TG_MAX_DIMS];
  /* perm packed 4 bits a dim in i[0] (TG_MAX_DIMS <= 16) */
  for (int d = 0; d < n->in[0]->ndim; d++) inv[(tg_node_i(n)[0] >> (4 * d)) & 15] = d;
  gi[0] = tg_permute(g, inv);
}
static tg_tensor *permute_jvp(tg_node *n, tg_tensor *const *t) {
  int perm[TG_MAX_DIMS];
  for (int d = 0; d < n->in[0]->ndim; d++) perm[d] = (int)((tg_node_i(n)[0] >> (4 * d)) & 15);
  return tg_permute(t[0], perm);
}
TG_DEFINE_OP_JVP(OP_PERMUTE, "PermuteBackward", permute_backward, permute_jvp, TG_NODE_I);

tg_tensor *tg_permute(tg_tensor *a, const int *dims) {
  if (!tg_tensor_check(a, "permute", 1)) return NULL;
  if (a->ndim > 0 && !dims) {
    tg_error("permute: dims is NULL");
    return NULL;
  }
  size_t shape[TG_MAX_DIMS];
  ptrdiff_t st[TG_MAX_DIMS];
  int perm[TG_MAX_DIMS];
  unsigned seen = 0;
  for (int k = 0; k < a->ndim; k++) {
    int d = tg_norm_dim("permute", dims[k], a->ndim);
    if (d < 0) return NULL;
    if (seen & (1u << d)) {
      tg_error("permute: dim %d appears more than once", d);
      return NULL;
    }
    seen |= 1u << d;
    perm[k] = d;
    shape[k] = a->shape[d];
    st[k] = a->strides[d];
  }
  tg_tensor *out = tg_tensor_view(a, a->ndim, shape, st, a->offset);
  tg_node *n = ops_record(out, &OP_PERMUTE, 1, &a);
  if (n)
    for (int k = 0; k < a->ndim; k++) tg_node_i(n)[0] |= (int64_t)perm[k] << (4 * k);
  return out;
}

tg_tensor *tg_transpose(tg_tensor *a, int dim0, int dim1) {
  if (!tg_tensor_check(a, "transpose", 1)) return NULL;
  int d0 = tg_norm_dim("transpose", dim0, a->ndim), d1 = tg_norm_dim("transpose", dim1, a->ndim);
  if (d0 < 0 || d1 < 0) return NULL;
  if (a->ndim == 0) return tg_permute(a, NULL);
  int perm[TG_MAX_DIMS];
  for (int k = 0; k < a->ndim; k++) perm[k] = k;
  perm[d0] = d1;
  perm[d1] = d0;
  return tg_permute(a, perm);
}

tg_tensor *tg_t(tg_tensor *a) {
  if (!tg_tensor_check(a, "t", 1)) return NULL;
  if (a->ndim > 2) {
    tg_error("t: expects a tensor with <= 2 dims, got %d; use tg_transpose", a->ndim);
    return NULL;
  }
  return a->ndim < 2 ? tg_transpose(a, 0, 0) : tg_transpose(a, 0, 1);
}

/* ------------------------------------------------------------- expand */

static void expand_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  (void)n;
  gi[0] = g; /* the engine sums it down to the input's shape */
}
static tg_tensor *expand_jvp(tg_node *n, tg_tensor *const *t) {
  return tg_expand(t[0], n->out->ndim, n->out->shape);
}
TG_DEFINE_OP_JVP(OP_EXPAND, "ExpandBackward", expand_backward, expand_jvp, 0);

tg_tensor *tg_expand(tg_tensor *a, int ndim, const size_t *shape) {
  if (!tg_tensor_check(a, "expand", 1)) return NULL;
  char b1[96], b2[96];
  if (ndim < a->ndim || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) {
    tg_error("expand: cannot expand %s to %d dims%s", tg_shape_str(a, b1, sizeof b1), ndim,
             shape ? "" : " (shape is NULL)");
    return NULL;
  }
  ptrdiff_t st[TG_MAX_DIMS];
  size_t s[TG_MAX_DIMS];
  for (int i = 0; i < ndim; i++) {
    int d = a->ndim - ndim + i;
    if (shape[i] == (size_t)-1 && d < 0) {
      tg_error("expand: the size -1 isn't allowed in a leading, non-existing dim %d", i);
      return NULL;
    }
    s[i] = shape[i] == (size_t)-1 ? a->shape[d] : shape[i]; /* -1 keeps the dim */
    if (s[i] > (size_t)PTRDIFF_MAX) {
      tg_error("expand: invalid size %td in dim %d", (ptrdiff_t)s[i], i);
      return NULL;
    }
    if (d < 0) {
      st[i] = 0;
    } else if (a->shape[d] == s[i]) {
      st[i] = a->strides[d];
    } else if (a->shape[d] == 1) {
      st[i] = 0;
    } else {
      tg_error("expand: %s cannot be expanded to %s: dim %d has size %zu (only size 1 expands)",
               tg_shape_str(a, b1, sizeof b1), shape_arg_str(ndim, shape, b2, sizeof b2), d,
               a->shape[d]);
      return NULL;
    }
  }
  return view_of(a, ndim, s, st, a->offset, &OP_EXPAND);
}

/* -------------------------------------------------------------- slice */

/* out is zeros of the input's shape with g written into the slice; its
 * own backward is the slice again */
static tg_tensor *slice_scatter(tg_tensor *g, const tg_tensor *like, int dim, size_t start, size_t step);

static tg_tensor *slice_view(tg_tensor *a, int dim, size_t start, size_t len, size_t step);

static void slice_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = slice_scatter(g, n->in[0], (int)tg_node_i(n)[0], (size_t)tg_node_i(n)[1], (size_t)tg_node_i(n)[2]);
}
static tg_tensor *slice_jvp(tg_node *n, tg_tensor *const *t) {
  int dim = (int)tg_node_i(n)[0];
  return slice_view(t[0], dim, (size_t)tg_node_i(n)[1], n->out->shape[dim], (size_t)tg_node_i(n)[2]);
}
TG_DEFINE_OP_JVP(OP_SLICE, "SliceBackward", slice_backward, slice_jvp, TG_NODE_I);

static void slice_scatter_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = slice_view(g, (int)tg_node_i(n)[0], (size_t)tg_node_i(n)[1], n->in[0]->shape[tg_node_i(n)[0]], (size_t)tg_node_i(n)[2]);
}
static tg_tensor *slice_scatter_jvp(tg_node *n, tg_tensor *const *t) {
  return slice_scatter(t[0], n->out, (int)tg_node_i(n)[0], (size_t)tg_node_i(n)[1], (size_t)tg_node_i(n)[2]);
}
TG_DEFINE_OP_JVP(OP_SLICE_SCATTER, "SliceScatterBackward", slice_scatter_backward, slice_scatter_jvp, TG_NODE_I);

static tg_tensor *slice_view(tg_tensor *a, int dim, size_t start, size_t len, size_t step) {
  size_t shape[TG_MAX_DIMS];
  ptrdiff_t st[TG_MAX_DIMS];
  memcpy(shape, a->shape, (size_t)a->ndim * sizeof *shape);
  memcpy(st, a->strides, (size_t)a->ndim * sizeof *st);
  shape[dim] = len;
  st[dim] = a->strides[dim] * (ptrdiff_t)step;
  size_t offset = a->offset + start * (size_t)a->strides[dim];
  tg_tensor *out = tg_tensor_view(a, a->ndim, shape, st, offset);
  tg_node *n = ops_record(out, &OP_SLICE, 1, &a);
  if (n) tg_node_i(n)[0] = dim, tg_node_i(n)[1] = (int64_t)start, tg_node_i(n)[2] = (int64_t)step;
  return out;
}

static tg_tensor *slice_scatter(tg_tensor *g, const tg_tensor *like, int dim, size_t start, size_t step) {
  if (!g) return NULL;
  tg_tensor *out = tg_zeros(g->dtype, like->ndim, like->shape);
  if (!out) return NULL;
  tg_tensor *window = tg_tensor_view(out, out->ndim, g->shape, out->strides,
                                     start * (size_t)out->strides[dim]);
  if (!window) return NULL;
  window->strides[dim] *= (ptrdiff_t)step;
  tg_copy_(window, g);
  tg_node *n = ops_record(out, &OP_SLICE_SCATTER, 1, &g);
  if (n) tg_node_i(n)[0] = dim, tg_node_i(n)[1] = (int64_t)start, tg_node_i(n)[2] = (int64_t)step;
  return out;
}

tg_tensor *tg_narrow(tg_tensor *a, int dim, long start, size_t length) {
  if (!tg_tensor_check(a, "narrow", 1)) return NULL;
  int d = a->ndim ? tg_norm_dim("narrow", dim, a->ndim) : -1;
  if (a->ndim == 0) tg_error("narrow: cannot narrow a 0-d tensor");
  if (d < 0) return NULL;
  long n = (long)a->shape[d];
  if (start < -n || start > n) {
    tg_error("narrow: start %ld is out of range for dim %d of size %zu (expected %ld..%ld)", start,
             d, a->shape[d], -n, n);
    return NULL;
  }
  size_t s = (size_t)(start < 0 ? start + n : start);
  if (length > a->shape[d] - s) {
    tg_error("narrow: start %zu + length %zu exceeds dim %d of size %zu", s, length, d, a->shape[d]);
    return NULL;
  }
  return slice_view(a, d, s, length, 1);
}

tg_tensor *tg_slice(tg_tensor *a, int dim, long start, long end, long step) {
  if (!tg_tensor_check(a, "slice", 1)) return NULL;
  int d = a->ndim ? tg_norm_dim("slice", dim, a->ndim) : -1;
  if (a->ndim == 0) tg_error("slice: cannot slice a 0-d tensor");
  if (d < 0) return NULL;
  if (step <= 0) {
    tg_error("slice: step must be positive, got %ld", step);
    return NULL;
  }
  long n = (long)a->shape[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = start < 0 ? 0 : (start > n ? n : start);
  end = end < start ? start : (end > n ? n : end);
  size_t len = (size_t)((end - start + step - 1) / step);
  return slice_view(a, d, (size_t)start, len, (size_t)step);
}

tg_tensor *tg_select(tg_tensor *a, int dim, long index) {
  if (!tg_tensor_check(a, "select", 1)) return NULL;
  int d = a->ndim ? tg_norm_dim("select", dim, a->ndim) : -1;
  if (a->ndim == 0) tg_error("select: cannot select from a 0-d tensor");
  if (d < 0) return NULL;
  long n = (long)a->shape[d];
  if (index < -n || index >= n) {
    tg_error("select: index %ld is out of range for dim %d of size %zu", index, d, a->shape[d]);
    return NULL;
  }
  return tg_squeeze(tg_narrow(a, d, index < 0 ? index + n : index, 1), d);
}

/* ----------------------------------------------------- copies and dtype */

static void identity_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  (void)n;
  gi[0] = g;
}
static tg_tensor *identity_jvp(tg_node *n, tg_tensor *const *t) {
  (void)n;
  return t[0];
}
TG_DEFINE_OP_JVP(OP_CLONE, "CloneBackward", identity_backward, identity_jvp, 0);

tg_tensor *tg_clone(tg_tensor *a) {
  if (!tg_tensor_check(a, "clone", 1)) return NULL;
  tg_tensor *out = tg_tensor_alloc(a->dtype, a->ndim, a->shape);
  if (!out || tg_copy_(out, a) != 0) return NULL;
  out->storage->version = 0;
  ops_record(out, &OP_CLONE, 1, &a);
  return out;
}

tg_tensor *tg_contiguous(tg_tensor *a) {
  if (!tg_tensor_check(a, "contiguous", 1)) return NULL;
  return tg_is_contiguous(a) ? a : tg_clone(a);
}

static void to_dtype_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_to_dtype(g, n->in[0]->dtype);
}
static tg_tensor *to_dtype_jvp(tg_node *n, tg_tensor *const *t) { return tg_to_dtype(t[0], n->out->dtype); }
TG_DEFINE_OP_JVP(OP_TO_DTYPE, "ToCopyBackward", to_dtype_backward, to_dtype_jvp, 0);

tg_tensor *tg_to_dtype(tg_tensor *a, tg_dtype dt) {
  if (!tg_tensor_check(a, "to_dtype", 1)) return NULL;
  if ((unsigned)dt > TG_BOOL) {
    tg_error("to_dtype: unknown dtype %d", (int)dt);
    return NULL;
  }
  if (dt == a->dtype) return a;
  tg_tensor *out = tg_tensor_alloc(dt, a->ndim, a->shape);
  if (!out || tg_copy_(out, a) != 0) return NULL;
  out->storage->version = 0;
  /* a result of int64 or bool has no gradient (and an input of those
   * dtypes never requires one) */
  if (tg_dtype_is_float(dt)) ops_record(out, &OP_TO_DTYPE, 1, &a);
  return out;
}

/* ---------------------------------------------------------- cat/stack */

static void cat_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  int dim = (int)tg_node_i(n)[0];
  size_t off = 0;
  for (int k = 0; k < n->n_in; k++) {
    size_t len = n->in[k]->shape[dim];
    if (tg_node_needs_grad(n, k)) gi[k] = tg_narrow(g, dim, (long)off, len);
    off += len;
  }
}
/* cat is linear: the cat of the tangents, zeros for the inputs without one */
static tg_tensor *cat_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *small[8], **ts = n->n_in <= 8 ? small : tg_pool_alloc((size_t)n->n_in * sizeof *ts);
  if (!ts) return NULL;
  for (int k = 0; k < n->n_in; k++) ts[k] = t[k] ? t[k] : tg_zeros_like(n->in[k]);
  tg_tensor *out = tg_cat(n->n_in, ts, (int)tg_node_i(n)[0]);
  if (ts != small) tg_pool_free(ts);
  return out;
}
TG_DEFINE_OP_JVP(OP_CAT, "CatBackward", cat_backward, cat_jvp, TG_NODE_I);

tg_tensor *tg_cat(int n, tg_tensor **ts, int dim) {
  if (n <= 0 || !ts) {
    tg_error("cat: expected a non-empty list of tensors (n = %d%s)", n, ts ? "" : ", ts is NULL");
    return NULL;
  }
  for (int k = 0; k < n; k++)
    if (!tg_tensor_check(ts[k], "cat", k + 1)) return NULL;
  tg_tensor *a = ts[0];
  if (a->ndim == 0) {
    tg_error("cat: zero-dimensional tensor (argument 1) cannot be concatenated");
    return NULL;
  }
  int d = tg_norm_dim("cat", dim, a->ndim);
  if (d < 0) return NULL;
  size_t shape[TG_MAX_DIMS];
  memcpy(shape, a->shape, (size_t)a->ndim * sizeof *shape);
  shape[d] = 0;
  for (int k = 0; k < n; k++) {
    const tg_tensor *t = ts[k];
    bool ok = t->ndim == a->ndim && t->dtype == a->dtype;
    for (int j = 0; ok && j < a->ndim; j++) ok = j == d || t->shape[j] == a->shape[j];
    if (!ok) {
      char b1[96], b2[96];
      tg_error("cat: tensor %d is %s %s but tensor 1 is %s %s; all must match except in dim %d",
               k + 1, tg_dtype_name(t->dtype), tg_shape_str(t, b1, sizeof b1),
               tg_dtype_name(a->dtype), tg_shape_str(a, b2, sizeof b2), d);
      return NULL;
    }
    shape[d] += t->shape[d];
  }
  tg_tensor *out = tg_tensor_alloc(a->dtype, a->ndim, shape);
  if (!out) return NULL;
  size_t off = 0;
  for (int k = 0; k < n; k++) {
    tg_tensor *window = tg_tensor_view(out, out->ndim, ts[k]->shape, out->strides,
                                       off * (size_t)out->strides[d]);
    if (!window || tg_copy_(window, ts[k]) != 0) return NULL;
    off += ts[k]->shape[d];
  }
  out->storage->version = 0;
  tg_node *node = ops_record(out, &OP_CAT, n, ts);
  if (node) tg_node_i(node)[0] = d;
  return out;
}

tg_tensor *tg_stack(int n, tg_tensor **ts, int dim) {
  if (n <= 0 || !ts) {
    tg_error("stack: expected a non-empty list of tensors (n = %d%s)", n, ts ? "" : ", ts is NULL");
    return NULL;
  }
  if (n > 1024) {
    tg_error("stack: at most 1024 tensors at once (got %d)", n);
    return NULL;
  }
  tg_tensor *parts[1024];
  for (int k = 0; k < n; k++) {
    if (!tg_tensor_check(ts[k], "stack", k + 1)) return NULL;
    if (!tg_same_shape(ts[k], ts[0])) {
      char b1[96], b2[96];
      tg_error("stack: tensor %d has shape %s but tensor 1 has %s; all must match", k + 1,
               tg_shape_str(ts[k], b1, sizeof b1), tg_shape_str(ts[0], b2, sizeof b2));
      return NULL;
    }
    parts[k] = tg_unsqueeze(ts[k], dim);
    if (!parts[k]) return NULL;
  }
  return tg_cat(n, parts, dim);
}
