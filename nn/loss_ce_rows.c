/* The gradient of cross-entropy over (N, C) logits with class-index
 * targets, as one pass per row: dL/dx = (softmax(x) - onehot(t)) * s_i with
 * s_i = g_i (NONE), g / N (MEAN) or g (SUM). nn/loss.c's backward takes this
 * path when nothing records; its form in tg_* ops (softmax, a one-hot, a
 * subtraction, a scaled product: four passes over (N, C) and libm's scalar
 * expf) stays for create_graph. At the small GPT's lm_head (B*T rows of
 * 65) those passes were several per cent of a training step. float32's
 * exponential is ops/vmath.h's, which a loop vectorises. */
#include <math.h>

#include "nn_internal.h"

/* rows of x (N, C) contiguous -> d; scale[i] per row */
#define CE_GRAD(NAME, TY, EXP)                                                                      \
  static void NAME(const TY *restrict x, const int64_t *restrict t, ptrdiff_t ts, TY *restrict d,  \
                   const TY *restrict scale, ptrdiff_t ss, size_t N, size_t C) {                    \
    for (size_t i = 0; i < N; i++) {                                                                \
      const TY *xr = x + i * C;                                                                     \
      TY *dr = d + i * C, m = -INFINITY, sum = 0;                                                   \
      for (size_t j = 0; j < C; j++) m = xr[j] > m ? xr[j] : m;                                     \
      for (size_t j = 0; j < C; j++) dr[j] = EXP(xr[j] - m);                                        \
      for (size_t j = 0; j < C; j++) sum += dr[j];                                                  \
      TY s = scale[(ptrdiff_t)i * ss], f = s / sum;                                                 \
      for (size_t j = 0; j < C; j++) dr[j] *= f;                                                    \
      dr[t[(ptrdiff_t)i * ts]] -= s;                                                                \
    }                                                                                               \
  }
CE_GRAD(ce_grad_f32, float, tg_vexpf)
CE_GRAD(ce_grad_f64, double, exp)

tg_tensor *nn_ce_grad_rows(tg_tensor *x, const tg_tensor *t, tg_tensor *g, tg_reduction r) {
  size_t N = x->shape[0], C = x->shape[1];
  tg_tensor *xc = tg_contiguous(x), *gc = tg_contiguous(g);
  tg_tensor *d = xc && gc ? tg_empty(x->dtype, TG_SHAPE(N, C)) : NULL;
  tg_tensor *sc = d && r == TG_REDUCTION_MEAN ? tg_div_scalar(gc, (double)N) : gc;
  if (!d || !sc) return NULL;
  ptrdiff_t ss = r == TG_REDUCTION_NONE ? 1 : 0; /* one scale per row, or one for all */
  const int64_t *tp = (const int64_t *)tg_ptr(t);
  if (x->dtype == TG_FLOAT32)
    ce_grad_f32(tg_data(xc), tp, t->strides[0], tg_data(d), tg_data(sc), ss, N, C);
  else
    ce_grad_f64(tg_data(xc), tp, t->strides[0], tg_data(d), tg_data(sc), ss, N, C);
  return d;
}
