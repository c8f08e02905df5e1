/* Indexing ops in adjoint pairs: gather <-> scatter_add and
 * index_select <-> index_add; each one's backward is the other. Float or
 * int64 tensors (no gradient for int64), elements moved in their own dtype. */
#include <string.h>

#include "ops_internal.h"

bool ops_check_index(const char *op, const tg_tensor *idx, int argno) {
  if (!tg_tensor_check(idx, op, argno)) return false;
  if (idx->dtype != TG_INT64) {
    tg_error("%s: index (argument %d) must be int64, got %s", op, argno, tg_dtype_name(idx->dtype));
    return false;
  }
  return true;
}

static ptrdiff_t offset_of(const tg_tensor *t, const size_t *pos) {
  ptrdiff_t off = (ptrdiff_t)t->offset;
  for (int d = 0; d < t->ndim; d++) off += (ptrdiff_t)pos[d] * t->strides[d];
  return off;
}

static bool next_pos(size_t *pos, int ndim, const size_t *shape) {
  for (int d = ndim - 1; d >= 0; d--) {
    if (++pos[d] < shape[d]) return true;
    pos[d] = 0;
  }
  return false;
}

/* dst[doff] = src[soff], or += with add; both of dst's dtype, int64 in
 * integers (wrapping as PyTorch's, not through double) */
static void move_at(tg_tensor *dst, ptrdiff_t doff, const tg_tensor *src, ptrdiff_t soff, bool add) {
  void *d = dst->storage->data;
  const void *s = src->storage->data;
  if (dst->dtype == TG_FLOAT32) {
    float v = ((const float *)s)[soff], *p = (float *)d + doff;
    *p = add ? *p + v : v;
  } else if (dst->dtype == TG_INT64) {
    int64_t v = ((const int64_t *)s)[soff], *p = (int64_t *)d + doff;
    *p = add ? (int64_t)((uint64_t)*p + (uint64_t)v) : v;
  } else {
    double v = ((const double *)s)[soff], *p = (double *)d + doff;
    *p = add ? *p + v : v;
  }
}

static void fill_at(tg_tensor *t, ptrdiff_t off, double v) {
  if (t->dtype == TG_FLOAT32) ((float *)t->storage->data)[off] = (float)v;
  else if (t->dtype == TG_INT64) ((int64_t *)t->storage->data)[off] = (int64_t)v;
  else ((double *)t->storage->data)[off] = v;
}

bool ops_check_int_value(const char *op, const tg_tensor *t, double value) {
  /* a fill value for an int64 tensor truncates toward 0, as PyTorch's cast */
  if (t->dtype != TG_INT64 || (value > -0x1p63 - 1 && value < 0x1p63)) return true;
  tg_error("%s: value %g cannot be converted to type int64 without overflow", op, value);
  return false;
}

static bool index_in_range(const char *op, int64_t v, size_t size, int dim) {
  if (v < 0 || (uint64_t)v >= size) {
    tg_error("%s: index %lld is out of bounds for dim %d with size %zu", op, (long long)v, dim, size);
    return false;
  }
  return true;
}

/* for every position p of idx: body with q = p except q[dim] = idx[p]:
 * dst[p] += big[q] (gather), dst[q] += src[p] (add), dst[q] = src[p] or
 * value without src (set; of repeated q the last write stays) */
bool ops_scatter_kernel(const char *op, const tg_tensor *big, int dim, const tg_tensor *idx,
                        tg_tensor *dst, const tg_tensor *src, ops_scatter_mode mode, double value) {
  if (idx->numel == 0) return true;
  size_t p[TG_MAX_DIMS] = {0}, q[TG_MAX_DIMS];
  const int64_t *ix = (const int64_t *)idx->storage->data;
  do {
    int64_t v = ix[offset_of(idx, p)];
    /* a 0-d input has one position along its dim 0, as in PyTorch */
    if (!index_in_range(op, v, big->ndim ? big->shape[dim] : 1, dim)) return false;
    memcpy(q, p, sizeof q);
    q[dim] = (size_t)v;
    if (mode == OPS_GATHER) move_at(dst, offset_of(dst, p), big, offset_of(big, q), false);
    else if (mode == OPS_SCATTER_ADD) move_at(dst, offset_of(dst, q), src, offset_of(src, p), true);
    else if (src) move_at(dst, offset_of(dst, q), src, offset_of(src, p), false);
    else fill_at(dst, offset_of(dst, q), value);
  } while (next_pos(p, idx->ndim, idx->shape));
  return true;
}

bool ops_check_gather_shapes(const char *op, const tg_tensor *a, int d, const tg_tensor *idx,
                                const tg_tensor *src) {
  char b1[96], b2[96];
  bool ok = idx->ndim == a->ndim && (!src || src->ndim == a->ndim);
  for (int k = 0; ok && k < a->ndim; k++) {
    if (k != d && idx->shape[k] > a->shape[k]) ok = false;
    if (src && idx->shape[k] > src->shape[k]) ok = false;
  }
  if (!ok)
    tg_error("%s: index %s does not fit input %s along dims other than %d (same ndim, index no larger)",
             op, tg_shape_str(idx, b1, sizeof b1), tg_shape_str(a, b2, sizeof b2), d);
  return ok;
}

/* ---------------------------------------------------- gather/scatter_add */

static void gather_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_scatter_add(tg_zeros_like(n->in[0]), (int)tg_node_i(n)[0], tg_node_saved(n), g);
}
/* gather is linear: the tangent gathered at the same index */
static tg_tensor *gather_jvp(tg_node *n, tg_tensor *const *t) {
  return tg_gather(t[0], (int)tg_node_i(n)[0], tg_node_saved(n));
}
TG_DEFINE_OP_JVP(OP_GATHER, "GatherBackward", gather_backward, gather_jvp, TG_NODE_I | TG_NODE_SAVED);

tg_tensor *tg_gather(tg_tensor *a, int dim, tg_tensor *index) {
  if (!ops_check_numeric("gather", a, 1) || !ops_check_index("gather", index, 3)) return NULL;
  int d = tg_norm_dim("gather", dim, a->ndim);
  if (d < 0 || !ops_check_gather_shapes("gather", a, d, index, NULL)) return NULL;
  tg_tensor *out = tg_zeros(a->dtype, index->ndim, index->shape);
  if (!out || !ops_scatter_kernel("gather", a, d, index, out, NULL, OPS_GATHER, 0)) return NULL;
  tg_node *n = ops_record(out, &OP_GATHER, 1, &a);
  if (n) {
    tg_node_i(n)[0] = d;
    tg_node_save(n, index);
  }
  return out;
}

/* src may be larger than the index; the entries it does not reach get
 * zero gradient: the gathered gradient padded with zeros up to src's shape */
tg_tensor *ops_scatter_src_grad(tg_tensor *g, int dim, tg_tensor *index, const tg_tensor *src) {
  tg_tensor *gs = tg_gather(g, dim, index);
  for (int k = 0; gs && k < src->ndim; k++)
    if (gs->shape[k] < src->shape[k]) {
      size_t zs[TG_MAX_DIMS];
      memcpy(zs, gs->shape, (size_t)gs->ndim * sizeof *zs);
      zs[k] = src->shape[k] - gs->shape[k];
      gs = tg_cat(2, (tg_tensor *[]){gs, tg_zeros(gs->dtype, gs->ndim, zs)}, k);
    }
  return gs;
}

static void scatter_add_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (tg_node_needs_grad(n, 0)) gi[0] = g;
  if (tg_node_needs_grad(n, 1)) gi[1] = ops_scatter_src_grad(g, (int)tg_node_i(n)[0], tg_node_saved(n), n->in[1]);
}
/* linear in (a, src): the scatter_add of the tangents */
static tg_tensor *scatter_add_jvp(tg_node *n, tg_tensor *const *t) {
  if (!t[1]) return t[0];
  return tg_scatter_add(t[0] ? t[0] : tg_zeros_like(n->out), (int)tg_node_i(n)[0], tg_node_saved(n), t[1]);
}
TG_DEFINE_OP_JVP(OP_SCATTER_ADD, "ScatterAddBackward", scatter_add_backward, scatter_add_jvp, TG_NODE_I | TG_NODE_SAVED);

tg_tensor *tg_scatter_add(tg_tensor *a, int dim, tg_tensor *index, tg_tensor *src) {
  /* src is argument 4: checked on its own first, so a message names it so */
  if (!ops_check_numeric("scatter_add", a, 1) || !ops_check_numeric("scatter_add", src, 4) ||
      !ops_check_same_dtype("scatter_add", a, src) || !ops_check_index("scatter_add", index, 3))
    return NULL;
  int d = tg_norm_dim("scatter_add", dim, a->ndim);
  if (d < 0 || !ops_check_gather_shapes("scatter_add", a, d, index, src)) return NULL;
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *out = tg_clone(a);
  tg_set_grad_enabled(prev);
  if (!out || !ops_scatter_kernel("scatter_add", a, d, index, out, src, OPS_SCATTER_ADD, 0)) return NULL;
  tg_node *n = ops_record(out, &OP_SCATTER_ADD, 2, (tg_tensor *[]){a, src});
  if (n) {
    tg_node_i(n)[0] = d;
    tg_node_save(n, index);
  }
  return out;
}

/* -------------------------------------------------- index_select/index_add */

static bool check_index_1d(const char *op, const tg_tensor *a, int d, const tg_tensor *idx) {
  if (idx->ndim != 1) {
    tg_error("%s: index must be 1-D, got %d dims", op, idx->ndim);
    return false;
  }
  const int64_t *ix = (const int64_t *)idx->storage->data;
  for (size_t i = 0; i < idx->numel; i++)
    if (!index_in_range(op, ix[(ptrdiff_t)idx->offset + (ptrdiff_t)i * idx->strides[0]], a->shape[d], d))
      return false;
  return true;
}

/* dst[..., ix[i], ...] += src[..., i, ...] (select=false) or
 * dst[..., i, ...] += src[..., ix[i], ...] (select=true) */
static void index_copy_rows(tg_tensor *dst, const tg_tensor *src, int d, const tg_tensor *idx, bool select) {
  const int64_t *ix = (const int64_t *)idx->storage->data;
  for (size_t i = 0; i < idx->numel; i++) {
    size_t j = (size_t)ix[(ptrdiff_t)idx->offset + (ptrdiff_t)i * idx->strides[0]];
    size_t row_dst = select ? i : j, row_src = select ? j : i;
    size_t p[TG_MAX_DIMS] = {0}, shape[TG_MAX_DIMS];
    memcpy(shape, src->shape, (size_t)src->ndim * sizeof *shape);
    shape[d] = 1;
    do {
      size_t pd[TG_MAX_DIMS], ps[TG_MAX_DIMS];
      memcpy(pd, p, sizeof pd);
      memcpy(ps, p, sizeof ps);
      pd[d] = row_dst;
      ps[d] = row_src;
      move_at(dst, offset_of(dst, pd), src, offset_of(src, ps), true);
    } while (next_pos(p, src->ndim, shape));
  }
}

static void index_select_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_index_add(tg_zeros_like(n->in[0]), (int)tg_node_i(n)[0], tg_node_saved(n), g);
}
static tg_tensor *index_select_jvp(tg_node *n, tg_tensor *const *t) {
  return tg_index_select(t[0], (int)tg_node_i(n)[0], tg_node_saved(n));
}
TG_DEFINE_OP_JVP(OP_INDEX_SELECT, "IndexSelectBackward", index_select_backward, index_select_jvp, TG_NODE_I | TG_NODE_SAVED);

/* A 0-d input is one position, as in PyTorch: dim 0 or -1, every index 0,
 * and a 0-d result (of index_select: the value once, however many indices) */
static bool check_0d(const char *op, int dim, const tg_tensor *index) {
  if (tg_norm_dim(op, dim, 1) < 0) return false;
  if (index->numel == 0) {
    tg_error("%s: an empty index into a 0-d input", op);
    return false;
  }
  return true;
}

static tg_tensor *index_select_0d(tg_tensor *a, int dim, tg_tensor *index) {
  if (!check_0d("index_select", dim, index)) return NULL;
  tg_tensor *rows = tg_index_select(tg_reshape(a, TG_SHAPE(1)), 0, index);
  return rows ? tg_reshape(tg_narrow(rows, 0, 0, 1), 0, NULL) : NULL;
}

static tg_tensor *index_add_0d(tg_tensor *a, int dim, tg_tensor *index, tg_tensor *src) {
  if (!check_0d("index_add", dim, index)) return NULL;
  if (src->ndim > 1 || src->numel != index->numel) {
    char b[96];
    tg_error("index_add: source %s must be 0-d or 1-D with one element per index (%zu) for a 0-d "
             "input", tg_shape_str(src, b, sizeof b), index->numel);
    return NULL;
  }
  tg_tensor *out = tg_index_add(tg_reshape(a, TG_SHAPE(1)), 0, index, tg_reshape(src, TG_SHAPE(src->numel)));
  return out ? tg_reshape(out, 0, NULL) : NULL;
}

tg_tensor *tg_index_select(tg_tensor *a, int dim, tg_tensor *index) {
  if (!ops_check_numeric("index_select", a, 1) || !ops_check_index("index_select", index, 3)) return NULL;
  if (a->ndim == 0) return index_select_0d(a, dim, index);
  int d = tg_norm_dim("index_select", dim, a->ndim);
  if (d < 0 || !check_index_1d("index_select", a, d, index)) return NULL;
  size_t shape[TG_MAX_DIMS];
  memcpy(shape, a->shape, (size_t)a->ndim * sizeof *shape);
  shape[d] = index->numel;
  tg_tensor *out = tg_zeros(a->dtype, a->ndim, shape);
  if (!out) return NULL;
  if (out->numel) index_copy_rows(out, a, d, index, true);
  tg_node *n = ops_record(out, &OP_INDEX_SELECT, 1, &a);
  if (n) {
    tg_node_i(n)[0] = d;
    tg_node_save(n, index);
  }
  return out;
}

static void index_add_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (tg_node_needs_grad(n, 0)) gi[0] = g;
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_index_select(g, (int)tg_node_i(n)[0], tg_node_saved(n));
}
static tg_tensor *index_add_jvp(tg_node *n, tg_tensor *const *t) {
  if (!t[1]) return t[0];
  return tg_index_add(t[0] ? t[0] : tg_zeros_like(n->out), (int)tg_node_i(n)[0], tg_node_saved(n), t[1]);
}
TG_DEFINE_OP_JVP(OP_INDEX_ADD, "IndexAddBackward", index_add_backward, index_add_jvp, TG_NODE_I | TG_NODE_SAVED);

tg_tensor *tg_index_add(tg_tensor *a, int dim, tg_tensor *index, tg_tensor *src) {
  /* src is argument 4: checked on its own first, so a message names it so */
  if (!ops_check_numeric("index_add", a, 1) || !ops_check_numeric("index_add", src, 4) ||
      !ops_check_same_dtype("index_add", a, src) || !ops_check_index("index_add", index, 3))
    return NULL;
  if (a->ndim == 0) return index_add_0d(a, dim, index, src);
  int d = tg_norm_dim("index_add", dim, a->ndim);
  if (d < 0 || !check_index_1d("index_add", a, d, index)) return NULL;
  bool ok = src->ndim == a->ndim && src->shape[d] == index->numel;
  for (int k = 0; ok && k < a->ndim; k++) ok = k == d || src->shape[k] == a->shape[k];
  if (!ok) {
    char b1[96], b2[96];
    tg_error("index_add: source %s must match input %s except in dim %d, which must equal the "
             "index length %zu", tg_shape_str(src, b1, sizeof b1), tg_shape_str(a, b2, sizeof b2),
             d, index->numel);
    return NULL;
  }
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *out = tg_clone(a);
  tg_set_grad_enabled(prev);
  if (!out) return NULL;
  if (src->numel) index_copy_rows(out, src, d, index, false);
  tg_node *n = ops_record(out, &OP_INDEX_ADD, 2, (tg_tensor *[]){a, src});
  if (n) {
    tg_node_i(n)[0] = d;
    tg_node_save(n, index);
  }
  return out;
}
