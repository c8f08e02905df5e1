/* torch.nn.RNN / LSTM / GRU over whole sequences, as modules and as one
 * function over flat weights (tg_rnn, torch._VF.lstm's role).
 *
 * Per layer and direction the input projection of every time step is one
 * GEMM (x (T N, in) W_ih^T + b_ih), so a step records only h W_hh^T + b_hh
 * (one node), the pointwise gates (one fused node for LSTM and GRU, see
 * nn/rnn_fused.c; add and tanh/relu for RNN) and the views that pick its
 * slice and its states: about five nodes a step. The steps' outputs are
 * joined by one cat. Sequence lengths are masks: a padded step keeps the
 * state (row by row) and outputs zero, which is what packing gives, the reverse
 * direction included (its state stays h0 until the sequence's last valid
 * step). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn_internal.h"

static const char *mode_name(tg_rnn_mode m) {
  return m == TG_RNN_LSTM ? "LSTM" : m == TG_RNN_GRU ? "GRU" : "RNN";
}
static size_t gates_of(tg_rnn_mode m) { return m == TG_RNN_LSTM ? 4 : m == TG_RNN_GRU ? 3 : 1; }
static int dirs_of(const tg_rnn_opts *o) { return o->bidirectional ? 2 : 1; }
static int per_dir(const tg_rnn_opts *o) { return o->bias ? 4 : 2; }

tg_rnn_opts tg_rnn_defaults(size_t input_size, size_t hidden_size) {
  return (tg_rnn_opts){.input_size = input_size, .hidden_size = hidden_size, .num_layers = 1,
                       .nonlinearity = "tanh", .bias = true};
}

/* the checks of torch's RNNBase constructor */
static bool check_opts(const char *op, tg_rnn_mode mode, const tg_rnn_opts *o) {
  if (!(o->dropout >= 0 && o->dropout <= 1)) {
    tg_error("%s: dropout should be a number in range [0, 1] representing the probability of an element "
             "being zeroed (got %g)", op, o->dropout);
    return false;
  }
  if (o->hidden_size == 0 || o->num_layers < 1) {
    tg_error("%s: hidden_size (%zu) and num_layers (%d) must be greater than zero", op, o->hidden_size,
             o->num_layers);
    return false;
  }
  /* names fit TG_NN_NAME_MAX ("weight_ih_l99999_reverse") */
  if (o->num_layers > 99999) {
    tg_error("%s: num_layers %d is more than 99999", op, o->num_layers);
    return false;
  }
  if (o->proj_size) {
    tg_error(mode == TG_RNN_LSTM ? "%s: proj_size (%zu) is not supported" :
             "%s: proj_size (%zu) argument is only supported for LSTM, not RNN or GRU", op, o->proj_size);
    return false;
  }
  return true;
}

/* "weight_ih_l0_reverse": which 0..3 (w_ih, w_hh, b_ih, b_hh) */
static void param_name(char *buf, size_t len, int which, int layer, int dir) {
  static const char *const kind[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  snprintf(buf, len, "%s_l%d%s", kind[which], layer, dir ? "_reverse" : "");
}

/* each weight's shape: (G H, in_l), (G H, H), (G H), (G H); dtype of w[0] */
static bool check_weights(const char *op, tg_rnn_mode mode, const tg_rnn_opts *o, tg_tensor *const *w) {
  size_t G = gates_of(mode), H = o->hidden_size;
  int D = dirs_of(o), P = per_dir(o);
  for (int l = 0; l < o->num_layers; l++)
    for (int d = 0; d < D; d++)
      for (int k = 0; k < P; k++) {
        const tg_tensor *t = w[(l * D + d) * P + k];
        char name[TG_NN_NAME_MAX], a[96];
        param_name(name, sizeof name, k, l, d);
        if (!t || !tg_tensor_check(t, op, 8)) {
          tg_error("%s: weight %s is %s", op, name, t ? "a dead tensor (its scope ended)" : "NULL");
          return false;
        }
        if (!tg_dtype_is_float(t->dtype) || t->dtype != w[0]->dtype) {
          tg_error("%s: weight %s is %s; the weights must be float tensors of one dtype", op, name,
                   tg_dtype_name(t->dtype));
          return false;
        }
        size_t cols = k == 0 ? (l ? (size_t)D * H : o->input_size) : H;
        bool ok = k < 2 ? t->ndim == 2 && t->shape[0] == G * H && t->shape[1] == cols
                        : t->ndim == 1 && t->shape[0] == G * H;
        if (!ok) {
          if (k < 2) tg_error("%s: %s is %s, expected (%zu, %zu)", op, name, tg_shape_str(t, a, sizeof a), G * H, cols);
          else tg_error("%s: %s is %s, expected (%zu)", op, name, tg_shape_str(t, a, sizeof a), G * H);
          return false;
        }
      }
  return true;
}

/* a state h0 or c0 (which: 0, 1) against torch's check_hidden_size */
static bool check_state(const char *op, tg_rnn_mode mode, const tg_rnn_opts *o, const tg_tensor *s, int which,
                        const tg_tensor *x, size_t N) {
  if (!s) return true;
  char a[96];
  if (!tg_tensor_check(s, op, 5 + which)) return false;
  bool batched = x->ndim == 3;
  if (s->ndim != (batched ? 3 : 2)) {
    tg_error("%s: For %s %d-D input, hx should also be %d-D but got %d-D tensor", op,
             batched ? "batched" : "unbatched", x->ndim, x->ndim, s->ndim);
    return false;
  }
  size_t L = (size_t)o->num_layers * (size_t)dirs_of(o), H = o->hidden_size;
  bool ok = s->shape[0] == L && s->shape[s->ndim - 1] == H && (!batched || s->shape[1] == N);
  if (!ok) {
    const char *what = mode == TG_RNN_LSTM ? (which ? "hidden[1] " : "hidden[0] ") : "hidden ";
    if (batched) tg_error("%s: Expected %ssize (%zu, %zu, %zu), got %s", op, what, L, N, H, tg_shape_str(s, a, sizeof a));
    else tg_error("%s: Expected %ssize (%zu, %zu), got %s", op, what, L, H, tg_shape_str(s, a, sizeof a));
    return false;
  }
  if (s->dtype != x->dtype) {
    tg_error("%s: %s is %s but the input is %s", op, which ? "c0" : "h0", tg_dtype_name(s->dtype),
             tg_dtype_name(x->dtype));
    return false;
  }
  return true;
}

static bool check_input(const char *op, tg_rnn_mode mode, const tg_rnn_opts *o, const tg_tensor *x,
                        const tg_tensor *h0, const tg_tensor *c0, const int64_t *lengths, tg_tensor *const *w) {
  if (!ops_check_float(op, x, 4)) return false;
  if (x->ndim != 2 && x->ndim != 3) {
    tg_error("%s: Expected input to be 2-D or 3-D but received %d-D tensor", op, x->ndim);
    return false;
  }
  if (x->shape[x->ndim - 1] != o->input_size) {
    tg_error("%s: input.size(-1) must be equal to input_size. Expected %zu, got %zu", op, o->input_size,
             x->shape[x->ndim - 1]);
    return false;
  }
  if (x->dtype != w[0]->dtype) {
    tg_error("%s: input is %s but the weights are %s; convert the input (tg_to_dtype) or the module "
             "(tg_module_to_)", op, tg_dtype_name(x->dtype), tg_dtype_name(w[0]->dtype));
    return false;
  }
  bool tfirst = x->ndim == 2 || !o->batch_first;
  size_t T = x->shape[tfirst ? 0 : 1], N = x->ndim == 2 ? 1 : x->shape[tfirst ? 1 : 0];
  if (T == 0 || N == 0) {
    tg_error("%s: input of %zu time steps and batch %zu: both must be at least 1", op, T, N);
    return false;
  }
  if (c0 && mode != TG_RNN_LSTM) {
    tg_error("%s: c0 is given but only an LSTM has a cell state", op);
    return false;
  }
  if (!check_state(op, mode, o, h0, 0, x, N) || !check_state(op, mode, o, c0, 1, x, N)) return false;
  for (size_t n = 0; lengths && n < N; n++)
    if (lengths[n] < 1 || (uint64_t)lengths[n] > T) {
      tg_error("%s: lengths[%zu] = %lld: every length must be in [1, %zu] (the input's time steps)", op, n,
               (long long)lengths[n], T);
      return false;
    }
  return true;
}

/* one layer in one direction */
typedef struct dir_run {
  tg_rnn_mode mode;
  tg_tensor *w_ih, *w_hh, *b_ih, *b_hh;
  tg_tensor *mask; /* (T, N, 1) bool: step t of sequence n is valid; or NULL */
  tg_tensor **steps; /* T slots of scratch */
  tg_tensor *hacc;   /* the gradient buffer of the hidden projections, or NULL */
} dir_run;

/* h' (N, H) from the step's input projection xt (N, G H) and h, c (N, H);
 * *c2 the LSTM's c' */
static tg_tensor *step(const dir_run *r, tg_tensor *xt, tg_tensor *h, tg_tensor *c, tg_tensor **c2, size_t t,
                       bool first) {
  tg_tensor *hh = nn_hh(h, r->w_hh, r->b_hh, t, r->hacc, first);
  switch (r->mode) {
  case TG_RNN_TANH: return tg_tanh(tg_add(xt, hh));
  case TG_RNN_RELU: return tg_relu(tg_add(xt, hh));
  case TG_RNN_GRU: return nn_gru_gates(xt, hh, h);
  case TG_RNN_LSTM: {
    tg_tensor *y = nn_lstm_gates(xt, hh, c); /* (2, N, H) */
    *c2 = nn_step(y, 1, NULL, false);
    return nn_step(y, 0, NULL, false);
  }
  }
  return NULL;
}

/* x (T, N, in) -> (T, N, H); h, c (N, H) or NULL (zeros) in, final states out */
static tg_tensor *run_direction(dir_run *r, tg_tensor *x, bool reverse, tg_tensor **h, tg_tensor **c) {
  size_t T = x->shape[0], N = x->shape[1], I = x->shape[2], GH = r->w_ih->shape[0], H = r->w_hh->shape[1];
  /* the hidden projection's GEMMs read them in place */
  tg_tensor *b_hh = r->b_hh;
  r->w_hh = tg_contiguous(r->w_hh);
  r->b_hh = b_hh ? tg_contiguous(b_hh) : NULL;
  if (!r->w_hh || (b_hh && !r->b_hh)) return NULL;
  r->hacc = nn_hh_grad_buffer(T, N, H, r->w_hh, r->b_hh);
  if (tg_grad_enabled() && (r->w_hh->requires_grad || (r->b_hh && r->b_hh->requires_grad)) && !r->hacc)
    return NULL;
  /* every step's input projection in one GEMM */
  tg_tensor *xw = tg_reshape(tg_linear(tg_reshape(x, TG_SHAPE(T * N, I)), r->w_ih, r->b_ih), TG_SHAPE(T, N, GH));
  xw = xw ? tg_contiguous(xw) : NULL; /* nn_step's buffer is row-major */
  tg_tensor *hs = *h ? tg_contiguous(*h) : tg_zeros(x->dtype, TG_SHAPE(N, H));
  tg_tensor *cs = r->mode != TG_RNN_LSTM ? NULL : *c ? tg_contiguous(*c) : tg_zeros(x->dtype, TG_SHAPE(N, H));
  if (!xw || !hs || (r->mode == TG_RNN_LSTM && !cs)) return NULL;
  /* the steps' gradients gathered into one buffer for xw */
  tg_tensor *acc = nn_step_grad_buffer(xw);
  if (xw->grad_fn && tg_grad_enabled() && !acc) return NULL;
  for (size_t s = 0; s < T; s++) {
    size_t t = reverse ? T - 1 - s : s;
    tg_tensor *c2 = NULL, *h2 = step(r, nn_step(xw, t, acc, s == 0), hs, cs, &c2, t, s == 0);
    if (!h2) return NULL;
    if (r->mask) {
      /* a padded step keeps the state and outputs zero */
      r->steps[t] = nn_masked_rows(r->mask, t, h2, NULL);
      hs = nn_masked_rows(r->mask, t, h2, hs);
      if (cs) cs = nn_masked_rows(r->mask, t, c2, cs);
    } else {
      r->steps[t] = h2;
      hs = h2;
      cs = c2;
    }
    if (!r->steps[t] || !hs) return NULL;
  }
  *h = hs;
  *c = cs;
  return tg_reshape(tg_cat((int)T, r->steps, 0), TG_SHAPE(T, N, H));
}

/* (T, N, 1) bool: t < lengths[n] */
static tg_tensor *length_mask(const int64_t *lengths, size_t T, size_t N) {
  tg_tensor *m = tg_tensor_alloc(TG_BOOL, TG_SHAPE(T, N, 1));
  if (!m) return NULL;
  bool *p = (bool *)tg_ptr(m);
  for (size_t t = 0; t < T; t++)
    for (size_t n = 0; n < N; n++) p[t * N + n] = (int64_t)t < lengths[n];
  return m;
}

/* the layers over x3 (T, N, in); h0, c0 (D L, N, H) or NULL. Scratch: T +
 * 2 D L slots. */
static int run_layers(tg_rnn_mode mode, const tg_rnn_opts *o, bool training, tg_tensor *x3, tg_tensor *h0,
                      tg_tensor *c0, const int64_t *lengths, tg_tensor *const *w, tg_tensor **scratch,
                      tg_tensor **output, tg_tensor **h_n, tg_tensor **c_n) {
  size_t T = x3->shape[0], N = x3->shape[1];
  int D = dirs_of(o), P = per_dir(o), L = o->num_layers, DL = D * L;
  tg_tensor **hs = scratch + T, **cs = hs + DL;
  dir_run r = {.mode = mode, .steps = scratch};
  if (lengths) {
    r.mask = length_mask(lengths, T, N);
    if (!r.mask) return -1;
  }
  tg_tensor *layer = x3;
  for (int l = 0; l < L; l++) {
    tg_tensor *outs[2] = {0};
    for (int d = 0; d < D; d++) {
      int k = l * D + d;
      tg_tensor *const *wk = w + (size_t)k * (size_t)P;
      r.w_ih = wk[0], r.w_hh = wk[1], r.b_ih = o->bias ? wk[2] : NULL, r.b_hh = o->bias ? wk[3] : NULL;
      hs[k] = h0 ? tg_select(h0, 0, k) : NULL;
      cs[k] = c0 ? tg_select(c0, 0, k) : NULL;
      outs[d] = run_direction(&r, layer, d == 1, &hs[k], &cs[k]);
      if (!outs[d]) return -1;
    }
    layer = D == 2 ? tg_cat(2, outs, 2) : outs[0];
    if (layer && l + 1 < L && training && o->dropout > 0) layer = tg_dropout(layer, o->dropout, true, o->rng);
    if (!layer) return -1;
  }
  *output = layer;
  for (int k = 0; k < DL; k++) {
    hs[k] = tg_unsqueeze(hs[k], 0);
    if (mode == TG_RNN_LSTM) cs[k] = tg_unsqueeze(cs[k], 0);
  }
  if (h_n) *h_n = tg_cat(DL, hs, 0);
  if (c_n) *c_n = mode == TG_RNN_LSTM ? tg_cat(DL, cs, 0) : NULL;
  return (h_n && !*h_n) || (c_n && mode == TG_RNN_LSTM && !*c_n) ? -1 : 0;
}

int tg_rnn(tg_rnn_mode mode, const tg_rnn_opts *o, bool training, tg_tensor *x, tg_tensor *h0, tg_tensor *c0,
           const int64_t *lengths, tg_tensor *const *weights, tg_tensor **output, tg_tensor **h_n,
           tg_tensor **c_n) {
  if (output) *output = NULL;
  if (h_n) *h_n = NULL;
  if (c_n) *c_n = NULL;
  if (mode < TG_RNN_TANH || mode > TG_RNN_GRU) {
    tg_error("rnn: unknown mode %d (TG_RNN_TANH, TG_RNN_RELU, TG_RNN_LSTM or TG_RNN_GRU)", (int)mode);
    return -1;
  }
  const char *op = mode_name(mode);
  if (!o || !weights || !output) {
    tg_error("%s: argument %d (%s) is NULL", op, !o ? 2 : !weights ? 8 : 9, !o ? "opts" : !weights ? "weights" : "output");
    return -1;
  }
  if (!tg_tensor_check(x, op, 4)) return -1;
  if (!check_opts(op, mode, o) || !check_weights(op, mode, o, weights) ||
      !check_input(op, mode, o, x, h0, c0, lengths, weights))
    return -1;
  bool batched = x->ndim == 3;
  /* time-major (T, N, in) and states (D L, N, H) */
  tg_tensor *x3 = !batched ? tg_unsqueeze(x, 1) : o->batch_first ? tg_transpose(x, 0, 1) : x;
  tg_tensor *h3 = h0 && !batched ? tg_unsqueeze(h0, 1) : h0, *c3 = c0 && !batched ? tg_unsqueeze(c0, 1) : c0;
  if (!x3 || (h0 && !h3) || (c0 && !c3)) return -1;
  size_t slots = x3->shape[0] + 2 * (size_t)o->num_layers * (size_t)dirs_of(o);
  tg_tensor **scratch = tg_pool_alloc(slots * sizeof *scratch);
  if (!scratch) {
    tg_error("%s: out of memory", op);
    return -1;
  }
  tg_tensor *out = NULL, *hn = NULL, *cn = NULL;
  int rc = run_layers(mode, o, training, x3, h3, c3, lengths, weights, scratch, &out, h_n ? &hn : NULL,
                      c_n ? &cn : NULL);
  tg_pool_free(scratch);
  if (rc != 0) return -1;
  out = !batched ? tg_squeeze(out, 1) : o->batch_first ? tg_transpose(out, 0, 1) : out;
  if (hn && !batched) hn = tg_squeeze(hn, 1);
  if (cn && !batched) cn = tg_squeeze(cn, 1);
  if (!out || (h_n && !hn) || (c_n && mode == TG_RNN_LSTM && !cn)) return -1;
  *output = out;
  if (h_n) *h_n = hn;
  if (c_n) *c_n = cn;
  return 0;
}

/* ---------------------------------------------------------------- modules */

typedef struct rnn_cfg {
  tg_rnn_mode mode;
  tg_rnn_opts o; /* nonlinearity NULL: the mode says it */
} rnn_cfg;

static int rnn_forward_multi(tg_module *m, tg_tensor *const *in, int n_in, tg_tensor **out, int max_out);

int tg_nn_rnn_forward(tg_module *m, tg_tensor *x, tg_tensor *h0, tg_tensor *c0, const int64_t *lengths,
                      tg_tensor **output, tg_tensor **h_n, tg_tensor **c_n) {
  if (output) *output = NULL;
  if (h_n) *h_n = NULL;
  if (c_n) *c_n = NULL;
  if (!m || !output) {
    tg_error("nn_rnn_forward: %s is NULL", m ? "output" : "module");
    return -1;
  }
  if (m->forward_multi != rnn_forward_multi) {
    tg_error("nn_rnn_forward: the module is a %s, not an RNN, LSTM or GRU", m->type);
    return -1;
  }
  if (!x) {
    tg_error("%s: the input x is NULL", m->type);
    return -1;
  }
  const rnn_cfg *cfg = m->ctx;
  size_t n;
  tg_tensor **w = tg_module_parameters(m, &n);
  if (!w) return -1;
  return tg_rnn(cfg->mode, &cfg->o, m->training, x, h0, c0, lengths, w, output, h_n, c_n);
}

/* in = {x, h0, c0 (LSTM)}, out = {output, h_n, c_n (LSTM)}: as many as max_out takes */
static int rnn_forward_multi(tg_module *m, tg_tensor *const *in, int n_in, tg_tensor **out, int max_out) {
  const rnn_cfg *cfg = m->ctx;
  int n_states = cfg->mode == TG_RNN_LSTM ? 2 : 1;
  if (n_in < 1 || n_in > 1 + n_states) {
    tg_error("%s: takes (x%s), got %d inputs", m->type, n_states == 2 ? ", h0, c0" : ", h0", n_in);
    return -1;
  }
  tg_tensor *r[3] = {0};
  if (tg_nn_rnn_forward(m, in[0], n_in > 1 ? in[1] : NULL, n_in > 2 ? in[2] : NULL, NULL, &r[0], &r[1],
                        n_states == 2 ? &r[2] : NULL) != 0)
    return -1;
  int k = 1 + n_states < max_out ? 1 + n_states : max_out;
  for (int i = 0; i < k; i++) out[i] = r[i];
  return k;
}

/* the parameters in torch's order, each U(-1/sqrt(H), 1/sqrt(H)) in turn */
static bool add_params(tg_module *m, tg_rnn_mode mode, const tg_rnn_opts *o) {
  size_t G = gates_of(mode), H = o->hidden_size;
  int D = dirs_of(o);
  double bound = 1.0 / sqrt((double)H);
  for (int l = 0; l < o->num_layers; l++)
    for (int d = 0; d < D; d++)
      for (int k = 0; k < per_dir(o); k++) {
        char name[TG_NN_NAME_MAX];
        param_name(name, sizeof name, k, l, d);
        size_t cols = k == 0 ? (l ? (size_t)D * H : o->input_size) : H;
        tg_tensor *t = k < 2 ? tg_module_add_parameter(m, name, TG_FLOAT32, TG_SHAPE(G * H, cols))
                             : tg_module_add_parameter(m, name, TG_FLOAT32, TG_SHAPE(G * H));
        if (!t) return false;
      }
  for (size_t k = 0; k < m->n_params; k++)
    if (!tg_init_uniform_(m->params[k].tensor, o->rng, -bound, bound)) return false;
  return true;
}

/* torch's RNNBase.extra_repr: sizes, then each option only when not its
 * default (the nonlinearity is never shown) */
static tg_module *rnn_repr(tg_module *m, const tg_rnn_opts *o) {
  char s[TG_NN_REPR_MAX];
  int n = snprintf(s, sizeof s, "%zu, %zu", o->input_size, o->hidden_size);
  if (o->num_layers != 1) n += snprintf(s + n, sizeof s - (size_t)n, ", num_layers=%d", o->num_layers);
  if (!o->bias) n += snprintf(s + n, sizeof s - (size_t)n, ", bias=False");
  if (o->batch_first) n += snprintf(s + n, sizeof s - (size_t)n, ", batch_first=True");
  if (o->dropout != 0) n += snprintf(s + n, sizeof s - (size_t)n, ", dropout=%s", nn_pyfloat(o->dropout));
  if (o->bidirectional) snprintf(s + n, sizeof s - (size_t)n, ", bidirectional=True");
  return nn_with_repr(m, "%s", s);
}

static tg_module *rnn_module(tg_rnn_mode mode, tg_rnn_opts o) {
  const char *op = mode_name(mode);
  if (!check_opts(op, mode, &o)) return NULL;
  rnn_cfg *cfg = calloc(1, sizeof *cfg);
  tg_module *m = cfg ? tg_module_new_multi(op, rnn_forward_multi) : NULL;
  if (!m) {
    if (!cfg) tg_error("%s: out of memory", op);
    free(cfg);
    return NULL;
  }
  cfg->mode = mode;
  cfg->o = o;
  cfg->o.nonlinearity = NULL;
  m->ctx = cfg;
  m->ctx_free = free;
  m->rng = o.rng;
  if (!add_params(m, mode, &o)) {
    tg_module_free(m);
    return NULL;
  }
  return rnn_repr(m, &o);
}

tg_module *tg_nn_rnn(tg_rnn_opts o) {
  const char *nl = o.nonlinearity ? o.nonlinearity : "tanh";
  if (strcmp(nl, "tanh") && strcmp(nl, "relu")) {
    tg_error("RNN: Unknown nonlinearity '%s'. Select from 'tanh' or 'relu'.", nl);
    return NULL;
  }
  return rnn_module(strcmp(nl, "relu") ? TG_RNN_TANH : TG_RNN_RELU, o);
}

tg_module *tg_nn_lstm(tg_rnn_opts o) { return rnn_module(TG_RNN_LSTM, o); }
tg_module *tg_nn_gru(tg_rnn_opts o) { return rnn_module(TG_RNN_GRU, o); }
