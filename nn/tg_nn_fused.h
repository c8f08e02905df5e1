/* Fused kernels of the small GPT (nn/gpt_kernels.c): single nodes for what
 * is otherwise a chain of views, copies and small ops. */
#ifndef TG_NN_FUSED_H
#define TG_NN_FUSED_H

#include "tg_nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Multi-head causal self-attention on the fused projection qkv (B*T, 3C),
 * row b*T + t for token t of sequence b, columns [q | k | v] each n_head
 * heads of hs = C / n_head: out (B*T, C) with head h's columns
 * [h hs, (h+1) hs) = softmax(q_h k_h^T / sqrt(hs), j <= t) v_h. The same as
 * tg_scaled_dot_product_attention(q, k, v, NULL, true, 0, NAN, NULL) on the
 * (B, n_head, T, hs) views, heads concatenated; one node, T <= 64. */
TG_API tg_tensor *tg_causal_attention_qkv(tg_tensor *qkv, size_t B, size_t T, size_t n_head);

#ifdef __cplusplus
}
#endif

#if !defined(TG_BUILDING_LIBRARY) && !defined(TG_NO_CALL_SITES) && !defined(__cplusplus)
#define tg_causal_attention_qkv(...) (TG_CALL_SITE(), tg_causal_attention_qkv(__VA_ARGS__))
#endif

#endif
