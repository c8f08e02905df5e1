/* The fused gate nodes of the sequence modules (nn/rnn_fused.c), shared
 * with nn/rnn.c. */
#ifndef TG_RNN_INTERNAL_H
#define TG_RNN_INTERNAL_H

#include "nn_internal.h"

/* One LSTM step's pointwise part as one node. xw, hh (N, 4H): the input
 * and hidden projections (biases included), gates i, f, g, o; c (N, H).
 * Returns (2, N, H): [h', c'] with c' = s(f) c + s(i) tanh(g),
 * h' = s(o) tanh(c'). All inputs contiguous, one float dtype (unchecked). */
tg_tensor *nn_lstm_gates(tg_tensor *xw, tg_tensor *hh, tg_tensor *c);
/* One GRU step's pointwise part as one node. xw, hh (N, 3H), gates r, z,
 * n; h (N, H). Returns h' (N, H) = n + z (h - n), n = tanh(xw_n + r hh_n). */
tg_tensor *nn_gru_gates(tg_tensor *xw, tg_tensor *hh, tg_tensor *h);

#endif
