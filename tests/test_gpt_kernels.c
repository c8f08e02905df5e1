/* nn/gpt_kernels.c: tg_causal_attention_qkv against the composite
 * (views of qkv through tg_scaled_dot_product_attention with is_causal,
 * heads concatenated), float64 gradcheck and gradgradcheck at random
 * shapes, a non-contiguous qkv, float32, and its errors; tg_layer_norm
 * over one trailing dim (nn/layer_norm_rows.c) and cross-entropy's
 * gradient (nn/loss_ce_rows.c) against their formulas. */
#include "tg_test.h"

typedef struct attn_ctx {
  size_t B, T, H;
  bool transposed; /* qkv handed over as the transpose of a (3C, B*T) leaf */
} attn_ctx;

static tg_tensor *fused(tg_tensor **in, void *c) {
  attn_ctx *a = c;
  tg_tensor *qkv = a->transposed ? tg_transpose(in[0], 0, 1) : in[0];
  return tg_causal_attention_qkv(qkv, a->B, a->T, a->H);
}

/* the same attention from library ops only */
static tg_tensor *composite(tg_tensor *qkv, size_t B, size_t T, size_t H) {
  size_t C = qkv->shape[1] / 3, hs = C / H;
  tg_tensor *x = tg_permute(tg_reshape(qkv, TG_SHAPE(B, T, 3, H, hs)), (const int[]){2, 0, 3, 1, 4});
  tg_tensor *o = tg_scaled_dot_product_attention(tg_select(x, 0, 0), tg_select(x, 0, 1), tg_select(x, 0, 2),
                                                 NULL, true, 0.0, NAN, NULL);
  return tg_reshape(tg_transpose(o, 1, 2), TG_SHAPE(B * T, C));
}

static void assert_tensors_close(const tg_tensor *a, const tg_tensor *b, double tol) {
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(a->numel, b->numel);
  for (size_t i = 0; i < a->numel; i++) assert_close(tg_get_flat(a, i), tg_get_flat(b, i), tol);
}

static void test_matches_composite(void **state) {
  (void)state;
  tg_rng r = test_seeded(7);
  for (int trial = 0; trial < 8; trial++) {
    size_t B = rand_int(&r, 1, 3), T = rand_int(&r, 1, 9), H = rand_int(&r, 1, 3), hs = rand_int(&r, 1, 5);
    tg_tensor *qkv = test_leaf(&r, TG_SHAPE(B * T, 3 * H * hs));
    tg_tensor *g = tg_randn(&r, TG_FLOAT64, TG_SHAPE(B * T, H * hs));
    tg_tensor *y = tg_causal_attention_qkv(qkv, B, T, H), *ref = composite(qkv, B, T, H);
    assert_tensors_close(y, ref, 1e-12);
    tg_tensor *gy = NULL, *gref = NULL;
    assert_int_equal(tg_grad(1, &y, &g, 1, &qkv, &gy, (tg_grad_opts){0}), 0);
    assert_int_equal(tg_grad(1, &ref, &g, 1, &qkv, &gref, (tg_grad_opts){0}), 0);
    assert_tensors_close(gy, gref, 1e-12);
    /* the recorded backward (create_graph) gives the same gradient as the loops */
    tg_tensor *gc = NULL;
    y = tg_causal_attention_qkv(qkv, B, T, H);
    assert_int_equal(tg_grad(1, &y, &g, 1, &qkv, &gc, (tg_grad_opts){.create_graph = true}), 0);
    assert_non_null(gc->grad_fn);
    assert_tensors_close(gc, gref, 1e-12);
  }
}

/* by hand at T = 2, one head of size 1: q, k, v per token */
static void test_known_values(void **state) {
  (void)state;
  /* rows (q, k, v): token 0 (1, 2, 3), token 1 (0.5, -1, 5) */
  tg_tensor *qkv = tg_from_f64(TG_SHAPE(2, 3), (const double[]){1, 2, 3, 0.5, -1, 5});
  tg_tensor *y = tg_causal_attention_qkv(qkv, 1, 2, 1);
  assert_non_null(y);
  /* token 0 sees only itself: v0 = 3. token 1: scores 0.5*2, 0.5*(-1) (scale 1) */
  double p0 = exp(1.0) / (exp(1.0) + exp(-0.5));
  assert_close(tg_get_flat(y, 0), 3.0, 1e-15);
  assert_close(tg_get_flat(y, 1), p0 * 3 + (1 - p0) * 5, 1e-14);
}

static void test_gradcheck(void **state) {
  (void)state;
  tg_rng r = test_seeded(11);
  for (int trial = 0; trial < 4; trial++) {
    attn_ctx c = {rand_int(&r, 1, 2), rand_int(&r, 1, 4), rand_int(&r, 1, 2), trial % 2 == 1};
    size_t hs = rand_int(&r, 1, 3), C3 = 3 * c.H * hs;
    tg_tensor *qkv = c.transposed ? test_leaf(&r, TG_SHAPE(C3, c.B * c.T)) : test_leaf(&r, TG_SHAPE(c.B * c.T, C3));
    assert_gradcheck(fused, 1, &qkv, &c);
    assert_gradgradcheck(fused, 1, &qkv, &c);
  }
}

static void test_float32_and_no_grad(void **state) {
  (void)state;
  tg_rng r = test_seeded(3);
  size_t B = 4, T = 8, H = 6, C = 24;
  tg_tensor *x64 = tg_randn(&r, TG_FLOAT64, TG_SHAPE(B * T, 3 * C));
  tg_tensor *y32 = tg_causal_attention_qkv(tg_to_dtype(x64, TG_FLOAT32), B, T, H);
  assert_non_null(y32);
  assert_int_equal(y32->dtype, TG_FLOAT32);
  assert_null(y32->grad_fn); /* nothing required grad */
  assert_tensors_close(y32, composite(x64, B, T, H), 1e-5);
  tg_requires_grad_(x64, true);
  tg_no_grad_begin();
  tg_tensor *y = tg_causal_attention_qkv(x64, B, T, H);
  tg_no_grad_end();
  assert_non_null(y);
  assert_null(y->grad_fn);
}

/* float32 (the 8-lane kernels at T = 8 and hs <= 16, the generic loops
 * otherwise) against the float64 loops, which gradcheck covers */
static void test_float32_gradients(void **state) {
  (void)state;
  tg_rng r = test_seeded(5);
  const size_t cases[][4] = {{3, 8, 6, 4}, {2, 8, 1, 16}, {2, 8, 2, 17}, {2, 5, 3, 4}, {1, 8, 4, 1}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    size_t B = cases[c][0], T = cases[c][1], H = cases[c][2], hs = cases[c][3];
    tg_tensor *x64 = test_leaf(&r, TG_SHAPE(B * T, 3 * H * hs));
    tg_tensor *x32 = tg_requires_grad_(tg_to_dtype(tg_detach(x64), TG_FLOAT32), true);
    tg_tensor *g64 = tg_randn(&r, TG_FLOAT64, TG_SHAPE(B * T, H * hs)), *g32 = tg_to_dtype(g64, TG_FLOAT32);
    tg_tensor *y64 = tg_causal_attention_qkv(x64, B, T, H), *y32 = tg_causal_attention_qkv(x32, B, T, H);
    assert_tensors_close(y32, y64, 1e-5);
    tg_tensor *d64 = NULL, *d32 = NULL;
    assert_int_equal(tg_grad(1, &y64, &g64, 1, &x64, &d64, (tg_grad_opts){0}), 0);
    assert_int_equal(tg_grad(1, &y32, &g32, 1, &x32, &d32, (tg_grad_opts){0}), 0);
    assert_int_equal(d32->dtype, TG_FLOAT32);
    assert_tensors_close(d32, d64, 1e-4);
  }
}

/* tg_layer_norm over one trailing dim (nn/layer_norm_rows.c, one node) */
typedef struct ln_ctx {
  int affine; /* 0 none, 1 weight, 2 bias, 3 both */
  bool transposed;
} ln_ctx;

static tg_tensor *ln_fn(tg_tensor **in, void *c) {
  ln_ctx *l = c;
  tg_tensor *x = l->transposed ? tg_transpose(in[0], 0, 1) : in[0];
  size_t C = x->shape[x->ndim - 1];
  int k = 1;
  tg_tensor *w = l->affine & 1 ? in[k++] : NULL, *b = l->affine & 2 ? in[k] : NULL;
  return tg_layer_norm(x, 1, (const size_t[]){C}, w, b, 1e-5);
}

/* the formula in ops: (x - mean) / sqrt(var + eps) * w + b */
static tg_tensor *ln_reference(tg_tensor *x, tg_tensor *w, tg_tensor *b, double eps) {
  const int last[1] = {-1};
  tg_tensor *xc = tg_sub(x, tg_mean_dims(x, 1, last, true));
  tg_tensor *y = tg_div(xc, tg_sqrt(tg_add_scalar(tg_mean_dims(tg_mul(xc, xc), 1, last, true), eps)));
  if (w) y = tg_mul(y, w);
  return b ? tg_add(y, b) : y;
}

static void test_layer_norm_rows(void **state) {
  (void)state;
  tg_rng r = test_seeded(21);
  for (int trial = 0; trial < 8; trial++) {
    ln_ctx c = {trial % 4, trial >= 4};
    size_t R = rand_int(&r, 1, 4), C = rand_int(&r, 1, 5);
    tg_tensor *in[3];
    int n = 0;
    in[n++] = c.transposed ? test_leaf(&r, TG_SHAPE(C, R)) : test_leaf(&r, TG_SHAPE(R, C));
    if (c.affine & 1) in[n++] = test_leaf(&r, TG_SHAPE(C));
    if (c.affine & 2) in[n++] = test_leaf(&r, TG_SHAPE(C));
    assert_gradcheck(ln_fn, n, in, &c);
    assert_gradgradcheck(ln_fn, n, in, &c);
    /* values and first gradients against the formula */
    tg_tensor *x = c.transposed ? tg_transpose(in[0], 0, 1) : in[0];
    tg_tensor *w = c.affine & 1 ? in[1] : NULL, *b = c.affine & 2 ? in[n - 1] : NULL;
    tg_tensor *y = ln_fn(in, &c), *ref = ln_reference(x, w, b, 1e-5);
    assert_int_equal(y->grad_fn != NULL, 1);
    assert_string_equal(tg_grad_fn_name(y), "NativeLayerNormBackward"); /* one node */
    assert_tensors_close(y, ref, 1e-12);
    tg_tensor *g = tg_randn(&r, TG_FLOAT64, TG_SHAPE(R, C)), *gy[3] = {0}, *gr[3] = {0};
    assert_int_equal(tg_grad(1, &y, &g, n, in, gy, (tg_grad_opts){0}), 0);
    assert_int_equal(tg_grad(1, &ref, &g, n, in, gr, (tg_grad_opts){0}), 0);
    for (int i = 0; i < n; i++) assert_tensors_close(gy[i], gr[i], 1e-10);
    tg_tensor *gc[3] = {0}; /* the recorded backward (create_graph) */
    y = ln_fn(in, &c);
    assert_int_equal(tg_grad(1, &y, &g, n, in, gc, (tg_grad_opts){.create_graph = true}), 0);
    for (int i = 0; i < n; i++) assert_tensors_close(gc[i], gr[i], 1e-10);
  }
  /* float32, (B, T, C) as the model's */
  tg_tensor *x = tg_randn(&r, TG_FLOAT64, TG_SHAPE(4, 8, 24)), *w = tg_randn(&r, TG_FLOAT64, TG_SHAPE(24));
  tg_tensor *y = tg_layer_norm(tg_to_dtype(x, TG_FLOAT32), 1, (const size_t[]){24}, tg_to_dtype(w, TG_FLOAT32), NULL, 1e-5);
  assert_int_equal(y->dtype, TG_FLOAT32);
  assert_tensors_close(y, ln_reference(x, w, NULL, 1e-5), 1e-5);
}

/* cross-entropy's one-pass gradient (nn/loss_ce_rows.c) against the
 * formula softmax - onehot, in float64 and float32, each reduction */
static void test_cross_entropy_rows(void **state) {
  (void)state;
  tg_rng r = test_seeded(8);
  for (int red = 0; red < 3; red++)
    for (int dt = 0; dt < 2; dt++) {
      size_t N = rand_int(&r, 1, 40), C = rand_int(&r, 1, 70);
      tg_tensor *x64 = tg_mul_scalar(tg_randn(&r, TG_FLOAT64, TG_SHAPE(N, C)), 3.0);
      tg_tensor *x = tg_requires_grad_(dt ? tg_to_dtype(x64, TG_FLOAT32) : tg_clone(x64), true);
      int64_t tv[80];
      for (size_t i = 0; i < 2 * N; i++) tv[i] = (int64_t)rand_int(&r, 0, C - 1);
      /* every other entry of a (2N): strided targets */
      tg_tensor *t = tg_slice(tg_from_i64(TG_SHAPE(2 * N), tv), 0, 0, (long)(2 * N), 2);
      tg_tensor *loss = tg_cross_entropy(x, t, (tg_reduction)red);
      tg_tensor *g = red == TG_REDUCTION_NONE ? tg_randn(&r, x->dtype, TG_SHAPE(N)) : tg_scalar(x->dtype, 1.7);
      tg_tensor *dx = NULL;
      assert_int_equal(tg_grad(1, &loss, &g, 1, &x, &dx, (tg_grad_opts){0}), 0);
      for (size_t i = 0; i < N; i++) {
        double m = -INFINITY, s = 0;
        for (size_t j = 0; j < C; j++) m = fmax(m, tg_get_flat(x64, i * C + j));
        for (size_t j = 0; j < C; j++) s += exp(tg_get_flat(x64, i * C + j) - m);
        double sc = red == TG_REDUCTION_NONE ? tg_get_flat(g, i) : red == TG_REDUCTION_MEAN ? 1.7 / (double)N : 1.7;
        for (size_t j = 0; j < C; j++) {
          double want = (exp(tg_get_flat(x64, i * C + j) - m) / s - (j == (size_t)tv[2 * i])) * sc;
          assert_close(tg_get_flat(dx, i * C + j), want, dt ? 1e-6 : 1e-14);
        }
      }
    }
}

static void test_errors(void **state) {
  (void)state;
  tg_tensor *x = tg_zeros(TG_FLOAT64, TG_SHAPE(6, 9));
  assert_null(tg_causal_attention_qkv(NULL, 2, 3, 1));
  test_expect_error("causal_attention_qkv", NULL);
  assert_null(tg_causal_attention_qkv(x, 2, 2, 1));
  test_expect_error("causal_attention_qkv", "(B*T, 3*C)");
  assert_null(tg_causal_attention_qkv(x, 2, 3, 2)); /* 9 columns: C = 3, not a multiple of 2 heads */
  test_expect_error("causal_attention_qkv", "multiple of n_head");
  assert_null(tg_causal_attention_qkv(x, 2, 3, 0));
  test_expect_error("causal_attention_qkv", "positive");
  assert_null(tg_causal_attention_qkv(tg_zeros(TG_FLOAT64, TG_SHAPE(65, 3)), 1, 65, 1));
  test_expect_error("causal_attention_qkv", "at most 64");
  assert_null(tg_causal_attention_qkv(tg_zeros(TG_INT64, TG_SHAPE(6, 9)), 2, 3, 1));
  test_expect_error("causal_attention_qkv", NULL);
  assert_null(tg_causal_attention_qkv(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3, 9)), 2, 3, 1));
  test_expect_error("causal_attention_qkv", "(B*T, 3*C)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_matches_composite), TG_TEST(test_known_values), TG_TEST(test_gradcheck),
      TG_TEST(test_float32_and_no_grad), TG_TEST(test_float32_gradients), TG_TEST(test_layer_norm_rows),
      TG_TEST(test_cross_entropy_rows),
      TG_TEST(test_errors),
  };
  int rc = cmocka_run_group_tests_name("gpt_kernels", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
