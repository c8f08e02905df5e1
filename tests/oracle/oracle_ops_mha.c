/* The oracle's table of MultiheadAttention (family_mha.py): the functional
 * form with the case's weights, in the order the family writes them. */
#include <string.h>

#include "oracle_ops.h"

enum { F_BIAS, F_BIAS_KV, F_ZERO, F_BATCH_FIRST, F_SEPARATE, F_NEED, F_AVERAGE, F_CAUSAL, F_SELF, F_DROP_EVAL, N_FLAGS };

static int o_mha(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  long f[ORACLE_MAX_LIST] = {0};
  if (oracle_ints(p, "flags", f) != N_FLAGS) return -1;
  int k = 0;
  tg_tensor *q = x[k++], *key = f[F_SELF] ? q : x[k++], *value = f[F_SELF] ? q : x[k++];
  tg_mha_params mp = {.num_heads = (size_t)NUM("H", 1),
                      .add_zero_attn = f[F_ZERO],
                      .batch_first = f[F_BATCH_FIRST],
                      .training = !f[F_DROP_EVAL],
                      .dropout_p = f[F_DROP_EVAL] ? 0.5 : 0.0};
  if (f[F_SEPARATE]) {
    mp.q_proj_weight = x[k++];
    mp.k_proj_weight = x[k++];
    mp.v_proj_weight = x[k++];
  } else {
    mp.in_proj_weight = x[k++];
  }
  if (f[F_BIAS]) mp.in_proj_bias = x[k++];
  if (f[F_BIAS_KV]) {
    mp.bias_k = x[k++];
    mp.bias_v = x[k++];
  }
  mp.out_proj_weight = x[k++];
  if (f[F_BIAS]) mp.out_proj_bias = x[k++];
  tg_tensor *kpm = strcmp(oracle_str(p, "kpm", "none"), "none") ? x[k++] : NULL;
  tg_tensor *am = strcmp(oracle_str(p, "am", "none"), "none") ? x[k++] : NULL;
  tg_tensor *w = NULL;
  if (tg_multi_head_attention(q, key, value, &mp, kpm, f[F_NEED], am, f[F_AVERAGE], f[F_CAUSAL], &out[0],
                              f[F_NEED] ? &w : NULL) != 0)
    return -1;
  out[1] = w;
  return f[F_NEED] ? 2 : 1;
}

const oracle_op oracle_mha_ops[] = {
    E(mha),
    {NULL, NULL},
};
