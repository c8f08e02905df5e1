/* The oracle's table for the convolutions and unfold/fold (family_conv.py). */
#include "oracle_ops.h"

/* a pair parameter (absent: NULL, the op's default) */
static const int64_t *pair(const oracle_params *p, const char *key, int64_t *v) {
  long l[ORACLE_MAX_LIST];
  int n = oracle_ints(p, key, l);
  for (int i = 0; i < n && i < 2; i++) v[i] = l[i];
  return n ? v : NULL;
}
static int64_t first(const oracle_params *p, const char *key, int64_t def) {
  long l[ORACLE_MAX_LIST];
  return oracle_ints(p, key, l) ? l[0] : def;
}

#define BIAS (BOOL("bias") ? x[2] : NULL)
#define GEOM                                                                   \
  int64_t s_[2], p_[2], d_[2], o_[2], k_[2], os_[2];                           \
  (void)s_, (void)p_, (void)d_, (void)o_, (void)k_, (void)os_
#define S pair(p, "stride", s_)
#define P pair(p, "padding", p_)
#define D pair(p, "dilation", d_)

static int o_conv2d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  GEOM;
  return (out[0] = tg_conv2d(x[0], x[1], BIAS, S, P, D, INT("groups", 1))) ? 1 : -1;
}
static int o_conv2d_padding(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  GEOM;
  return (out[0] = tg_conv2d_padding(x[0], x[1], BIAS, S, oracle_str(p, "mode", "valid"), D,
                                     INT("groups", 1))) ? 1 : -1;
}
static int o_conv1d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  return (out[0] = tg_conv1d(x[0], x[1], BIAS, first(p, "stride", 1), first(p, "padding", 0),
                             first(p, "dilation", 1), INT("groups", 1))) ? 1 : -1;
}
static int o_conv1d_padding(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  return (out[0] = tg_conv1d_padding(x[0], x[1], BIAS, first(p, "stride", 1),
                                     oracle_str(p, "mode", "valid"), first(p, "dilation", 1),
                                     INT("groups", 1))) ? 1 : -1;
}
static int o_conv_transpose2d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  GEOM;
  return (out[0] = tg_conv_transpose2d(x[0], x[1], BIAS, S, P, pair(p, "output_padding", o_),
                                       INT("groups", 1), D)) ? 1 : -1;
}
static int o_conv_transpose1d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  return (out[0] = tg_conv_transpose1d(x[0], x[1], BIAS, first(p, "stride", 1), first(p, "padding", 0),
                                       first(p, "output_padding", 0), INT("groups", 1),
                                       first(p, "dilation", 1))) ? 1 : -1;
}
static int o_unfold(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  GEOM;
  return (out[0] = tg_unfold(x[0], pair(p, "kernel", k_), D, P, S)) ? 1 : -1;
}
static int o_fold(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  GEOM;
  return (out[0] = tg_fold(x[0], pair(p, "output_size", os_), pair(p, "kernel", k_), D, P, S)) ? 1 : -1;
}

const oracle_op oracle_conv_ops[] = {
    E(conv2d), E(conv2d_padding), E(conv1d), E(conv1d_padding), E(conv_transpose2d),
    E(conv_transpose1d), E(unfold), E(fold), {NULL, NULL},
};
