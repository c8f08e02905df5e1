/* The pointwise part of one LSTM or GRU step as one node: a recurrent
 * layer records a handful of nodes per time step instead of about fifteen
 * (narrows, sigmoids, tanhs, products). The forward and the fused backward
 * are typed loops; under create_graph the backward is the same formula in
 * tg_ ops, recomputed from the node's inputs, so double backward works. */
#include <string.h>

#include "rnn_internal.h"

/* ------------------------------------------------------------------ LSTM */

/* xw, hh (N, 4H) gates i, f, g, o; c (N, H); y (2, N, H) = [h', c'] */
#define LSTM_FORWARD(T)                                                         \
  static void lstm_forward_##T(const T *restrict xw, const T *restrict hh, const T *restrict c,   \
                               T *restrict y, size_t N, size_t H) {             \
    T *restrict hy = y, *restrict cy = y + N * H;                               \
    for (size_t n = 0; n < N; n++) {                                            \
      const T *a = xw + n * 4 * H, *b = hh + n * 4 * H;                         \
      for (size_t j = 0; j < H; j++) {                                          \
        T i = ops_sigmoid((T)(a[j] + b[j])), f = ops_sigmoid((T)(a[H + j] + b[H + j]));       \
        T g = ops_tanh((T)(a[2 * H + j] + b[2 * H + j]));                       \
        T o = ops_sigmoid((T)(a[3 * H + j] + b[3 * H + j]));                    \
        T c2 = f * c[n * H + j] + i * g;                                        \
        cy[n * H + j] = c2;                                                     \
        hy[n * H + j] = o * ops_tanh(c2);                                       \
      }                                                                         \
    }                                                                           \
  }
LSTM_FORWARD(float)
LSTM_FORWARD(double)

/* g (2, N, H) = [dh', dc']: dc'' = dc' + dh' o (1 - tanh(c')^2), then
 * di = dc'' g i (1-i), df = dc'' c f (1-f), dg = dc'' i (1-g^2),
 * do = dh' tanh(c') o (1-o) into da (N, 4H); dc = dc'' f */
#define LSTM_BACKWARD(T)                                                        \
  static void lstm_backward_##T(const T *restrict xw, const T *restrict hh, const T *restrict c,  \
                                const T *restrict y, const T *restrict g, T *restrict da,         \
                                T *restrict dc, size_t N, size_t H) {           \
    const T *cy = y + N * H, *gh = g, *gc = g + N * H;                          \
    for (size_t n = 0; n < N; n++) {                                            \
      const T *a = xw + n * 4 * H, *b = hh + n * 4 * H;                         \
      T *d = da + n * 4 * H;                                                    \
      for (size_t j = 0; j < H; j++) {                                          \
        size_t k = n * H + j;                                                   \
        T i = ops_sigmoid((T)(a[j] + b[j])), f = ops_sigmoid((T)(a[H + j] + b[H + j]));       \
        T gg = ops_tanh((T)(a[2 * H + j] + b[2 * H + j]));                      \
        T o = ops_sigmoid((T)(a[3 * H + j] + b[3 * H + j]));                    \
        T tc = ops_tanh(cy[k]);                                                 \
        T dc2 = gc[k] + gh[k] * o * (1 - tc * tc);                              \
        d[j] = dc2 * gg * i * (1 - i);                                          \
        d[H + j] = dc2 * c[k] * f * (1 - f);                                    \
        d[2 * H + j] = dc2 * i * (1 - gg * gg);                                 \
        d[3 * H + j] = gh[k] * tc * o * (1 - o);                                \
        if (dc) dc[k] = dc2 * f;                                                \
      }                                                                         \
    }                                                                           \
  }
LSTM_BACKWARD(float)
LSTM_BACKWARD(double)

static tg_tensor *contiguous_nograd(tg_tensor *t) {
  if (!t || tg_is_contiguous(t)) return t;
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *c = tg_contiguous(t);
  tg_set_grad_enabled(prev);
  return c;
}

static tg_tensor *gate(tg_tensor *a, size_t k, size_t H) { return tg_narrow(a, 1, (long)(k * H), H); }

/* s (1 - s), the derivative of a sigmoid from its value */
static tg_tensor *dsig(tg_tensor *s) { return tg_mul(s, tg_rsub_scalar(s, 1.0)); }

/* the backward in tg_ ops (create_graph): the forward recomputed from the inputs */
static void lstm_gates_backward_ops(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *c = n->in[2];
  size_t H = c->shape[1];
  tg_tensor *a = tg_add(n->in[0], n->in[1]);
  tg_tensor *i = tg_sigmoid(gate(a, 0, H)), *f = tg_sigmoid(gate(a, 1, H));
  tg_tensor *gg = tg_tanh(gate(a, 2, H)), *o = tg_sigmoid(gate(a, 3, H));
  tg_tensor *tc = tg_tanh(tg_add(tg_mul(f, c), tg_mul(i, gg)));
  tg_tensor *gh = tg_select(g, 0, 0), *gc = tg_select(g, 0, 1);
  tg_tensor *dc2 = tg_add(gc, tg_mul(tg_mul(gh, o), tg_rsub_scalar(tg_mul(tc, tc), 1.0)));
  tg_tensor *parts[4] = {tg_mul(tg_mul(dc2, gg), dsig(i)), tg_mul(tg_mul(dc2, c), dsig(f)),
                         tg_mul(tg_mul(dc2, i), tg_rsub_scalar(tg_mul(gg, gg), 1.0)),
                         tg_mul(tg_mul(gh, tc), dsig(o))};
  tg_tensor *da = tg_node_needs_grad(n, 0) || tg_node_needs_grad(n, 1) ? tg_cat(4, parts, 1) : NULL;
  /* one tensor for both: the engine never writes a gradient it borrowed */
  if (tg_node_needs_grad(n, 0)) gi[0] = da;
  if (tg_node_needs_grad(n, 1)) gi[1] = da;
  if (tg_node_needs_grad(n, 2)) gi[2] = tg_mul(dc2, f);
}

static void lstm_gates_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (!ops_fused_backward()) {
    lstm_gates_backward_ops(n, g, gi);
    return;
  }
  tg_tensor *xw = n->in[0], *hh = n->in[1], *c = n->in[2], *gc = contiguous_nograd(g);
  size_t N = c->shape[0], H = c->shape[1];
  bool need_a = tg_node_needs_grad(n, 0) || tg_node_needs_grad(n, 1), need_c = tg_node_needs_grad(n, 2);
  tg_tensor *da = tg_tensor_alloc(c->dtype, TG_SHAPE(N, 4 * H));
  tg_tensor *dc = need_c ? tg_tensor_alloc(c->dtype, TG_SHAPE(N, H)) : NULL;
  if (!gc || !da || (need_c && !dc)) return;
  if (c->dtype == TG_FLOAT32)
    lstm_backward_float((const float *)tg_ptr(xw), (const float *)tg_ptr(hh), (const float *)tg_ptr(c),
                        (const float *)tg_ptr(n->out), (const float *)tg_ptr(gc), (float *)tg_ptr(da),
                        dc ? (float *)tg_ptr(dc) : NULL, N, H);
  else
    lstm_backward_double((const double *)tg_ptr(xw), (const double *)tg_ptr(hh), (const double *)tg_ptr(c),
                         (const double *)tg_ptr(n->out), (const double *)tg_ptr(gc), (double *)tg_ptr(da),
                         dc ? (double *)tg_ptr(dc) : NULL, N, H);
  if (need_a && tg_node_needs_grad(n, 0)) gi[0] = da;
  if (need_a && tg_node_needs_grad(n, 1)) gi[1] = da;
  gi[2] = dc;
}
/* reads xw and hh (version-checked), c and its own output */
TG_DEFINE_OP(OP_LSTM_GATES, "LstmGatesBackward", lstm_gates_backward,
             TG_SAVES_IN(0) | TG_SAVES_IN(1) | TG_SAVES_OUT);

tg_tensor *nn_lstm_gates(tg_tensor *xw, tg_tensor *hh, tg_tensor *c) {
  if (!xw || !hh || !c) return NULL;
  size_t N = c->shape[0], H = c->shape[1];
  tg_tensor *y = tg_tensor_alloc(c->dtype, TG_SHAPE(2, N, H));
  if (!y) return NULL;
  if (c->dtype == TG_FLOAT32)
    lstm_forward_float((const float *)tg_ptr(xw), (const float *)tg_ptr(hh), (const float *)tg_ptr(c),
                       (float *)tg_ptr(y), N, H);
  else
    lstm_forward_double((const double *)tg_ptr(xw), (const double *)tg_ptr(hh), (const double *)tg_ptr(c),
                        (double *)tg_ptr(y), N, H);
  ops_record(y, &OP_LSTM_GATES, 3, (tg_tensor *[]){xw, hh, c});
  return y;
}

/* ------------------------------------------------------------------- GRU */

/* xw, hh (N, 3H) gates r, z, n; h (N, H); y (N, H) = n + z (h - n) */
#define GRU_FORWARD(T)                                                          \
  static void gru_forward_##T(const T *restrict xw, const T *restrict hh, const T *restrict h,    \
                              T *restrict y, size_t N, size_t H) {              \
    for (size_t n = 0; n < N; n++) {                                            \
      const T *a = xw + n * 3 * H, *b = hh + n * 3 * H;                         \
      for (size_t j = 0; j < H; j++) {                                          \
        T r = ops_sigmoid((T)(a[j] + b[j])), z = ops_sigmoid((T)(a[H + j] + b[H + j]));       \
        T nn = ops_tanh((T)(a[2 * H + j] + r * b[2 * H + j]));                  \
        y[n * H + j] = nn + z * (h[n * H + j] - nn);                            \
      }                                                                         \
    }                                                                           \
  }
GRU_FORWARD(float)
GRU_FORWARD(double)

/* dn' = g (1-z) (1-n^2); dz' = g (h-n) z (1-z); dr' = dn' hh_n r (1-r);
 * dxw = [dr', dz', dn'], dhh = [dr', dz', dn' r], dh = g z */
#define GRU_BACKWARD(T)                                                         \
  static void gru_backward_##T(const T *restrict xw, const T *restrict hh, const T *restrict h,   \
                               const T *restrict g, T *restrict dx, T *restrict dhh, T *restrict dh, \
                               size_t N, size_t H) {                            \
    for (size_t n = 0; n < N; n++) {                                            \
      const T *a = xw + n * 3 * H, *b = hh + n * 3 * H;                         \
      T *p = dx + n * 3 * H, *q = dhh + n * 3 * H;                              \
      for (size_t j = 0; j < H; j++) {                                          \
        size_t k = n * H + j;                                                   \
        T r = ops_sigmoid((T)(a[j] + b[j])), z = ops_sigmoid((T)(a[H + j] + b[H + j]));       \
        T nn = ops_tanh((T)(a[2 * H + j] + r * b[2 * H + j]));                  \
        T dn = g[k] * (1 - z) * (1 - nn * nn), dz = g[k] * (h[k] - nn) * z * (1 - z);         \
        T dr = dn * b[2 * H + j] * r * (1 - r);                                 \
        p[j] = q[j] = dr;                                                       \
        p[H + j] = q[H + j] = dz;                                               \
        p[2 * H + j] = dn;                                                      \
        q[2 * H + j] = dn * r;                                                  \
        if (dh) dh[k] = g[k] * z;                                               \
      }                                                                         \
    }                                                                           \
  }
GRU_BACKWARD(float)
GRU_BACKWARD(double)

static void gru_gates_backward_ops(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *xw = n->in[0], *hh = n->in[1], *h = n->in[2];
  size_t H = h->shape[1];
  tg_tensor *r = tg_sigmoid(tg_add(gate(xw, 0, H), gate(hh, 0, H)));
  tg_tensor *z = tg_sigmoid(tg_add(gate(xw, 1, H), gate(hh, 1, H)));
  tg_tensor *hn = gate(hh, 2, H), *nn = tg_tanh(tg_add(gate(xw, 2, H), tg_mul(r, hn)));
  tg_tensor *dn = tg_mul(tg_mul(g, tg_rsub_scalar(z, 1.0)), tg_rsub_scalar(tg_mul(nn, nn), 1.0));
  tg_tensor *dz = tg_mul(tg_mul(g, tg_sub(h, nn)), dsig(z));
  tg_tensor *dr = tg_mul(tg_mul(dn, hn), dsig(r));
  if (tg_node_needs_grad(n, 0)) gi[0] = tg_cat(3, (tg_tensor *[]){dr, dz, dn}, 1);
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_cat(3, (tg_tensor *[]){dr, dz, tg_mul(dn, r)}, 1);
  if (tg_node_needs_grad(n, 2)) gi[2] = tg_mul(g, z);
}

static void gru_gates_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (!ops_fused_backward()) {
    gru_gates_backward_ops(n, g, gi);
    return;
  }
  tg_tensor *xw = n->in[0], *hh = n->in[1], *h = n->in[2], *gc = contiguous_nograd(g);
  size_t N = h->shape[0], H = h->shape[1];
  tg_tensor *dx = tg_tensor_alloc(h->dtype, TG_SHAPE(N, 3 * H));
  tg_tensor *dhh = tg_tensor_alloc(h->dtype, TG_SHAPE(N, 3 * H));
  tg_tensor *dh = tg_node_needs_grad(n, 2) ? tg_tensor_alloc(h->dtype, TG_SHAPE(N, H)) : NULL;
  if (!gc || !dx || !dhh || (tg_node_needs_grad(n, 2) && !dh)) return;
  if (h->dtype == TG_FLOAT32)
    gru_backward_float((const float *)tg_ptr(xw), (const float *)tg_ptr(hh), (const float *)tg_ptr(h),
                       (const float *)tg_ptr(gc), (float *)tg_ptr(dx), (float *)tg_ptr(dhh),
                       dh ? (float *)tg_ptr(dh) : NULL, N, H);
  else
    gru_backward_double((const double *)tg_ptr(xw), (const double *)tg_ptr(hh), (const double *)tg_ptr(h),
                        (const double *)tg_ptr(gc), (double *)tg_ptr(dx), (double *)tg_ptr(dhh),
                        dh ? (double *)tg_ptr(dh) : NULL, N, H);
  if (tg_node_needs_grad(n, 0)) gi[0] = dx;
  if (tg_node_needs_grad(n, 1)) gi[1] = dhh;
  gi[2] = dh;
}
/* reads xw and hh (version-checked) and h */
TG_DEFINE_OP(OP_GRU_GATES, "GruGatesBackward", gru_gates_backward, TG_SAVES_IN(0) | TG_SAVES_IN(1));

tg_tensor *nn_gru_gates(tg_tensor *xw, tg_tensor *hh, tg_tensor *h) {
  if (!xw || !hh || !h) return NULL;
  size_t N = h->shape[0], H = h->shape[1];
  tg_tensor *y = tg_tensor_alloc(h->dtype, TG_SHAPE(N, H));
  if (!y) return NULL;
  if (h->dtype == TG_FLOAT32)
    gru_forward_float((const float *)tg_ptr(xw), (const float *)tg_ptr(hh), (const float *)tg_ptr(h),
                      (float *)tg_ptr(y), N, H);
  else
    gru_forward_double((const double *)tg_ptr(xw), (const double *)tg_ptr(hh), (const double *)tg_ptr(h),
                       (double *)tg_ptr(y), N, H);
  ops_record(y, &OP_GRU_GATES, 3, (tg_tensor *[]){xw, hh, h});
  return y;
}
