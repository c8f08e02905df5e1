/* Gradient checks for every differentiable op in ops/tg_ops.h.
 *
 * Every op gets a float64 tg_gradcheck (analytic Jacobian against central
 * differences) on shapes drawn from seeded generators; every binary op gets
 * broadcasting cases; every op family gets non-contiguous inputs (a
 * transposed view or a strided slice of the leaf, taken inside the function
 * under test so the gradient flows back through the view); a representative
 * set gets tg_gradgradcheck. Inputs are kept away from the points where an
 * op is not differentiable. Forward values are checked against computations
 * done here by hand (naive loops, textbook formulas). */
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

/* uniform integer in [lo, hi] */
static int rand_shape(tg_rng *r, int lo_nd, int hi_nd, size_t lo, size_t hi, size_t *shape) {
  int nd = (int)rand_int(r, (size_t)lo_nd, (size_t)hi_nd);
  for (int d = 0; d < nd; d++) shape[d] = rand_int(r, lo, hi);
  return nd;
}

/* "[2,3]" in one of a few rotating buffers, for failure messages */
static const char *sh(int nd, const size_t *shape) {
  static char bufs[8][64];
  static int next;
  char *b = bufs[next++ % 8];
  size_t len = 0;
  len += (size_t)snprintf(b + len, 64 - len, "[");
  for (int d = 0; d < nd && len < 60; d++)
    len += (size_t)snprintf(b + len, 64 - len, d ? ",%zu" : "%zu", shape[d]);
  snprintf(b + len, 64 - len, "]");
  return b;
}

/* Where the values of an input come from. */
enum {
  K_ANY,      /* N(0,1) */
  K_POS,      /* uniform [0.5, 2): for log, sqrt, pow bases */
  K_AWAY,     /* |x| >= 0.25: away from the kink at 0 */
  K_SEP_A,    /* [n, n+0.3) with integer n ... */
  K_SEP_B,    /* ... and [m+0.5, m+0.8): an A and a B always differ by >= 0.2 */
  K_DISTINCT, /* all values of the tensor at least 0.15 apart: no ties for max/min */
};
typedef struct domain {
  int kind;
  int n_avoid; /* and at least 0.05 from each of these points */
  double avoid[3];
} domain;

static double draw(tg_rng *r, const domain *dm) {
  for (;;) {
    double v = 0;
    switch (dm->kind) {
    case K_POS: v = 0.5 + 1.5 * tg_rng_uniform(r); break;
    case K_AWAY: {
      double m = 0.25 + fabs(tg_rng_normal(r));
      v = tg_rng_uniform(r) < 0.5 ? -m : m;
      break;
    }
    case K_SEP_A: v = (double)((int)rand_int(r, 0, 4) - 2) + 0.3 * tg_rng_uniform(r); break;
    case K_SEP_B: v = (double)((int)rand_int(r, 0, 4) - 2) + 0.5 + 0.3 * tg_rng_uniform(r); break;
    default: v = tg_rng_normal(r); break;
    }
    bool ok = true;
    for (int k = 0; k < dm->n_avoid; k++) ok = ok && fabs(v - dm->avoid[k]) >= 0.05;
    if (ok) return v;
  }
}

/* How f views an input before using it (so the op sees a non-contiguous
 * tensor and the gradient flows back through the view). */
enum {
  NC_NONE,
  NC_T,  /* transpose first and last dims */
  NC_TL, /* transpose the last two dims */
  NC_S,  /* slice the last dim [1::2] */
  NC_S0, /* slice the first dim [0::2] */
};

static int effective_nc(int nc, int nd) {
  if (nd == 0) return NC_NONE;
  if (nd == 1 && (nc == NC_T || nc == NC_TL)) return NC_S;
  return nc;
}

static tg_tensor *nc_view(tg_tensor *x, int nc) {
  if (!x) return NULL;
  switch (effective_nc(nc, x->ndim)) {
  case NC_T: return tg_transpose(x, 0, -1);
  case NC_TL: return tg_transpose(x, -2, -1);
  case NC_S: return tg_slice(x, -1, 1, LONG_MAX, 2);
  case NC_S0: return tg_slice(x, 0, 0, LONG_MAX, 2);
  default: return x;
  }
}

/* A float64 leaf requiring grad whose nc_view has the given logical shape. */
static tg_tensor *make_input(tg_rng *r, domain dm, int nc, int nd, const size_t *shape) {
  size_t ls[TG_MAX_DIMS] = {0}, tmp;
  for (int d = 0; d < nd; d++) ls[d] = shape[d];
  switch (effective_nc(nc, nd)) {
  case NC_T:
    if (nd >= 2) tmp = ls[0], ls[0] = ls[nd - 1], ls[nd - 1] = tmp;
    break;
  case NC_TL:
    if (nd >= 2) tmp = ls[nd - 2], ls[nd - 2] = ls[nd - 1], ls[nd - 1] = tmp;
    break;
  case NC_S:
    if (nd >= 1) ls[nd - 1] *= 2;
    break;
  case NC_S0:
    if (nd >= 1) ls[0] = 2 * ls[0] - 1;
    break;
  default: break;
  }
  tg_tensor *t = tg_empty(TG_FLOAT64, nd, ls);
  assert_non_null(t);
  double *p = tg_data_f64(t);
  size_t n = t->numel;
  if (dm.kind == K_DISTINCT) {
    size_t *perm = malloc((n ? n : 1) * sizeof *perm);
    assert_non_null(perm);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n; i > 1; i--) {
      size_t j = rand_int(r, 0, i - 1), s = perm[i - 1];
      perm[i - 1] = perm[j], perm[j] = s;
    }
    for (size_t i = 0; i < n; i++)
      p[i] = ((double)perm[i] - (double)n / 2) * 0.25 + 0.1 * tg_rng_uniform(r);
    free(perm);
  } else {
    for (size_t i = 0; i < n; i++) p[i] = draw(r, &dm);
  }
  return tg_requires_grad_(t, true);
}

static const domain ANY = {K_ANY, 0, {0}};
static const domain POS = {K_POS, 0, {0}};
static const domain AWAY = {K_AWAY, 0, {0}};
static const domain SEP_A = {K_SEP_A, 0, {0}};
static const domain SEP_B = {K_SEP_B, 0, {0}};
static const domain DISTINCT = {K_DISTINCT, 0, {0}};

static tg_tensor *rand_index(tg_rng *r, int nd, const size_t *shape, size_t hi) {
  size_t n = 1;
  for (int d = 0; d < nd; d++) n *= shape[d];
  int64_t *v = malloc((n ? n : 1) * sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < n; i++) v[i] = (int64_t)rand_int(r, 0, hi - 1);
  tg_tensor *t = tg_from_i64(nd, shape, v);
  free(v);
  assert_non_null(t);
  return t;
}

/* all elements in logical order (caller frees) */
static double *values(const tg_tensor *t) {
  assert_non_null(t);
  double *v = malloc((t->numel ? t->numel : 1) * sizeof *v);
  assert_non_null(v);
  assert_int_equal(tg_to_f64_array(t, v), 0);
  return v;
}

static void assert_shape(const tg_tensor *t, int nd, const size_t *shape) {
  assert_non_null(t);
  if (t->ndim != nd) fail_msg("ndim %d, expected %d (%s)", t->ndim, nd, sh(nd, shape));
  for (int d = 0; d < nd; d++)
    if (t->shape[d] != shape[d])
      fail_msg("shape %s, expected %s", sh(t->ndim, t->shape), sh(nd, shape));
}

/* Parameters of the function under test. */
typedef struct fctx {
  int op;
  int nc[4]; /* view applied to each input inside f (NC_*) */
  int dim, dim2;
  int n_dims;
  int dims[TG_MAX_DIMS];
  bool keepdim, unbiased;
  double p0, p1;
  tg_tensor *index;
  int ndim;
  size_t shape[TG_MAX_DIMS];
  long lshape[TG_MAX_DIMS];
  long start, end, step;
  int n_in;
  /* return op(x) * op(x): the backward of a linear op then gets an input
   * with history, so second-order checks exercise it */
  bool square;
} fctx;

static tg_tensor *finish(const fctx *c, tg_tensor *y) { return c->square ? tg_mul(y, y) : y; }

static void check_grad_(tg_fn f, int n, tg_tensor **in, void *c, bool second, const char *what) {
  tg_gradcheck_opts o = {.quiet = true};
  tg_gradcheck_result r = second ? tg_gradgradcheck(f, n, in, c, o) : tg_gradcheck(f, n, in, c, o);
  if (!r.ok) fail_msg("%s%s: %s", second ? "gradgradcheck " : "gradcheck ", what, r.message);
  assert_true(r.ok);
}

#define CHECK_GRAD(f, n, in, c, ...)                                           \
  do {                                                                         \
    char what_[256];                                                           \
    snprintf(what_, sizeof what_, __VA_ARGS__);                                \
    check_grad_((f), (n), (in), (c), false, what_);                            \
  } while (0)
#define CHECK_GRADGRAD(f, n, in, c, ...)                                       \
  do {                                                                         \
    char what_[256];                                                           \
    snprintf(what_, sizeof what_, __VA_ARGS__);                                \
    check_grad_((f), (n), (in), (c), true, what_);                             \
  } while (0)

/* ------------------------------------------------------ binary ops */

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAXIMUM, B_MINIMUM, B_COUNT };
static const char *const BIN_NAME[B_COUNT] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};

static tg_tensor *binary_op(int op, tg_tensor *a, tg_tensor *b) {
  switch (op) {
  case B_ADD: return tg_add(a, b);
  case B_SUB: return tg_sub(a, b);
  case B_MUL: return tg_mul(a, b);
  case B_DIV: return tg_div(a, b);
  case B_POW: return tg_pow(a, b);
  case B_MAXIMUM: return tg_maximum(a, b);
  default: return tg_minimum(a, b);
  }
}

static tg_tensor *f_binary(tg_tensor **in, void *p) {
  const fctx *c = p;
  return finish(c, binary_op(c->op, nc_view(in[0], c->nc[0]), nc_view(in[1], c->nc[1])));
}

static void binary_domains(int op, domain *da, domain *db) {
  *da = ANY, *db = ANY;
  if (op == B_DIV) *db = AWAY;
  if (op == B_POW) *da = POS;
  if (op == B_MAXIMUM || op == B_MINIMUM) *da = SEP_A, *db = SEP_B;
}

static void binary_case(tg_rng *r, int op, int na, const size_t *sa, int nb, const size_t *sb,
                        int nca, int ncb, bool second) {
  domain da, db;
  binary_domains(op, &da, &db);
  tg_scope_begin();
  tg_tensor *in[2] = {make_input(r, da, nca, na, sa), make_input(r, db, ncb, nb, sb)};
  fctx c = {.op = op, .nc = {nca, ncb}};
  if (second)
    CHECK_GRADGRAD(f_binary, 2, in, &c, "%s(%s, %s) views (%d,%d)", BIN_NAME[op], sh(na, sa),
                   sh(nb, sb), nca, ncb);
  else
    CHECK_GRAD(f_binary, 2, in, &c, "%s(%s, %s) views (%d,%d)", BIN_NAME[op], sh(na, sa),
               sh(nb, sb), nca, ncb);
  tg_scope_end();
}

/* two shapes that broadcast: a has all nd dims, b a trailing part; any dim
 * of either may be 1; then maybe swapped */
static void rand_broadcast_pair(tg_rng *r, int *na, size_t *sa, int *nb, size_t *sb) {
  size_t out[3];
  int nd = (int)rand_int(r, 1, 3);
  for (int d = 0; d < nd; d++) out[d] = rand_int(r, 2, 4);
  *na = nd;
  *nb = (int)rand_int(r, 0, (size_t)nd);
  for (int d = 0; d < nd; d++) sa[d] = rand_int(r, 0, 2) == 0 ? 1 : out[d];
  for (int d = 0; d < *nb; d++) sb[d] = rand_int(r, 0, 2) == 0 ? 1 : out[nd - *nb + d];
  if (rand_int(r, 0, 1)) {
    size_t t[3];
    int tn = *na;
    memcpy(t, sa, sizeof t);
    *na = *nb, memcpy(sa, sb, sizeof t);
    *nb = tn, memcpy(sb, t, sizeof t);
  }
}

static const struct {
  int na;
  size_t a[3];
  int nb;
  size_t b[3];
} BCAST_CASES[] = {
    {3, {3, 1, 4}, 2, {2, 4}}, {2, {2, 4}, 3, {3, 1, 4}}, {0, {0}, 2, {2, 3}},
    {2, {2, 3}, 0, {0}},       {2, {4, 1}, 2, {1, 5}},    {2, {2, 3}, 2, {2, 3}},
    {1, {3}, 2, {2, 1}},       {0, {0}, 0, {0}},
};
static const int NC_PAIRS[][2] = {{NC_NONE, NC_NONE}, {NC_T, NC_S}, {NC_S, NC_TL}};

static void check_binary(int op) {
  tg_rng r = seeded(100 + (uint64_t)op);
  for (size_t k = 0; k < sizeof BCAST_CASES / sizeof *BCAST_CASES; k++)
    for (size_t v = 0; v < sizeof NC_PAIRS / sizeof *NC_PAIRS; v++)
      binary_case(&r, op, BCAST_CASES[k].na, BCAST_CASES[k].a, BCAST_CASES[k].nb, BCAST_CASES[k].b,
                  NC_PAIRS[v][0], NC_PAIRS[v][1], false);
  for (int seed = 0; seed < 12; seed++) {
    int na, nb;
    size_t sa[3], sb[3];
    rand_broadcast_pair(&r, &na, sa, &nb, sb);
    int nca = (int)rand_int(&r, 0, 4), ncb = (int)rand_int(&r, 0, 4);
    binary_case(&r, op, na, sa, nb, sb, nca, ncb, false);
  }
}

static void test_add_grad(void **state) {
  (void)state;
  check_binary(B_ADD);
}
static void test_sub_grad(void **state) {
  (void)state;
  check_binary(B_SUB);
}
static void test_mul_grad(void **state) {
  (void)state;
  check_binary(B_MUL);
}
static void test_div_grad(void **state) {
  (void)state;
  check_binary(B_DIV);
}
static void test_pow_grad(void **state) {
  (void)state;
  check_binary(B_POW);
}
static void test_maximum_minimum_grad(void **state) {
  (void)state;
  check_binary(B_MAXIMUM);
  check_binary(B_MINIMUM);
}

/* second order for mul, div, pow and the broadcasting add */
static void test_binary_gradgrad(void **state) {
  (void)state;
  tg_rng r = seeded(150);
  static const int ops[] = {B_MUL, B_DIV, B_POW, B_ADD, B_SUB};
  for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
    binary_case(&r, ops[k], TG_SHAPE(3, 1, 2), TG_SHAPE(2, 2), NC_NONE, NC_NONE, true);
    binary_case(&r, ops[k], 0, NULL, TG_SHAPE(2, 3), NC_NONE, NC_NONE, true);
    binary_case(&r, ops[k], TG_SHAPE(2, 1), TG_SHAPE(1, 3), NC_T, NC_S, true);
  }
  /* add and sub are linear: square the result so the broadcast-reducing
   * backward is itself differentiated */
  for (int op = B_ADD; op <= B_SUB; op++) {
    tg_scope_begin();
    tg_tensor *in[2] = {make_input(&r, ANY, NC_NONE, TG_SHAPE(3, 1, 2)),
                        make_input(&r, ANY, NC_S, TG_SHAPE(2, 2))};
    fctx c = {.op = op, .nc = {NC_NONE, NC_S}, .square = true};
    CHECK_GRADGRAD(f_binary, 2, in, &c, "%s squared, broadcast", BIN_NAME[op]);
    tg_scope_end();
  }
}

static void test_binary_values(void **state) {
  (void)state;
  tg_rng r = seeded(160);
  tg_tensor *a = make_input(&r, POS, NC_NONE, TG_SHAPE(3, 1, 4));
  tg_tensor *b = make_input(&r, ANY, NC_NONE, TG_SHAPE(2, 4));
  double *av = values(a), *bv = values(b);
  for (int op = 0; op < B_COUNT; op++) {
    tg_tensor *y = binary_op(op, a, b);
    assert_shape(y, TG_SHAPE(3, 2, 4));
    double *yv = values(y);
    for (size_t i = 0; i < 3; i++)
      for (size_t j = 0; j < 2; j++)
        for (size_t k = 0; k < 4; k++) {
          double x = av[i * 4 + k], z = bv[j * 4 + k], e;
          switch (op) {
          case B_ADD: e = x + z; break;
          case B_SUB: e = x - z; break;
          case B_MUL: e = x * z; break;
          case B_DIV: e = x / z; break;
          case B_POW: e = pow(x, z); break;
          case B_MAXIMUM: e = x > z ? x : z; break;
          default: e = x < z ? x : z; break;
          }
          assert_close(yv[(i * 2 + j) * 4 + k], e, 1e-12 * (1 + fabs(e)));
        }
    free(yv);
  }
  free(av);
  free(bv);

  /* documented tie rule: maximum/minimum split the gradient 1/2 each */
  for (int op = B_MAXIMUM; op <= B_MINIMUM; op++) {
    tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(3), (double[]){1.0, 2.0, -1.0}), true);
    tg_tensor *w = tg_requires_grad_(tg_from_f64(TG_SHAPE(3), (double[]){1.0, -3.0, 4.0}), true);
    assert_int_equal(tg_backward(tg_sum(binary_op(op, x, w)), NULL, false), 0);
    double ex[3] = {0.5, op == B_MAXIMUM ? 1.0 : 0.0, op == B_MAXIMUM ? 0.0 : 1.0};
    for (size_t i = 0; i < 3; i++) {
      assert_close(tg_get_flat(x->grad, i), ex[i], 0);
      assert_close(tg_get_flat(w->grad, i), 1.0 - ex[i], 0);
    }
  }
  /* pow's exponent gradient is 0 where the base is 0 (PyTorch), not NaN */
  tg_tensor *base = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (double[]){0.0, 2.0}), true);
  tg_tensor *ex = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (double[]){2.0, 3.0}), true);
  assert_int_equal(tg_backward(tg_sum(tg_pow(base, ex)), NULL, false), 0);
  assert_close(tg_get_flat(ex->grad, 0), 0.0, 0);
  assert_close(tg_get_flat(ex->grad, 1), 8.0 * log(2.0), 1e-12);
  assert_close(tg_get_flat(base->grad, 0), 0.0, 0);
  assert_close(tg_get_flat(base->grad, 1), 12.0, 1e-12);
}

/* ------------------------------------------------------ scalar ops */

enum { S_ADD, S_SUB, S_RSUB, S_MUL, S_DIV, S_POW };
static const char *const SCALAR_NAME[] = {"add_scalar", "sub_scalar", "rsub_scalar",
                                          "mul_scalar", "div_scalar", "pow_scalar"};

static tg_tensor *scalar_op(int op, tg_tensor *a, double s) {
  switch (op) {
  case S_ADD: return tg_add_scalar(a, s);
  case S_SUB: return tg_sub_scalar(a, s);
  case S_RSUB: return tg_rsub_scalar(a, s);
  case S_MUL: return tg_mul_scalar(a, s);
  case S_DIV: return tg_div_scalar(a, s);
  default: return tg_pow_scalar(a, s);
  }
}

static double scalar_ref(int op, double x, double s) {
  switch (op) {
  case S_ADD: return x + s;
  case S_SUB: return x - s;
  case S_RSUB: return s - x;
  case S_MUL: return x * s;
  case S_DIV: return x / s;
  default: return pow(x, s);
  }
}

static tg_tensor *f_scalar(tg_tensor **in, void *p) {
  const fctx *c = p;
  return finish(c, scalar_op(c->op, nc_view(in[0], c->nc[0]), c->p0));
}

static const struct {
  int op;
  double s;
  int dom; /* 0 any, 1 positive, 2 away from 0 */
} SCALAR_CASES[] = {
    {S_ADD, 1.7, 0},  {S_SUB, -0.3, 0}, {S_RSUB, 2.5, 0}, {S_MUL, -1.25, 0},
    {S_DIV, 0.8, 0},  {S_DIV, -3.0, 0}, {S_POW, 2.0, 0},  {S_POW, 3.0, 0},
    {S_POW, 0.5, 1},  {S_POW, -1.5, 1}, {S_POW, 0.0, 0},  {S_POW, 1.0, 0},
    {S_POW, -2.0, 2}, {S_POW, 2.5, 1},
};

static void test_scalar_ops_grad(void **state) {
  (void)state;
  tg_rng r = seeded(200);
  const domain doms[3] = {ANY, POS, AWAY};
  for (size_t k = 0; k < sizeof SCALAR_CASES / sizeof *SCALAR_CASES; k++)
    for (int seed = 0; seed < 3; seed++) {
      size_t shape[TG_MAX_DIMS] = {0};
      int nd = rand_shape(&r, 0, 3, 1, 3, shape);
      int nc = seed == 0 ? NC_NONE : (seed == 1 ? NC_T : NC_S);
      tg_scope_begin();
      tg_tensor *x = make_input(&r, doms[SCALAR_CASES[k].dom], nc, nd, shape);
      fctx c = {.op = SCALAR_CASES[k].op, .p0 = SCALAR_CASES[k].s, .nc = {nc}};
      CHECK_GRAD(f_scalar, 1, &x, &c, "%s(%s, %g) view %d", SCALAR_NAME[c.op], sh(nd, shape), c.p0, nc);
      /* forward values by hand */
      tg_tensor *y = f_scalar(&x, &c);
      tg_tensor *xv = nc_view(x, nc);
      assert_shape(y, nd, shape);
      for (size_t i = 0; i < y->numel; i++) {
        double e = scalar_ref(c.op, tg_get_flat(xv, i), c.p0);
        assert_close(tg_get_flat(y, i), e, 1e-12 * (1 + fabs(e)));
      }
      tg_scope_end();
    }
}

static void test_scalar_ops_gradgrad(void **state) {
  (void)state;
  tg_rng r = seeded(210);
  static const double exps[] = {2.0, 3.0, 0.5, -1.5, 1.0, 0.0};
  for (size_t k = 0; k < sizeof exps / sizeof *exps; k++) {
    tg_scope_begin();
    tg_tensor *x = make_input(&r, POS, k % 2 ? NC_T : NC_NONE, TG_SHAPE(2, 3));
    fctx c = {.op = S_POW, .p0 = exps[k], .nc = {k % 2 ? NC_T : NC_NONE}};
    CHECK_GRADGRAD(f_scalar, 1, &x, &c, "pow_scalar(x, %g)", exps[k]);
    tg_scope_end();
  }
  /* the linear ones, squared so their backward is differentiated */
  for (int op = S_ADD; op <= S_DIV; op++) {
    tg_scope_begin();
    tg_tensor *x = make_input(&r, ANY, NC_S, TG_SHAPE(2, 2));
    fctx c = {.op = op, .p0 = -1.5, .nc = {NC_S}, .square = true};
    CHECK_GRADGRAD(f_scalar, 1, &x, &c, "%s squared", SCALAR_NAME[op]);
    tg_scope_end();
  }
}

/* ------------------------------------------------------- unary ops */

enum {
  U_NEG, U_EXP, U_LOG, U_SQRT, U_ABS, U_SIN, U_COS, U_TANH, U_SIGMOID,
  U_RELU, U_LEAKY, U_ELU, U_SOFTPLUS, U_CLAMP,
};

typedef struct unary_case {
  int op;
  const char *name;
  double p0, p1;
  domain dom;
  bool second; /* also gradgradcheck */
} unary_case;

static const unary_case UNARY_CASES[] = {
    {U_NEG, "neg", 0, 0, {K_ANY, 0, {0}}, false},
    {U_EXP, "exp", 0, 0, {K_ANY, 0, {0}}, true},
    {U_LOG, "log", 0, 0, {K_POS, 0, {0}}, true},
    {U_SQRT, "sqrt", 0, 0, {K_POS, 0, {0}}, true},
    {U_ABS, "abs", 0, 0, {K_AWAY, 0, {0}}, true},
    {U_SIN, "sin", 0, 0, {K_ANY, 0, {0}}, true},
    {U_COS, "cos", 0, 0, {K_ANY, 0, {0}}, true},
    {U_TANH, "tanh", 0, 0, {K_ANY, 0, {0}}, true},
    {U_SIGMOID, "sigmoid", 0, 0, {K_ANY, 0, {0}}, true},
    {U_RELU, "relu", 0, 0, {K_AWAY, 0, {0}}, true},
    {U_LEAKY, "leaky_relu", 0.01, 0, {K_AWAY, 0, {0}}, true},
    {U_LEAKY, "leaky_relu", 0.2, 0, {K_AWAY, 0, {0}}, false},
    {U_ELU, "elu", 1.0, 0, {K_AWAY, 0, {0}}, true},
    {U_ELU, "elu", 0.5, 0, {K_AWAY, 0, {0}}, true},
    {U_SOFTPLUS, "softplus", 1.0, 20.0, {K_ANY, 0, {0}}, true},
    /* beta 2, threshold 1: linear past x = 0.5, kept away from it */
    {U_SOFTPLUS, "softplus", 2.0, 1.0, {K_ANY, 1, {0.5}}, true},
    {U_CLAMP, "clamp", -0.5, 0.6, {K_ANY, 2, {-0.5, 0.6}}, false},
    {U_CLAMP, "clamp", NAN, 0.3, {K_ANY, 1, {0.3}}, false},
    {U_CLAMP, "clamp", -0.2, NAN, {K_ANY, 1, {-0.2}}, false},
};

static tg_tensor *unary_op(int op, tg_tensor *x, double p0, double p1) {
  switch (op) {
  case U_NEG: return tg_neg(x);
  case U_EXP: return tg_exp(x);
  case U_LOG: return tg_log(x);
  case U_SQRT: return tg_sqrt(x);
  case U_ABS: return tg_abs(x);
  case U_SIN: return tg_sin(x);
  case U_COS: return tg_cos(x);
  case U_TANH: return tg_tanh(x);
  case U_SIGMOID: return tg_sigmoid(x);
  case U_RELU: return tg_relu(x);
  case U_LEAKY: return tg_leaky_relu(x, p0);
  case U_ELU: return tg_elu(x, p0);
  case U_SOFTPLUS: return tg_softplus(x, p0, p1);
  default: return tg_clamp(x, p0, p1);
  }
}

/* the textbook definitions */
static double unary_ref(int op, double x, double p0, double p1) {
  switch (op) {
  case U_NEG: return -x;
  case U_EXP: return exp(x);
  case U_LOG: return log(x);
  case U_SQRT: return sqrt(x);
  case U_ABS: return fabs(x);
  case U_SIN: return sin(x);
  case U_COS: return cos(x);
  case U_TANH: return tanh(x);
  case U_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case U_RELU: return x > 0 ? x : 0.0;
  case U_LEAKY: return x > 0 ? x : p0 * x;
  case U_ELU: return x > 0 ? x : p0 * (exp(x) - 1.0);
  case U_SOFTPLUS: return p0 * x > p1 ? x : log(1.0 + exp(p0 * x)) / p0;
  default: return (!isnan(p0) && x < p0) ? p0 : ((!isnan(p1) && x > p1) ? p1 : x);
  }
}

static tg_tensor *f_unary(tg_tensor **in, void *p) {
  const fctx *c = p;
  return finish(c, unary_op(c->op, nc_view(in[0], c->nc[0]), c->p0, c->p1));
}

static void test_unary_grad(void **state) {
  (void)state;
  tg_rng r = seeded(300);
  for (size_t k = 0; k < sizeof UNARY_CASES / sizeof *UNARY_CASES; k++) {
    const unary_case *u = &UNARY_CASES[k];
    for (int seed = 0; seed < 6; seed++) {
      size_t shape[TG_MAX_DIMS] = {0};
      int nd = rand_shape(&r, seed == 0 ? 0 : 1, 3, 1, 4, shape);
      int nc = seed % 2 ? NC_T : (seed % 4 == 2 ? NC_S : NC_NONE);
      tg_scope_begin();
      tg_tensor *x = make_input(&r, u->dom, nc, nd, shape);
      fctx c = {.op = u->op, .p0 = u->p0, .p1 = u->p1, .nc = {nc}};
      CHECK_GRAD(f_unary, 1, &x, &c, "%s(%s; %g, %g) view %d", u->name, sh(nd, shape), u->p0, u->p1, nc);
      tg_tensor *y = f_unary(&x, &c), *xv = nc_view(x, nc);
      assert_shape(y, nd, shape);
      for (size_t i = 0; i < y->numel; i++) {
        double e = unary_ref(u->op, tg_get_flat(xv, i), u->p0, u->p1);
        assert_close(tg_get_flat(y, i), e, 1e-12 * (1 + fabs(e)));
      }
      tg_scope_end();
    }
  }
}

static void test_unary_gradgrad(void **state) {
  (void)state;
  tg_rng r = seeded(310);
  for (size_t k = 0; k < sizeof UNARY_CASES / sizeof *UNARY_CASES; k++) {
    const unary_case *u = &UNARY_CASES[k];
    if (!u->second) continue;
    for (int v = 0; v < 2; v++) {
      tg_scope_begin();
      int nc = v ? NC_T : NC_NONE;
      tg_tensor *x = make_input(&r, u->dom, nc, TG_SHAPE(2, 3));
      fctx c = {.op = u->op, .p0 = u->p0, .p1 = u->p1, .nc = {nc}};
      CHECK_GRADGRAD(f_unary, 1, &x, &c, "%s(%g, %g) view %d", u->name, u->p0, u->p1, nc);
      tg_scope_end();
    }
  }
}

/* values where numerics get delicate, against the definitions */
static void test_unary_values_extremes(void **state) {
  (void)state;
  tg_tensor *x = tg_from_f64(TG_SHAPE(6), (double[]){-40.0, -5.0, -1e-3, 1e-3, 5.0, 40.0});
  double *xv = values(x);
  double *sg = values(tg_sigmoid(x));
  double *sp = values(tg_softplus(x, 1.0, 20.0));
  for (size_t i = 0; i < 6; i++) {
    double e = 1.0 / (1.0 + exp(-xv[i]));
    assert_close(sg[i], e, 1e-15 + 1e-13 * e);
    double s = xv[i] > 20.0 ? xv[i] : log1p(exp(xv[i]));
    assert_close(sp[i], s, 1e-13 * (1 + fabs(s)));
  }
  /* sigmoid must stay in (0, 1) and not overflow */
  assert_true(sg[0] > 0 && sg[0] < 1e-17);
  assert_true(sg[5] <= 1.0 && sg[5] > 1.0 - 1e-16);
  free(sg);
  free(sp);
  /* clamp with both bounds, gradient mask by hand */
  tg_tensor *c = tg_requires_grad_(tg_from_f64(TG_SHAPE(4), (double[]){-2.0, -0.1, 0.2, 3.0}), true);
  tg_tensor *y = tg_clamp(c, -0.5, 0.6);
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  const double ey[4] = {-0.5, -0.1, 0.2, 0.6}, eg[4] = {0, 1, 1, 0};
  for (size_t i = 0; i < 4; i++) {
    assert_close(tg_get_flat(y, i), ey[i], 0);
    assert_close(tg_get_flat(c->grad, i), eg[i], 0);
  }
  free(xv);
}

/* ------------------------------------------------------ reductions */

enum {
  R_SUM, R_SUM_DIMS, R_MEAN, R_MEAN_DIMS, R_VAR, R_VAR_DIMS, R_LSE,
  R_MAX, R_MIN, R_MAX_DIM, R_MIN_DIM, R_SUM_TO,
};
static const char *const RED_NAME[] = {"sum", "sum_dims", "mean", "mean_dims", "var", "var_dims",
                                       "logsumexp", "max", "min", "max_dim", "min_dim",
                                       "sum_to_shape"};

static tg_tensor *f_reduce(tg_tensor **in, void *p) {
  const fctx *c = p;
  tg_tensor *x = nc_view(in[0], c->nc[0]), *y;
  switch (c->op) {
  case R_SUM: y = tg_sum(x); break;
  case R_SUM_DIMS: y = tg_sum_dims(x, c->n_dims, c->dims, c->keepdim); break;
  case R_MEAN: y = tg_mean(x); break;
  case R_MEAN_DIMS: y = tg_mean_dims(x, c->n_dims, c->dims, c->keepdim); break;
  case R_VAR: y = tg_var(x, c->unbiased); break;
  case R_VAR_DIMS: y = tg_var_dims(x, c->n_dims, c->dims, c->unbiased, c->keepdim); break;
  case R_LSE: y = tg_logsumexp(x, c->n_dims, c->dims, c->keepdim); break;
  case R_MAX: y = tg_max(x); break;
  case R_MIN: y = tg_min(x); break;
  case R_MAX_DIM: y = tg_max_dim(x, c->dim, c->keepdim, NULL); break;
  case R_MIN_DIM: y = tg_min_dim(x, c->dim, c->keepdim, NULL); break;
  default: y = tg_sum_to_shape(x, c->ndim, c->shape); break;
  }
  return finish(c, y);
}

/* a random non-empty set of dims of an nd-dim tensor, some written negative */
static int rand_dims(tg_rng *r, int nd, int *dims) {
  unsigned mask = 0;
  while (mask == 0) mask = (unsigned)rand_int(r, 0, (1u << nd) - 1);
  int n = 0;
  for (int d = 0; d < nd; d++)
    if (mask & (1u << d)) dims[n++] = rand_int(r, 0, 1) ? d : d - nd;
  if (n > 1 && rand_int(r, 0, 1)) { /* order does not matter */
    int t = dims[0];
    dims[0] = dims[n - 1], dims[n - 1] = t;
  }
  return n;
}

static void reduce_case(tg_rng *r, fctx *c, domain dm, int nd, const size_t *shape, bool second) {
  tg_scope_begin();
  tg_tensor *x = make_input(r, dm, c->nc[0], nd, shape);
  char dims[64] = "";
  for (int k = 0, len = 0; k < c->n_dims && len < 56; k++)
    len += snprintf(dims + len, sizeof dims - (size_t)len, "%d ", c->dims[k]);
  if (second)
    CHECK_GRADGRAD(f_reduce, 1, &x, c, "%s(%s) dims {%s} dim %d keepdim %d unbiased %d view %d%s",
                   RED_NAME[c->op], sh(nd, shape), dims, c->dim, c->keepdim, c->unbiased, c->nc[0],
                   c->square ? " squared" : "");
  else
    CHECK_GRAD(f_reduce, 1, &x, c, "%s(%s) dims {%s} dim %d keepdim %d unbiased %d view %d",
               RED_NAME[c->op], sh(nd, shape), dims, c->dim, c->keepdim, c->unbiased, c->nc[0]);
  tg_scope_end();
}

static void test_sum_mean_grad(void **state) {
  (void)state;
  tg_rng r = seeded(400);
  for (int seed = 0; seed < 10; seed++) {
    size_t shape[TG_MAX_DIMS] = {0};
    int nd = rand_shape(&r, seed == 0 ? 0 : 1, 3, 1, 4, shape);
    int nc = (int)rand_int(&r, 0, 4);
    for (int op = R_SUM; op <= R_MEAN_DIMS; op++) {
      fctx c = {.op = op, .nc = {nc}};
      if ((op == R_SUM_DIMS || op == R_MEAN_DIMS) && nd > 0) {
        c.n_dims = rand_dims(&r, nd, c.dims);
        c.keepdim = seed % 2;
      }
      reduce_case(&r, &c, ANY, nd, shape, false);
    }
  }
  /* n_dims 0 reduces everything, keepdim keeps every dim as 1 */
  for (int op = R_SUM_DIMS; op <= R_MEAN_DIMS; op += 2) {
    fctx c = {.op = op, .keepdim = true, .nc = {NC_T}};
    reduce_case(&r, &c, ANY, TG_SHAPE(2, 3, 2), false);
  }
}

static void test_var_grad(void **state) {
  (void)state;
  tg_rng r = seeded(410);
  for (int seed = 0; seed < 8; seed++) {
    size_t shape[TG_MAX_DIMS] = {0};
    int nd = rand_shape(&r, 1, 3, 2, 4, shape);
    int nc = (int)rand_int(&r, 0, 4);
    for (int unbiased = 0; unbiased < 2; unbiased++) {
      fctx c = {.op = R_VAR, .unbiased = unbiased, .nc = {nc}};
      reduce_case(&r, &c, ANY, nd, shape, false);
      for (int keepdim = 0; keepdim < 2; keepdim++) {
        fctx cd = {.op = R_VAR_DIMS, .unbiased = unbiased, .keepdim = keepdim, .nc = {nc}};
        cd.n_dims = rand_dims(&r, nd, cd.dims);
        reduce_case(&r, &cd, ANY, nd, shape, false);
      }
    }
  }
  /* biased variance of a 0-d tensor is 0, with zero gradient */
  fctx c0 = {.op = R_VAR, .unbiased = false};
  reduce_case(&r, &c0, ANY, 0, NULL, false);
}

static void test_logsumexp_grad(void **state) {
  (void)state;
  tg_rng r = seeded(420);
  for (int seed = 0; seed < 10; seed++) {
    size_t shape[TG_MAX_DIMS] = {0};
    int nd = rand_shape(&r, seed == 0 ? 0 : 1, 3, 1, 4, shape);
    fctx c = {.op = R_LSE, .keepdim = seed % 2, .nc = {(int)rand_int(&r, 0, 4)}};
    if (nd > 0 && seed % 3 != 2) c.n_dims = rand_dims(&r, nd, c.dims);
    reduce_case(&r, &c, ANY, nd, shape, false);
  }
  /* large logits: the max shift must not change the gradient */
  tg_scope_begin();
  tg_tensor *x = make_input(&r, ANY, NC_NONE, TG_SHAPE(2, 3));
  double *p = tg_data_f64(x);
  for (size_t i = 0; i < 6; i++) p[i] += 500.0;
  fctx c = {.op = R_LSE, .n_dims = 1, .dims = {1}};
  CHECK_GRAD(f_reduce, 1, &x, &c, "logsumexp of values near 500");
  tg_scope_end();
}

static void test_max_min_grad(void **state) {
  (void)state;
  tg_rng r = seeded(430);
  for (int seed = 0; seed < 8; seed++) {
    size_t shape[TG_MAX_DIMS] = {0};
    int nd = rand_shape(&r, seed == 0 ? 0 : 1, 3, 1, 4, shape);
    int nc = (int)rand_int(&r, 0, 4);
    for (int op = R_MAX; op <= R_MIN; op++) {
      fctx c = {.op = op, .nc = {nc}};
      reduce_case(&r, &c, DISTINCT, nd, shape, false);
    }
    for (int op = R_MAX_DIM; op <= R_MIN_DIM; op++)
      for (int d = 0; d < (nd ? nd : 1); d++) {
        fctx c = {.op = op, .dim = rand_int(&r, 0, 1) ? d : d - (nd ? nd : 1),
                  .keepdim = (d + seed) % 2, .nc = {nc}};
        reduce_case(&r, &c, DISTINCT, nd, shape, false);
      }
  }
}

static void test_sum_to_shape_grad(void **state) {
  (void)state;
  tg_rng r = seeded(440);
  static const struct {
    int nd;
    size_t s[3];
  } targets[] = {{2, {3, 1}}, {1, {4}}, {2, {1, 4}}, {0, {0}},
                 {3, {2, 1, 4}}, {3, {1, 1, 1}}, {3, {2, 3, 4}}, {1, {1}}};
  for (size_t k = 0; k < sizeof targets / sizeof *targets; k++)
    for (int nc = NC_NONE; nc <= NC_S; nc += 3) {
      fctx c = {.op = R_SUM_TO, .ndim = targets[k].nd, .nc = {nc}};
      memcpy(c.shape, targets[k].s, sizeof targets[k].s);
      reduce_case(&r, &c, ANY, TG_SHAPE(2, 3, 4), false);
    }
}

static void test_reduce_gradgrad(void **state) {
  (void)state;
  tg_rng r = seeded(450);
  /* linear reductions squared, so their backward (an expand) is differentiated */
  for (int op = R_SUM; op <= R_MEAN_DIMS; op++) {
    fctx c = {.op = op, .square = true, .nc = {NC_T}, .keepdim = op % 2};
    if (op == R_SUM_DIMS || op == R_MEAN_DIMS) c.n_dims = 1, c.dims[0] = -1;
    reduce_case(&r, &c, ANY, TG_SHAPE(2, 3), true);
    c.square = false;
    reduce_case(&r, &c, ANY, TG_SHAPE(2, 3), true);
  }
  for (int unbiased = 0; unbiased < 2; unbiased++) {
    fctx c = {.op = R_VAR, .unbiased = unbiased, .nc = {NC_S}};
    reduce_case(&r, &c, ANY, TG_SHAPE(2, 3), true);
    fctx cd = {.op = R_VAR_DIMS, .unbiased = unbiased, .keepdim = unbiased, .n_dims = 1, .dims = {0},
               .nc = {NC_T}};
    reduce_case(&r, &cd, ANY, TG_SHAPE(3, 2), true);
  }
  fctx l = {.op = R_LSE, .n_dims = 1, .dims = {1}, .nc = {NC_TL}};
  reduce_case(&r, &l, ANY, TG_SHAPE(2, 3), true);
  fctx la = {.op = R_LSE, .keepdim = true};
  reduce_case(&r, &la, ANY, TG_SHAPE(2, 3), true);
  fctx m = {.op = R_MAX_DIM, .dim = 1, .square = true};
  reduce_case(&r, &m, DISTINCT, TG_SHAPE(2, 3), true);
  fctx st = {.op = R_SUM_TO, .ndim = 2, .shape = {1, 3}, .square = true};
  reduce_case(&r, &st, ANY, TG_SHAPE(2, 2, 3), true);
}

static void test_reduce_values(void **state) {
  (void)state;
  tg_rng r = seeded(460);
  size_t A = 3, B = 4, C = 2;
  tg_tensor *x = make_input(&r, ANY, NC_NONE, TG_SHAPE(A, B, C));
  double *xv = values(x);
#define X(i, j, k) xv[((i) * B + (j)) * C + (k)]
  /* sum over {0, 2}, mean over {1} */
  double *s = values(tg_sum_dims(x, 2, (int[]){0, -1}, false));
  double *m = values(tg_mean_dims(x, 1, (int[]){1}, true));
  for (size_t j = 0; j < B; j++) {
    double e = 0;
    for (size_t i = 0; i < A; i++)
      for (size_t k = 0; k < C; k++) e += X(i, j, k);
    assert_close(s[j], e, 1e-12);
  }
  for (size_t i = 0; i < A; i++)
    for (size_t k = 0; k < C; k++) {
      double e = 0;
      for (size_t j = 0; j < B; j++) e += X(i, j, k);
      assert_close(m[i * C + k], e / (double)B, 1e-12);
    }
  /* var over dim 1 by the two-pass formula, both corrections */
  for (int unbiased = 0; unbiased < 2; unbiased++) {
    tg_tensor *v = tg_var_dims(x, 1, (int[]){1}, unbiased, false);
    assert_shape(v, TG_SHAPE(A, C));
    double *vv = values(v);
    for (size_t i = 0; i < A; i++)
      for (size_t k = 0; k < C; k++) {
        double mean = 0, ss = 0;
        for (size_t j = 0; j < B; j++) mean += X(i, j, k);
        mean /= (double)B;
        for (size_t j = 0; j < B; j++) ss += (X(i, j, k) - mean) * (X(i, j, k) - mean);
        assert_close(vv[i * C + k], ss / (double)(B - (size_t)unbiased), 1e-12);
      }
    free(vv);
    /* whole-tensor variance */
    double mean = 0, ss = 0;
    for (size_t i = 0; i < A * B * C; i++) mean += xv[i];
    mean /= (double)(A * B * C);
    for (size_t i = 0; i < A * B * C; i++) ss += (xv[i] - mean) * (xv[i] - mean);
    assert_close(tg_item(tg_var(x, unbiased)), ss / (double)(A * B * C - (size_t)unbiased), 1e-12);
  }
  /* logsumexp over {0, 1} against log(sum(exp)) */
  tg_tensor *l = tg_logsumexp(x, 2, (int[]){0, 1}, true);
  assert_shape(l, TG_SHAPE(1, 1, C));
  for (size_t k = 0; k < C; k++) {
    double e = 0;
    for (size_t i = 0; i < A; i++)
      for (size_t j = 0; j < B; j++) e += exp(X(i, j, k));
    assert_close(tg_get_flat(l, k), log(e), 1e-12);
  }
  /* max/min along dim 1 with indices, against a hand loop */
  tg_tensor *imax = NULL, *imin = NULL;
  tg_tensor *mx = tg_max_dim(x, 1, false, &imax), *mn = tg_min_dim(x, -2, true, &imin);
  assert_shape(mx, TG_SHAPE(A, C));
  assert_shape(imax, TG_SHAPE(A, C));
  assert_shape(mn, TG_SHAPE(A, 1, C));
  assert_shape(imin, TG_SHAPE(A, 1, C));
  assert_int_equal(imax->dtype, TG_INT64);
  double gmax = -INFINITY, gmin = INFINITY;
  for (size_t i = 0; i < A; i++)
    for (size_t k = 0; k < C; k++) {
      size_t bi = 0, si = 0;
      for (size_t j = 1; j < B; j++) {
        if (X(i, j, k) > X(i, bi, k)) bi = j;
        if (X(i, j, k) < X(i, si, k)) si = j;
      }
      assert_close(tg_get_flat(mx, i * C + k), X(i, bi, k), 0);
      assert_close(tg_get_flat(imax, i * C + k), (double)bi, 0);
      assert_close(tg_get_flat(mn, i * C + k), X(i, si, k), 0);
      assert_close(tg_get_flat(imin, i * C + k), (double)si, 0);
    }
  for (size_t i = 0; i < A * B * C; i++) {
    gmax = fmax(gmax, xv[i]);
    gmin = fmin(gmin, xv[i]);
  }
  assert_close(tg_item(tg_max(x)), gmax, 0);
  assert_close(tg_item(tg_min(x)), gmin, 0);
#undef X
  free(s);
  free(m);
  free(xv);

  /* logsumexp of large values: 1000 + log(1 + e^0.5), no overflow */
  tg_tensor *big = tg_from_f64(TG_SHAPE(2), (double[]){1000.0, 1000.5});
  assert_close(tg_item(tg_logsumexp(big, 0, NULL, false)), 1000.5 + log1p(exp(-0.5)), 1e-10);

  /* documented: the gradient of max of all is split evenly among the ties */
  tg_tensor *t = tg_requires_grad_(tg_from_f64(TG_SHAPE(4), (double[]){1.0, 3.0, -2.0, 3.0}), true);
  assert_int_equal(tg_backward(tg_max(t), NULL, false), 0);
  const double eg[4] = {0, 0.5, 0, 0.5};
  for (size_t i = 0; i < 4; i++) assert_close(tg_get_flat(t->grad, i), eg[i], 0);

  /* sum_to_shape by hand: [2,3] -> [1,3] sums the rows, [] sums all */
  tg_tensor *q = tg_from_f64(TG_SHAPE(2, 3), (double[]){1, 2, 3, 10, 20, 30});
  tg_tensor *q1 = tg_sum_to_shape(q, TG_SHAPE(1, 3));
  assert_shape(q1, TG_SHAPE(1, 3));
  for (size_t j = 0; j < 3; j++) assert_close(tg_get_flat(q1, j), 11.0 * (double)(j + 1), 0);
  assert_close(tg_item(tg_sum_to_shape(q, 0, NULL)), 66.0, 0);
}

/* ------------------------------------------------- linear algebra */

enum { M_MATMUL, M_DOT, M_OUTER };

static tg_tensor *f_matmul(tg_tensor **in, void *p) {
  const fctx *c = p;
  tg_tensor *a = nc_view(in[0], c->nc[0]), *b = nc_view(in[1], c->nc[1]), *y;
  if (c->op == M_DOT) y = tg_dot(a, b);
  else if (c->op == M_OUTER) y = tg_outer(a, b);
  else y = tg_matmul(a, b);
  return finish(c, y);
}

/* PyTorch's matmul by its definition, on logical-order values: 1-D operands
 * promoted (and the added dim removed again), batch dims broadcast. */
static double *naive_matmul(const tg_tensor *a, const tg_tensor *b, int *nd_out, size_t *shape_out) {
  size_t as[TG_MAX_DIMS], bs[TG_MAX_DIMS];
  int an = a->ndim, bn = b->ndim;
  memcpy(as, a->shape, (size_t)a->ndim * sizeof *as);
  memcpy(bs, b->shape, (size_t)b->ndim * sizeof *bs);
  if (an == 1) as[1] = as[0], as[0] = 1, an = 2;
  if (bn == 1) bs[1] = 1, bn = 2;
  size_t m = as[an - 2], k = as[an - 1], n = bs[bn - 1];
  assert_int_equal(k, bs[bn - 2]);
  int nb = (an > bn ? an : bn) - 2;
  size_t batch[TG_MAX_DIMS], nbatch = 1;
  size_t astr[TG_MAX_DIMS], bstr[TG_MAX_DIMS]; /* row-major strides of the promoted operands */
  astr[an - 1] = 1;
  for (int d = an - 2; d >= 0; d--) astr[d] = astr[d + 1] * as[d + 1];
  bstr[bn - 1] = 1;
  for (int d = bn - 2; d >= 0; d--) bstr[d] = bstr[d + 1] * bs[d + 1];
  for (int d = 0; d < nb; d++) {
    int da = d - (nb - (an - 2)), db = d - (nb - (bn - 2));
    size_t sa = da >= 0 ? as[da] : 1, sb = db >= 0 ? bs[db] : 1;
    assert_true(sa == sb || sa == 1 || sb == 1);
    batch[d] = sa > sb ? sa : sb;
    nbatch *= batch[d];
  }
  double *A = values(a), *B = values(b), *out = malloc(nbatch * m * n * sizeof *out + 1);
  assert_non_null(out);
  for (size_t bi = 0; bi < nbatch; bi++) {
    size_t aoff = 0, boff = 0, rem = bi;
    for (int d = nb - 1; d >= 0; d--) {
      size_t id = rem % batch[d];
      rem /= batch[d];
      int da = d - (nb - (an - 2)), db = d - (nb - (bn - 2));
      if (da >= 0 && as[da] != 1) aoff += id * astr[da];
      if (db >= 0 && bs[db] != 1) boff += id * bstr[db];
    }
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < n; j++) {
        double s = 0;
        for (size_t p = 0; p < k; p++) s += A[aoff + i * k + p] * B[boff + p * n + j];
        out[(bi * m + i) * n + j] = s;
      }
  }
  free(A);
  free(B);
  int nd = 0;
  for (int d = 0; d < nb; d++) shape_out[nd++] = batch[d];
  if (a->ndim != 1) shape_out[nd++] = m;
  if (b->ndim != 1) shape_out[nd++] = n;
  *nd_out = nd;
  return out;
}

typedef struct mm_case {
  int na;
  size_t a[4];
  int nb;
  size_t b[4];
} mm_case;

/* every PyTorch case, with m, k, n drawn per seed (fixed batch dims) */
static int matmul_cases(tg_rng *r, mm_case *cs) {
  size_t m = rand_int(r, 1, 3), k = rand_int(r, 2, 4), n = rand_int(r, 1, 3);
  int c = 0;
  cs[c++] = (mm_case){1, {k}, 1, {k}};                      /* dot */
  cs[c++] = (mm_case){2, {m, k}, 2, {k, n}};                /* mm */
  cs[c++] = (mm_case){2, {m, k}, 1, {k}};                   /* matrix @ vector */
  cs[c++] = (mm_case){1, {k}, 2, {k, n}};                   /* vector @ matrix */
  cs[c++] = (mm_case){3, {2, m, k}, 3, {2, k, n}};          /* batched */
  cs[c++] = (mm_case){4, {2, 1, m, k}, 3, {3, k, n}};       /* broadcast batch dims */
  cs[c++] = (mm_case){3, {2, m, k}, 2, {k, n}};             /* 3-D @ 2-D */
  cs[c++] = (mm_case){2, {m, k}, 3, {2, k, n}};             /* 2-D @ 3-D */
  cs[c++] = (mm_case){1, {k}, 3, {2, k, n}};                /* vector @ batched */
  cs[c++] = (mm_case){3, {2, m, k}, 1, {k}};                /* batched @ vector */
  cs[c++] = (mm_case){4, {2, 1, 3, 4}, 3, {5, 4, 2}};       /* the brief's example */
  return c;
}

static const int MM_NC[][2] = {{NC_NONE, NC_NONE}, {NC_TL, NC_TL}, {NC_T, NC_S}, {NC_S0, NC_T}};

static void test_matmul_grad(void **state) {
  (void)state;
  tg_rng r = seeded(500);
  for (int seed = 0; seed < 3; seed++) {
    mm_case cs[16];
    int n = matmul_cases(&r, cs);
    for (int i = 0; i < n; i++)
      for (size_t v = 0; v < sizeof MM_NC / sizeof *MM_NC; v++) {
        if (i == n - 1 && v > 1) continue; /* the big case: contiguous and transposed suffice */
        if (i == n - 1 && seed > 0) continue;
        tg_scope_begin();
        fctx c = {.op = M_MATMUL, .nc = {MM_NC[v][0], MM_NC[v][1]}};
        tg_tensor *in[2] = {make_input(&r, ANY, c.nc[0], cs[i].na, cs[i].a),
                            make_input(&r, ANY, c.nc[1], cs[i].nb, cs[i].b)};
        CHECK_GRAD(f_matmul, 2, in, &c, "matmul(%s, %s) views (%d,%d)", sh(cs[i].na, cs[i].a),
                   sh(cs[i].nb, cs[i].b), c.nc[0], c.nc[1]);
        tg_scope_end();
      }
  }
}

static void test_matmul_values(void **state) {
  (void)state;
  tg_rng r = seeded(510);
  mm_case cs[16];
  int n = matmul_cases(&r, cs);
  for (int i = 0; i < n; i++)
    for (size_t v = 0; v < sizeof MM_NC / sizeof *MM_NC; v++) {
      tg_scope_begin();
      fctx c = {.op = M_MATMUL, .nc = {MM_NC[v][0], MM_NC[v][1]}};
      tg_tensor *in[2] = {make_input(&r, ANY, c.nc[0], cs[i].na, cs[i].a),
                          make_input(&r, ANY, c.nc[1], cs[i].nb, cs[i].b)};
      tg_tensor *y = f_matmul(in, &c);
      int nd;
      size_t shape[TG_MAX_DIMS] = {0};
      double *e = naive_matmul(nc_view(in[0], c.nc[0]), nc_view(in[1], c.nc[1]), &nd, shape);
      assert_shape(y, nd, shape);
      for (size_t j = 0; j < y->numel; j++) assert_close(tg_get_flat(y, j), e[j], 1e-12);
      free(e);
      tg_scope_end();
    }
  /* batch dims permuted: [3,2,4] viewed as [2,3,4] (batch stride 4, not 12) */
  tg_tensor *a = make_input(&r, ANY, NC_NONE, TG_SHAPE(3, 2, 4));
  tg_tensor *b = make_input(&r, ANY, NC_NONE, TG_SHAPE(2, 4, 2));
  tg_tensor *ap = tg_permute(a, (int[]){1, 0, 2});
  tg_tensor *y = tg_matmul(ap, b);
  int nd;
  size_t shape[TG_MAX_DIMS] = {0};
  double *e = naive_matmul(ap, b, &nd, shape);
  assert_shape(y, nd, shape);
  for (size_t j = 0; j < y->numel; j++) assert_close(tg_get_flat(y, j), e[j], 1e-12);
  free(e);
}

/* batch dims that are themselves strided (a permuted leaf) and an expanded
 * operand: the view BLAS reads in place, gradients checked numerically and
 * against a hand computation */
static const int BATCH_PERMS[2][3] = {{1, 0, 2}, {1, 2, 0}};
static tg_tensor *f_permuted_batch(tg_tensor **in, void *p) {
  const int *perm = p;
  return tg_matmul(tg_permute(in[0], perm), tg_expand(in[1], TG_SHAPE(2, 2, 2)));
}

static void test_matmul_permuted_batch_grad(void **state) {
  (void)state;
  tg_rng r = seeded(515);
  for (int v = 0; v < 2; v++) {
    const int *perm = BATCH_PERMS[v];
    /* leaf dims such that the permuted view is [2,3,2] (batch, rows, inner) */
    const size_t vshape[3] = {2, 3, 2};
    size_t lshape[3];
    for (int k = 0; k < 3; k++) lshape[perm[k]] = vshape[k];
    tg_scope_begin();
    tg_tensor *in[2] = {test_leaf(&r, 3, lshape), test_leaf(&r, TG_SHAPE(2, 2))};
    CHECK_GRAD(f_permuted_batch, 2, in, (void *)perm, "matmul of permuted batch, perm %d", v);
    tg_tensor *y = f_permuted_batch(in, (void *)perm);
    assert_shape(y, TG_SHAPE(2, 3, 2));
    tg_tensor *go = tg_randn(&r, TG_FLOAT64, TG_SHAPE(2, 3, 2));
    assert_int_equal(tg_backward(y, go, false), 0);
    /* by hand: dA_view = go @ B^T; dB = sum over the batch of A_view^T @ go */
    double *G = values(go), *Av = values(tg_permute(in[0], perm)), *Bv = values(in[1]);
    double dAv[2][3][2] = {{{0}}}, dB[2][2] = {{0}};
    for (size_t bi = 0; bi < 2; bi++)
      for (size_t i = 0; i < 3; i++)
        for (size_t p = 0; p < 2; p++)
          for (size_t j = 0; j < 2; j++) {
            dAv[bi][i][p] += G[(bi * 3 + i) * 2 + j] * Bv[p * 2 + j];
            dB[p][j] += Av[(bi * 3 + i) * 2 + p] * G[(bi * 3 + i) * 2 + j];
          }
    for (size_t bi = 0; bi < 2; bi++)
      for (size_t i = 0; i < 3; i++)
        for (size_t p = 0; p < 2; p++) {
          size_t vi[3] = {bi, i, p}, li[3];
          for (int k = 0; k < 3; k++) li[perm[k]] = vi[k];
          size_t flat = (li[0] * lshape[1] + li[1]) * lshape[2] + li[2];
          assert_close(tg_get_flat(in[0]->grad, flat), dAv[bi][i][p], 1e-12);
        }
    for (size_t p = 0; p < 2; p++)
      for (size_t j = 0; j < 2; j++) assert_close(tg_get_flat(in[1]->grad, p * 2 + j), dB[p][j], 1e-12);
    free(G);
    free(Av);
    free(Bv);
    tg_scope_end();
  }
}

static void test_dot_outer_grad(void **state) {
  (void)state;
  tg_rng r = seeded(520);
  for (int seed = 0; seed < 4; seed++) {
    size_t k = rand_int(&r, 1, 5), k2 = rand_int(&r, 1, 4);
    int nc0 = seed % 2 ? NC_S : NC_NONE, nc1 = seed >= 2 ? NC_S : NC_NONE;
    tg_scope_begin();
    fctx c = {.op = M_DOT, .nc = {nc0, nc1}};
    tg_tensor *in[2] = {make_input(&r, ANY, nc0, TG_SHAPE(k)), make_input(&r, ANY, nc1, TG_SHAPE(k))};
    CHECK_GRAD(f_matmul, 2, in, &c, "dot([%zu]) views (%d,%d)", k, nc0, nc1);
    tg_tensor *y = f_matmul(in, &c);
    assert_int_equal(y->ndim, 0);
    double e = 0;
    for (size_t i = 0; i < k; i++)
      e += tg_get_flat(nc_view(in[0], nc0), i) * tg_get_flat(nc_view(in[1], nc1), i);
    assert_close(tg_item(y), e, 1e-12);

    fctx o = {.op = M_OUTER, .nc = {nc0, nc1}};
    tg_tensor *io[2] = {make_input(&r, ANY, nc0, TG_SHAPE(k)), make_input(&r, ANY, nc1, TG_SHAPE(k2))};
    CHECK_GRAD(f_matmul, 2, io, &o, "outer([%zu], [%zu]) views (%d,%d)", k, k2, nc0, nc1);
    tg_tensor *z = f_matmul(io, &o);
    assert_shape(z, TG_SHAPE(k, k2));
    for (size_t i = 0; i < k; i++)
      for (size_t j = 0; j < k2; j++)
        assert_close(tg_get_flat(z, i * k2 + j),
                     tg_get_flat(nc_view(io[0], nc0), i) * tg_get_flat(nc_view(io[1], nc1), j), 1e-14);
    tg_scope_end();
  }
}

static void test_matmul_gradgrad(void **state) {
  (void)state;
  tg_rng r = seeded(530);
  static const mm_case cs[] = {
      {2, {2, 3}, 2, {3, 2}},    {2, {2, 3}, 1, {3}},       {1, {3}, 1, {3}},
      {3, {2, 1, 2}, 2, {2, 2}}, {4, {2, 1, 2, 2}, 3, {2, 2, 1}},
  };
  for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
    tg_scope_begin();
    fctx c = {.op = M_MATMUL, .nc = {i % 2 ? NC_TL : NC_NONE, i % 2 ? NC_NONE : NC_S}};
    tg_tensor *in[2] = {make_input(&r, ANY, c.nc[0], cs[i].na, cs[i].a),
                        make_input(&r, ANY, c.nc[1], cs[i].nb, cs[i].b)};
    CHECK_GRADGRAD(f_matmul, 2, in, &c, "matmul(%s, %s)", sh(cs[i].na, cs[i].a), sh(cs[i].nb, cs[i].b));
    tg_scope_end();
  }
  tg_scope_begin();
  fctx o = {.op = M_OUTER, .square = true};
  tg_tensor *io[2] = {make_input(&r, ANY, NC_NONE, TG_SHAPE(3)), make_input(&r, ANY, NC_NONE, TG_SHAPE(2))};
  CHECK_GRADGRAD(f_matmul, 2, io, &o, "outer squared");
  tg_scope_end();
}

/* ------------------------------------------------------------ softmax */

enum { SM_SOFTMAX, SM_LOG_SOFTMAX };

static tg_tensor *f_softmax(tg_tensor **in, void *p) {
  const fctx *c = p;
  tg_tensor *x = nc_view(in[0], c->nc[0]);
  return finish(c, c->op == SM_SOFTMAX ? tg_softmax(x, c->dim) : tg_log_softmax(x, c->dim));
}

static void test_softmax_grad(void **state) {
  (void)state;
  tg_rng r = seeded(600);
  for (int op = SM_SOFTMAX; op <= SM_LOG_SOFTMAX; op++)
    for (int seed = 0; seed < 6; seed++) {
      size_t shape[TG_MAX_DIMS] = {0};
      int nd = rand_shape(&r, seed == 0 ? 0 : 1, 3, 1, 4, shape);
      int nc = (int)rand_int(&r, 0, 4);
      for (int d = 0; d < (nd ? nd : 1); d++) {
        tg_scope_begin();
        fctx c = {.op = op, .dim = (seed + d) % 2 ? d - (nd ? nd : 1) : d, .nc = {nc}};
        tg_tensor *x = make_input(&r, ANY, nc, nd, shape);
        CHECK_GRAD(f_softmax, 1, &x, &c, "%s(%s, dim %d) view %d", op ? "log_softmax" : "softmax",
                   sh(nd, shape), c.dim, nc);
        tg_scope_end();
      }
    }
  /* fixed 3-D case over each dim, transposed */
  for (int op = SM_SOFTMAX; op <= SM_LOG_SOFTMAX; op++)
    for (int d = -3; d < 3; d++) {
      tg_scope_begin();
      fctx c = {.op = op, .dim = d, .nc = {NC_T}};
      tg_tensor *x = make_input(&r, ANY, NC_T, TG_SHAPE(2, 3, 2));
      CHECK_GRAD(f_softmax, 1, &x, &c, "%s([2,3,2], dim %d) transposed", op ? "log_softmax" : "softmax", d);
      tg_scope_end();
    }
}

static void test_softmax_gradgrad(void **state) {
  (void)state;
  tg_rng r = seeded(610);
  for (int op = SM_SOFTMAX; op <= SM_LOG_SOFTMAX; op++)
    for (int d = 0; d < 2; d++) {
      tg_scope_begin();
      fctx c = {.op = op, .dim = d ? -1 : 0, .nc = {d ? NC_S : NC_T}};
      tg_tensor *x = make_input(&r, ANY, c.nc[0], TG_SHAPE(2, 3));
      CHECK_GRADGRAD(f_softmax, 1, &x, &c, "%s(dim %d)", op ? "log_softmax" : "softmax", c.dim);
      tg_scope_end();
    }
}

static void test_softmax_values(void **state) {
  (void)state;
  tg_rng r = seeded(620);
  size_t S[3] = {2, 3, 4};
  tg_tensor *x = make_input(&r, ANY, NC_NONE, 3, S);
  double *xv = values(x);
  for (int d = 0; d < 3; d++) {
    double *sm = values(tg_softmax(x, d)), *ls = values(tg_log_softmax(x, d - 3));
    size_t outer = 1, inner = 1, len = S[d];
    for (int k = 0; k < d; k++) outer *= S[k];
    for (int k = d + 1; k < 3; k++) inner *= S[k];
    for (size_t o = 0; o < outer; o++)
      for (size_t i = 0; i < inner; i++) {
        double sum = 0, rowsum = 0;
        for (size_t j = 0; j < len; j++) sum += exp(xv[(o * len + j) * inner + i]);
        for (size_t j = 0; j < len; j++) {
          size_t at = (o * len + j) * inner + i;
          assert_close(sm[at], exp(xv[at]) / sum, 1e-14);
          assert_close(ls[at], xv[at] - log(sum), 1e-13);
          rowsum += sm[at];
        }
        assert_close(rowsum, 1.0, 1e-14);
      }
    free(sm);
    free(ls);
  }
  free(xv);
  /* large logits: exp(1000) overflows, the result must not */
  tg_tensor *big = tg_from_f64(TG_SHAPE(2), (double[]){1000.0, 1001.0});
  double e1 = exp(-1.0) / (1.0 + exp(-1.0));
  assert_close(tg_get_flat(tg_softmax(big, 0), 0), e1, 1e-15);
  assert_close(tg_get_flat(tg_softmax(big, 0), 1), 1.0 - e1, 1e-15);
  assert_close(tg_get_flat(tg_log_softmax(big, 0), 0), -1.0 - log1p(exp(-1.0)), 1e-13);
}

/* ------------------------------------------------------------ indexing */

enum { I_GATHER, I_SCATTER_ADD, I_INDEX_SELECT, I_INDEX_ADD };

static tg_tensor *f_index(tg_tensor **in, void *p) {
  const fctx *c = p;
  tg_tensor *a = nc_view(in[0], c->nc[0]), *y;
  switch (c->op) {
  case I_GATHER: y = tg_gather(a, c->dim, c->index); break;
  case I_SCATTER_ADD: y = tg_scatter_add(a, c->dim, c->index, nc_view(in[1], c->nc[1])); break;
  case I_INDEX_SELECT: y = tg_index_select(a, c->dim, c->index); break;
  default: y = tg_index_add(a, c->dim, c->index, nc_view(in[1], c->nc[1])); break;
  }
  return finish(c, y);
}

static void test_gather_scatter_grad(void **state) {
  (void)state;
  tg_rng r = seeded(700);
  for (int seed = 0; seed < 8; seed++) {
    size_t shape[TG_MAX_DIMS] = {0}, ishape[TG_MAX_DIMS] = {0};
    int nd = rand_shape(&r, 1, 3, 1, 3, shape);
    int d = (int)rand_int(&r, 0, (size_t)nd - 1);
    for (int k = 0; k < nd; k++) ishape[k] = k == d ? rand_int(&r, 1, 4) : rand_int(&r, 1, shape[k]);
    int nc = (int)rand_int(&r, 0, 4), nc1 = (int)rand_int(&r, 0, 4);
    tg_scope_begin();
    tg_tensor *idx = rand_index(&r, nd, ishape, shape[d]);
    fctx g = {.op = I_GATHER, .dim = seed % 2 ? d - nd : d, .index = idx, .nc = {nc}};
    tg_tensor *a = make_input(&r, ANY, nc, nd, shape);
    CHECK_GRAD(f_index, 1, &a, &g, "gather(%s, dim %d, index %s) view %d", sh(nd, shape), g.dim,
               sh(nd, ishape), nc);
    /* scatter_add: src at least as large as the index (here: one larger in dim 0) */
    size_t sshape[TG_MAX_DIMS];
    memcpy(sshape, ishape, sizeof sshape);
    sshape[0] += 1;
    fctx s = {.op = I_SCATTER_ADD, .dim = g.dim, .index = idx, .nc = {nc, nc1}};
    tg_tensor *in[2] = {make_input(&r, ANY, nc, nd, shape), make_input(&r, ANY, nc1, nd, sshape)};
    CHECK_GRAD(f_index, 2, in, &s, "scatter_add(%s, dim %d, index %s, src %s) views (%d,%d)",
               sh(nd, shape), s.dim, sh(nd, ishape), sh(nd, sshape), nc, nc1);
    tg_scope_end();
  }
}

static void test_index_select_add_grad(void **state) {
  (void)state;
  tg_rng r = seeded(710);
  for (int seed = 0; seed < 8; seed++) {
    size_t shape[TG_MAX_DIMS] = {0};
    int nd = rand_shape(&r, 1, 3, 1, 3, shape);
    int d = (int)rand_int(&r, 0, (size_t)nd - 1);
    size_t ni = rand_int(&r, 1, 4); /* with repeats, more than the dim can have */
    int nc = (int)rand_int(&r, 0, 4), nc1 = (int)rand_int(&r, 0, 4);
    tg_scope_begin();
    tg_tensor *idx = rand_index(&r, 1, &ni, shape[d]);
    fctx c = {.op = I_INDEX_SELECT, .dim = seed % 2 ? d - nd : d, .index = idx, .nc = {nc}};
    tg_tensor *a = make_input(&r, ANY, nc, nd, shape);
    CHECK_GRAD(f_index, 1, &a, &c, "index_select(%s, dim %d, %zu indices) view %d", sh(nd, shape),
               c.dim, ni, nc);
    size_t sshape[TG_MAX_DIMS];
    memcpy(sshape, shape, sizeof sshape);
    sshape[d] = ni;
    fctx s = {.op = I_INDEX_ADD, .dim = c.dim, .index = idx, .nc = {nc, nc1}};
    tg_tensor *in[2] = {make_input(&r, ANY, nc, nd, shape), make_input(&r, ANY, nc1, nd, sshape)};
    CHECK_GRAD(f_index, 2, in, &s, "index_add(%s, dim %d, %zu indices) views (%d,%d)", sh(nd, shape),
               s.dim, ni, nc, nc1);
    tg_scope_end();
  }
}

static void test_index_gradgrad(void **state) {
  (void)state;
  tg_rng r = seeded(720);
  tg_tensor *idx = tg_from_i64(TG_SHAPE(2, 3), (int64_t[]){2, 0, 2, 1, 1, 0});
  tg_tensor *idx1 = tg_from_i64(TG_SHAPE(4), (int64_t[]){1, 0, 1, 2});
  for (int sq = 0; sq < 2; sq++) {
    tg_scope_begin();
    fctx g = {.op = I_GATHER, .dim = 0, .index = idx, .square = sq, .nc = {NC_T}};
    tg_tensor *a = make_input(&r, ANY, NC_T, TG_SHAPE(3, 3));
    CHECK_GRADGRAD(f_index, 1, &a, &g, "gather%s", sq ? " squared" : "");
    fctx s = {.op = I_SCATTER_ADD, .dim = 1, .index = idx, .square = sq, .nc = {NC_NONE, NC_S}};
    tg_tensor *in[2] = {make_input(&r, ANY, NC_NONE, TG_SHAPE(2, 3)),
                        make_input(&r, ANY, NC_S, TG_SHAPE(2, 3))};
    /* dim 1 of a [2,3] input: the index values 0..2 fit */
    CHECK_GRADGRAD(f_index, 2, in, &s, "scatter_add%s", sq ? " squared" : "");
    fctx is = {.op = I_INDEX_SELECT, .dim = 1, .index = idx1, .square = sq};
    tg_tensor *b = make_input(&r, ANY, NC_NONE, TG_SHAPE(2, 3));
    CHECK_GRADGRAD(f_index, 1, &b, &is, "index_select%s", sq ? " squared" : "");
    fctx ia = {.op = I_INDEX_ADD, .dim = 0, .index = idx1, .square = sq, .nc = {NC_NONE, NC_TL}};
    tg_tensor *in2[2] = {make_input(&r, ANY, NC_NONE, TG_SHAPE(3, 2)),
                         make_input(&r, ANY, NC_TL, TG_SHAPE(4, 2))};
    CHECK_GRADGRAD(f_index, 2, in2, &ia, "index_add%s", sq ? " squared" : "");
    tg_scope_end();
  }
}

static void test_index_values(void **state) {
  (void)state;
  tg_rng r = seeded(730);
  size_t R = 3, C = 4;
  tg_tensor *a = make_input(&r, ANY, NC_NONE, TG_SHAPE(R, C));
  double *av = values(a);
  /* gather along dim 1 and dim 0 */
  size_t is1[2] = {3, 5}, is0[2] = {4, 2};
  tg_tensor *i1 = rand_index(&r, 2, is1, C), *i0 = rand_index(&r, 2, is0, R);
  tg_tensor *g1 = tg_gather(a, 1, i1), *g0 = tg_gather(a, 0, i0);
  assert_shape(g1, 2, is1);
  assert_shape(g0, 2, is0);
  for (size_t i = 0; i < 3; i++)
    for (size_t j = 0; j < 5; j++)
      assert_close(tg_get_flat(g1, i * 5 + j), av[i * C + (size_t)tg_get_flat(i1, i * 5 + j)], 0);
  for (size_t i = 0; i < 4; i++)
    for (size_t j = 0; j < 2; j++)
      assert_close(tg_get_flat(g0, i * 2 + j), av[(size_t)tg_get_flat(i0, i * 2 + j) * C + j], 0);
  /* scatter_add along dim 0 with repeats: out = a, out[idx[i][j]][j] += src[i][j] */
  tg_tensor *src = make_input(&r, ANY, NC_NONE, TG_SHAPE(5, 3));
  double *sv = values(src);
  tg_tensor *sc = tg_scatter_add(a, 0, i0, src);
  double e[12];
  memcpy(e, av, sizeof e);
  for (size_t i = 0; i < 4; i++)
    for (size_t j = 0; j < 2; j++) e[(size_t)tg_get_flat(i0, i * 2 + j) * C + j] += sv[i * 3 + j];
  assert_shape(sc, TG_SHAPE(R, C));
  for (size_t k = 0; k < R * C; k++) assert_close(tg_get_flat(sc, k), e[k], 1e-15);
  /* index_select and index_add along dim 1, with a repeated index */
  tg_tensor *ix = tg_from_i64(TG_SHAPE(5), (int64_t[]){3, 0, 3, 1, 3});
  tg_tensor *sel = tg_index_select(a, 1, ix);
  assert_shape(sel, TG_SHAPE(R, 5));
  const size_t col[5] = {3, 0, 3, 1, 3};
  for (size_t i = 0; i < R; i++)
    for (size_t j = 0; j < 5; j++) assert_close(tg_get_flat(sel, i * 5 + j), av[i * C + col[j]], 0);
  tg_tensor *s2 = make_input(&r, ANY, NC_NONE, TG_SHAPE(R, 5));
  double *s2v = values(s2);
  tg_tensor *ia = tg_index_add(a, -1, ix, s2);
  memcpy(e, av, sizeof e);
  for (size_t i = 0; i < R; i++)
    for (size_t j = 0; j < 5; j++) e[i * C + col[j]] += s2v[i * 5 + j];
  for (size_t k = 0; k < R * C; k++) assert_close(tg_get_flat(ia, k), e[k], 1e-15);
  /* the input is not modified */
  for (size_t k = 0; k < R * C; k++) assert_close(tg_get_flat(a, k), av[k], 0);
  free(av);
  free(sv);
  free(s2v);
}

/* ---------------------------------------------------------- shape ops */

enum {
  SH_RESHAPE, SH_VIEW, SH_VIEW_OFFSET, SH_RESHAPE_INFER, SH_FLATTEN, SH_SQUEEZE, SH_SQUEEZE_ALL,
  SH_UNSQUEEZE, SH_TRANSPOSE, SH_T, SH_PERMUTE, SH_EXPAND, SH_NARROW, SH_SLICE, SH_SELECT,
  SH_CONTIGUOUS, SH_CLONE, SH_TO_DTYPE,
};
static const char *const SH_NAME[] = {
    "reshape",   "view",   "view(narrowed)", "reshape_infer", "flatten", "squeeze",
    "squeeze_all", "unsqueeze", "transpose", "t", "permute", "expand", "narrow", "slice",
    "select", "contiguous", "clone", "to_dtype"};

static tg_tensor *f_shape(tg_tensor **in, void *p) {
  const fctx *c = p;
  tg_tensor *x = nc_view(in[0], c->nc[0]), *y;
  switch (c->op) {
  case SH_RESHAPE: y = tg_reshape(x, c->ndim, c->shape); break;
  case SH_VIEW: y = tg_view(x, c->ndim, c->shape); break;
  case SH_VIEW_OFFSET: /* a contiguous view that starts past element 0 */
    y = tg_view(tg_narrow(x, 0, 1, x->shape[0] - 1), c->ndim, c->shape);
    break;
  case SH_RESHAPE_INFER: y = tg_reshape_infer(x, c->ndim, c->lshape); break;
  case SH_FLATTEN: y = tg_flatten(x, c->dim, c->dim2); break;
  case SH_SQUEEZE: y = tg_squeeze(x, c->dim); break;
  case SH_SQUEEZE_ALL: y = tg_squeeze_all(x); break;
  case SH_UNSQUEEZE: y = tg_unsqueeze(x, c->dim); break;
  case SH_TRANSPOSE: y = tg_transpose(x, c->dim, c->dim2); break;
  case SH_T: y = tg_t(x); break;
  case SH_PERMUTE: y = tg_permute(x, c->dims); break;
  case SH_EXPAND: y = tg_expand(x, c->ndim, c->shape); break;
  case SH_NARROW: y = tg_narrow(x, c->dim, (size_t)c->start, (size_t)c->end); break;
  case SH_SLICE: y = tg_slice(x, c->dim, c->start, c->end, c->step); break;
  case SH_SELECT: y = tg_select(x, c->dim, (size_t)c->start); break;
  case SH_CONTIGUOUS: y = tg_contiguous(x); break;
  case SH_CLONE: y = tg_clone(x); break;
  default: y = tg_to_dtype(x, TG_FLOAT64); break;
  }
  return finish(c, y);
}

typedef struct shape_case {
  fctx c;
  int nd;
  size_t shape[4];
  int ond; /* expected result shape */
  size_t oshape[8];
} shape_case;

static const shape_case SHAPE_CASES[] = {
    {{.op = SH_RESHAPE, .ndim = 2, .shape = {4, 6}}, 3, {2, 3, 4}, 2, {4, 6}},
    {{.op = SH_RESHAPE, .ndim = 0}, 0, {0}, 0, {0}},
    {{.op = SH_RESHAPE, .ndim = 3, .shape = {1, 3, 1}}, 1, {3}, 3, {1, 3, 1}},
    {{.op = SH_VIEW, .ndim = 3, .shape = {3, 2, 2}}, 2, {2, 6}, 3, {3, 2, 2}},
    {{.op = SH_VIEW_OFFSET, .ndim = 2, .shape = {4, 2}}, 2, {3, 4}, 2, {4, 2}},
    {{.op = SH_RESHAPE_INFER, .ndim = 2, .lshape = {-1, 4}}, 3, {2, 3, 4}, 2, {6, 4}},
    {{.op = SH_RESHAPE_INFER, .ndim = 3, .lshape = {2, -1, 2}}, 2, {2, 6}, 3, {2, 3, 2}},
    {{.op = SH_FLATTEN, .dim = 0, .dim2 = -1}, 3, {2, 3, 2}, 1, {12}},
    {{.op = SH_FLATTEN, .dim = 1, .dim2 = 2}, 4, {2, 3, 2, 2}, 3, {2, 6, 2}},
    {{.op = SH_FLATTEN, .dim = 0, .dim2 = 0}, 0, {0}, 1, {1}},
    {{.op = SH_SQUEEZE, .dim = 1}, 3, {3, 1, 2}, 2, {3, 2}},
    {{.op = SH_SQUEEZE, .dim = -1}, 2, {2, 3}, 2, {2, 3}}, /* not size 1: unchanged */
    {{.op = SH_SQUEEZE_ALL}, 4, {1, 3, 1, 2}, 2, {3, 2}},
    {{.op = SH_UNSQUEEZE, .dim = 0}, 2, {2, 3}, 3, {1, 2, 3}},
    {{.op = SH_UNSQUEEZE, .dim = -1}, 2, {2, 3}, 3, {2, 3, 1}},
    {{.op = SH_UNSQUEEZE, .dim = 1}, 2, {2, 3}, 3, {2, 1, 3}},
    {{.op = SH_UNSQUEEZE, .dim = 0}, 0, {0}, 1, {1}},
    {{.op = SH_TRANSPOSE, .dim = 0, .dim2 = 2}, 3, {2, 3, 4}, 3, {4, 3, 2}},
    {{.op = SH_TRANSPOSE, .dim = 1, .dim2 = -1}, 3, {2, 3, 2}, 3, {2, 2, 3}},
    {{.op = SH_T}, 2, {2, 3}, 2, {3, 2}},
    {{.op = SH_T}, 1, {3}, 1, {3}},
    {{.op = SH_PERMUTE, .dims = {2, 0, 1}}, 3, {2, 3, 4}, 3, {4, 2, 3}},
    {{.op = SH_PERMUTE, .dims = {1, -1, 0}}, 3, {2, 3, 2}, 3, {3, 2, 2}},
    {{.op = SH_EXPAND, .ndim = 3, .shape = {2, 3, 4}}, 2, {3, 1}, 3, {2, 3, 4}},
    {{.op = SH_EXPAND, .ndim = 1, .shape = {5}}, 1, {1}, 1, {5}},
    {{.op = SH_EXPAND, .ndim = 2, .shape = {2, 2}}, 0, {0}, 2, {2, 2}},
    {{.op = SH_EXPAND, .ndim = 3, .shape = {2, 2, 3}}, 2, {2, 3}, 3, {2, 2, 3}},
    {{.op = SH_NARROW, .dim = 1, .start = 1, .end = 2}, 2, {3, 4}, 2, {3, 2}},
    {{.op = SH_NARROW, .dim = -1, .start = 0, .end = 1}, 3, {2, 2, 3}, 3, {2, 2, 1}},
    {{.op = SH_SLICE, .dim = 1, .start = 0, .end = 5, .step = 2}, 2, {2, 5}, 2, {2, 3}},
    {{.op = SH_SLICE, .dim = 0, .start = 1, .end = LONG_MAX, .step = 3}, 2, {6, 2}, 2, {2, 2}},
    {{.op = SH_SLICE, .dim = -1, .start = -4, .end = -1, .step = 2}, 2, {2, 5}, 2, {2, 2}},
    {{.op = SH_SLICE, .dim = 0, .start = 1, .end = 3, .step = 1}, 2, {4, 2}, 2, {2, 2}},
    {{.op = SH_SELECT, .dim = 0, .start = 1}, 2, {3, 4}, 1, {4}},
    {{.op = SH_SELECT, .dim = -1, .start = 2}, 3, {2, 2, 3}, 2, {2, 2}},
    {{.op = SH_CONTIGUOUS}, 2, {2, 3}, 2, {2, 3}},
    {{.op = SH_CLONE}, 3, {2, 1, 3}, 3, {2, 1, 3}},
    {{.op = SH_CLONE}, 0, {0}, 0, {0}},
    {{.op = SH_TO_DTYPE}, 2, {2, 3}, 2, {2, 3}},
};

/* where output element i comes from in the (viewed) input, by hand */
static size_t shape_source(const shape_case *sc, const size_t *in_shape, int in_nd, size_t i) {
  const fctx *c = &sc->c;
  size_t oi[TG_MAX_DIMS] = {0}, ii[TG_MAX_DIMS] = {0}, rem = i;
  for (int d = sc->ond - 1; d >= 0; d--) oi[d] = rem % sc->oshape[d], rem /= sc->oshape[d];
  int nd = in_nd;
  switch (c->op) {
  case SH_VIEW_OFFSET: return i + in_shape[1]; /* row 0 skipped */
  case SH_TRANSPOSE: {
    int d0 = c->dim < 0 ? c->dim + nd : c->dim, d1 = c->dim2 < 0 ? c->dim2 + nd : c->dim2;
    for (int d = 0; d < nd; d++) ii[d] = oi[d];
    ii[d0] = oi[d1], ii[d1] = oi[d0];
    break;
  }
  case SH_T:
    if (nd < 2) return i;
    ii[0] = oi[1], ii[1] = oi[0];
    break;
  case SH_PERMUTE:
    for (int k = 0; k < nd; k++) ii[c->dims[k] < 0 ? c->dims[k] + nd : c->dims[k]] = oi[k];
    break;
  case SH_EXPAND:
    for (int d = 0; d < nd; d++) {
      int od = sc->ond - nd + d;
      ii[d] = in_shape[d] == 1 ? 0 : oi[od];
    }
    break;
  case SH_NARROW:
  case SH_SLICE: {
    int d0 = c->dim < 0 ? c->dim + nd : c->dim;
    long n = (long)in_shape[d0], start = c->start;
    long step = c->op == SH_SLICE ? c->step : 1;
    if (c->op == SH_SLICE && start < 0) start += n;
    for (int d = 0; d < nd; d++) ii[d] = oi[d];
    ii[d0] = (size_t)start + oi[d0] * (size_t)step;
    break;
  }
  case SH_SELECT: {
    int d0 = c->dim < 0 ? c->dim + nd : c->dim;
    for (int d = 0, k = 0; d < nd; d++) ii[d] = d == d0 ? (size_t)c->start : oi[k++];
    break;
  }
  default: return i; /* reshapes and copies keep the logical order */
  }
  size_t flat = 0;
  for (int d = 0; d < nd; d++) flat = flat * in_shape[d] + ii[d];
  return flat;
}

static void test_shape_ops_grad(void **state) {
  (void)state;
  tg_rng r = seeded(800);
  static const int ncs[] = {NC_NONE, NC_T, NC_S, NC_S0};
  for (size_t k = 0; k < sizeof SHAPE_CASES / sizeof *SHAPE_CASES; k++) {
    const shape_case *sc = &SHAPE_CASES[k];
    for (size_t v = 0; v < sizeof ncs / sizeof *ncs; v++) {
      /* view needs a contiguous input; strided variants go through reshape */
      if ((sc->c.op == SH_VIEW || sc->c.op == SH_VIEW_OFFSET) && ncs[v] != NC_NONE) continue;
      tg_scope_begin();
      fctx c = sc->c;
      c.nc[0] = ncs[v];
      tg_tensor *x = make_input(&r, ANY, c.nc[0], sc->nd, sc->shape);
      CHECK_GRAD(f_shape, 1, &x, &c, "%s(%s) view %d", SH_NAME[c.op], sh(sc->nd, sc->shape), c.nc[0]);
      /* values: every output element is the input element it should be */
      tg_tensor *y = f_shape(&x, &c), *xv = nc_view(x, c.nc[0]);
      assert_shape(y, sc->ond, sc->oshape);
      assert_int_equal(y->dtype, TG_FLOAT64);
      for (size_t i = 0; i < y->numel; i++)
        assert_close(tg_get_flat(y, i), tg_get_flat(xv, shape_source(sc, sc->shape, sc->nd, i)), 0);
      tg_scope_end();
    }
  }
}

static void test_shape_ops_gradgrad(void **state) {
  (void)state;
  tg_rng r = seeded(810);
  for (size_t k = 0; k < sizeof SHAPE_CASES / sizeof *SHAPE_CASES; k++) {
    const shape_case *sc = &SHAPE_CASES[k];
    size_t numel = 1;
    for (int d = 0; d < sc->nd; d++) numel *= sc->shape[d];
    if (numel > 12) continue;
    tg_scope_begin();
    fctx c = sc->c;
    c.square = true;
    c.nc[0] = (sc->c.op == SH_VIEW || sc->c.op == SH_VIEW_OFFSET) ? NC_NONE : NC_S;
    tg_tensor *x = make_input(&r, ANY, c.nc[0], sc->nd, sc->shape);
    CHECK_GRADGRAD(f_shape, 1, &x, &c, "%s(%s) squared", SH_NAME[c.op], sh(sc->nd, sc->shape));
    tg_scope_end();
  }
}

/* to_dtype between float32 and float64. A float64 -> float32 -> float64
 * round trip cannot be checked by float64 central differences (the step is
 * below float32 resolution), so: gradcheck with a float32 leaf (whose steps
 * float32 can represent) and the backward of the round trip by hand. */
static tg_tensor *f_to_f64_poly(tg_tensor **in, void *p) {
  const fctx *c = p;
  tg_tensor *x = tg_to_dtype(nc_view(in[0], c->nc[0]), TG_FLOAT64);
  return tg_add(tg_mul(x, x), tg_mul_scalar(x, 3.0));
}

static void test_to_dtype_grad(void **state) {
  (void)state;
  tg_rng r = seeded(820);
  for (int nc = NC_NONE; nc <= NC_S; nc += 3) {
    tg_scope_begin();
    tg_tensor *x = tg_requires_grad_(tg_to_dtype(tg_randn(&r, TG_FLOAT64, nc ? 2 : 1, (size_t[]){2, 6}),
                                                 TG_FLOAT32), true);
    assert_int_equal(x->dtype, TG_FLOAT32);
    fctx c = {.nc = {nc}};
    CHECK_GRAD(f_to_f64_poly, 1, &x, &c, "to_dtype(float32 -> float64) view %d", nc);
    tg_tensor *y = f_to_f64_poly(&x, &c);
    assert_int_equal(y->dtype, TG_FLOAT64);
    tg_scope_end();
  }
  /* float64 -> float32 -> float64: d/dx sum(w * x) = w, delivered as float64 */
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(4), (double[]){0.5, -1.25, 2.0, 3.75}), true);
  tg_tensor *w = tg_from_f64(TG_SHAPE(4), (double[]){1.5, -2.0, 0.25, 4.0});
  tg_tensor *x32 = tg_to_dtype(x, TG_FLOAT32);
  assert_int_equal(x32->dtype, TG_FLOAT32);
  assert_string_equal(tg_grad_fn_name(x32), "ToCopyBackward");
  tg_tensor *y = tg_sum(tg_mul(tg_to_dtype(x32, TG_FLOAT64), w));
  assert_int_equal(tg_backward(y, NULL, false), 0);
  assert_non_null(x->grad);
  assert_int_equal(x->grad->dtype, TG_FLOAT64);
  for (size_t i = 0; i < 4; i++) assert_close(tg_get_flat(x->grad, i), tg_get_flat(w, i), 0);
  assert_close(tg_item(y), 0.75 + 2.5 + 0.5 + 15.0, 1e-12);
}

/* cat and stack of 2 or 3 inputs along each dim */
static tg_tensor *f_cat(tg_tensor **in, void *p) {
  const fctx *c = p;
  tg_tensor *v[4];
  for (int k = 0; k < c->n_in; k++) v[k] = nc_view(in[k], c->nc[k]);
  return finish(c, c->op ? tg_stack(c->n_in, v, c->dim) : tg_cat(c->n_in, v, c->dim));
}

static void cat_case(tg_rng *r, int stack, int n_in, int nd, size_t (*shapes)[3], int dim,
                     const int *ncs, bool second) {
  tg_scope_begin();
  fctx c = {.op = stack, .dim = dim, .n_in = n_in, .square = second};
  tg_tensor *in[4];
  for (int k = 0; k < n_in; k++) {
    c.nc[k] = ncs[k];
    in[k] = make_input(r, ANY, ncs[k], nd, shapes[k]);
  }
  if (second) {
    CHECK_GRADGRAD(f_cat, n_in, in, &c, "%s of %d along %d", stack ? "stack" : "cat", n_in, dim);
    tg_scope_end();
    return;
  }
  CHECK_GRAD(f_cat, n_in, in, &c, "%s of %d %s... along %d, views (%d,%d,%d)", stack ? "stack" : "cat",
             n_in, sh(nd, shapes[0]), dim, ncs[0], ncs[1], ncs[2]);
  /* values: walk the output and find each element's source by hand */
  tg_tensor *y = f_cat(in, &c);
  int d = dim < 0 ? dim + nd + stack : dim;
  assert_int_equal(y->ndim, nd + stack);
  size_t oshape[TG_MAX_DIMS];
  for (int k = 0; k < y->ndim; k++) oshape[k] = y->shape[k];
  for (size_t i = 0; i < y->numel; i++) {
    size_t oi[TG_MAX_DIMS] = {0}, rem = i;
    for (int k = y->ndim - 1; k >= 0; k--) oi[k] = rem % oshape[k], rem /= oshape[k];
    int src = 0;
    size_t ii[TG_MAX_DIMS] = {0};
    if (stack) {
      src = (int)oi[d];
      for (int k = 0, j = 0; k < y->ndim; k++)
        if (k != d) ii[j++] = oi[k];
    } else {
      size_t pos = oi[d];
      while (pos >= shapes[src][d]) pos -= shapes[src][d], src++;
      for (int k = 0; k < nd; k++) ii[k] = oi[k];
      ii[d] = pos;
    }
    size_t flat = 0;
    for (int k = 0; k < nd; k++) flat = flat * shapes[src][k] + ii[k];
    assert_close(tg_get_flat(y, i), tg_get_flat(nc_view(in[src], ncs[src]), flat), 0);
  }
  tg_scope_end();
}

static void test_cat_stack_grad(void **state) {
  (void)state;
  tg_rng r = seeded(830);
  for (int seed = 0; seed < 6; seed++) {
    size_t base[3];
    int nd = rand_shape(&r, 1, 3, 1, 3, base);
    int n_in = (int)rand_int(&r, 2, 3);
    int ncs[4] = {(int)rand_int(&r, 0, 4), (int)rand_int(&r, 0, 4), (int)rand_int(&r, 0, 4), 0};
    for (int d = 0; d < nd; d++) {
      size_t shapes[4][3];
      for (int k = 0; k < n_in; k++) {
        memcpy(shapes[k], base, sizeof base);
        shapes[k][d] = rand_int(&r, 1, 3); /* cat: sizes differ along dim */
      }
      cat_case(&r, 0, n_in, nd, shapes, (seed % 2) ? d - nd : d, ncs, false);
    }
    for (int d = 0; d <= nd; d++) {
      size_t shapes[4][3];
      for (int k = 0; k < n_in; k++) memcpy(shapes[k], base, sizeof base);
      cat_case(&r, 1, n_in, nd, shapes, (seed % 2) ? d - nd - 1 : d, ncs, false);
    }
  }
  /* second order, squared */
  size_t shapes[3][3] = {{2, 1}, {2, 2}, {2, 1}};
  const int ncs[3] = {NC_NONE, NC_T, NC_S};
  cat_case(&r, 0, 3, 2, shapes, 1, ncs, true);
  size_t same[2][3] = {{2, 2}, {2, 2}};
  cat_case(&r, 1, 2, 2, same, -1, ncs, true);
}

/* A longer chain through several op families with non-contiguous views in
 * between, so gradients cross views, broadcasts and reductions together. */
static tg_tensor *f_chain(tg_tensor **in, void *p) {
  (void)p;
  tg_tensor *x = tg_transpose(in[0], 0, 1);              /* [3,2] of a [2,3] leaf */
  tg_tensor *w = tg_slice(in[1], 0, 0, LONG_MAX, 2);     /* [2,4] of a [3,4] leaf */
  tg_tensor *h = tg_tanh(tg_add(tg_matmul(x, w), in[2])); /* + bias [4] */
  tg_tensor *s = tg_log_softmax(h, -1);
  tg_tensor *g = tg_gather(s, 1, tg_from_i64(TG_SHAPE(3, 1), (int64_t[]){0, 3, 2}));
  return tg_add(tg_mean(g), tg_mul_scalar(tg_var_dims(h, 1, (int[]){0}, true, false), 0.1));
}

static void test_composite_chain_grad(void **state) {
  (void)state;
  tg_rng r = seeded(900);
  tg_tensor *in[3] = {test_leaf(&r, TG_SHAPE(2, 3)), test_leaf(&r, TG_SHAPE(3, 4)),
                      test_leaf(&r, TG_SHAPE(4))};
  CHECK_GRAD(f_chain, 3, in, NULL, "composite chain");
  CHECK_GRADGRAD(f_chain, 3, in, NULL, "composite chain");
}

/* float32 exp/log/tanh/sigmoid use the library's own vectorisable
 * approximations (ops/vmath.h): within 3 ulp of the double-precision result
 * over a sweep of the whole float range, and libm's answers at the special
 * values */
static double ulps_off(float got, double want) {
  if (isnan(want)) return isnan(got) ? 0 : INFINITY;
  if (isinf(want) || want == 0) return got == (float)want ? 0 : INFINITY;
  float w = (float)want;
  double ulp = (double)nextafterf(fabsf(w), INFINITY) - (double)fabsf(w);
  return fabs((double)got - want) / ulp;
}

typedef struct f32_case {
  const char *name;
  tg_tensor *(*op)(tg_tensor *);
  double (*ref)(double);
  double lo; /* below this reference value (subnormal) the op may flush to 0 */
} f32_case;

static double ref_sigmoid(double x) { return 1 / (1 + exp(-x)); }

static void test_float32_math_accuracy(void **state) {
  (void)state;
  enum { N = 1 << 20, SPECIAL = 9 };
  const float special[SPECIAL] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 1e-40f, 1.0f};
  float *xs = malloc(N * sizeof *xs);
  assert_non_null(xs);
  for (uint32_t i = 0; i < N; i++) { /* every 4096th bit pattern: all exponents, both signs */
    uint32_t u = i * 4096u + (i & 4095u);
    memcpy(&xs[i], &u, sizeof u);
  }
  memcpy(xs, special, sizeof special);
  const f32_case cases[] = {{"exp", tg_exp, exp, 0},         {"log", tg_log, log, 0},
                            {"tanh", tg_tanh, tanh, 0},      {"sigmoid", tg_sigmoid, ref_sigmoid, 1.2e-38}};
  tg_scope_begin();
  tg_tensor *x = tg_from_data(TG_FLOAT32, TG_SHAPE(N), xs);
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    tg_tensor *y = cases[c].op(x);
    assert_non_null(y);
    const float *yp = tg_data(y);
    double worst = 0;
    for (size_t i = 0; i < N; i++) {
      double want = cases[c].ref((double)xs[i]);
      if (fabs(want) < cases[c].lo && yp[i] == 0) continue;
      double e = ulps_off(yp[i], want);
      if (e > 3) fail_msg("%s(%a) = %a, want %a (%.1f ulp)", cases[c].name, (double)xs[i], (double)yp[i], want, e);
      if (e > worst) worst = e;
    }
    print_message("float32 %s: worst %.2f ulp over %d inputs\n", cases[c].name, worst, N);
  }
  /* log1p(-p) through the BCE kernel: with target 0 the loss is -log1p(-p) */
  for (size_t i = 0; i < N; i++) xs[i] = (float)((double)i / N);
  tg_tensor *p = tg_from_data(TG_FLOAT32, TG_SHAPE(N), xs);
  tg_tensor *l = tg_binary_cross_entropy(p, tg_zeros_like(p), TG_REDUCTION_NONE);
  assert_non_null(l);
  const float *lp = tg_data(l);
  for (size_t i = 0; i < N; i++) {
    double want = -log1p(-(double)xs[i]), e = ulps_off(lp[i], want);
    if (e > 3) fail_msg("binary_cross_entropy(%a, 0) = %a, want %a (%.1f ulp)", (double)xs[i], (double)lp[i], want, e);
  }
  tg_scope_end();
  free(xs);
}

/* products large enough to be split over threads (>= 4e6 flop) give the
 * one-thread results, for every transpose layout, row and column splits,
 * odd sizes, and through Linear's fused forward and backward */
static void test_matmul_threads_match(void **state) {
  (void)state;
  const size_t shapes[][3] = {{97, 301, 150}, {40, 500, 333}, {300, 64, 129}, {33, 1000, 70}};
  tg_rng r;
  tg_rng_seed(&r, 21);
  for (size_t s = 0; s < 4; s++) {
    size_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
    for (int layout = 0; layout < 4; layout++) {
      tg_scope_begin();
      /* a (m,k) and b (k,n), each possibly a transposed view */
      tg_tensor *a = layout & 1 ? tg_t(tg_randn(&r, TG_FLOAT32, TG_SHAPE(k, m)))
                                : tg_randn(&r, TG_FLOAT32, TG_SHAPE(m, k));
      tg_tensor *b = layout & 2 ? tg_t(tg_randn(&r, TG_FLOAT32, TG_SHAPE(n, k)))
                                : tg_randn(&r, TG_FLOAT32, TG_SHAPE(k, n));
      tg_set_num_threads(1);
      tg_tensor *one = tg_matmul(a, b);
      tg_set_num_threads(2);
      tg_tensor *two = tg_matmul(a, b);
      tg_set_num_threads(3);
      tg_tensor *three = tg_matmul(a, b);
      assert_non_null(one);
      assert_non_null(two);
      assert_non_null(three);
      const float *p1 = tg_data(one), *p2 = tg_data(two), *p3 = tg_data(three);
      for (size_t i = 0; i < m * n; i++) {
        if (fabsf(p1[i] - p2[i]) > 1e-4f * (1 + fabsf(p1[i])) || fabsf(p1[i] - p3[i]) > 1e-4f * (1 + fabsf(p1[i])))
          fail_msg("%zux%zux%zu layout %d: element %zu is %g at 1 thread, %g at 2, %g at 3", m, k, n,
                   layout, i, (double)p1[i], (double)p2[i], (double)p3[i]);
      }
      tg_scope_end();
    }
  }
  /* Linear: forward (beta = 1 onto the bias) and backward into .grad */
  double grads[2][3];
  for (int t = 1; t <= 2; t++) {
    tg_set_num_threads(t);
    tg_rng rr;
    tg_rng_seed(&rr, 5);
    tg_tensor *w = tg_requires_grad_(tg_randn(&rr, TG_FLOAT32, TG_SHAPE(200, 300)), true);
    tg_tensor *bias = tg_requires_grad_(tg_randn(&rr, TG_FLOAT32, TG_SHAPE(200)), true);
    tg_scope_begin();
    tg_tensor *x = tg_requires_grad_(tg_randn(&rr, TG_FLOAT32, TG_SHAPE(64, 300)), true);
    tg_tensor *y = tg_linear(x, w, bias);
    assert_int_equal(tg_backward(tg_sum(tg_mul(y, y)), NULL, false), 0);
    grads[t - 1][0] = tg_item(tg_sum(w->grad));
    grads[t - 1][1] = tg_item(tg_sum(bias->grad));
    grads[t - 1][2] = tg_item(tg_sum(x->grad));
    tg_scope_end();
    tg_free(w);
    tg_free(bias);
  }
  for (int i = 0; i < 3; i++) assert_close(grads[1][i], grads[0][i], 1e-3 * (1 + fabs(grads[0][i])));
  tg_set_num_threads(1);
}

/* --------------------------------------- edge points PyTorch pins down */

/* same value, NaN equal to NaN, infinities by sign */
static void assert_same(double got, double want, const char *what) {
  bool ok = (isnan(got) && isnan(want)) || got == want || fabs(got - want) <= 1e-12 * (1 + fabs(want));
  if (!ok) fail_msg("%s: %.17g, expected %.17g", what, got, want);
}

/* pow(x, e) with both requiring grad: the gradients PyTorch 1.13 gives
 * (pow_backward_self is 0 where e == 0; pow_backward_exponent is 0 where
 * x == 0 and e >= 0, and a^b log a otherwise, so -inf at (0, -1)) */
static void test_pow_edge_grads(void **state) {
  (void)state;
  static const struct { double x, e, gx, ge; } P[] = {
      {0, 0, 0, 0},          {0, -1, -INFINITY, -INFINITY}, {0, -0.5, -INFINITY, -INFINITY},
      {0, 1, 1, 0},          {0, 2, 0, 0},                  {0, 0.5, INFINITY, 0},
      {0, 3, 0, 0},          {2, 0, 0, 0.69314718055994531}, {-2, 0, 0, NAN},
      {-2, 2, -4, NAN},
  };
  for (size_t k = 0; k < sizeof P / sizeof *P; k++) {
    tg_scope_begin();
    tg_tensor *x = tg_requires_grad_(tg_scalar(TG_FLOAT64, P[k].x), true);
    tg_tensor *e = tg_requires_grad_(tg_scalar(TG_FLOAT64, P[k].e), true);
    tg_tensor *y = tg_pow(x, e), *g[2];
    assert_int_equal(tg_grad(1, &y, NULL, 2, (tg_tensor *[]){x, e}, g, (tg_grad_opts){0}), 0);
    char what[64];
    snprintf(what, sizeof what, "d/dx pow(%g, %g)", P[k].x, P[k].e);
    assert_same(tg_item(g[0]), P[k].gx, what);
    snprintf(what, sizeof what, "d/de pow(%g, %g)", P[k].x, P[k].e);
    assert_same(tg_item(g[1]), P[k].ge, what);
    tg_scope_end();
  }
  /* pow by the number 0 agrees at x = 0 */
  tg_tensor *x0 = tg_requires_grad_(tg_scalar(TG_FLOAT64, 0), true);
  assert_int_equal(tg_backward(tg_pow_scalar(x0, 0), NULL, false), 0);
  assert_same(tg_item(x0->grad), 0, "d/dx pow_scalar(0, 0)");
  /* second order at (2, 0), PyTorch's values: d(gx)/de is 0 (masked),
   * d(ge)/dx = 1/x, d(ge)/de = log(x)^2 */
  tg_tensor *x = tg_requires_grad_(tg_scalar(TG_FLOAT64, 2), true);
  tg_tensor *e = tg_requires_grad_(tg_scalar(TG_FLOAT64, 0), true);
  tg_tensor *y = tg_pow(x, e), *g[2], *h[2];
  tg_tensor *in[2] = {x, e};
  assert_int_equal(tg_grad(1, &y, NULL, 2, in, g, (tg_grad_opts){.create_graph = true}), 0);
  assert_int_equal(tg_grad(1, &g[0], NULL, 2, in, h,
                           (tg_grad_opts){.retain_graph = true, .allow_unused = true}), 0);
  assert_same(h[1] ? tg_item(h[1]) : 0, 0, "d2/dx de at (2, 0)");
  assert_int_equal(tg_grad(1, &g[1], NULL, 2, in, h, (tg_grad_opts){.allow_unused = true}), 0);
  assert_same(tg_item(h[0]), 0.5, "d2/de dx at (2, 0)");
  assert_same(tg_item(h[1]), log(2) * log(2), "d2/de2 at (2, 0)");
  /* and gradgradcheck near the masked points (x small, e near 0) */
  tg_rng r = seeded(900);
  tg_tensor *a = make_input(&r, POS, NC_NONE, TG_SHAPE(2, 3));
  tg_tensor *b = make_input(&r, ANY, NC_NONE, TG_SHAPE(3));
  for (size_t i = 0; i < 3; i++) tg_data_f64(b)[i] *= 0.1;
  fctx c = {.op = B_POW};
  tg_tensor *ab[2] = {a, b};
  CHECK_GRADGRAD(f_binary, 2, ab, &c, "pow, exponent near 0");
}

/* clamp(x, 1, 0): min > max gives max everywhere and a zero gradient, as
 * PyTorch's min(max(x, lo), hi) */
static tg_tensor *f_clamp_crossed(tg_tensor **in, void *p) {
  (void)p;
  return tg_clamp(tg_transpose(in[0], 0, 1), 1.0, 0.0);
}
static void test_clamp_min_above_max(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(4), (double[]){0.5, 2.0, -3.0, NAN}), true);
  tg_tensor *y = tg_clamp(x, 1.0, 0.0);
  assert_non_null(y);
  const double ey[4] = {0, 0, 0, NAN};
  for (size_t i = 0; i < 4; i++) assert_same(tg_get_flat(y, i), ey[i], "clamp(x, 1, 0)");
  assert_int_equal(tg_backward(tg_sum(tg_clamp(tg_narrow(x, 0, 0, 3), 1.0, 0.0)), NULL, false), 0);
  for (size_t i = 0; i < 4; i++) assert_same(tg_get_flat(x->grad, i), 0, "d clamp(x, 1, 0)");
  tg_rng r = seeded(901);
  tg_tensor *a = make_input(&r, ANY, NC_NONE, TG_SHAPE(3, 2));
  CHECK_GRAD(f_clamp_crossed, 1, &a, NULL, "clamp(x, 1, 0) of a transposed view");
}

/* max/min of all elements: a tied gradient is split evenly among the ties
 * (among the NaNs when the result is NaN), as PyTorch */
static tg_tensor *f_max_all(tg_tensor **in, void *p) {
  const fctx *c = p;
  tg_tensor *x = nc_view(in[0], c->nc[0]);
  tg_tensor *y = c->op ? tg_min(x) : tg_max(x);
  return tg_mul(y, y);
}
static void test_max_min_all_ties(void **state) {
  (void)state;
  static const struct { bool is_max; int n; double x[5], g[5]; } T[] = {
      {true, 5, {1, 3, 3, 2, 3}, {0, 1.0 / 3, 1.0 / 3, 0, 1.0 / 3}},
      {true, 4, {1, NAN, 3, NAN}, {0, 0.5, 0, 0.5}},
      {false, 3, {1, 1, 3}, {0.5, 0.5, 0}},
      {false, 4, {-INFINITY, 2, -INFINITY, 0}, {0.5, 0, 0.5, 0}},
      {true, 1, {7}, {1}},
  };
  for (size_t k = 0; k < sizeof T / sizeof *T; k++) {
    tg_scope_begin();
    tg_tensor *x = tg_requires_grad_(tg_from_f64(1, (size_t[]){(size_t)T[k].n}, T[k].x), true);
    tg_tensor *y = T[k].is_max ? tg_max(x) : tg_min(x);
    assert_non_null(y);
    assert_int_equal(y->ndim, 0);
    assert_int_equal(tg_backward(y, NULL, false), 0);
    for (int i = 0; i < T[k].n; i++) assert_same(tg_get_flat(x->grad, (size_t)i), T[k].g[i], "tied grad");
    tg_scope_end();
  }
  /* a transposed view: the ties are found in its own elements */
  tg_tensor *m = tg_requires_grad_(tg_from_f64(TG_SHAPE(2, 2), (double[]){3, -1, -1, 3}), true);
  assert_int_equal(tg_backward(tg_min(tg_t(m)), NULL, false), 0);
  const double em[4] = {0, 0.5, 0.5, 0};
  for (size_t i = 0; i < 4; i++) assert_same(tg_get_flat(m->grad, i), em[i], "min of a view");
  /* second order of max(x)^2 at a tie: PyTorch gives grad [0, 3, 3] and
   * d(sum grad)/dx = [0, 1, 1] */
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(3), (double[]){1, 3, 3}), true);
  fctx c0 = {.op = 0};
  tg_tensor *y = f_max_all(&x, &c0), *g, *h;
  assert_int_equal(tg_grad(1, &y, NULL, 1, &x, &g, (tg_grad_opts){.create_graph = true}), 0);
  tg_tensor *gs = tg_sum(g);
  assert_int_equal(tg_grad(1, &gs, NULL, 1, &x, &h, (tg_grad_opts){0}), 0);
  const double eg[3] = {0, 3, 3}, eh[3] = {0, 1, 1};
  for (size_t i = 0; i < 3; i++) {
    assert_same(tg_get_flat(g, i), eg[i], "grad of max^2");
    assert_same(tg_get_flat(h, i), eh[i], "second derivative of max^2");
  }
  /* without ties: gradcheck and gradgradcheck on views */
  tg_rng r = seeded(902);
  for (int op = 0; op < 2; op++) {
    tg_tensor *a = make_input(&r, DISTINCT, NC_T, TG_SHAPE(3, 4));
    fctx c = {.op = op, .nc = {NC_T}};
    CHECK_GRAD(f_max_all, 1, &a, &c, "%s of all, transposed", op ? "min" : "max");
    CHECK_GRADGRAD(f_max_all, 1, &a, &c, "%s of all, transposed", op ? "min" : "max");
  }
}

/* 0-d tensors accept dims -1 and 0 and nothing else, in every shape op */
static void test_shape_ops_0d_dims(void **state) {
  (void)state;
  tg_tensor *s = tg_scalar(TG_FLOAT64, 2);
  assert_null(tg_transpose(s, 0, 5));
  assert_true(strstr(tg_last_error(), "transpose") && strstr(tg_last_error(), "dim 5"));
  tg_clear_error();
  assert_null(tg_transpose(s, 0, -2));
  assert_true(strstr(tg_last_error(), "transpose") != NULL);
  tg_clear_error();
  assert_shape(tg_transpose(s, -1, 0), 0, NULL);
  assert_null(tg_flatten(s, 0, 5));
  assert_true(strstr(tg_last_error(), "flatten") && strstr(tg_last_error(), "dim 5"));
  tg_clear_error();
  assert_null(tg_flatten(s, -2, 0));
  assert_true(strstr(tg_last_error(), "flatten") != NULL);
  tg_clear_error();
  assert_shape(tg_flatten(s, -1, 0), TG_SHAPE(1));
  assert_null(tg_squeeze(s, 1));
  assert_true(strstr(tg_last_error(), "squeeze") != NULL);
  tg_clear_error();
  assert_shape(tg_squeeze(s, -1), 0, NULL);
  assert_null(tg_unsqueeze(s, 2));
  assert_true(strstr(tg_last_error(), "unsqueeze") != NULL);
  tg_clear_error();
  assert_null(tg_unsqueeze(s, -2));
  tg_clear_error();
  assert_shape(tg_unsqueeze(s, -1), TG_SHAPE(1));
  assert_shape(tg_t(s), 0, NULL);
  assert_shape(tg_permute(s, NULL), 0, NULL);
  assert_null(tg_max_dim(s, 1, false, NULL));
  tg_clear_error();
  assert_close(tg_item(tg_max_dim(s, -1, false, NULL)), 2, 0);
}

/* reshape, view and expand take -1 in the TG_SHAPE form as PyTorch does */
static tg_tensor *f_reshape_infer_t(tg_tensor **in, void *p) {
  (void)p;
  return tg_reshape(tg_transpose(in[0], 0, 1), TG_SHAPE(-1, 2));
}
static tg_tensor *f_expand_keep(tg_tensor **in, void *p) {
  (void)p;
  return tg_expand(tg_transpose(in[0], 0, 1), TG_SHAPE(2, -1, 4));
}
static void test_shape_infer_minus_one(void **state) {
  (void)state;
  tg_tensor *x = tg_arange(TG_FLOAT64, 0, 6, 1);
  tg_tensor *y = tg_reshape(x, TG_SHAPE(-1, 3));
  assert_shape(y, TG_SHAPE(2, 3));
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(y, i), (double)i, 0);
  assert_shape(tg_view(x, TG_SHAPE(3, -1)), TG_SHAPE(3, 2));
  assert_shape(tg_view(x, TG_SHAPE(-1)), TG_SHAPE(6));
  assert_shape(tg_view(tg_scalar(TG_FLOAT64, 1), TG_SHAPE(-1)), TG_SHAPE(1));
  assert_shape(tg_reshape(tg_zeros(TG_FLOAT64, TG_SHAPE(0, 4)), TG_SHAPE(-1, 2)), TG_SHAPE(0, 2));
  /* PyTorch's errors */
  assert_null(tg_reshape(x, TG_SHAPE(-1, -1)));
  assert_true(strstr(tg_last_error(), "reshape") && strstr(tg_last_error(), "only one dimension can be inferred"));
  tg_clear_error();
  assert_null(tg_view(x, TG_SHAPE(-1, 4)));
  assert_true(strstr(tg_last_error(), "view") && strstr(tg_last_error(), "[-1,4]") && strstr(tg_last_error(), "6"));
  tg_clear_error();
  assert_null(tg_reshape(x, TG_SHAPE(-1, 0)));
  assert_true(strstr(tg_last_error(), "[-1,0]") != NULL);
  tg_clear_error();
  assert_null(tg_reshape(tg_zeros(TG_FLOAT64, TG_SHAPE(0)), TG_SHAPE(-1, 0)));
  assert_true(strstr(tg_last_error(), "ambiguous") != NULL);
  tg_clear_error();
  assert_null(tg_reshape(x, TG_SHAPE(-2, 3)));
  assert_true(strstr(tg_last_error(), "invalid shape dimension -2") != NULL);
  tg_clear_error();
  /* a product that wraps around size_t is invalid, not empty */
  assert_null(tg_reshape(tg_zeros(TG_FLOAT64, TG_SHAPE(0)), TG_SHAPE((size_t)1 << 62, 8, 0)));
  tg_clear_error();
  /* expand: -1 keeps an existing dim, and is refused for a new leading one */
  tg_tensor *c = tg_from_f64(TG_SHAPE(3, 1), (double[]){1, 2, 3});
  tg_tensor *e = tg_expand(c, TG_SHAPE(2, -1, 4));
  assert_shape(e, TG_SHAPE(2, 3, 4));
  for (size_t i = 0; i < 24; i++) assert_close(tg_get_flat(e, i), (double)((i / 4) % 3 + 1), 0);
  assert_null(tg_expand(c, TG_SHAPE(-1, 3, 4)));
  assert_true(strstr(tg_last_error(), "expand") && strstr(tg_last_error(), "-1") &&
              strstr(tg_last_error(), "leading"));
  tg_clear_error();
  tg_rng r = seeded(903);
  tg_tensor *a = make_input(&r, ANY, NC_NONE, TG_SHAPE(3, 2));
  CHECK_GRAD(f_reshape_infer_t, 1, &a, NULL, "reshape(-1, 2) of a transposed view");
  tg_tensor *b = make_input(&r, ANY, NC_NONE, TG_SHAPE(1, 3));
  CHECK_GRAD(f_expand_keep, 1, &b, NULL, "expand(2, -1, 4) of a transposed view");
}

/* view of a non-contiguous tensor where its strides allow it, as
 * torch.Tensor.view; PyTorch's error otherwise */
static tg_tensor *f_view_split_t(tg_tensor **in, void *p) {
  (void)p;
  tg_tensor *t = tg_transpose(in[0], 1, 2); /* [2,4,3], strides (12,1,4) */
  tg_tensor *v = tg_view(t, TG_SHAPE(2, 2, 2, 3));
  return tg_mul(v, v);
}
static void test_view_non_contiguous(void **state) {
  (void)state;
  tg_tensor *a = tg_arange(TG_FLOAT64, 0, 24, 1);
  tg_tensor *t = tg_transpose(tg_view(a, TG_SHAPE(2, 3, 4)), 1, 2);
  tg_tensor *v = tg_view(t, TG_SHAPE(2, 2, 2, 3));
  assert_shape(v, TG_SHAPE(2, 2, 2, 3));
  assert_true(v->storage == a->storage);
  const ptrdiff_t ev[4] = {12, 2, 1, 4};
  for (int d = 0; d < 4; d++) assert_int_equal(v->strides[d], ev[d]);
  /* the logical order is t's: element (i, j, k) of t is 12 i + 4 k + j */
  for (size_t i = 0; i < 24; i++) {
    size_t b0 = i / 12, j = (i / 3) % 4, k = i % 3;
    assert_close(tg_get_flat(v, i), (double)(12 * b0 + 4 * k + j), 0);
  }
  /* a transposed matrix viewed with size-1 dims inserted, a strided slice flattened */
  tg_tensor *m = tg_view(tg_arange(TG_FLOAT64, 0, 12, 1), TG_SHAPE(3, 4));
  tg_tensor *w = tg_view(tg_t(m), TG_SHAPE(1, 4, 1, 3));
  assert_shape(w, TG_SHAPE(1, 4, 1, 3));
  for (size_t i = 0; i < 12; i++) assert_close(tg_get_flat(w, i), (double)((i % 3) * 4 + i / 3), 0);
  tg_tensor *sl = tg_view(tg_slice(tg_arange(TG_FLOAT64, 0, 12, 1), 0, 0, 12, 2), TG_SHAPE(2, 3));
  assert_shape(sl, TG_SHAPE(2, 3));
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(sl, i), (double)(2 * i), 0);
  /* an expanded tensor keeps its zero strides where they fit */
  tg_tensor *ex = tg_expand(tg_ones(TG_FLOAT64, TG_SHAPE(3, 1)), TG_SHAPE(3, 4));
  tg_tensor *ev3 = tg_view(ex, TG_SHAPE(3, 2, 2));
  assert_shape(ev3, TG_SHAPE(3, 2, 2));
  assert_int_equal(ev3->strides[1], 0);
  /* dims that span two runs: PyTorch's error */
  assert_null(tg_view(t, TG_SHAPE(8, 3)));
  assert_true(strstr(tg_last_error(), "view") && strstr(tg_last_error(), "not compatible") &&
              strstr(tg_last_error(), "tg_reshape"));
  tg_clear_error();
  assert_null(tg_view(t, TG_SHAPE(-1)));
  tg_clear_error();
  assert_null(tg_view(ex, TG_SHAPE(12)));
  tg_clear_error();
  /* reshape views where view can, and copies otherwise */
  tg_tensor *rv = tg_reshape(t, TG_SHAPE(2, 2, 2, 3));
  assert_true(rv->storage == a->storage);
  tg_tensor *rc = tg_reshape(t, TG_SHAPE(8, 3));
  assert_true(rc->storage != a->storage);
  for (size_t i = 0; i < 24; i++) assert_close(tg_get_flat(rc, i), tg_get_flat(t, i), 0);
  tg_rng r = seeded(904);
  tg_tensor *x = make_input(&r, ANY, NC_NONE, TG_SHAPE(2, 3, 4));
  CHECK_GRAD(f_view_split_t, 1, &x, NULL, "view of a transposed tensor");
  CHECK_GRADGRAD(f_view_split_t, 1, &x, NULL, "view of a transposed tensor");
}

/* select and narrow count a negative index/start from the end */
static tg_tensor *f_select_neg(tg_tensor **in, void *p) {
  (void)p;
  tg_tensor *x = tg_transpose(in[0], 0, 1);
  return tg_mul(tg_select(x, 0, -1), tg_narrow(x, 0, -2, 2));
}
static void test_select_narrow_negative(void **state) {
  (void)state;
  tg_tensor *m = tg_view(tg_arange(TG_FLOAT64, 0, 12, 1), TG_SHAPE(3, 4));
  tg_tensor *row = tg_select(m, 0, -1);
  assert_shape(row, TG_SHAPE(4));
  for (size_t j = 0; j < 4; j++) assert_close(tg_get_flat(row, j), (double)(8 + j), 0);
  tg_tensor *col = tg_select(m, -1, -4);
  assert_shape(col, TG_SHAPE(3));
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(col, i), (double)(4 * i), 0);
  tg_tensor *n = tg_narrow(m, 1, -2, 2);
  assert_shape(n, TG_SHAPE(3, 2));
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(n, i), (double)(4 * (i / 2) + 2 + i % 2), 0);
  assert_shape(tg_narrow(m, 1, 4, 0), TG_SHAPE(3, 0));
  assert_null(tg_select(m, 0, -4));
  assert_true(strstr(tg_last_error(), "select") && strstr(tg_last_error(), "index -4"));
  tg_clear_error();
  assert_null(tg_narrow(m, 1, -5, 1));
  assert_true(strstr(tg_last_error(), "narrow") && strstr(tg_last_error(), "-5"));
  tg_clear_error();
  assert_null(tg_narrow(m, 1, -1, 2));
  assert_true(strstr(tg_last_error(), "narrow") && strstr(tg_last_error(), "start 3"));
  tg_clear_error();
  tg_rng r = seeded(905);
  tg_tensor *x = make_input(&r, ANY, NC_NONE, TG_SHAPE(2, 3));
  CHECK_GRAD(f_select_neg, 1, &x, NULL, "select(-1) * narrow(-2, 2)");
  CHECK_GRADGRAD(f_select_neg, 1, &x, NULL, "select(-1) * narrow(-2, 2)");
}

/* index values: PyTorch refuses negative ones in all four index ops; out
 * of range is an error naming the op; a 0-d input has one position */
static void test_index_values_out_of_range(void **state) {
  (void)state;
  tg_tensor *a = tg_ones(TG_FLOAT64, TG_SHAPE(3, 4));
  tg_tensor *neg1 = tg_from_i64(TG_SHAPE(1), (int64_t[]){-1});
  tg_tensor *neg2 = tg_from_i64(TG_SHAPE(1, 1), (int64_t[]){-1});
  tg_tensor *big2 = tg_from_i64(TG_SHAPE(1, 1), (int64_t[]){3});
  tg_tensor *src = tg_ones(TG_FLOAT64, TG_SHAPE(1, 4));
  assert_null(tg_index_select(a, 0, neg1));
  assert_true(strstr(tg_last_error(), "index_select") && strstr(tg_last_error(), "-1"));
  tg_clear_error();
  assert_null(tg_index_add(a, 0, neg1, src));
  assert_true(strstr(tg_last_error(), "index_add") && strstr(tg_last_error(), "-1"));
  tg_clear_error();
  assert_null(tg_gather(a, 0, neg2));
  assert_true(strstr(tg_last_error(), "gather") && strstr(tg_last_error(), "-1"));
  tg_clear_error();
  assert_null(tg_scatter_add(a, 0, neg2, src));
  assert_true(strstr(tg_last_error(), "scatter_add") && strstr(tg_last_error(), "-1"));
  tg_clear_error();
  assert_null(tg_scatter_add(a, 0, big2, src));
  assert_true(strstr(tg_last_error(), "scatter_add") && strstr(tg_last_error(), "index 3"));
  tg_clear_error();
  /* 0-d input and index: position 0 only (PyTorch: gather gives the value) */
  tg_tensor *s = tg_scalar(TG_FLOAT64, 2);
  tg_tensor *i0 = tg_from_i64(0, NULL, (int64_t[]){0}), *i1 = tg_from_i64(0, NULL, (int64_t[]){1});
  assert_close(tg_item(tg_gather(s, 0, i0)), 2, 0);
  assert_close(tg_item(tg_scatter_add(s, 0, i0, tg_scalar(TG_FLOAT64, 3))), 5, 0);
  assert_null(tg_gather(s, 0, i1));
  assert_true(strstr(tg_last_error(), "gather") && strstr(tg_last_error(), "size 1"));
  tg_clear_error();
  assert_null(tg_scatter_add(s, -1, i1, tg_scalar(TG_FLOAT64, 3)));
  assert_true(strstr(tg_last_error(), "scatter_add") != NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_add_grad),
      TG_TEST(test_sub_grad),
      TG_TEST(test_mul_grad),
      TG_TEST(test_div_grad),
      TG_TEST(test_pow_grad),
      TG_TEST(test_maximum_minimum_grad),
      TG_TEST(test_binary_gradgrad),
      TG_TEST(test_binary_values),
      TG_TEST(test_scalar_ops_grad),
      TG_TEST(test_scalar_ops_gradgrad),
      TG_TEST(test_unary_grad),
      TG_TEST(test_unary_gradgrad),
      TG_TEST(test_unary_values_extremes),
      TG_TEST(test_sum_mean_grad),
      TG_TEST(test_var_grad),
      TG_TEST(test_logsumexp_grad),
      TG_TEST(test_max_min_grad),
      TG_TEST(test_sum_to_shape_grad),
      TG_TEST(test_reduce_gradgrad),
      TG_TEST(test_reduce_values),
      TG_TEST(test_matmul_grad),
      TG_TEST(test_matmul_values),
      TG_TEST(test_matmul_permuted_batch_grad),
      TG_TEST(test_dot_outer_grad),
      TG_TEST(test_matmul_gradgrad),
      TG_TEST(test_softmax_grad),
      TG_TEST(test_softmax_gradgrad),
      TG_TEST(test_softmax_values),
      TG_TEST(test_gather_scatter_grad),
      TG_TEST(test_index_select_add_grad),
      TG_TEST(test_index_gradgrad),
      TG_TEST(test_index_values),
      TG_TEST(test_shape_ops_grad),
      TG_TEST(test_shape_ops_gradgrad),
      TG_TEST(test_to_dtype_grad),
      TG_TEST(test_cat_stack_grad),
      TG_TEST(test_composite_chain_grad),
      TG_TEST(test_float32_math_accuracy),
      TG_TEST(test_matmul_threads_match),
      TG_TEST(test_pow_edge_grads),
      TG_TEST(test_clamp_min_above_max),
      TG_TEST(test_max_min_all_ties),
      TG_TEST(test_shape_ops_0d_dims),
      TG_TEST(test_shape_infer_minus_one),
      TG_TEST(test_view_non_contiguous),
      TG_TEST(test_select_narrow_negative),
      TG_TEST(test_index_values_out_of_range),
  };
  int rc = cmocka_run_group_tests_name("ops_grad", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
