/* Layer norm over the last dim with its affine, as one node:
 * y = (x - mean) / sqrt(var + eps) * w + b per row of C values (var
 * biased). tg_layer_norm takes this path for a one-dim normalized_shape
 * (a transformer's LayerNorm(C)); the general case there is a reshape, the
 * per-channel node of nn/norm.c on a (1, rows, C) view, a reshape back, a
 * mul and an add: five nodes, two more (rows, C) results and a broadcast
 * reduction per affine parameter in the backward. At the small GPT's sizes
 * (examples/gpt_model.h, 12 LayerNorms of 24) those dominated the norm's
 * cost.
 *
 * The forward keeps each row's mean and 1/sqrt(var + eps); the backward is
 * dx = rstd (gw - mean(gw) - xhat mean(gw xhat)) with gw = g w, xhat the
 * normalised x, dw = sum over rows of g xhat, db = sum of g: loops when
 * nothing records, the same formulas in tg_* ops of x under create_graph so
 * that double backward works. */
#include <math.h>

#include "nn_internal.h"

enum { LN_W = 1, LN_B = 2 };

/* x (rows, C) contiguous -> y; stats (rows, 2): mean, rstd */
#define LN_FORWARD(NAME, TY)                                                                        \
  static void NAME(const TY *restrict x, const TY *restrict w, const TY *restrict b, TY *restrict y, \
                   TY *restrict stats, size_t rows, size_t C, TY eps) {                             \
    for (size_t r = 0; r < rows; r++) {                                                             \
      const TY *xr = x + r * C;                                                                     \
      TY *yr = y + r * C, sum = 0, sq = 0;                                                          \
      for (size_t c = 0; c < C; c++) sum += xr[c];                                                  \
      TY mean = sum / (TY)C;                                                                        \
      for (size_t c = 0; c < C; c++) sq += (xr[c] - mean) * (xr[c] - mean);                        \
      TY rstd = 1 / (TY)sqrt(sq / (TY)C + eps);                                                     \
      for (size_t c = 0; c < C; c++) {                                                              \
        TY v = (xr[c] - mean) * rstd;                                                               \
        yr[c] = (w ? v * w[c] : v) + (b ? b[c] : 0);                                                \
      }                                                                                             \
      stats[2 * r] = mean;                                                                          \
      stats[2 * r + 1] = rstd;                                                                      \
    }                                                                                               \
  }
LN_FORWARD(ln_forward_f32, float)
LN_FORWARD(ln_forward_f64, double)

/* dx (rows, C) written; dw, db (C) zeroed here and summed when not NULL */
#define LN_BACKWARD(NAME, TY)                                                                       \
  static void NAME(const TY *restrict x, const TY *restrict w, const TY *restrict g,                \
                   const TY *restrict stats, TY *restrict dx, TY *restrict dw, TY *restrict db,     \
                   size_t rows, size_t C) {                                                         \
    for (size_t c = 0; c < C; c++) {                                                                \
      if (dw) dw[c] = 0;                                                                            \
      if (db) db[c] = 0;                                                                            \
    }                                                                                               \
    for (size_t r = 0; r < rows; r++) {                                                             \
      const TY *xr = x + r * C, *gr = g + r * C, mean = stats[2 * r], rstd = stats[2 * r + 1];      \
      TY a = 0, bs = 0;                                                                             \
      for (size_t c = 0; c < C; c++) {                                                              \
        TY xh = (xr[c] - mean) * rstd, gw = w ? gr[c] * w[c] : gr[c];                               \
        a += gw;                                                                                    \
        bs += gw * xh;                                                                              \
        if (dw) dw[c] += gr[c] * xh;                                                                \
        if (db) db[c] += gr[c];                                                                     \
      }                                                                                             \
      a /= (TY)C;                                                                                   \
      bs /= (TY)C;                                                                                  \
      TY *dr = dx + r * C;                                                                          \
      for (size_t c = 0; c < C; c++) {                                                              \
        TY xh = (xr[c] - mean) * rstd, gw = w ? gr[c] * w[c] : gr[c];                               \
        dr[c] = rstd * (gw - a - xh * bs);                                                          \
      }                                                                                             \
    }                                                                                               \
  }
LN_BACKWARD(ln_backward_f32, float)
LN_BACKWARD(ln_backward_f64, double)

/* the backward as recorded ops: gi[0..] for x, w, b (those present) */
static void ln_backward_recorded(tg_tensor *x, tg_tensor *w, tg_tensor *g, double eps, tg_tensor **dx,
                                 tg_tensor **dw, tg_tensor **db) {
  const int last[1] = {-1};
  tg_tensor *xc = tg_sub(x, tg_mean_dims(x, 1, last, true));
  tg_tensor *rstd = tg_rsqrt(tg_add_scalar(tg_mean_dims(tg_mul(xc, xc), 1, last, true), eps));
  tg_tensor *xh = tg_mul(xc, rstd), *gw = w ? tg_mul(g, w) : g;
  if (dx)
    *dx = tg_mul(rstd, tg_sub(tg_sub(gw, tg_mean_dims(gw, 1, last, true)),
                              tg_mul(xh, tg_mean_dims(tg_mul(gw, xh), 1, last, true))));
  size_t C = x->shape[x->ndim - 1], rows = C ? x->numel / C : 0;
  const int first[1] = {0};
  if (dw) *dw = tg_sum_dims(tg_reshape(tg_mul(g, xh), TG_SHAPE(rows, C)), 1, first, false);
  if (db) *db = tg_sum_dims(tg_reshape(g, TG_SHAPE(rows, C)), 1, first, false);
}

static void ln_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  int flags = (int)tg_node_i(n)[0];
  tg_tensor *x = n->in[0], *w = flags & LN_W ? n->in[1] : NULL;
  int iw = flags & LN_W ? 1 : -1, ib = flags & LN_B ? (flags & LN_W ? 2 : 1) : -1;
  bool nx = tg_node_needs_grad(n, 0), nw = iw > 0 && tg_node_needs_grad(n, iw),
       nb = ib > 0 && tg_node_needs_grad(n, ib);
  if (!ops_fused_backward()) {
    ln_backward_recorded(x, w, g, tg_node_f(n)[0], nx ? &gi[0] : NULL, nw ? &gi[iw] : NULL, nb ? &gi[ib] : NULL);
    return;
  }
  size_t C = x->shape[x->ndim - 1], rows = C ? x->numel / C : 0;
  tg_tensor *xc = tg_contiguous(x), *gc = tg_contiguous(g), *wc = w ? tg_contiguous(w) : NULL;
  tg_tensor *dx = xc && gc ? tg_empty(x->dtype, x->ndim, x->shape) : NULL;
  tg_tensor *dw = dx && nw ? tg_empty(x->dtype, TG_SHAPE(C)) : NULL, *db = dx && nb ? tg_empty(x->dtype, TG_SHAPE(C)) : NULL;
  if (!dx || (nw && !dw) || (nb && !db) || (w && !wc)) return;
  if (x->dtype == TG_FLOAT32)
    ln_backward_f32(tg_data(xc), wc ? tg_data(wc) : NULL, tg_data(gc), tg_data(tg_node_saved(n)), tg_data(dx),
                    dw ? tg_data(dw) : NULL, db ? tg_data(db) : NULL, rows, C);
  else
    ln_backward_f64(tg_data(xc), wc ? tg_data(wc) : NULL, tg_data(gc), tg_data(tg_node_saved(n)), tg_data(dx),
                    dw ? tg_data(dw) : NULL, db ? tg_data(db) : NULL, rows, C);
  if (nx) gi[0] = dx;
  if (nw) gi[iw] = dw;
  if (nb) gi[ib] = db;
}
/* y = w xh + b over the last dim: dxh = rstd (tx - mean(tx) - xh mean(xh tx)),
 * dy = w dxh + tw xh + tb */
static tg_tensor *ln_jvp(tg_node *n, tg_tensor *const *t) {
  int flags = (int)tg_node_i(n)[0];
  tg_tensor *x = n->in[0], *w = flags & LN_W ? n->in[1] : NULL, *acc = NULL;
  int iw = flags & LN_W ? 1 : -1, ib = flags & LN_B ? (flags & LN_W ? 2 : 1) : -1;
  const int last[1] = {-1};
  tg_tensor *xc = tg_sub(x, tg_mean_dims(x, 1, last, true));
  tg_tensor *rstd = tg_rsqrt(tg_add_scalar(tg_mean_dims(tg_mul(xc, xc), 1, last, true), tg_node_f(n)[0]));
  tg_tensor *xh = tg_mul(xc, rstd);
  if (t[0]) {
    tg_tensor *mt = tg_mean_dims(t[0], 1, last, true), *mxt = tg_mean_dims(tg_mul(xh, t[0]), 1, last, true);
    tg_tensor *dxh = tg_mul(rstd, tg_sub(tg_sub(t[0], mt), tg_mul(xh, mxt)));
    acc = w ? tg_mul(w, dxh) : dxh;
  }
  if (iw > 0 && t[iw]) {
    tg_tensor *term = tg_mul(t[iw], xh);
    acc = acc ? tg_add(acc, term) : term;
  }
  if (ib > 0 && t[ib]) acc = acc ? tg_add(acc, t[ib]) : t[ib];
  return acc;
}
TG_DEFINE_OP_JVP(OP_LAYER_NORM_ROWS, "NativeLayerNormBackward", ln_backward, ln_jvp,
             TG_SAVES_IN(0) | TG_SAVES_IN(1) | TG_NODE_F | TG_NODE_I | TG_NODE_SAVED);

tg_tensor *nn_layer_norm_rows(tg_tensor *x, tg_tensor *w, tg_tensor *b, double eps) {
  size_t C = x->shape[x->ndim - 1], rows = C ? x->numel / C : 0;
  bool prev = tg_set_grad_enabled(false); /* the node's inputs are the caller's tensors, not copies */
  tg_tensor *xc = tg_contiguous(x), *wc = w ? tg_contiguous(w) : NULL, *bc = b ? tg_contiguous(b) : NULL;
  tg_set_grad_enabled(prev);
  tg_tensor *y = xc && (!w || wc) && (!b || bc) ? tg_empty(x->dtype, x->ndim, x->shape) : NULL;
  tg_tensor *stats = y ? tg_empty(x->dtype, TG_SHAPE(rows, 2)) : NULL;
  if (!stats) return NULL;
  if (x->dtype == TG_FLOAT32)
    ln_forward_f32(tg_data(xc), wc ? tg_data(wc) : NULL, bc ? tg_data(bc) : NULL, tg_data(y), tg_data(stats), rows,
                   C, (float)eps);
  else
    ln_forward_f64(tg_data(xc), wc ? tg_data(wc) : NULL, bc ? tg_data(bc) : NULL, tg_data(y), tg_data(stats), rows,
                   C, eps);
  tg_tensor *in[3] = {x};
  int n_in = 1;
  if (w) in[n_in++] = w;
  if (b) in[n_in++] = b;
  tg_node *n = ops_record(y, &OP_LAYER_NORM_ROWS, n_in, in);
  if (n) {
    tg_node_f(n)[0] = eps;
    tg_node_i(n)[0] = (w ? LN_W : 0) | (b ? LN_B : 0);
    tg_node_save(n, stats);
  }
  return y;
}
