/* MultiheadAttention (nn/mha.c): PyTorch 1.13's names, shapes and
 * initialisation; the forward against a loop implementation of the
 * formula; masks in MHA's convention (true = not attended); float64
 * gradients and second derivatives through the module; dropout; errors. */
#include <stdlib.h>

#include "tg_test.h"

/* float64 module with random (not zero) biases, so the reference sees them */
static tg_module *mha64(size_t E, size_t H, tg_mha_opts o, uint64_t seed) {
  tg_rng r = test_seeded(seed);
  o.rng = &r;
  tg_module *m = tg_nn_multihead_attention(E, H, o);
  test_to_f64(m);
  m->rng = NULL; /* r ends here: dropout draws from the default generator */
  const char *b[] = {"in_proj_bias", "out_proj.bias"};
  for (int i = 0; i < 2; i++)
    if (tg_module_get(m, b[i])) assert_non_null(tg_init_normal_(tg_module_get(m, b[i]), &r, 0, 0.5));
  return m;
}

static tg_mha_opts opts_with(bool bias_kv, bool zero_attn) {
  tg_mha_opts o = tg_mha_defaults();
  o.add_bias_kv = bias_kv;
  o.add_zero_attn = zero_attn;
  return o;
}

/* ---- the reference: loops over seq-first (L, N, E) inputs, packed weights */
typedef struct ref_in {
  size_t L, S, N, E, H;
  tg_tensor *q, *k, *v;
  tg_tensor *kpm; /* bool (N, S), true = not attended, or NULL */
  tg_tensor *am;  /* float (L, S) added, or NULL */
  bool zero_attn;
} ref_in;

static double at(const tg_tensor *t, size_t i) { return t ? tg_get_flat(t, i) : 0.0; }

/* x (T, N, in) projected by rows [r0, r0 + E) of W and B: p[(t N + n) E + e] */
static void ref_project(const tg_tensor *x, size_t T, size_t N, size_t E, const tg_tensor *W, const tg_tensor *B,
                        size_t r0, double *p) {
  for (size_t t = 0; t < T; t++)
    for (size_t n = 0; n < N; n++)
      for (size_t e = 0; e < E; e++) {
        double s = at(B, r0 + e);
        for (size_t f = 0; f < E; f++) s += tg_get_flat(W, (r0 + e) * E + f) * tg_get_flat(x, (t * N + n) * E + f);
        p[(t * N + n) * E + e] = s;
      }
}

/* out (L, N, E); w (N, L, S') averaged over heads */
static void reference(const ref_in *a, const tg_module *m, double *out, double *w) {
  size_t L = a->L, S = a->S, N = a->N, E = a->E, H = a->H, hd = E / H;
  const tg_tensor *W = tg_module_get(m, "in_proj_weight"), *B = tg_module_get(m, "in_proj_bias");
  const tg_tensor *bk = tg_module_get(m, "bias_k"), *bv = tg_module_get(m, "bias_v");
  const tg_tensor *Wo = tg_module_get(m, "out_proj.weight"), *Bo = tg_module_get(m, "out_proj.bias");
  size_t S2 = S + (bk ? 1 : 0) + (a->zero_attn ? 1 : 0);
  double *qp = calloc(L * N * E, sizeof *qp), *kp = calloc(S2 * N * E, sizeof *kp), *vp = calloc(S2 * N * E, sizeof *vp);
  double *o = calloc(L * N * E, sizeof *o), *sc = calloc(S2, sizeof *sc);
  assert_true(qp && kp && vp && o && sc);
  ref_project(a->q, L, N, E, W, B, 0, qp);
  ref_project(a->k, S, N, E, W, B, E, kp);
  ref_project(a->v, S, N, E, W, B, 2 * E, vp);
  for (size_t n = 0; bk && n < N; n++)
    for (size_t e = 0; e < E; e++) kp[(S * N + n) * E + e] = at(bk, e), vp[(S * N + n) * E + e] = at(bv, e);
  memset(w, 0, N * L * S2 * sizeof *w);
  for (size_t n = 0; n < N; n++)
    for (size_t h = 0; h < H; h++)
      for (size_t i = 0; i < L; i++) {
        double mx = -INFINITY, z = 0;
        for (size_t j = 0; j < S2; j++) {
          double s = 0;
          for (size_t c = 0; c < hd; c++) s += qp[(i * N + n) * E + h * hd + c] * kp[(j * N + n) * E + h * hd + c];
          s /= sqrt((double)hd);
          if (j < S && a->am) s += tg_get_flat(a->am, i * S + j);
          if (j < S && a->kpm && tg_get_flat(a->kpm, n * S + j) != 0) s = -INFINITY;
          sc[j] = s;
          mx = fmax(mx, s);
        }
        for (size_t j = 0; j < S2; j++) z += sc[j] = exp(sc[j] - mx);
        for (size_t j = 0; j < S2; j++) {
          double pij = sc[j] / z;
          w[(n * L + i) * S2 + j] += pij / (double)H;
          for (size_t c = 0; c < hd; c++) o[(i * N + n) * E + h * hd + c] += pij * vp[(j * N + n) * E + h * hd + c];
        }
      }
  for (size_t r = 0; r < L * N; r++)
    for (size_t e = 0; e < E; e++) {
      double s = at(Bo, e);
      for (size_t f = 0; f < E; f++) s += tg_get_flat(Wo, e * E + f) * o[r * E + f];
      out[r * E + e] = s;
    }
  free(qp), free(kp), free(vp), free(o), free(sc);
}

static void assert_values(const tg_tensor *t, const double *want, size_t n, double tol) {
  assert_non_null(t);
  assert_int_equal(t->numel, n);
  for (size_t i = 0; i < n; i++)
    if (!(fabs(tg_get_flat(t, i) - want[i]) <= tol))
      fail_msg("element %zu: %.15g, expected %.15g", i, tg_get_flat(t, i), want[i]);
}

static void assert_all_close(const tg_tensor *a, const tg_tensor *b, double tol) {
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(a->ndim, b->ndim);
  for (int d = 0; d < a->ndim; d++) assert_int_equal(a->shape[d], b->shape[d]);
  for (size_t i = 0; i < a->numel; i++)
    if (!(fabs(tg_get_flat(a, i) - tg_get_flat(b, i)) <= tol))
      fail_msg("element %zu: %.15g vs %.15g", i, tg_get_flat(a, i), tg_get_flat(b, i));
}

static void assert_shape(const tg_tensor *t, int nd, const size_t *s) {
  assert_non_null(t);
  assert_int_equal(t->ndim, nd);
  for (int d = 0; d < nd; d++) assert_int_equal(t->shape[d], s[d]);
}

/* ---------------------------------------------------------------- tests */

/* the state dicts of torch 1.13 (printed there for these constructors) */
static void test_state_dict_names(void **s) {
  (void)s;
  struct {
    tg_mha_opts o;
    size_t n;
    const char *names[6];
    size_t shapes[6][3];
  } cases[] = {
      {tg_mha_defaults(), 4, {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"},
       {{12, 4}, {12}, {4, 4}, {4}}},
      {opts_with(true, false), 6,
       {"in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight", "out_proj.bias"},
       {{12, 4}, {12}, {1, 1, 4}, {1, 1, 4}, {4, 4}, {4}}},
      {{.kdim = 3, .vdim = 5}, 4, {"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"},
       {{4, 4}, {4, 3}, {4, 5}, {4, 4}}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    tg_module *m = tg_nn_multihead_attention(4, 2, cases[c].o);
    assert_non_null(m);
    assert_string_equal(m->type, "MultiheadAttention");
    tg_state_dict *sd = tg_module_state_dict(m);
    assert_non_null(sd);
    assert_int_equal(sd->n, cases[c].n);
    for (size_t k = 0; k < sd->n; k++) {
      assert_string_equal(sd->entries[k].name, cases[c].names[k]);
      const tg_tensor *t = sd->entries[k].tensor;
      for (int d = 0; d < t->ndim; d++) assert_int_equal(t->shape[d], cases[c].shapes[k][d]);
      assert_int_equal(t->ndim, cases[c].shapes[k][1] == 0 ? 1 : cases[c].shapes[k][2] == 0 ? 2 : 3);
    }
    tg_state_dict_free(sd);
    tg_module_free(m);
  }
}

/* torch's _reset_parameters: in_proj xavier_uniform U(+-sqrt(6 / (E + 3E))),
 * biases 0, out_proj.weight U(+-1/sqrt(E)), bias_k xavier_normal N(0, 1/E) */
static void test_initialisation(void **s) {
  (void)s;
  size_t E = 32;
  tg_rng r = test_seeded(5);
  tg_mha_opts o = opts_with(true, false);
  o.rng = &r;
  tg_module *m = tg_nn_multihead_attention(E, 4, o);
  assert_non_null(m);
  tg_tensor *w = tg_module_get(m, "in_proj_weight"), *wo = tg_module_get(m, "out_proj.weight");
  double bound = sqrt(6.0 / (4.0 * (double)E)), var = 0, maxabs = 0;
  for (size_t i = 0; i < w->numel; i++) {
    double x = tg_get_flat(w, i);
    maxabs = fmax(maxabs, fabs(x));
    var += x * x / (double)w->numel;
  }
  assert_true(maxabs <= bound && maxabs > 0.9 * bound);
  assert_close(var, bound * bound / 3, 0.1 * bound * bound / 3); /* 3072 draws */
  maxabs = 0;
  for (size_t i = 0; i < wo->numel; i++) maxabs = fmax(maxabs, fabs(tg_get_flat(wo, i)));
  assert_true(maxabs <= 1 / sqrt((double)E) && maxabs > 0.8 / sqrt((double)E));
  const char *zero[] = {"in_proj_bias", "out_proj.bias"};
  for (int k = 0; k < 2; k++) assert_close(tg_item(tg_sum(tg_abs(tg_module_get(m, zero[k])))), 0, 0);
  tg_tensor *bk = tg_module_get(m, "bias_k");
  assert_true(tg_item(tg_sum(tg_abs(bk))) > 0);
  assert_true(tg_item(tg_amax(tg_abs(bk), 0, NULL, false)) < 5 / sqrt((double)E));
  assert_int_equal(tg_module_num_parameters(m, false), 3 * E * E + 3 * E + 2 * E + E * E + E);
  tg_module_free(m);
}

typedef struct fixture {
  size_t L, S, N, E, H;
  tg_tensor *q, *k, *v, *kpm, *am;
} fixture;

static fixture make_fixture(tg_rng *r, size_t L, size_t S, size_t N, size_t E, size_t H) {
  fixture f = {.L = L, .S = S, .N = N, .E = E, .H = H};
  f.q = test_leaf(r, 3, (size_t[]){L, N, E});
  f.k = test_leaf(r, 3, (size_t[]){S, N, E});
  f.v = test_leaf(r, 3, (size_t[]){S, N, E});
  /* padding: key j of batch n blocked when (j + n) % 3 == 2; key 0 never */
  f.kpm = tg_zeros(TG_BOOL, TG_SHAPE(N, S));
  for (size_t n = 0; n < N; n++)
    for (size_t j = 1; j < S; j++) tg_set(f.kpm, (size_t[]){n, j}, (j + n) % 3 == 2);
  f.am = tg_randn(r, TG_FLOAT64, TG_SHAPE(L, S));
  return f;
}

static void check_against_reference(const fixture *f, bool bias_kv, bool zero_attn, bool use_kpm, bool use_am) {
  tg_module *m = mha64(f->E, f->H, opts_with(bias_kv, zero_attn), 11);
  ref_in a = {f->L, f->S, f->N, f->E, f->H, f->q, f->k, f->v, use_kpm ? f->kpm : NULL, use_am ? f->am : NULL, zero_attn};
  size_t S2 = f->S + bias_kv + zero_attn, no = f->L * f->N * f->E, nw = f->N * f->L * S2;
  double *out = malloc(no * sizeof *out), *w = malloc(nw * sizeof *w);
  reference(&a, m, out, w);
  tg_tensor *y = NULL, *wt = NULL, *y2 = NULL, *wn = (tg_tensor *)1;
  if (tg_nn_multihead_attention_forward(m, f->q, f->k, f->v, a.kpm, true, a.am, true, false, &y, &wt) != 0)
    fail_msg("%s", tg_last_error());
  assert_values(y, out, no, 1e-12);
  assert_shape(wt, 3, (size_t[]){f->N, f->L, S2});
  assert_values(wt, w, nw, 1e-12);
  /* need_weights false: the fused node, the same output, no weights */
  assert_int_equal(tg_nn_multihead_attention_forward(m, f->q, f->k, f->v, a.kpm, false, a.am, true, false, &y2, &wn), 0);
  assert_null(wn);
  assert_values(y2, out, no, 1e-12);
  free(out);
  free(w);
  tg_module_free(m);
}

static void test_forward_against_loops(void **s) {
  (void)s;
  tg_rng r = test_seeded(7);
  fixture f = make_fixture(&r, 3, 4, 2, 6, 3);
  for (int c = 0; c < 16; c++) check_against_reference(&f, c & 1, c & 2, c & 4, c & 8);
  /* self-attention: the packed projection, one product */
  fixture g = f;
  g.S = g.L;
  g.k = g.v = g.q;
  g.am = tg_narrow(f.am, 1, 0, 3);
  check_against_reference(&g, false, false, false, true);
}

/* batch_first and unbatched inputs give the seq-first results, moved */
static void test_layouts(void **s) {
  (void)s;
  tg_rng r = test_seeded(8);
  fixture f = make_fixture(&r, 3, 2, 2, 4, 2);
  tg_module *m = mha64(4, 2, tg_mha_defaults(), 12);
  tg_mha_opts bo = tg_mha_defaults();
  bo.batch_first = true;
  tg_module *mb = mha64(4, 2, bo, 12); /* the same seed: the same parameters */
  tg_tensor *y, *w, *yb, *wb;
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, f.kpm, true, NULL, true, false, &y, &w), 0);
  tg_tensor *qb = tg_transpose(f.q, 0, 1), *kb = tg_transpose(f.k, 0, 1), *vb = tg_transpose(f.v, 0, 1);
  assert_int_equal(tg_nn_multihead_attention_forward(mb, qb, kb, vb, f.kpm, true, NULL, true, false, &yb, &wb), 0);
  assert_shape(yb, 3, (size_t[]){2, 3, 4});
  assert_all_close(tg_transpose(yb, 0, 1), y, 1e-13);
  assert_all_close(wb, w, 1e-13);
  /* unbatched (L, E): batch 1 squeezed, in either module */
  tg_tensor *q1 = tg_select(f.q, 1, 0), *k1 = tg_select(f.k, 1, 0), *v1 = tg_select(f.v, 1, 0);
  tg_tensor *kpm1 = tg_select(f.kpm, 0, 0);
  for (int b = 0; b < 2; b++) {
    tg_tensor *y1, *w1, *yn, *wn;
    tg_module *mm = b ? mb : m;
    assert_int_equal(tg_nn_multihead_attention_forward(mm, q1, k1, v1, kpm1, true, NULL, false, false, &y1, &w1), 0);
    assert_shape(y1, 2, (size_t[]){3, 4});
    assert_shape(w1, 3, (size_t[]){2, 3, 2}); /* per head: (H, L, S) */
    tg_tensor *qn = tg_unsqueeze(q1, 1), *kn = tg_unsqueeze(k1, 1), *vn = tg_unsqueeze(v1, 1);
    assert_int_equal(tg_nn_multihead_attention_forward(m, qn, kn, vn, tg_unsqueeze(kpm1, 0), true, NULL, false, false,
                                                       &yn, &wn), 0);
    assert_all_close(y1, tg_squeeze(yn, 1), 1e-13);
    assert_all_close(w1, tg_squeeze(wn, 0), 1e-13);
  }
  tg_module_free(m);
  tg_module_free(mb);
}

/* bool true = not attended: weight exactly 0 there; the float -inf form,
 * a 3-D per-head mask, is_causal and the explicit causal mask agree */
static void test_mask_conventions(void **s) {
  (void)s;
  tg_rng r = test_seeded(9);
  size_t L = 3, S = 3, N = 2, E = 4, H = 2;
  fixture f = make_fixture(&r, L, S, N, E, H);
  tg_module *m = mha64(E, H, tg_mha_defaults(), 13);
  tg_tensor *blocked = tg_from_data(TG_BOOL, TG_SHAPE(L, S), (const uint8_t[]){0, 1, 0, 0, 0, 1, 0, 1, 1});
  tg_tensor *neg = tg_masked_fill(tg_zeros(TG_FLOAT64, TG_SHAPE(L, S)), blocked, -INFINITY);
  tg_tensor *y[2], *w[2];
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, NULL, true, blocked, false, false, &y[0], &w[0]), 0);
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, NULL, true, neg, false, false, &y[1], &w[1]), 0);
  test_assert_identical(y[0], y[1]);
  test_assert_identical(w[0], w[1]);
  for (size_t n = 0; n < N; n++)
    for (size_t h = 0; h < H; h++)
      for (size_t i = 0; i < L; i++) {
        double row = 0;
        for (size_t j = 0; j < S; j++) {
          double p = tg_get(w[0], (size_t[]){n, h, i, j});
          if (tg_get(blocked, (size_t[]){i, j}) != 0) assert_true(p == 0);
          else assert_true(p > 0);
          row += p;
        }
        assert_close(row, 1, 1e-12);
      }
  /* 3-D (N H, L, S): head 1 of batch 0 blocked differently from the rest */
  tg_tensor *m3 = tg_contiguous(tg_expand(tg_unsqueeze(blocked, 0), TG_SHAPE(N * H, L, S)));
  tg_set(m3, (size_t[]){1, 0, 0}, 1);
  tg_tensor *y3, *w3;
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, NULL, true, m3, false, false, &y3, &w3), 0);
  assert_true(tg_get(w3, (size_t[]){0, 1, 0, 0}) == 0);
  assert_true(tg_get(w3, (size_t[]){0, 0, 0, 0}) > 0);
  assert_close(tg_get(w3, (size_t[]){1, 1, 2, 0}), tg_get(w[0], (size_t[]){1, 1, 2, 0}), 1e-15);
  /* is_causal: j > i blocked, on both paths; the fused path's own mask */
  tg_tensor *tri = tg_from_data(TG_BOOL, TG_SHAPE(L, S), (const uint8_t[]){0, 1, 1, 0, 0, 1, 0, 0, 0});
  tg_tensor *yc, *wc, *ye, *we, *yf;
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, f.kpm, true, NULL, true, true, &yc, &wc), 0);
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, f.kpm, true, tri, true, false, &ye, &we), 0);
  test_assert_identical(yc, ye);
  test_assert_identical(wc, we);
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, NULL, true, tri, true, false, &ye, &we), 0);
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, NULL, false, NULL, true, true, &yf, NULL), 0);
  assert_all_close(yf, ye, 1e-12);
  /* a float key_padding_mask is added */
  tg_tensor *kf = tg_randn(&r, TG_FLOAT64, TG_SHAPE(N, S)), *yk, *wk;
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, kf, true, NULL, true, false, &yk, &wk), 0);
  tg_tensor *as3 = tg_contiguous(tg_expand(tg_reshape(kf, TG_SHAPE(N, 1, 1, S)), TG_SHAPE(N, H, L, S)));
  tg_tensor *yk3, *wk3;
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, NULL, true, tg_reshape(as3, TG_SHAPE(N * H, L, S)),
                                                     true, false, &yk3, &wk3), 0);
  assert_all_close(yk, yk3, 1e-12);
  assert_all_close(wk, wk3, 1e-12);
  tg_module_free(m);
}

/* ---- gradients */
typedef struct grad_ctx {
  tg_module *m;
  tg_tensor *kpm;
  bool need_weights, transpose_q, causal, expand_k;
  int n_masks; /* inputs[3] is a float attn_mask when n_masks > 0 */
} grad_ctx;

/* inputs: q, k, v, [attn_mask], then the module's parameters (read by m itself) */
static tg_tensor *mha_fn(tg_tensor **in, void *c) {
  grad_ctx *g = c;
  tg_tensor *q = g->transpose_q ? tg_transpose(in[0], 0, 1) : in[0], *y, *w = NULL;
  tg_tensor *k = g->expand_k ? tg_expand(in[1], TG_SHAPE(in[1]->shape[0], in[2]->shape[1], in[1]->shape[2])) : in[1];
  if (tg_nn_multihead_attention_forward(g->m, q, k, in[2], g->kpm, g->need_weights, g->n_masks ? in[3] : NULL,
                                        true, g->causal, &y, g->need_weights ? &w : NULL) != 0)
    return NULL;
  /* weights (N, L, S') and output (L, N, E) both in the result */
  return w ? tg_cat(2, (tg_tensor *[]){tg_flatten(y, 0, -1), tg_flatten(w, 0, -1)}, 0) : y;
}

static int with_params(tg_module *m, tg_tensor **in, int n) {
  size_t np;
  tg_tensor **p = tg_module_parameters(m, &np);
  for (size_t k = 0; k < np; k++) in[n++] = p[k];
  return n;
}

static void test_gradcheck(void **s) {
  (void)s;
  tg_rng r = test_seeded(10);
  size_t L = 2, S = 3, N = 2, E = 4, H = 2;
  for (int c = 0; c < 8; c++) {
    bool bias_kv = c & 1, zero_attn = c & 2, need_weights = c & 4;
    tg_module *m = mha64(E, H, opts_with(bias_kv, zero_attn), 20 + (uint64_t)c);
    fixture f = make_fixture(&r, L, S, N, E, H);
    tg_tensor *qt = test_leaf(&r, 3, (size_t[]){N, L, E}); /* seen transposed: non-contiguous */
    tg_tensor *am = tg_requires_grad_(tg_randn(&r, TG_FLOAT64, TG_SHAPE(L, S)), true);
    grad_ctx g = {m, f.kpm, need_weights, true, false, false, 1};
    tg_tensor *in[16] = {qt, f.k, f.v, am};
    int n = with_params(m, in, 4);
    assert_gradcheck(mha_fn, n, in, &g);
    /* a broadcast (expanded) key, is_causal, no attn_mask, bias-free module */
    tg_mha_opts o = opts_with(bias_kv, zero_attn);
    o.bias = false;
    tg_module *m2 = mha64(E, H, o, 40 + (uint64_t)c);
    tg_tensor *k1 = test_leaf(&r, 3, (size_t[]){S, 1, E});
    grad_ctx g2 = {m2, NULL, need_weights, false, true, true, 0};
    tg_tensor *in2[16] = {f.q, k1, f.v};
    int n2 = with_params(m2, in2, 3);
    assert_gradcheck(mha_fn, n2, in2, &g2);
    tg_module_free(m2);
    tg_module_free(m);
  }
}

/* kdim, vdim: the separate projections, batch_first */
static void test_gradcheck_kdim_vdim(void **s) {
  (void)s;
  tg_rng r = test_seeded(11);
  tg_mha_opts o = opts_with(true, true);
  o.kdim = 3;
  o.vdim = 5;
  o.batch_first = true;
  tg_module *m = mha64(4, 2, o, 50);
  assert_non_null(tg_module_get(m, "k_proj_weight"));
  tg_tensor *kpm = tg_from_data(TG_BOOL, TG_SHAPE(2, 3), (const uint8_t[]){0, 1, 0, 0, 0, 1});
  tg_tensor *in[16] = {test_leaf(&r, 3, (size_t[]){2, 2, 4}), test_leaf(&r, 3, (size_t[]){2, 3, 3}),
                       test_leaf(&r, 3, (size_t[]){2, 3, 5})};
  int n = with_params(m, in, 3);
  for (int nw = 0; nw < 2; nw++) {
    grad_ctx g = {m, kpm, nw, false, false, false, 0};
    assert_gradcheck(mha_fn, n, in, &g);
  }
  tg_module_free(m);
}

static void test_gradgradcheck(void **s) {
  (void)s;
  tg_rng r = test_seeded(12);
  for (int nw = 0; nw < 2; nw++) {
    tg_module *m = mha64(2, 2, opts_with(nw, false), 60);
    tg_tensor *am = tg_requires_grad_(tg_randn(&r, TG_FLOAT64, TG_SHAPE(2, 2)), true);
    grad_ctx g = {m, NULL, nw, false, false, false, 1};
    tg_tensor *in[16] = {test_leaf(&r, 3, (size_t[]){2, 1, 2}), test_leaf(&r, 3, (size_t[]){2, 1, 2}),
                         test_leaf(&r, 3, (size_t[]){2, 1, 2}), am};
    int n = with_params(m, in, 4);
    assert_gradgradcheck(mha_fn, n, in, &g);
    tg_module_free(m);
  }
}

/* ---- dropout, modes, the multi-module calls */
static void test_dropout(void **s) {
  (void)s;
  tg_rng r = test_seeded(13);
  fixture f = make_fixture(&r, 3, 4, 2, 4, 2);
  tg_mha_opts o = tg_mha_defaults();
  o.dropout = 0.5;
  tg_module *m = mha64(4, 2, o, 70), *m0 = mha64(4, 2, tg_mha_defaults(), 70);
  tg_rng dr = test_seeded(99);
  m->rng = &dr;
  tg_tensor *y, *w, *y0, *w0, *y1, *y2;
  /* eval: no dropout */
  tg_module_eval(m);
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, NULL, true, NULL, false, false, &y, &w), 0);
  assert_int_equal(tg_nn_multihead_attention_forward(m0, f.q, f.k, f.v, NULL, true, NULL, false, false, &y0, &w0), 0);
  test_assert_identical(y, y0);
  test_assert_identical(w, w0);
  /* training: each weight 0 or 2x the undropped one; both paths draw alike */
  tg_module_train(m, true);
  tg_rng_seed(&dr, 5);
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, NULL, true, NULL, false, false, &y1, &w), 0);
  size_t zeros = 0;
  for (size_t i = 0; i < w->numel; i++) {
    double a = tg_get_flat(w, i), b = tg_get_flat(w0, i);
    if (a == 0) zeros++;
    else assert_close(a, 2 * b, 1e-14);
  }
  assert_true(zeros > w->numel / 5 && zeros < w->numel * 4 / 5);
  tg_rng_seed(&dr, 5);
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, NULL, false, NULL, false, false, &y2, NULL), 0);
  assert_all_close(y2, y1, 1e-12);
  /* p = 1: every weight dropped, the output is out_proj's bias */
  tg_module *m1 = mha64(4, 2, (tg_mha_opts){.dropout = 1.0, .bias = true}, 71);
  assert_int_equal(tg_nn_multihead_attention_forward(m1, f.q, f.k, f.v, NULL, false, NULL, true, false, &y, NULL), 0);
  tg_tensor *ob = tg_module_get(m1, "out_proj.bias");
  for (size_t i = 0; i < y->numel; i++) assert_close(tg_get_flat(y, i), tg_get_flat(ob, i % 4), 0);
  tg_module_free(m1);
  tg_module_free(m);
  tg_module_free(m0);
}

static void test_multi_module_calls(void **s) {
  (void)s;
  tg_rng r = test_seeded(14);
  fixture f = make_fixture(&r, 3, 4, 2, 4, 2);
  tg_module *m = mha64(4, 2, tg_mha_defaults(), 80);
  tg_tensor *y, *w, *out[2] = {0};
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, f.kpm, true, f.am, true, false, &y, &w), 0);
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){f.q, f.k, f.v, f.kpm, f.am}, 5, out, 2), 2);
  test_assert_identical(out[0], y);
  test_assert_identical(out[1], w);
  /* one output: the fused path, the same values */
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){f.q, f.k, f.v, f.kpm, f.am}, 5, out, 1), 1);
  assert_all_close(out[0], y, 1e-12);
  /* tg_module_forward: self-attention */
  tg_tensor *ys;
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.q, f.q, NULL, false, NULL, true, false, &ys, NULL), 0);
  assert_all_close(tg_module_forward(m, f.q), ys, 1e-12); /* with the weights: composed */
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){f.q, NULL, NULL}, 3, out, 1), 1);
  test_assert_identical(out[0], ys);
  tg_tensor *six[6] = {f.q, f.k, f.v, NULL, NULL, NULL};
  assert_int_equal(tg_module_forward_multi(m, six, 6, out, 2), -1);
  test_expect_error("multihead_attention", "got 6");
  /* a float32 module converted: parameters are looked up afresh */
  tg_module *m32 = tg_nn_multihead_attention(4, 2, tg_mha_defaults());
  tg_tensor *x32 = tg_randn(&r, TG_FLOAT32, TG_SHAPE(3, 2, 4));
  assert_non_null(tg_module_forward(m32, x32));
  assert_null(tg_module_forward(m32, f.q));
  test_expect_error("multihead_attention", "in_proj_weight is float32 but query is float64");
  tg_module_free(m32);
  tg_module_free(m);
}

static void test_backward_into_params(void **s) {
  (void)s;
  tg_rng r = test_seeded(15);
  fixture f = make_fixture(&r, 3, 4, 2, 4, 2);
  tg_module *m = mha64(4, 2, opts_with(true, true), 90);
  tg_tensor *y, *w;
  assert_int_equal(tg_nn_multihead_attention_forward(m, f.q, f.k, f.v, f.kpm, true, NULL, true, false, &y, &w), 0);
  assert_int_equal(tg_backward(tg_add(tg_sum(tg_mul(y, y)), tg_sum(tg_mul(w, w))), NULL, false), 0);
  size_t np;
  tg_tensor **p = tg_module_parameters(m, &np);
  assert_int_equal(np, 6);
  for (size_t k = 0; k < np; k++) {
    assert_non_null(p[k]->grad);
    assert_true(tg_item(tg_sum(tg_abs(p[k]->grad))) > 0);
  }
  assert_non_null(f.q->grad);
  tg_module_free(m);
}

/* a steady step (forward with masks on both paths, backward, zero_grad)
 * takes nothing new from the system after the first */
static void test_steady_step_allocates_nothing(void **s) {
  (void)s;
  tg_rng r = test_seeded(17);
  tg_module *m = mha64(8, 2, opts_with(true, true), 95);
  tg_tensor *x = tg_keep(tg_randn(&r, TG_FLOAT64, TG_SHAPE(5, 3, 8)));
  tg_tensor *kpm = tg_keep(tg_zeros(TG_BOOL, TG_SHAPE(3, 5)));
  size_t first = 0;
  for (int it = 0; it < 20; it++) {
    tg_scope_begin();
    tg_tensor *y1, *y2, *w;
    assert_int_equal(tg_nn_multihead_attention_forward(m, x, x, x, kpm, true, NULL, true, true, &y1, &w), 0);
    assert_int_equal(tg_nn_multihead_attention_forward(m, x, NULL, NULL, kpm, false, NULL, true, false, &y2, NULL), 0);
    assert_int_equal(tg_module_zero_grad(m), 0);
    assert_int_equal(tg_backward(tg_add(tg_sum(tg_mul(y1, y2)), tg_sum(w)), NULL, false), 0);
    tg_scope_end();
    if (it == 0) first = tg_memory_get_stats().mallocs;
    else if (tg_memory_get_stats().mallocs != first)
      fail_msg("step %d: %zu system allocations, %zu after the first", it, tg_memory_get_stats().mallocs, first);
  }
  tg_free(x);
  tg_free(kpm);
  tg_module_free(m);
}

/* zero-size L, S or N: torch 1.13's shapes; with no keys the attention is
 * 0 and the output out_proj's bias */
static void test_empty(void **s) {
  (void)s;
  tg_rng r = test_seeded(18);
  tg_module *m = mha64(4, 2, tg_mha_defaults(), 96);
  struct {
    size_t L, S, N;
  } c[] = {{0, 3, 2}, {2, 0, 2}, {2, 3, 0}};
  for (int k = 0; k < 3; k++) {
    tg_tensor *q = test_leaf(&r, 3, (size_t[]){c[k].L, c[k].N, 4}), *kv = test_leaf(&r, 3, (size_t[]){c[k].S, c[k].N, 4});
    for (int nw = 0; nw < 2; nw++) {
      tg_tensor *y, *w = NULL;
      assert_int_equal(tg_nn_multihead_attention_forward(m, q, kv, kv, NULL, nw, NULL, true, false, &y, &w), 0);
      assert_shape(y, 3, (size_t[]){c[k].L, c[k].N, 4});
      if (nw) assert_shape(w, 3, (size_t[]){c[k].N, c[k].L, c[k].S});
      for (size_t i = 0; i < y->numel; i++)
        assert_close(tg_get_flat(y, i), tg_get_flat(tg_module_get(m, "out_proj.bias"), i % 4), 1e-15);
      assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
    }
  }
  tg_module_free(m);
}

/* ---- errors: NULL / -1, a message naming the op and what is wrong */
static void expect_fail(tg_module *m, tg_tensor *q, tg_tensor *k, tg_tensor *v, tg_tensor *kpm, tg_tensor *am,
                        bool causal, const char *a, const char *b) {
  tg_tensor *y = (tg_tensor *)1, *w = (tg_tensor *)1;
  assert_int_equal(tg_nn_multihead_attention_forward(m, q, k, v, kpm, true, am, true, causal, &y, &w), -1);
  assert_null(y);
  assert_null(w);
  test_expect_error(a, b);
}

static void test_errors(void **s) {
  (void)s;
  tg_rng r = test_seeded(16);
  assert_null(tg_nn_multihead_attention(6, 4, tg_mha_defaults()));
  test_expect_error("multihead_attention", "embed_dim must be divisible by num_heads");
  assert_null(tg_nn_multihead_attention(4, 0, tg_mha_defaults()));
  test_expect_error("multihead_attention", "divisible");
  assert_null(tg_nn_multihead_attention(4, 2, (tg_mha_opts){.dropout = 1.5}));
  test_expect_error("multihead_attention", "dropout probability");
  tg_module *m = mha64(4, 2, tg_mha_defaults(), 100);
  fixture f = make_fixture(&r, 3, 4, 2, 4, 2);
  expect_fail(m, tg_randn(&r, TG_FLOAT64, TG_SHAPE(1, 3, 2, 4)), NULL, NULL, NULL, NULL, false, "multihead_attention",
              "unbatched 2D or batched 3D");
  expect_fail(m, f.q, tg_select(f.k, 1, 0), f.v, NULL, NULL, false, "multihead_attention",
              "expected `key` and `value` to be 3-D");
  expect_fail(m, tg_randn(&r, TG_FLOAT64, TG_SHAPE(3, 2, 6)), NULL, NULL, NULL, NULL, false, "in_proj_weight",
              "should be [18,6]");
  expect_fail(m, f.q, f.k, tg_narrow(f.v, 0, 0, 3), NULL, NULL, false, "multihead_attention", "length");
  expect_fail(m, f.q, tg_randn(&r, TG_FLOAT64, TG_SHAPE(4, 2, 3)), NULL, NULL, NULL, false, "multihead_attention",
              "kdim");
  expect_fail(m, f.q, f.k, f.v, NULL, tg_randn(&r, TG_FLOAT64, TG_SHAPE(4, 3)), false, "2D attn_mask", "should be [3,4]");
  expect_fail(m, f.q, f.k, f.v, NULL, tg_randn(&r, TG_FLOAT64, TG_SHAPE(2, 3, 4)), false, "3D attn_mask",
              "should be [4,3,4]");
  expect_fail(m, f.q, f.k, f.v, NULL, tg_randn(&r, TG_FLOAT64, TG_SHAPE(1, 4, 3, 4)), false, "attn_mask's dimension 4",
              NULL);
  expect_fail(m, f.q, f.k, f.v, NULL, tg_zeros(TG_INT64, TG_SHAPE(3, 4)), false, "attn_mask", "int64");
  expect_fail(m, f.q, f.k, f.v, NULL, tg_randn(&r, TG_FLOAT32, TG_SHAPE(3, 4)), false, "attn_mask", "float32");
  expect_fail(m, f.q, f.k, f.v, tg_zeros(TG_BOOL, TG_SHAPE(4, 2)), NULL, false, "key_padding_mask", "should be [2,4]");
  expect_fail(m, f.q, f.k, f.v, tg_zeros(TG_INT64, TG_SHAPE(2, 4)), NULL, false, "key_padding_mask", "int64");
  expect_fail(m, f.q, f.k, f.v, NULL, f.am, true, "multihead_attention", "is_causal");
  expect_fail(m, f.q, tg_to_dtype(f.k, TG_FLOAT32), f.v, NULL, NULL, false, "multihead_attention", "one dtype");
  expect_fail(m, tg_zeros(TG_INT64, TG_SHAPE(3, 2, 4)), NULL, NULL, NULL, NULL, false, "multihead_attention", "float");
  tg_module *lin = tg_nn_linear(4, 4, true, NULL);
  expect_fail(lin, f.q, f.k, f.v, NULL, NULL, false, "multihead_attention", "not a MultiheadAttention");
  tg_module_free(lin);
  /* the functional form: inconsistent weights */
  tg_mha_params p = {.num_heads = 2, .in_proj_weight = tg_module_get(m, "in_proj_weight")};
  tg_tensor *y = NULL;
  assert_int_equal(tg_multi_head_attention(f.q, f.k, f.v, &p, NULL, false, NULL, true, false, &y, NULL), -1);
  test_expect_error("multihead_attention", "out_proj_weight is NULL");
  p.out_proj_weight = tg_module_get(m, "out_proj.weight");
  p.bias_k = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 1, 4));
  assert_int_equal(tg_multi_head_attention(f.q, f.k, f.v, &p, NULL, false, NULL, true, false, &y, NULL), -1);
  test_expect_error("multihead_attention", "bias_k and bias_v");
  p.bias_k = NULL;
  p.in_proj_weight = NULL;
  assert_int_equal(tg_multi_head_attention(f.q, f.k, f.v, &p, NULL, false, NULL, true, false, &y, NULL), -1);
  test_expect_error("multihead_attention", "q_proj_weight");
  p.in_proj_weight = tg_module_get(m, "in_proj_weight");
  p.dropout_p = -0.1;
  assert_int_equal(tg_multi_head_attention(f.q, f.k, f.v, &p, NULL, false, NULL, true, false, &y, NULL), -1);
  test_expect_error("multihead_attention", "dropout probability");
  p.dropout_p = 0;
  assert_int_equal(tg_multi_head_attention(f.q, f.k, f.v, &p, NULL, false, NULL, true, false, &y, NULL), 0);
  assert_non_null(y);
  tg_module_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_state_dict_names),     TG_TEST(test_initialisation),  TG_TEST(test_forward_against_loops),
      TG_TEST(test_layouts),              TG_TEST(test_mask_conventions), TG_TEST(test_gradcheck),
      TG_TEST(test_gradcheck_kdim_vdim),  TG_TEST(test_gradgradcheck),   TG_TEST(test_dropout),
      TG_TEST(test_multi_module_calls),   TG_TEST(test_backward_into_params), TG_TEST(test_errors),
      TG_TEST(test_steady_step_allocates_nothing), TG_TEST(test_empty),
  };
  int rc = cmocka_run_group_tests_name("nn_mha", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
