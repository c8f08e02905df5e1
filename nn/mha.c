/* MultiheadAttention as torch.nn.MultiheadAttention 1.13: in-projections,
 * heads, masks in MHA's convention (bool true = not attended), bias_k /
 * bias_v, the zero key, dropout on the weights, the out-projection.
 * Without the weights the heads go through the fused attention node of
 * nn/attention.c; with them the attention is composed of recorded ops,
 * since the weights are an output with their own gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

static const char OP[] = "multihead_attention";

/* the sizes of one call: L queries, S keys, N batch, E features, H heads */
typedef struct mha_dims {
  size_t L, S, N, E, H, hd, kdim, vdim;
  bool batched, seq_first; /* seq_first: (L, N, E); else (N, L, E) or unbatched (L, E) */
} mha_dims;

/* an inner op's error, prefixed with the op's name */
static void rename_error(void) {
  char msg[400];
  snprintf(msg, sizeof msg, "%s", tg_has_error() ? tg_last_error() : "failed");
  if (strncmp(msg, OP, sizeof OP - 1) != 0) tg_error("%s: %s", OP, msg);
}

/* ------------------------------------------------------------- checks */

static bool check_shape(const char *what, const tg_tensor *t, int ndim, const size_t *want) {
  bool ok = t->ndim == ndim;
  for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == want[d];
  if (ok) return true;
  char a[96], b[96] = "[";
  for (int d = 0; d < ndim; d++)
    snprintf(b + strlen(b), sizeof b - strlen(b), "%zu%s", want[d], d + 1 < ndim ? "," : "");
  snprintf(b + strlen(b), sizeof b - strlen(b), "]");
  tg_error("%s: %s is %s, but should be %s", OP, what, tg_shape_str(t, a, sizeof a), b);
  return false;
}

/* a weight: given (when required), query's dtype, shape want */
static bool check_weight(const char *what, const tg_tensor *t, tg_dtype dt, int ndim, const size_t *want) {
  if (!t) return true;
  if (!tg_tensor_check(t, OP, 4)) return false;
  if (t->dtype != dt) {
    tg_error("%s: %s is %s but query is %s", OP, what, tg_dtype_name(t->dtype), tg_dtype_name(dt));
    return false;
  }
  return check_shape(what, t, ndim, want);
}

static bool check_params(const tg_mha_params *p, const mha_dims *d, tg_dtype dt) {
  size_t E = d->E;
  if (!p->out_proj_weight) {
    tg_error("%s: out_proj_weight is NULL", OP);
    return false;
  }
  if (!p->in_proj_weight && (!p->q_proj_weight || !p->k_proj_weight || !p->v_proj_weight)) {
    tg_error("%s: in_proj_weight is NULL, and so must q_proj_weight, k_proj_weight and v_proj_weight not be", OP);
    return false;
  }
  if (!p->bias_k != !p->bias_v) {
    tg_error("%s: bias_k and bias_v are given together or not at all", OP);
    return false;
  }
  if (!(p->dropout_p >= 0 && p->dropout_p <= 1)) {
    tg_error("%s: dropout probability has to be between 0 and 1, but got %g", OP, p->dropout_p);
    return false;
  }
  bool packed = p->in_proj_weight != NULL;
  return check_weight("in_proj_weight", p->in_proj_weight, dt, 2, (size_t[]){3 * E, E}) &&
         check_weight("q_proj_weight", packed ? NULL : p->q_proj_weight, dt, 2, (size_t[]){E, E}) &&
         check_weight("k_proj_weight", packed ? NULL : p->k_proj_weight, dt, 2, (size_t[]){E, d->kdim}) &&
         check_weight("v_proj_weight", packed ? NULL : p->v_proj_weight, dt, 2, (size_t[]){E, d->vdim}) &&
         check_weight("in_proj_bias", p->in_proj_bias, dt, 1, (size_t[]){3 * E}) &&
         check_weight("bias_k", p->bias_k, dt, 3, (size_t[]){1, 1, E}) &&
         check_weight("bias_v", p->bias_v, dt, 3, (size_t[]){1, 1, E}) &&
         check_weight("out_proj_weight", p->out_proj_weight, dt, 2, (size_t[]){E, E}) &&
         check_weight("out_proj_bias", p->out_proj_bias, dt, 1, (size_t[]){E});
}

/* query, key, value: float, one dtype, 3-D (batched) or 2-D, agreeing in
 * batch and length; fills d */
static bool check_inputs(const tg_tensor *q, const tg_tensor *k, const tg_tensor *v, const tg_mha_params *p,
                         mha_dims *d) {
  char a[96], b[96], c[96];
  if (!ops_check_float(OP, q, 1) || !ops_check_float(OP, k, 2) || !ops_check_float(OP, v, 3)) return false;
  if (q->dtype != k->dtype || q->dtype != v->dtype) {
    tg_error("%s: query, key and value must have one dtype, got %s, %s and %s", OP, tg_dtype_name(q->dtype),
             tg_dtype_name(k->dtype), tg_dtype_name(v->dtype));
    return false;
  }
  if (q->ndim != 2 && q->ndim != 3) {
    tg_error("%s: query should be unbatched 2D or batched 3D tensor but received %d-D query tensor", OP, q->ndim);
    return false;
  }
  if (k->ndim != q->ndim || v->ndim != q->ndim) {
    tg_error("%s: For %s (%d-D) `query`, expected `key` and `value` to be %d-D but found %d-D and %d-D tensors "
             "respectively", OP, q->ndim == 3 ? "batched" : "unbatched", q->ndim, q->ndim, k->ndim, v->ndim);
    return false;
  }
  d->batched = q->ndim == 3;
  d->seq_first = d->batched && !p->batch_first;
  int ld = d->seq_first ? 0 : d->batched ? 1 : 0, nd = d->seq_first ? 1 : 0; /* length, batch dims */
  d->L = q->shape[ld];
  d->S = k->shape[ld];
  d->N = d->batched ? q->shape[nd] : 1;
  d->E = q->shape[q->ndim - 1];
  d->kdim = k->shape[k->ndim - 1];
  d->vdim = v->shape[v->ndim - 1];
  d->H = p->num_heads;
  if (d->H == 0 || d->E % d->H != 0) {
    tg_error("%s: embed_dim %zu not divisible by num_heads %zu", OP, d->E, d->H);
    return false;
  }
  d->hd = d->E / d->H;
  if (d->batched && (k->shape[nd] != d->N || v->shape[nd] != d->N)) {
    tg_error("%s: query %s, key %s and value %s must have one batch size", OP, tg_shape_str(q, a, sizeof a),
             tg_shape_str(k, b, sizeof b), tg_shape_str(v, c, sizeof c));
    return false;
  }
  if (v->shape[ld] != d->S) {
    tg_error("%s: key %s and value %s must have one length", OP, tg_shape_str(k, b, sizeof b),
             tg_shape_str(v, c, sizeof c));
    return false;
  }
  if (p->in_proj_weight && (d->kdim != d->E || d->vdim != d->E)) {
    tg_error("%s: key %s and value %s must have embed_dim %zu features with in_proj_weight (kdim and vdim "
             "take q/k/v_proj_weight)", OP, tg_shape_str(k, b, sizeof b), tg_shape_str(v, c, sizeof c), d->E);
    return false;
  }
  return true;
}

static bool mask_dtype_ok(const char *what, const tg_tensor *m, tg_dtype dt) {
  if (m->dtype == TG_BOOL || m->dtype == dt) return true;
  tg_error("%s: only bool and floating types of %s are supported (the query's %s), not %s", OP, what,
           tg_dtype_name(dt), tg_dtype_name(m->dtype));
  return false;
}

static bool check_masks(const tg_tensor *kpm, const tg_tensor *am, bool is_causal, const mha_dims *d, tg_dtype dt) {
  if (kpm) {
    if (!tg_tensor_check(kpm, OP, 5) || !mask_dtype_ok("key_padding_mask", kpm, dt)) return false;
    size_t want[2] = {d->N, d->S};
    if (!check_shape("key_padding_mask", kpm, d->batched ? 2 : 1, d->batched ? want : want + 1)) return false;
  }
  if (!am) return true;
  if (!tg_tensor_check(am, OP, 7) || !mask_dtype_ok("attn_mask", am, dt)) return false;
  if (is_causal) {
    tg_error("%s: attn_mask should not be given with is_causal, which makes the causal mask", OP);
    return false;
  }
  if (am->ndim == 2) return check_shape("the 2D attn_mask", am, 2, (size_t[]){d->L, d->S});
  if (am->ndim == 3) return check_shape("the 3D attn_mask", am, 3, (size_t[]){d->N * d->H, d->L, d->S});
  tg_error("%s: attn_mask's dimension %d is not supported", OP, am->ndim);
  return false;
}

/* -------------------------------------------------------------- heads */

/* x2 (rows, E) in the input's row order to heads (N, H, len, hd) */
static tg_tensor *to_heads(tg_tensor *x2, const mha_dims *d, size_t len) {
  if (d->seq_first)
    return tg_permute(tg_reshape(x2, TG_SHAPE(len, d->N, d->H, d->hd)), (const int[]){1, 2, 0, 3});
  return tg_permute(tg_reshape(x2, TG_SHAPE(d->N, len, d->H, d->hd)), (const int[]){0, 2, 1, 3});
}

/* x (..., in) projected by w (E, in), b: rows of (E) */
static tg_tensor *project_rows(tg_tensor *x, tg_tensor *w, tg_tensor *b) {
  size_t rows = x->ndim == 3 ? x->shape[0] * x->shape[1] : x->shape[0];
  return tg_linear(tg_reshape(x, TG_SHAPE(rows, x->shape[x->ndim - 1])), w, b);
}

/* rows [k E, (k+1) E) of the packed weight or bias, or else the separate one */
static tg_tensor *part(tg_tensor *packed, tg_tensor *own, int k, size_t E) {
  return packed ? tg_narrow(packed, 0, (long)((size_t)k * E), E) : own;
}

/* q, k, v (N, H, L or S, hd); self-attention with the packed weight is one product */
static bool in_projection(tg_tensor *q, tg_tensor *k, tg_tensor *v, const tg_mha_params *p, const mha_dims *d,
                          tg_tensor **h) {
  tg_tensor *W = p->in_proj_weight, *B = p->in_proj_bias;
  size_t E = d->E;
  if (W && q == k && k == v) {
    tg_tensor *y = project_rows(q, W, B), *parts[3] = {0}; /* y (rows, 3E) */
    if (!y || tg_chunk(y, 3, 1, parts) != 3) return false;
    for (int i = 0; i < 3; i++) h[i] = to_heads(parts[i], d, i ? d->S : d->L);
  } else {
    tg_tensor *x[3] = {q, k, v}, *own[3] = {p->q_proj_weight, p->k_proj_weight, p->v_proj_weight};
    for (int i = 0; i < 3; i++) {
      tg_tensor *w = part(W, own[i], i, E), *b = part(B, NULL, i, E);
      h[i] = to_heads(project_rows(x[i], w, b), d, i ? d->S : d->L);
    }
  }
  return h[0] && h[1] && h[2];
}

/* kh, vh (N, H, S, hd) with bias_k / bias_v and then the zero key appended */
static bool append_keys(tg_tensor **kh, tg_tensor **vh, const tg_mha_params *p, const mha_dims *d) {
  tg_tensor *bias[2] = {p->bias_k, p->bias_v}, **h[2] = {kh, vh};
  for (int i = 0; i < 2; i++) {
    if (p->bias_k) {
      tg_tensor *b = tg_expand(tg_reshape(bias[i], TG_SHAPE(1, d->H, 1, d->hd)), TG_SHAPE(d->N, d->H, 1, d->hd));
      *h[i] = tg_cat(2, (tg_tensor *[]){*h[i], b}, 2);
    }
    if (p->add_zero_attn && *h[i])
      *h[i] = tg_cat(2, (tg_tensor *[]){*h[i], tg_zeros((*h[i])->dtype, TG_SHAPE(d->N, d->H, 1, d->hd))}, 2);
    if (!*h[i]) return false;
  }
  return true;
}

/* -------------------------------------------------------------- masks */

/* bool (L, S): true where j > i, the keys a causal query may not see */
static tg_tensor *causal_blocked(size_t L, size_t S) {
  tg_tensor *m = tg_zeros(TG_BOOL, TG_SHAPE(L, S));
  if (!m) return NULL;
  uint8_t *b = (uint8_t *)tg_ptr(m);
  for (size_t i = 0; i < L; i++)
    for (size_t j = i + 1; j < S; j++) b[i * S + j] = 1;
  return m;
}

/* additive float form of a blocked-bool mask: 0 or -inf */
static tg_tensor *additive(tg_tensor *m, tg_dtype dt) {
  if (m->dtype != TG_BOOL) return m;
  return tg_masked_fill(tg_zeros(dt, TG_SHAPE(1)), m, -INFINITY);
}

/* The masks merged, broadcasting to (N, H, L, S'): a bool "blocked" mask
 * when every part is bool, else additive floats. *mask NULL: none. */
static bool merge_masks(tg_tensor *kpm, tg_tensor *am, bool causal, const mha_dims *d, size_t extra, tg_dtype dt,
                        tg_tensor **mask) {
  tg_tensor *parts[3];
  int n = 0;
  if (am) parts[n++] = am->ndim == 3 ? tg_reshape(am, TG_SHAPE(d->N, d->H, d->L, d->S)) : am;
  if (kpm) parts[n++] = tg_reshape(kpm, TG_SHAPE(d->N, 1, 1, d->S));
  if (causal) parts[n++] = causal_blocked(d->L, d->S);
  *mask = NULL;
  if (!n) return true;
  bool all_bool = true;
  for (int i = 0; i < n; i++) {
    if (!parts[i]) return false;
    all_bool &= parts[i]->dtype == TG_BOOL;
  }
  tg_tensor *m = all_bool ? parts[0] : additive(parts[0], dt);
  for (int i = 1; i < n && m; i++) m = all_bool ? tg_logical_or(m, parts[i]) : tg_add(m, additive(parts[i], dt));
  /* the appended keys are seen by every query */
  if (m && extra) m = tg_pad(m, 2, (const long[]){0, (long)extra}, TG_PAD_CONSTANT, 0.0);
  *mask = m;
  return m != NULL;
}

/* ---------------------------------------------------------- attention */

/* P = softmax(q k^T / sqrt(hd) + mask), dropped out; returns P v, *P kept */
static tg_tensor *attend_composed(tg_tensor *qh, tg_tensor *kh, tg_tensor *vh, tg_tensor *mask, double drop,
                                  tg_rng *rng, tg_tensor **P) {
  tg_tensor *s = tg_matmul(tg_div_scalar(qh, sqrt((double)qh->shape[3])), tg_transpose(kh, -2, -1));
  if (mask && s) s = mask->dtype == TG_BOOL ? tg_masked_fill(s, mask, -INFINITY) : tg_add(s, mask);
  *P = tg_softmax(s, -1);
  if (drop > 0 && *P) *P = tg_dropout(*P, drop, true, rng);
  return *P ? tg_matmul(*P, vh) : NULL;
}

/* the heads (N, H, L, hd) back to query's layout, then out_proj */
static tg_tensor *merge_heads(tg_tensor *o, const tg_mha_params *p, const mha_dims *d) {
  const int *perm = d->seq_first ? (const int[]){2, 0, 1, 3} : (const int[]){0, 2, 1, 3};
  tg_tensor *rows = tg_reshape(tg_permute(o, perm), TG_SHAPE(d->L * d->N, d->E));
  tg_tensor *y = tg_linear(rows, p->out_proj_weight, p->out_proj_bias);
  if (!d->batched) return tg_reshape(y, TG_SHAPE(d->L, d->E));
  return d->seq_first ? tg_reshape(y, TG_SHAPE(d->L, d->N, d->E)) : tg_reshape(y, TG_SHAPE(d->N, d->L, d->E));
}

static tg_tensor *head_weights(tg_tensor *P, bool average, const mha_dims *d) {
  tg_tensor *w = average ? tg_div_scalar(tg_sum_dims(P, 1, (const int[]){1}, false), (double)d->H) : P;
  return d->batched || !w ? w : tg_squeeze(w, 0);
}

int tg_multi_head_attention(tg_tensor *query, tg_tensor *key, tg_tensor *value, const tg_mha_params *p,
                            tg_tensor *key_padding_mask, bool need_weights, tg_tensor *attn_mask,
                            bool average_attn_weights, bool is_causal, tg_tensor **out, tg_tensor **weights) {
  if (out) *out = NULL;
  if (weights) *weights = NULL;
  if (!query || !p || !out) {
    tg_error("%s: %s is NULL", OP, !query ? "query" : !p ? "params" : "out");
    return -1;
  }
  if (!key) key = query;
  if (!value) value = key;
  mha_dims d;
  if (!check_inputs(query, key, value, p, &d) || !check_params(p, &d, query->dtype) ||
      !check_masks(key_padding_mask, attn_mask, is_causal, &d, query->dtype))
    return -1;
  need_weights = need_weights && weights;
  double drop = p->training ? p->dropout_p : 0.0;
  size_t extra = (p->bias_k ? 1 : 0) + (p->add_zero_attn ? 1 : 0);
  /* SDPA's own causal mask is top-left over all S' keys: only without extra keys or other masks */
  bool sdpa_causal = is_causal && !need_weights && !extra && !key_padding_mask;
  tg_tensor *h[3] = {0}, *mask = NULL, *P = NULL, *o = NULL;
  bool ok = in_projection(query, key, value, p, &d, h) && append_keys(&h[1], &h[2], p, &d) &&
            merge_masks(key_padding_mask, attn_mask, is_causal && !sdpa_causal, &d, extra, query->dtype, &mask);
  if (ok && need_weights) {
    o = attend_composed(h[0], h[1], h[2], mask, drop, p->rng, &P);
  } else if (ok) {
    /* SDPA's bool mask is the opposite of MHA's: true = attend */
    tg_tensor *m = mask && mask->dtype == TG_BOOL ? tg_logical_not(mask) : mask;
    o = mask && !m ? NULL : tg_scaled_dot_product_attention(h[0], h[1], h[2], m, sdpa_causal, drop, NAN, p->rng);
  }
  tg_tensor *y = o ? merge_heads(o, p, &d) : NULL;
  tg_tensor *w = y && need_weights ? head_weights(P, average_attn_weights, &d) : NULL;
  if (!y || (need_weights && !w)) {
    rename_error();
    return -1;
  }
  *out = y;
  if (weights) *weights = w;
  return 0;
}

/* ------------------------------------------------------------- module */

typedef struct mha_cfg {
  size_t num_heads;
  double dropout;
  bool add_zero_attn, batch_first;
} mha_cfg;

tg_mha_opts tg_mha_defaults(void) { return (tg_mha_opts){.bias = true}; }

static int mha_forward_multi(tg_module *m, tg_tensor *const *in, int n_in, tg_tensor **out, int max_out);

int tg_nn_multihead_attention_forward(tg_module *m, tg_tensor *query, tg_tensor *key, tg_tensor *value,
                                      tg_tensor *key_padding_mask, bool need_weights, tg_tensor *attn_mask,
                                      bool average_attn_weights, bool is_causal, tg_tensor **out,
                                      tg_tensor **weights) {
  if (!m || m->forward_multi != mha_forward_multi) {
    if (out) *out = NULL;
    if (weights) *weights = NULL;
    tg_error("%s: %s", OP, !m ? "module is NULL" : "the module is not a MultiheadAttention");
    return -1;
  }
  const mha_cfg *c = m->ctx;
  tg_module *op = tg_module_child(m, "out_proj");
  tg_mha_params p = {
      .num_heads = c->num_heads,
      .in_proj_weight = tg_module_get(m, "in_proj_weight"),
      .q_proj_weight = tg_module_get(m, "q_proj_weight"),
      .k_proj_weight = tg_module_get(m, "k_proj_weight"),
      .v_proj_weight = tg_module_get(m, "v_proj_weight"),
      .in_proj_bias = tg_module_get(m, "in_proj_bias"),
      .bias_k = tg_module_get(m, "bias_k"),
      .bias_v = tg_module_get(m, "bias_v"),
      .out_proj_weight = op ? tg_module_get(op, "weight") : NULL,
      .out_proj_bias = op ? tg_module_get(op, "bias") : NULL,
      .add_zero_attn = c->add_zero_attn,
      .batch_first = c->batch_first,
      .training = m->training,
      .dropout_p = c->dropout,
      .rng = m->rng,
  };
  return tg_multi_head_attention(query, key, value, &p, key_padding_mask, need_weights, attn_mask,
                                 average_attn_weights, is_causal, out, weights);
}

/* in = {query, key, value, key_padding_mask, attn_mask}, the absent ones
 * NULL; out = {attn_output, averaged weights}, the weights only when wanted */
static int mha_forward_multi(tg_module *m, tg_tensor *const *in, int n_in, tg_tensor **out, int max_out) {
  if (n_in < 1 || n_in > 5) {
    tg_error("%s: takes (query, key, value, key_padding_mask, attn_mask), 1 to 5 inputs, got %d", OP, n_in);
    return -1;
  }
  tg_tensor *x[5] = {0};
  for (int i = 0; i < n_in; i++) x[i] = in[i];
  bool need_weights = max_out >= 2;
  if (tg_nn_multihead_attention_forward(m, x[0], x[1], x[2], x[3], need_weights, x[4], true, false, &out[0],
                                        need_weights ? &out[1] : NULL) != 0)
    return -1;
  return need_weights ? 2 : 1;
}

/* torch's _reset_parameters, after out_proj's own Linear init */
static bool mha_init(tg_module *m, size_t E, const tg_mha_opts *o) {
  tg_module *lin = tg_nn_linear(E, E, o->bias, o->rng);
  if (tg_module_add_child(m, "out_proj", lin) != 0) return false;
  if (o->bias) tg_init_zeros_(tg_module_get(lin, "bias"));
  const char *w[] = {"in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"};
  for (int i = 0; i < 4; i++) {
    tg_tensor *t = tg_module_get(m, w[i]);
    if (t && !tg_init_xavier_uniform_(t, o->rng, 1.0)) return false;
  }
  if (o->add_bias_kv && (!tg_init_xavier_normal_(tg_module_get(m, "bias_k"), o->rng, 1.0) ||
                         !tg_init_xavier_normal_(tg_module_get(m, "bias_v"), o->rng, 1.0)))
    return false;
  return true;
}

tg_module *tg_nn_multihead_attention(size_t embed_dim, size_t num_heads, tg_mha_opts o) {
  size_t E = embed_dim, kd = o.kdim ? o.kdim : E, vd = o.vdim ? o.vdim : E;
  if (num_heads == 0 || E % num_heads != 0) {
    tg_error("%s: embed_dim must be divisible by num_heads (got %zu and %zu)", OP, E, num_heads);
    return NULL;
  }
  if (!(o.dropout >= 0 && o.dropout <= 1)) {
    tg_error("%s: dropout probability has to be between 0 and 1, but got %g", OP, o.dropout);
    return NULL;
  }
  mha_cfg *c = calloc(1, sizeof *c);
  tg_module *m = c ? tg_module_new_multi("MultiheadAttention", mha_forward_multi) : NULL;
  if (!m) {
    if (!c) tg_error("%s: out of memory", OP);
    free(c);
    return NULL;
  }
  *c = (mha_cfg){num_heads, o.dropout, o.add_zero_attn, o.batch_first};
  m->ctx = c;
  m->ctx_free = free;
  m->rng = o.rng;
  bool ok;
  if (kd == E && vd == E) {
    ok = tg_module_add_parameter(m, "in_proj_weight", TG_FLOAT32, TG_SHAPE(3 * E, E)) != NULL;
  } else {
    ok = tg_module_add_parameter(m, "q_proj_weight", TG_FLOAT32, TG_SHAPE(E, E)) &&
         tg_module_add_parameter(m, "k_proj_weight", TG_FLOAT32, TG_SHAPE(E, kd)) &&
         tg_module_add_parameter(m, "v_proj_weight", TG_FLOAT32, TG_SHAPE(E, vd));
  }
  ok = ok && (!o.bias || tg_module_add_parameter(m, "in_proj_bias", TG_FLOAT32, TG_SHAPE(3 * E)));
  ok = ok && (!o.add_bias_kv || (tg_module_add_parameter(m, "bias_k", TG_FLOAT32, TG_SHAPE(1, 1, E)) &&
                                 tg_module_add_parameter(m, "bias_v", TG_FLOAT32, TG_SHAPE(1, 1, E))));
  if (!ok || !mha_init(m, E, &o)) {
    tg_module_free(m);
    return NULL;
  }
  return m;
}
