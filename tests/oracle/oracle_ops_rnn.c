/* The oracle's table of the recurrent layers (family_rnn.py): tg_rnn over
 * the case's flat weight vector, cut into torch's parameter shapes in its
 * order. cfg is (layers, directions, bias, batch_first, has_h, input_size,
 * hidden_size); lengths, when present, one per sequence. */
#include "oracle_ops.h"

#define RNN_MAX_WEIGHTS 16 /* 2 layers, 2 directions, 4 tensors each */

static int o_seq(tg_rnn_mode mode, tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  long c[ORACLE_MAX_LIST], len[ORACLE_MAX_LIST];
  if (oracle_ints(p, "cfg", c) != 7) return -1;
  int L = (int)c[0], D = (int)c[1], n_states = mode == TG_RNN_LSTM ? 2 : 1;
  bool bias = c[2], has_h = c[4];
  size_t I = (size_t)c[5], H = (size_t)c[6], G = mode == TG_RNN_LSTM ? 4 : mode == TG_RNN_GRU ? 3 : 1;
  tg_tensor *flat = x[has_h ? 1 + n_states : 1], *w[RNN_MAX_WEIGHTS];
  int nw = 0;
  long off = 0;
  for (int l = 0; l < L; l++)
    for (int d = 0; d < D; d++)
      for (int k = 0; k < (bias ? 4 : 2) && nw < RNN_MAX_WEIGHTS; k++) {
        size_t rows = G * H, cols = k == 0 ? (l ? (size_t)D * H : I) : H;
        size_t n = k < 2 ? rows * cols : rows;
        tg_tensor *piece = tg_narrow(flat, 0, off, n);
        w[nw++] = k < 2 ? tg_reshape(piece, TG_SHAPE(rows, cols)) : tg_reshape(piece, TG_SHAPE(rows));
        off += (long)n;
      }
  tg_rnn_opts o = tg_rnn_defaults(I, H);
  o.num_layers = L;
  o.bidirectional = D == 2;
  o.bias = bias;
  o.batch_first = c[3];
  int n_len = oracle_ints(p, "lengths", len);
  int64_t lengths[ORACLE_MAX_LIST];
  for (int k = 0; k < n_len; k++) lengths[k] = len[k];
  if (mode == TG_RNN_TANH && !strcmp(oracle_str(p, "mode", "tanh"), "relu")) mode = TG_RNN_RELU;
  int rc = tg_rnn(mode, &o, true, x[0], has_h ? x[1] : NULL, has_h && n_states == 2 ? x[2] : NULL,
                  n_len ? lengths : NULL, w, &out[0], &out[1], n_states == 2 ? &out[2] : NULL);
  return rc == 0 ? 1 + n_states : -1;
}

static int o_rnn(tg_tensor **x, const oracle_params *p, tg_tensor **out) { return o_seq(TG_RNN_TANH, x, p, out); }
static int o_lstm(tg_tensor **x, const oracle_params *p, tg_tensor **out) { return o_seq(TG_RNN_LSTM, x, p, out); }
static int o_gru(tg_tensor **x, const oracle_params *p, tg_tensor **out) { return o_seq(TG_RNN_GRU, x, p, out); }

const oracle_op oracle_rnn_ops[] = {
    E(rnn), E(lstm), E(gru),
    {NULL, NULL},
};
