/* Scans along one dim: cumsum, cumprod, logcumsumexp. The forward walks
 * each lane (outer x len x inner, logical order); cumsum runs either way so
 * that its backward, the reversed cumsum, is the same op. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

typedef struct lanes {
  size_t outer, len, inner;
} lanes;

static lanes lanes_of(const tg_tensor *a, int d) {
  lanes l = {1, a->ndim ? a->shape[d] : 1, 1};
  for (int k = 0; k < d; k++) l.outer *= a->shape[k];
  for (int k = d + 1; k < a->ndim; k++) l.inner *= a->shape[k];
  return l;
}

static double *read_values(const tg_tensor *a) {
  double *v = malloc((a->numel ? a->numel : 1) * sizeof *v);
  if (!v) tg_error("scan: out of memory for %zu values", a->numel);
  else tg_to_f64_array(a, v);
  return v;
}

static tg_tensor *from_values(const tg_tensor *like, const double *v) {
  tg_tensor *t = tg_tensor_alloc(like->dtype, like->ndim, like->shape);
  for (size_t i = 0; t && i < t->numel; i++) {
    if (t->dtype == TG_FLOAT32) ((float *)tg_ptr(t))[i] = (float)v[i];
    else ((double *)tg_ptr(t))[i] = v[i];
  }
  return t;
}

/* element j of lane (o, i); reverse walks the lane from its end */
static size_t at(lanes l, size_t o, size_t i, size_t j, bool reverse) {
  return (o * l.len + (reverse ? l.len - 1 - j : j)) * l.inner + i;
}

enum { SCAN_SUM, SCAN_PROD, SCAN_LSE };

/* log(e^a + e^b) around the larger, exact when either is -inf */
static double log_add(double a, double b) {
  if (isnan(a) || isnan(b)) return NAN;
  if (a == -INFINITY) return b;
  if (b == -INFINITY) return a;
  double hi = a > b ? a : b, lo = a > b ? b : a;
  return hi == INFINITY ? hi : hi + log1p(exp(lo - hi));
}

static double *scan_values(const tg_tensor *a, int d, int kind, bool reverse) {
  double *v = read_values(a);
  if (!v) return NULL;
  lanes l = lanes_of(a, d);
  for (size_t o = 0; o < l.outer; o++)
    for (size_t i = 0; i < l.inner; i++) {
      double acc = kind == SCAN_SUM ? 0.0 : kind == SCAN_PROD ? 1.0 : -INFINITY;
      for (size_t j = 0; j < l.len; j++) {
        double *x = &v[at(l, o, i, j, reverse)];
        if (kind == SCAN_SUM) acc += *x;
        else if (kind == SCAN_PROD) acc *= *x;
        else acc = log_add(acc, *x);
        *x = acc;
      }
    }
  return v;
}

/* cumsum/cumprod of int64 or bool: int64, exact, no gradient (as PyTorch) */
static tg_tensor *int_scan(const char *op, tg_tensor *a, int dim, bool prod) {
  int d = tg_norm_dim(op, dim, a->ndim);
  if (d < 0) return NULL;
  if (a->ndim == 0) d = 0;
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *out = tg_clone(tg_to_dtype(a, TG_INT64)); /* a fresh copy to scan in place */
  tg_set_grad_enabled(prev);
  if (!out) return NULL;
  int64_t *v = (int64_t *)tg_ptr(out);
  lanes l = lanes_of(out, d);
  for (size_t o = 0; o < l.outer; o++)
    for (size_t i = 0; i < l.inner; i++) {
      uint64_t acc = prod ? 1 : 0; /* unsigned: wraps as PyTorch's, without UB */
      for (size_t j = 0; j < l.len; j++) {
        int64_t *x = &v[at(l, o, i, j, false)];
        acc = prod ? acc * (uint64_t)*x : acc + (uint64_t)*x;
        *x = (int64_t)acc;
      }
    }
  return out;
}

static tg_tensor *scan_forward(const char *op, tg_tensor *a, int dim, int *d) {
  if (!ops_check_float(op, a, 1)) return NULL;
  *d = tg_norm_dim(op, dim, a->ndim);
  if (*d < 0) return NULL;
  if (a->ndim == 0) *d = 0;
  return a;
}

/* --------------------------------------------------------------- cumsum */

static tg_tensor *cumsum_impl(tg_tensor *a, int d, bool reverse);

static void cumsum_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = cumsum_impl(g, (int)tg_node_i(n)[0], !tg_node_i(n)[1]);
}
/* cumsum is linear: the tangent's cumsum */
static tg_tensor *cumsum_jvp(tg_node *n, tg_tensor *const *t) {
  return cumsum_impl(t[0], (int)tg_node_i(n)[0], tg_node_i(n)[1]);
}
TG_DEFINE_OP_JVP(OP_CUMSUM, "CumsumBackward", cumsum_backward, cumsum_jvp, TG_NODE_I);

static tg_tensor *cumsum_impl(tg_tensor *a, int d, bool reverse) {
  if (!a) return NULL;
  double *v = scan_values(a, d, SCAN_SUM, reverse);
  tg_tensor *out = v ? from_values(a, v) : NULL;
  free(v);
  tg_node *n = ops_record(out, &OP_CUMSUM, 1, &a);
  if (n) tg_node_i(n)[0] = d, tg_node_i(n)[1] = reverse;
  return out;
}

tg_tensor *tg_cumsum(tg_tensor *a, int dim) {
  int d;
  if (a && (a->dtype == TG_INT64 || a->dtype == TG_BOOL) && tg_tensor_ok(a, "cumsum", 1))
    return int_scan("cumsum", a, dim, false);
  if (!scan_forward("cumsum", a, dim, &d)) return NULL;
  return cumsum_impl(a, d, false);
}

/* -------------------------------------------------------------- cumprod */

static tg_tensor *rev_cumsum(tg_tensor *t, int d) { return cumsum_impl(t, d, true); }

/* Without zeros: revcumsum(g out) / x. With a first zero at k in a lane:
 * positions before k keep that formula; k gets sum_{j>=k} g_j cumprod(Y)_j
 * with Y = x but Y_k = 1; a nonzero position i > k gets x_k times
 * sum_{j>=i} g_j cumprod(Y)_j / x_i (zero in value, there for the second
 * derivative). */
static void cumprod_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0];
  int d = (int)tg_node_i(n)[0];
  lanes l = lanes_of(x, d);
  if (l.len == 1) { /* nothing before: the gradient is g, constant in x (P/x would round) */
    gi[0] = g;
    return;
  }
  double *xv = read_values(x);
  if (!xv) return;
  double *b = malloc(3 * (x->numel ? x->numel : 1) * sizeof *b);
  if (!b) {
    free(xv);
    tg_error("CumprodBackward: out of memory");
    return;
  }
  double *e = b + x->numel, *after = e + x->numel;
  bool any = false;
  for (size_t o = 0; o < l.outer; o++)
    for (size_t i = 0; i < l.inner; i++) {
      int state = 0; /* 0 before the first zero, 1 at it, 2 after */
      for (size_t j = 0; j < l.len; j++) {
        size_t p = at(l, o, i, j, false);
        if (state == 1) state = 2;
        if (state == 0 && xv[p] == 0) state = 1, any = true;
        b[p] = state == 0, e[p] = state == 1, after[p] = state == 2 && xv[p] != 0;
      }
    }
  tg_tensor *go = rev_cumsum(tg_mul(g, n->out), d);
  if (!any) {
    gi[0] = tg_div(go, x);
  } else {
    tg_tensor *bt = from_values(x, b), *et = from_values(x, e), *at_ = from_values(x, after);
    tg_tensor *one_b = tg_rsub_scalar(bt, 1.0), *one_a = tg_rsub_scalar(at_, 1.0);
    tg_tensor *t1 = tg_div(tg_mul(bt, go), tg_add(tg_mul(x, bt), one_b));
    tg_tensor *y = tg_add(tg_mul(x, tg_rsub_scalar(et, 1.0)), et);
    tg_tensor *r = rev_cumsum(tg_mul(g, tg_cumprod(y, d)), d);
    tg_tensor *xk = x->ndim ? tg_sum_dims(tg_mul(x, et), 1, &d, true) : tg_mul(x, et);
    tg_tensor *t3 = tg_div(tg_mul(tg_mul(at_, xk), r), tg_add(tg_mul(y, at_), one_a));
    gi[0] = tg_add(tg_add(t1, tg_mul(et, r)), t3);
  }
  free(xv), free(b);
}
/* PyTorch's cumprod_jvp: cumsum(t / x) * out before a lane's first zero;
 * from it on, cumprod of x with t in the first zero's place (a second zero
 * makes it 0). x is 1 at its zeros in the division, so that no NaN reaches
 * the reverse mode through the branch not taken. */
static tg_tensor *cumprod_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *x = n->in[0];
  int d = (int)tg_node_i(n)[0];
  lanes l = lanes_of(x, d);
  if (l.len == 1) return t[0];
  double *xv = read_values(x), *b = xv ? malloc(3 * (x->numel ? x->numel : 1) * sizeof *b) : NULL;
  if (!b) {
    free(xv);
    if (xv) tg_error("CumprodBackward: out of memory");
    return NULL;
  }
  double *z = b, *first = b + x->numel, *from = first + x->numel;
  for (size_t o = 0; o < l.outer; o++)
    for (size_t i = 0; i < l.inner; i++) {
      bool seen = false;
      for (size_t j = 0; j < l.len; j++) {
        size_t p = at(l, o, i, j, false);
        z[p] = xv[p] == 0, first[p] = xv[p] == 0 && !seen;
        seen |= xv[p] == 0;
        from[p] = seen;
      }
    }
  tg_tensor *zt = from_values(x, z), *ft = tg_gt_scalar(from_values(x, first), 0.5);
  tg_tensor *after = tg_gt_scalar(from_values(x, from), 0.5);
  free(xv), free(b);
  tg_tensor *safe = tg_add(tg_mul(x, tg_rsub_scalar(zt, 1.0)), zt);
  tg_tensor *before = tg_mul(cumsum_impl(tg_div(t[0], safe), d, false), n->out);
  tg_tensor *later = tg_cumprod(tg_where(ft, t[0], x), d);
  return tg_where(after, later, before);
}
TG_DEFINE_OP_JVP(OP_CUMPROD, "CumprodBackward", cumprod_backward, cumprod_jvp,
                 TG_SAVES_IN(0) | TG_SAVES_OUT | TG_NODE_I);

tg_tensor *tg_cumprod(tg_tensor *a, int dim) {
  int d;
  if (a && (a->dtype == TG_INT64 || a->dtype == TG_BOOL) && tg_tensor_ok(a, "cumprod", 1))
    return int_scan("cumprod", a, dim, true);
  if (!scan_forward("cumprod", a, dim, &d)) return NULL;
  double *v = scan_values(a, d, SCAN_PROD, false);
  tg_tensor *out = v ? from_values(a, v) : NULL;
  free(v);
  tg_node *n = ops_record(out, &OP_CUMPROD, 1, &a);
  if (n) tg_node_i(n)[0] = d;
  return out;
}

/* --------------------------------------------------------- logcumsumexp */

/* d out_j / dx_i = exp(x_i - out_j) for j >= i, summed as PyTorch 1.13 does
 * (FunctionsManual.cpp, logcumsumexp_backward), so that +-inf inputs give
 * its NaN pattern: with l+_j = log(g_j) where g_j > 0 and l-_j = log(-g_j)
 * where g_j < 0, else the dtype's lowest finite value,
 *   grad_i = exp(x_i + LSE_{j>=i}(l+_j - out_j)) - exp(x_i + LSE_{j>=i}(l-_j - out_j)).
 * A 0-d (or empty) input passes g through, as PyTorch. Fused here; recorded
 * with the same ops (flip, logcumsumexp, where, log, exp) below. */
static double lowest_of(tg_dtype dt) { return dt == TG_FLOAT32 ? -FLT_MAX : -DBL_MAX; }

static void lcse_fused(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0];
  lanes l = lanes_of(x, (int)tg_node_i(n)[0]);
  double *xv = read_values(x), *ov = read_values(n->out), *gv = read_values(g), low = lowest_of(x->dtype);
  if (xv && ov && gv)
    for (size_t o = 0; o < l.outer; o++)
      for (size_t i = 0; i < l.inner; i++) {
        double sp = -INFINITY, sn = -INFINITY;
        for (size_t j = 0; j < l.len; j++) {
          size_t p = at(l, o, i, j, true);
          sp = log_add(sp, (gv[p] > 0 ? log(gv[p]) : low) - ov[p]);
          sn = log_add(sn, (gv[p] < 0 ? log(-gv[p]) : low) - ov[p]);
          xv[p] = exp(xv[p] + sp) - exp(xv[p] + sn);
        }
      }
  if (xv && ov && gv) gi[0] = from_values(x, xv);
  free(xv), free(ov), free(gv);
}

/* one sign's part: exp(x + reverse-logcumsumexp(l - out)), l as above */
static tg_tensor *lcse_part(tg_tensor *x, tg_tensor *out, tg_tensor *g, int d, bool positive) {
  tg_tensor *m = positive ? tg_gt_scalar(g, 0) : tg_lt_scalar(g, 0);
  tg_tensor *safe = tg_where(m, positive ? g : tg_neg(g), tg_scalar(g->dtype, 1)); /* log(1) where masked */
  tg_tensor *lg = tg_where(m, tg_log(safe), tg_scalar(x->dtype, lowest_of(x->dtype)));
  tg_tensor *rev = tg_flip(tg_logcumsumexp(tg_flip(tg_sub(lg, out), 1, &d), d), 1, &d);
  return tg_exp(tg_add(rev, x));
}

static void lcse_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0];
  int d = (int)tg_node_i(n)[0];
  if (x->ndim == 0 || x->numel == 0) {
    gi[0] = g;
    return;
  }
  if (ops_fused_backward()) {
    lcse_fused(n, g, gi);
    return;
  }
  gi[0] = tg_sub(lcse_part(x, n->out, g, d, true), lcse_part(x, n->out, g, d, false));
}
/* PyTorch's logcumsumexp_jvp: with e = exp(x - amax(x)) along the dim,
 * cumsum(e t) / cumsum(e) */
static tg_tensor *lcse_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *x = n->in[0];
  int d = (int)tg_node_i(n)[0];
  if (x->ndim == 0 || x->numel == 0) return t[0];
  tg_tensor *e = tg_exp(tg_sub(x, tg_amax(x, 1, &d, true)));
  return tg_div(cumsum_impl(tg_mul(e, t[0]), d, false), cumsum_impl(e, d, false));
}
TG_DEFINE_OP_JVP(OP_LCSE, "LogcumsumexpBackward", lcse_backward, lcse_jvp,
                 TG_SAVES_IN(0) | TG_SAVES_OUT | TG_NODE_I);

tg_tensor *tg_logcumsumexp(tg_tensor *a, int dim) {
  int d;
  if (!scan_forward("logcumsumexp", a, dim, &d)) return NULL;
  double *v = scan_values(a, d, SCAN_LSE, false);
  tg_tensor *out = v ? from_values(a, v) : NULL;
  free(v);
  tg_node *n = ops_record(out, &OP_LCSE, 1, &a);
  if (n) tg_node_i(n)[0] = d;
  return out;
}
