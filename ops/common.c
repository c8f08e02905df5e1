/* Drivers shared by the elementwise ops and reductions. */
#include "ops_internal.h"

bool ops_check_float(const char *op, const tg_tensor *t, int argno) {
  if (!tg_tensor_ok(t, op, argno)) return false;
  if (!tg_dtype_is_float(t->dtype)) {
    tg_error("%s: argument %d is %s; this op needs float32 or float64", op, argno,
             tg_dtype_name(t->dtype));
    return false;
  }
  return true;
}

bool ops_check_numeric(const char *op, const tg_tensor *t, int argno) {
  if (!tg_tensor_ok(t, op, argno)) return false;
  if (t->dtype == TG_BOOL) {
    tg_error("%s: argument %d is bool; this op needs float32, float64 or int64", op, argno);
    return false;
  }
  return true;
}

bool ops_check_same_dtype(const char *op, const tg_tensor *a, const tg_tensor *b) {
  if (a->dtype == b->dtype) return true;
  tg_error("%s: dtypes differ (%s and %s); convert one with tg_to_dtype", op, tg_dtype_name(a->dtype),
           tg_dtype_name(b->dtype));
  return false;
}

bool ops_check_pair(const char *op, const tg_tensor *a, const tg_tensor *b) {
  return ops_check_float(op, a, 1) && ops_check_float(op, b, 2) && ops_check_same_dtype(op, a, b);
}

/* k over out and up to three inputs broadcast to out's shape */
static void apply_n(tg_tensor *out, int n_in, const tg_tensor *const *in, const ops_kernel *k,
                    ops_params prm) {
  tg_loop_fn fn = out->dtype == TG_FLOAT32 ? k->f32 : k->f64;
  /* the common case, all operands contiguous and of out's size: one run */
  bool flat = tg_contiguous_(out);
  for (int i = 0; flat && i < n_in; i++) flat = in[i]->numel == out->numel && tg_contiguous_(in[i]);
  if (flat) {
    char *p[4] = {tg_ptr(out)};
    ptrdiff_t es = (ptrdiff_t)tg_elem_bytes(out->dtype), s1[4] = {es, es, es, es};
    for (int i = 0; i < n_in; i++) p[i + 1] = tg_ptr(in[i]);
    if (out->numel) fn(p, s1, out->numel, &prm);
    return;
  }
  ptrdiff_t st[4][TG_MAX_DIMS];
  char *base[4] = {tg_ptr(out)};
  tg_broadcast_strides(out, out->ndim, out->shape, st[0]);
  for (int i = 0; i < n_in; i++) {
    base[i + 1] = tg_ptr(in[i]);
    tg_broadcast_strides(in[i], out->ndim, out->shape, st[i + 1]);
  }
  /* size-1 output dims were given stride 0; the iterator drops them anyway */
  tg_iter(n_in + 1, base, out->ndim, out->shape, st, fn, &prm);
}

void ops_apply(tg_tensor *out, const tg_tensor *a, const tg_tensor *b, const ops_kernel *k,
               ops_params prm) {
  apply_n(out, b ? 2 : 1, (const tg_tensor *[]){a, b}, k, prm);
}

tg_tensor *ops_ternary_forward(const char *op, tg_tensor *a, tg_tensor *b, tg_tensor *c,
                               const ops_kernel *k, ops_params prm) {
  if (!ops_check_pair(op, a, b) || !ops_check_pair(op, a, c)) return NULL;
  tg_tensor *out = tg_tensor_alloc(a->dtype, a->ndim, a->shape);
  if (out) apply_n(out, 3, (const tg_tensor *[]){a, b, c}, k, prm);
  return out;
}

/* 0-d float operands of one dtype (a scalar graph's every op): the kernel
 * on one element, without broadcasting or the iterator; the same kernel as
 * the general path, so the same bits */
static inline bool scalar_operand(const tg_tensor *t, tg_dtype dt) {
  return __builtin_expect(t != NULL && t->obj.magic == TG_MAGIC_TENSOR, 1) && t->ndim == 0 &&
         t->dtype == dt;
}
static tg_tensor *scalar_forward(tg_tensor *a, tg_tensor *b, const ops_kernel *k, ops_params prm) {
  tg_tensor *out = tg_tensor_alloc(a->dtype, 0, NULL);
  if (!out) return NULL;
  char *o = out->storage->data, *pa = tg_ptr(a), *pb = b ? tg_ptr(b) : NULL;
  if (a->dtype == TG_FLOAT64 && k->s64) {
    *(double *)o = k->s64(*(const double *)pa, pb ? *(const double *)pb : 0, prm.p0, prm.p1);
  } else if (a->dtype == TG_FLOAT32 && k->s32) {
    *(float *)o = k->s32(*(const float *)pa, pb ? *(const float *)pb : 0, (float)prm.p0,
                         (float)prm.p1);
  } else {
    ptrdiff_t es = (ptrdiff_t)tg_elem_bytes(a->dtype), s1[3] = {es, es, es};
    char *p[3] = {o, pa, pb};
    (a->dtype == TG_FLOAT32 ? k->f32 : k->f64)(p, s1, 1, &prm);
  }
  return out;
}

tg_tensor *ops_unary_forward(const char *op, tg_tensor *a, const ops_kernel *k, ops_params prm) {
  if (scalar_operand(a, TG_FLOAT64) || scalar_operand(a, TG_FLOAT32))
    return scalar_forward(a, NULL, k, prm);
  if (!ops_check_float(op, a, 1)) return NULL;
  tg_tensor *out = tg_tensor_alloc(a->dtype, a->ndim, a->shape);
  if (out) ops_apply(out, a, NULL, k, prm);
  return out;
}

tg_tensor *ops_binary_forward(const char *op, tg_tensor *a, tg_tensor *b, const ops_kernel *k,
                              ops_params prm) {
  if (scalar_operand(a, TG_FLOAT64) ? scalar_operand(b, TG_FLOAT64)
                                    : scalar_operand(a, TG_FLOAT32) && scalar_operand(b, TG_FLOAT32))
    return scalar_forward(a, b, k, prm);
  if (!ops_check_pair(op, a, b)) return NULL;
  size_t shape[TG_MAX_DIMS];
  int nd;
  if (tg_broadcast_shapes(op, a->ndim, a->shape, b->ndim, b->shape, &nd, shape)) return NULL;
  tg_tensor *out = tg_tensor_alloc(a->dtype, nd, shape);
  if (out) ops_apply(out, a, b, k, prm);
  return out;
}

/* FWAD: a JVP's result broadcast to its output's shape, in its dtype */
static tg_tensor *fwad_fit(tg_tensor *t, const tg_tensor *out) {
  if (!tg_same_shape(t, out)) t = tg_expand(t, out->ndim, out->shape);
  return t && t->dtype != out->dtype ? tg_to_dtype(t, out->dtype) : t;
}

void ops_install_grad_ops(void) {
  tg_ctx.grad_add = tg_add;
  tg_ctx.grad_sum_to = tg_sum_to_shape;
  tg_fwad_fit_ = fwad_fit;
}

bool ops_dims_mask(const char *op, const tg_tensor *a, int n_dims, const int *dims,
                   unsigned *mask) {
  *mask = 0;
  if (n_dims == 0) {
    *mask = (1u << a->ndim) - 1u;
    return true;
  }
  if (n_dims < 0 || !dims) {
    tg_error("%s: dims is NULL or n_dims is negative", op);
    return false;
  }
  /* a 0-d tensor has the one dim 0 (or -1), listed at most once, as PyTorch;
   * reducing over it leaves the tensor as it is (mask 0) */
  unsigned seen = 0;
  for (int k = 0; k < n_dims; k++) {
    int d = tg_norm_dim(op, dims[k], a->ndim);
    if (d < 0) return false;
    if (seen & (1u << d)) {
      tg_error("%s: dim %d appears multiple times in the list of dims", op, d);
      return false;
    }
    seen |= 1u << d;
  }
  *mask = a->ndim ? seen : 0;
  return true;
}

int ops_reduced_shape(const tg_tensor *a, unsigned mask, bool keepdim, size_t *shape) {
  int nd = 0;
  for (int d = 0; d < a->ndim; d++) {
    if (mask & (1u << d)) {
      if (keepdim) shape[nd++] = 1;
    } else {
      shape[nd++] = a->shape[d];
    }
  }
  return nd;
}

tg_tensor *ops_expand_reduced(tg_tensor *g, const tg_tensor *a, unsigned mask) {
  size_t keep[TG_MAX_DIMS];
  int nd = ops_reduced_shape(a, mask, true, keep);
  tg_tensor *r = tg_same_shape(g, a) ? g : tg_reshape(g, nd, keep);
  return tg_expand(r, a->ndim, a->shape);
}

tg_tensor *ops_jvp_diag(tg_node *n, tg_tensor *const *t) {
  tg_tensor *gi[1] = {NULL};
  n->op->backward(n, t[0], gi);
  return gi[0];
}

tg_tensor *ops_jvp_reduce(tg_node *n, tg_tensor *const *t) {
  tg_tensor *gi[1] = {NULL}, *x = n->in[0];
  n->op->backward(n, tg_ones_like(n->out), gi);
  if (!gi[0]) return NULL;
  unsigned mask = (unsigned)tg_node_i(n)[0];
  int dims[TG_MAX_DIMS], nd = 0;
  for (int d = 0; d < x->ndim; d++)
    if (mask & (1u << d)) dims[nd++] = d;
  tg_tensor *dt = tg_mul(gi[0], t[0]);
  tg_tensor *s = nd ? tg_sum_dims(dt, nd, dims, true) : dt;
  return tg_reshape(s, n->out->ndim, n->out->shape);
}
