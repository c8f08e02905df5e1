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

/* Step t of a contiguous (T, ...) tensor a as a view (the shape without dim
 * 0) in one node. A plain slice's backward would write its gradient into
 * zeros of a's whole shape, T times over a sequence; with acc (from
 * nn_step_grad_buffer(a)) the steps instead copy their gradients into it
 * and the first step taken (processed last by backward: pass first = true)
 * hands the whole buffer on, with zeros for steps that got no gradient.
 * Every step of a must be taken, each once, with the same acc. */
tg_tensor *nn_step(tg_tensor *a, size_t t, tg_tensor *acc, bool first);
/* the buffer for nn_step over a (T, ...): a's elements and T flags, in the
 * current scope; NULL (no buffer needed) when a records no history */
tg_tensor *nn_step_grad_buffer(tg_tensor *a);

/* One step's hidden projection h W^T + b (N, G H) as one node, h (N, H),
 * W (G H, H), b (G H) or NULL, all contiguous. With acc (from
 * nn_hh_grad_buffer) the backward of each step gives dh only and keeps its
 * gradient and h, and the first step taken (processed last: first = true)
 * makes dW and db of all steps at once, one GEMM instead of one a step.
 * Every step must be taken once with the same acc. */
tg_tensor *nn_hh(tg_tensor *h, tg_tensor *w, tg_tensor *b, size_t t, tg_tensor *acc, bool first);
/* the buffer for T steps of nn_hh (N, H) -> (N, G H), or NULL when w and b
 * record nothing */
tg_tensor *nn_hh_grad_buffer(size_t T, size_t N, size_t H, tg_tensor *w, tg_tensor *b);

/* Rows of step t under packed lengths: row n of a (N, H) where
 * mask[t][n] (mask (T, N, 1) bool, no history), else row n of b, or zero
 * when b is NULL. a and b contiguous. One node; backward routes each row's
 * gradient to the side it came from. */
tg_tensor *nn_masked_rows(tg_tensor *mask, size_t t, tg_tensor *a, tg_tensor *b);

#endif
