/* Reductions beyond sums: prod, std, norm, amax/amin, argmax/argmin,
 * median, kthvalue. Forwards read the input once in logical order and fold
 * each element into its output slot; backwards are tg_* expressions with
 * constant masks where the derivative is piecewise, so create_graph works. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

/* ------------------------------------------------------------ helpers */

/* the input's values in logical order (caller frees) */
static double *read_values(const tg_tensor *a) {
  double *v = malloc((a->numel ? a->numel : 1) * sizeof *v);
  if (!v) tg_error("reduce: out of memory for %zu values", a->numel);
  else tg_to_f64_array(a, v);
  return v;
}

/* slot[i]: the output element (keepdim row-major order) that element i of
 * a, in logical order, reduces into */
static size_t *slot_map(const tg_tensor *a, unsigned mask) {
  size_t *slot = malloc((a->numel ? a->numel : 1) * sizeof *slot);
  if (!slot) {
    tg_error("reduce: out of memory for %zu indices", a->numel);
    return NULL;
  }
  size_t ostride[TG_MAX_DIMS], s = 1, pos[TG_MAX_DIMS] = {0};
  for (int d = a->ndim - 1; d >= 0; d--) {
    ostride[d] = (mask & (1u << d)) ? 0 : s;
    if (!(mask & (1u << d))) s *= a->shape[d];
  }
  for (size_t i = 0; i < a->numel; i++) {
    size_t o = 0;
    for (int d = 0; d < a->ndim; d++) o += pos[d] * ostride[d];
    slot[i] = o;
    for (int d = a->ndim - 1; d >= 0 && ++pos[d] == a->shape[d]; d--) pos[d] = 0;
  }
  return slot;
}

/* fresh tensor of dtype dt filled from doubles (the constant masks of backwards) */
static tg_tensor *from_values(tg_dtype dt, int nd, const size_t *shape, const double *v) {
  tg_tensor *t = tg_tensor_alloc(dt, nd, shape);
  if (!t) return NULL;
  for (size_t i = 0; i < t->numel; i++) {
    if (dt == TG_FLOAT32) ((float *)tg_ptr(t))[i] = (float)v[i];
    else if (dt == TG_FLOAT64) ((double *)tg_ptr(t))[i] = v[i];
    else ((int64_t *)tg_ptr(t))[i] = (int64_t)v[i];
  }
  return t;
}

static tg_tensor *out_tensor(const tg_tensor *a, tg_dtype dt, unsigned mask, bool keepdim,
                             const double *v) {
  size_t shape[TG_MAX_DIMS];
  int nd = ops_reduced_shape(a, mask, keepdim, shape);
  return from_values(dt, nd, shape, v);
}

static size_t out_count(const tg_tensor *a, unsigned mask) {
  size_t n = 1;
  for (int d = 0; d < a->ndim; d++)
    if (!(mask & (1u << d))) n *= a->shape[d];
  return n;
}

static int mask_dims(const tg_tensor *a, unsigned mask, int *dims) {
  int nd = 0;
  for (int d = 0; d < a->ndim; d++)
    if (mask & (1u << d)) dims[nd++] = d;
  return nd;
}

/* sum over the masked dims, keepdim */
static tg_tensor *sum_kept(tg_tensor *t, const tg_tensor *a, unsigned mask) {
  int dims[TG_MAX_DIMS], nd = mask_dims(a, mask, dims);
  if (nd == 0) return t; /* a 0-d input: nothing to reduce */
  return tg_sum_dims(t, nd, dims, true);
}

/* x read once, in logical order, with the output slot of each element */
typedef struct fold {
  tg_tensor *x;
  unsigned mask;
  double *xv;     /* x in logical order */
  size_t *slot;   /* slot of each element */
  size_t n_out;
} fold;

static bool fold_begin(fold *f, tg_tensor *x, unsigned mask) {
  f->x = x, f->mask = mask, f->n_out = out_count(x, mask);
  f->xv = read_values(x);
  f->slot = f->xv ? slot_map(x, mask) : NULL;
  if (!f->slot) free(f->xv);
  return f->slot != NULL;
}
static void fold_end(fold *f) { free(f->xv), free(f->slot); }

/* constant of x's shape from per-element doubles */
static tg_tensor *like_x(const tg_tensor *x, const double *v) {
  return from_values(x->dtype, x->ndim, x->shape, v);
}
static tg_tensor *like_out(const tg_tensor *x, unsigned mask, const double *v) {
  return out_tensor(x, x->dtype, mask, true, v);
}

/* d out / dx where the output picks elements equal to it: the gradient is
 * shared evenly among them (amax/amin, median of all; with sgn, the inf
 * norms: |x| equal to it, times sign(x)). PyTorch's median counts a NaN
 * result's NaNs as the ties; amax's NaN result matches nothing: 0/0, NaN */
static void ties_backward(tg_node *n, tg_tensor *g, tg_tensor **gi, bool sgn, bool nan_ties) {
  tg_tensor *x = n->in[0];
  unsigned mask = (unsigned)tg_node_i(n)[0];
  fold f;
  if (!fold_begin(&f, x, mask)) return;
  double *ov = read_values(n->out), *m = malloc((x->numel ? x->numel : 1) * sizeof *m);
  double *cnt = calloc(f.n_out ? f.n_out : 1, sizeof *cnt);
  if (ov && m && cnt) {
    for (size_t i = 0; i < x->numel; i++) {
      double v = sgn ? fabs(f.xv[i]) : f.xv[i], o = ov[f.slot[i]];
      m[i] = (v == o || (nan_ties && isnan(v) && isnan(o))) ? 1.0 : 0.0;
      cnt[f.slot[i]] += m[i];
    }
    for (size_t i = 0; i < x->numel; i++) {
      double c = cnt[f.slot[i]];
      /* an inf norm that is NaN matches no |x|: gradient 0 there, as PyTorch */
      m[i] = sgn && c == 0 ? 0.0 : m[i] / c;
      if (sgn) m[i] *= f.xv[i] > 0 ? 1.0 : f.xv[i] < 0 ? -1.0 : 0.0;
    }
    gi[0] = tg_mul(ops_expand_reduced(g, x, mask), like_x(x, m));
  }
  free(ov), free(m), free(cnt);
  fold_end(&f);
}

/* ---------------------------------------------------------------- prod */

static tg_tensor *prod_mask(tg_tensor *a, unsigned mask, bool keepdim);

/* d prod / dx_i = prod of the others, built so that its own derivative is
 * right too: per slot with c zeros, x' = x with its zeros set to 1 and
 * P' = prod(x'); c = 0: P'/x; c = 1: P' at the zero, P' x_zero / x' at the
 * others (zero in value, not in derivative); c = 2: P' x_other_zero at each
 * zero; c >= 3: 0 */
static void prod_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0];
  unsigned mask = (unsigned)tg_node_i(n)[0];
  tg_tensor *gx = ops_expand_reduced(g, x, mask);
  size_t slot = 1;
  for (int d = 0; d < x->ndim; d++)
    if (mask >> d & 1u) slot *= x->shape[d];
  if (slot == 1) { /* prod of no others: 1 exactly, where P/x rounds and has a derivative */
    gi[0] = gx;
    return;
  }
  fold f;
  if (!fold_begin(&f, x, mask)) return;
  double *z = malloc((x->numel ? x->numel : 1) * sizeof *z);
  double *cnt = calloc(f.n_out ? f.n_out : 1, sizeof *cnt);
  bool any = false;
  for (size_t i = 0; z && cnt && i < x->numel; i++) {
    z[i] = f.xv[i] == 0 ? 1.0 : 0.0;
    cnt[f.slot[i]] += z[i];
    any |= z[i] != 0;
  }
  if (!z || !cnt) {
    tg_error("ProdBackward: out of memory");
  } else if (!any) {
    gi[0] = tg_div(tg_mul(gx, ops_expand_reduced(n->out, x, mask)), x);
  } else {
    tg_tensor *zt = like_x(x, z), *nz = tg_rsub_scalar(zt, 1.0);
    tg_tensor *xs = tg_add(tg_mul(x, nz), zt); /* zeros -> 1 */
    tg_tensor *pp = prod_mask(xs, mask, true);
    tg_tensor *xk = sum_kept(tg_mul(x, zt), x, mask); /* sum of the zero entries */
    double *m = calloc(f.n_out ? f.n_out : 1, sizeof *m);
    tg_tensor *inner = NULL;
    for (int c = 0; m && c < 3; c++) {
      bool used = false;
      for (size_t s = 0; s < f.n_out; s++) used |= (m[s] = cnt[s] == c ? 1.0 : 0.0) != 0;
      if (!used) continue;
      tg_tensor *mt = like_out(x, mask, m), *term;
      if (c == 0) term = tg_div(mt, xs);
      else if (c == 1) term = tg_mul(mt, tg_add(zt, tg_div(tg_mul(nz, xk), xs)));
      else term = tg_mul(mt, tg_mul(zt, tg_sub(xk, x)));
      inner = inner ? tg_add(inner, term) : term;
    }
    gi[0] = inner ? tg_mul(gx, tg_mul(pp, inner)) : tg_zeros_like(x);
    free(m);
  }
  free(z), free(cnt);
  fold_end(&f);
}
TG_DEFINE_OP_JVP(OP_PROD, "ProdBackward", prod_backward, ops_jvp_reduce, TG_SAVES_IN(0) | TG_SAVES_OUT | TG_NODE_I);

static tg_tensor *prod_mask(tg_tensor *a, unsigned mask, bool keepdim) {
  fold f;
  if (!fold_begin(&f, a, mask)) return NULL;
  double *acc = malloc((f.n_out ? f.n_out : 1) * sizeof *acc);
  tg_tensor *out = NULL;
  if (acc) {
    for (size_t s = 0; s < f.n_out; s++) acc[s] = 1.0;
    for (size_t i = 0; i < a->numel; i++) acc[f.slot[i]] *= f.xv[i];
    out = out_tensor(a, a->dtype, mask, keepdim, acc);
  }
  free(acc);
  fold_end(&f);
  tg_node *n = ops_record(out, &OP_PROD, 1, &a);
  if (n) tg_node_i(n)[0] = mask;
  return out;
}

tg_tensor *tg_prod(tg_tensor *a) {
  if (!ops_check_float("prod", a, 1)) return NULL;
  return prod_mask(a, (1u << a->ndim) - 1u, false);
}

tg_tensor *tg_prod_dim(tg_tensor *a, int dim, bool keepdim) {
  unsigned mask;
  if (!ops_check_float("prod", a, 1) || !ops_dims_mask("prod", a, 1, &dim, &mask)) return NULL;
  return prod_mask(a, mask, keepdim);
}

/* ----------------------------------------------------------------- std */

/* a slot of equal values has std 0 exactly (PyTorch's Welford pass), not the
 * rounding residue of x - mean, so that its gradient is 0 as PyTorch's */
static bool zero_constant_slots(tg_tensor *out, tg_tensor *a, unsigned mask) {
  fold f;
  if (!fold_begin(&f, a, mask)) return false;
  double *first = malloc((f.n_out ? f.n_out : 1) * sizeof *first);
  char *state = calloc(f.n_out ? f.n_out : 1, 1); /* 0 unseen, 1 constant, 2 not */
  if (first && state) {
    for (size_t i = 0; i < a->numel; i++) {
      size_t s = f.slot[i];
      if (!state[s]) state[s] = 1, first[s] = f.xv[i];
      else if (f.xv[i] != first[s]) state[s] = 2;
    }
    for (size_t s = 0; s < f.n_out; s++)
      if (state[s] == 1 && !isnan(first[s])) { /* NaN stays: 0/0 of one unbiased element */
        if (out->dtype == TG_FLOAT32) ((float *)tg_ptr(out))[s] *= 0.0f;
        else ((double *)tg_ptr(out))[s] *= 0.0;
      }
  } else {
    tg_error("std: out of memory");
  }
  bool ok = first && state;
  free(first), free(state);
  fold_end(&f);
  return ok;
}

/* d std / dx = (x - mean) / ((N - correction) std), and 0 where std = 0 (as PyTorch) */
static void std_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0];
  unsigned mask = (unsigned)tg_node_i(n)[0];
  int dims[TG_MAX_DIMS], nd = mask_dims(x, mask, dims);
  double *ov = read_values(n->out);
  if (!ov) return;
  for (size_t s = 0; s < n->out->numel; s++) ov[s] = ov[s] == 0 ? 1.0 : 0.0;
  tg_tensor *zm = like_out(x, mask, ov);
  free(ov);
  tg_tensor *den = tg_add(ops_expand_reduced(n->out, x, mask), zm);
  tg_tensor *centered = nd ? tg_sub(x, tg_mean_dims(x, nd, dims, true)) : tg_mul_scalar(x, 0.0);
  tg_tensor *coef = tg_mul(ops_expand_reduced(g, x, mask), tg_rsub_scalar(zm, 1.0));
  gi[0] = tg_mul(coef, tg_div(tg_mul_scalar(centered, tg_node_f(n)[0]), den));
}
TG_DEFINE_OP_JVP(OP_STD, "StdBackward", std_backward, ops_jvp_reduce,
             TG_SAVES_IN(0) | TG_SAVES_OUT | TG_NODE_F | TG_NODE_I);

tg_tensor *tg_std_dims(tg_tensor *a, int n_dims, const int *dims, bool unbiased, bool keepdim) {
  unsigned mask;
  if (!ops_check_float("std", a, 1) || !ops_dims_mask("std", a, n_dims, dims, &mask)) return NULL;
  size_t count = 1;
  for (int d = 0; d < a->ndim; d++)
    if (mask & (1u << d)) count *= a->shape[d];
  double denom = (double)count - (unbiased ? 1.0 : 0.0);
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *out = tg_sqrt(tg_var_dims(a, n_dims, dims, unbiased, keepdim));
  tg_set_grad_enabled(prev);
  if (out && !zero_constant_slots(out, a, mask)) return NULL;
  tg_node *n = ops_record(out, &OP_STD, 1, &a);
  if (n) tg_node_i(n)[0] = mask, tg_node_f(n)[0] = denom > 0 ? 1.0 / denom : NAN;
  return out;
}

tg_tensor *tg_std(tg_tensor *a, bool unbiased) { return tg_std_dims(a, 0, NULL, unbiased, false); }

/* ---------------------------------------------------------------- norm */

/* sign(x) |x|^(p-1) / norm^(p-1), with the masks PyTorch applies: 0 where
 * the norm is 0, and (p < 1) 0 where x is 0 */
static void norm_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0];
  unsigned mask = (unsigned)tg_node_i(n)[0];
  double p = tg_node_f(n)[0];
  if (p == 0) {
    gi[0] = tg_zeros_like(x);
    return;
  }
  if (isinf(p)) {
    ties_backward(n, g, gi, true, false);
    return;
  }
  double *xv = read_values(x), *s = malloc((x->numel ? x->numel : 1) * sizeof *s);
  double *ov = read_values(n->out);
  if (xv && s && ov) {
    for (size_t i = 0; i < x->numel; i++) s[i] = xv[i] > 0 ? 1.0 : xv[i] < 0 ? -1.0 : 0.0;
    tg_tensor *sg = like_x(x, s), *gx = ops_expand_reduced(g, x, mask);
    if (p == 1) {
      gi[0] = tg_mul(gx, sg);
    } else {
      for (size_t k = 0; k < n->out->numel; k++) ov[k] = ov[k] == 0 ? 1.0 : 0.0;
      tg_tensor *zm = like_out(x, mask, ov);
      tg_tensor *den = tg_add(ops_expand_reduced(n->out, x, mask), zm);
      tg_tensor *keep = tg_rsub_scalar(zm, 1.0);
      if (p == 2) {
        gi[0] = tg_mul(gx, tg_div(tg_mul(x, keep), den));
      } else {
        for (size_t i = 0; i < x->numel; i++) xv[i] = xv[i] == 0 ? 1.0 : 0.0;
        tg_tensor *absx = tg_add(tg_mul(x, sg), like_x(x, xv)); /* zeros -> 1 */
        tg_tensor *num = tg_mul(sg, tg_pow_scalar(absx, p - 1));
        gi[0] = tg_mul(gx, tg_mul(tg_div(num, tg_pow_scalar(den, p - 1)), keep));
      }
    }
  }
  free(xv), free(s), free(ov);
}
TG_DEFINE_OP_JVP(OP_NORM, "NormBackward", norm_backward, ops_jvp_reduce,
             TG_SAVES_IN(0) | TG_SAVES_OUT | TG_NODE_F | TG_NODE_I);

static double norm_finish(double acc, double p) {
  if (p == 2) return sqrt(acc);
  if (p == 0 || p == 1 || isinf(p)) return acc;
  return pow(acc, 1.0 / p);
}

static tg_tensor *norm_impl(const char *op, tg_tensor *a, double p, int n_dims, const int *dims,
                            bool keepdim) {
  unsigned mask;
  if (!ops_check_float(op, a, 1) || !ops_dims_mask(op, a, n_dims, dims, &mask)) return NULL;
  if (isnan(p)) {
    tg_error("%s: the order p is NaN", op);
    return NULL;
  }
  fold f;
  if (!fold_begin(&f, a, mask)) return NULL;
  /* torch.norm's inf norms of nothing are 0; linalg.vector_norm refuses them */
  if (isinf(p) && a->numel == 0 && f.n_out > 0 && strcmp(op, "norm") != 0) {
    tg_error("%s: cannot compute the %s norm over an empty dim: the operation has no identity",
             op, p > 0 ? "inf" : "-inf");
    fold_end(&f);
    return NULL;
  }
  double *acc = malloc((f.n_out ? f.n_out : 1) * sizeof *acc);
  tg_tensor *out = NULL;
  if (acc) {
    for (size_t s = 0; s < f.n_out; s++) acc[s] = p == -INFINITY && a->numel ? INFINITY : 0.0;
    for (size_t i = 0; i < a->numel; i++) {
      double v = fabs(f.xv[i]), *o = &acc[f.slot[i]];
      if (p == INFINITY) *o = (v > *o || isnan(v)) && !isnan(*o) ? v : *o;
      else if (p == -INFINITY) *o = (v < *o || isnan(v)) && !isnan(*o) ? v : *o;
      else if (p == 0) *o += v != 0;
      else if (p == 1) *o += v;
      else if (p == 2) *o += v * v;
      else *o += pow(v, p);
    }
    for (size_t s = 0; s < f.n_out; s++) acc[s] = norm_finish(acc[s], p);
    out = out_tensor(a, a->dtype, mask, keepdim, acc);
  }
  free(acc);
  fold_end(&f);
  tg_node *n = ops_record(out, &OP_NORM, 1, &a);
  if (n) tg_node_i(n)[0] = mask, tg_node_f(n)[0] = p;
  return out;
}

tg_tensor *tg_norm(tg_tensor *a, double p, int n_dims, const int *dims, bool keepdim) {
  return norm_impl("norm", a, p, n_dims, dims, keepdim);
}

tg_tensor *tg_linalg_vector_norm(tg_tensor *a, double ord, int n_dims, const int *dims,
                                 bool keepdim) {
  return norm_impl("linalg_vector_norm", a, ord, n_dims, dims, keepdim);
}

/* ----------------------------------------------------------- amax/amin */

static void amax_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) { ties_backward(n, g, gi, false, false); }
TG_DEFINE_OP_JVP(OP_AMAX, "AmaxBackward", amax_backward, ops_jvp_reduce, TG_SAVES_IN(0) | TG_SAVES_OUT | TG_NODE_I);
TG_DEFINE_OP_JVP(OP_AMIN, "AminBackward", amax_backward, ops_jvp_reduce, TG_SAVES_IN(0) | TG_SAVES_OUT | TG_NODE_I);

static tg_tensor *aextreme(const char *op, tg_tensor *a, int n_dims, const int *dims,
                           bool keepdim, bool is_max) {
  unsigned mask;
  if (!ops_check_float(op, a, 1) || !ops_dims_mask(op, a, n_dims, dims, &mask)) return NULL;
  fold f;
  if (!fold_begin(&f, a, mask)) return NULL;
  if (a->numel == 0 && f.n_out > 0) {
    tg_error("%s: cannot reduce over an empty dim (the tensor has no elements there)", op);
    fold_end(&f);
    return NULL;
  }
  double *acc = malloc((f.n_out ? f.n_out : 1) * sizeof *acc);
  tg_tensor *out = NULL;
  if (acc) {
    for (size_t s = 0; s < f.n_out; s++) acc[s] = is_max ? -INFINITY : INFINITY;
    for (size_t i = 0; i < a->numel; i++) {
      double v = f.xv[i], *o = &acc[f.slot[i]];
      if (!isnan(*o) && (isnan(v) || (is_max ? v > *o : v < *o))) *o = v;
    }
    out = out_tensor(a, a->dtype, mask, keepdim, acc);
  }
  free(acc);
  fold_end(&f);
  tg_node *n = ops_record(out, is_max ? &OP_AMAX : &OP_AMIN, 1, &a);
  if (n) tg_node_i(n)[0] = mask;
  return out;
}

tg_tensor *tg_amax(tg_tensor *a, int n_dims, const int *dims, bool keepdim) {
  return aextreme("amax", a, n_dims, dims, keepdim, true);
}
tg_tensor *tg_amin(tg_tensor *a, int n_dims, const int *dims, bool keepdim) {
  return aextreme("amin", a, n_dims, dims, keepdim, false);
}

/* ------------------------------------------------------- argmax/argmin */

/* first extreme along the masked dims (one dim, or all); NaN counts as the
 * extreme, its first occurrence wins, as in PyTorch */
static tg_tensor *argextreme(const char *op, tg_tensor *a, unsigned mask, bool keepdim,
                             bool is_max, bool flat) {
  fold f;
  if (!fold_begin(&f, a, mask)) return NULL;
  size_t len = f.n_out ? a->numel / f.n_out : 0;
  if (len == 0 && (f.n_out > 0 || flat)) {
    tg_error("%s: cannot reduce over an empty dim (the tensor has no elements there)", op);
    fold_end(&f);
    return NULL;
  }
  double *best = malloc((f.n_out ? f.n_out : 1) * sizeof *best);
  double *idx = calloc(f.n_out ? f.n_out : 1, sizeof *idx);
  size_t *seen = calloc(f.n_out ? f.n_out : 1, sizeof *seen);
  tg_tensor *out = NULL;
  if (best && idx && seen) {
    /* elements of one slot come in logical order; their rank along the
     * reduced dims is the running count */
    for (size_t i = 0; i < a->numel; i++) {
      size_t s = f.slot[i], k = seen[s]++;
      double v = f.xv[i];
      if (k == 0 || (!isnan(best[s]) && (isnan(v) || (is_max ? v > best[s] : v < best[s]))))
        best[s] = v, idx[s] = (double)k;
    }
    out = out_tensor(a, TG_INT64, mask, keepdim, idx);
  }
  free(best), free(idx), free(seen);
  fold_end(&f);
  return out;
}

/* int64 counts too (compared as doubles: exact up to 2^53); bool does not, as PyTorch */
static bool arg_input_ok(const char *op, const tg_tensor *a) {
  return a && a->dtype == TG_INT64 ? tg_tensor_ok(a, op, 1) : ops_check_float(op, a, 1);
}
static tg_tensor *arg_all(const char *op, tg_tensor *a, bool is_max) {
  if (!arg_input_ok(op, a)) return NULL;
  return argextreme(op, a, (1u << a->ndim) - 1u, false, is_max, true);
}
static tg_tensor *arg_dim(const char *op, tg_tensor *a, int dim, bool keepdim, bool is_max) {
  unsigned mask;
  if (!arg_input_ok(op, a) || !ops_dims_mask(op, a, 1, &dim, &mask)) return NULL;
  return argextreme(op, a, mask, keepdim, is_max, false);
}
tg_tensor *tg_argmax(tg_tensor *a) { return arg_all("argmax", a, true); }
tg_tensor *tg_argmin(tg_tensor *a) { return arg_all("argmin", a, false); }
tg_tensor *tg_argmax_dim(tg_tensor *a, int dim, bool keepdim) { return arg_dim("argmax", a, dim, keepdim, true); }
tg_tensor *tg_argmin_dim(tg_tensor *a, int dim, bool keepdim) { return arg_dim("argmin", a, dim, keepdim, false); }

/* ---------------------------------------------------- median/kthvalue */

/* the median of all elements: gradient shared among the elements equal to
 * it, as PyTorch's evenly_distribute_backward; the tangent is the mean of
 * theirs (its backward at g = 1 dotted with the tangent) */
static void median_all_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) { ties_backward(n, g, gi, false, true); }
TG_DEFINE_OP_JVP(OP_MEDIAN_ALL, "MedianBackward", median_all_backward, ops_jvp_reduce,
             TG_SAVES_IN(0) | TG_SAVES_OUT | TG_NODE_I);

static int cmp_nan_last(const void *pa, const void *pb) {
  double a = *(const double *)pa, b = *(const double *)pb;
  if (isnan(a) || isnan(b)) return isnan(a) - isnan(b);
  return (a > b) - (a < b);
}

tg_tensor *tg_median(tg_tensor *a) {
  if (!ops_check_float("median", a, 1)) return NULL;
  double *v = read_values(a), m = NAN;
  if (!v) return NULL;
  qsort(v, a->numel, sizeof *v, cmp_nan_last);
  if (a->numel > 0 && !isnan(v[a->numel - 1])) m = v[(a->numel - 1) / 2];
  free(v);
  tg_tensor *out = from_values(a->dtype, 0, NULL, &m);
  tg_node *n = ops_record(out, &OP_MEDIAN_ALL, 1, &a);
  if (n) tg_node_i(n)[0] = (int64_t)((1u << a->ndim) - 1u);
  return out;
}

/* the gradient goes to the chosen index */
static void pick_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *idx = tg_node_saved(n);
  if (x->ndim == 0) {
    gi[0] = g;
    return;
  }
  gi[0] = tg_scatter_add(tg_zeros_like(x), (int)tg_node_i(n)[0], idx, tg_reshape(g, idx->ndim, idx->shape));
}
/* tangent: the tangent at the chosen index */
static tg_tensor *pick_jvp(tg_node *n, tg_tensor *const *t) {
  if (n->in[0]->ndim == 0) return t[0];
  tg_tensor *idx = tg_node_saved(n);
  return tg_reshape(tg_gather(t[0], (int)tg_node_i(n)[0], idx), n->out->ndim, n->out->shape);
}
TG_DEFINE_OP_JVP(OP_MEDIAN, "MedianBackward", pick_backward, pick_jvp, TG_NODE_I | TG_NODE_SAVED);
TG_DEFINE_OP_JVP(OP_KTHVALUE, "KthvalueBackward", pick_backward, pick_jvp, TG_NODE_I | TG_NODE_SAVED);

/* k-th smallest (1-based, stable order, NaN last) along dim; k = 0 means the
 * median (lower middle, or the first NaN of a lane that has one) */
static tg_tensor *select_dim(const char *op, tg_tensor *a, long k, int dim, bool keepdim,
                             tg_tensor **indices) {
  if (indices) *indices = NULL;
  if (!ops_check_float(op, a, 1)) return NULL;
  int d = tg_norm_dim(op, dim, a->ndim);
  if (d < 0) return NULL;
  size_t len = a->ndim ? a->shape[d] : 1;
  if (len == 0) {
    tg_error("%s: cannot reduce over dim %d of size 0", op, d);
    return NULL;
  }
  if (k != 0 && (k < 1 || (size_t)k > len)) {
    tg_error("%s: k = %ld is out of range for dim %d of size %zu", op, k, d, len);
    return NULL;
  }
  tg_tensor *sorted_idx = NULL;
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *sv = a->ndim ? tg_sort(a, d, false, &sorted_idx) : NULL;
  tg_set_grad_enabled(prev);
  unsigned mask = a->ndim ? 1u << d : 0;
  size_t n_out = out_count(a, mask), inner = 1;
  for (int q = d + 1; q < a->ndim; q++) inner *= a->shape[q];
  double *val = malloc((n_out ? n_out : 1) * sizeof *val), *ix = malloc((n_out ? n_out : 1) * sizeof *ix);
  double *s = a->ndim ? (sv ? read_values(sv) : NULL) : read_values(a);
  double *si = a->ndim ? (sorted_idx ? read_values(sorted_idx) : NULL) : calloc(1, sizeof *si);
  tg_tensor *out = NULL, *idx = NULL, *idx_out = NULL;
  if (val && ix && s && si) {
    for (size_t o = 0; o < n_out; o++) {
      size_t outer = o / inner, in = o % inner, pos = (size_t)(k - 1);
      if (k == 0) {
        size_t valid = len; /* NaNs sort last */
        while (valid > 0 && isnan(s[(outer * len + valid - 1) * inner + in])) valid--;
        pos = valid < len ? valid : (len - 1) / 2;
      }
      size_t at = (outer * len + pos) * inner + in;
      val[o] = s[at], ix[o] = si[at];
    }
    out = out_tensor(a, a->dtype, mask, keepdim, val);
    idx = out_tensor(a, TG_INT64, mask, true, ix);
    idx_out = keepdim ? idx : out_tensor(a, TG_INT64, mask, false, ix);
  }
  free(val), free(ix), free(s), free(si);
  if (!out || !idx_out) return NULL;
  tg_node *n = ops_record(out, k == 0 ? &OP_MEDIAN : &OP_KTHVALUE, 1, &a);
  if (n) {
    tg_node_i(n)[0] = d;
    tg_node_save(n, idx);
  }
  if (indices) *indices = idx_out;
  return out;
}

tg_tensor *tg_median_dim(tg_tensor *a, int dim, bool keepdim, tg_tensor **indices) {
  return select_dim("median", a, 0, dim, keepdim, indices);
}

tg_tensor *tg_kthvalue(tg_tensor *a, long k, int dim, bool keepdim, tg_tensor **indices) {
  if (tg_tensor_ok(a, "kthvalue", 1) && k == 0) {
    tg_error("kthvalue: k = 0 is out of range (k counts from 1)");
    if (indices) *indices = NULL;
    return NULL;
  }
  return select_dim("kthvalue", a, k, dim, keepdim, indices);
}
