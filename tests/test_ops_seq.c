/* The ops of sequence models: embedding, rms_norm, the recurrent cells and
 * scaled dot-product attention.
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


/* ------------------------------------------------------------- rms_norm */

typedef struct {
  int nd;
  size_t ns[3];
  bool transposed;
  double eps;
} rms_ctx;

static tg_tensor *f_rms(tg_tensor **in, void *c) {
  rms_ctx *e = c;
  tg_tensor *x = e->transposed ? tg_transpose(in[0], 0, 1) : in[0];
  return tg_rms_norm(x, e->nd, e->ns, in[1], e->eps);
}
static tg_tensor *f_rms_noweight(tg_tensor **in, void *c) {
  rms_ctx *e = c;
  return tg_rms_norm(in[0], e->nd, e->ns, NULL, e->eps);
}

static void test_rms_norm_values(void **s) {
  (void)s;
  /* a row (3, 4): mean of squares 12.5, so y = x / sqrt(12.5 + eps) * w */
  tg_tensor *x = tg_from_f64(TG_SHAPE(1, 2), (const double[]){3, 4});
  tg_tensor *w = tg_from_f64(TG_SHAPE(2), (const double[]){2, -1});
  tg_tensor *y = tg_rms_norm(x, TG_SHAPE(2), w, 0.5);
  assert_non_null(y);
  assert_close(tg_get_flat(y, 0), 6 / sqrt(13.0), 1e-15);
  assert_close(tg_get_flat(y, 1), -4 / sqrt(13.0), 1e-15);
  /* eps NAN: the float64 machine epsilon */
  y = tg_rms_norm(x, TG_SHAPE(2), NULL, NAN);
  assert_close(tg_get_flat(y, 1), 4 / sqrt(12.5 + 0x1p-52), 1e-15);
  tg_tensor *x32 = tg_from_f32(TG_SHAPE(2), (const float[]){0, 0});
  y = tg_rms_norm(x32, TG_SHAPE(2), NULL, NAN);
  assert_close(tg_get_flat(y, 0), 0, 0);
}

static void test_rms_norm_grad(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 12);
  for (int trial = 0; trial < 4; trial++) {
    size_t a = rand_int(&r, 1, 3), b = rand_int(&r, 1, 4), c = rand_int(&r, 2, 3);
    rms_ctx e = {trial % 2 ? 2 : 1, {0}, trial >= 2, trial == 1 ? NAN : 1e-3};
    /* (a, b, c) normalised over (c) or (b, c); transposed: the leaf is (b, a, c) */
    if (e.nd == 1) e.ns[0] = c;
    else e.ns[0] = b, e.ns[1] = c;
    tg_tensor *in[2] = {e.transposed ? test_leaf(&r, TG_SHAPE(b, a, c)) : test_leaf(&r, TG_SHAPE(a, b, c)),
                        test_leaf(&r, e.nd, e.ns)};
    assert_gradcheck(f_rms, 2, in, &e);
    assert_gradgradcheck(f_rms, 2, in, &e);
    assert_gradcheck(f_rms_noweight, 1, in, &e);
    assert_gradgradcheck(f_rms_noweight, 1, in, &e);
  }
  /* a leaf weight's gradient goes straight to .grad: the same as create_graph's */
  tg_tensor *x = test_leaf(&r, TG_SHAPE(3, 4)), *w = test_leaf(&r, TG_SHAPE(4));
  assert_int_equal(tg_backward(tg_sum(tg_mul(tg_rms_norm(x, TG_SHAPE(4), w, 1e-5), x)), NULL, false), 0);
  tg_tensor *gx = tg_clone(x->grad), *gw = tg_clone(w->grad);
  tg_tensor *l = tg_sum(tg_mul(tg_rms_norm(x, TG_SHAPE(4), w, 1e-5), x));
  tg_tensor *gs[2];
  assert_int_equal(tg_grad(1, &l, NULL, 2, (tg_tensor *[]){x, w}, gs, (tg_grad_opts){.create_graph = true}), 0);
  for (size_t i = 0; i < 12; i++) assert_close(tg_get_flat(gs[0], i), tg_get_flat(gx, i), 1e-12);
  for (size_t i = 0; i < 4; i++) assert_close(tg_get_flat(gs[1], i), tg_get_flat(gw, i), 1e-12);
}

static void test_rms_norm_errors(void **s) {
  (void)s;
  tg_tensor *x = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3));
  assert_fails(tg_rms_norm(x, TG_SHAPE(2), NULL, NAN), "normalized_shape=[2]");
  assert_fails(tg_rms_norm(x, 0, NULL, NULL, NAN), "rms_norm");
  assert_fails(tg_rms_norm(x, TG_SHAPE(3), tg_zeros(TG_FLOAT64, TG_SHAPE(2)), NAN), "weight");
  assert_fails(tg_rms_norm(x, TG_SHAPE(3), tg_zeros(TG_FLOAT32, TG_SHAPE(3)), NAN), "weight");
  assert_fails(tg_rms_norm(tg_zeros(TG_INT64, TG_SHAPE(3)), TG_SHAPE(3), NULL, NAN), "rms_norm");
  assert_fails(tg_rms_norm(NULL, TG_SHAPE(3), NULL, NAN), "argument 1 is NULL");
  tg_module *m = tg_nn_rmsnorm(TG_SHAPE(3), NAN, true);
  assert_non_null(m);
  assert_string_equal(m->type, "RMSNorm");
  assert_string_equal(m->params[0].name, "weight");
  assert_close(tg_get_flat(m->params[0].tensor, 2), 1, 0);
  tg_tensor *x32 = tg_randn(NULL, TG_FLOAT32, TG_SHAPE(2, 3));
  test_assert_identical(tg_module_forward(m, x32), tg_rms_norm(x32, TG_SHAPE(3), m->params[0].tensor, NAN));
  tg_module_free(m);
  m = tg_nn_rmsnorm(TG_SHAPE(3), 1e-6, false);
  assert_int_equal(m->n_params, 0);
  tg_module_free(m);
  assert_fails(tg_nn_rmsnorm(0, NULL, NAN, true), "rmsnorm");
}

/* ---------------------------------------------------------- rnn cells */

/* in: x, h, c, w_ih, w_hh, b_ih, b_hh; ctx: which cell (0 rnn tanh, 1 rnn
 * relu, 2 lstm h, 3 lstm c, 4 gru), x transposed from a (in, N) leaf */
static tg_tensor *f_cell(tg_tensor **in, void *c) {
  int kind = *(int *)c;
  tg_tensor *x = tg_transpose(in[0], 0, 1), *h = NULL, *cc = NULL;
  if (kind <= 1) return tg_rnn_cell(x, in[1], in[3], in[4], in[5], in[6], kind ? "relu" : "tanh");
  if (kind == 4) return tg_gru_cell(x, in[1], in[3], in[4], in[5], in[6]);
  if (tg_lstm_cell(x, in[1], in[2], in[3], in[4], in[5], in[6], &h, &cc)) return NULL;
  return kind == 2 ? h : cc;
}

static void test_cells_grad(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 13);
  for (int kind = 0; kind < 5; kind++) {
    size_t N = rand_int(&r, 1, 3), I = rand_int(&r, 1, 3), H = rand_int(&r, 1, 3);
    size_t G = kind <= 1 ? 1 : kind == 4 ? 3 : 4;
    tg_tensor *in[7] = {test_leaf(&r, TG_SHAPE(I, N)), test_leaf(&r, TG_SHAPE(N, H)), test_leaf(&r, TG_SHAPE(N, H)),
                        test_leaf(&r, TG_SHAPE(G * H, I)), test_leaf(&r, TG_SHAPE(G * H, H)),
                        test_leaf(&r, TG_SHAPE(G * H)), test_leaf(&r, TG_SHAPE(G * H))};
    assert_gradcheck(f_cell, 7, in, &kind);
    assert_gradgradcheck(f_cell, 7, in, &kind);
  }
}

static void test_cells_values(void **s) {
  (void)s;
  /* H = 1, in = 1, unbatched: every gate's pre-activation is w x + u h + b */
  tg_tensor *x = tg_from_f64(TG_SHAPE(1), (const double[]){0.5});
  tg_tensor *h = tg_from_f64(TG_SHAPE(1), (const double[]){-1});
  tg_tensor *c = tg_from_f64(TG_SHAPE(1), (const double[]){2});
  tg_tensor *w1 = tg_from_f64(TG_SHAPE(1, 1), (const double[]){2}), *u1 = tg_from_f64(TG_SHAPE(1, 1), (const double[]){3});
  tg_tensor *y = tg_rnn_cell(x, h, w1, u1, NULL, NULL, "tanh");
  assert_int_equal(y->ndim, 1);
  assert_close(tg_item(y), tanh(1.0 - 3.0), 1e-15);
  assert_close(tg_item(tg_rnn_cell(x, NULL, w1, u1, NULL, NULL, "relu")), 1.0, 0);
  /* lstm gates i, f, g, o from weights (1, 2, 3, 4) on x only */
  tg_tensor *w4 = tg_from_f64(TG_SHAPE(4, 1), (const double[]){1, 2, 3, 4}), *u4 = tg_zeros(TG_FLOAT64, TG_SHAPE(4, 1));
  tg_tensor *ho, *co;
  assert_int_equal(tg_lstm_cell(x, h, c, w4, u4, NULL, NULL, &ho, &co), 0);
  double sg = 1 / (1 + exp(-0.5)), sf = 1 / (1 + exp(-1.0)), so = 1 / (1 + exp(-2.0));
  double cw = sf * 2 + sg * tanh(1.5);
  assert_close(tg_item(co), cw, 1e-15);
  assert_close(tg_item(ho), so * tanh(cw), 1e-15);
  /* gru r, z, n: n = tanh(w_n x + r (u_n h)) with u = (0, 0, 1) */
  tg_tensor *w3 = tg_from_f64(TG_SHAPE(3, 1), (const double[]){1, 2, 3}), *u3 = tg_from_f64(TG_SHAPE(3, 1), (const double[]){0, 0, 1});
  double rr = 1 / (1 + exp(-0.5)), z = 1 / (1 + exp(-1.0)), n = tanh(1.5 + rr * -1);
  assert_close(tg_item(tg_gru_cell(x, h, w3, u3, NULL, NULL)), (1 - z) * n + z * -1, 1e-15);
}

static void test_cells_errors(void **s) {
  (void)s;
  tg_tensor *x = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3)), *h = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 4));
  tg_tensor *w = tg_zeros(TG_FLOAT64, TG_SHAPE(4, 3)), *u = tg_zeros(TG_FLOAT64, TG_SHAPE(4, 4));
  assert_non_null(tg_rnn_cell(x, h, w, u, NULL, NULL, "tanh"));
  assert_fails(tg_rnn_cell(x, h, w, u, NULL, NULL, "sigmoid"), "Unknown nonlinearity");
  assert_fails(tg_rnn_cell(tg_zeros(TG_FLOAT64, TG_SHAPE(1, 2, 3)), h, w, u, NULL, NULL, "tanh"), "1D or 2D");
  assert_fails(tg_rnn_cell(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 2)), h, w, u, NULL, NULL, "tanh"), "input_size");
  assert_fails(tg_rnn_cell(x, tg_zeros(TG_FLOAT64, TG_SHAPE(3, 4)), w, u, NULL, NULL, "tanh"), "hx");
  assert_fails(tg_rnn_cell(x, tg_zeros(TG_FLOAT64, TG_SHAPE(4)), w, u, NULL, NULL, "tanh"), "hx");
  assert_fails(tg_rnn_cell(x, h, w, u, tg_zeros(TG_FLOAT64, TG_SHAPE(3)), NULL, "tanh"), "bias_ih");
  assert_fails(tg_gru_cell(x, h, w, u, NULL, NULL), "weights");
  assert_fails(tg_rnn_cell(x, h, tg_zeros(TG_FLOAT32, TG_SHAPE(4, 3)), u, NULL, NULL, "tanh"), "dtype");
  tg_tensor *ho = x, *co = x;
  assert_int_equal(tg_lstm_cell(x, h, h, w, u, NULL, NULL, &ho, &co), -1);
  assert_null(ho);
  assert_null(co);
  assert_fails(NULL, "weights");
  assert_int_equal(tg_lstm_cell(x, h, h, w, u, NULL, NULL, &ho, NULL), -1);
  assert_fails(NULL, "argument 9 is NULL");
  assert_fails(tg_rnn_cell(NULL, h, w, u, NULL, NULL, "tanh"), "argument 1 is NULL");
}

/* ------------------------------------------------------------ attention */

/* ctx: 0 no mask, 1 causal, 2 bool mask in[3], 3 float mask in[3]; q transposed from (E, L) */
static tg_tensor *f_sdpa(tg_tensor **in, void *c) {
  int kind = *(int *)c;
  tg_tensor *q = tg_transpose(in[0], -2, -1), *mask = kind >= 2 ? in[3] : NULL;
  return tg_scaled_dot_product_attention(q, in[1], in[2], mask, kind == 1, 0.0, kind == 3 ? 0.7 : NAN, NULL);
}

/* softmax(q k^T / sqrt(E) + mask) v by composition, as the oracle's formula */
static tg_tensor *sdpa_composed(tg_tensor *q, tg_tensor *k, tg_tensor *v, tg_tensor *add) {
  tg_tensor *s = tg_mul_scalar(tg_matmul(q, tg_transpose(k, -2, -1)), 1 / sqrt((double)q->shape[q->ndim - 1]));
  return tg_matmul(tg_softmax(add ? tg_add(s, add) : s, -1), v);
}

static void test_sdpa_grad(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 14);
  for (int kind = 0; kind < 4; kind++) {
    size_t B = rand_int(&r, 1, 2), L = rand_int(&r, 1, 3), S = rand_int(&r, 2, 3), E = rand_int(&r, 1, 3);
    /* k broadcasts over the batch; the masks over (L, S) rows */
    tg_tensor *mask = NULL;
    if (kind == 2) {
      mask = tg_zeros(TG_BOOL, TG_SHAPE(L, S));
      for (size_t i = 0; i < L * S; i++) ((uint8_t *)tg_data(mask))[i] = i % S == 0 || tg_rng_uniform(&r) < 0.6;
    } else if (kind == 3) {
      mask = test_leaf(&r, TG_SHAPE(1, S));
    }
    tg_tensor *in[4] = {test_leaf(&r, TG_SHAPE(B, E, L)), test_leaf(&r, TG_SHAPE(1, S, E)),
                        test_leaf(&r, TG_SHAPE(B, S, 2)), mask};
    int n = kind == 3 ? 4 : 3;
    assert_gradcheck(f_sdpa, n, in, &kind);
    assert_gradgradcheck(f_sdpa, n, in, &kind);
  }
}

static void test_sdpa_values(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 15);
  tg_tensor *q = test_leaf(&r, TG_SHAPE(2, 3, 4)), *k = test_leaf(&r, TG_SHAPE(2, 5, 4));
  tg_tensor *v = test_leaf(&r, TG_SHAPE(2, 5, 3));
  tg_tensor *y = tg_scaled_dot_product_attention(q, k, v, NULL, false, 0, NAN, NULL);
  tg_tensor *want = sdpa_composed(q, k, v, NULL);
  for (size_t i = 0; i < y->numel; i++) assert_close(tg_get_flat(y, i), tg_get_flat(want, i), 1e-12);
  /* causal: row i attends to keys 0..i; the same as a -inf additive mask */
  double tri[15];
  for (size_t i = 0; i < 15; i++) tri[i] = i % 5 > i / 5 ? -INFINITY : 0;
  y = tg_scaled_dot_product_attention(q, k, v, NULL, true, 0, NAN, NULL);
  want = sdpa_composed(q, k, v, tg_from_f64(TG_SHAPE(3, 5), tri));
  for (size_t i = 0; i < y->numel; i++) assert_close(tg_get_flat(y, i), tg_get_flat(want, i), 1e-12);
  /* the fused backward and the recorded one agree */
  assert_int_equal(tg_backward(tg_sum(tg_mul(y, y)), NULL, false), 0);
  tg_tensor *gq = tg_clone(q->grad);
  tg_tensor *l = tg_sum(tg_mul(want, want)), *gs[1];
  assert_int_equal(tg_grad(1, &l, NULL, 1, &q, gs, (tg_grad_opts){0}), 0);
  for (size_t i = 0; i < gq->numel; i++) assert_close(tg_get_flat(gq, i), tg_get_flat(gs[0], i), 1e-12);
  /* dropout 1 drops every probability: zeros; 0.5 keeps the shape */
  y = tg_scaled_dot_product_attention(q, k, v, NULL, false, 1.0, NAN, &r);
  for (size_t i = 0; i < y->numel; i++) assert_close(tg_get_flat(y, i), 0, 0);
  y = tg_scaled_dot_product_attention(q, k, v, NULL, false, 0.5, NAN, &r);
  assert_int_equal(y->shape[2], 3);
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
}

static void test_sdpa_errors(void **s) {
  (void)s;
  tg_tensor *q = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3)), *k = tg_zeros(TG_FLOAT64, TG_SHAPE(4, 3));
  tg_tensor *v = tg_zeros(TG_FLOAT64, TG_SHAPE(4, 2));
  assert_non_null(tg_scaled_dot_product_attention(q, k, v, NULL, false, 0, NAN, NULL));
  assert_fails(tg_scaled_dot_product_attention(q, v, v, NULL, false, 0, NAN, NULL), "(..., S, E)");
  assert_fails(tg_scaled_dot_product_attention(q, k, q, NULL, false, 0, NAN, NULL), "(..., S, E)");
  assert_fails(tg_scaled_dot_product_attention(q, k, tg_zeros(TG_FLOAT32, TG_SHAPE(4, 2)), NULL, false, 0, NAN, NULL),
               "same dtype");
  tg_tensor *m = tg_zeros(TG_BOOL, TG_SHAPE(2, 4));
  assert_fails(tg_scaled_dot_product_attention(q, k, v, m, true, 0, NAN, NULL), "is_causal");
  assert_fails(tg_scaled_dot_product_attention(q, k, v, tg_zeros(TG_INT64, TG_SHAPE(2, 4)), false, 0, NAN, NULL),
               "attn_mask");
  assert_fails(tg_scaled_dot_product_attention(q, k, v, tg_zeros(TG_FLOAT64, TG_SHAPE(3, 4)), false, 0, NAN, NULL),
               "scaled_dot_product_attention");
  assert_fails(tg_scaled_dot_product_attention(q, k, v, NULL, false, 1.5, NAN, NULL), "dropout");
  assert_fails(tg_scaled_dot_product_attention(tg_zeros(TG_FLOAT64, TG_SHAPE(3)), k, v, NULL, false, 0, NAN, NULL),
               "(..., L, E)");
  /* batch dims that do not broadcast */
  assert_fails(tg_scaled_dot_product_attention(tg_zeros(TG_FLOAT64, TG_SHAPE(2, 2, 3)), tg_zeros(TG_FLOAT64, TG_SHAPE(3, 4, 3)),
                                               tg_zeros(TG_FLOAT64, TG_SHAPE(3, 4, 2)), NULL, false, 0, NAN, NULL),
               "scaled_dot_product_attention");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_embedding_values), TG_TEST(test_embedding_max_norm), TG_TEST(test_embedding_grad),
      TG_TEST(test_embedding_errors), TG_TEST(test_nn_embedding),
      TG_TEST(test_rms_norm_values), TG_TEST(test_rms_norm_grad), TG_TEST(test_rms_norm_errors),
      TG_TEST(test_cells_grad), TG_TEST(test_cells_values), TG_TEST(test_cells_errors),
      TG_TEST(test_sdpa_grad), TG_TEST(test_sdpa_values), TG_TEST(test_sdpa_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
