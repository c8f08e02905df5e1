/* Scaled dot-product attention as one node: out = softmax(q k^T scale +
 * mask) v. The forward computes the scores unrecorded, applies the causal
 * mask in place in that buffer (never as a mask tensor), and keeps the
 * probabilities P for the backward; the backward's products run unrecorded
 * from P, or, under create_graph, from P recomputed with recorded ops.
 * With dropout the op is composed of recorded ops (a random mask has no
 * fused form here). In nn/ because dropout is. */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

enum { MASK_NONE, MASK_BOOL, MASK_FLOAT };

/* the bool (L, S) lower triangle: only for the recorded (create_graph or dropout) path */
static tg_tensor *causal_keep(tg_dtype dt, size_t L, size_t S) {
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *keep = tg_ne_scalar(tg_tril(tg_ones(dt, TG_SHAPE(L, S)), 0), 0.0);
  tg_set_grad_enabled(prev);
  return keep;
}

/* q k^T scale with the masks, recorded */
static tg_tensor *scores(tg_tensor *q, tg_tensor *k, tg_tensor *mask, int kind, bool causal, double scale) {
  tg_tensor *s = tg_mul_scalar(tg_matmul(q, tg_transpose(k, -2, -1)), scale);
  if (causal && s) s = tg_masked_fill(s, tg_logical_not(causal_keep(q->dtype, q->shape[q->ndim - 2], k->shape[k->ndim - 2])), -INFINITY);
  if (kind == MASK_BOOL) s = tg_masked_fill(s, tg_logical_not(mask), -INFINITY);
  else if (kind == MASK_FLOAT) s = tg_add(s, mask);
  return s;
}

static void sdpa_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *mask = n->n_in > 3 ? n->in[3] : NULL;
  double scale = tg_node_f(n)[0];
  int64_t *prm = tg_node_i(n);
  tg_tensor *P = ops_fused_backward() ? tg_node_saved(n)
                                      : tg_softmax(scores(q, k, mask, (int)prm[1], prm[0] != 0, scale), -1);
  if (tg_node_needs_grad(n, 2)) gi[2] = tg_matmul(tg_transpose(P, -2, -1), g);
  if (!tg_node_needs_grad(n, 0) && !tg_node_needs_grad(n, 1) && !(mask && tg_node_needs_grad(n, 3))) return;
  tg_tensor *dP = tg_matmul(g, tg_transpose(v, -2, -1));
  const int last[1] = {-1};
  tg_tensor *dS = tg_mul(P, tg_sub(dP, tg_sum_dims(tg_mul(dP, P), 1, last, true)));
  if (mask && tg_node_needs_grad(n, 3)) gi[3] = dS;
  tg_tensor *dSs = tg_mul_scalar(dS, scale);
  if (tg_node_needs_grad(n, 0)) gi[0] = tg_matmul(dSs, k);
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_matmul(tg_transpose(dSs, -2, -1), q);
}
/* dS = scale (tq k^T + q tk^T) + tmask (an additive mask), dP = P (dS -
 * sum(P dS) over the keys), dout = dP v + P tv; P recomputed so that the
 * formula differentiates */
static tg_tensor *sdpa_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *mask = n->n_in > 3 ? n->in[3] : NULL;
  double scale = tg_node_f(n)[0];
  int64_t *prm = tg_node_i(n);
  tg_tensor *P = tg_softmax(scores(q, k, mask, (int)prm[1], prm[0] != 0, scale), -1), *dS = NULL, *acc = NULL;
  if (t[0]) dS = tg_matmul(t[0], tg_transpose(k, -2, -1));
  if (t[1]) {
    tg_tensor *term = tg_matmul(q, tg_transpose(t[1], -2, -1));
    dS = dS ? tg_add(dS, term) : term;
  }
  if (dS) dS = tg_mul_scalar(dS, scale);
  if (mask && t[3]) dS = dS ? tg_add(dS, t[3]) : t[3];
  if (dS) {
    const int last[1] = {-1};
    tg_tensor *dP = tg_mul(P, tg_sub(dS, tg_sum_dims(tg_mul(P, dS), 1, last, true)));
    acc = tg_matmul(dP, v);
  }
  if (t[2]) {
    tg_tensor *term = tg_matmul(P, t[2]);
    acc = acc ? tg_add(acc, term) : term;
  }
  return acc;
}
TG_DEFINE_OP_JVP(OP_SDPA, "ScaledDotProductAttentionBackward", sdpa_backward, sdpa_jvp,
                 TG_NODE_F | TG_NODE_I | TG_NODE_SAVED);

static bool check_sdpa(const tg_tensor *q, const tg_tensor *k, const tg_tensor *v, const tg_tensor *mask,
                       bool is_causal, double dropout_p) {
  static const char op[] = "scaled_dot_product_attention";
  char a[96], b[96], c[96];
  if (!ops_check_float(op, q, 1) || !ops_check_float(op, k, 2) || !ops_check_float(op, v, 3)) return false;
  if (mask && !tg_tensor_check(mask, op, 4)) return false;
  if (q->dtype != k->dtype || q->dtype != v->dtype) {
    tg_error("%s: Expected query, key, and value to have the same dtype, but got query.dtype: %s, "
             "key.dtype: %s and value.dtype: %s", op, tg_dtype_name(q->dtype), tg_dtype_name(k->dtype),
             tg_dtype_name(v->dtype));
    return false;
  }
  if (q->ndim < 2 || k->ndim < 2 || v->ndim < 2 || q->shape[q->ndim - 1] != k->shape[k->ndim - 1] ||
      k->shape[k->ndim - 2] != v->shape[v->ndim - 2]) {
    tg_error("%s: query %s, key %s and value %s must be (..., L, E), (..., S, E) and (..., S, Ev)", op,
             tg_shape_str(q, a, sizeof a), tg_shape_str(k, b, sizeof b), tg_shape_str(v, c, sizeof c));
    return false;
  }
  if (mask && mask->dtype != TG_BOOL && mask->dtype != q->dtype) {
    tg_error("%s: Expected attn_mask dtype to be bool or to match query dtype, but got attn_mask.dtype: "
             "%s and query.dtype: %s instead", op, tg_dtype_name(mask->dtype), tg_dtype_name(q->dtype));
    return false;
  }
  if (mask && is_causal) {
    tg_error("%s: Explicit attn_mask should not be set when is_causal=True", op);
    return false;
  }
  if (!(dropout_p >= 0 && dropout_p <= 1)) {
    tg_error("%s: dropout probability has to be between 0 and 1, but got %g", op, dropout_p);
    return false;
  }
  return true;
}

/* an error of an inner op, renamed for the caller */
static tg_tensor *named(tg_tensor *t) {
  if (!t) {
    char msg[400];
    snprintf(msg, sizeof msg, "%s", tg_last_error());
    tg_error("scaled_dot_product_attention: %s", msg);
  }
  return t;
}

tg_tensor *tg_scaled_dot_product_attention(tg_tensor *q, tg_tensor *k, tg_tensor *v, tg_tensor *attn_mask,
                                           bool is_causal, double dropout_p, double scale, tg_rng *rng) {
  if (!check_sdpa(q, k, v, attn_mask, is_causal, dropout_p)) return NULL;
  if (isnan(scale)) scale = 1.0 / sqrt((double)q->shape[q->ndim - 1]);
  int kind = !attn_mask ? MASK_NONE : attn_mask->dtype == TG_BOOL ? MASK_BOOL : MASK_FLOAT;
  if (dropout_p > 0)
    return named(tg_matmul(tg_dropout(tg_softmax(scores(q, k, attn_mask, kind, is_causal, scale), -1), dropout_p,
                                      true, rng), v));
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *s = tg_mul_scalar(tg_matmul(q, tg_transpose(k, -2, -1)), scale);
  if (s && is_causal) {
    /* s is fresh and contiguous: -inf above the diagonal, in place */
    size_t L = s->shape[s->ndim - 2], S = s->shape[s->ndim - 1], B = L && S ? s->numel / (L * S) : 0;
    for (size_t b = 0; b < B; b++)
      for (size_t i = 0; i < L; i++)
        for (size_t j = i + 1; j < S; j++) {
          size_t at = (b * L + i) * S + j;
          if (s->dtype == TG_FLOAT32) ((float *)tg_ptr(s))[at] = -INFINITY;
          else ((double *)tg_ptr(s))[at] = -INFINITY;
        }
  }
  if (kind == MASK_BOOL) s = tg_masked_fill(s, tg_logical_not(attn_mask), -INFINITY);
  else if (kind == MASK_FLOAT) s = tg_add(s, attn_mask);
  tg_tensor *P = tg_softmax(s, -1);
  tg_tensor *out = tg_matmul(P, v);
  tg_set_grad_enabled(prev);
  if (!named(out)) return NULL;
  /* a bool mask is an input too (without gradient): create_graph's backward reads it */
  tg_node *n = ops_record(out, &OP_SDPA, attn_mask ? 4 : 3, (tg_tensor *[]){q, k, v, attn_mask});
  if (n) {
    tg_node_f(n)[0] = scale;
    tg_node_i(n)[0] = is_causal;
    tg_node_i(n)[1] = kind;
    tg_node_save(n, P);
  }
  return out;
}
