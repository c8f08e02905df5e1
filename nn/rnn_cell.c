/* Recurrent cells as functions, torch's formulas and gate orders, composed
 * of recorded ops (so double backward comes for free): x (N, in) or (in),
 * h (N, H) or (H), w_ih (G H, in), w_hh (G H, H), biases (G H) or NULL,
 * with G = 1 (RNN), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n). */
#include <string.h>

#include "nn_internal.h"

/* the checks torch's cells make (words of its messages) */
static bool check_cell(const char *op, const tg_tensor *x, const tg_tensor *h, const tg_tensor *c,
                       const tg_tensor *w_ih, const tg_tensor *w_hh, const tg_tensor *b_ih,
                       const tg_tensor *b_hh, size_t G) {
  char a[96], b[96];
  int k0 = G == 4 ? 4 : 3; /* w_ih's argument number: the LSTM's c comes before it */
  if (!ops_check_float(op, x, 1) || (h && !ops_check_float(op, h, 2)) || (c && !ops_check_float(op, c, 3)) ||
      !ops_check_float(op, w_ih, k0) || !ops_check_float(op, w_hh, k0 + 1) ||
      (b_ih && !ops_check_float(op, b_ih, k0 + 2)) || (b_hh && !ops_check_float(op, b_hh, k0 + 3)))
    return false;
  if (x->ndim != 1 && x->ndim != 2) {
    tg_error("%s: Expected input to be 1D or 2D, got %dD instead", op, x->ndim);
    return false;
  }
  if (w_ih->ndim != 2 || w_hh->ndim != 2 || w_ih->shape[0] % G || w_hh->shape[0] != w_ih->shape[0] ||
      w_hh->shape[1] * G != w_hh->shape[0]) {
    tg_error("%s: weights %s and %s are not (%zu H, input_size) and (%zu H, H)", op,
             tg_shape_str(w_ih, a, sizeof a), tg_shape_str(w_hh, b, sizeof b), G, G);
    return false;
  }
  size_t H = w_hh->shape[1];
  if (x->shape[x->ndim - 1] != w_ih->shape[1]) {
    tg_error("%s: input has inconsistent input_size: got %zu expected %zu", op, x->shape[x->ndim - 1],
             w_ih->shape[1]);
    return false;
  }
  const tg_tensor *st[2] = {h, c};
  for (int k = 0; k < 2; k++) {
    const tg_tensor *s = st[k];
    if (!s) continue;
    if (s->ndim != x->ndim || s->shape[s->ndim - 1] != H || (x->ndim == 2 && s->shape[0] != x->shape[0])) {
      tg_error("%s: %s %s must be %s with hidden_size %zu for input %s", op, k ? "cx" : "hx",
               tg_shape_str(s, a, sizeof a), x->ndim == 2 ? "(batch, hidden_size)" : "(hidden_size)", H,
               tg_shape_str(x, b, sizeof b));
      return false;
    }
  }
  const tg_tensor *bs[2] = {b_ih, b_hh};
  for (int k = 0; k < 2; k++)
    if (bs[k] && (bs[k]->ndim != 1 || bs[k]->shape[0] != G * H)) {
      tg_error("%s: %s %s must be (%zu)", op, k ? "bias_hh" : "bias_ih", tg_shape_str(bs[k], a, sizeof a), G * H);
      return false;
    }
  bool same = w_ih->dtype == x->dtype && w_hh->dtype == x->dtype && (!h || h->dtype == x->dtype) &&
              (!c || c->dtype == x->dtype) && (!b_ih || b_ih->dtype == x->dtype) &&
              (!b_hh || b_hh->dtype == x->dtype);
  if (!same) {
    tg_error("%s: input, states, weights and biases must have one dtype (input is %s)", op,
             tg_dtype_name(x->dtype));
    return false;
  }
  return true;
}

/* the state as (N, H), zeros when absent (torch's hx = None) */
static tg_tensor *state2(tg_tensor *s, const tg_tensor *x2, size_t H) {
  if (!s) return tg_zeros(x2->dtype, TG_SHAPE(x2->shape[0], H));
  return s->ndim == 1 ? tg_unsqueeze(s, 0) : s;
}

static tg_tensor *gate(tg_tensor *g, size_t k, size_t H) { return tg_narrow(g, 1, (long)(k * H), H); }

static tg_tensor *unbatch(tg_tensor *t, const tg_tensor *x) { return x->ndim == 1 ? tg_squeeze(t, 0) : t; }

tg_tensor *tg_rnn_cell(tg_tensor *x, tg_tensor *h, tg_tensor *w_ih, tg_tensor *w_hh, tg_tensor *b_ih,
                       tg_tensor *b_hh, const char *nonlinearity) {
  if (!check_cell("rnn_cell", x, h, NULL, w_ih, w_hh, b_ih, b_hh, 1)) return NULL;
  bool relu = nonlinearity && !strcmp(nonlinearity, "relu");
  if (!relu && (!nonlinearity || strcmp(nonlinearity, "tanh"))) {
    tg_error("rnn_cell: Unknown nonlinearity: '%s'", nonlinearity ? nonlinearity : "(null)");
    return NULL;
  }
  tg_tensor *x2 = x->ndim == 1 ? tg_unsqueeze(x, 0) : x;
  tg_tensor *pre = tg_add(tg_linear(x2, w_ih, b_ih), tg_linear(state2(h, x2, w_hh->shape[1]), w_hh, b_hh));
  return unbatch(relu ? tg_relu(pre) : tg_tanh(pre), x);
}

int tg_lstm_cell(tg_tensor *x, tg_tensor *h, tg_tensor *c, tg_tensor *w_ih, tg_tensor *w_hh, tg_tensor *b_ih,
                 tg_tensor *b_hh, tg_tensor **h_out, tg_tensor **c_out) {
  if (h_out) *h_out = NULL;
  if (c_out) *c_out = NULL;
  if (!h_out || !c_out) {
    tg_error("lstm_cell: argument %d is NULL", h_out ? 9 : 8);
    return -1;
  }
  if (!check_cell("lstm_cell", x, h, c, w_ih, w_hh, b_ih, b_hh, 4)) return -1;
  size_t H = w_hh->shape[1];
  tg_tensor *x2 = x->ndim == 1 ? tg_unsqueeze(x, 0) : x;
  tg_tensor *g = tg_add(tg_linear(x2, w_ih, b_ih), tg_linear(state2(h, x2, H), w_hh, b_hh));
  tg_tensor *i = tg_sigmoid(gate(g, 0, H)), *f = tg_sigmoid(gate(g, 1, H));
  tg_tensor *gg = tg_tanh(gate(g, 2, H)), *o = tg_sigmoid(gate(g, 3, H));
  tg_tensor *c2 = tg_add(tg_mul(f, state2(c, x2, H)), tg_mul(i, gg));
  tg_tensor *h2 = tg_mul(o, tg_tanh(c2));
  if (!h2) return -1;
  *h_out = unbatch(h2, x);
  *c_out = unbatch(c2, x);
  return *h_out && *c_out ? 0 : -1;
}

tg_tensor *tg_gru_cell(tg_tensor *x, tg_tensor *h, tg_tensor *w_ih, tg_tensor *w_hh, tg_tensor *b_ih,
                       tg_tensor *b_hh) {
  if (!check_cell("gru_cell", x, h, NULL, w_ih, w_hh, b_ih, b_hh, 3)) return NULL;
  size_t H = w_hh->shape[1];
  tg_tensor *x2 = x->ndim == 1 ? tg_unsqueeze(x, 0) : x, *h2 = state2(h, x2, H);
  tg_tensor *gi = tg_linear(x2, w_ih, b_ih), *gh = tg_linear(h2, w_hh, b_hh);
  tg_tensor *r = tg_sigmoid(tg_add(gate(gi, 0, H), gate(gh, 0, H)));
  tg_tensor *z = tg_sigmoid(tg_add(gate(gi, 1, H), gate(gh, 1, H)));
  tg_tensor *n = tg_tanh(tg_add(gate(gi, 2, H), tg_mul(r, gate(gh, 2, H))));
  /* (1 - z) n + z h = n + z (h - n) */
  tg_tensor *out = tg_add(n, tg_mul(z, tg_sub(h2, n)));
  return out ? unbatch(out, x) : NULL;
}
