/* The oracle's table of the small GPT's fused kernels (family_gpt.py). */
#include "oracle_ops.h"

static int o_causal_attention_qkv(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  out[0] = tg_causal_attention_qkv(x[0], (size_t)NUM("B", 1), (size_t)NUM("T", 1), (size_t)NUM("H", 1));
  return out[0] ? 1 : -1;
}

const oracle_op oracle_gpt_ops[] = {
    E(causal_attention_qkv),
    {NULL, NULL},
};
