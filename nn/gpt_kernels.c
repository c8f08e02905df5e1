/* Fused kernels of the small GPT (examples/gpt_model.h): multi-head causal
 * self-attention straight from the fused q/k/v projection, one node.
 *
 * Why one node: with per-op recording the attention of one block is a view,
 * a permute, three selects, the attention node, a transpose and a reshape
 * copy; at context 8 and head size 4 each of those costs more in recording,
 * dispatch and copies than its arithmetic. Here q, k and v are read in
 * place from the (B*T, 3C) rows and the heads are written concatenated, so
 * nothing is permuted or copied. The probabilities P (B, H, T, T) are kept
 * for the backward; the causal mask is a select in the loops, never a
 * tensor.
 *
 * The backward runs as loops when nothing is recorded; under create_graph
 * it is written with recorded ops (views of qkv, the masked softmax
 * recomputed) so that double backward works. */
#include <math.h>
#include <string.h>

#include "nn_internal.h"
#include "tg_nn_fused.h"

#define ATTN_MAX_T 64 /* the longest context: P and the scratch grow as T^2 per head */

/* ------------------------------------------------------------ the loops */

/* Layout: per (sequence, head) the scores are held transposed, ST[j][t]
 * (key j, query t), so that every inner loop runs over the T queries t
 * with unit stride and no loop reduces across its own iterations: the row
 * max, the row sum and P v become elementwise updates of T-vectors, which
 * the compiler vectorises under strict IEEE rules (a horizontal sum it may
 * not reorder). Queries (and in the backward the output gradient) are
 * gathered transposed, qT[d][t]; keys and values are read in place.
 * Masked scores are -inf before the exponential, so their probability is
 * exactly 0 and the loops stay branch-free. Scratch comes from the caller.
 * float32 at T = 8 (the model's context) has its own copy below, on
 * 8-float vectors: these loops, with T not known at compile time, pay
 * runtime alias checks and epilogues on every 8-long loop, and with T
 * constant gcc unrolls them into scalar code. */

/* qkv (B*T, 3C) contiguous; out (B*T, C); P (B, H, T, T) stored transposed,
 * P[j][t] (zero for j > t); w: scratch of hs T + 2 T T + 2 T */
#define ATTN_FORWARD(NAME, TY, EXP)                                                                 \
  static void NAME(const TY *restrict qkv, TY *restrict out, TY *restrict P, TY *restrict w,        \
                   size_t B, size_t T, size_t H, size_t hs, TY scale) {                             \
    size_t C = H * hs, row = 3 * C;                                                                 \
    TY *restrict qT = w, *restrict ST = qT + hs * T, *restrict mx = ST + T * T, *restrict sum = mx + T; \
    TY *restrict oT = sum + T; /* hs T */                                                           \
    for (size_t b = 0; b < B; b++)                                                                  \
      for (size_t h = 0; h < H; h++) {                                                              \
        const TY *base = qkv + b * T * row + h * hs;                                                \
        for (size_t t = 0; t < T; t++)                                                              \
          for (size_t d = 0; d < hs; d++) qT[d * T + t] = base[t * row + d];                        \
        for (size_t t = 0; t < T; t++) mx[t] = -INFINITY, sum[t] = 0;                               \
        for (size_t j = 0; j < T; j++) {                                                            \
          const TY *k = base + j * row + C;                                                         \
          TY *restrict sj = ST + j * T;                                                             \
          for (size_t t = 0; t < T; t++) sj[t] = 0;                                                 \
          for (size_t d = 0; d < hs; d++)                                                           \
            for (size_t t = 0; t < T; t++) sj[t] += k[d] * qT[d * T + t];                           \
          for (size_t t = 0; t < T; t++) {                                                          \
            sj[t] = j <= t ? sj[t] * scale : (TY)-INFINITY;                                         \
            mx[t] = sj[t] > mx[t] ? sj[t] : mx[t];                                                  \
          }                                                                                         \
        }                                                                                           \
        for (size_t j = 0; j < T; j++)                                                              \
          for (size_t t = 0; t < T; t++) sum[t] += ST[j * T + t] = EXP(ST[j * T + t] - mx[t]);      \
        for (size_t t = 0; t < T; t++) sum[t] = 1 / sum[t];                                         \
        for (size_t i = 0; i < hs * T; i++) oT[i] = 0;                                              \
        TY *restrict p = P + (b * H + h) * T * T;                                                   \
        for (size_t j = 0; j < T; j++) {                                                            \
          const TY *v = base + j * row + 2 * C;                                                     \
          TY *restrict sj = ST + j * T;                                                             \
          for (size_t t = 0; t < T; t++) sj[t] *= sum[t];                                           \
          for (size_t d = 0; d < hs; d++)                                                           \
            for (size_t t = 0; t < T; t++) oT[d * T + t] += v[d] * sj[t];                           \
          for (size_t t = 0; t < T; t++) p[j * T + t] = sj[t];                                      \
        }                                                                                           \
        for (size_t t = 0; t < T; t++)                                                              \
          for (size_t d = 0; d < hs; d++) out[(b * T + t) * C + h * hs + d] = oT[d * T + t];        \
      }                                                                                             \
  }
ATTN_FORWARD(attn_forward_f32, float, tg_vexpf)
ATTN_FORWARD(attn_forward_f64, double, exp)
#define ATTN_FORWARD_SCRATCH(hs, T) ((hs) * (T) + 2 * (T) * (T) + 2 * (T) + (hs) * (T))

/* g (B*T, C) contiguous -> dqkv (B*T, 3C), every element written:
 * dv_j = sum_t P_tj g_t, dP_tj = g_t . v_j, dS = P (dP - rowsum(P dP)),
 * dq_t = scale sum_j dS_tj k_j, dk_j = scale sum_t dS_tj q_t.
 * The softmax part runs on transposed T-vectors over t as the forward; dk
 * and dv accumulate as vectors over j (dS and P transposed back). */
#define ATTN_BACKWARD(NAME, TY)                                                                     \
  static void NAME(const TY *restrict qkv, const TY *restrict P, const TY *restrict g,              \
                   TY *restrict dqkv, TY *restrict w, size_t B, size_t T, size_t H, size_t hs,      \
                   TY scale) {                                                                      \
    size_t C = H * hs, row = 3 * C;                                                                 \
    TY *restrict gT = w, *restrict Pr = gT + hs * T, *restrict dST = Pr + T * T;                    \
    TY *restrict dS = dST + T * T, *restrict dot = dS + T * T, *restrict dqT = dot + T;             \
    TY *restrict dkT = dqT + hs * T, *restrict dvT = dkT + hs * T;                                  \
    for (size_t b = 0; b < B; b++)                                                                  \
      for (size_t h = 0; h < H; h++) {                                                              \
        const TY *base = qkv + b * T * row + h * hs, *p = P + (b * H + h) * T * T;                  \
        TY *dbase = dqkv + b * T * row + h * hs;                                                    \
        const TY *gb = g + b * T * C + h * hs;                                                      \
        for (size_t t = 0; t < T; t++) {                                                            \
          for (size_t d = 0; d < hs; d++) gT[d * T + t] = gb[t * C + d];                            \
          for (size_t j = 0; j < T; j++) Pr[t * T + j] = p[j * T + t];                              \
        }                                                                                           \
        /* dP^T[j][t] = v_j . g_t, then dS^T */                                                     \
        for (size_t t = 0; t < T; t++) dot[t] = 0;                                                  \
        for (size_t j = 0; j < T; j++) {                                                            \
          const TY *v = base + j * row + 2 * C;                                                     \
          TY *restrict dj = dST + j * T;                                                            \
          for (size_t t = 0; t < T; t++) dj[t] = 0;                                                 \
          for (size_t d = 0; d < hs; d++)                                                           \
            for (size_t t = 0; t < T; t++) dj[t] += v[d] * gT[d * T + t];                           \
          for (size_t t = 0; t < T; t++) dot[t] += p[j * T + t] * dj[t];                           \
        }                                                                                           \
        for (size_t i = 0; i < hs * T; i++) dqT[i] = dkT[i] = dvT[i] = 0;                           \
        for (size_t j = 0; j < T; j++) {                                                            \
          const TY *k = base + j * row + C;                                                         \
          TY *restrict dj = dST + j * T;                                                            \
          for (size_t t = 0; t < T; t++) dj[t] = p[j * T + t] * (dj[t] - dot[t]) * scale;          \
          for (size_t d = 0; d < hs; d++)                                                           \
            for (size_t t = 0; t < T; t++) dqT[d * T + t] += k[d] * dj[t];                          \
          for (size_t t = 0; t < T; t++) dS[t * T + j] = dj[t];                                     \
        }                                                                                           \
        for (size_t t = 0; t < T; t++) {                                                            \
          const TY *q = base + t * row, *gt = gb + t * C, *st = dS + t * T, *pt = Pr + t * T;        \
          for (size_t d = 0; d < hs; d++)                                                           \
            for (size_t j = 0; j < T; j++) {                                                        \
              dkT[d * T + j] += q[d] * st[j];                                                       \
              dvT[d * T + j] += gt[d] * pt[j];                                                      \
            }                                                                                       \
        }                                                                                           \
        for (size_t t = 0; t < T; t++)                                                              \
          for (size_t d = 0; d < hs; d++) {                                                         \
            dbase[t * row + d] = dqT[d * T + t];                                                    \
            dbase[t * row + C + d] = dkT[d * T + t];                                                \
            dbase[t * row + 2 * C + d] = dvT[d * T + t];                                            \
          }                                                                                         \
      }                                                                                             \
  }
ATTN_BACKWARD(attn_backward_f32, float)
ATTN_BACKWARD(attn_backward_f64, double)
#define ATTN_BACKWARD_SCRATCH(hs, T) (4 * (hs) * (T) + 3 * (T) * (T) + (T))

/* ------------------------------------- float32, T = 8: one vector a row */

/* GCC and clang vector extensions: lane t of a v8f is query position t.
 * Without AVX the compiler splits each into two SSE halves, and gcc and
 * clang warn that passing such a vector by value would change the ABI;
 * these helpers are static and inline, so no call crosses an ABI
 * boundary. */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
#define V8_MAX_HS 16

static inline v8f v8_load(const float *p) {
  v8f v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void v8_store(float *p, v8f v) { memcpy(p, &v, sizeof v); }
static inline v8f v8_sel(v8i m, v8f a, v8f b) { return (v8f)(((v8i)a & m) | ((v8i)b & ~m)); }
static inline v8f v8_splat(float x) { return (v8f){x, x, x, x, x, x, x, x}; }

/* e^x for x <= 0 (or NaN): tg_vexpf's steps (ops/vmath.h) on 8 lanes,
 * except that below -86 the result is 0 instead of a subnormal. Here x is
 * a score minus its row's maximum, so the largest term is 1 and a term
 * under e^-86 changes no sum; a masked score (-inf) must give 0 anyway.
 * And the clamp keeps every intermediate normal: a subnormal product costs
 * a microcode assist per lane, and the masked lanes are 28 of 64 (that
 * multiply was a fifth of the forward). */
static inline v8f v8_exp_neg(v8f x) {
  const v8f lo = v8_splat(-86.0f), shifter = v8_splat(12582912.0f);
  v8f xc = v8_sel(x < lo, lo, x);
  v8f t = xc * 1.44269504088896341f + shifter;
  v8i n = (v8i)t - (v8i)shifter;
  v8f fn = t - shifter;
  v8f r = xc - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  v8f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  v8i n1 = n >> 1, n2 = n - n1; /* both within [-63, 0]: normal powers of two */
  v8f y = p * (v8f)((n1 + 127) << 23) * (v8f)((n2 + 127) << 23);
  y = v8_sel(x < lo, v8_splat(0.0f), y);
  return v8_sel(x != x, x, y);
}

/* lanes t >= j: query t may attend to key j */
static inline v8i v8_causal(size_t j) {
  const v8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
  return lane >= (int32_t)j;
}

/* 8 values at stride `stride` into a vector */
static inline v8f v8_gather(const float *p, size_t stride) {
  return (v8f){p[0], p[stride], p[2 * stride], p[3 * stride], p[4 * stride], p[5 * stride], p[6 * stride],
               p[7 * stride]};
}

/* the same contract as attn_forward_f32 at T = 8, hs <= V8_MAX_HS */
static void attn_forward_f32_t8(const float *restrict qkv, float *restrict out, float *restrict P, size_t B,
                                size_t H, size_t hs, float scale) {
  const size_t T = 8, C = H * hs, row = 3 * C;
  for (size_t b = 0; b < B; b++)
    for (size_t h = 0; h < H; h++) {
      const float *base = qkv + b * T * row + h * hs;
      v8f qT[V8_MAX_HS], oT[V8_MAX_HS], S[8], mx = v8_splat(-INFINITY), sum = v8_splat(0.0f);
      for (size_t d = 0; d < hs; d++) qT[d] = v8_gather(base + d, row), oT[d] = v8_splat(0.0f);
      for (size_t j = 0; j < T; j++) {
        const float *k = base + j * row + C;
        v8f s = v8_splat(0.0f);
        for (size_t d = 0; d < hs; d++) s += k[d] * qT[d];
        S[j] = v8_sel(v8_causal(j), s * scale, v8_splat(-INFINITY));
        mx = v8_sel(S[j] > mx, S[j], mx);
      }
      for (size_t j = 0; j < T; j++) sum += S[j] = v8_exp_neg(S[j] - mx);
      v8f inv = 1.0f / sum;
      float *p = P + (b * H + h) * T * T;
      for (size_t j = 0; j < T; j++) {
        const float *v = base + j * row + 2 * C;
        S[j] *= inv;
        v8_store(p + j * T, S[j]);
        for (size_t d = 0; d < hs; d++) oT[d] += v[d] * S[j];
      }
      for (size_t d = 0; d < hs; d++)
        for (size_t t = 0; t < T; t++) out[(b * T + t) * C + h * hs + d] = oT[d][t];
    }
}

/* the same contract as attn_backward_f32 at T = 8, hs <= V8_MAX_HS */
static void attn_backward_f32_t8(const float *restrict qkv, const float *restrict P, const float *restrict g,
                                 float *restrict dqkv, size_t B, size_t H, size_t hs, float scale) {
  const size_t T = 8, C = H * hs, row = 3 * C;
  for (size_t b = 0; b < B; b++)
    for (size_t h = 0; h < H; h++) {
      const float *base = qkv + b * T * row + h * hs, *p = P + (b * H + h) * T * T;
      const float *gb = g + b * T * C + h * hs;
      float *dbase = dqkv + b * T * row + h * hs;
      v8f gT[V8_MAX_HS], dqT[V8_MAX_HS], dkT[V8_MAX_HS], dvT[V8_MAX_HS], PT[8], dS[8];
      v8f dot = v8_splat(0.0f);
      for (size_t d = 0; d < hs; d++) {
        gT[d] = v8_gather(gb + d, C);
        dqT[d] = dkT[d] = dvT[d] = v8_splat(0.0f);
      }
      for (size_t j = 0; j < T; j++) { /* dP^T[j] = v_j . g_t over the lanes t */
        const float *v = base + j * row + 2 * C;
        v8f s = v8_splat(0.0f);
        for (size_t d = 0; d < hs; d++) s += v[d] * gT[d];
        PT[j] = v8_load(p + j * T);
        dS[j] = s;
        dot += PT[j] * s;
      }
      float st[8][8], pr[8][8];
      for (size_t j = 0; j < T; j++) {
        const float *k = base + j * row + C;
        dS[j] = PT[j] * (dS[j] - dot) * scale;
        for (size_t d = 0; d < hs; d++) dqT[d] += k[d] * dS[j];
        v8_store(st[j], dS[j]);
        v8_store(pr[j], PT[j]);
      }
      for (size_t t = 0; t < T; t++) { /* dk, dv over the lanes j: dS and P transposed */
        const float *q = base + t * row, *gt = gb + t * C;
        v8f dst = {st[0][t], st[1][t], st[2][t], st[3][t], st[4][t], st[5][t], st[6][t], st[7][t]};
        v8f pt = {pr[0][t], pr[1][t], pr[2][t], pr[3][t], pr[4][t], pr[5][t], pr[6][t], pr[7][t]};
        for (size_t d = 0; d < hs; d++) {
          dkT[d] += q[d] * dst;
          dvT[d] += gt[d] * pt;
        }
      }
      for (size_t t = 0; t < T; t++)
        for (size_t d = 0; d < hs; d++) {
          dbase[t * row + d] = dqT[d][t];
          dbase[t * row + C + d] = dkT[d][t];
          dbase[t * row + 2 * C + d] = dvT[d][t];
        }
    }
}

/* --------------------------------------------- the recorded (create_graph) form */

/* q, k, v (B, H, T, hs) views of qkv (B*T, 3C) */
static int split_qkv(tg_tensor *qkv, size_t B, size_t T, size_t H, tg_tensor **q, tg_tensor **k,
                     tg_tensor **v) {
  size_t hs = qkv->shape[1] / (3 * H);
  tg_tensor *x = tg_permute(tg_reshape(qkv, TG_SHAPE(B, T, 3, H, hs)), (const int[]){2, 0, 3, 1, 4});
  *q = tg_select(x, 0, 0);
  *k = tg_select(x, 0, 1);
  *v = tg_select(x, 0, 2);
  return *q && *k && *v ? 0 : -1;
}

static tg_tensor *causal_probs(tg_tensor *q, tg_tensor *k, size_t T, double scale) {
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *drop = tg_logical_not(tg_ne_scalar(tg_tril(tg_ones(q->dtype, TG_SHAPE(T, T)), 0), 0.0));
  tg_set_grad_enabled(prev);
  tg_tensor *s = tg_mul_scalar(tg_matmul(q, tg_transpose(k, -2, -1)), scale);
  return tg_softmax(tg_masked_fill(s, drop, -INFINITY), -1);
}

static tg_tensor *backward_recorded(tg_tensor *qkv, tg_tensor *g, size_t B, size_t T, size_t H, double scale) {
  tg_tensor *q, *k, *v;
  if (split_qkv(qkv, B, T, H, &q, &k, &v)) return NULL;
  size_t hs = qkv->shape[1] / (3 * H);
  tg_tensor *P = causal_probs(q, k, T, scale);
  /* g (B*T, C) -> (B, H, T, hs) */
  tg_tensor *g4 = tg_permute(tg_reshape(g, TG_SHAPE(B, T, H, hs)), (const int[]){0, 2, 1, 3});
  tg_tensor *dv = tg_matmul(tg_transpose(P, -2, -1), g4);
  tg_tensor *dP = tg_matmul(g4, tg_transpose(v, -2, -1));
  const int last[1] = {-1};
  tg_tensor *dS = tg_mul_scalar(tg_mul(P, tg_sub(dP, tg_sum_dims(tg_mul(dP, P), 1, last, true))), scale);
  tg_tensor *parts[3] = {tg_matmul(dS, k), tg_matmul(tg_transpose(dS, -2, -1), q), dv};
  /* (3, B, H, T, hs) -> (B, T, 3, H, hs) -> (B*T, 3C) */
  tg_tensor *d = tg_permute(tg_stack(3, parts, 0), (const int[]){1, 3, 0, 2, 4});
  return tg_reshape(d, TG_SHAPE(B * T, 3 * H * hs));
}

/* ------------------------------------------------------------------ node */

static void attn_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  const int64_t *prm = tg_node_i(n);
  size_t B = (size_t)prm[0], T = (size_t)prm[1], H = (size_t)prm[2];
  tg_tensor *qkv = n->in[0];
  size_t hs = qkv->shape[1] / (3 * H);
  double scale = 1.0 / sqrt((double)hs);
  if (!ops_fused_backward()) {
    gi[0] = backward_recorded(qkv, g, B, T, H, scale);
    return;
  }
  tg_tensor *x = tg_contiguous(qkv), *gc = tg_contiguous(g), *P = tg_node_saved(n);
  tg_tensor *d = x && gc ? tg_empty(qkv->dtype, 2, qkv->shape) : NULL;
  tg_tensor *scratch = d ? tg_empty(qkv->dtype, TG_SHAPE(ATTN_BACKWARD_SCRATCH(hs, T))) : NULL;
  if (!scratch) return;
  if (qkv->dtype == TG_FLOAT32 && T == 8 && hs <= V8_MAX_HS)
    attn_backward_f32_t8(tg_data(x), tg_data(P), tg_data(gc), tg_data(d), B, H, hs, (float)scale);
  else if (qkv->dtype == TG_FLOAT32)
    attn_backward_f32(tg_data(x), tg_data(P), tg_data(gc), tg_data(d), tg_data(scratch), B, T, H, hs,
                      (float)scale);
  else
    attn_backward_f64(tg_data(x), tg_data(P), tg_data(gc), tg_data(d), tg_data(scratch), B, T, H, hs, scale);
  gi[0] = d;
}
/* per head, out = P v with P = softmax(scale q k^T, causal): dS = scale
 * (tq k^T + q tk^T), dP = P (dS - sum(P dS) over the keys), dout = dP v +
 * P tv, tq, tk, tv split from the tangent as q, k, v from qkv */
static tg_tensor *attn_jvp(tg_node *n, tg_tensor *const *t) {
  const int64_t *prm = tg_node_i(n);
  size_t B = (size_t)prm[0], T = (size_t)prm[1], H = (size_t)prm[2];
  tg_tensor *q, *k, *v, *tq, *tk, *tv;
  if (split_qkv(n->in[0], B, T, H, &q, &k, &v) || split_qkv(t[0], B, T, H, &tq, &tk, &tv)) return NULL;
  size_t hs = n->in[0]->shape[1] / (3 * H);
  double scale = 1.0 / sqrt((double)hs);
  tg_tensor *P = causal_probs(q, k, T, scale);
  tg_tensor *dS = tg_mul_scalar(tg_add(tg_matmul(tq, tg_transpose(k, -2, -1)), tg_matmul(q, tg_transpose(tk, -2, -1))), scale);
  const int last[1] = {-1};
  tg_tensor *dP = tg_mul(P, tg_sub(dS, tg_sum_dims(tg_mul(P, dS), 1, last, true)));
  tg_tensor *d = tg_add(tg_matmul(dP, v), tg_matmul(P, tv));
  /* (B, H, T, hs) -> (B, T, H, hs) -> (B*T, C) */
  return tg_reshape(tg_permute(d, (const int[]){0, 2, 1, 3}), TG_SHAPE(B * T, H * hs));
}
TG_DEFINE_OP_JVP(OP_CAUSAL_ATTN_QKV, "CausalAttentionQKVBackward", attn_backward, attn_jvp,
                 TG_SAVES_IN(0) | TG_NODE_I | TG_NODE_SAVED);

tg_tensor *tg_causal_attention_qkv(tg_tensor *qkv, size_t B, size_t T, size_t n_head) {
  static const char op[] = "causal_attention_qkv";
  char a[96];
  if (!ops_check_float(op, qkv, 1)) return NULL;
  if (B == 0 || T == 0 || n_head == 0 || T > ATTN_MAX_T) {
    tg_error("%s: B (%zu), T (%zu) and n_head (%zu) must be positive, T at most %d", op, B, T, n_head,
             ATTN_MAX_T);
    return NULL;
  }
  if (qkv->ndim != 2 || qkv->shape[0] != B * T || qkv->shape[1] == 0 || qkv->shape[1] % (3 * n_head)) {
    tg_error("%s: qkv %s must be (B*T, 3*C) = (%zu, 3*C) with C a multiple of n_head %zu", op,
             tg_shape_str(qkv, a, sizeof a), B * T, n_head);
    return NULL;
  }
  size_t C = qkv->shape[1] / 3, hs = C / n_head;
  double scale = 1.0 / sqrt((double)hs);
  bool prev = tg_set_grad_enabled(false); /* the node's input is qkv itself, not a copy */
  tg_tensor *x = tg_contiguous(qkv);
  tg_set_grad_enabled(prev);
  tg_tensor *out = x ? tg_empty(qkv->dtype, TG_SHAPE(B * T, C)) : NULL;
  tg_tensor *P = out ? tg_empty(qkv->dtype, TG_SHAPE(B, n_head, T, T)) : NULL;
  tg_tensor *scratch = P ? tg_empty(qkv->dtype, TG_SHAPE(ATTN_FORWARD_SCRATCH(hs, T))) : NULL;
  if (!scratch) return NULL;
  if (qkv->dtype == TG_FLOAT32 && T == 8 && hs <= V8_MAX_HS)
    attn_forward_f32_t8(tg_data(x), tg_data(out), tg_data(P), B, n_head, hs, (float)scale);
  else if (qkv->dtype == TG_FLOAT32)
    attn_forward_f32(tg_data(x), tg_data(out), tg_data(P), tg_data(scratch), B, T, n_head, hs, (float)scale);
  else
    attn_forward_f64(tg_data(x), tg_data(out), tg_data(P), tg_data(scratch), B, T, n_head, hs, scale);
  /* recorded even without grad: ops_record makes no node then, unless a
   * dual level needs one for the JVP */
  tg_node *n = ops_record(out, &OP_CAUSAL_ATTN_QKV, 1, (tg_tensor *[]){qkv});
  if (n) {
    int64_t *prm = tg_node_i(n);
    prm[0] = (int64_t)B;
    prm[1] = (int64_t)T;
    prm[2] = (int64_t)n_head;
    tg_node_save(n, P);
  }
  return out;
}
