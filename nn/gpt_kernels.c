/* Fused kernels of the small GPT (examples/gpt_model.h): multi-head causal
 * self-attention straight from the fused q/k/v projection, one node.
 *
 * Why one node: with per-op recording the attention of one block is a view,
 * a permute, three selects, the attention node, a transpose and a reshape
 * copy; at context 8 and head size 4 each of those costs more in recording,
 * dispatch and copies than its arithmetic. Here q, k and v are read in
 * place from the (B*T, 3C) rows and the heads are written concatenated, so
 * nothing is permuted or copied. The probabilities P (B, H, T, T) are kept
 * for the backward; the causal mask is applied by the loop bounds and never
 * stored.
 *
 * The backward runs as loops when nothing is recorded; under create_graph
 * it is written with recorded ops (views of qkv, the masked softmax
 * recomputed) so that double backward works. */
#include <math.h>

#include "nn_internal.h"

/* ------------------------------------------------------------ the loops */

/* qkv (B*T, 3C) contiguous; out (B*T, C); P (B, H, T, T), zero above the diagonal */
#define ATTN_FORWARD(NAME, TY)                                                                      \
  static void NAME(const TY *qkv, TY *out, TY *P, size_t B, size_t T, size_t H, size_t hs,          \
                   TY scale) {                                                                      \
    size_t C = H * hs, row = 3 * C;                                                                 \
    for (size_t b = 0; b < B; b++)                                                                  \
      for (size_t h = 0; h < H; h++) {                                                              \
        const TY *base = qkv + b * T * row + h * hs;                                                \
        TY *p = P + (b * H + h) * T * T;                                                            \
        for (size_t t = 0; t < T; t++) {                                                            \
          const TY *q = base + t * row;                                                             \
          TY mx = -INFINITY, sum = 0, *pt = p + t * T;                                              \
          for (size_t j = 0; j <= t; j++) {                                                         \
            const TY *k = base + j * row + C;                                                       \
            TY s = 0;                                                                               \
            for (size_t d = 0; d < hs; d++) s += q[d] * k[d];                                       \
            pt[j] = s * scale;                                                                      \
            mx = pt[j] > mx ? pt[j] : mx;                                                           \
          }                                                                                         \
          for (size_t j = 0; j <= t; j++) sum += pt[j] = (TY)exp(pt[j] - mx);                       \
          for (size_t j = 0; j <= t; j++) pt[j] /= sum;                                             \
          for (size_t j = t + 1; j < T; j++) pt[j] = 0;                                             \
          TY *o = out + (b * T + t) * C + h * hs;                                                   \
          for (size_t d = 0; d < hs; d++) o[d] = 0;                                                 \
          for (size_t j = 0; j <= t; j++) {                                                         \
            const TY *v = base + j * row + 2 * C;                                                   \
            for (size_t d = 0; d < hs; d++) o[d] += pt[j] * v[d];                                   \
          }                                                                                         \
        }                                                                                           \
      }                                                                                             \
  }
ATTN_FORWARD(attn_forward_f32, float)
ATTN_FORWARD(attn_forward_f64, double)

/* g (B*T, C) contiguous -> dqkv (B*T, 3C), every element written:
 * dv_j = sum_t P_tj g_t, dP_tj = g_t . v_j, dS = P (dP - rowsum(P dP)),
 * dq_t = scale sum_j dS_tj k_j, dk_j = scale sum_t dS_tj q_t */
#define ATTN_BACKWARD(NAME, TY)                                                                     \
  static void NAME(const TY *qkv, const TY *P, const TY *g, TY *dqkv, size_t B, size_t T, size_t H, \
                   size_t hs, TY scale) {                                                           \
    size_t C = H * hs, row = 3 * C;                                                                 \
    for (size_t i = 0; i < B * T * row; i++) dqkv[i] = 0;                                           \
    for (size_t b = 0; b < B; b++)                                                                  \
      for (size_t h = 0; h < H; h++) {                                                              \
        const TY *base = qkv + b * T * row + h * hs, *p = P + (b * H + h) * T * T;                  \
        TY *dbase = dqkv + b * T * row + h * hs;                                                    \
        const TY *gb = g + b * T * C + h * hs;                                                      \
        for (size_t t = 0; t < T; t++) {                                                            \
          const TY *pt = p + t * T, *gt = gb + t * C, *q = base + t * row;                          \
          TY ds[64], dot = 0; /* T <= 64 (checked) */                                               \
          for (size_t j = 0; j <= t; j++) {                                                         \
            const TY *v = base + j * row + 2 * C;                                                   \
            TY *dv = dbase + j * row + 2 * C, dp = 0;                                               \
            for (size_t d = 0; d < hs; d++) {                                                       \
              dv[d] += pt[j] * gt[d];                                                               \
              dp += gt[d] * v[d];                                                                   \
            }                                                                                       \
            ds[j] = dp;                                                                             \
            dot += pt[j] * dp;                                                                      \
          }                                                                                         \
          TY *dq = dbase + t * row;                                                                 \
          for (size_t j = 0; j <= t; j++) {                                                         \
            TY s = pt[j] * (ds[j] - dot) * scale;                                                   \
            const TY *k = base + j * row + C;                                                       \
            TY *dk = dbase + j * row + C;                                                           \
            for (size_t d = 0; d < hs; d++) {                                                       \
              dq[d] += s * k[d];                                                                    \
              dk[d] += s * q[d];                                                                    \
            }                                                                                       \
          }                                                                                         \
        }                                                                                           \
      }                                                                                             \
  }
ATTN_BACKWARD(attn_backward_f32, float)
ATTN_BACKWARD(attn_backward_f64, double)

#define ATTN_MAX_T 64

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
  if (!d) return;
  if (qkv->dtype == TG_FLOAT32)
    attn_backward_f32(tg_data(x), tg_data(P), tg_data(gc), tg_data(d), B, T, H, hs, (float)scale);
  else
    attn_backward_f64(tg_data(x), tg_data(P), tg_data(gc), tg_data(d), B, T, H, hs, scale);
  gi[0] = d;
}
TG_DEFINE_OP(OP_CAUSAL_ATTN_QKV, "CausalAttentionQKVBackward", attn_backward, TG_SAVES_IN(0) | TG_NODE_I | TG_NODE_SAVED);

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
  bool record = qkv->requires_grad && tg_grad_enabled();
  tg_tensor *P = out ? tg_empty(qkv->dtype, TG_SHAPE(B, n_head, T, T)) : NULL;
  if (!P) return NULL;
  if (qkv->dtype == TG_FLOAT32)
    attn_forward_f32(tg_data(x), tg_data(out), tg_data(P), B, T, n_head, hs, (float)scale);
  else
    attn_forward_f64(tg_data(x), tg_data(out), tg_data(P), B, T, n_head, hs, scale);
  if (!record) return out;
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
