/* The GPT of Karpathy's lecture script (ng-video-lecture gpt.py) shrunk as
 * in BurTorch's benchmark, shared by examples/gpt_mini.c and
 * bench/gpt_step.c: character level, vocabulary 65, context T = 8,
 * n_embd 24, 6 heads of size 4, 6 pre-LayerNorm blocks
 *   x = x + proj(concat_h softmax(mask(q_h k_h^T / sqrt(4))) v_h)(ln1(x))
 *   x = x + W2 relu(W1 ln2(x) + b1) + b2
 * then lm_head 24x65 (no final LayerNorm, no dropout): 46,289 parameters.
 *
 * Parameter names are the lecture's (token_embedding_table.weight,
 * blocks.0.ln1.weight, blocks.0.ffwd.net.0.weight, lm_head.bias, ...), except
 * that the 6 heads' query/key/value Linear(24, 4, bias=False) are one
 * (72, 24) weight blocks.i.sa.qkv.weight: rows [4h, 4h+4) are head h's
 * query, [24+4h, ...) its key, [48+4h, ...) its value. The same parameters
 * and the same function, one product instead of 18 (PyTorch's per-head
 * modules in bench/gpt_torch.py are the same model).
 *
 * Initialisation as the lecture's _init_weights: Linear weights and both
 * embeddings N(0, 0.02), biases 0, LayerNorm weight 1 and bias 0, so the
 * first loss is close to ln(65) = 4.17. */
#ifndef GPT_MODEL_H
#define GPT_MODEL_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"

#define GPT_VOCAB 65
#define GPT_CTX 8
#define GPT_EMBD 24
#define GPT_HEADS 6
#define GPT_LAYERS 6
#define GPT_FF (4 * GPT_EMBD)

typedef struct gpt_block {
  tg_tensor *ln1_w, *ln1_b, *qkv_w, *proj_w, *proj_b, *ln2_w, *ln2_b, *ff1_w, *ff1_b, *ff2_w, *ff2_b;
} gpt_block;

typedef struct gpt_model {
  tg_module *root; /* owns every parameter; names as the lecture's */
  tg_tensor *tok_emb, *pos_emb, *head_w, *head_b;
  gpt_block blocks[GPT_LAYERS];
} gpt_model;

/* the hand count of the docs: embeddings, 6 blocks (two LayerNorms, qkv,
 * proj with bias, the two feed-forward Linears with bias) and lm_head */
static inline size_t gpt_expected_parameters(void) {
  size_t C = GPT_EMBD, block = 2 * (2 * C) + 3 * C * C + (C * C + C) + (C * GPT_FF + GPT_FF) + (GPT_FF * C + C);
  return GPT_VOCAB * C + GPT_CTX * C + GPT_LAYERS * block + (C * GPT_VOCAB + GPT_VOCAB);
}

/* a parameterless container module with children */
static inline tg_module *gpt_container(tg_module *parent, const char *name, const char *type) {
  tg_module *m = tg_module_new(type, NULL);
  return m && tg_module_add_child(parent, name, m) == 0 ? m : NULL;
}

static inline tg_module *gpt_leaf(tg_module *parent, const char *name, tg_module *m) {
  return m && tg_module_add_child(parent, name, m) == 0 ? m : NULL;
}

static inline tg_tensor *gpt_param(tg_module *m, const char *name) {
  return m ? tg_module_get(m, name) : NULL;
}

/* N(0, 0.02) on weights and embeddings, 0 on Linear biases; LayerNorm keeps 1 and 0 */
static inline int gpt_init(gpt_model *g, tg_rng *rng) {
  size_t n;
  tg_tensor **ps = tg_module_parameters(g->root, &n);
  if (!ps) return -1;
  gpt_block *b;
  for (int l = 0; l < GPT_LAYERS; l++) {
    b = &g->blocks[l];
    tg_tensor *w[] = {b->qkv_w, b->proj_w, b->ff1_w, b->ff2_w};
    for (int i = 0; i < 4; i++)
      if (!tg_init_normal_(w[i], rng, 0.0, 0.02)) return -1;
  }
  if (!tg_init_normal_(g->tok_emb, rng, 0.0, 0.02) || !tg_init_normal_(g->pos_emb, rng, 0.0, 0.02) ||
      !tg_init_normal_(g->head_w, rng, 0.0, 0.02))
    return -1;
  for (int l = 0; l < GPT_LAYERS; l++) {
    b = &g->blocks[l];
    if (!tg_init_zeros_(b->proj_b) || !tg_init_zeros_(b->ff1_b) || !tg_init_zeros_(b->ff2_b)) return -1;
  }
  return tg_init_zeros_(g->head_b) ? 0 : -1;
}

/* builds the tree and initialises it from rng; 0, or -1 with tg_last_error */
static inline int gpt_build(gpt_model *g, tg_rng *rng) {
  memset(g, 0, sizeof *g);
  const size_t C = GPT_EMBD, ln[1] = {GPT_EMBD};
  tg_module *r = g->root = tg_module_new("GPTLanguageModel", NULL);
  if (!r) return -1;
  tg_module *tok = gpt_leaf(r, "token_embedding_table", tg_nn_embedding(GPT_VOCAB, C, TG_NO_PADDING_IDX, rng));
  tg_module *pos = gpt_leaf(r, "position_embedding_table", tg_nn_embedding(GPT_CTX, C, TG_NO_PADDING_IDX, rng));
  tg_module *blocks = gpt_container(r, "blocks", "Sequential");
  for (int l = 0; blocks && l < GPT_LAYERS; l++) {
    char name[8];
    snprintf(name, sizeof name, "%d", l);
    tg_module *blk = gpt_container(blocks, name, "Block");
    tg_module *sa = blk ? gpt_container(blk, "sa", "MultiHeadAttention") : NULL;
    tg_module *qkv = sa ? gpt_leaf(sa, "qkv", tg_nn_linear(C, 3 * C, false, rng)) : NULL;
    tg_module *proj = qkv ? gpt_leaf(sa, "proj", tg_nn_linear(C, C, true, rng)) : NULL;
    tg_module *ffwd = proj ? gpt_container(blk, "ffwd", "FeedFoward") : NULL;
    tg_module *net = ffwd ? gpt_container(ffwd, "net", "Sequential") : NULL;
    tg_module *ff1 = net ? gpt_leaf(net, "0", tg_nn_linear(C, GPT_FF, true, rng)) : NULL;
    tg_module *relu = ff1 ? gpt_leaf(net, "1", tg_nn_relu()) : NULL;
    tg_module *ff2 = relu ? gpt_leaf(net, "2", tg_nn_linear(GPT_FF, C, true, rng)) : NULL;
    tg_module *ln1 = ff2 ? gpt_leaf(blk, "ln1", tg_nn_layernorm(1, ln, 1e-5, true)) : NULL;
    tg_module *ln2 = ln1 ? gpt_leaf(blk, "ln2", tg_nn_layernorm(1, ln, 1e-5, true)) : NULL;
    if (!ln2) blocks = NULL;
    else
      g->blocks[l] = (gpt_block){gpt_param(ln1, "weight"), gpt_param(ln1, "bias"), gpt_param(qkv, "weight"),
                                 gpt_param(proj, "weight"), gpt_param(proj, "bias"), gpt_param(ln2, "weight"),
                                 gpt_param(ln2, "bias"), gpt_param(ff1, "weight"), gpt_param(ff1, "bias"),
                                 gpt_param(ff2, "weight"), gpt_param(ff2, "bias")};
  }
  tg_module *head = blocks ? gpt_leaf(r, "lm_head", tg_nn_linear(C, GPT_VOCAB, true, rng)) : NULL;
  if (!tok || !pos || !head) {
    tg_module_free(r);
    g->root = NULL;
    return -1;
  }
  g->tok_emb = gpt_param(tok, "weight");
  g->pos_emb = gpt_param(pos, "weight");
  g->head_w = gpt_param(head, "weight");
  g->head_b = gpt_param(head, "bias");
  if (gpt_init(g, rng)) {
    tg_module_free(r);
    g->root = NULL;
    return -1;
  }
  return 0;
}

static inline void gpt_free(gpt_model *g) {
  tg_module_free(g->root);
  g->root = NULL;
}

/* causal self-attention of the 6 heads on the fused projection qkv
 * (B*T, 3C) -> (B*T, C), heads concatenated along the last dim */
static inline tg_tensor *gpt_attention(tg_tensor *qkv, size_t B, size_t T) {
  return tg_causal_attention_qkv(qkv, B, T, GPT_HEADS);
}

/* one pre-LN block on x (B*T, C) */
static inline tg_tensor *gpt_block_forward(const gpt_block *b, tg_tensor *x, size_t B, size_t T) {
  const size_t ln[1] = {GPT_EMBD};
  tg_tensor *h = tg_layer_norm(x, 1, ln, b->ln1_w, b->ln1_b, 1e-5);
  tg_tensor *att = gpt_attention(tg_linear(h, b->qkv_w, NULL), B, T);
  x = tg_add(x, tg_linear(att, b->proj_w, b->proj_b));
  h = tg_layer_norm(x, 1, ln, b->ln2_w, b->ln2_b, 1e-5);
  return tg_add(x, tg_linear(tg_relu(tg_linear(h, b->ff1_w, b->ff1_b)), b->ff2_w, b->ff2_b));
}

/* logits (B*T, vocab) of idx: int64 (B*T) token ids, row b*T + t the t-th
 * token of sequence b (the lecture's logits.view(B*T, C)); T <= GPT_CTX.
 * pos: int64 (B*T) holding t for row b*T + t (gpt_positions); a position
 * past GPT_CTX fails in the position embedding (index out of range). */
static inline tg_tensor *gpt_forward(const gpt_model *g, tg_tensor *idx, tg_tensor *pos, size_t B, size_t T) {
  tg_tensor *x = tg_add(tg_embedding(g->tok_emb, idx, TG_NO_PADDING_IDX, NAN, 2.0),
                        tg_embedding(g->pos_emb, pos, TG_NO_PADDING_IDX, NAN, 2.0));
  for (int l = 0; l < GPT_LAYERS; l++) x = gpt_block_forward(&g->blocks[l], x, B, T);
  return tg_linear(x, g->head_w, g->head_b);
}

/* int64 (B*T) with t at row b*T + t, in the current scope */
static inline tg_tensor *gpt_positions(size_t B, size_t T) {
  tg_tensor *p = tg_empty(TG_INT64, TG_SHAPE(B * T));
  if (!p) return NULL;
  int64_t *d = tg_data(p);
  for (size_t i = 0; i < B * T; i++) d[i] = (int64_t)(i % T);
  return p;
}

/* mean cross-entropy of the next-token predictions: idx and targets int64 (B*T) */
static inline tg_tensor *gpt_loss(const gpt_model *g, tg_tensor *idx, tg_tensor *targets, tg_tensor *pos,
                                  size_t B, size_t T) {
  return tg_cross_entropy(gpt_forward(g, idx, pos, B, T), targets, TG_REDUCTION_MEAN);
}

/* one training step: zero_grad, forward, mean cross-entropy over B*T,
 * backward, optimizer step, all intermediates in one scope; the loss, or
 * NaN with tg_last_error */
static inline double gpt_train_step(const gpt_model *g, tg_optimizer *opt, tg_tensor *idx, tg_tensor *targets,
                                    tg_tensor *pos, size_t B, size_t T) {
  double v = NAN;
  tg_scope_begin();
  if (!tg_optim_zero_grad(opt)) {
    tg_tensor *loss = gpt_loss(g, idx, targets, pos, B, T);
    if (loss && !tg_backward(loss, NULL, false) && !tg_optim_step(opt)) v = tg_item(loss);
  }
  tg_scope_end();
  return v;
}

/* the lecture's get_batch: B random windows of data[0..n): idx row b*T + t
 * = data[i_b + t], targets the token after it; idx, targets int64 (B*T) */
static inline void gpt_sample_batch(const int64_t *data, size_t n, size_t B, size_t T, tg_rng *rng,
                                    tg_tensor *idx, tg_tensor *targets) {
  int64_t *x = tg_data(idx), *y = tg_data(targets);
  for (size_t b = 0; b < B; b++) {
    size_t i = (size_t)(tg_rng_next(rng) % (uint64_t)(n - T));
    for (size_t t = 0; t < T; t++) {
      x[b * T + t] = data[i + t];
      y[b * T + t] = data[i + t + 1];
    }
  }
}

#endif
