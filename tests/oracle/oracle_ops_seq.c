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

static int o_rms_norm(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  size_t ns[ORACLE_MAX_LIST];
  int n = shape_of(p, "ns", ns);
  return (out[0] = tg_rms_norm(x[0], n, ns, BOOL("has_w") ? x[1] : NULL, NUM("eps", NAN))) ? 1 : -1;
}

const oracle_op oracle_seq_ops[] = {
    E(embedding), E(rms_norm),
    {NULL, NULL},
};
