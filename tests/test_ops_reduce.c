/* The reductions of ops/reduce_stats.c, the scans of ops/scan.c and the
 * sorts of ops/sort.c: forward values against naive loops here, float64
 * gradchecks on random shapes (through transposed and strided views taken
 * inside the function under test), gradgradchecks, and PyTorch's rules at
 * ties, zeros, NaN and empty inputs (values taken from torch 1.13). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"

/* ------------------------------------------------------------ helpers */

static tg_rng seeded(uint64_t seed) {
  tg_rng r;
  tg_rng_seed(&r, seed);
  return r;
}

static int rand_shape(tg_rng *r, int lo_nd, int hi_nd, size_t lo, size_t hi, size_t *shape) {
  int nd = (int)rand_int(r, (size_t)lo_nd, (size_t)hi_nd);
  for (int d = 0; d < nd; d++) shape[d] = rand_int(r, lo, hi);
  return nd;
}

/* a random non-empty set of dims, some written negative */
static int rand_dims(tg_rng *r, int nd, int *dims) {
  unsigned mask = 0;
  while (mask == 0) mask = (unsigned)rand_int(r, 0, (1u << nd) - 1);
  int n = 0;
  for (int d = 0; d < nd; d++)
    if (mask & (1u << d)) dims[n++] = rand_int(r, 0, 1) ? d : d - nd;
  return n;
}

enum { D_ANY, D_MAG, D_AWAY, D_DISTINCT, D_DISTINCT_ABS };

/* values: D_ANY N(0,1); D_MAG +-[0.5, 1.5) (moderate products); D_AWAY |x|
 * >= 0.25; D_DISTINCT all at least 0.15 apart; D_DISTINCT_ABS |x| so */
static void fill(tg_rng *r, int kind, double *p, size_t n) {
  size_t *perm = malloc((n ? n : 1) * sizeof *perm);
  assert_non_null(perm);
  for (size_t i = 0; i < n; i++) perm[i] = i;
  for (size_t i = n; i > 1; i--) {
    size_t j = rand_int(r, 0, i - 1), s = perm[i - 1];
    perm[i - 1] = perm[j], perm[j] = s;
  }
  for (size_t i = 0; i < n; i++) {
    double sgn = tg_rng_uniform(r) < 0.5 ? -1.0 : 1.0;
    switch (kind) {
    case D_MAG: p[i] = sgn * (0.5 + tg_rng_uniform(r)); break;
    case D_AWAY: p[i] = sgn * (0.25 + fabs(tg_rng_normal(r))); break;
    case D_DISTINCT: p[i] = ((double)perm[i] - (double)n / 2) * 0.25 + 0.1 * tg_rng_uniform(r); break;
    case D_DISTINCT_ABS: p[i] = sgn * ((double)perm[i] * 0.25 + 0.3 + 0.1 * tg_rng_uniform(r)); break;
    default: p[i] = tg_rng_normal(r); break;
    }
  }
  free(perm);
}

/* views: NC_T transposes the first and last dims, NC_S takes [1::2] of the last */
enum { NC_NONE, NC_T, NC_S };

static int eff_nc(int nc, int nd) {
  if (nd == 0) return NC_NONE;
  if (nd == 1 && nc == NC_T) return NC_S;
  return nc;
}

static tg_tensor *view(tg_tensor *x, int nc) {
  switch (eff_nc(nc, x->ndim)) {
  case NC_T: return tg_transpose(x, 0, -1);
  case NC_S: return tg_slice(x, -1, 1, LONG_MAX, 2);
  default: return x;
  }
}

/* a float64 leaf whose view(nc) has the given shape */
static tg_tensor *leaf(tg_rng *r, int kind, int nc, int nd, const size_t *shape) {
  size_t ls[TG_MAX_DIMS];
  for (int d = 0; d < nd; d++) ls[d] = shape[d];
  if (eff_nc(nc, nd) == NC_T) ls[0] = shape[nd - 1], ls[nd - 1] = shape[0];
  if (eff_nc(nc, nd) == NC_S) ls[nd - 1] *= 2;
  tg_tensor *t = tg_empty(TG_FLOAT64, nd, ls);
  assert_non_null(t);
  fill(r, kind, tg_data_f64(t), t->numel);
  return tg_requires_grad_(t, true);
}

static double *values(const tg_tensor *t) {
  assert_non_null(t);
  double *v = malloc((t->numel ? t->numel : 1) * sizeof *v);
  assert_non_null(v);
  assert_int_equal(tg_to_f64_array(t, v), 0);
  return v;
}

static const char *dims_str(int n, const int *dims) {
  static char b[64];
  int len = 0;
  b[0] = 0;
  for (int k = 0; k < n && len < 56; k++) len += snprintf(b + len, sizeof b - (size_t)len, "%d ", dims[k]);
  return b;
}

/* The values of x grouped by output slot: g.v[slot * g.len + k] is the k-th
 * element (logical order) reduced into slot (keepdim row-major order). */
typedef struct groups {
  size_t n_out, len;
  double *v;
} groups;

static groups group_by(const tg_tensor *x, unsigned mask) {
  groups g = {1, 1, NULL};
  for (int d = 0; d < x->ndim; d++) {
    if (mask & (1u << d)) g.len *= x->shape[d];
    else g.n_out *= x->shape[d];
  }
  g.v = malloc((x->numel ? x->numel : 1) * sizeof *g.v);
  assert_non_null(g.v);
  size_t idx[TG_MAX_DIMS] = {0};
  for (size_t i = 0; i < x->numel; i++) {
    size_t slot = 0, k = 0;
    for (int d = 0; d < x->ndim; d++) {
      if (mask & (1u << d)) k = k * x->shape[d] + idx[d];
      else slot = slot * x->shape[d] + idx[d];
    }
    g.v[slot * g.len + k] = tg_get(x, idx);
    for (int d = x->ndim - 1; d >= 0 && ++idx[d] == x->shape[d]; d--) idx[d] = 0;
  }
  return g;
}

static unsigned dims_to_mask(int nd, int n_dims, const int *dims) {
  if (n_dims == 0) return (1u << nd) - 1u;
  unsigned m = 0;
  for (int k = 0; k < n_dims; k++) m |= 1u << (dims[k] < 0 ? dims[k] + nd : dims[k]);
  return m;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* ---------------------------------------------------- functions under test */

enum {
  O_PROD, O_PROD_DIM, O_STD, O_STD_DIMS, O_NORM, O_VNORM, O_AMAX, O_AMIN, O_MEDIAN,
  O_MEDIAN_DIM, O_KTH, O_CUMSUM, O_CUMPROD, O_LCSE, O_SORT, O_TOPK, O_COUNT
};
static const char *const NAME[O_COUNT] = {"prod", "prod_dim", "std", "std_dims", "norm",
                                          "linalg_vector_norm", "amax", "amin", "median",
                                          "median_dim", "kthvalue", "cumsum", "cumprod",
                                          "logcumsumexp", "sort", "topk"};

typedef struct fctx {
  int op, nc, dim, n_dims, dims[TG_MAX_DIMS];
  bool keepdim, unbiased, flag; /* flag: descending (sort), largest (topk) */
  double p;
  long k;
  bool square; /* return y * y: the backward then sees an upstream with history */
} fctx;

static tg_tensor *apply(const fctx *c, tg_tensor *x) {
  switch (c->op) {
  case O_PROD: return tg_prod(x);
  case O_PROD_DIM: return tg_prod_dim(x, c->dim, c->keepdim);
  case O_STD: return tg_std(x, c->unbiased);
  case O_STD_DIMS: return tg_std_dims(x, c->n_dims, c->dims, c->unbiased, c->keepdim);
  case O_NORM: return tg_norm(x, c->p, c->n_dims, c->dims, c->keepdim);
  case O_VNORM: return tg_linalg_vector_norm(x, c->p, c->n_dims, c->dims, c->keepdim);
  case O_AMAX: return tg_amax(x, c->n_dims, c->dims, c->keepdim);
  case O_AMIN: return tg_amin(x, c->n_dims, c->dims, c->keepdim);
  case O_MEDIAN: return tg_median(x);
  case O_MEDIAN_DIM: return tg_median_dim(x, c->dim, c->keepdim, NULL);
  case O_KTH: return tg_kthvalue(x, c->k, c->dim, c->keepdim, NULL);
  case O_CUMSUM: return tg_cumsum(x, c->dim);
  case O_CUMPROD: return tg_cumprod(x, c->dim);
  case O_LCSE: return tg_logcumsumexp(x, c->dim);
  case O_SORT: return tg_sort(x, c->dim, c->flag, NULL);
  default: return tg_topk(x, c->k, c->dim, c->flag, true, NULL);
  }
}

static tg_tensor *f_op(tg_tensor **in, void *p) {
  const fctx *c = p;
  tg_tensor *y = apply(c, view(in[0], c->nc));
  return c->square ? tg_mul(y, y) : y;
}

static void check(tg_tensor *x, fctx *c, bool second, const char *what) {
  tg_gradcheck_opts o = {.quiet = true};
  tg_gradcheck_result r = second ? tg_gradgradcheck(f_op, 1, &x, c, o) : tg_gradcheck(f_op, 1, &x, c, o);
  if (!r.ok)
    fail_msg("%s%s %s dims {%s} dim %d keepdim %d p %g k %ld nc %d: %s", second ? "gradgradcheck " : "gradcheck ",
             NAME[c->op], what, dims_str(c->n_dims, c->dims), c->dim, c->keepdim, c->p, c->k, c->nc, r.message);
  assert_true(r.ok);
}

/* Expected output of a reduction from its groups (one slot). */
static double expect_slot(const fctx *c, const double *v, size_t len) {
  double acc = 0, *s;
  switch (c->op) {
  case O_PROD: case O_PROD_DIM:
    acc = 1;
    for (size_t k = 0; k < len; k++) acc *= v[k];
    return acc;
  case O_STD: case O_STD_DIMS: {
    double m = 0;
    for (size_t k = 0; k < len; k++) m += v[k] / (double)len;
    for (size_t k = 0; k < len; k++) acc += (v[k] - m) * (v[k] - m);
    return sqrt(acc / ((double)len - (c->unbiased ? 1.0 : 0.0)));
  }
  case O_NORM: case O_VNORM:
    if (isinf(c->p)) {
      acc = fabs(v[0]);
      for (size_t k = 1; k < len; k++) acc = c->p > 0 ? fmax(acc, fabs(v[k])) : fmin(acc, fabs(v[k]));
      return acc;
    }
    for (size_t k = 0; k < len; k++) acc += c->p == 0 ? (v[k] != 0) : pow(fabs(v[k]), c->p);
    return c->p == 0 ? acc : pow(acc, 1.0 / c->p);
  case O_AMAX: case O_AMIN:
    acc = v[0];
    for (size_t k = 1; k < len; k++) acc = c->op == O_AMAX ? fmax(acc, v[k]) : fmin(acc, v[k]);
    return acc;
  default: /* median, kthvalue */
    s = malloc(len * sizeof *s);
    assert_non_null(s);
    memcpy(s, v, len * sizeof *s);
    qsort(s, len, sizeof *s, cmp_double);
    acc = c->op == O_KTH ? s[c->k - 1] : s[(len - 1) / 2];
    free(s);
    return acc;
  }
}

/* the forward of a reduction against group_by, then its gradcheck */
static void reduce_case(tg_rng *r, fctx *c, int kind, int nd, const size_t *shape, bool second) {
  tg_scope_begin();
  tg_tensor *x = leaf(r, kind, c->nc, nd, shape);
  tg_tensor *xv = view(x, c->nc), *y = apply(c, xv);
  assert_non_null(y);
  bool one_dim = c->op == O_PROD_DIM || c->op == O_MEDIAN_DIM || c->op == O_KTH;
  unsigned mask = one_dim ? dims_to_mask(nd, nd ? 1 : 0, &c->dim)
                  : (c->op == O_PROD || c->op == O_STD || c->op == O_MEDIAN) ? (1u << nd) - 1u
                                                                          : dims_to_mask(nd, c->n_dims, c->dims);
  if (nd == 0) mask = 0;
  groups g = group_by(xv, mask);
  assert_int_equal(y->numel, g.n_out);
  for (size_t s = 0; s < g.n_out; s++) {
    double want = expect_slot(c, g.v + s * g.len, g.len), got = tg_get_flat(y, s);
    if (!(fabs(got - want) <= 1e-12 * (1 + fabs(want))))
      fail_msg("%s: slot %zu is %.17g, expected %.17g", NAME[c->op], s, got, want);
  }
  free(g.v);
  check(x, c, false, "random");
  if (second) check(x, c, true, "random");
  tg_scope_end();
}

/* -------------------------------------------------------------- prod */

static void test_prod_grad(void **state) {
  (void)state;
  tg_rng r = seeded(1);
  for (int t = 0; t < 10; t++) {
    size_t shape[TG_MAX_DIMS];
    int nd = rand_shape(&r, t == 0 ? 0 : 1, 3, 1, 4, shape);
    fctx c = {.op = O_PROD, .nc = t % 3};
    reduce_case(&r, &c, D_MAG, nd, shape, t < 4);
    fctx cd = {.op = O_PROD_DIM, .nc = t % 3, .keepdim = t % 2, .dim = nd ? (int)rand_int(&r, 0, (size_t)nd - 1) - (t % 2 ? nd : 0) : 0};
    reduce_case(&r, &cd, D_MAG, nd, shape, t < 4);
  }
}

/* one, two and three zeros in a lane: first and second derivatives (the
 * product is a polynomial, so central differences are exact enough) */
static void test_prod_zeros(void **state) {
  (void)state;
  const double rows[4][4] = {{0.7, -1.3, 0.9, 1.1}, {0.7, 0.0, 0.9, 1.1}, {0.0, -1.3, 0.0, 1.1}, {0.0, 0.0, 0.9, 0.0}};
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(4, 4), &rows[0][0]), true);
  for (int nc = NC_NONE; nc <= NC_T; nc++) {
    fctx c = {.op = O_PROD_DIM, .dim = nc == NC_T ? 0 : 1, .nc = nc};
    check(x, &c, false, "zeros");
    check(x, &c, true, "zeros");
    c.square = true;
    check(x, &c, true, "zeros squared");
  }
  fctx all = {.op = O_PROD};
  tg_tensor *x1 = tg_requires_grad_(tg_from_f64(TG_SHAPE(2, 2), (double[]){2, 0, 3, 0.5}), true);
  check(x1, &all, false, "one zero");
  check(x1, &all, true, "one zero");
  /* PyTorch: prod([2, 0, 3]) has gradient [0, 6, 0]; prod([2, 0, 0]) zero */
  tg_tensor *a = tg_requires_grad_(tg_from_f64(TG_SHAPE(3), (double[]){2, 0, 3}), true);
  tg_tensor *y = tg_prod(a);
  assert_close(tg_item(y), 0.0, 0);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  const double ga[3] = {0, 6, 0};
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(a->grad, i), ga[i], 0);
  tg_tensor *b = tg_requires_grad_(tg_from_f64(TG_SHAPE(3), (double[]){2, 0, 0}), true);
  assert_int_equal(tg_backward(tg_prod(b), NULL, false), 0);
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(b->grad, i), 0.0, 0);
  assert_string_equal(tg_grad_fn_name(y), "ProdBackward");
  /* the empty product is 1 */
  assert_close(tg_item(tg_prod(tg_zeros(TG_FLOAT64, TG_SHAPE(0)))), 1.0, 0);
  tg_tensor *e = tg_prod_dim(tg_zeros(TG_FLOAT64, TG_SHAPE(0, 3)), 0, false);
  assert_int_equal(e->ndim, 1);
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(e, i), 1.0, 0);
}

/* --------------------------------------------------------------- std */

static void test_std_grad(void **state) {
  (void)state;
  tg_rng r = seeded(2);
  for (int t = 0; t < 8; t++) {
    size_t shape[TG_MAX_DIMS];
    int nd = rand_shape(&r, 1, 3, 2, 4, shape);
    fctx c = {.op = O_STD, .unbiased = t % 2, .nc = t % 3};
    reduce_case(&r, &c, D_ANY, nd, shape, t < 3);
    fctx cd = {.op = O_STD_DIMS, .unbiased = (t / 2) % 2, .keepdim = t % 2, .nc = (t + 1) % 3};
    cd.n_dims = rand_dims(&r, nd, cd.dims);
    reduce_case(&r, &cd, D_ANY, nd, shape, t < 3);
  }
  /* PyTorch: the std of a constant has gradient 0, not NaN */
  tg_tensor *k = tg_requires_grad_(tg_ones(TG_FLOAT64, TG_SHAPE(3)), true);
  tg_tensor *s = tg_std(k, true);
  assert_close(tg_item(s), 0.0, 0);
  assert_int_equal(tg_backward(s, NULL, false), 0);
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(k->grad, i), 0.0, 0);
  /* one sample, unbiased: NaN as PyTorch */
  assert_true(isnan(tg_item(tg_std(tg_ones(TG_FLOAT64, TG_SHAPE(1)), true))));
  assert_string_equal(tg_grad_fn_name(s), "StdBackward");
}

/* -------------------------------------------------------------- norm */

static void test_norm_grad(void **state) {
  (void)state;
  tg_rng r = seeded(3);
  const double ps[] = {2, 1, 3, 0.5, 1.5, INFINITY, -INFINITY, 0, -1};
  for (size_t pi = 0; pi < sizeof ps / sizeof *ps; pi++)
    for (int t = 0; t < 4; t++) {
      size_t shape[TG_MAX_DIMS];
      int nd = rand_shape(&r, 1, 3, 1, 4, shape);
      double p = ps[pi];
      int kind = isinf(p) ? D_DISTINCT_ABS : (p == 2 || p == 3) ? D_ANY : D_AWAY;
      fctx c = {.op = t % 2 ? O_VNORM : O_NORM, .p = p, .keepdim = t % 2, .nc = t % 3};
      if (t >= 2) c.n_dims = rand_dims(&r, nd, c.dims);
      bool smooth = p == 2 || p == 3 || p == 1.5 || p == -1;
      reduce_case(&r, &c, kind, nd, shape, smooth && t < 2);
    }
}

static void test_norm_edges(void **state) {
  (void)state;
  /* PyTorch's gradients: p = 2 at the zero vector is 0; p = 0.5 with a zero
   * entry is 0 there; inf norm split between the tied |x| */
  struct {
    double p, x[3], grad[3];
  } cases[] = {
      {2, {0, 0, 0}, {0, 0, 0}},
      {3, {0, 0, 0}, {0, 0, 0}},
      {0.5, {0, 0, 0}, {0, 0, 0}},
      {0.5, {0, 1, 2}, {0, 2.414213562373095, 1.7071067811865475}},
      {1.5, {0, 1, 2}, {0, 0.6392340078652324, 0.9040134034531215}},
      {1, {0, 1, -2}, {0, 1, -1}},
      {INFINITY, {-2, 1, 2}, {-0.5, 0, 0.5}},
      {-INFINITY, {-1, 1, 2}, {-0.5, 0.5, 0}},
      {0, {0, 1, 2}, {0, 0, 0}},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(3), cases[k].x), true);
    tg_tensor *y = tg_norm(x, cases[k].p, 0, NULL, false);
    assert_int_equal(tg_backward(y, NULL, false), 0);
    for (size_t i = 0; i < 3; i++)
      if (!(fabs(tg_get_flat(x->grad, i) - cases[k].grad[i]) <= 1e-6))
        fail_msg("norm p=%g case %zu: grad[%zu] = %.10g, expected %.10g", cases[k].p, k, i,
                 tg_get_flat(x->grad, i), cases[k].grad[i]);
  }
  tg_tensor *x = tg_from_f64(TG_SHAPE(3), (double[]){0, 1, 2});
  assert_close(tg_item(tg_norm(x, 0, 0, NULL, false)), 2.0, 0);
  assert_close(tg_item(tg_linalg_vector_norm(x, -1, 0, NULL, false)), 0.0, 0);
  /* "fro": p = 2 over all dims of a matrix */
  tg_tensor *m = tg_from_f64(TG_SHAPE(2, 2), (double[]){1, 2, 3, 4});
  assert_close(tg_item(tg_norm(m, 2, 0, NULL, false)), sqrt(30.0), 1e-14);
  /* empty: 0 for finite p; the inf norms have no identity */
  tg_tensor *e = tg_zeros(TG_FLOAT64, TG_SHAPE(0));
  assert_close(tg_item(tg_norm(e, 2, 0, NULL, false)), 0.0, 0);
  tg_clear_error();
  assert_null(tg_linalg_vector_norm(e, INFINITY, 0, NULL, false));
  assert_non_null(strstr(tg_last_error(), "linalg_vector_norm"));
  assert_null(tg_norm(m, NAN, 0, NULL, false));
  assert_non_null(strstr(tg_last_error(), "norm"));
  /* the p = 2 norm's second derivative */
  tg_rng r = seeded(33);
  tg_tensor *xx = leaf(&r, D_ANY, NC_T, TG_SHAPE(3, 2));
  fctx c = {.op = O_NORM, .p = 2, .nc = NC_T, .n_dims = 1, .dims = {0}, .square = true};
  check(xx, &c, true, "squared");
}

/* --------------------------------------------------------- amax/amin */

static void test_amax_amin(void **state) {
  (void)state;
  tg_rng r = seeded(4);
  for (int t = 0; t < 10; t++) {
    size_t shape[TG_MAX_DIMS];
    int nd = rand_shape(&r, t == 0 ? 0 : 1, 3, 1, 4, shape);
    for (int op = O_AMAX; op <= O_AMIN; op++) {
      fctx c = {.op = op, .keepdim = t % 2, .nc = t % 3};
      if (nd && t % 3) c.n_dims = rand_dims(&r, nd, c.dims);
      reduce_case(&r, &c, D_DISTINCT, nd, shape, t == 1);
    }
  }
  /* ties share the gradient evenly, as PyTorch */
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(4), (double[]){1, 3, 3, 2}), true);
  assert_int_equal(tg_backward(tg_amax(x, 0, NULL, false), NULL, false), 0);
  const double g[4] = {0, 0.5, 0.5, 0};
  for (size_t i = 0; i < 4; i++) assert_close(tg_get_flat(x->grad, i), g[i], 0);
  tg_tensor *y = tg_requires_grad_(tg_from_f64(TG_SHAPE(2, 3), (double[]){1, 1, 1, 5, 0, 0}), true);
  assert_int_equal(tg_backward(tg_sum(tg_amin(y, 1, (int[]){1}, true)), NULL, false), 0);
  const double gy[6] = {1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0.5, 0.5};
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(y->grad, i), gy[i], 1e-15);
  /* NaN propagates; an empty reduction is an error */
  tg_tensor *xn = tg_requires_grad_(tg_from_f64(TG_SHAPE(3), (double[]){1, NAN, 3}), true);
  tg_tensor *yn = tg_amax(xn, 0, NULL, false);
  assert_true(isnan(tg_item(yn)));
  /* PyTorch: the NaN result equals no element, so the gradient is 0/0 */
  assert_int_equal(tg_backward(yn, NULL, false), 0);
  for (size_t i = 0; i < 3; i++) assert_true(isnan(tg_get_flat(xn->grad, i)));
  tg_clear_error();
  assert_null(tg_amax(tg_zeros(TG_FLOAT64, TG_SHAPE(0, 3)), 1, (int[]){0}, false));
  assert_non_null(strstr(tg_last_error(), "amax"));
  tg_tensor *ok = tg_amin(tg_zeros(TG_FLOAT64, TG_SHAPE(0, 3)), 1, (int[]){1}, true);
  assert_non_null(ok);
  assert_int_equal(ok->numel, 0);
}

/* ----------------------------------------------------- argmax/argmin */

static void test_argmax_argmin(void **state) {
  (void)state;
  tg_rng r = seeded(5);
  for (int t = 0; t < 8; t++) {
    size_t shape[TG_MAX_DIMS];
    int nd = rand_shape(&r, 1, 3, 1, 4, shape);
    tg_tensor *x = view(leaf(&r, D_ANY, t % 3, nd, shape), t % 3);
    /* an all-zero copy: every element ties, the first must win */
    if (t % 2) x = tg_clamp(tg_mul_scalar(x, 0.0), 0, 0);
    int dim = (int)rand_int(&r, 0, (size_t)nd - 1);
    for (int is_max = 0; is_max < 2; is_max++) {
      tg_tensor *a = is_max ? tg_argmax_dim(x, dim, t % 4 < 2) : tg_argmin_dim(x, dim, t % 4 < 2);
      assert_non_null(a);
      assert_int_equal(a->dtype, TG_INT64);
      assert_false(a->requires_grad);
      groups g = group_by(x, 1u << dim);
      assert_int_equal(a->numel, g.n_out);
      for (size_t s = 0; s < g.n_out; s++) {
        size_t best = 0;
        for (size_t k = 1; k < g.len; k++)
          if (is_max ? g.v[s * g.len + k] > g.v[s * g.len + best] : g.v[s * g.len + k] < g.v[s * g.len + best]) best = k;
        assert_int_equal((size_t)tg_get_flat(a, s), best);
      }
      free(g.v);
      /* flattened */
      double *v = values(x);
      size_t best = 0;
      for (size_t i = 1; i < x->numel; i++)
        if (is_max ? v[i] > v[best] : v[i] < v[best]) best = i;
      free(v);
      assert_int_equal((size_t)tg_item(is_max ? tg_argmax(x) : tg_argmin(x)), best);
    }
  }
  /* PyTorch: ties -> first; NaN is the extreme for both, first NaN wins */
  assert_int_equal((int)tg_item(tg_argmax(tg_from_f64(TG_SHAPE(3), (double[]){1, 3, 3}))), 1);
  tg_tensor *n = tg_from_f64(TG_SHAPE(4), (double[]){1, NAN, 3, NAN});
  assert_int_equal((int)tg_item(tg_argmax(n)), 1);
  assert_int_equal((int)tg_item(tg_argmin(n)), 1);
  tg_tensor *k = tg_argmax_dim(tg_scalar(TG_FLOAT64, 5), 0, true);
  assert_int_equal(k->ndim, 0);
  assert_int_equal((int)tg_item(k), 0);
  tg_clear_error();
  assert_null(tg_argmax(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 0))));
  assert_non_null(strstr(tg_last_error(), "argmax"));
  tg_tensor *e = tg_argmin_dim(tg_zeros(TG_FLOAT64, TG_SHAPE(0, 3)), 1, false);
  assert_non_null(e);
  assert_int_equal(e->numel, 0);
}

/* --------------------------------------------------- median/kthvalue */

static void test_median_kthvalue(void **state) {
  (void)state;
  tg_rng r = seeded(6);
  for (int t = 0; t < 8; t++) {
    size_t shape[TG_MAX_DIMS];
    int nd = rand_shape(&r, t == 0 ? 0 : 1, 3, 1, 5, shape);
    fctx m = {.op = O_MEDIAN, .nc = t % 3};
    reduce_case(&r, &m, D_DISTINCT, nd, shape, t < 2);
    int dim = nd ? (int)rand_int(&r, 0, (size_t)nd - 1) : 0;
    fctx md = {.op = O_MEDIAN_DIM, .dim = dim, .keepdim = t % 2, .nc = t % 3};
    reduce_case(&r, &md, D_DISTINCT, nd, shape, t < 2);
    size_t len = nd ? shape[dim] : 1;
    fctx kv = {.op = O_KTH, .dim = dim - (t % 2 ? nd : 0), .k = (long)rand_int(&r, 1, len), .keepdim = t % 2 == 0, .nc = t % 3};
    reduce_case(&r, &kv, D_DISTINCT, nd, shape, t < 2);
  }
  /* PyTorch: the lower middle; ties share the gradient of the all-elements median */
  assert_close(tg_item(tg_median(tg_from_f64(TG_SHAPE(4), (double[]){4, 1, 3, 2}))), 2.0, 0);
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(5), (double[]){1, 2, 2, 3, 2}), true);
  assert_int_equal(tg_backward(tg_median(x), NULL, false), 0);
  const double g[5] = {0, 1.0 / 3, 1.0 / 3, 0, 1.0 / 3};
  for (size_t i = 0; i < 5; i++) assert_close(tg_get_flat(x->grad, i), g[i], 1e-15);
  /* along a dim: values and int64 indices; the gradient goes to the index */
  tg_tensor *y = tg_requires_grad_(tg_from_f64(TG_SHAPE(2, 4), (double[]){5, 1, 4, 2, NAN, 0, 7, NAN}), true);
  tg_tensor *idx = NULL, *md = tg_median_dim(y, 1, false, &idx);
  assert_non_null(idx);
  assert_int_equal(idx->dtype, TG_INT64);
  assert_int_equal(md->ndim, 1);
  assert_int_equal(idx->ndim, 1);
  assert_close(tg_get_flat(md, 0), 2.0, 0);
  assert_int_equal((int)tg_get_flat(idx, 0), 3);
  assert_true(isnan(tg_get_flat(md, 1))); /* NaN propagates, first NaN's index */
  assert_int_equal((int)tg_get_flat(idx, 1), 0);
  assert_int_equal(tg_backward(tg_select(md, 0, 0), NULL, false), 0);
  for (size_t i = 0; i < 8; i++) assert_close(tg_get_flat(y->grad, i), i == 3 ? 1.0 : 0.0, 0);
  /* PyTorch: a NaN median's gradient goes to the NaN entries */
  tg_tensor *xn = tg_requires_grad_(tg_from_f64(TG_SHAPE(3), (double[]){1, NAN, 3}), true);
  tg_tensor *mn = tg_median(xn);
  assert_true(isnan(tg_item(mn)));
  assert_int_equal(tg_backward(mn, NULL, false), 0);
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(xn->grad, i), i == 1 ? 1.0 : 0.0, 0);
  assert_true(isnan(tg_item(tg_median(tg_zeros(TG_FLOAT64, TG_SHAPE(0))))));
  tg_tensor *kidx = NULL, *kv = tg_kthvalue(y, 2, 1, true, &kidx);
  assert_int_equal(kv->ndim, 2);
  assert_close(tg_get_flat(kv, 0), 2.0, 0);
  assert_int_equal((int)tg_get_flat(kidx, 0), 3);
  assert_close(tg_get_flat(kv, 1), 7.0, 0); /* NaN counts as the largest */
  assert_string_equal(tg_grad_fn_name(kv), "KthvalueBackward");
  tg_clear_error();
  assert_null(tg_kthvalue(y, 5, 1, false, &kidx));
  assert_null(kidx);
  assert_non_null(strstr(tg_last_error(), "kthvalue"));
  assert_null(tg_kthvalue(y, 0, 1, false, NULL));
  assert_null(tg_median_dim(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 0)), 1, false, NULL));
  assert_non_null(strstr(tg_last_error(), "median"));
}

/* -------------------------------------------------------------- scans */

static void scan_case(tg_rng *r, fctx *c, int kind, int nd, const size_t *shape, bool second) {
  tg_scope_begin();
  tg_tensor *x = leaf(r, kind, c->nc, nd, shape), *xv = view(x, c->nc);
  tg_tensor *y = apply(c, xv);
  assert_non_null(y);
  assert_true(tg_same_shape(y, xv));
  int d = nd ? (c->dim < 0 ? c->dim + nd : c->dim) : 0;
  groups g = group_by(xv, nd ? 1u << d : 0);
  /* the slot order of group_by with one reduced dim: outer and inner dims
   * row-major; walk y in the same order */
  size_t inner = 1;
  for (int q = d + 1; q < nd; q++) inner *= shape[q];
  for (size_t s = 0; s < g.n_out; s++) {
    double acc = c->op == O_CUMSUM ? 0 : c->op == O_CUMPROD ? 1 : -INFINITY;
    for (size_t k = 0; k < g.len; k++) {
      double v = g.v[s * g.len + k];
      acc = c->op == O_CUMSUM ? acc + v : c->op == O_CUMPROD ? acc * v : log(exp(acc) + exp(v));
      size_t flat = ((s / inner) * g.len + k) * inner + s % inner;
      double got = tg_get_flat(y, flat);
      if (!(fabs(got - acc) <= 1e-12 * (1 + fabs(acc))))
        fail_msg("%s: element %zu is %.17g, expected %.17g", NAME[c->op], flat, got, acc);
    }
  }
  free(g.v);
  check(x, c, false, "random");
  if (second) check(x, c, true, "random");
  tg_scope_end();
}

static void test_scans_grad(void **state) {
  (void)state;
  tg_rng r = seeded(7);
  for (int t = 0; t < 8; t++) {
    size_t shape[TG_MAX_DIMS];
    int nd = rand_shape(&r, t == 0 ? 0 : 1, 3, 1, 4, shape);
    int dim = nd ? (int)rand_int(&r, 0, (size_t)nd - 1) - (t % 2 ? nd : 0) : 0;
    for (int op = O_CUMSUM; op <= O_LCSE; op++) {
      fctx c = {.op = op, .dim = dim, .nc = t % 3, .square = t % 4 == 3};
      scan_case(&r, &c, op == O_CUMPROD ? D_MAG : D_ANY, nd, shape, t < 4);
    }
  }
}

static void test_cumprod_zeros(void **state) {
  (void)state;
  /* PyTorch: cumprod([2, 0, 3, 0, 4]) has gradient [1, 8, 0, 0, 0] */
  tg_tensor *a = tg_requires_grad_(tg_from_f64(TG_SHAPE(5), (double[]){2, 0, 3, 0, 4}), true);
  tg_tensor *y = tg_cumprod(a, 0);
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  const double ga[5] = {1, 8, 0, 0, 0};
  for (size_t i = 0; i < 5; i++) assert_close(tg_get_flat(a->grad, i), ga[i], 1e-15);
  assert_string_equal(tg_grad_fn_name(y), "CumprodBackward");
  /* lanes with no, one, two zeros; first derivatives everywhere, second
   * derivatives with at most one zero per lane */
  const double rows[3][4] = {{0.7, -1.3, 0.9, 1.1}, {0.7, 0.0, 0.9, 1.1}, {0.0, -1.3, 0.0, 1.1}};
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(3, 4), &rows[0][0]), true);
  for (int nc = NC_NONE; nc <= NC_T; nc++) {
    fctx c = {.op = O_CUMPROD, .dim = nc == NC_T ? 0 : 1, .nc = nc};
    check(x, &c, false, "zeros");
    c.square = true;
    check(x, &c, false, "zeros squared");
  }
  tg_tensor *x2 = tg_requires_grad_(tg_from_f64(TG_SHAPE(2, 4), &rows[0][0]), true);
  fctx c2 = {.op = O_CUMPROD, .dim = -1};
  check(x2, &c2, true, "one zero");
  c2.square = true;
  check(x2, &c2, true, "one zero squared");
}

static void test_logcumsumexp_stable(void **state) {
  (void)state;
  /* large values: 1000 + log(1 + e^-1) without overflow; -inf entries */
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(4), (double[]){-INFINITY, 1000, 999, -INFINITY}), true);
  tg_tensor *y = tg_logcumsumexp(x, 0);
  assert_true(isinf(tg_get_flat(y, 0)) && tg_get_flat(y, 0) < 0);
  assert_close(tg_get_flat(y, 1), 1000.0, 0);
  assert_close(tg_get_flat(y, 2), 1000.0 + log1p(exp(-1.0)), 1e-12);
  assert_close(tg_get_flat(y, 3), 1000.0 + log1p(exp(-1.0)), 1e-12);
  assert_int_equal(tg_backward(tg_select(y, 0, 3), NULL, false), 0);
  double p1 = 1.0 / (1.0 + exp(-1.0));
  assert_close(tg_get_flat(x->grad, 1), p1, 1e-12);
  assert_close(tg_get_flat(x->grad, 2), 1 - p1, 1e-12);
  assert_close(tg_get_flat(x->grad, 3), 0.0, 0);
  /* values near 500: gradient and second derivative through both paths */
  tg_tensor *b = tg_requires_grad_(tg_from_f64(TG_SHAPE(2, 3), (double[]){500, 501, 499.5, -500, -501, -499}), true);
  fctx c = {.op = O_LCSE, .dim = 1};
  check(b, &c, false, "large");
  check(b, &c, true, "large");
  assert_string_equal(tg_grad_fn_name(y), "LogcumsumexpBackward");
  /* the fused backward and the recorded one (create_graph) agree */
  tg_rng r = seeded(77);
  tg_tensor *xs = leaf(&r, D_ANY, NC_T, TG_SHAPE(3, 5)), *xt = tg_transpose(xs, 0, 1);
  tg_tensor *ly = tg_logcumsumexp(xt, 1), *up = tg_randn(&r, TG_FLOAT64, TG_SHAPE(3, 5));
  tg_tensor *g_fused = NULL, *g_graph = NULL;
  assert_int_equal(tg_grad(1, &ly, &up, 1, &xs, &g_fused, (tg_grad_opts){.retain_graph = true}), 0);
  assert_int_equal(tg_grad(1, &ly, &up, 1, &xs, &g_graph, (tg_grad_opts){.create_graph = true}), 0);
  assert_non_null(g_graph->grad_fn);
  for (size_t i = 0; i < 15; i++) assert_close(tg_get_flat(g_graph, i), tg_get_flat(g_fused, i), 1e-13);
  /* the recorded backward is O(len) a lane (scans, no len^2 weights) */
  tg_tensor *big = tg_requires_grad_(tg_zeros(TG_FLOAT64, TG_SHAPE(6000)), true), *gb = NULL;
  tg_tensor *lb = tg_logcumsumexp(big, 0), *ub = tg_ones(TG_FLOAT64, TG_SHAPE(6000));
  assert_int_equal(tg_grad(1, &lb, &ub, 1, &big, &gb, (tg_grad_opts){.create_graph = true}), 0);
  double h = 0; /* d/dx_i sum_j out_j at x = 0: sum_{j >= i} 1 / (j + 1) */
  for (size_t j = 5999; j >= 2999; j--) h += 1.0 / (double)(j + 1);
  assert_close(tg_get_flat(gb, 2999), h, 1e-12);
}

/* +-inf inputs give PyTorch 1.13's gradient, NaN pattern included (the
 * expected values printed by torch 1.13, which follow from its formula):
 * NaN at -inf before any finite element and at +inf, 0 after a +inf, 1
 * where only the element's own out counts; a 0-d input passes g through */
static void test_logcumsumexp_inf(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(5), (double[]){-INFINITY, -INFINITY, 1, INFINITY, 2}), true);
  assert_int_equal(tg_backward(tg_sum(tg_logcumsumexp(x, 0)), NULL, false), 0);
  assert_true(isnan(tg_get_flat(x->grad, 0)) && isnan(tg_get_flat(x->grad, 1)) && isnan(tg_get_flat(x->grad, 3)));
  assert_close(tg_get_flat(x->grad, 2), 1.0, 1e-15);
  assert_true(tg_get_flat(x->grad, 4) == 0.0);
  /* the recorded backward (create_graph) gives the same pattern */
  tg_tensor *y = tg_logcumsumexp(x, 0), *ones = tg_ones(TG_FLOAT64, TG_SHAPE(5)), *gx = NULL;
  assert_int_equal(tg_grad(1, &y, &ones, 1, &x, &gx, (tg_grad_opts){.create_graph = true}), 0);
  for (size_t i = 0; i < 5; i++) {
    double f = tg_get_flat(x->grad, i), r = tg_get_flat(gx, i);
    assert_true(isnan(f) ? isnan(r) : fabs(f - r) < 1e-15);
  }
  const double vals[3] = {INFINITY, -INFINITY, 3};
  for (int k = 0; k < 3; k++) {
    tg_tensor *s = tg_requires_grad_(tg_scalar(TG_FLOAT64, vals[k]), true), *v = tg_requires_grad_(tg_full(TG_FLOAT64, TG_SHAPE(1), vals[k]), true);
    tg_tensor *gs = NULL, *gv = NULL, *ys = tg_logcumsumexp(s, 0), *yv = tg_logcumsumexp(v, 0);
    tg_tensor *two = tg_scalar(TG_FLOAT64, 2), *two1 = tg_full(TG_FLOAT64, TG_SHAPE(1), 2);
    assert_int_equal(tg_grad(1, &ys, &two, 1, &s, &gs, (tg_grad_opts){0}), 0);
    assert_int_equal(tg_grad(1, &yv, &two1, 1, &v, &gv, (tg_grad_opts){0}), 0);
    assert_true(tg_item(gs) == 2.0);
    assert_true(k < 2 ? isnan(tg_get_flat(gv, 0)) : tg_get_flat(gv, 0) == 2.0);
  }
}

/* -------------------------------------------------------------- sorting */

static void test_sort_topk_grad(void **state) {
  (void)state;
  tg_rng r = seeded(8);
  for (int t = 0; t < 8; t++) {
    size_t shape[TG_MAX_DIMS];
    int nd = rand_shape(&r, t == 0 ? 0 : 1, 3, 1, 4, shape);
    int dim = nd ? (int)rand_int(&r, 0, (size_t)nd - 1) : 0;
    tg_scope_begin();
    for (int op = O_SORT; op <= O_TOPK; op++) {
      fctx c = {.op = op, .dim = dim - (t % 2 ? nd : 0), .flag = t % 2 == 0, .nc = t % 3, .square = t == 5};
      size_t len = nd ? shape[dim] : 1;
      c.k = op == O_TOPK ? (long)rand_int(&r, nd ? 0 : 1, len) : 0;
      tg_tensor *x = leaf(&r, D_DISTINCT, c.nc, nd, shape), *xv = view(x, c.nc), *idx = NULL;
      tg_tensor *y = op == O_SORT ? tg_sort(xv, c.dim, c.flag, &idx) : tg_topk(xv, c.k, c.dim, c.flag, true, &idx);
      assert_non_null(y);
      assert_non_null(idx);
      /* sorted along dim, and equal to the source element the index names */
      groups gy = group_by(y, nd ? 1u << dim : 0), gi = group_by(idx, nd ? 1u << dim : 0), gx = group_by(xv, nd ? 1u << dim : 0);
      for (size_t s = 0; s < gy.n_out; s++)
        for (size_t k = 0; k < gy.len; k++) {
          double v = gy.v[s * gy.len + k];
          assert_close(v, gx.v[s * gx.len + (size_t)gi.v[s * gi.len + k]], 0);
          if (k) assert_true(c.flag ? v < gy.v[s * gy.len + k - 1] : v > gy.v[s * gy.len + k - 1]);
          /* topk: the k-th largest/smallest by counting */
          size_t above = 0;
          for (size_t q = 0; q < gx.len; q++) above += c.flag ? gx.v[s * gx.len + q] > v : gx.v[s * gx.len + q] < v;
          assert_int_equal(above, k);
        }
      free(gy.v), free(gi.v), free(gx.v);
      check(x, &c, false, "random");
      if (t < 3 || t == 5) check(x, &c, true, "random");
    }
    tg_scope_end();
  }
}

static void test_sort_ties_nan(void **state) {
  (void)state;
  /* torch.sort(stable=True): ties keep their order, NaN above every number */
  tg_tensor *x = tg_from_f64(TG_SHAPE(6), (double[]){1, 3, 3, NAN, 2, 3}), *idx = NULL;
  tg_tensor *d = tg_sort(x, 0, true, &idx);
  const int64_t want_d[6] = {3, 1, 2, 5, 4, 0};
  for (size_t i = 0; i < 6; i++) assert_int_equal((int64_t)tg_get_flat(idx, i), want_d[i]);
  assert_true(isnan(tg_get_flat(d, 0)));
  tg_tensor *a = tg_sort(x, -1, false, &idx);
  const int64_t want_a[6] = {0, 4, 1, 2, 5, 3};
  for (size_t i = 0; i < 6; i++) assert_int_equal((int64_t)tg_get_flat(idx, i), want_a[i]);
  assert_close(tg_get_flat(a, 1), 2.0, 0);
  /* the gradient goes back through the permutation */
  tg_tensor *w = tg_requires_grad_(tg_from_f64(TG_SHAPE(2, 3), (double[]){3, 1, 2, 0, 5, 4}), true);
  tg_tensor *s = tg_sort(w, 1, false, NULL);
  tg_tensor *coef = tg_from_f64(TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
  assert_int_equal(tg_backward(tg_sum(tg_mul(s, coef)), NULL, false), 0);
  const double gw[6] = {3, 1, 2, 4, 6, 5};
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(w->grad, i), gw[i], 0);
  assert_string_equal(tg_grad_fn_name(s), "SortBackward");
  /* topk ties: the earlier positions (PyTorch leaves the choice open) */
  tg_tensor *t = tg_topk(tg_from_f64(TG_SHAPE(5), (double[]){1, 3, 3, 2, 3}), 2, 0, true, true, &idx);
  assert_close(tg_get_flat(t, 0), 3.0, 0);
  assert_close(tg_get_flat(t, 1), 3.0, 0);
  assert_int_equal((int)tg_get_flat(idx, 0), 1);
  assert_int_equal((int)tg_get_flat(idx, 1), 2);
  tg_tensor *small = tg_topk(tg_from_f64(TG_SHAPE(4), (double[]){1, 1, 3, 1}), 2, 0, false, false, NULL);
  assert_close(tg_get_flat(small, 0) + tg_get_flat(small, 1), 2.0, 0);
  tg_clear_error();
  assert_null(tg_topk(x, 7, 0, true, true, &idx));
  assert_null(idx);
  assert_non_null(strstr(tg_last_error(), "topk"));
  tg_tensor *e = tg_sort(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 0)), 1, false, &idx);
  assert_int_equal(e->numel, 0);
  assert_int_equal(idx->numel, 0);
  tg_tensor *z = tg_sort(tg_scalar(TG_FLOAT64, 5), 0, false, &idx);
  assert_int_equal(z->ndim, 0);
  assert_close(tg_item(z), 5.0, 0);
}

/* second derivative of sum(w * d/dx f(x)) through create_graph: the value
 * that must be exactly 0 when the gradient does not depend on x */
static double grad_of_grad_sum(tg_tensor *x, tg_tensor *y) {
  tg_tensor *g = NULL, *gg = NULL;
  tg_grad_opts o = {.create_graph = true, .allow_unused = true};
  assert_int_equal(tg_grad(1, &y, (tg_tensor *[]){tg_ones_like(y)}, 1, &x, &g, o), 0);
  if (!g || !g->requires_grad) return 0;
  assert_int_equal(tg_grad(1, (tg_tensor *[]){tg_sum(tg_mul_scalar(g, 1.7))}, NULL, 1, &x, &gg, o), 0);
  double s = 0;
  for (size_t i = 0; gg && i < gg->numel; i++) s += fabs(tg_get_flat(gg, i));
  return s;
}

/* bugs the PyTorch oracle found (tests/oracle/family_reduce_stats.py) */
static void test_one_element_slots(void **state) {
  (void)state;
  /* prod/cumprod over one element: the gradient is 1, exactly constant (P/x rounded) */
  const double v[3] = {0.1, 0.7, 3.3};
  for (int k = 0; k < 3; k++) {
    tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(1, 1), &v[k]), true);
    assert_true(grad_of_grad_sum(x, tg_prod(x)) == 0);
    assert_true(grad_of_grad_sum(x, tg_prod_dim(x, 0, false)) == 0);
    assert_true(grad_of_grad_sum(x, tg_sum(tg_cumprod(x, 1))) == 0);
  }
  tg_tensor *x0 = tg_requires_grad_(tg_from_f64(0, NULL, (double[]){0.3}), true);
  assert_true(grad_of_grad_sum(x0, tg_prod_dim(x0, -1, false)) == 0);
}

static void test_std_constant_slot(void **state) {
  (void)state;
  /* three equal values: std exactly 0 and gradient 0 (not rounding noise / rounding noise) */
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(1, 1), (double[]){0.1}), true);
  tg_tensor *y = tg_std_dims(tg_expand(x, TG_SHAPE(1, 3)), 2, (int[]){-2, -1}, false, false);
  assert_true(tg_get_flat(y, 0) == 0);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  assert_true(tg_get_flat(x->grad, 0) == 0);
  /* one element, unbiased: 0/0 stays NaN */
  assert_true(isnan(tg_get_flat(tg_std(tg_from_f64(TG_SHAPE(1), (double[]){2.0}), true), 0)));
}

static void test_norm_inf_edges(void **state) {
  (void)state;
  /* torch.norm's inf norms of an empty dim are 0; linalg_vector_norm refuses */
  tg_tensor *e = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 0));
  tg_tensor *n1 = tg_norm(e, INFINITY, 1, (int[]){1}, false), *n2 = tg_norm(e, -INFINITY, 0, NULL, false);
  assert_int_equal(n1->numel, 3);
  for (size_t i = 0; i < 3; i++) assert_true(tg_get_flat(n1, i) == 0);
  assert_true(tg_get_flat(n2, 0) == 0);
  assert_null(tg_linalg_vector_norm(e, -INFINITY, 0, NULL, false));
  assert_non_null(strstr(tg_last_error(), "linalg_vector_norm"));
  /* NaN wins in both inf norms, as PyTorch */
  tg_tensor *x = tg_from_f64(TG_SHAPE(3), (double[]){1, NAN, 3});
  assert_true(isnan(tg_get_flat(tg_norm(x, INFINITY, 0, NULL, false), 0)));
  assert_true(isnan(tg_get_flat(tg_norm(x, -INFINITY, 0, NULL, false), 0)));
  /* and matches no element: the gradient is 0 everywhere (PyTorch), not 0/0 */
  tg_tensor *xg = tg_requires_grad_(tg_from_f64(TG_SHAPE(3), (double[]){1, NAN, -3}), true);
  assert_int_equal(tg_backward(tg_norm(xg, INFINITY, 0, NULL, false), NULL, false), 0);
  for (size_t i = 0; i < 3; i++) assert_true(tg_get_flat(xg->grad, i) == 0);
}

static void test_integer_inputs(void **state) {
  (void)state;
  const int64_t big = (1LL << 60) + 1;
  tg_tensor *i = tg_from_i64(TG_SHAPE(2, 2), (int64_t[]){3, -1, 7, 7});
  tg_tensor *am = tg_argmax(i), *an = tg_argmin_dim(i, 1, false);
  assert_int_equal(am->dtype, TG_INT64);
  assert_int_equal((int64_t)tg_get_flat(am, 0), 2); /* first of the tie */
  assert_int_equal((int64_t)tg_get_flat(an, 0), 1);
  assert_int_equal((int64_t)tg_get_flat(an, 1), 0);
  assert_null(tg_argmax(tg_from_bool(TG_SHAPE(2), (bool[]){true, false}))); /* PyTorch refuses */
  /* cumsum/cumprod of int64 and bool are int64, exact past 2^53 */
  tg_tensor *c = tg_cumsum(tg_from_i64(TG_SHAPE(2), (int64_t[]){big, 1}), 0);
  assert_int_equal(c->dtype, TG_INT64);
  assert_true(((int64_t *)tg_data(c))[1] == big + 1);
  tg_tensor *cb = tg_cumsum(tg_from_bool(TG_SHAPE(3), (bool[]){true, false, true}), 0);
  assert_int_equal(cb->dtype, TG_INT64);
  assert_int_equal(((int64_t *)tg_data(cb))[2], 2);
  tg_tensor *cp = tg_cumprod(tg_transpose(i, 0, 1), 1); /* rows 3 7 and -1 7 */
  assert_int_equal(((int64_t *)tg_data(cp))[1], 21);
  assert_int_equal(((int64_t *)tg_data(cp))[3], -7);
  /* sort of int64, exact and stable */
  tg_tensor *idx = NULL;
  tg_tensor *s = tg_sort(tg_from_i64(TG_SHAPE(3), (int64_t[]){big, big - 1, big}), 0, true, &idx);
  assert_int_equal(s->dtype, TG_INT64);
  assert_true(((int64_t *)tg_data(s))[2] == big - 1);
  assert_int_equal(((int64_t *)tg_data(idx))[0], 0);
  assert_int_equal(((int64_t *)tg_data(idx))[1], 2);
}

static void test_topk_unique_edges(void **state) {
  (void)state;
  /* topk of a 0-d input with k = 0 gives the element, as PyTorch */
  tg_tensor *idx = NULL;
  tg_tensor *t = tg_topk(tg_from_f64(0, NULL, (double[]){2.5}), 0, 0, true, true, &idx);
  assert_non_null(t);
  assert_int_equal(t->ndim, 0);
  assert_close(tg_get_flat(t, 0), 2.5, 0);
  assert_null(tg_topk(tg_from_f64(0, NULL, (double[]){2.5}), 2, 0, true, true, NULL));
  /* unique of bool writes bool (one byte) values: no overflow */
  tg_tensor *cnt = NULL;
  tg_tensor *u = tg_unique(tg_from_bool(TG_SHAPE(5), (bool[]){true, false, true, true, false}), true, NULL, &cnt);
  assert_int_equal(u->dtype, TG_BOOL);
  assert_int_equal(u->numel, 2);
  assert_true(tg_get_flat(u, 0) == 0 && tg_get_flat(u, 1) == 1);
  assert_int_equal(((int64_t *)tg_data(cnt))[1], 3);
}

static void test_unique(void **state) {
  (void)state;
  tg_tensor *inv = NULL, *cnt = NULL;
  tg_tensor *x = tg_transpose(tg_from_f64(TG_SHAPE(2, 2), (double[]){3, 3, 1, 2}), 0, 1); /* 3 1 3 2 */
  tg_tensor *u = tg_unique(x, true, &inv, &cnt);
  const double uv[3] = {1, 2, 3};
  const int64_t iv[4] = {2, 0, 2, 1}, cv[3] = {1, 1, 2};
  assert_int_equal(u->numel, 3);
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(u, i), uv[i], 0);
  assert_true(tg_same_shape(inv, x));
  for (size_t i = 0; i < 4; i++) assert_int_equal((int64_t)tg_get_flat(inv, i), iv[i]);
  for (size_t i = 0; i < 3; i++) assert_int_equal((int64_t)tg_get_flat(cnt, i), cv[i]);
  assert_int_equal(inv->dtype, TG_INT64);
  assert_int_equal(cnt->dtype, TG_INT64);
  /* int64 beyond 2^53 stays exact; no gradient */
  const int64_t big[3] = {(1LL << 60) + 1, (1LL << 60), (1LL << 60) + 1};
  tg_tensor *b = tg_unique(tg_from_i64(TG_SHAPE(3), big), false, NULL, &cnt);
  assert_int_equal(b->numel, 2);
  assert_true(((int64_t *)tg_data(b))[0] == (1LL << 60));
  assert_int_equal(((int64_t *)tg_data(cnt))[1], 2);
  tg_tensor *g = tg_unique(tg_requires_grad_(tg_ones(TG_FLOAT64, TG_SHAPE(3)), true), true, NULL, NULL);
  assert_false(g->requires_grad);
  assert_int_equal(tg_unique(tg_zeros(TG_FLOAT64, TG_SHAPE(0)), true, &inv, &cnt)->numel, 0);
  assert_int_equal(inv->numel, 0);
}

/* --------------------------------------------------------------- errors */

static void test_errors(void **state) {
  (void)state;
  tg_tensor *a = tg_ones(TG_FLOAT64, TG_SHAPE(2, 3)), *i64 = tg_zeros(TG_INT64, TG_SHAPE(3));
#define ERR(call, name)                                                        \
  do {                                                                         \
    tg_clear_error();                                                          \
    assert_null(call);                                                         \
    if (!strstr(tg_last_error(), name)) fail_msg("%s: error \"%s\"", #call, tg_last_error()); \
  } while (0)
  ERR(tg_prod(NULL), "prod");
  ERR(tg_prod_dim(a, 2, false), "prod");
  ERR(tg_std_dims(a, 1, (int[]){3}, true, false), "std");
  ERR(tg_norm(i64, 2, 0, NULL, false), "norm");
  ERR(tg_amax(a, 1, (int[]){5}, false), "amax");
  ERR(tg_amin(NULL, 0, NULL, false), "amin");
  ERR(tg_argmin_dim(a, -3, false), "argmin");
  ERR(tg_median(i64), "median");
  ERR(tg_median_dim(a, 2, false, NULL), "median");
  ERR(tg_kthvalue(a, 4, 1, false, NULL), "kthvalue");
  ERR(tg_cumsum(a, 2), "cumsum");
  ERR(tg_cumprod(i64, 5), "cumprod");
  ERR(tg_logcumsumexp(NULL, 0), "logcumsumexp");
  ERR(tg_sort(a, -3, false, NULL), "sort");
  ERR(tg_topk(a, -1, 1, true, true, NULL), "topk");
  ERR(tg_unique(NULL, true, NULL, NULL), "unique");
  ERR(tg_linalg_vector_norm(a, NAN, 0, NULL, false), "linalg_vector_norm");
  ERR(tg_argmax(NULL), "argmax");
#undef ERR
}

/* float32 inputs: results in float32, close to the float64 ones */
static void test_float32(void **state) {
  (void)state;
  tg_rng r = seeded(9);
  tg_tensor *x64 = tg_uniform(&r, TG_FLOAT64, TG_SHAPE(3, 4), 0.5, 1.5);
  tg_tensor *x32 = tg_to_dtype(x64, TG_FLOAT32);
  tg_tensor *pairs[][2] = {
      {tg_prod_dim(x32, 1, false), tg_prod_dim(x64, 1, false)},
      {tg_std(x32, true), tg_std(x64, true)},
      {tg_norm(x32, 3, 0, NULL, false), tg_norm(x64, 3, 0, NULL, false)},
      {tg_amax(x32, 1, (int[]){0}, false), tg_amax(x64, 1, (int[]){0}, false)},
      {tg_cumprod(x32, 1), tg_cumprod(x64, 1)},
      {tg_logcumsumexp(x32, 0), tg_logcumsumexp(x64, 0)},
      {tg_sort(x32, 1, true, NULL), tg_sort(x64, 1, true, NULL)},
  };
  for (size_t k = 0; k < sizeof pairs / sizeof *pairs; k++) {
    assert_int_equal(pairs[k][0]->dtype, TG_FLOAT32);
    for (size_t i = 0; i < pairs[k][1]->numel; i++)
      assert_close(tg_get_flat(pairs[k][0], i), tg_get_flat(pairs[k][1], i), 1e-5);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_prod_grad),       TG_TEST(test_prod_zeros),       TG_TEST(test_std_grad),
      TG_TEST(test_norm_grad),       TG_TEST(test_norm_edges),       TG_TEST(test_amax_amin),
      TG_TEST(test_argmax_argmin),   TG_TEST(test_median_kthvalue),  TG_TEST(test_scans_grad),
      TG_TEST(test_cumprod_zeros),   TG_TEST(test_logcumsumexp_stable), TG_TEST(test_logcumsumexp_inf),
      TG_TEST(test_sort_topk_grad),
      TG_TEST(test_sort_ties_nan),   TG_TEST(test_unique),           TG_TEST(test_errors),
      TG_TEST(test_one_element_slots), TG_TEST(test_std_constant_slot), TG_TEST(test_norm_inf_edges),
      TG_TEST(test_integer_inputs), TG_TEST(test_topk_unique_edges),
      TG_TEST(test_float32),
  };
  int rc = cmocka_run_group_tests_name("ops_reduce", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
