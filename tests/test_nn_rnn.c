/* The recurrent layers (nn/rnn.c, nn/rnn_fused.c): torch's parameter names
 * and shapes, the results of a step-by-step loop of the cells (tg_*_cell,
 * checked against PyTorch by the oracle's seq family), float64 gradcheck
 * and gradgradcheck through the module for every kind, two layers, both
 * directions, batch_first and lengths, dropout, errors and allocations. */
#include <stdio.h>

#include "tg_test.h"

/* ---------------------------------------------------------------- helpers */

typedef struct cfg {
  tg_rnn_mode mode;
  size_t T, N, I, H;
  int layers;
  bool bidir, batch_first, bias;
} cfg;

static tg_rnn_opts opts_of(const cfg *c) {
  tg_rnn_opts o = tg_rnn_defaults(c->I, c->H);
  o.num_layers = c->layers;
  o.bidirectional = c->bidir;
  o.batch_first = c->batch_first;
  o.bias = c->bias;
  o.nonlinearity = c->mode == TG_RNN_RELU ? "relu" : "tanh";
  return o;
}

static tg_module *module_of(const cfg *c, tg_rng *rng) {
  tg_rnn_opts o = opts_of(c);
  o.rng = rng;
  tg_module *m = c->mode == TG_RNN_LSTM ? tg_nn_lstm(o) : c->mode == TG_RNN_GRU ? tg_nn_gru(o) : tg_nn_rnn(o);
  return test_to_f64(m);
}

static int dirs(const cfg *c) { return c->bidir ? 2 : 1; }
static int n_weights(const cfg *c) { return c->layers * dirs(c) * (c->bias ? 4 : 2); }

/* the same layers as a loop of the cells over time-major x (T, N, I),
 * states (D L, N, H) or NULL; lengths as pack_padded_sequence: a sequence
 * runs its own steps only */
static void reference(const cfg *c, tg_tensor *x, tg_tensor *h0, tg_tensor *c0, const int64_t *lengths,
                      tg_tensor *const *w, tg_tensor **output, tg_tensor **h_n, tg_tensor **c_n) {
  int D = dirs(c), P = c->bias ? 4 : 2;
  tg_tensor *layer = x, *hs[8], *cs[8];
  for (int l = 0; l < c->layers; l++) {
    tg_tensor *outs[2];
    for (int d = 0; d < D; d++) {
      int k = l * D + d;
      tg_tensor *const *wk = w + k * P, *b_ih = c->bias ? wk[2] : NULL, *b_hh = c->bias ? wk[3] : NULL;
      tg_tensor *seq_out[8];
      tg_tensor *h_fin[8], *c_fin[8];
      for (size_t n = 0; n < c->N; n++) {
        size_t len = lengths ? (size_t)lengths[n] : c->T;
        tg_tensor *h = h0 ? tg_select(tg_select(h0, 0, k), 0, (long)n) : tg_zeros(TG_FLOAT64, TG_SHAPE(c->H));
        tg_tensor *cc = c0 ? tg_select(tg_select(c0, 0, k), 0, (long)n) : tg_zeros(TG_FLOAT64, TG_SHAPE(c->H));
        tg_tensor *steps[8];
        for (size_t t = 0; t < c->T; t++) steps[t] = tg_zeros(TG_FLOAT64, TG_SHAPE(c->H));
        for (size_t s = 0; s < len; s++) {
          size_t t = d ? len - 1 - s : s;
          tg_tensor *xt = tg_select(tg_select(layer, 0, (long)t), 0, (long)n);
          if (c->mode == TG_RNN_LSTM) {
            assert_int_equal(tg_lstm_cell(xt, h, cc, wk[0], wk[1], b_ih, b_hh, &h, &cc), 0);
          } else if (c->mode == TG_RNN_GRU) {
            h = tg_gru_cell(xt, h, wk[0], wk[1], b_ih, b_hh);
          } else {
            h = tg_rnn_cell(xt, h, wk[0], wk[1], b_ih, b_hh, c->mode == TG_RNN_RELU ? "relu" : "tanh");
          }
          steps[t] = h;
        }
        seq_out[n] = tg_stack((int)c->T, steps, 0); /* (T, H) */
        h_fin[n] = h;
        c_fin[n] = cc;
      }
      outs[d] = tg_stack((int)c->N, seq_out, 1); /* (T, N, H) */
      hs[k] = tg_stack((int)c->N, h_fin, 0);
      cs[k] = tg_stack((int)c->N, c_fin, 0);
    }
    layer = D == 2 ? tg_cat(2, outs, 2) : outs[0];
  }
  *output = layer;
  *h_n = tg_stack(c->layers * D, hs, 0);
  *c_n = c->mode == TG_RNN_LSTM ? tg_stack(c->layers * D, cs, 0) : NULL;
}

static void assert_all_close(const tg_tensor *a, const tg_tensor *b, double tol) {
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(a->ndim, b->ndim);
  for (int d = 0; d < a->ndim; d++) assert_int_equal(a->shape[d], b->shape[d]);
  for (size_t i = 0; i < a->numel; i++) assert_close(tg_get_flat(a, i), tg_get_flat(b, i), tol);
}

/* x (T, N, I) or (N, T, I) with batch_first */
static tg_tensor *input_of(const cfg *c, tg_rng *r) {
  return c->batch_first ? test_leaf(r, TG_SHAPE(c->N, c->T, c->I)) : test_leaf(r, TG_SHAPE(c->T, c->N, c->I));
}
static tg_tensor *state_of(const cfg *c, tg_rng *r) {
  return test_leaf(r, TG_SHAPE((size_t)(c->layers * dirs(c)), c->N, c->H));
}

/* ----------------------------------------------- names, shapes, initialisation */

typedef struct named_shape {
  const char *name;
  size_t rows, cols; /* cols 0: a vector */
} named_shape;

static void assert_state_dict(tg_module *m, const named_shape *want, size_t n) {
  tg_state_dict *sd = tg_module_state_dict(m);
  assert_non_null(sd);
  assert_int_equal(sd->n, n);
  for (size_t k = 0; k < n; k++) {
    const tg_tensor *t = sd->entries[k].tensor;
    if (strcmp(sd->entries[k].name, want[k].name)) fail_msg("entry %zu: %s, torch %s", k, sd->entries[k].name, want[k].name);
    assert_int_equal(t->ndim, want[k].cols ? 2 : 1);
    assert_int_equal(t->shape[0], want[k].rows);
    if (want[k].cols) assert_int_equal(t->shape[1], want[k].cols);
  }
  tg_state_dict_free(sd);
}

/* the literals are torch 1.13's state_dict() of the same modules */
static void test_state_dict_as_torch(void **s) {
  (void)s;
  tg_rnn_opts o = tg_rnn_defaults(3, 4);
  o.num_layers = 2;
  o.bidirectional = true;
  tg_module *lstm = tg_nn_lstm(o); /* torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True) */
  const named_shape lstm_want[] = {
      {"weight_ih_l0", 16, 3},         {"weight_hh_l0", 16, 4},         {"bias_ih_l0", 16, 0},
      {"bias_hh_l0", 16, 0},           {"weight_ih_l0_reverse", 16, 3}, {"weight_hh_l0_reverse", 16, 4},
      {"bias_ih_l0_reverse", 16, 0},   {"bias_hh_l0_reverse", 16, 0},   {"weight_ih_l1", 16, 8},
      {"weight_hh_l1", 16, 4},         {"bias_ih_l1", 16, 0},           {"bias_hh_l1", 16, 0},
      {"weight_ih_l1_reverse", 16, 8}, {"weight_hh_l1_reverse", 16, 4}, {"bias_ih_l1_reverse", 16, 0},
      {"bias_hh_l1_reverse", 16, 0},
  };
  assert_string_equal(lstm->type, "LSTM");
  assert_state_dict(lstm, lstm_want, 16);
  o = tg_rnn_defaults(3, 2);
  o.bias = false;
  o.batch_first = true;
  tg_module *gru = tg_nn_gru(o); /* torch.nn.GRU(3, 2, bias=False, batch_first=True) */
  const named_shape gru_want[] = {{"weight_ih_l0", 6, 3}, {"weight_hh_l0", 6, 2}};
  assert_state_dict(gru, gru_want, 2);
  o = tg_rnn_defaults(5, 3);
  o.nonlinearity = "relu";
  tg_module *rnn = tg_nn_rnn(o); /* torch.nn.RNN(5, 3, nonlinearity='relu') */
  const named_shape rnn_want[] = {{"weight_ih_l0", 3, 5}, {"weight_hh_l0", 3, 3}, {"bias_ih_l0", 3, 0}, {"bias_hh_l0", 3, 0}};
  assert_string_equal(rnn->type, "RNN");
  assert_state_dict(rnn, rnn_want, 4);
  /* U(-1/sqrt(H), 1/sqrt(H)) for every parameter, float32, requiring grad */
  size_t n;
  tg_tensor **p = tg_module_parameters(lstm, &n);
  double bound = 1.0 / sqrt(4.0), lo = 1, hi = -1;
  for (size_t k = 0; k < n; k++) {
    assert_int_equal(p[k]->dtype, TG_FLOAT32);
    assert_true(p[k]->requires_grad);
    for (size_t i = 0; i < p[k]->numel; i++) {
      double v = tg_get_flat(p[k], i);
      lo = fmin(lo, v), hi = fmax(hi, v);
    }
  }
  assert_true(lo >= -bound && hi <= bound);
  assert_true(lo < -0.9 * bound && hi > 0.9 * bound); /* 1,024 draws fill the interval */
  assert_int_equal(tg_module_num_parameters(lstm, true), 2 * (16 * 3 + 16 * 4 + 32) + 2 * (16 * 8 + 16 * 4 + 32));
  tg_module_free(lstm);
  tg_module_free(gru);
  tg_module_free(rnn);
}

/* ----------------------------------------------------- against the cells */

static void check_against_cells(const cfg *c, uint64_t seed, const int64_t *lengths) {
  tg_rng r = test_seeded(seed);
  tg_module *m = module_of(c, &r);
  tg_tensor *x = input_of(c, &r), *h0 = state_of(c, &r), *c0 = c->mode == TG_RNN_LSTM ? state_of(c, &r) : NULL;
  tg_tensor *out, *hn, *cn, *rout, *rhn, *rcn;
  assert_int_equal(tg_nn_rnn_forward(m, x, h0, c0, lengths, &out, &hn, &cn), 0);
  tg_tensor *xt = c->batch_first ? tg_transpose(x, 0, 1) : x;
  reference(c, xt, h0, c0, lengths, tg_module_parameters(m, NULL), &rout, &rhn, &rcn);
  if (c->batch_first) rout = tg_transpose(rout, 0, 1);
  assert_all_close(out, rout, 1e-12);
  assert_all_close(hn, rhn, 1e-12);
  if (c->mode == TG_RNN_LSTM) assert_all_close(cn, rcn, 1e-12);
  else assert_null(cn);
  tg_module_free(m);
}

static void test_matches_cells(void **s) {
  (void)s;
  const tg_rnn_mode modes[] = {TG_RNN_TANH, TG_RNN_RELU, TG_RNN_LSTM, TG_RNN_GRU};
  for (int k = 0; k < 4; k++) {
    cfg one = {modes[k], 4, 3, 2, 3, 1, false, false, true};
    check_against_cells(&one, 10 + (uint64_t)k, NULL);
    cfg deep = {modes[k], 3, 2, 3, 2, 2, true, true, k != 1};
    check_against_cells(&deep, 20 + (uint64_t)k, NULL);
  }
}

/* packed sequences: each sequence's output and final state are those of
 * running it alone over its own steps (the cells' loop does exactly that) */
static void test_lengths_match_alone(void **s) {
  (void)s;
  const int64_t lengths[3] = {2, 4, 1}; /* unsorted, as enforce_sorted=False */
  const tg_rnn_mode modes[] = {TG_RNN_TANH, TG_RNN_LSTM, TG_RNN_GRU};
  for (int k = 0; k < 3; k++) {
    cfg c = {modes[k], 4, 3, 2, 2, 2, true, k == 1, true};
    check_against_cells(&c, 30 + (uint64_t)k, lengths);
  }
  /* and the module itself on each sequence cut to its length, batch of one */
  tg_rng r = test_seeded(35);
  cfg c = {TG_RNN_LSTM, 4, 3, 2, 2, 2, true, false, true};
  tg_module *m = module_of(&c, &r);
  tg_tensor *x = input_of(&c, &r), *h0 = state_of(&c, &r), *c0 = state_of(&c, &r), *out, *hn, *cn;
  assert_int_equal(tg_nn_rnn_forward(m, x, h0, c0, lengths, &out, &hn, &cn), 0);
  for (long n = 0; n < 3; n++) {
    size_t len = (size_t)lengths[n];
    tg_tensor *xn = tg_narrow(tg_narrow(x, 1, n, 1), 0, 0, len), *o1, *h1, *c1;
    assert_int_equal(tg_nn_rnn_forward(m, xn, tg_narrow(h0, 1, n, 1), tg_narrow(c0, 1, n, 1), NULL, &o1, &h1, &c1), 0);
    assert_all_close(tg_narrow(tg_narrow(out, 1, n, 1), 0, 0, len), o1, 1e-12);
    assert_all_close(tg_narrow(hn, 1, n, 1), h1, 1e-12);
    assert_all_close(tg_narrow(cn, 1, n, 1), c1, 1e-12);
  }
  tg_module_free(m);
}

/* padded positions: zero output, and neither the padded inputs nor anything
 * else receives gradient through them */
static void test_lengths_padding(void **s) {
  (void)s;
  tg_rng r = test_seeded(40);
  cfg c = {TG_RNN_LSTM, 5, 2, 2, 3, 2, true, false, true};
  tg_module *m = module_of(&c, &r);
  tg_tensor *x = input_of(&c, &r);
  const int64_t lengths[2] = {5, 2};
  tg_tensor *out, *hn, *cn;
  assert_int_equal(tg_nn_rnn_forward(m, x, NULL, NULL, lengths, &out, &hn, &cn), 0);
  assert_int_equal(out->shape[0], 5);
  assert_int_equal(out->shape[2], 6);
  for (size_t t = 2; t < 5; t++)
    for (size_t j = 0; j < 6; j++) assert_true(tg_get_flat(tg_select(tg_select(out, 0, (long)t), 0, 1), j) == 0.0);
  tg_tensor *loss = tg_add(tg_sum(tg_mul(out, out)), tg_add(tg_sum(hn), tg_sum(cn)));
  assert_int_equal(tg_backward(loss, NULL, false), 0);
  for (size_t t = 0; t < 5; t++)
    for (size_t i = 0; i < 2; i++) {
      double g = tg_get_flat(tg_select(tg_select(x->grad, 0, (long)t), 0, 1), i);
      if (t >= 2) assert_true(g == 0.0);
      else assert_true(g != 0.0);
    }
  tg_module_free(m);
}

/* ------------------------------------------------------------- gradients */

/* sum(out * u) + sum(h_n * v) (+ sum(c_n * v)), u and v fixed */
static tg_tensor *weighted(tg_tensor *out, tg_tensor *hn, tg_tensor *cn, tg_tensor *u, tg_tensor *v) {
  tg_tensor *l = tg_add(tg_sum(tg_mul(out, u)), tg_sum(tg_mul(hn, v)));
  return cn ? tg_add(l, tg_sum(tg_mul(cn, v))) : l;
}

/* a copy of every parameter's .grad, then the grads zeroed */
static void take_grads(tg_module *m, tg_tensor **out) {
  size_t n;
  tg_tensor **p = tg_module_parameters(m, &n);
  for (size_t k = 0; k < n; k++) {
    assert_non_null(p[k]->grad);
    out[k] = tg_clone(tg_detach(p[k]->grad));
  }
  assert_int_equal(tg_module_zero_grad(m), 0);
}

/* tg_backward into the parameters' .grad (the batched weight gradient of
 * the hidden projections) equals backward through the cells' loop; a
 * retained graph walked again, from a part of it, gives the same again */
static void test_backward_matches_cells(void **s) {
  (void)s;
  const tg_rnn_mode modes[] = {TG_RNN_TANH, TG_RNN_LSTM, TG_RNN_GRU};
  const int64_t lengths[3] = {3, 1, 2};
  for (int k = 0; k < 3; k++) {
    tg_rng r = test_seeded(140 + (uint64_t)k);
    cfg c = {modes[k], 3, 3, 2, 3, 2, true, false, true};
    tg_module *m = module_of(&c, &r);
    tg_tensor *x = input_of(&c, &r), *h0 = state_of(&c, &r), *c0 = state_of(&c, &r);
    if (c.mode != TG_RNN_LSTM) c0 = NULL;
    tg_tensor *u = tg_randn(&r, TG_FLOAT64, TG_SHAPE(3, 3, 6)), *v = tg_randn(&r, TG_FLOAT64, TG_SHAPE(4, 3, 3));
    tg_tensor *out, *hn, *cn, *got[16], *want[16], *again[16], *part[16], *want_part[16];
    assert_int_equal(tg_nn_rnn_forward(m, x, h0, c0, lengths, &out, &hn, &cn), 0);
    tg_tensor *loss = weighted(out, hn, cn, u, v);
    assert_int_equal(tg_backward(loss, NULL, true), 0);
    take_grads(m, got);
    assert_int_equal(tg_backward(loss, NULL, true), 0);
    take_grads(m, again);
    /* only the first time step's output: most steps get no gradient */
    assert_int_equal(tg_backward(tg_sum(tg_mul(tg_select(out, 0, 0), tg_select(u, 0, 0))), NULL, false), 0);
    take_grads(m, part);
    tg_tensor *rout, *rhn, *rcn;
    reference(&c, x, h0, c0, lengths, tg_module_parameters(m, NULL), &rout, &rhn, &rcn);
    assert_int_equal(tg_backward(weighted(rout, rhn, rcn, u, v), NULL, false), 0);
    take_grads(m, want);
    reference(&c, x, h0, c0, lengths, tg_module_parameters(m, NULL), &rout, &rhn, &rcn);
    assert_int_equal(tg_backward(tg_sum(tg_mul(tg_select(rout, 0, 0), tg_select(u, 0, 0))), NULL, false), 0);
    take_grads(m, want_part);
    for (int j = 0; j < n_weights(&c); j++) {
      assert_all_close(got[j], want[j], 1e-12);
      assert_all_close(again[j], want[j], 1e-12);
      assert_all_close(part[j], want_part[j], 1e-12);
    }
    tg_module_free(m);
  }
}

typedef struct grad_ctx {
  cfg c;
  bool has_h;
  const int64_t *lengths;
  bool transposed_x; /* x handed over as a transposed view: non-contiguous */
} grad_ctx;

/* inputs: x, [h0, (c0)], the weights; the outputs flattened into one */
static tg_tensor *through_rnn(tg_tensor **in, void *p) {
  const grad_ctx *g = p;
  int n_states = g->has_h ? (g->c.mode == TG_RNN_LSTM ? 2 : 1) : 0;
  tg_rnn_opts o = opts_of(&g->c);
  tg_tensor *x = g->transposed_x ? tg_transpose(in[0], 0, 1) : in[0], *out, *hn, *cn = NULL;
  if (tg_rnn(g->c.mode, &o, true, x, n_states ? in[1] : NULL, n_states > 1 ? in[2] : NULL, g->lengths,
             in + 1 + n_states, &out, &hn, &cn) != 0)
    return NULL;
  tg_tensor *parts[3] = {tg_reshape(out, TG_SHAPE(out->numel)), tg_reshape(hn, TG_SHAPE(hn->numel)),
                         cn ? tg_reshape(cn, TG_SHAPE(cn->numel)) : NULL};
  return tg_cat(cn ? 3 : 2, parts, 0);
}

static void run_gradcheck(grad_ctx *g, uint64_t seed, bool second) {
  tg_rng r = test_seeded(seed);
  const cfg *c = &g->c;
  tg_tensor *in[24];
  int k = 0;
  /* the transposed case stores x with its first two dims swapped */
  cfg stored = *c;
  if (g->transposed_x) stored.batch_first = !stored.batch_first;
  in[k++] = input_of(&stored, &r);
  if (g->has_h) {
    in[k++] = state_of(c, &r);
    if (c->mode == TG_RNN_LSTM) in[k++] = state_of(c, &r);
  }
  tg_module *m = module_of(c, &r);
  tg_tensor **w = tg_module_parameters(m, NULL);
  for (int j = 0; j < n_weights(c); j++) in[k++] = w[j];
  if (second) assert_gradgradcheck(through_rnn, k, in, g);
  else assert_gradcheck(through_rnn, k, in, g);
  tg_module_free(m);
}

static void test_gradcheck_every_kind(void **s) {
  (void)s;
  const tg_rnn_mode modes[] = {TG_RNN_TANH, TG_RNN_RELU, TG_RNN_LSTM, TG_RNN_GRU};
  const int64_t lengths[3] = {3, 1, 2};
  for (int k = 0; k < 4; k++) {
    grad_ctx one = {{modes[k], 3, 2, 2, 2, 1, false, false, true}, true, NULL, false};
    run_gradcheck(&one, 50 + (uint64_t)k, false);
    /* two layers, both directions, batch_first, no h0, transposed x */
    grad_ctx deep = {{modes[k], 3, 2, 2, 2, 2, true, true, k % 2 == 0}, false, NULL, true};
    run_gradcheck(&deep, 60 + (uint64_t)k, false);
    grad_ctx packed = {{modes[k], 3, 3, 1, 2, 2, true, false, true}, true, lengths, false};
    run_gradcheck(&packed, 70 + (uint64_t)k, false);
  }
}

/* double backward through the fused gate nodes (their create_graph backward) */
static void test_gradgradcheck_tiny(void **s) {
  (void)s;
  const tg_rnn_mode modes[] = {TG_RNN_TANH, TG_RNN_LSTM, TG_RNN_GRU};
  const int64_t lengths[2] = {1, 2};
  for (int k = 0; k < 3; k++) {
    grad_ctx g = {{modes[k], 2, 2, 1, 2, 1, true, false, true}, true, lengths, false};
    run_gradcheck(&g, 80 + (uint64_t)k, true);
  }
}

/* -------------------------------------------- module API, modes, dropout */

static void test_multi_module_and_unbatched(void **s) {
  (void)s;
  tg_rng r = test_seeded(90);
  cfg c = {TG_RNN_LSTM, 4, 1, 3, 2, 2, true, false, true};
  tg_module *m = module_of(&c, &r);
  tg_tensor *x = test_leaf(&r, TG_SHAPE(4, 3)), *h0 = test_leaf(&r, TG_SHAPE(4, 2));
  tg_tensor *outs[3] = {0};
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x, h0, NULL}, 3, outs, 3), 3);
  /* unbatched: output (T, D H), h_n and c_n (D L, H) */
  assert_int_equal(outs[0]->ndim, 2);
  assert_int_equal(outs[0]->shape[0], 4);
  assert_int_equal(outs[0]->shape[1], 4);
  assert_int_equal(outs[1]->ndim, 2);
  assert_int_equal(outs[1]->shape[0], 4);
  assert_int_equal(outs[2]->shape[1], 2);
  /* the same as a batch of one */
  tg_tensor *o1, *h1, *c1;
  assert_int_equal(tg_nn_rnn_forward(m, tg_unsqueeze(x, 1), tg_unsqueeze(h0, 1), NULL, NULL, &o1, &h1, &c1), 0);
  test_assert_identical(outs[0], tg_squeeze(o1, 1));
  test_assert_identical(outs[1], tg_squeeze(h1, 1));
  test_assert_identical(outs[2], tg_squeeze(c1, 1));
  /* tg_module_forward keeps the output; fewer slots take fewer outputs */
  test_assert_identical(tg_module_forward(m, x), tg_module_forward_multi(m, &x, 1, outs, 1) == 1 ? outs[0] : NULL);
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x, h0, h0, x}, 4, outs, 3), -1);
  test_expect_error("LSTM", "takes (x, h0, c0), got 4 inputs");
  tg_module_free(m);
}

static void test_dropout_train_and_eval(void **s) {
  (void)s;
  tg_rng r = test_seeded(100), dr = test_seeded(7);
  cfg c = {TG_RNN_GRU, 3, 2, 2, 4, 2, false, false, true};
  tg_rnn_opts o = opts_of(&c);
  o.dropout = 0.5;
  o.rng = &dr;
  tg_module *m = test_to_f64(tg_nn_gru(o)), *plain = module_of(&c, &r);
  tg_state_dict *sd = tg_module_state_dict(plain);
  assert_int_equal(tg_module_load_state_dict(m, sd, true), 0);
  tg_tensor *x = input_of(&c, &r), *a, *b, *hn;
  /* eval: dropout is the identity */
  tg_module_eval(m);
  assert_int_equal(tg_nn_rnn_forward(m, x, NULL, NULL, NULL, &a, &hn, NULL), 0);
  assert_int_equal(tg_nn_rnn_forward(plain, x, NULL, NULL, NULL, &b, &hn, NULL), 0);
  test_assert_identical(a, b);
  /* training: the first layer's output is dropped from the borrowed rng */
  tg_module_train(m, true);
  tg_rng_seed(&dr, 7); /* the module's initialisation drew from it too */
  assert_int_equal(tg_nn_rnn_forward(m, x, NULL, NULL, NULL, &a, &hn, NULL), 0);
  double diff = 0;
  for (size_t i = 0; i < a->numel; i++) diff += fabs(tg_get_flat(a, i) - tg_get_flat(b, i));
  assert_true(diff > 1e-3);
  tg_rng_seed(&dr, 7);
  tg_tensor *a2;
  assert_int_equal(tg_nn_rnn_forward(m, x, NULL, NULL, NULL, &a2, &hn, NULL), 0);
  test_assert_identical(a, a2);
  tg_state_dict_free(sd);
  tg_module_free(m);
  tg_module_free(plain);
}

/* float32 modules (the default) agree with their float64 copies */
static void test_float32(void **s) {
  (void)s;
  tg_rng r = test_seeded(110);
  tg_rnn_opts o = tg_rnn_defaults(3, 5);
  o.bidirectional = true;
  tg_module *m32 = tg_nn_lstm(o), *m64 = tg_nn_lstm(o);
  tg_state_dict *sd = tg_module_state_dict(m32);
  assert_int_equal(tg_module_load_state_dict(m64, sd, true), 0);
  test_to_f64(m64);
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(4, 2, 3)), *o32, *o64, *h;
  assert_int_equal(tg_nn_rnn_forward(m32, x, NULL, NULL, NULL, &o32, &h, NULL), 0);
  assert_int_equal(tg_nn_rnn_forward(m64, tg_to_dtype(x, TG_FLOAT64), NULL, NULL, NULL, &o64, &h, NULL), 0);
  assert_int_equal(o32->dtype, TG_FLOAT32);
  assert_all_close(o32, o64, 1e-5);
  assert_int_equal(tg_backward(tg_sum(o32), NULL, false), 0);
  tg_state_dict_free(sd);
  tg_module_free(m32);
  tg_module_free(m64);
}

/* a steady training step calls no system allocator */
static void test_no_malloc_in_steady_step(void **s) {
  (void)s;
  tg_rng r = test_seeded(120);
  tg_rnn_opts o = tg_rnn_defaults(4, 8);
  o.num_layers = 2;
  tg_module *m = tg_nn_lstm(o);
  tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(6, 3, 4));
  size_t before = 0;
  for (int it = 0; it < 4; it++) {
    if (it == 2) before = tg_memory_get_stats().mallocs;
    tg_scope_begin();
    tg_tensor *out, *hn, *cn;
    assert_int_equal(tg_nn_rnn_forward(m, x, NULL, NULL, NULL, &out, &hn, &cn), 0);
    assert_int_equal(tg_backward(tg_add(tg_sum(out), tg_sum(cn)), NULL, false), 0);
    tg_scope_end();
    assert_int_equal(tg_module_zero_grad(m), 0);
  }
  assert_int_equal(tg_memory_get_stats().mallocs, before);
  tg_module_free(m);
}

/* ----------------------------------------------------------------- errors */

static void test_errors(void **s) {
  (void)s;
  tg_rng r = test_seeded(130);
  tg_rnn_opts o = tg_rnn_defaults(3, 2);
  o.num_layers = 2;
  tg_module *lstm = test_to_f64(tg_nn_lstm(o));
  tg_module *gru = test_to_f64(tg_nn_gru(tg_rnn_defaults(3, 2)));
  tg_tensor *x = tg_randn(&r, TG_FLOAT64, TG_SHAPE(4, 2, 3)), *out, *hn, *cn;
  /* wrong input size, rank, dtype */
  assert_int_equal(tg_nn_rnn_forward(lstm, tg_randn(&r, TG_FLOAT64, TG_SHAPE(4, 2, 5)), NULL, NULL, NULL, &out, &hn, &cn), -1);
  test_expect_error("LSTM", "input.size(-1) must be equal to input_size. Expected 3, got 5");
  assert_null(out);
  assert_int_equal(tg_nn_rnn_forward(lstm, tg_randn(&r, TG_FLOAT64, TG_SHAPE(1, 4, 2, 3)), NULL, NULL, NULL, &out, &hn, &cn), -1);
  test_expect_error("LSTM", "Expected input to be 2-D or 3-D but received 4-D tensor");
  assert_int_equal(tg_nn_rnn_forward(lstm, tg_randn(&r, TG_FLOAT32, TG_SHAPE(4, 2, 3)), NULL, NULL, NULL, &out, &hn, &cn), -1);
  test_expect_error("LSTM", "input is float32 but the weights are float64");
  /* wrong states */
  assert_int_equal(tg_nn_rnn_forward(lstm, x, tg_zeros(TG_FLOAT64, TG_SHAPE(1, 2, 2)), NULL, NULL, &out, &hn, &cn), -1);
  test_expect_error("LSTM", "Expected hidden[0] size (2, 2, 2), got [1,2,2]");
  assert_int_equal(tg_nn_rnn_forward(lstm, x, NULL, tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3, 2)), NULL, &out, &hn, &cn), -1);
  test_expect_error("LSTM", "Expected hidden[1] size (2, 2, 2), got [2,3,2]");
  assert_int_equal(tg_nn_rnn_forward(lstm, x, tg_zeros(TG_FLOAT64, TG_SHAPE(2, 2)), NULL, NULL, &out, &hn, &cn), -1);
  test_expect_error("LSTM", "For batched 3-D input, hx should also be 3-D but got 2-D tensor");
  assert_int_equal(tg_nn_rnn_forward(gru, x, NULL, tg_zeros(TG_FLOAT64, TG_SHAPE(1, 2, 2)), NULL, &out, &hn, &cn), -1);
  test_expect_error("GRU", "only an LSTM has a cell state");
  assert_int_equal(tg_nn_rnn_forward(gru, x, tg_zeros(TG_FLOAT64, TG_SHAPE(1, 2, 3)), NULL, NULL, &out, &hn, &cn), -1);
  test_expect_error("GRU", "Expected hidden size (1, 2, 2), got [1,2,3]");
  /* lengths out of range; unsorted is fine */
  assert_int_equal(tg_nn_rnn_forward(gru, x, NULL, NULL, (const int64_t[]){0, 2}, &out, &hn, &cn), -1);
  test_expect_error("GRU", "lengths[0] = 0");
  assert_int_equal(tg_nn_rnn_forward(gru, x, NULL, NULL, (const int64_t[]){4, 5}, &out, &hn, &cn), -1);
  test_expect_error("lengths[1] = 5", "[1, 4]");
  assert_int_equal(tg_nn_rnn_forward(gru, x, NULL, NULL, (const int64_t[]){2, 4}, &out, &hn, &cn), 0);
  assert_null(cn);
  /* not a recurrent module */
  tg_module *lin = tg_nn_linear(3, 2, true, NULL);
  assert_int_equal(tg_nn_rnn_forward(lin, x, NULL, NULL, NULL, &out, &hn, &cn), -1);
  test_expect_error("nn_rnn_forward", "Linear, not an RNN");
  tg_module_free(lin);
  /* bad options at construction */
  o = tg_rnn_defaults(3, 2);
  o.nonlinearity = "sigmoid";
  assert_fails(tg_nn_rnn(o), "Unknown nonlinearity 'sigmoid'");
  o = tg_rnn_defaults(3, 2);
  o.proj_size = 1;
  assert_fails(tg_nn_lstm(o), "proj_size");
  assert_fails(tg_nn_gru(o), "only supported for LSTM");
  o = tg_rnn_defaults(3, 2);
  o.dropout = 1.5;
  assert_fails(tg_nn_gru(o), "dropout should be a number in range [0, 1]");
  o = tg_rnn_defaults(3, 0);
  assert_fails(tg_nn_lstm(o), "hidden_size (0)");
  o = tg_rnn_defaults(3, 2);
  o.num_layers = 0;
  assert_fails(tg_nn_rnn(o), "num_layers (0)");
  /* the functional form checks the weights against the options */
  size_t n;
  tg_tensor **w = tg_module_parameters(gru, &n);
  tg_rnn_opts wrong = tg_rnn_defaults(3, 3);
  assert_int_equal(tg_rnn(TG_RNN_GRU, &wrong, false, x, NULL, NULL, NULL, w, &out, &hn, NULL), -1);
  test_expect_error("GRU", "weight_ih_l0 is [6,3], expected (9, 3)");
  assert_int_equal(tg_rnn((tg_rnn_mode)7, &wrong, false, x, NULL, NULL, NULL, w, &out, &hn, NULL), -1);
  test_expect_error("rnn", "unknown mode 7");
  tg_module_free(lstm);
  tg_module_free(gru);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_state_dict_as_torch),
      TG_TEST(test_matches_cells),
      TG_TEST(test_lengths_match_alone),
      TG_TEST(test_lengths_padding),
      TG_TEST(test_backward_matches_cells),
      TG_TEST(test_gradcheck_every_kind),
      TG_TEST(test_gradgradcheck_tiny),
      TG_TEST(test_multi_module_and_unbatched),
      TG_TEST(test_dropout_train_and_eval),
      TG_TEST(test_float32),
      TG_TEST(test_no_malloc_in_steady_step),
      TG_TEST(test_errors),
  };
  int rc = cmocka_run_group_tests_name("nn_rnn", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
