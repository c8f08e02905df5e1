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
    for (size_t n = 0; n < N; n++) {                                            \
      /* one pointer per gate row, so that the loop vectorises */               \
      const T *restrict ai = xw + n * 4 * H, *restrict af = ai + H, *restrict ag = af + H;     \
      const T *restrict ao = ag + H, *restrict bi = hh + n * 4 * H, *restrict bf = bi + H;     \
      const T *restrict bg = bf + H, *restrict bo = bg + H, *restrict cn = c + n * H;         \
      const T *restrict cy = y + (N + n) * H, *restrict gh = g + n * H, *restrict gc = g + (N + n) * H; \
      T *restrict di = da + n * 4 * H, *restrict df = di + H, *restrict dg = df + H;          \
      T *restrict d_o = dg + H, *restrict dcn = dc + n * H;                     \
      for (size_t j = 0; j < H; j++) {                                          \
        T i = ops_sigmoid((T)(ai[j] + bi[j])), f = ops_sigmoid((T)(af[j] + bf[j]));           \
        T gg = ops_tanh((T)(ag[j] + bg[j])), o = ops_sigmoid((T)(ao[j] + bo[j]));             \
        T tc = ops_tanh(cy[j]);                                                 \
        T dc2 = gc[j] + gh[j] * o * (1 - tc * tc);                              \
        di[j] = dc2 * gg * i * (1 - i);                                         \
        df[j] = dc2 * cn[j] * f * (1 - f);                                      \
        dg[j] = dc2 * i * (1 - gg * gg);                                        \
        d_o[j] = gh[j] * tc * o * (1 - o);                                      \
        dcn[j] = dc2 * f;                                                       \
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
  tg_tensor *dc = tg_tensor_alloc(c->dtype, TG_SHAPE(N, H));
  if (!gc || !da || !dc) return;
  if (c->dtype == TG_FLOAT32)
    lstm_backward_float((const float *)tg_ptr(xw), (const float *)tg_ptr(hh), (const float *)tg_ptr(c),
                        (const float *)tg_ptr(n->out), (const float *)tg_ptr(gc), (float *)tg_ptr(da),
                        (float *)tg_ptr(dc), N, H);
  else
    lstm_backward_double((const double *)tg_ptr(xw), (const double *)tg_ptr(hh), (const double *)tg_ptr(c),
                         (const double *)tg_ptr(n->out), (const double *)tg_ptr(gc), (double *)tg_ptr(da),
                         (double *)tg_ptr(dc), N, H);
  if (need_a && tg_node_needs_grad(n, 0)) gi[0] = da;
  if (need_a && tg_node_needs_grad(n, 1)) gi[1] = da;
  if (need_c) gi[2] = dc;
}
/* a zero tangent stands for NULL (an input without one) */
static tg_tensor *tangent_or_zero(tg_tensor *t, tg_tensor *like) { return t ? t : tg_zeros_like(like); }

/* with a = xw + hh: dc' = f' c + f dc + i' g + i g', dh' = o' tanh(c') +
 * o (1 - tanh(c')^2) dc', each gate's tangent its derivative times da */
static tg_tensor *lstm_gates_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *c = n->in[2];
  size_t H = c->shape[1];
  tg_tensor *a = tg_add(n->in[0], n->in[1]);
  tg_tensor *ta = tg_add(tangent_or_zero(t[0], n->in[0]), tangent_or_zero(t[1], n->in[1]));
  tg_tensor *tc = tangent_or_zero(t[2], c);
  tg_tensor *i = tg_sigmoid(gate(a, 0, H)), *f = tg_sigmoid(gate(a, 1, H));
  tg_tensor *gg = tg_tanh(gate(a, 2, H)), *o = tg_sigmoid(gate(a, 3, H));
  tg_tensor *th = tg_tanh(tg_add(tg_mul(f, c), tg_mul(i, gg)));
  tg_tensor *di = tg_mul(dsig(i), gate(ta, 0, H)), *df = tg_mul(dsig(f), gate(ta, 1, H));
  tg_tensor *dg = tg_mul(tg_rsub_scalar(tg_mul(gg, gg), 1.0), gate(ta, 2, H));
  tg_tensor *d_o = tg_mul(dsig(o), gate(ta, 3, H));
  tg_tensor *dc2 = tg_add(tg_add(tg_mul(df, c), tg_mul(f, tc)), tg_add(tg_mul(di, gg), tg_mul(i, dg)));
  tg_tensor *dh2 = tg_add(tg_mul(d_o, th), tg_mul(tg_mul(o, tg_rsub_scalar(tg_mul(th, th), 1.0)), dc2));
  return tg_stack(2, (tg_tensor *[]){dh2, dc2}, 0);
}
/* reads xw and hh (version-checked), c and its own output */
TG_DEFINE_OP_JVP(OP_LSTM_GATES, "LstmGatesBackward", lstm_gates_backward, lstm_gates_jvp,
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
      /* one pointer per gate row, so that the loop vectorises */               \
      const T *restrict ar = xw + n * 3 * H, *restrict az = ar + H, *restrict an = az + H;     \
      const T *restrict br = hh + n * 3 * H, *restrict bz = br + H, *restrict bn = bz + H;     \
      const T *restrict hn = h + n * H, *restrict gn = g + n * H;               \
      T *restrict pr = dx + n * 3 * H, *restrict pz = pr + H, *restrict pn = pz + H;          \
      T *restrict qr = dhh + n * 3 * H, *restrict qz = qr + H, *restrict qn = qz + H;         \
      T *restrict dhn = dh + n * H;                                             \
      for (size_t j = 0; j < H; j++) {                                          \
        T r = ops_sigmoid((T)(ar[j] + br[j])), z = ops_sigmoid((T)(az[j] + bz[j]));           \
        T nn = ops_tanh((T)(an[j] + r * bn[j]));                                \
        T dn = gn[j] * (1 - z) * (1 - nn * nn), dz = gn[j] * (hn[j] - nn) * z * (1 - z);      \
        T dr = dn * bn[j] * r * (1 - r);                                        \
        pr[j] = dr;                                                             \
        qr[j] = dr;                                                             \
        pz[j] = dz;                                                             \
        qz[j] = dz;                                                             \
        pn[j] = dn;                                                             \
        qn[j] = dn * r;                                                         \
        dhn[j] = gn[j] * z;                                                     \
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
  tg_tensor *dh = tg_tensor_alloc(h->dtype, TG_SHAPE(N, H));
  if (!gc || !dx || !dhh || !dh) return;
  if (h->dtype == TG_FLOAT32)
    gru_backward_float((const float *)tg_ptr(xw), (const float *)tg_ptr(hh), (const float *)tg_ptr(h),
                       (const float *)tg_ptr(gc), (float *)tg_ptr(dx), (float *)tg_ptr(dhh),
                       (float *)tg_ptr(dh), N, H);
  else
    gru_backward_double((const double *)tg_ptr(xw), (const double *)tg_ptr(hh), (const double *)tg_ptr(h),
                        (const double *)tg_ptr(gc), (double *)tg_ptr(dx), (double *)tg_ptr(dhh),
                        (double *)tg_ptr(dh), N, H);
  if (tg_node_needs_grad(n, 0)) gi[0] = dx;
  if (tg_node_needs_grad(n, 1)) gi[1] = dhh;
  if (tg_node_needs_grad(n, 2)) gi[2] = dh;
}
/* dr = r (1-r) (txw_r + thh_r), dz likewise, dn = (1 - n^2) (txw_n + dr
 * hh_n + r thh_n); y' = dn + dz (h - n) + z (th - dn) */
static tg_tensor *gru_gates_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *xw = n->in[0], *hh = n->in[1], *h = n->in[2];
  size_t H = h->shape[1];
  tg_tensor *tx = tangent_or_zero(t[0], xw), *thh = tangent_or_zero(t[1], hh), *th = tangent_or_zero(t[2], h);
  tg_tensor *r = tg_sigmoid(tg_add(gate(xw, 0, H), gate(hh, 0, H)));
  tg_tensor *z = tg_sigmoid(tg_add(gate(xw, 1, H), gate(hh, 1, H)));
  tg_tensor *hn = gate(hh, 2, H), *nn = tg_tanh(tg_add(gate(xw, 2, H), tg_mul(r, hn)));
  tg_tensor *dr = tg_mul(dsig(r), tg_add(gate(tx, 0, H), gate(thh, 0, H)));
  tg_tensor *dz = tg_mul(dsig(z), tg_add(gate(tx, 1, H), gate(thh, 1, H)));
  tg_tensor *pre = tg_add(gate(tx, 2, H), tg_add(tg_mul(dr, hn), tg_mul(r, gate(thh, 2, H))));
  tg_tensor *dn = tg_mul(tg_rsub_scalar(tg_mul(nn, nn), 1.0), pre);
  return tg_add(tg_add(dn, tg_mul(dz, tg_sub(h, nn))), tg_mul(z, tg_sub(th, dn)));
}
/* reads xw and hh (version-checked) and h */
TG_DEFINE_OP_JVP(OP_GRU_GATES, "GruGatesBackward", gru_gates_backward, gru_gates_jvp,
                 TG_SAVES_IN(0) | TG_SAVES_IN(1));

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

/* ------------------------------------------------------------ time steps */

tg_tensor *nn_step_grad_buffer(tg_tensor *a) {
  if (!a || !a->grad_fn || !tg_grad_enabled()) return NULL;
  size_t T = a->shape[0];
  tg_tensor *acc = tg_tensor_alloc(a->dtype, TG_SHAPE(a->numel + T));
  /* the flags: which steps wrote their gradient in this backward pass */
  if (acc) memset(tg_ptr(acc) + a->numel * tg_elem_bytes(a->dtype), 0, T * tg_elem_bytes(a->dtype));
  return acc;
}

/* the gradient of a (T, ...) from g at step t: zeros elsewhere, recorded
 * (create_graph) by a constant pad along dim 0 */
static tg_tensor *step_scatter(tg_tensor *g, size_t t, const tg_tensor *a) {
  long pad[2 * TG_MAX_DIMS] = {0};
  int nd = a->ndim;
  pad[2 * (nd - 1)] = (long)t;
  pad[2 * (nd - 1) + 1] = (long)(a->shape[0] - 1 - t);
  return tg_pad(tg_unsqueeze(g, 0), 2 * nd, pad, TG_PAD_CONSTANT, 0.0);
}

static void step_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *a = n->in[0], *acc = tg_node_saved(n);
  size_t t = (size_t)tg_node_i(n)[0], T = a->shape[0], step = T ? a->numel / T : 0;
  if (!acc || !ops_fused_backward()) {
    gi[0] = step_scatter(g, t, a);
    return;
  }
  tg_tensor *gc = contiguous_nograd(g);
  if (!gc) return;
  size_t es = tg_elem_bytes(a->dtype);
  char *base = tg_ptr(acc), *flags = base + a->numel * es;
  /* a plain write: acc's version stays that of the forward */
  memcpy(base + t * step * es, tg_ptr(gc), step * es);
  memset(flags + t * es, 0xff, es);
  if (!tg_node_i(n)[1]) return; /* not the last step processed: no gradient yet */
  for (size_t s = 0; s < T; s++) {
    bool wrote = flags[s * es] != 0;
    if (!wrote) memset(base + s * step * es, 0, step * es);
    memset(flags + s * es, 0, es);
  }
  ptrdiff_t strides[TG_MAX_DIMS];
  tg_contiguous_strides(a->ndim, a->shape, strides);
  gi[0] = tg_tensor_view(acc, a->ndim, a->shape, strides, acc->offset);
}
/* a view of step t: the tangent's step t */
static tg_tensor *step_jvp(tg_node *n, tg_tensor *const *t) { return tg_select(t[0], 0, tg_node_i(n)[0]); }
TG_DEFINE_OP_JVP(OP_STEP, "StepBackward", step_backward, step_jvp, TG_NODE_I | TG_NODE_SAVED);

tg_tensor *nn_step(tg_tensor *a, size_t t, tg_tensor *acc, bool first) {
  if (!a) return NULL;
  ptrdiff_t off = (ptrdiff_t)a->offset + (ptrdiff_t)t * a->strides[0];
  tg_tensor *v = tg_tensor_view(a, a->ndim - 1, a->shape + 1, a->strides + 1, (size_t)off);
  tg_node *n = v ? ops_record(v, &OP_STEP, 1, &a) : NULL;
  if (n) {
    tg_node_i(n)[0] = (int64_t)t;
    tg_node_i(n)[1] = first;
    tg_node_save(n, acc);
  }
  return v;
}

/* ------------------------------------------------------ hidden projection */

/* acc: T steps of g (N, G H), then T steps of h (N, H), then T flags */
tg_tensor *nn_hh_grad_buffer(size_t T, size_t N, size_t H, tg_tensor *w, tg_tensor *b) {
  if (!tg_grad_enabled() || !(w->requires_grad || (b && b->requires_grad))) return NULL;
  size_t GH = w->shape[0], n = T * N * (GH + H) + T;
  tg_tensor *acc = tg_tensor_alloc(w->dtype, TG_SHAPE(n));
  if (acc) memset(tg_ptr(acc) + (n - T) * tg_elem_bytes(w->dtype), 0, T * tg_elem_bytes(w->dtype));
  return acc;
}

/* rows x cols view of acc at element off */
static tg_tensor *acc_view(tg_tensor *acc, size_t off, size_t rows, size_t cols) {
  return tg_tensor_view(acc, 2, (size_t[]){rows, cols}, (ptrdiff_t[]){(ptrdiff_t)cols, 1}, acc->offset + off);
}

/* dW = G^T Hs and db = column sums of G over every step, into the
 * parameters' .grad when the engine allows (beta 1) */
static void hh_weight_grads(tg_node *n, tg_tensor *acc, size_t T, size_t N, size_t GH, size_t H,
                            tg_tensor **gi) {
  size_t es = tg_elem_bytes(acc->dtype), rows = T * N;
  char *base = tg_ptr(acc), *flags = base + rows * (GH + H) * es;
  for (size_t s = 0; s < T; s++) {
    if (!flags[s * es]) { /* a step without gradient adds nothing */
      memset(base + s * N * GH * es, 0, N * GH * es);
      memset(base + (rows * GH + s * N * H) * es, 0, N * H * es);
    }
    memset(flags + s * es, 0, es);
  }
  tg_tensor *G = acc_view(acc, 0, rows, GH), *Hs = acc_view(acc, rows * GH, rows, H);
  if (!G || !Hs) return;
  if (tg_node_needs_grad(n, 1)) {
    tg_tensor *sink = tg_node_grad_sink(n, 1);
    tg_tensor *dw = sink ? sink : (gi[1] = tg_tensor_alloc(acc->dtype, TG_SHAPE(GH, H)));
    if (dw) ops_gemm(true, false, GH, H, rows, G, GH, Hs, H, sink ? 1.0 : 0.0, dw);
  }
  if (n->n_in > 2 && tg_node_needs_grad(n, 2)) {
    tg_tensor *sink = tg_node_grad_sink(n, 2);
    tg_tensor *db = sink ? sink : (gi[2] = tg_zeros(acc->dtype, TG_SHAPE(GH)));
    if (!db) return;
    if (acc->dtype == TG_FLOAT32) {
      float *restrict d = (float *)tg_ptr(db);
      const float *restrict r = (const float *)tg_ptr(G);
      for (size_t i = 0; i < rows; i++, r += GH)
        for (size_t j = 0; j < GH; j++) d[j] += r[j];
    } else {
      double *restrict d = (double *)tg_ptr(db);
      const double *restrict r = (const double *)tg_ptr(G);
      for (size_t i = 0; i < rows; i++, r += GH)
        for (size_t j = 0; j < GH; j++) d[j] += r[j];
    }
  }
}

static void hh_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *h = n->in[0], *w = n->in[1], *acc = tg_node_saved(n);
  if (!acc || !ops_fused_backward()) {
    /* as Linear's: differentiable under create_graph */
    if (tg_node_needs_grad(n, 0)) gi[0] = tg_matmul(g, w);
    if (tg_node_needs_grad(n, 1)) gi[1] = tg_matmul(tg_t(g), h);
    if (n->n_in > 2 && tg_node_needs_grad(n, 2)) gi[2] = tg_sum_dims(g, 1, (int[]){0}, false);
    return;
  }
  size_t N = h->shape[0], H = h->shape[1], GH = w->shape[0], t = (size_t)tg_node_i(n)[0];
  size_t T = (size_t)tg_node_i(n)[2], es = tg_elem_bytes(h->dtype);
  tg_tensor *gc = contiguous_nograd(g);
  if (!gc) return;
  if (tg_node_needs_grad(n, 0) && (gi[0] = tg_tensor_alloc(h->dtype, TG_SHAPE(N, H))))
    ops_gemm(false, false, N, H, GH, gc, GH, w, H, 0.0, gi[0]);
  char *base = tg_ptr(acc);
  memcpy(base + t * N * GH * es, tg_ptr(gc), N * GH * es);
  memcpy(base + (T * N * GH + t * N * H) * es, tg_ptr(h), N * H * es);
  memset(base + (T * N * (GH + H) + t) * es, 0xff, es);
  if (tg_node_i(n)[1]) hh_weight_grads(n, acc, T, N, GH, H, gi);
}
/* y = h W^T + b: th W^T + h tW^T + tb */
static tg_tensor *hh_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *h = n->in[0], *w = n->in[1], *acc = NULL;
  if (t[0]) acc = tg_matmul(t[0], tg_t(w));
  if (t[1]) {
    tg_tensor *term = tg_matmul(h, tg_t(t[1]));
    acc = acc ? tg_add(acc, term) : term;
  }
  if (n->n_in > 2 && t[2]) acc = acc ? tg_add(acc, t[2]) : t[2];
  return acc;
}
/* reads h and W (version-checked) */
TG_DEFINE_OP_JVP(OP_HH, "HiddenProjectionBackward", hh_backward, hh_jvp,
             TG_SAVES_IN(0) | TG_SAVES_IN(1) | TG_NODE_I | TG_NODE_SAVED);

tg_tensor *nn_hh(tg_tensor *h, tg_tensor *w, tg_tensor *b, size_t t, tg_tensor *acc, bool first) {
  if (!h || !w) return NULL;
  size_t N = h->shape[0], H = h->shape[1], GH = w->shape[0];
  tg_tensor *y = tg_tensor_alloc(h->dtype, TG_SHAPE(N, GH));
  if (!y) return NULL;
  size_t row = GH * tg_elem_bytes(y->dtype);
  for (size_t i = 0; b && i < N; i++) memcpy(tg_ptr(y) + i * row, tg_ptr(b), row);
  ops_gemm(false, true, N, GH, H, h, H, w, H, b ? 1.0 : 0.0, y);
  tg_node *n = ops_record(y, &OP_HH, b ? 3 : 2, (tg_tensor *[]){h, w, b});
  if (n) {
    tg_node_i(n)[0] = (int64_t)t;
    tg_node_i(n)[1] = first;
    tg_node_i(n)[2] = acc ? (int64_t)(acc->numel / (h->shape[0] * (GH + H) + 1)) : 0;
    tg_node_save(n, acc);
  }
  return y;
}

/* ----------------------------------------------------- padded time steps */

/* dst row n = (valid[n] == want) ? src row n : 0 */
static void copy_rows(char *dst, const char *src, const bool *valid, bool want, size_t N, size_t row) {
  for (size_t n = 0; n < N; n++)
    if (valid[n] == want) memcpy(dst + n * row, src + n * row, row);
    else memset(dst + n * row, 0, row);
}

static void masked_rows_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *a = n->in[0], *mask = tg_node_saved(n);
  size_t t = (size_t)tg_node_i(n)[0], N = a->shape[0], row = a->numel / (N ? N : 1) * tg_elem_bytes(a->dtype);
  if (!ops_fused_backward()) {
    tg_tensor *m = tg_select(mask, 0, (long)t), *zero = tg_zeros(g->dtype, TG_SHAPE(1));
    if (tg_node_needs_grad(n, 0)) gi[0] = tg_where(m, g, zero);
    if (n->n_in > 1 && tg_node_needs_grad(n, 1)) gi[1] = tg_where(m, zero, g);
    return;
  }
  tg_tensor *gc = contiguous_nograd(g);
  if (!gc) return;
  const bool *valid = (const bool *)tg_ptr(mask) + t * N;
  for (int k = 0; k < n->n_in; k++)
    if (tg_node_needs_grad(n, k) && (gi[k] = tg_tensor_alloc(a->dtype, a->ndim, a->shape)))
      copy_rows(tg_ptr(gi[k]), tg_ptr(gc), valid, k == 0, N, row);
}
/* rows of a where step t is valid, of b (or 0) elsewhere: the tangents' rows */
static tg_tensor *masked_rows_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *a = n->in[0], *m = tg_select(tg_node_saved(n), 0, tg_node_i(n)[0]);
  tg_tensor *zero = tg_zeros(a->dtype, TG_SHAPE(1));
  tg_tensor *tb = n->n_in > 1 && t[1] ? t[1] : zero;
  return tg_where(m, t[0] ? t[0] : zero, tb);
}
TG_DEFINE_OP_JVP(OP_MASKED_ROWS, "MaskedRowsBackward", masked_rows_backward, masked_rows_jvp,
                 TG_NODE_I | TG_NODE_SAVED);

tg_tensor *nn_masked_rows(tg_tensor *mask, size_t t, tg_tensor *a, tg_tensor *b) {
  if (!mask || !a) return NULL;
  size_t N = a->shape[0], row = a->numel / (N ? N : 1) * tg_elem_bytes(a->dtype);
  tg_tensor *y = tg_tensor_alloc(a->dtype, a->ndim, a->shape);
  if (!y) return NULL;
  const bool *valid = (const bool *)tg_ptr(mask) + t * N;
  copy_rows(tg_ptr(y), tg_ptr(a), valid, true, N, row);
  if (b)
    for (size_t n = 0; n < N; n++)
      if (!valid[n]) memcpy(tg_ptr(y) + n * row, tg_ptr(b) + n * row, row);
  tg_node *n = ops_record(y, &OP_MASKED_ROWS, b ? 2 : 1, (tg_tensor *[]){a, b});
  if (n) {
    tg_node_i(n)[0] = (int64_t)t;
    tg_node_save(n, mask);
  }
  return y;
}
