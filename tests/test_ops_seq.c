/* The ops of sequence models: embedding, rms_norm, the recurrent cells.
 * Values by hand, float64 gradcheck and gradgradcheck on random shapes with
 * non-contiguous inputs, and the error cases. */
#include "tg_test.h"

/* ------------------------------------------------------------ embedding */

typedef struct {
  tg_tensor *idx;
  int64_t pad;
  bool transposed;
} emb_ctx;

static tg_tensor *f_embedding(tg_tensor **in, void *c) {
  emb_ctx *e = c;
  tg_tensor *w = e->transposed ? tg_transpose(in[0], 0, 1) : in[0];
  return tg_embedding(w, e->idx, e->pad, NAN, 2.0);
}

static void test_embedding_values(void **s) {
  (void)s;
  const double w[] = {0, 1, 10, 11, 20, 21};
  tg_tensor *W = tg_requires_grad_(tg_from_f64(TG_SHAPE(3, 2), w), true);
  tg_tensor *idx = tg_from_i64(TG_SHAPE(2, 2), (const int64_t[]){2, 0, 2, 1});
  tg_tensor *y = tg_embedding(W, idx, TG_NO_PADDING_IDX, NAN, 2.0);
  assert_non_null(y);
  assert_int_equal(y->ndim, 3);
  assert_int_equal(y->shape[2], 2);
  const double want[] = {20, 21, 0, 1, 20, 21, 10, 11};
  for (size_t i = 0; i < 8; i++) assert_close(tg_get_flat(y, i), want[i], 0);
  /* the gradient counts each row's uses; a leaf's .grad gets it directly */
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  const double g[] = {1, 1, 1, 1, 2, 2};
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(W->grad, i), g[i], 0);
  /* padding_idx -1 is the last row: no gradient there, counted from the end */
  tg_tensor *W2 = tg_requires_grad_(tg_from_f64(TG_SHAPE(3, 2), w), true);
  assert_int_equal(tg_backward(tg_sum(tg_embedding(W2, idx, -1, NAN, 2.0)), NULL, false), 0);
  const double g2[] = {1, 1, 1, 1, 0, 0};
  for (size_t i = 0; i < 6; i++) assert_close(tg_get_flat(W2->grad, i), g2[i], 0);
  /* a 0-d index gives one row of shape (D) */
  tg_tensor *y0 = tg_embedding(W, tg_from_i64(0, NULL, (const int64_t[]){1}), TG_NO_PADDING_IDX, NAN, 2);
  assert_int_equal(y0->ndim, 1);
  assert_close(tg_get_flat(y0, 1), 11, 0);
}

static void test_embedding_max_norm(void **s) {
  (void)s;
  /* rows of norm 5 and 1: with max_norm 2 only the first is rescaled, in place */
  tg_tensor *W = tg_from_f64(TG_SHAPE(2, 2), (const double[]){3, 4, 0.6, 0.8});
  tg_tensor *idx = tg_from_i64(TG_SHAPE(3), (const int64_t[]){0, 0, 1});
  tg_tensor *y = tg_embedding(W, idx, TG_NO_PADDING_IDX, 2.0, 2.0);
  assert_non_null(y);
  double sc = 2.0 / (5.0 + 1e-7);
  assert_close(tg_get_flat(W, 0), 3 * sc, 1e-15);
  assert_close(tg_get_flat(W, 1), 4 * sc, 1e-15);
  assert_close(tg_get_flat(W, 2), 0.6, 0);
  assert_close(tg_get_flat(y, 2), 3 * sc, 1e-15);
  /* the 1-norm of (0.6, 0.8) is 1.4 > 1: scaled by 1 / (1.4 + 1e-7) */
  tg_embedding(W, tg_from_i64(TG_SHAPE(1), (const int64_t[]){1}), TG_NO_PADDING_IDX, 1.0, 1.0);
  assert_close(tg_get_flat(W, 2), 0.6 / (1.4 + 1e-7), 1e-15);
}

static void test_embedding_grad(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 11);
  for (int trial = 0; trial < 4; trial++) {
    size_t V = rand_int(&r, 2, 6), D = rand_int(&r, 1, 4), n = rand_int(&r, 1, 5);
    int64_t ix[10];
    for (size_t i = 0; i < 2 * n; i++) ix[i] = (int64_t)rand_int(&r, 0, V - 1);
    emb_ctx c = {tg_from_i64(TG_SHAPE(2, n), ix), trial % 2 ? (int64_t)(V - 1) : TG_NO_PADDING_IDX,
                 trial >= 2};
    /* transposed: the leaf is (D, V), its transpose the weight */
    tg_tensor *w = c.transposed ? test_leaf(&r, TG_SHAPE(D, V)) : test_leaf(&r, TG_SHAPE(V, D));
    /* a non-contiguous index too */
    if (trial == 3) c.idx = tg_transpose(tg_from_i64(TG_SHAPE(n, 2), ix), 0, 1);
    /* the padding row is used but gets no gradient (as torch's): a numeric
     * Jacobian would differ there, so those trials go to second order only */
    if (c.pad == TG_NO_PADDING_IDX) assert_gradcheck(f_embedding, 1, &w, &c);
    assert_gradgradcheck(f_embedding, 1, &w, &c);
  }
}

static void test_embedding_errors(void **s) {
  (void)s;
  tg_tensor *W = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 2));
  tg_tensor *idx = tg_from_i64(TG_SHAPE(2), (const int64_t[]){0, 3});
  assert_fails(tg_embedding(W, idx, TG_NO_PADDING_IDX, NAN, 2), "out of range");
  idx = tg_from_i64(TG_SHAPE(1), (const int64_t[]){-1});
  assert_fails(tg_embedding(W, idx, TG_NO_PADDING_IDX, NAN, 2), "out of range");
  assert_fails(tg_embedding(W, tg_zeros(TG_FLOAT64, TG_SHAPE(2)), TG_NO_PADDING_IDX, NAN, 2), "Long");
  assert_fails(tg_embedding(tg_zeros(TG_FLOAT64, TG_SHAPE(3)), idx, TG_NO_PADDING_IDX, NAN, 2), "2-D");
  idx = tg_from_i64(TG_SHAPE(1), (const int64_t[]){0});
  assert_fails(tg_embedding(W, idx, 3, NAN, 2), "padding_idx");
  assert_fails(tg_embedding(W, idx, -4, NAN, 2), "padding_idx");
  assert_fails(tg_embedding(NULL, idx, TG_NO_PADDING_IDX, NAN, 2), "argument 1 is NULL");
  assert_fails(tg_embedding(W, NULL, TG_NO_PADDING_IDX, NAN, 2), "argument 2 is NULL");
}

static void test_nn_embedding(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 3);
  tg_module *m = tg_nn_embedding(10, 4, 2, &r);
  assert_non_null(m);
  assert_string_equal(m->type, "Embedding");
  assert_int_equal(m->n_params, 1);
  assert_string_equal(m->params[0].name, "weight");
  tg_tensor *w = m->params[0].tensor;
  assert_int_equal(w->shape[0], 10);
  assert_int_equal(w->shape[1], 4);
  /* N(0, 1) but for the zeroed padding row */
  double sq = 0;
  for (size_t i = 0; i < w->numel; i++) {
    if (i / 4 == 2) assert_close(tg_get_flat(w, i), 0, 0);
    sq += tg_get_flat(w, i) * tg_get_flat(w, i);
  }
  assert_true(sq > 5 && sq < 100);
  tg_tensor *idx = tg_from_i64(TG_SHAPE(3), (const int64_t[]){2, 5, 2});
  tg_tensor *y = tg_module_forward(m, idx);
  test_assert_identical(y, tg_embedding(w, idx, 2, NAN, 2));
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  assert_close(tg_get_flat(w->grad, 2 * 4), 0, 0);
  assert_close(tg_get_flat(w->grad, 5 * 4), 1, 0);
  tg_module_free(m);
  assert_fails(tg_nn_embedding(3, 2, 3, &r), "padding_idx");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_embedding_values), TG_TEST(test_embedding_max_norm), TG_TEST(test_embedding_grad),
      TG_TEST(test_embedding_errors), TG_TEST(test_nn_embedding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
