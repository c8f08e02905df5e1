/* einsum: contractions against the ops they stand for, diagonals
 * (repeated subscripts), ellipsis broadcasting, implicit output, several
 * operands; float64 gradcheck/gradgradcheck with non-contiguous inputs;
 * PyTorch's errors naming the op. */
#include <string.h>

#include "tg_test.h"

static void assert_err(const tg_tensor *t, const char *a, const char *b) {
  if (t) fail_msg("expected an error with '%s' / '%s', got a result", a, b ? b : "");
  const char *e = tg_last_error();
  if (!strstr(e, a) || (b && !strstr(e, b))) fail_msg("error '%s' lacks '%s' / '%s'", e, a, b ? b : "");
  tg_clear_error();
}

/* --------------------------------------------------------------- einsum */

static void assert_same(const tg_tensor *x, const tg_tensor *y) {
  assert_non_null(x);
  assert_non_null(y);
  assert_int_equal(x->ndim, y->ndim);
  for (int d = 0; d < x->ndim; d++) assert_int_equal(x->shape[d], y->shape[d]);
  for (size_t i = 0; i < x->numel; i++) assert_close(tg_get_flat(x, i), tg_get_flat(y, i), 1e-12);
}

static tg_tensor *f_einsum3(tg_tensor **in, void *c) {
  (void)c; /* the middle operand transposed, the last expanded from [1, 2] */
  return tg_einsum("ij,kj,kl->li", 3, (tg_tensor *[]){in[0], tg_transpose(in[1], 0, 1), tg_expand(in[2], TG_SHAPE(4, 2))});
}
static tg_tensor *f_einsum_batch(tg_tensor **in, void *c) {
  (void)c;
  return tg_einsum("bij,bjk,b", 3, in);
}

static void test_einsum(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 10);
  tg_tensor *a = test_leaf(&r, TG_SHAPE(2, 3)), *b = test_leaf(&r, TG_SHAPE(3, 4)), *c = test_leaf(&r, TG_SHAPE(2, 3));
  tg_tensor *u = test_leaf(&r, TG_SHAPE(2)), *w = test_leaf(&r, TG_SHAPE(3));
  assert_same(tg_einsum("ij,jk->ik", 2, (tg_tensor *[]){a, b}), tg_matmul(a, b));
  assert_same(tg_einsum(" ij , jk ", 2, (tg_tensor *[]){a, b}), tg_matmul(a, b)); /* implicit, spaces */
  assert_same(tg_einsum("ij,ij->", 2, (tg_tensor *[]){a, c}), tg_sum(tg_mul(a, c)));
  assert_same(tg_einsum("i,j->ij", 2, (tg_tensor *[]){u, w}), tg_outer(u, w));
  assert_same(tg_einsum("ba", 1, &a), tg_transpose(a, 0, 1)); /* implicit output in ASCII order */
  assert_same(tg_einsum("aB", 1, &a), tg_transpose(a, 0, 1)); /* upper case first */
  assert_same(tg_einsum("ij->j", 1, &a), tg_sum_dims(a, 1, (const int[]){0}, false));
  assert_same(tg_einsum("ij,j->i", 2, (tg_tensor *[]){a, w}), tg_mv(a, w));
  /* a size-1 dim broadcasts: [2, 1] against [2, 3] */
  tg_tensor *col = test_leaf(&r, TG_SHAPE(2, 1));
  assert_same(tg_einsum("ij,ij->ij", 2, (tg_tensor *[]){col, c}), tg_mul(col, c));
  tg_tensor *in[3] = {test_leaf(&r, TG_SHAPE(3, 2)), test_leaf(&r, TG_SHAPE(2, 4)), test_leaf(&r, TG_SHAPE(1, 2))};
  tg_tensor *y = f_einsum3(in, NULL);
  assert_same(y, tg_transpose(tg_matmul(tg_matmul(in[0], in[1]), tg_expand(in[2], TG_SHAPE(4, 2))), 0, 1));
  assert_gradcheck(f_einsum3, 3, in, NULL);
  assert_gradgradcheck(f_einsum3, 3, in, NULL);
  tg_tensor *bin[3] = {test_leaf(&r, TG_SHAPE(2, 3, 2)), test_leaf(&r, TG_SHAPE(2, 2, 4)), test_leaf(&r, TG_SHAPE(2))};
  assert_gradcheck(f_einsum_batch, 3, bin, NULL);
  assert_gradgradcheck(f_einsum_batch, 3, bin, NULL);
  assert_err(tg_einsum("ij,jk->ik", 2, (tg_tensor *[]){a, a}), "einsum", "does not broadcast");
  assert_err(tg_einsum("ijk->i", 1, &a), "einsum", "more subscripts");
  assert_err(tg_einsum("i->i", 1, &a), "einsum", "1 subscripts for operand 0");
  assert_err(tg_einsum("ij,jk", 1, &a), "einsum", "fewer operands");
  assert_err(tg_einsum("ij", 2, (tg_tensor *[]){a, b}), "einsum", "more operands were provided");
  assert_err(tg_einsum("ij->k", 1, &a), "einsum", "in no operand");
  assert_err(tg_einsum("ij->ii", 1, &a), "einsum", "repeated");
  assert_err(tg_einsum("i1", 1, &a), "einsum", "invalid subscript");
  assert_err(tg_einsum("ij,jk", 2, (tg_tensor *[]){a, tg_zeros(TG_FLOAT32, TG_SHAPE(3, 4))}), "einsum", "dtypes");
  assert_err(tg_einsum("ij", 0, &a), "einsum", "operands");
}

/* ------------------------------------------------ diagonals, ellipsis */

/* sum_i a[i, i, j] by loops */
static tg_tensor *iij_j(const tg_tensor *a) {
  tg_tensor *out = tg_zeros(TG_FLOAT64, TG_SHAPE(a->shape[2]));
  for (size_t j = 0; j < a->shape[2]; j++) {
    double s = 0;
    for (size_t i = 0; i < a->shape[0]; i++) s += tg_get(a, (size_t[]){i, i, j});
    tg_set(out, (size_t[]){j}, s);
  }
  return out;
}

static void test_einsum_diagonal(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 11);
  tg_tensor *m = test_leaf(&r, TG_SHAPE(3, 3)), *t = test_leaf(&r, TG_SHAPE(3, 3, 2));
  assert_same(tg_einsum("ii->i", 1, &m), tg_diagonal(m, 0, 0, 1));
  assert_same(tg_einsum("ii->", 1, &m), tg_trace(m));
  assert_same(tg_einsum("ii", 1, &m), tg_trace(m)); /* implicit: i is used twice */
  assert_same(tg_einsum("iij->j", 1, &t), iij_j(t));
  assert_same(tg_einsum("iji->j", 1, (tg_tensor *[]){tg_permute(t, (const int[]){0, 2, 1})}), iij_j(t));
  /* a diagonal of size 1 broadcasts against a longer subscript */
  tg_tensor *one = test_leaf(&r, TG_SHAPE(1, 1)), *v = test_leaf(&r, TG_SHAPE(3));
  assert_same(tg_einsum("ii,i->i", 2, (tg_tensor *[]){one, v}), tg_mul(tg_reshape(one, TG_SHAPE(1)), v));
  assert_err(tg_einsum("ii->i", 1, (tg_tensor *[]){tg_zeros(TG_FLOAT64, TG_SHAPE(3, 2))}), "einsum",
             "subscript i is repeated for operand 0 but the sizes don't match, 2 != 3");
  assert_err(tg_einsum("ii", 1, (tg_tensor *[]){tg_zeros(TG_FLOAT64, TG_SHAPE(3, 1))}), "einsum", "sizes don't match");
}

static void test_einsum_ellipsis(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 12);
  tg_tensor *a = test_leaf(&r, TG_SHAPE(2, 1, 3, 4)), *b = test_leaf(&r, TG_SHAPE(5, 4, 2));
  tg_tensor *t = test_leaf(&r, TG_SHAPE(3, 4, 2));
  /* batch dims broadcast right-aligned, as tg_matmul's */
  assert_same(tg_einsum("...ij,...jk->...ik", 2, (tg_tensor *[]){a, b}), tg_matmul(a, b));
  assert_same(tg_einsum("...ij,...jk", 2, (tg_tensor *[]){a, b}), tg_matmul(a, b)); /* implicit: ... first */
  assert_same(tg_einsum("...i->i", 1, &t), tg_sum_dims(t, 2, (const int[]){0, 1}, false));
  assert_same(tg_einsum("i...->...", 1, &t), tg_sum_dims(t, 1, (const int[]){0}, false));
  assert_same(tg_einsum("ji...", 1, &t), tg_permute(t, (const int[]){2, 1, 0}));
  assert_same(tg_einsum("i...j->j...i", 1, &t), tg_permute(t, (const int[]){2, 1, 0}));
  assert_same(tg_einsum("...", 1, &t), t);
  assert_same(tg_einsum("ab...->...", 1, (tg_tensor *[]){tg_reshape(t, TG_SHAPE(3, 8))}), tg_sum(t));
  assert_same(tg_einsum("ij->...", 1, (tg_tensor *[]){tg_reshape(t, TG_SHAPE(3, 8))}), tg_sum(t));
  assert_err(tg_einsum("...ij,...jk", 2, (tg_tensor *[]){test_leaf(&r, TG_SHAPE(2, 3, 4)), test_leaf(&r, TG_SHAPE(3, 4, 2))}), "einsum",
             "covered by ellipsis in operand 1 has size 3 which does not broadcast with previously seen ellipsis with size 2");
  assert_err(tg_einsum("i.i", 1, &a), "einsum", "found '.' for operand 0 that is not part of any ellipsis");
  assert_err(tg_einsum("a...b...", 1, &a), "einsum", "for operand 0 for which an ellipsis was already found");
  assert_err(tg_einsum("...->......", 1, &a), "einsum", "for the output for which an ellipsis was already found");
  assert_err(tg_einsum("...abcde", 1, &a), "einsum", "more subscripts than the 4 dims of operand 0");
  assert_err(tg_einsum("abc", 1, &a), "einsum", "no ellipsis was given");
  /* nine output dims: more than a tensor has (PyTorch would give a 9-d result) */
  tg_tensor *t5 = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 1, 1, 1, 1));
  assert_err(tg_einsum("abcde,fghij", 2, (tg_tensor *[]){t5, t5}), "einsum", "more than 8 dims");
  assert_err(tg_einsum("abcde,fghij->abcdefghi", 2, (tg_tensor *[]){t5, t5}), "einsum", "too many");
}

/* a diagonal, an ellipsis and a third operand at once; inputs transposed
 * and expanded (non-contiguous), a size-1 ellipsis dim broadcasting */
static tg_tensor *f_einsum_mixed(tg_tensor **in, void *c) {
  (void)c;
  tg_tensor *ops[3] = {tg_transpose(in[0], 1, 2), in[1], tg_expand(in[2], TG_SHAPE(3, 2))};
  return tg_einsum("...ii,j...i,ij->...j", 3, ops);
}

static void test_einsum_mixed_grad(void **state) {
  (void)state;
  tg_rng r;
  tg_rng_seed(&r, 13);
  tg_tensor *in[3] = {test_leaf(&r, TG_SHAPE(2, 3, 3)), test_leaf(&r, TG_SHAPE(2, 1, 3)), test_leaf(&r, TG_SHAPE(1, 2))};
  assert_gradcheck(f_einsum_mixed, 3, in, NULL);
  assert_gradgradcheck(f_einsum_mixed, 3, in, NULL);
  /* the value by loops: out[e, j] = sum_i a[e, i, i] b[j, 0, i] c[0, j] */
  tg_tensor *y = f_einsum_mixed(in, NULL);
  assert_non_null(y);
  assert_int_equal(y->ndim, 2);
  for (size_t e = 0; e < 2; e++)
    for (size_t j = 0; j < 2; j++) {
      double s = 0;
      for (size_t i = 0; i < 3; i++)
        s += tg_get(in[0], (size_t[]){e, i, i}) * tg_get(in[1], (size_t[]){j, 0, i}) * tg_get(in[2], (size_t[]){0, j});
      assert_close(tg_get(y, (size_t[]){e, j}), s, 1e-12);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_einsum),
      TG_TEST(test_einsum_diagonal),
      TG_TEST(test_einsum_ellipsis),
      TG_TEST(test_einsum_mixed_grad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
