/* bmm/mv/addmm/baddbmm, movedim/swapaxes/swapdims, take_along_dim and
 * index_fill: forward values against loops written here, float64
 * gradcheck/gradgradcheck on random shapes with non-contiguous (transposed,
 * expanded) inputs, PyTorch's shape rules and errors naming the op. */
#include <math.h>
#include <string.h>

#include "tg_test.h"

static void assert_err(const tg_tensor *t, const char *a, const char *b) {
  if (t) fail_msg("expected an error with '%s' / '%s', got a result", a, b ? b : "");
  const char *e = tg_last_error();
  if (!strstr(e, a) || (b && !strstr(e, b))) fail_msg("error '%s' lacks '%s' / '%s'", e, a, b ? b : "");
  tg_clear_error();
}

static size_t rdim(tg_rng *r) { return 1 + (size_t)(tg_rng_uniform(r) * 3.99); }

/* ------------------------------------------------------------ products */

typedef struct {
  int which; /* 0 bmm, 1 mv, 2 addmm, 3 baddbmm */
  double beta, alpha;
} prod_ctx;

/* the second operand arrives transposed (non-contiguous) */
static tg_tensor *f_prod(tg_tensor **in, void *c) {
  const prod_ctx *p = c;
  switch (p->which) {
  case 0: return tg_bmm(in[0], tg_transpose(in[1], 1, 2));
  case 1: return tg_mv(tg_transpose(in[0], 0, 1), in[1]);
  case 2: return tg_addmm(in[0], in[1], tg_transpose(in[2], 0, 1), p->beta, p->alpha);
  default: return tg_baddbmm(in[0], in[1], tg_transpose(in[2], 1, 2), p->beta, p->alpha);
  }
}

/* out[b, i, j] = sum_k a[b, i, k] * bt[b, j, k] with a 2-D case as b = 1 */
static double dot_at(const tg_tensor *a, const tg_tensor *bt, size_t b, size_t i, size_t j, bool batched) {
  double s = 0;
  size_t k_len = a->shape[a->ndim - 1];
  for (size_t k = 0; k < k_len; k++) {
    size_t ia[3] = {b, i, k}, ib[3] = {b, j, k};
    s += tg_get(a, batched ? ia : ia + 1) * tg_get(bt, batched ? ib : ib + 1);
  }
  return s;
}

static void test_products(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 3);
  for (int rep = 0; rep < 4; rep++) {
    size_t b = rdim(&r), n = rdim(&r), k = rdim(&r), p = rdim(&r);
    tg_tensor *a3 = test_leaf(&r, TG_SHAPE(b, n, k)), *bt3 = test_leaf(&r, TG_SHAPE(b, p, k));
    tg_tensor *a2 = test_leaf(&r, TG_SHAPE(n, k)), *bt2 = test_leaf(&r, TG_SHAPE(p, k));
    tg_tensor *at = test_leaf(&r, TG_SHAPE(k, n)), *v = test_leaf(&r, TG_SHAPE(k));
    tg_tensor *in2 = test_leaf(&r, TG_SHAPE(p)), *in3 = test_leaf(&r, TG_SHAPE(1, n, p));
    prod_ctx c[4] = {{0, 1, 1}, {1, 1, 1}, {2, 0.5, -1.5}, {3, -2, 0.75}};
    tg_tensor *ins[4][3] = {{a3, bt3}, {at, v}, {in2, a2, bt2}, {in3, a3, bt3}};
    int n_in[4] = {2, 2, 3, 3};
    for (int w = 0; w < 4; w++) {
      tg_tensor *y = f_prod(ins[w], &c[w]);
      assert_non_null(y);
      for (size_t bb = 0; bb < (w == 0 || w == 3 ? b : 1); bb++)
        for (size_t i = 0; i < n; i++)
          for (size_t j = 0; j < (w == 1 ? 1 : p); j++) {
            double want, got;
            if (w == 1) {
              want = 0;
              for (size_t kk = 0; kk < k; kk++) want += tg_get(at, (size_t[]){kk, i}) * tg_get(v, (size_t[]){kk});
              got = tg_get(y, (size_t[]){i});
            } else if (w == 0 || w == 3) {
              want = dot_at(a3, bt3, bb, i, j, true);
              if (w == 3) want = c[w].alpha * want + c[w].beta * tg_get(in3, (size_t[]){0, i, j});
              got = tg_get(y, (size_t[]){bb, i, j});
            } else {
              want = c[w].alpha * dot_at(a2, bt2, 0, i, j, false) + c[w].beta * tg_get(in2, (size_t[]){j});
              got = tg_get(y, (size_t[]){i, j});
            }
            assert_close(got, want, 1e-12);
          }
      assert_gradcheck(f_prod, n_in[w], ins[w], &c[w]);
      assert_gradgradcheck(f_prod, n_in[w], ins[w], &c[w]);
    }
  }
}

/* beta 0: input ignored, NaN and inf in it too, with a zero gradient */
static void test_beta_zero(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 4);
  tg_tensor *in = tg_requires_grad_(tg_full(TG_FLOAT64, TG_SHAPE(2, 3), NAN), true);
  tg_tensor *in3 = tg_requires_grad_(tg_full(TG_FLOAT64, TG_SHAPE(3), INFINITY), true);
  tg_tensor *m1 = test_leaf(&r, TG_SHAPE(2, 4)), *m2 = test_leaf(&r, TG_SHAPE(4, 3));
  tg_tensor *b1 = test_leaf(&r, TG_SHAPE(2, 2, 4)), *b2 = test_leaf(&r, TG_SHAPE(2, 4, 3));
  tg_tensor *y = tg_addmm(in, m1, m2, 0.0, 2.0), *mm = tg_matmul(m1, m2);
  tg_tensor *z = tg_baddbmm(in3, b1, b2, 0.0, 1.0), *bm = tg_matmul(b1, b2);
  for (size_t i = 0; i < y->numel; i++) assert_close(tg_get_flat(y, i), 2 * tg_get_flat(mm, i), 1e-12);
  for (size_t i = 0; i < z->numel; i++) assert_close(tg_get_flat(z, i), tg_get_flat(bm, i), 1e-12);
  assert_int_equal(tg_backward(tg_add(tg_sum(y), tg_sum(z)), NULL, false), 0);
  for (size_t i = 0; i < in->numel; i++) assert_true(tg_get_flat(in->grad, i) == 0.0);
  for (size_t i = 0; i < in3->numel; i++) assert_true(tg_get_flat(in3->grad, i) == 0.0);
}

static void test_product_errors(void **state) {
  (void)state;
  tg_tensor *m23 = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3)), *m34 = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 4));
  tg_tensor *b234 = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3, 4)), *b145 = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 4, 5));
  tg_tensor *b245 = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 4, 5)), *v3 = tg_zeros(TG_FLOAT64, TG_SHAPE(3));
  tg_tensor *f32 = tg_zeros(TG_FLOAT32, TG_SHAPE(3, 4)), *i64 = tg_zeros(TG_INT64, TG_SHAPE(3, 4));
  assert_err(tg_bmm(m23, m34), "bmm", "3D");
  assert_err(tg_bmm(b234, m34), "bmm", "argument 2");
  assert_err(tg_bmm(b234, b145), "bmm", "batch sizes"); /* no broadcasting, as torch */
  assert_err(tg_bmm(b234, b234), "bmm", "cannot be multiplied");
  assert_non_null(tg_bmm(b234, b245));
  assert_err(tg_mv(m23, tg_zeros(TG_FLOAT64, TG_SHAPE(2))), "mv", "cannot be multiplied");
  assert_err(tg_mv(m23, m34), "mv", "1D");
  assert_err(tg_mv(v3, v3), "mv", "2D");
  assert_non_null(tg_mv(m23, v3));
  assert_err(tg_addmm(tg_zeros(TG_FLOAT64, TG_SHAPE(3, 4)), m23, m34, 1, 1), "addmm", "expanded");
  assert_err(tg_addmm(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 2, 4)), m23, m34, 1, 1), "addmm", "expanded");
  assert_non_null(tg_addmm(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 1)), m23, m34, 1, 1));
  assert_non_null(tg_addmm(tg_zeros(TG_FLOAT64, 0, NULL), m23, m34, 1, 1));
  assert_err(tg_addmm(v3, m23, f32, 1, 1), "addmm", "dtypes");
  assert_err(tg_addmm(v3, m23, i64, 1, 1), "addmm", "dtypes");
  assert_err(tg_addmm(v3, m23, tg_zeros(TG_BOOL, TG_SHAPE(3, 4)), 1, 1), "addmm", "argument 3 is bool");
  assert_err(tg_addmm(v3, m23, m23, 1, 1), "addmm", "cannot be multiplied");
  assert_err(tg_addmm(v3, b234, m34, 1, 1), "addmm", "2D");
  assert_err(tg_baddbmm(v3, b234, b145, 1, 1), "baddbmm", "batch sizes");
  assert_err(tg_baddbmm(tg_zeros(TG_FLOAT64, TG_SHAPE(3, 3, 5)), b234, b245, 1, 1), "baddbmm", "expanded");
  assert_err(tg_baddbmm(v3, m23, m34, 1, 1), "baddbmm", "3D");
  assert_non_null(tg_baddbmm(tg_zeros(TG_FLOAT64, TG_SHAPE(3, 1)), b234, b245, 1, 1));
}

/* ----------------------------------------------------------- dim moves */

static tg_tensor *f_movedim(tg_tensor **in, void *c) {
  (void)c;
  return tg_movedim(tg_transpose(in[0], 0, 2), 2, (const int[]){0, -1}, (const int[]){-1, 1});
}

static void test_movedim(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 5);
  tg_tensor *a = test_leaf(&r, TG_SHAPE(2, 3, 4, 5));
  /* src (0, 3) -> dst (3, 1): the rest (1, 2) fill places 0 and 2 */
  tg_tensor *m = tg_movedim(a, 2, (const int[]){0, -1}, (const int[]){-1, 1});
  assert_non_null(m);
  size_t want[4] = {3, 5, 4, 2};
  for (int d = 0; d < 4; d++) assert_int_equal(m->shape[d], want[d]);
  assert_true(m->storage == a->storage); /* a view */
  for (size_t i = 0; i < 2; i++)
    for (size_t j = 0; j < 3; j++)
      for (size_t k = 0; k < 4; k++)
        for (size_t l = 0; l < 5; l++)
          assert_true(tg_get(m, (size_t[]){j, l, k, i}) == tg_get(a, (size_t[]){i, j, k, l}));
  tg_tensor *one = tg_movedim(a, 1, (const int[]){1}, (const int[]){0});
  assert_int_equal(one->shape[0], 3);
  assert_int_equal(one->shape[1], 2);
  assert_int_equal(tg_movedim(a, 0, NULL, NULL)->shape[3], 5);
  tg_tensor *s0 = tg_movedim(tg_full(TG_FLOAT64, 0, NULL, 2.0), 1, (const int[]){-1}, (const int[]){0});
  assert_int_equal(s0->ndim, 0);
  tg_tensor *sw = tg_swapaxes(a, 0, -1), *sd = tg_swapdims(a, 1, 2);
  assert_int_equal(sw->shape[0], 5);
  assert_int_equal(sw->shape[3], 2);
  assert_int_equal(sd->shape[1], 4);
  assert_true(tg_get(sd, (size_t[]){1, 3, 2, 4}) == tg_get(a, (size_t[]){1, 2, 3, 4}));
  tg_tensor *in[1] = {test_leaf(&r, TG_SHAPE(3, 2, 4))};
  assert_gradcheck(f_movedim, 1, in, NULL);
  assert_gradgradcheck(f_movedim, 1, in, NULL);
  assert_err(tg_movedim(a, 2, (const int[]){0, 0}, (const int[]){1, 2}), "movedim", "repeated");
  assert_err(tg_movedim(a, 2, (const int[]){0, 1}, (const int[]){2, -2}), "movedim", "repeated");
  assert_err(tg_movedim(a, 1, (const int[]){4}, (const int[]){0}), "movedim", "out of range");
  assert_err(tg_movedim(a, 5, (const int[]){0, 1, 2, 3, 0}, (const int[]){0, 1, 2, 3, 0}), "movedim", NULL);
  assert_err(tg_movedim(a, 1, NULL, (const int[]){0}), "movedim", "NULL");
  assert_err(tg_swapaxes(a, 0, 4), "swapaxes", "out of range");
  assert_err(tg_swapdims(a, -5, 0), "swapdims", "out of range");
}

/* ------------------------------------------------------- take_along_dim */

static tg_tensor *idx_tensor(int ndim, const size_t *shape, const int64_t *v) { return tg_from_i64(ndim, shape, v); }

static tg_tensor *g_index;
static tg_tensor *f_take(tg_tensor **in, void *c) {
  (void)c;
  return tg_take_along_dim(tg_transpose(in[0], 0, 1), g_index, 1);
}

static void test_take_along_dim(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 6);
  tg_tensor *a = test_leaf(&r, TG_SHAPE(3, 4)); /* the op sees [4, 3] */
  /* index [1, 2] broadcasts over the 4 rows */
  g_index = idx_tensor(TG_SHAPE(1, 2), (const int64_t[]){2, 0});
  tg_tensor *y = f_take((tg_tensor *[]){a}, NULL);
  assert_int_equal(y->shape[0], 4);
  assert_int_equal(y->shape[1], 2);
  for (size_t i = 0; i < 4; i++) {
    assert_true(tg_get(y, (size_t[]){i, 0}) == tg_get(a, (size_t[]){2, i}));
    assert_true(tg_get(y, (size_t[]){i, 1}) == tg_get(a, (size_t[]){0, i}));
  }
  tg_tensor *in[1] = {a};
  assert_gradcheck(f_take, 1, in, NULL);
  assert_gradgradcheck(f_take, 1, in, NULL);
  /* input broadcast: a [1, 3] against an index [2, 2]; repeated indices */
  tg_tensor *row = test_leaf(&r, TG_SHAPE(1, 3));
  g_index = idx_tensor(TG_SHAPE(2, 2), (const int64_t[]){1, 1, 0, 2});
  tg_tensor *z = tg_take_along_dim(row, g_index, -1);
  assert_int_equal(z->shape[0], 2);
  assert_true(tg_get(z, (size_t[]){1, 1}) == tg_get(row, (size_t[]){0, 2}));
  g_index = idx_tensor(TG_SHAPE(3, 2), (const int64_t[]){1, 1, 0, 2, 3, 0});
  tg_tensor *in2[1] = {test_leaf(&r, TG_SHAPE(4, 1))}; /* seen as [1, 4]: broadcast to 3 rows */
  assert_gradcheck(f_take, 1, in2, NULL);
  assert_gradgradcheck(f_take, 1, in2, NULL);
  assert_err(tg_take_along_dim(a, idx_tensor(TG_SHAPE(2), (const int64_t[]){0, 1}), 0), "take_along_dim",
             "same number of dimensions");
  assert_err(tg_take_along_dim(a, tg_zeros(TG_FLOAT64, TG_SHAPE(1, 1)), 0), "take_along_dim", "int64");
  assert_err(tg_take_along_dim(a, idx_tensor(TG_SHAPE(1, 1), (const int64_t[]){3}), 0), "out of bounds", NULL);
  assert_err(tg_take_along_dim(a, idx_tensor(TG_SHAPE(1, 1), (const int64_t[]){-1}), 0), "out of bounds", NULL);
  assert_err(tg_take_along_dim(a, idx_tensor(TG_SHAPE(2, 2), (const int64_t[]){0, 0, 0, 0}), 0), "take_along_dim", NULL);
  assert_err(tg_take_along_dim(a, g_index, 2), "take_along_dim", "out of range");
}

/* ----------------------------------------------------------- index_fill */

static tg_tensor *f_fill(tg_tensor **in, void *c) {
  (void)c;
  return tg_index_fill(tg_transpose(in[0], 0, 1), 1, g_index, 7.5);
}

static void test_index_fill(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 7);
  tg_tensor *a = test_leaf(&r, TG_SHAPE(4, 3)); /* seen as [3, 4]: columns 0 and 3 (-1) filled */
  g_index = idx_tensor(TG_SHAPE(2), (const int64_t[]){-1, 0});
  tg_tensor *y = f_fill((tg_tensor *[]){a}, NULL);
  for (size_t i = 0; i < 3; i++)
    for (size_t j = 0; j < 4; j++)
      assert_true(tg_get(y, (size_t[]){i, j}) == (j == 0 || j == 3 ? 7.5 : tg_get(a, (size_t[]){j, i})));
  tg_tensor *in[1] = {a};
  assert_gradcheck(f_fill, 1, in, NULL);
  assert_gradgradcheck(f_fill, 1, in, NULL);
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  for (size_t i = 0; i < 3; i++)
    for (size_t j = 0; j < 4; j++) assert_true(tg_get(a->grad, (size_t[]){j, i}) == (j == 0 || j == 3 ? 0.0 : 1.0));
  /* a 0-d index, a 0-d input, int64 input */
  tg_tensor *s = tg_index_fill(a, 0, tg_full(TG_INT64, 0, NULL, 2), -1);
  assert_true(tg_get(s, (size_t[]){2, 1}) == -1 && tg_get(s, (size_t[]){1, 1}) == tg_get(a, (size_t[]){1, 1}));
  assert_true(tg_item(tg_index_fill(tg_full(TG_FLOAT64, 0, NULL, 3), -1, tg_full(TG_INT64, 0, NULL, -1), 1)) == 1);
  tg_tensor *ii = tg_index_fill(tg_zeros(TG_INT64, TG_SHAPE(3)), 0, tg_full(TG_INT64, 0, NULL, 1), 4);
  assert_int_equal(ii->dtype, TG_INT64);
  assert_true(tg_get_flat(ii, 1) == 4 && tg_get_flat(ii, 0) == 0);
  assert_err(tg_index_fill(a, 0, idx_tensor(TG_SHAPE(1), (const int64_t[]){4}), 0), "index_fill", "out of bounds");
  assert_err(tg_index_fill(a, 0, idx_tensor(TG_SHAPE(1), (const int64_t[]){-5}), 0), "index_fill", "out of bounds");
  assert_err(tg_index_fill(a, 2, g_index, 0), "index_fill", "out of range");
  assert_err(tg_index_fill(a, 0, tg_zeros(TG_INT64, TG_SHAPE(1, 1)), 0), "index_fill", "1-D");
  assert_err(tg_index_fill(a, 0, tg_zeros(TG_FLOAT64, TG_SHAPE(1)), 0), "index_fill", "int64");
}

/* -------------------------------------------------- scatter/scatter_value */

static tg_tensor *f_scatter(tg_tensor **in, void *c) {
  (void)c; /* a arrives transposed: [3, 4] seen as [4, 3] */
  return tg_scatter(tg_transpose(in[0], 0, 1), 1, g_index, in[1]);
}
static tg_tensor *f_scatter_value(tg_tensor **in, void *c) {
  (void)c;
  return tg_scatter_value(tg_transpose(in[0], 0, 1), 0, g_index, -2.5);
}

static void test_scatter(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 8);
  tg_tensor *a = test_leaf(&r, TG_SHAPE(3, 4)), *src = test_leaf(&r, TG_SHAPE(2, 3));
  /* rows 0, 1 of the [4, 3] view: out[i, index[i, j]] = src[i, j]; src is
   * larger than the index ([2, 3] against [2, 2]): its column 2 unused */
  g_index = idx_tensor(TG_SHAPE(2, 2), (const int64_t[]){2, 0, 1, 2});
  tg_tensor *y = f_scatter((tg_tensor *[]){a, src}, NULL);
  assert_non_null(y);
  double want[4][3];
  for (size_t i = 0; i < 4; i++)
    for (size_t j = 0; j < 3; j++) want[i][j] = tg_get(a, (size_t[]){j, i});
  want[0][2] = tg_get(src, (size_t[]){0, 0});
  want[0][0] = tg_get(src, (size_t[]){0, 1});
  want[1][1] = tg_get(src, (size_t[]){1, 0});
  want[1][2] = tg_get(src, (size_t[]){1, 1});
  for (size_t i = 0; i < 4; i++)
    for (size_t j = 0; j < 3; j++) assert_true(tg_get(y, (size_t[]){i, j}) == want[i][j]);
  tg_tensor *in[2] = {a, src};
  assert_gradcheck(f_scatter, 2, in, NULL);
  assert_gradgradcheck(f_scatter, 2, in, NULL);
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  assert_true(tg_get(a->grad, (size_t[]){2, 0}) == 0 && tg_get(a->grad, (size_t[]){1, 0}) == 1);
  assert_true(tg_get(src->grad, (size_t[]){0, 2}) == 0 && tg_get(src->grad, (size_t[]){1, 1}) == 1);
  /* scatter_value along dim 0 of the [4, 3] view */
  g_index = idx_tensor(TG_SHAPE(1, 3), (const int64_t[]){3, 0, 3});
  tg_tensor *z = f_scatter_value((tg_tensor *[]){a}, NULL);
  assert_true(tg_get(z, (size_t[]){3, 0}) == -2.5 && tg_get(z, (size_t[]){0, 1}) == -2.5);
  assert_true(tg_get(z, (size_t[]){0, 0}) == tg_get(a, (size_t[]){0, 0}));
  assert_gradcheck(f_scatter_value, 1, in, NULL);
  assert_gradgradcheck(f_scatter_value, 1, in, NULL);
  /* repeated targets: the last write stays */
  tg_tensor *rep = tg_scatter(tg_zeros(TG_FLOAT64, TG_SHAPE(3)), 0, idx_tensor(TG_SHAPE(2), (const int64_t[]){1, 1}),
                              tg_from_f64(TG_SHAPE(2), (const double[]){4, 5}));
  assert_true(tg_get_flat(rep, 1) == 5 && tg_get_flat(rep, 0) == 0);
  tg_tensor *s0 = tg_scatter_value(tg_full(TG_FLOAT64, 0, NULL, 1), 0, tg_zeros(TG_INT64, 0, NULL), 3);
  assert_true(s0->ndim == 0 && tg_item(s0) == 3);
  /* errors, as torch: negative and too large indices, an index wider than a */
  tg_tensor *a2 = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3)), *s23 = tg_ones(TG_FLOAT64, TG_SHAPE(2, 3));
  assert_err(tg_scatter(a2, 1, idx_tensor(TG_SHAPE(1, 1), (const int64_t[]){-1}), s23), "scatter", "out of bounds");
  assert_err(tg_scatter_value(a2, 0, idx_tensor(TG_SHAPE(1, 1), (const int64_t[]){2}), 1), "scatter", "out of bounds");
  assert_err(tg_scatter(a2, 0, tg_zeros(TG_INT64, TG_SHAPE(1, 4)), s23), "scatter", "does not fit");
  assert_err(tg_scatter(a2, 0, tg_zeros(TG_INT64, TG_SHAPE(2)), s23), "scatter", "does not fit");
  assert_err(tg_scatter(a2, 2, tg_zeros(TG_INT64, TG_SHAPE(1, 1)), s23), "scatter", "out of range");
  assert_err(tg_scatter(a2, 0, tg_zeros(TG_FLOAT64, TG_SHAPE(1, 1)), s23), "scatter", "int64");
  assert_err(tg_scatter(a2, 0, tg_zeros(TG_INT64, TG_SHAPE(1, 1)), tg_ones(TG_FLOAT32, TG_SHAPE(2, 3))), "scatter",
             "dtypes");
}

/* ------------------------------------------------------------ index_put */

static tg_tensor *g_rows, *g_cols;
static bool g_acc;
/* a arrives transposed ([4, 3] seen as [3, 4]); values [2] broadcast */
static tg_tensor *f_put(tg_tensor **in, void *c) {
  (void)c;
  return tg_index_put(tg_transpose(in[0], 0, 1), 2, (tg_tensor *[]){g_rows, g_cols}, in[1], g_acc);
}

static void test_index_put(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 9);
  tg_tensor *a = test_leaf(&r, TG_SHAPE(4, 3)), *v = test_leaf(&r, TG_SHAPE(2));
  /* rows [2, 1] x cols [1]: places (0, -1 -> 3) (2, 3)... with [2, 1] and [2] broadcast to [2, 2] */
  g_rows = idx_tensor(TG_SHAPE(2, 1), (const int64_t[]){0, -1});
  g_cols = idx_tensor(TG_SHAPE(2), (const int64_t[]){3, 1});
  for (int acc = 0; acc < 2; acc++) {
    g_acc = acc;
    tg_tensor *y = f_put((tg_tensor *[]){a, v}, NULL);
    assert_non_null(y);
    for (size_t i = 0; i < 3; i++)
      for (size_t j = 0; j < 4; j++) {
        double want = tg_get(a, (size_t[]){j, i});
        bool hit = (i == 0 || i == 2) && (j == 3 || j == 1);
        double val = tg_get(v, (size_t[]){j == 3 ? 0 : 1});
        if (hit) want = acc ? want + val : val;
        assert_close(tg_get(y, (size_t[]){i, j}), want, 1e-15);
      }
    tg_tensor *in[2] = {a, v};
    assert_gradcheck(f_put, 2, in, NULL);
    assert_gradgradcheck(f_put, 2, in, NULL);
  }
  /* one index over a [3, 2] input: whole rows; accumulate with a repeat */
  tg_tensor *b = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 2));
  tg_tensor *rows = tg_index_put(b, 1, (tg_tensor *[]){idx_tensor(TG_SHAPE(3), (const int64_t[]){2, 0, 2})},
                                 tg_from_f64(TG_SHAPE(2), (const double[]){1, 2}), true);
  assert_true(tg_get(rows, (size_t[]){2, 1}) == 4 && tg_get(rows, (size_t[]){0, 0}) == 1 &&
              tg_get(rows, (size_t[]){1, 1}) == 0);
  tg_tensor *last = tg_index_put(b, 1, (tg_tensor *[]){idx_tensor(TG_SHAPE(2), (const int64_t[]){1, 1})},
                                 tg_from_f64(TG_SHAPE(2, 1), (const double[]){5, 6}), false);
  assert_true(tg_get(last, (size_t[]){1, 0}) == 6);
  tg_tensor *i2 = idx_tensor(TG_SHAPE(1), (const int64_t[]){0});
  assert_err(tg_index_put(b, 1, (tg_tensor *[]){idx_tensor(TG_SHAPE(1), (const int64_t[]){3})}, v, false),
             "index_put", "out of bounds");
  assert_err(tg_index_put(b, 1, (tg_tensor *[]){idx_tensor(TG_SHAPE(1), (const int64_t[]){-4})}, v, false),
             "index_put", "out of bounds");
  assert_err(tg_index_put(b, 3, (tg_tensor *[]){i2, i2, i2}, v, false), "index_put",
             "too many indices for tensor of dimension 2 (got 3)");
  assert_err(tg_index_put(b, 0, NULL, v, false), "index_put", "index tensors");
  assert_err(tg_index_put(b, 1, NULL, v, false), "index_put", "NULL");
  assert_err(tg_index_put(b, 1, (tg_tensor *[]){tg_zeros(TG_FLOAT64, TG_SHAPE(1))}, v, false), "index_put", "int64");
  assert_err(tg_index_put(b, 1, (tg_tensor *[]){i2}, tg_zeros(TG_FLOAT64, TG_SHAPE(3)), false), "index_put",
             "shape mismatch");
  assert_err(tg_index_put(b, 1, (tg_tensor *[]){i2}, tg_zeros(TG_FLOAT64, TG_SHAPE(2, 1, 2)), false), "index_put",
             "shape mismatch");
  assert_err(tg_index_put(b, 1, (tg_tensor *[]){i2}, tg_zeros(TG_FLOAT32, TG_SHAPE(2)), false), "index_put", "dtype");
  assert_err(tg_index_put(b, 2, (tg_tensor *[]){tg_zeros(TG_INT64, TG_SHAPE(3)), tg_zeros(TG_INT64, TG_SHAPE(2))}, v, false), "index_put",
             "broadcast");
}

/* --------------------------------------------- take_along_dim dim=None */

static tg_tensor *f_take_flat(tg_tensor **in, void *c) {
  (void)c; /* the op sees the transpose: flattened in its logical order */
  return tg_take_along_dim_flat(tg_transpose(in[0], 0, 1), g_index);
}

static void test_take_along_dim_flat(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 14);
  tg_tensor *a = test_leaf(&r, TG_SHAPE(3, 4)); /* seen as [4, 3] */
  const int64_t iv[6] = {11, 0, 5, 5, 7, 2};
  g_index = idx_tensor(TG_SHAPE(2, 3), iv);
  tg_tensor *y = f_take_flat((tg_tensor *[]){a}, NULL);
  assert_non_null(y);
  assert_int_equal(y->ndim, 1);
  assert_int_equal(y->shape[0], 6);
  for (size_t k = 0; k < 6; k++) /* element f of the [4, 3] view is a[f % 3][f / 3] */
    assert_true(tg_get(y, (size_t[]){k}) == tg_get(a, (size_t[]){(size_t)iv[k] % 3, (size_t)iv[k] / 3}));
  tg_tensor *in[1] = {a};
  assert_gradcheck(f_take_flat, 1, in, NULL);
  assert_gradgradcheck(f_take_flat, 1, in, NULL);
  /* a 0-d input is one element; a 0-d index gives a [1] result */
  tg_tensor *s = tg_scalar(TG_FLOAT64, 2.5);
  tg_tensor *z = tg_take_along_dim_flat(s, idx_tensor(TG_SHAPE(1, 2), (const int64_t[]){0, 0}));
  assert_true(z && z->ndim == 1 && z->shape[0] == 2 && tg_get(z, (size_t[]){1}) == 2.5);
  z = tg_take_along_dim_flat(a, tg_from_i64(0, NULL, (const int64_t[]){4}));
  assert_true(z && z->ndim == 1 && tg_get(z, (size_t[]){0}) == tg_get(a, (size_t[]){1, 0}));
  /* ranks need not agree, and int64 inputs are taken as they are */
  tg_tensor *ia = tg_from_i64(TG_SHAPE(2, 2), (const int64_t[]){INT64_MAX, -3, 9007199254740993, 4});
  tg_tensor *iy = tg_take_along_dim_flat(ia, idx_tensor(TG_SHAPE(3), (const int64_t[]){2, 0, 1}));
  assert_true(iy && iy->dtype == TG_INT64 && iy->grad_fn == NULL);
  assert_true(((const int64_t *)tg_data(iy))[0] == 9007199254740993 && ((const int64_t *)tg_data(iy))[1] == INT64_MAX);
  assert_err(tg_take_along_dim_flat(a, idx_tensor(TG_SHAPE(1), (const int64_t[]){12})), "out of bounds", NULL);
  assert_err(tg_take_along_dim_flat(a, idx_tensor(TG_SHAPE(1), (const int64_t[]){-1})), "out of bounds", NULL);
  assert_err(tg_take_along_dim_flat(a, tg_zeros(TG_FLOAT64, TG_SHAPE(1))), "take_along_dim", "int64");
  assert_err(tg_take_along_dim_flat(tg_zeros(TG_BOOL, TG_SHAPE(2)), g_index), "take_along_dim", "bool");
}

/* ------------------------------------------------- index_put, bool mask */

static tg_tensor *g_mask;
static tg_tensor *f_put_mask(tg_tensor **in, void *c) {
  (void)c; /* a arrives transposed: [4, 3] seen as [3, 4] */
  return tg_index_put(tg_transpose(in[0], 0, 1), 1, &g_mask, in[1], g_acc);
}

static void test_index_put_mask(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 15);
  tg_tensor *a = test_leaf(&r, TG_SHAPE(4, 3)), *row = test_leaf(&r, TG_SHAPE(4));
  g_mask = tg_from_bool(TG_SHAPE(3), (const bool[]){1, 0, 1});
  for (int acc = 0; acc < 2; acc++) {
    g_acc = acc; /* rows 0 and 2 get row (broadcast over the 2 masked rows) */
    tg_tensor *y = f_put_mask((tg_tensor *[]){a, row}, NULL);
    assert_non_null(y);
    for (size_t i = 0; i < 3; i++)
      for (size_t j = 0; j < 4; j++) {
        double want = tg_get(a, (size_t[]){j, i}), v = tg_get(row, (size_t[]){j});
        if (i != 1) want = acc ? want + v : v;
        assert_close(tg_get(y, (size_t[]){i, j}), want, 1e-15);
      }
    tg_tensor *in[2] = {a, row};
    assert_gradcheck(f_put_mask, 2, in, NULL);
    assert_gradgradcheck(f_put_mask, 2, in, NULL);
  }
  /* a 2-D mask over all dims: values in the mask's row-major order */
  tg_tensor *b = tg_from_f64(TG_SHAPE(2, 3), (const double[]){0, 1, 2, 3, 4, 5});
  tg_tensor *m2 = tg_gt_scalar(b, 1.5); /* 2 3 4 5 */
  tg_tensor *y2 = tg_index_put(b, 1, &m2, tg_from_f64(TG_SHAPE(4), (const double[]){-1, -2, -3, -4}), false);
  const double want2[6] = {0, 1, -1, -2, -3, -4};
  for (size_t k = 0; k < 6; k++) assert_true(tg_get_flat(y2, k) == want2[k]);
  /* a mask then an int64 index: the nonzero rows [0, 2] broadcast with [1] */
  tg_tensor *c = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 4));
  tg_tensor *mixed[2] = {g_mask, idx_tensor(TG_SHAPE(1), (const int64_t[]){-1})};
  tg_tensor *y3 = tg_index_put(c, 2, mixed, tg_from_f64(TG_SHAPE(2), (const double[]){7, 8}), true);
  assert_true(tg_get(y3, (size_t[]){0, 3}) == 7 && tg_get(y3, (size_t[]){2, 3}) == 8 && tg_sum(y3)->numel == 1 &&
              tg_item(tg_sum(y3)) == 15);
  /* an all-false mask writes nothing; values must then fit [0, 4] */
  tg_tensor *none = tg_zeros(TG_BOOL, TG_SHAPE(3));
  tg_tensor *y4 = tg_index_put(c, 1, &none, tg_scalar(TG_FLOAT64, 1), false);
  assert_true(y4 && tg_item(tg_sum(y4)) == 0);
  assert_err(tg_index_put(c, 1, &none, tg_zeros(TG_FLOAT64, TG_SHAPE(2)), false), "index_put", "shape mismatch");
  /* int64 input and values */
  tg_tensor *ic = tg_zeros(TG_INT64, TG_SHAPE(3, 4));
  tg_tensor *y5 = tg_index_put(ic, 1, &g_mask, tg_from_i64(TG_SHAPE(4), (const int64_t[]){1, 2, 3, 9007199254740993}), true);
  assert_true(y5 && y5->dtype == TG_INT64 && ((const int64_t *)tg_data(y5))[11] == 9007199254740993 &&
              ((const int64_t *)tg_data(y5))[4] == 0);
  assert_err(tg_index_put(c, 1, (tg_tensor *[]){tg_zeros(TG_BOOL, TG_SHAPE(2))}, row, false), "index_put",
             "the shape of the mask [2] at index 0 does not match the shape of the indexed tensor [3,4] at index 0");
  assert_err(tg_index_put(c, 1, (tg_tensor *[]){tg_zeros(TG_BOOL, TG_SHAPE(3, 3))}, row, false), "index_put",
             "at index 1 does not match");
  assert_err(tg_index_put(c, 1, (tg_tensor *[]){tg_zeros(TG_BOOL, TG_SHAPE(3, 4, 1))}, row, false), "index_put",
             "too many indices for tensor of dimension 2 (got 3)");
  assert_err(tg_index_put(c, 2, (tg_tensor *[]){tg_zeros(TG_BOOL, TG_SHAPE(3, 4)), mixed[1]}, row, false), "index_put",
             "too many indices");
  assert_err(tg_index_put(c, 1, (tg_tensor *[]){tg_zeros(TG_BOOL, 0, NULL)}, row, false), "index_put", "0-d bool");
  assert_err(tg_index_put(c, 1, (tg_tensor *[]){tg_zeros(TG_FLOAT64, TG_SHAPE(3))}, row, false), "index_put",
             "must be int64 or bool");
  assert_err(tg_index_put(ic, 1, &g_mask, row, false), "index_put", "dtype");
  /* one mask, one value, no accumulate: PyTorch's masked_fill path converts the value */
  tg_tensor *y6 = tg_index_put(c, 1, &g_mask, tg_from_i64(TG_SHAPE(1), (const int64_t[]){3}), false);
  assert_true(y6 && y6->dtype == TG_FLOAT64 && tg_item(tg_sum(y6)) == 24);
  assert_err(tg_index_put(c, 1, &g_mask, tg_from_i64(TG_SHAPE(1), (const int64_t[]){3}), true), "index_put", "dtype");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_products),   TG_TEST(test_beta_zero),      TG_TEST(test_product_errors),
      TG_TEST(test_movedim),    TG_TEST(test_take_along_dim), TG_TEST(test_index_fill),
      TG_TEST(test_scatter),    TG_TEST(test_index_put),      TG_TEST(test_take_along_dim_flat),
      TG_TEST(test_index_put_mask),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
