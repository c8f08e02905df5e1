/* The oracle's table of the sequence-model ops (family_seq.py). An absent
 * parameter is torch's None: no padding row, no max_norm. */
#include <math.h>

#include "oracle_ops.h"

static int o_embedding(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  double pad = NUM("pad", NAN);
  out[0] = tg_embedding(x[0], x[1], isnan(pad) ? TG_NO_PADDING_IDX : (int64_t)pad, NUM("max_norm", NAN),
                        NUM("norm_type", 2.0));
  return out[0] ? 1 : -1;
}

static int o_rms_norm(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  size_t ns[ORACLE_MAX_LIST];
  int n = shape_of(p, "ns", ns);
  return (out[0] = tg_rms_norm(x[0], n, ns, BOOL("has_w") ? x[1] : NULL, NUM("eps", NAN))) ? 1 : -1;
}

/* the cells' inputs: x, [h (, c)], w_ih, w_hh, [b_ih, b_hh] by has_h, has_b */
typedef struct cell_in {
  tg_tensor *x, *h, *c, *w_ih, *w_hh, *b_ih, *b_hh;
} cell_in;

static cell_in cell_split(tg_tensor **x, const oracle_params *p, int n_states) {
  cell_in o = {.x = x[0]};
  int k = 1;
  if (BOOL("has_h")) {
    o.h = x[k++];
    if (n_states == 2) o.c = x[k++];
  }
  o.w_ih = x[k], o.w_hh = x[k + 1];
  if (BOOL("has_b")) o.b_ih = x[k + 2], o.b_hh = x[k + 3];
  return o;
}

static int o_rnn_cell(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  cell_in o = cell_split(x, p, 1);
  out[0] = tg_rnn_cell(o.x, o.h, o.w_ih, o.w_hh, o.b_ih, o.b_hh, oracle_str(p, "nonlinearity", "tanh"));
  return out[0] ? 1 : -1;
}

static int o_lstm_cell(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  cell_in o = cell_split(x, p, 2);
  return tg_lstm_cell(o.x, o.h, o.c, o.w_ih, o.w_hh, o.b_ih, o.b_hh, &out[0], &out[1]) == 0 ? 2 : -1;
}

static int o_gru_cell(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  cell_in o = cell_split(x, p, 1);
  return (out[0] = tg_gru_cell(o.x, o.h, o.w_ih, o.w_hh, o.b_ih, o.b_hh)) ? 1 : -1;
}

static int o_scaled_dot_product_attention(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  const char *m = oracle_str(p, "mask", "none");
  bool has_mask = !strcmp(m, "bool") || !strcmp(m, "float");
  out[0] = tg_scaled_dot_product_attention(x[0], x[1], x[2], has_mask ? x[3] : NULL, !strcmp(m, "causal"), 0.0,
                                           NUM("scale", NAN), NULL);
  return out[0] ? 1 : -1;
}

const oracle_op oracle_seq_ops[] = {
    E(embedding), E(rms_norm), E(rnn_cell), E(lstm_cell), E(gru_cell),
    E(scaled_dot_product_attention),
    {NULL, NULL},
};
