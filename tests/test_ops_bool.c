/* The bool ops: comparisons, isnan/isinf/isfinite, logical ops, any/all
 * (ops/compare.c), where, masked_fill, masked_select, nonzero (ops/select.c)
 * and tg_to_dtype to and from bool.
 *
 * Forward values are checked against loops written here over tg_get_flat
 * with the broadcasting done by hand; where, masked_fill and masked_select
 * get float64 gradchecks (broadcasting, non-contiguous inputs taken inside
 * the function) and gradgradchecks. The comparisons and logical ops have no
 * gradient: their results never require grad. PyTorch 1.13 semantics were
 * checked by hand for the edge cases (NaN, -0.0, empty reductions, int64
 * against a scalar, nonzero of a 0-d tensor). */
#define _GNU_SOURCE /* memmem, mkstemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tg_test.h"

static tg_rng seeded(uint64_t seed) {
  tg_rng r;
  tg_rng_seed(&r, seed);
  return r;
}

/* a tensor of dt with values from {-2, -1, 0, 1, 2} (ties are common);
 * bool gets 0/1 */
static tg_tensor *small_ints(tg_rng *r, tg_dtype dt, int nd, const size_t *shape) {
  tg_tensor *t = tg_zeros(dt, nd, shape);
  assert_non_null(t);
  size_t idx[8] = {0};
  for (size_t i = 0; i < t->numel; i++) {
    size_t rem = i;
    for (int d = nd - 1; d >= 0; d--) idx[d] = rem % shape[d], rem /= shape[d];
    double v = dt == TG_BOOL ? (double)rand_int(r, 0, 1) : (double)rand_int(r, 0, 4) - 2.0;
    assert_int_equal(tg_set(t, idx, v), 0);
  }
  return t;
}

/* two shapes that broadcast: b is a with some dims set to 1 and maybe
 * leading dims dropped */
static void broadcast_pair(tg_rng *r, int *na, size_t *sa, int *nb, size_t *sb) {
  *na = (int)rand_int(r, 0, 3);
  for (int d = 0; d < *na; d++) sa[d] = rand_int(r, 1, 4);
  int drop = *na ? (int)rand_int(r, 0, (size_t)*na) : 0;
  *nb = *na - drop;
  for (int d = 0; d < *nb; d++) sb[d] = rand_int(r, 0, 2) == 0 ? 1 : sa[d + drop];
  if (rand_int(r, 0, 1)) { /* swap roles so either side may be the smaller */
    size_t tmp[8];
    int tn = *na;
    memcpy(tmp, sa, sizeof tmp);
    memcpy(sa, sb, sizeof tmp);
    memcpy(sb, tmp, sizeof tmp);
    *na = *nb;
    *nb = tn;
  }
}

/* element of t at the output's flat index i, t broadcast to (nd, shape) */
static double bget(const tg_tensor *t, int nd, const size_t *shape, size_t i) {
  size_t idx[8], ti[8];
  for (int d = nd - 1; d >= 0; d--) idx[d] = i % shape[d], i /= shape[d];
  for (int d = 0; d < t->ndim; d++) {
    int od = nd - t->ndim + d;
    ti[d] = t->shape[d] == 1 ? 0 : idx[od];
  }
  return tg_get(t, ti);
}

static void bshape(const tg_tensor *a, const tg_tensor *b, int *nd, size_t *shape) {
  *nd = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int d = 0; d < *nd; d++) {
    int da = a->ndim - *nd + d, db = b->ndim - *nd + d;
    size_t x = da >= 0 ? a->shape[da] : 1, y = db >= 0 ? b->shape[db] : 1;
    shape[d] = x == 1 ? y : x;
  }
}

static void assert_no_history(const tg_tensor *t) {
  assert_non_null(t);
  assert_false(t->requires_grad);
  assert_null(t->grad_fn);
}

static void assert_error_names(const char *op) {
  if (!strstr(tg_last_error(), op)) fail_msg("error \"%s\" does not name %s", tg_last_error(), op);
  tg_clear_error();
}

/* -------------------------------------------------------- comparisons */

typedef tg_tensor *(*cmp_fn)(tg_tensor *, tg_tensor *);
typedef tg_tensor *(*cmp_s_fn)(tg_tensor *, double);

static bool cmp_ref(int k, double x, double y) {
  switch (k) {
  case 0: return x == y;
  case 1: return x != y;
  case 2: return x < y;
  case 3: return x <= y;
  case 4: return x > y;
  default: return x >= y;
  }
}
static const cmp_fn CMP[6] = {tg_eq, tg_ne, tg_lt, tg_le, tg_gt, tg_ge};
static const cmp_s_fn CMP_S[6] = {tg_eq_scalar, tg_ne_scalar, tg_lt_scalar,
                                  tg_le_scalar, tg_gt_scalar, tg_ge_scalar};
static const char *const CMP_NAME[6] = {"eq", "ne", "lt", "le", "gt", "ge"};

static void test_compare_broadcast_all_dtypes(void **state) {
  (void)state;
  tg_rng r = seeded(11);
  const tg_dtype dts[4] = {TG_FLOAT32, TG_FLOAT64, TG_INT64, TG_BOOL};
  int checked = 0;
  for (int trial = 0; trial < 40; trial++) {
    int na, nb, nd;
    size_t sa[8], sb[8], so[8];
    broadcast_pair(&r, &na, sa, &nb, sb);
    tg_dtype dt = dts[trial % 4];
    tg_tensor *a = small_ints(&r, dt, na, sa), *b = small_ints(&r, dt, nb, sb);
    if (dt == TG_FLOAT64) tg_requires_grad_(a, true);
    bshape(a, b, &nd, so);
    for (int k = 0; k < 6; k++) {
      tg_tensor *out = CMP[k](a, b);
      assert_no_history(out);
      assert_int_equal(out->dtype, TG_BOOL);
      assert_int_equal(out->ndim, nd);
      for (int d = 0; d < nd; d++) assert_int_equal(out->shape[d], so[d]);
      for (size_t i = 0; i < out->numel; i++, checked++)
        if (tg_get_flat(out, i) != (double)cmp_ref(k, bget(a, nd, so, i), bget(b, nd, so, i)))
          fail_msg("%s on %s, element %zu", CMP_NAME[k], tg_dtype_name(dt), i);
    }
  }
  assert_true(checked > 500);
}

static void test_compare_noncontiguous(void **state) {
  (void)state;
  tg_rng r = seeded(12);
  tg_tensor *base = small_ints(&r, TG_FLOAT64, TG_SHAPE(4, 3));
  tg_tensor *at = tg_transpose(base, 0, 1);              /* [3,4], strides (1,3) */
  tg_tensor *b = tg_slice(small_ints(&r, TG_FLOAT64, TG_SHAPE(3, 8)), 1, 0, 8, 2); /* [3,4] */
  assert_false(tg_is_contiguous(at));
  assert_false(tg_is_contiguous(b));
  for (int k = 0; k < 6; k++) {
    tg_tensor *out = CMP[k](at, b);
    assert_non_null(out);
    for (size_t i = 0; i < 12; i++)
      assert_true(tg_get_flat(out, i) == (double)cmp_ref(k, tg_get_flat(at, i), tg_get_flat(b, i)));
  }
}

static void test_compare_scalar_rules(void **state) {
  (void)state;
  tg_rng r = seeded(13);
  /* values against a scalar, every dtype */
  const tg_dtype dts[4] = {TG_FLOAT32, TG_FLOAT64, TG_INT64, TG_BOOL};
  const double scalars[5] = {0.0, 1.0, -1.5, 0.5, 2.0};
  for (int t = 0; t < 4; t++) {
    tg_tensor *a = small_ints(&r, dts[t], TG_SHAPE(3, 5));
    for (int k = 0; k < 6; k++)
      for (int s = 0; s < 5; s++) {
        tg_tensor *out = CMP_S[k](a, scalars[s]);
        assert_no_history(out);
        for (size_t i = 0; i < a->numel; i++)
          assert_true(tg_get_flat(out, i) == (double)cmp_ref(k, tg_get_flat(a, i), scalars[s]));
      }
  }
  /* float32 compares with (float)s: torch.tensor([0.1]) == 0.1 is True */
  assert_true(tg_item(tg_eq_scalar(tg_scalar(TG_FLOAT32, 0.1), 0.1)) == 1.0);
  assert_true(tg_item(tg_eq_scalar(tg_scalar(TG_FLOAT64, (float)0.1), 0.1)) == 0.0);
  /* int64 against an integral scalar is exact: 2^53 + 1 != 2^53 (as double they are equal) */
  tg_tensor *big = tg_from_i64(TG_SHAPE(2), (const int64_t[]){9007199254740993LL, 9007199254740992LL});
  tg_tensor *e = tg_eq_scalar(big, 9007199254740992.0);
  assert_true(tg_get_flat(e, 0) == 0.0 && tg_get_flat(e, 1) == 1.0);
  assert_true(tg_get_flat(tg_gt_scalar(big, 9007199254740992.0), 0) == 1.0);
  /* int64 against a fraction */
  tg_tensor *i3 = tg_from_i64(TG_SHAPE(3), (const int64_t[]){1, 2, 3});
  tg_tensor *lt = tg_lt_scalar(i3, 2.5);
  assert_true(tg_get_flat(lt, 1) == 1.0 && tg_get_flat(lt, 2) == 0.0);
  /* bool: True == 2 is False, True > 0.5 is True (PyTorch promotes the bool) */
  tg_tensor *tb = tg_from_bool(TG_SHAPE(2), (const bool[]){true, false});
  assert_true(tg_get_flat(tg_eq_scalar(tb, 2.0), 0) == 0.0);
  assert_true(tg_get_flat(tg_eq_scalar(tb, 1.0), 0) == 1.0);
  assert_true(tg_get_flat(tg_gt_scalar(tb, 0.5), 0) == 1.0);
  assert_true(tg_get_flat(tg_gt_scalar(tb, 0.5), 1) == 0.0);
  /* NaN: every comparison false except ne */
  tg_tensor *x = tg_from_f64(TG_SHAPE(2), (const double[]){NAN, 1.0});
  for (int k = 0; k < 6; k++) {
    assert_true(tg_get_flat(CMP_S[k](x, NAN), 1) == (k == 1));
    assert_true(tg_get_flat(CMP[k](x, x), 0) == (k == 1));
  }
  /* a huge scalar against int64 does not overflow the conversion */
  assert_true(tg_get_flat(tg_lt_scalar(i3, 1e300), 0) == 1.0);
  assert_true(tg_get_flat(tg_gt_scalar(i3, -INFINITY), 0) == 1.0);
  assert_true(tg_get_flat(tg_lt_scalar(i3, 9223372036854775808.0), 0) == 1.0);
}

static void test_compare_errors(void **state) {
  (void)state;
  tg_tensor *f = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3)), *d = tg_ones(TG_FLOAT64, TG_SHAPE(2, 3));
  for (int k = 0; k < 6; k++) {
    assert_non_null(CMP[k](f, d)); /* promoted, as PyTorch */
    assert_null(CMP[k](d, tg_ones(TG_FLOAT64, TG_SHAPE(4))));
    assert_non_null(strstr(tg_last_error(), "broadcast"));
    assert_error_names(CMP_NAME[k]);
  }
}

/* ----------------------------------------------------- classification */

static void test_isnan_isinf_isfinite(void **state) {
  (void)state;
  const double v[6] = {NAN, INFINITY, -INFINITY, 0.0, -1e308, 3.5};
  for (int t = 0; t < 2; t++) {
    tg_tensor *x = tg_to_dtype(tg_from_f64(TG_SHAPE(2, 3), v), t ? TG_FLOAT64 : TG_FLOAT32);
    tg_requires_grad_(x, true);
    tg_tensor *xt = tg_transpose(x, 0, 1); /* element (j, i) is v[i*3 + j] */
    tg_tensor *n = tg_isnan(xt), *i = tg_isinf(xt), *f = tg_isfinite(xt);
    assert_no_history(n);
    assert_no_history(i);
    assert_no_history(f);
    for (size_t k = 0; k < 6; k++) {
      double src = v[(k % 2) * 3 + k / 2];
      if (t == 0) src = (float)src; /* -1e308 is -inf in float32 */
      assert_true(tg_get_flat(n, k) == (double)(isnan(src) != 0));
      assert_true(tg_get_flat(i, k) == (double)(isinf(src) != 0));
      assert_true(tg_get_flat(f, k) == (double)(isfinite(src) != 0));
    }
  }
  tg_tensor *ints = tg_from_i64(TG_SHAPE(2), (const int64_t[]){INT64_MAX, 0});
  assert_true(tg_get_flat(tg_isnan(ints), 0) == 0.0 && tg_get_flat(tg_isinf(ints), 1) == 0.0);
  assert_true(tg_get_flat(tg_isfinite(ints), 0) == 1.0);
  assert_true(tg_item(tg_isfinite(tg_scalar(TG_BOOL, 1))) == 1.0);
  assert_int_equal(tg_isnan(ints)->dtype, TG_BOOL);
}

/* -------------------------------------------------------- logical ops */

static void test_logical_mixed_dtypes(void **state) {
  (void)state;
  tg_rng r = seeded(14);
  const tg_dtype dts[4] = {TG_FLOAT32, TG_FLOAT64, TG_INT64, TG_BOOL};
  tg_tensor *(*fns[3])(tg_tensor *, tg_tensor *) = {tg_logical_and, tg_logical_or, tg_logical_xor};
  for (int trial = 0; trial < 32; trial++) {
    int na, nb, nd;
    size_t sa[8], sb[8], so[8];
    broadcast_pair(&r, &na, sa, &nb, sb);
    tg_tensor *a = small_ints(&r, dts[trial % 4], na, sa), *b = small_ints(&r, dts[trial / 8], nb, sb);
    bshape(a, b, &nd, so);
    for (int k = 0; k < 3; k++) {
      tg_tensor *out = fns[k](a, b);
      assert_no_history(out);
      assert_int_equal(out->ndim, nd);
      for (size_t i = 0; i < out->numel; i++) {
        bool x = bget(a, nd, so, i) != 0, y = bget(b, nd, so, i) != 0;
        bool want = k == 0 ? x && y : k == 1 ? x || y : x != y;
        assert_true(tg_get_flat(out, i) == (double)want);
      }
    }
    tg_tensor *n = tg_logical_not(a);
    assert_no_history(n);
    for (size_t i = 0; i < a->numel; i++) assert_true(tg_get_flat(n, i) == (double)(tg_get_flat(a, i) == 0));
  }
  /* NaN is true and -0.0 false, as PyTorch */
  tg_tensor *x = tg_from_f64(TG_SHAPE(3), (const double[]){NAN, 0.0, -0.0});
  tg_tensor *n = tg_logical_not(x);
  assert_true(tg_get_flat(n, 0) == 0.0 && tg_get_flat(n, 1) == 1.0 && tg_get_flat(n, 2) == 1.0);
  /* a non-contiguous input */
  tg_tensor *m = tg_transpose(small_ints(&r, TG_INT64, TG_SHAPE(3, 4)), 0, 1);
  tg_tensor *o = tg_logical_or(m, tg_scalar(TG_BOOL, 0));
  for (size_t i = 0; i < 12; i++) assert_true(tg_get_flat(o, i) == (double)(tg_get_flat(m, i) != 0));
  assert_null(tg_logical_and(tg_ones(TG_BOOL, TG_SHAPE(2)), tg_ones(TG_BOOL, TG_SHAPE(3))));
  assert_error_names("logical_and");
}

/* ------------------------------------------------------------ any/all */

static void test_any_all_dims(void **state) {
  (void)state;
  tg_rng r = seeded(15);
  for (int trial = 0; trial < 40; trial++) {
    int nd = (int)rand_int(&r, 1, 4);
    size_t shape[4];
    for (int d = 0; d < nd; d++) shape[d] = rand_int(&r, 0, 3);
    tg_dtype dt = trial % 3 == 0 ? TG_FLOAT64 : TG_BOOL;
    tg_tensor *a = small_ints(&r, dt, nd, shape);
    /* most entries true, so that all() is sometimes true */
    if (dt == TG_BOOL && trial % 2) a = tg_logical_or(a, tg_lt_scalar(tg_rand(&r, TG_FLOAT64, nd, shape), 0.8));
    int dim = (int)rand_int(&r, 0, (size_t)nd - 1);
    bool keep = trial % 2;
    for (int is_all = 0; is_all < 2; is_all++) {
      tg_tensor *out = is_all ? tg_all_dims(a, 1, &dim, keep) : tg_any_dims(a, 1, &dim, keep);
      assert_no_history(out);
      assert_int_equal(out->dtype, TG_BOOL);
      assert_int_equal(out->ndim, keep ? nd : nd - 1);
      size_t outer = 1, inner = 1;
      for (int d = 0; d < dim; d++) outer *= shape[d];
      for (int d = dim + 1; d < nd; d++) inner *= shape[d];
      assert_int_equal(out->numel, outer * inner);
      for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
          bool acc = is_all;
          for (size_t k = 0; k < shape[dim]; k++) {
            bool v = tg_get_flat(a, (o * shape[dim] + k) * inner + i) != 0;
            acc = is_all ? acc && v : acc || v;
          }
          assert_true(tg_get_flat(out, o * inner + i) == (double)acc);
        }
      /* everything at once */
      bool acc = is_all;
      for (size_t i = 0; i < a->numel; i++) acc = is_all ? acc && tg_get_flat(a, i) != 0 : acc || tg_get_flat(a, i) != 0;
      tg_tensor *whole = is_all ? tg_all(a) : tg_any(a);
      assert_int_equal(whole->ndim, 0);
      assert_true(tg_item(whole) == (double)acc);
    }
  }
  /* two dims, a non-contiguous input, the empty cases */
  tg_tensor *t = tg_transpose(tg_from_bool(TG_SHAPE(2, 3), (const bool[]){1, 0, 1, 1, 0, 1}), 0, 1);
  tg_tensor *c = tg_all_dims(t, 1, (const int[]){1}, false); /* rows of t: (1,1) (0,0) (1,1) */
  assert_true(tg_get_flat(c, 0) == 1.0 && tg_get_flat(c, 1) == 0.0 && tg_get_flat(c, 2) == 1.0);
  assert_true(tg_item(tg_any_dims(t, 2, (const int[]){0, -1}, false)) == 1.0);
  assert_true(tg_item(tg_any(tg_zeros(TG_FLOAT32, TG_SHAPE(0, 3)))) == 0.0);
  assert_true(tg_item(tg_all(tg_zeros(TG_FLOAT32, TG_SHAPE(0, 3)))) == 1.0);
  assert_true(tg_item(tg_any(tg_scalar(TG_FLOAT64, NAN))) == 1.0);
  assert_null(tg_any_dims(t, 2, (const int[]){0, 0}, false));
  assert_error_names("any");
  assert_null(tg_all_dims(t, 1, (const int[]){2}, false));
  assert_error_names("all");
}

/* -------------------------------------------------------------- where */

typedef struct sel_ctx {
  tg_tensor *mask;
  bool transpose_a; /* take a's transpose inside the function */
  bool square;      /* square the result: a nonlinear function for gradgradcheck */
} sel_ctx;

static tg_tensor *maybe_t(tg_tensor *a, const sel_ctx *c) { return c->transpose_a ? tg_transpose(a, 0, 1) : a; }
static tg_tensor *finish(tg_tensor *y, const sel_ctx *c) { return c->square ? tg_mul(y, y) : y; }

static tg_tensor *f_where(tg_tensor **in, void *p) {
  const sel_ctx *c = p;
  return finish(tg_where(c->mask, maybe_t(in[0], c), in[1]), c);
}

static tg_tensor *random_mask(tg_rng *r, int nd, const size_t *shape) {
  return tg_lt_scalar(tg_rand(r, TG_FLOAT64, nd, shape), 0.5);
}

static void test_where_values(void **state) {
  (void)state;
  tg_rng r = seeded(16);
  const tg_dtype dts[4] = {TG_FLOAT32, TG_FLOAT64, TG_INT64, TG_BOOL};
  for (int trial = 0; trial < 24; trial++) {
    int na, nb, nd, nc, nd2;
    size_t sa[8], sb[8], sc[8], so[8], so2[8];
    broadcast_pair(&r, &na, sa, &nb, sb);
    tg_tensor *a = small_ints(&r, dts[trial % 4], na, sa), *b = small_ints(&r, dts[trial % 4], nb, sb);
    bshape(a, b, &nd, so);
    nc = (int)rand_int(&r, 0, (size_t)nd);
    for (int d = 0; d < nc; d++) sc[d] = rand_int(&r, 0, 1) ? so[nd - nc + d] : 1;
    tg_tensor *cond = random_mask(&r, nc, sc);
    tg_tensor *out = tg_where(cond, a, b);
    assert_non_null(out);
    assert_int_equal(out->dtype, a->dtype);
    bshape(out, cond, &nd2, so2);
    assert_int_equal(out->ndim, nd);
    assert_int_equal(nd2, nd);
    for (size_t i = 0; i < out->numel; i++) {
      double want = bget(cond, nd, so, i) != 0 ? bget(a, nd, so, i) : bget(b, nd, so, i);
      assert_true(tg_get_flat(out, i) == want);
    }
  }
  /* the result shape includes the condition's dims */
  tg_tensor *w = tg_where(random_mask(&r, TG_SHAPE(2, 1, 3)), tg_ones(TG_FLOAT64, TG_SHAPE(4, 1)),
                          tg_zeros(TG_FLOAT64, TG_SHAPE(3)));
  assert_int_equal(w->ndim, 3);
  assert_true(w->shape[0] == 2 && w->shape[1] == 4 && w->shape[2] == 3);
  /* errors */
  tg_tensor *f = tg_ones(TG_FLOAT64, TG_SHAPE(3));
  assert_null(tg_where(f, f, f));
  assert_non_null(strstr(tg_last_error(), "bool"));
  assert_error_names("where");
  assert_null(tg_where(tg_ones(TG_BOOL, TG_SHAPE(3)), f, tg_ones(TG_FLOAT32, TG_SHAPE(4))));
  assert_error_names("where");
  assert_null(tg_where(tg_ones(TG_BOOL, TG_SHAPE(2)), f, f));
  assert_error_names("where");
}

static void test_where_grad(void **state) {
  (void)state;
  tg_rng r = seeded(17);
  /* a [4,3] (taken as the transpose of a [3,4] leaf), b [3], cond [2,1,3] */
  sel_ctx c = {.mask = random_mask(&r, TG_SHAPE(2, 1, 3)), .transpose_a = true};
  tg_tensor *in[2] = {test_leaf(&r, TG_SHAPE(3, 4)), test_leaf(&r, TG_SHAPE(3))};
  assert_gradcheck(f_where, 2, in, &c);
  c.square = true;
  assert_gradgradcheck(f_where, 2, in, &c);
  /* the gradient by hand: d sum(where) / da = number of places a was taken */
  c = (sel_ctx){.mask = random_mask(&r, TG_SHAPE(2, 3))};
  tg_tensor *a = test_leaf(&r, TG_SHAPE(2, 3)), *b = test_leaf(&r, TG_SHAPE(1));
  tg_tensor *y = tg_where(c.mask, a, b);
  assert_string_equal(tg_grad_fn_name(y), "WhereBackward");
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  double n_false = 0;
  for (size_t i = 0; i < 6; i++) {
    bool m = tg_get_flat(c.mask, i) != 0;
    n_false += !m;
    assert_true(tg_get_flat(a->grad, i) == (m ? 1.0 : 0.0));
  }
  assert_true(tg_item(b->grad) == n_false);
  /* only b requires grad */
  tg_tensor *a2 = tg_randn(&r, TG_FLOAT64, TG_SHAPE(2, 3)), *b2 = test_leaf(&r, TG_SHAPE(2, 3));
  assert_int_equal(tg_backward(tg_sum(tg_where(c.mask, a2, b2)), NULL, false), 0);
  assert_null(a2->grad);
  for (size_t i = 0; i < 6; i++) assert_true(tg_get_flat(b2->grad, i) == (tg_get_flat(c.mask, i) != 0 ? 0.0 : 1.0));
}

/* -------------------------------------------------------- masked_fill */

static tg_tensor *f_masked_fill(tg_tensor **in, void *p) {
  const sel_ctx *c = p;
  return finish(tg_masked_fill(maybe_t(in[0], c), c->mask, 0.75), c);
}

/* a value float32 cannot hold is refused, as PyTorch's "cannot be converted
 * to type float without overflow"; inf and NaN are kept (the oracle found it) */
static void test_masked_fill_float32_overflow(void **state) {
  (void)state;
  tg_tensor *a = tg_zeros(TG_FLOAT32, TG_SHAPE(2));
  tg_tensor *m = tg_from_bool(TG_SHAPE(2), (bool[]){true, false});
  assert_null(tg_masked_fill(a, m, 1e300));
  assert_non_null(strstr(tg_last_error(), "masked_fill"));
  assert_non_null(strstr(tg_last_error(), "overflow"));
  assert_null(tg_masked_fill(a, m, -3.5e38));
  tg_tensor *i = tg_masked_fill(a, m, -INFINITY);
  assert_true(isinf(tg_get_flat(i, 0)) && tg_get_flat(i, 0) < 0);
  assert_true(isnan(tg_get_flat(tg_masked_fill(a, m, NAN), 0)));
  assert_close(tg_get_flat(tg_masked_fill(a, m, 3.0e38), 0) / 3.0e38, 1.0, 1e-6);
  /* float64 and bool take it */
  assert_non_null(tg_masked_fill(tg_zeros(TG_FLOAT64, TG_SHAPE(2)), m, 1e300));
  assert_true(tg_get_flat(tg_masked_fill(tg_zeros(TG_BOOL, TG_SHAPE(2)), m, 1e300), 0) == 1);
}

static void test_masked_fill(void **state) {
  (void)state;
  tg_rng r = seeded(18);
  /* values: a broadcast up to the mask's shape, every dtype */
  const tg_dtype dts[4] = {TG_FLOAT32, TG_FLOAT64, TG_INT64, TG_BOOL};
  for (int trial = 0; trial < 16; trial++) {
    int na, nm, nd;
    size_t sa[8], sm[8], so[8];
    broadcast_pair(&r, &na, sa, &nm, sm);
    tg_tensor *a = small_ints(&r, dts[trial % 4], na, sa), *m = random_mask(&r, nm, sm);
    tg_tensor *out = tg_masked_fill(a, m, -1.0);
    assert_non_null(out);
    bshape(a, m, &nd, so);
    assert_int_equal(out->ndim, nd);
    double fill = a->dtype == TG_BOOL ? 1.0 : -1.0;
    for (size_t i = 0; i < out->numel; i++)
      assert_true(tg_get_flat(out, i) == (bget(m, nd, so, i) != 0 ? fill : bget(a, nd, so, i)));
  }
  /* the value in the tensor's dtype: int64 truncates, float32 rounds */
  tg_tensor *all = tg_ones(TG_BOOL, TG_SHAPE(2));
  assert_true(tg_get_flat(tg_masked_fill(tg_zeros(TG_INT64, TG_SHAPE(2)), all, 2.7), 0) == 2.0);
  assert_true(tg_get_flat(tg_masked_fill(tg_zeros(TG_FLOAT32, TG_SHAPE(2)), all, 0.1), 1) == (double)0.1f);
  assert_true(isnan(tg_get_flat(tg_masked_fill(tg_zeros(TG_FLOAT64, TG_SHAPE(2)), all, NAN), 0)));
  assert_null(tg_masked_fill(tg_zeros(TG_INT64, TG_SHAPE(2)), all, NAN));
  assert_non_null(strstr(tg_last_error(), "int64"));
  assert_error_names("masked_fill");
  assert_null(tg_masked_fill(tg_zeros(TG_FLOAT64, TG_SHAPE(2)), tg_ones(TG_FLOAT64, TG_SHAPE(2)), 0));
  assert_error_names("masked_fill");
  assert_null(tg_masked_fill(tg_zeros(TG_FLOAT64, TG_SHAPE(2)), tg_ones(TG_BOOL, TG_SHAPE(3)), 0));
  assert_error_names("masked_fill");
  /* gradients: a transposed [3,4] leaf; then a mask that broadcasts a to [2,4,3] */
  sel_ctx c = {.mask = random_mask(&r, TG_SHAPE(4, 3)), .transpose_a = true};
  tg_tensor *in[1] = {test_leaf(&r, TG_SHAPE(3, 4))};
  assert_gradcheck(f_masked_fill, 1, in, &c);
  c.square = true;
  assert_gradgradcheck(f_masked_fill, 1, in, &c);
  c = (sel_ctx){.mask = random_mask(&r, TG_SHAPE(2, 1, 3))};
  tg_tensor *in2[1] = {test_leaf(&r, TG_SHAPE(4, 3))};
  assert_gradcheck(f_masked_fill, 1, in2, &c);
  /* zero where filled */
  tg_tensor *y = tg_masked_fill(in2[0], c.mask, 5.0);
  assert_string_equal(tg_grad_fn_name(y), "MaskedFillBackward");
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  for (size_t j = 0; j < 3; j++) {
    double kept = (tg_get_flat(c.mask, j) == 0) + (tg_get_flat(c.mask, 3 + j) == 0);
    for (size_t i = 0; i < 4; i++) assert_true(tg_get_flat(in2[0]->grad, i * 3 + j) == kept);
  }
}

/* ------------------------------------------------------ masked_select */

static tg_tensor *f_masked_select(tg_tensor **in, void *p) {
  const sel_ctx *c = p;
  return finish(tg_masked_select(maybe_t(in[0], c), c->mask), c);
}

static void test_masked_select(void **state) {
  (void)state;
  tg_rng r = seeded(19);
  for (int trial = 0; trial < 16; trial++) {
    int na, nm, nd;
    size_t sa[8], sm[8], so[8];
    broadcast_pair(&r, &na, sa, &nm, sm);
    tg_tensor *a = small_ints(&r, trial % 2 ? TG_INT64 : TG_FLOAT32, na, sa), *m = random_mask(&r, nm, sm);
    tg_tensor *out = tg_masked_select(a, m);
    assert_non_null(out);
    assert_int_equal(out->ndim, 1);
    bshape(a, m, &nd, so);
    size_t k = 0, total = 1;
    for (int d = 0; d < nd; d++) total *= so[d];
    for (size_t i = 0; i < total; i++)
      if (bget(m, nd, so, i) != 0) {
        assert_true(k < out->numel);
        assert_true(tg_get_flat(out, k++) == bget(a, nd, so, i));
      }
    assert_int_equal(k, out->numel);
  }
  /* a 0-d pair gives one element */
  tg_tensor *one = tg_masked_select(tg_scalar(TG_FLOAT64, 3), tg_scalar(TG_BOOL, 1));
  assert_int_equal(one->ndim, 1);
  assert_int_equal(one->numel, 1);
  assert_null(tg_masked_select(tg_ones(TG_FLOAT64, TG_SHAPE(2)), tg_ones(TG_INT64, TG_SHAPE(2))));
  assert_error_names("masked_select");
  /* gradients, a non-contiguous a and a mask that broadcasts a */
  sel_ctx c = {.mask = random_mask(&r, TG_SHAPE(4, 3)), .transpose_a = true};
  tg_tensor *in[1] = {test_leaf(&r, TG_SHAPE(3, 4))};
  assert_gradcheck(f_masked_select, 1, in, &c);
  c.square = true;
  assert_gradgradcheck(f_masked_select, 1, in, &c);
  c = (sel_ctx){.mask = random_mask(&r, TG_SHAPE(2, 1, 3))};
  tg_tensor *in2[1] = {test_leaf(&r, TG_SHAPE(4, 3))};
  assert_gradcheck(f_masked_select, 1, in2, &c);
  /* by hand: the gradient lands where the elements came from */
  c = (sel_ctx){.mask = tg_from_bool(TG_SHAPE(2, 2), (const bool[]){0, 1, 1, 0})};
  tg_tensor *a = test_leaf(&r, TG_SHAPE(2, 2));
  tg_tensor *y = tg_masked_select(a, c.mask);
  assert_string_equal(tg_grad_fn_name(y), "MaskedSelectBackward");
  tg_tensor *g = tg_from_f64(TG_SHAPE(2), (const double[]){10, 20});
  assert_int_equal(tg_backward(y, g, false), 0);
  const double want[4] = {0, 10, 20, 0};
  for (size_t i = 0; i < 4; i++) assert_true(tg_get_flat(a->grad, i) == want[i]);
}

/* ------------------------------------------------------------ nonzero */

static void test_nonzero(void **state) {
  (void)state;
  tg_rng r = seeded(20);
  for (int trial = 0; trial < 12; trial++) {
    int nd = (int)rand_int(&r, 1, 4);
    size_t shape[4];
    for (int d = 0; d < nd; d++) shape[d] = rand_int(&r, 1, 4);
    tg_tensor *a = small_ints(&r, trial % 2 ? TG_FLOAT64 : TG_BOOL, nd, shape);
    tg_tensor *view = nd >= 2 ? tg_transpose(a, 0, nd - 1) : a;
    tg_tensor *nz = tg_nonzero(view);
    assert_no_history(nz);
    assert_int_equal(nz->dtype, TG_INT64);
    assert_int_equal(nz->ndim, 2);
    assert_int_equal(nz->shape[1], (size_t)nd);
    size_t k = 0, idx[4];
    for (size_t i = 0; i < view->numel; i++) {
      if (tg_get_flat(view, i) == 0) continue;
      size_t rem = i;
      for (int d = nd - 1; d >= 0; d--) idx[d] = rem % view->shape[d], rem /= view->shape[d];
      for (int d = 0; d < nd; d++) assert_true(tg_get(nz, (const size_t[]){k, (size_t)d}) == (double)idx[d]);
      k++;
    }
    assert_int_equal(nz->shape[0], k);
  }
  /* PyTorch: a 0-d tensor gives [1, 0] or [0, 0]; NaN is nonzero */
  tg_tensor *z = tg_nonzero(tg_scalar(TG_FLOAT64, 5));
  assert_true(z->ndim == 2 && z->shape[0] == 1 && z->shape[1] == 0);
  z = tg_nonzero(tg_scalar(TG_INT64, 0));
  assert_true(z->shape[0] == 0 && z->shape[1] == 0);
  z = tg_nonzero(tg_from_f64(TG_SHAPE(3), (const double[]){0, NAN, -0.0}));
  assert_true(z->shape[0] == 1 && tg_get_flat(z, 0) == 1.0);
}

/* ------------------------------------------------ to_dtype and grads */

static void test_to_dtype_bool(void **state) {
  (void)state;
  tg_rng r = seeded(21);
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(5), (const double[]){0.0, -0.0, NAN, 0.25, -3}), true);
  tg_tensor *b = tg_to_dtype(x, TG_BOOL);
  assert_no_history(b);
  const double want[5] = {0, 0, 1, 1, 1};
  for (size_t i = 0; i < 5; i++) assert_true(tg_get_flat(b, i) == want[i]);
  /* back to every other dtype: 0 or 1, no history */
  const tg_dtype dts[3] = {TG_FLOAT32, TG_FLOAT64, TG_INT64};
  for (int k = 0; k < 3; k++) {
    tg_tensor *y = tg_to_dtype(b, dts[k]);
    assert_no_history(y);
    assert_int_equal(y->dtype, dts[k]);
    for (size_t i = 0; i < 5; i++) assert_true(tg_get_flat(y, i) == want[i]);
    tg_tensor *back = tg_to_dtype(y, TG_BOOL);
    for (size_t i = 0; i < 5; i++) assert_true(tg_get_flat(back, i) == want[i]);
  }
  tg_tensor *i = tg_to_dtype(tg_from_i64(TG_SHAPE(3), (const int64_t[]){0, 7, INT64_MIN}), TG_BOOL);
  assert_true(tg_get_flat(i, 0) == 0 && tg_get_flat(i, 1) == 1 && tg_get_flat(i, 2) == 1);
  /* a mask made from x stops the gradient; x itself still gets its own */
  tg_tensor *a = test_leaf(&r, TG_SHAPE(2, 3));
  tg_tensor *m = tg_to_dtype(tg_to_dtype(a, TG_BOOL), TG_FLOAT64);
  tg_tensor *y = tg_sum(tg_mul(a, m));
  assert_int_equal(tg_backward(y, NULL, false), 0);
  for (size_t k = 0; k < 6; k++) assert_true(tg_get_flat(a->grad, k) == tg_get_flat(m, k));
  /* bool into ops PyTorch refuses it for: a clear error, not a crash */
  assert_null(tg_neg(b));
  assert_non_null(strstr(tg_last_error(), "bool"));
  assert_error_names("neg");
  assert_null(tg_sub(b, b));
  assert_error_names("sub");
  assert_null(tg_mean(b));
  assert_error_names("mean");
  assert_null(tg_requires_grad_(tg_ones(TG_BOOL, TG_SHAPE(2)), true));
  assert_non_null(strstr(tg_last_error(), "bool"));
  assert_error_names("requires_grad_");
  assert_null(tg_to_dtype(b, (tg_dtype)4));
  assert_error_names("to_dtype");
}

/* ------------------------------------------------------- safetensors */

/* safetensors' "BOOL": one byte per element, written and read back; a
 * strided bool view is written contiguous */
static void test_bool_safetensors_roundtrip(void **state) {
  (void)state;
  char path[] = "/tmp/tg-bool-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  tg_tensor *m = tg_t(tg_from_bool(TG_SHAPE(2, 3), (const bool[]){1, 0, 0, 1, 1, 0}));
  tg_tensor *w = tg_ones(TG_FLOAT32, TG_SHAPE(2));
  const char *names[2] = {"mask", "w"};
  assert_int_equal(tg_save_safetensors(path, 2, names, (tg_tensor *[]){m, w}, NULL, 0), 0);
  tg_checkpoint *ck = tg_checkpoint_read(path);
  assert_non_null(ck);
  tg_tensor *back = tg_checkpoint_find(ck, "mask");
  assert_non_null(back);
  assert_int_equal(back->dtype, TG_BOOL);
  assert_true(tg_same_shape(back, m));
  for (size_t i = 0; i < 6; i++) assert_true(tg_get_flat(back, i) == tg_get_flat(m, i));
  tg_tensor *into = tg_zeros(TG_BOOL, TG_SHAPE(3, 2));
  assert_int_equal(tg_load_safetensors_into(path, 1, names, &into), 0);
  for (size_t i = 0; i < 6; i++) assert_true(tg_get_flat(into, i) == tg_get_flat(m, i));
  tg_checkpoint_free(ck);
  /* the header names the dtype as safetensors does */
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char buf[512] = {0};
  size_t got = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  assert_true(got > 8);
  assert_non_null(memmem(buf + 8, got - 8, "\"dtype\":\"BOOL\"", 14));
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_compare_broadcast_all_dtypes),
      TG_TEST(test_compare_noncontiguous),
      TG_TEST(test_compare_scalar_rules),
      TG_TEST(test_compare_errors),
      TG_TEST(test_isnan_isinf_isfinite),
      TG_TEST(test_logical_mixed_dtypes),
      TG_TEST(test_any_all_dims),
      TG_TEST(test_where_values),
      TG_TEST(test_where_grad),
      TG_TEST(test_masked_fill), TG_TEST(test_masked_fill_float32_overflow),
      TG_TEST(test_masked_select),
      TG_TEST(test_nonzero),
      TG_TEST(test_to_dtype_bool),
      TG_TEST(test_bool_safetensors_roundtrip),
  };
  int rc = cmocka_run_group_tests_name("ops_bool", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
