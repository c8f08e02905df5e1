/* int64 operands, as PyTorch takes them: the products (bmm, mv, addmm,
 * baddbmm, matmul, dot, outer, einsum) and the index ops (scatter, gather,
 * index_select, index_add, take_along_dim, index_put). Exact integer results (beyond 2^53 too),
 * wrapping on overflow, beta/alpha truncated as PyTorch's casts, dtype
 * errors as PyTorch's; expected values from loops here or from torch 1.13. */
#include <math.h>
#include <string.h>

#include "tg_test.h"

static void assert_err(const tg_tensor *t, const char *a, const char *b) {
  if (t) fail_msg("expected an error with '%s' / '%s', got a result", a, b ? b : "");
  const char *e = tg_last_error();
  if (!strstr(e, a) || (b && !strstr(e, b))) fail_msg("error '%s' lacks '%s' / '%s'", e, a, b ? b : "");
  tg_clear_error();
}

static tg_tensor *idx_tensor(int ndim, const size_t *shape, const int64_t *v) { return tg_from_i64(ndim, shape, v); }

static int64_t at(const tg_tensor *t, size_t i) { return ((const int64_t *)tg_data(tg_contiguous((tg_tensor *)t)))[i]; }

/* ------------------------------------------------------------ products */

/* [n, k] @ [k, m] by loops with wrapping sums, as int64 in PyTorch */
static int64_t dot_i64(const tg_tensor *a, const tg_tensor *b, size_t i, size_t j) {
  uint64_t s = 0;
  for (size_t p = 0; p < a->shape[a->ndim - 1]; p++) {
    s += (uint64_t)(int64_t)tg_get(a, (size_t[]){i, p}) * (uint64_t)(int64_t)tg_get(b, (size_t[]){p, j});
  }
  return (int64_t)s;
}

static void test_products_int64(void **state) {
  (void)state;
  const int64_t big = 9007199254740993; /* 2^53 + 1: not a double */
  tg_tensor *a = tg_from_i64(TG_SHAPE(2, 3), (const int64_t[]){1, -2, 3, 4, 5, -6});
  tg_tensor *bt = tg_from_i64(TG_SHAPE(4, 3), (const int64_t[]){1, 2, 3, 4, 5, 6, 7, 8, 9, -1, 0, 2});
  tg_tensor *b = tg_transpose(bt, 0, 1); /* [3, 4], not contiguous */
  tg_tensor *mm = tg_matmul(a, b);
  assert_true(mm && mm->dtype == TG_INT64 && mm->grad_fn == NULL);
  for (size_t i = 0; i < 2; i++)
    for (size_t j = 0; j < 4; j++) assert_true(at(mm, i * 4 + j) == dot_i64(a, b, i, j));
  /* bmm: the same product in a batch of 2 (the second batch negated) */
  tg_tensor *a3 = tg_cat(2, (tg_tensor *[]){tg_unsqueeze(a, 0), tg_unsqueeze(tg_neg(a), 0)}, 0);
  tg_tensor *b3 = tg_expand(tg_unsqueeze(b, 0), TG_SHAPE(2, 3, 4));
  tg_tensor *bm = tg_bmm(a3, b3);
  assert_true(bm && bm->dtype == TG_INT64);
  for (size_t k = 0; k < 8; k++) assert_true(at(bm, k) == at(mm, k) && at(bm, 8 + k) == -at(mm, k));
  /* exact beyond 2^53, and wrapping: (2^62) * 4 = 2^64 = 0 */
  tg_tensor *r = tg_mv(tg_from_i64(TG_SHAPE(2, 2), (const int64_t[]){big, 1, (int64_t)1 << 62, 0}),
                       tg_from_i64(TG_SHAPE(2), (const int64_t[]){1, 2}));
  assert_true(r && at(r, 0) == big + 2 && at(r, 1) == (int64_t)1 << 62);
  tg_tensor *w = tg_mv(tg_from_i64(TG_SHAPE(1, 1), (const int64_t[]){(int64_t)1 << 62}), tg_from_i64(TG_SHAPE(1), (const int64_t[]){4}));
  assert_true(w && at(w, 0) == 0);
  /* addmm/baddbmm: beta and alpha truncated toward 0 (torch 1.13:
   * addmm([[5]], [[2]], [[3]], beta=-0.5, alpha=-1.5) = [[-6]]) */
  tg_tensor *five = tg_from_i64(TG_SHAPE(1, 1), (const int64_t[]){5}), *two = tg_from_i64(TG_SHAPE(1, 1), (const int64_t[]){2});
  tg_tensor *three = tg_from_i64(TG_SHAPE(1, 1), (const int64_t[]){3});
  tg_tensor *am = tg_addmm(five, two, three, -0.5, -1.5);
  assert_true(am && am->dtype == TG_INT64 && at(am, 0) == -6);
  am = tg_addmm(five, two, three, 1.7, 2.5); /* 1 * 5 + 2 * 6 */
  assert_true(am && at(am, 0) == 17);
  tg_tensor *bb = tg_baddbmm(tg_unsqueeze(five, 0), tg_unsqueeze(two, 0), tg_unsqueeze(three, 0), 2.9, 0.5); /* 2 * 5 + 0 */
  assert_true(bb && bb->dtype == TG_INT64 && at(bb, 0) == 10);
  assert_err(tg_addmm(five, two, three, NAN, 1), "addmm", "cannot be converted to type int64");
  assert_err(tg_baddbmm(tg_unsqueeze(five, 0), tg_unsqueeze(two, 0), tg_unsqueeze(three, 0), 1, 1e30), "baddbmm",
             "cannot be converted");
  /* einsum of int64: a product, a diagonal, an ellipsis sum */
  tg_tensor *e = tg_einsum("ij,jk", 2, (tg_tensor *[]){a, b});
  assert_true(e && e->dtype == TG_INT64);
  for (size_t k = 0; k < 8; k++) assert_true(at(e, k) == at(mm, k));
  tg_tensor *sq = tg_from_i64(TG_SHAPE(2, 2), (const int64_t[]){big, 7, 8, -1});
  tg_tensor *tr = tg_einsum("ii", 1, &sq), *sums = tg_einsum("...i->i", 1, &sq);
  assert_true(tr && tr->ndim == 0 && at(tr, 0) == big - 1);
  assert_true(sums && at(sums, 0) == big + 8 && at(sums, 1) == 6);
  /* dot of int64 (one dtype); outer is a product of pairs and promotes, as tg_mul */
  tg_tensor *u = tg_from_i64(TG_SHAPE(2), (const int64_t[]){big, 3}), *v = tg_from_i64(TG_SHAPE(2), (const int64_t[]){1, -2});
  tg_tensor *dt = tg_dot(u, v), *op = tg_outer(u, v);
  assert_true(dt && dt->dtype == TG_INT64 && at(dt, 0) == big - 6);
  /* (outer goes through tg_mul, whose integers pass through double: small values here) */
  assert_true(op && op->dtype == TG_INT64 && op->ndim == 2 && at(op, 2) == 3 && at(op, 3) == -6);
  tg_tensor *of = tg_outer(u, tg_from_f64(TG_SHAPE(1), (const double[]){0.5}));
  assert_true(of && of->dtype == TG_FLOAT64 && tg_get_flat(of, 1) == 1.5);
  assert_err(tg_dot(u, tg_zeros(TG_FLOAT64, TG_SHAPE(2))), "dot", "dtypes differ");
  /* one dtype, as PyTorch ("expected scalar type Long but found Float") */
  tg_tensor *f = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 4));
  assert_err(tg_matmul(a, f), "matmul", "dtypes differ");
  assert_err(tg_bmm(a3, tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3, 4))), "bmm", "dtypes differ");
  assert_err(tg_mv(a, tg_zeros(TG_FLOAT64, TG_SHAPE(3))), "mv", "dtypes differ");
  assert_err(tg_addmm(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 4)), a, b, 1, 1), "addmm", "dtypes differ");
  assert_err(tg_addmm(tg_zeros(TG_INT64, TG_SHAPE(2, 4)), a, f, 1, 1), "addmm", "dtypes differ");
  assert_err(tg_einsum("ij,jk", 2, (tg_tensor *[]){a, f}), "einsum", "dtypes");
  assert_err(tg_bmm(tg_zeros(TG_BOOL, TG_SHAPE(1, 1, 1)), tg_zeros(TG_BOOL, TG_SHAPE(1, 1, 1))), "bmm", "bool");
}

/* baddbmm converts its input to the batches' dtype (PyTorch 1.13), with the
 * gradient back in the input's own dtype; addmm refuses */
static void test_baddbmm_input_dtype(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 16);
  tg_tensor *in = test_leaf(&r, TG_SHAPE(1, 2, 2));
  tg_tensor *b1 = tg_randn(&r, TG_FLOAT32, TG_SHAPE(1, 2, 3)), *b2 = tg_randn(&r, TG_FLOAT32, TG_SHAPE(1, 3, 2));
  tg_tensor *y = tg_baddbmm(in, b1, b2, 1, 1);
  assert_true(y && y->dtype == TG_FLOAT32);
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  assert_true(in->grad && in->grad->dtype == TG_FLOAT64 && tg_get_flat(in->grad, 3) == 1.0);
  tg_tensor *prod = tg_matmul(b1, b2);
  for (size_t k = 0; k < 4; k++) assert_close(tg_get_flat(y, k), (float)tg_get_flat(in, k) + tg_get_flat(prod, k), 1e-5);
  tg_tensor *iy = tg_baddbmm(tg_from_i64(TG_SHAPE(1), (const int64_t[]){2}), b1, b2, 1, 1);
  assert_true(iy && iy->dtype == TG_FLOAT32 && fabs(tg_get_flat(iy, 0) - 2 - tg_get_flat(prod, 0)) < 1e-5);
  assert_err(tg_addmm(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 2)), tg_reshape(b1, TG_SHAPE(2, 3)), tg_reshape(b2, TG_SHAPE(3, 2)), 1, 1),
             "addmm", "dtypes differ");
  assert_err(tg_baddbmm(in, b1, tg_to_dtype(b2, TG_FLOAT64), 1, 1), "baddbmm", "dtypes differ");
}

/* --------------------------------------------- int64 through index ops */

static void test_index_ops_int64(void **state) {
  (void)state;
  const int64_t big = 9007199254740993; /* 2^53 + 1: not a double */
  tg_tensor *a = tg_from_i64(TG_SHAPE(2, 3), (const int64_t[]){1, 2, 3, 4, 5, 6});
  tg_tensor *ix = idx_tensor(TG_SHAPE(1, 3), (const int64_t[]){1, 0, 1});
  tg_tensor *src = tg_from_i64(TG_SHAPE(1, 3), (const int64_t[]){big, -7, INT64_MAX});
  tg_tensor *s = tg_scatter(a, 0, ix, src);
  const int64_t want_s[6] = {1, -7, 3, big, 5, INT64_MAX};
  assert_true(s && s->dtype == TG_INT64 && s->grad_fn == NULL);
  for (int k = 0; k < 6; k++) assert_true(((const int64_t *)tg_data(s))[k] == want_s[k]);
  /* a fill value truncates toward 0, as PyTorch's cast; one out of range fails */
  tg_tensor *sv = tg_scatter_value(a, 0, ix, -1.7);
  assert_true(sv && tg_get(sv, (size_t[]){1, 0}) == -1 && tg_get(sv, (size_t[]){0, 1}) == -1 && tg_get(sv, (size_t[]){0, 0}) == 1);
  assert_err(tg_scatter_value(a, 0, ix, 1e30), "scatter", "cannot be converted to type int64");
  assert_err(tg_scatter_value(a, 0, ix, NAN), "scatter", "cannot be converted to type int64");
  tg_tensor *sa = tg_scatter_add(a, 0, ix, src); /* 6 + INT64_MAX wraps, as PyTorch */
  assert_true(sa && ((const int64_t *)tg_data(sa))[5] == INT64_MIN + 5 && ((const int64_t *)tg_data(sa))[3] == big + 4);
  tg_tensor *g = tg_gather(s, 0, ix);
  assert_true(g && ((const int64_t *)tg_data(g))[0] == big && ((const int64_t *)tg_data(g))[1] == -7);
  tg_tensor *t = tg_take_along_dim(s, idx_tensor(TG_SHAPE(2, 1), (const int64_t[]){2, 0}), 1);
  assert_true(t && t->dtype == TG_INT64 && ((const int64_t *)tg_data(t))[0] == 3 && ((const int64_t *)tg_data(t))[1] == big);
  tg_tensor *p = tg_index_put(a, 2, (tg_tensor *[]){idx_tensor(TG_SHAPE(2), (const int64_t[]){1, 1}), idx_tensor(TG_SHAPE(2), (const int64_t[]){2, 2})},
                              tg_from_i64(TG_SHAPE(1), (const int64_t[]){big}), true);
  assert_true(p && ((const int64_t *)tg_data(p))[5] == 6 + 2 * big);
  /* index_select / index_add: rows moved exactly, added wrapping */
  tg_tensor *rows = idx_tensor(TG_SHAPE(3), (const int64_t[]){1, 1, 0});
  tg_tensor *sel = tg_index_select(s, 0, rows);
  assert_true(sel && sel->dtype == TG_INT64 && at(sel, 0) == big && at(sel, 5) == INT64_MAX && at(sel, 7) == -7);
  tg_tensor *add = tg_index_add(a, 0, rows, sel); /* a's row 1 += 2 x s's row 1, row 0 += s's row 0 */
  assert_true(add && at(add, 0) == 2 && at(add, 1) == -5 && at(add, 3) == 4 + 2 * big && at(add, 4) == 15 &&
              at(add, 5) == 4); /* 6 + 2 INT64_MAX wraps to 4 */
  assert_err(tg_index_add(a, 0, rows, tg_zeros(TG_FLOAT64, TG_SHAPE(3, 3))), "index_add", "dtypes differ");
  /* dtypes must agree, as PyTorch's "Expected self.dtype to be equal to src.dtype" */
  tg_tensor *fsrc = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 3));
  assert_err(tg_scatter(a, 0, ix, fsrc), "scatter", "dtypes differ");
  assert_err(tg_scatter_add(a, 0, ix, fsrc), "scatter_add", "dtypes differ");
  assert_err(tg_scatter(fsrc, 0, ix, src), "scatter", "dtypes differ");
  assert_err(tg_index_put(a, 1, &ix, fsrc, false), "index_put", "dtype");
  assert_err(tg_scatter(tg_zeros(TG_BOOL, TG_SHAPE(2, 3)), 0, ix, src), "scatter", "bool");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_products_int64),
      TG_TEST(test_baddbmm_input_dtype),
      TG_TEST(test_index_ops_int64),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
