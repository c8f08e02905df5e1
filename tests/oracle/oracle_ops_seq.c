/* The oracle's table of the sequence-model ops (family_seq.py). An absent
 * parameter is torch's None: no padding row, no max_norm. */
#include <math.h>

#include "oracle_ops.h"

static int o_embedding(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  double pad = NUM("pad", NAN);
  out[0] = tg_embedding(x[0], x[1], isnan(pad) ? TG_NO_PADDING_IDX : (int64_t)pad, NUM("max_norm", NAN),
                        NUM("norm_type", 2.0));
  return out[0] ? 1 : -1;
}

const oracle_op oracle_seq_ops[] = {
    E(embedding),
    {NULL, NULL},
};
