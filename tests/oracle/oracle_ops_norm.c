/* The oracle's table of the normalisation layers and dropout2d of nn/
 * (family_norm.py): x[0], then the inputs whose has_* flag is set, in the
 * order weight, bias, running_mean, running_var. The running statistics,
 * updated in place, are outputs after y. */
#include "oracle_ops.h"

typedef struct norm_inputs {
  tg_tensor *w, *b, *rm, *rv;
} norm_inputs;

static norm_inputs split(tg_tensor **x, const oracle_params *p) {
  norm_inputs o = {0};
  int k = 1;
  if (BOOL("has_w")) o.w = x[k++];
  if (BOOL("has_b")) o.b = x[k++];
  if (BOOL("has_rs")) o.rm = x[k], o.rv = x[k + 1];
  return o;
}

static int with_stats(tg_tensor *y, const norm_inputs *o, tg_tensor **out) {
  if (!(out[0] = y)) return -1;
  if (!o->rm) return 1;
  out[1] = o->rm, out[2] = o->rv;
  return 3;
}

static int o_batch_norm(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  norm_inputs o = split(x, p);
  return with_stats(tg_batch_norm(x[0], o.rm, o.rv, o.w, o.b, BOOL("training"), NUM("momentum", 0.1),
                                  NUM("eps", 1e-5)), &o, out);
}

static int o_instance_norm(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  norm_inputs o = split(x, p);
  return with_stats(tg_instance_norm(x[0], o.rm, o.rv, o.w, o.b, BOOL("use_input_stats"),
                                     NUM("momentum", 0.1), NUM("eps", 1e-5)), &o, out);
}

static int o_group_norm(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  norm_inputs o = split(x, p);
  return (out[0] = tg_group_norm(x[0], INT("groups", 1), o.w, o.b, NUM("eps", 1e-5))) ? 1 : -1;
}

static int o_layer_norm(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  norm_inputs o = split(x, p);
  size_t ns[ORACLE_MAX_LIST];
  int n = shape_of(p, "ns", ns);
  return (out[0] = tg_layer_norm(x[0], n, ns, o.w, o.b, NUM("eps", 1e-5))) ? 1 : -1;
}

ONE(dropout2d, tg_dropout2d(x[0], NUM("p", 0.5), BOOL("training"), NULL))

const oracle_op oracle_norm_ops[] = {
    E(batch_norm), E(instance_norm), E(group_norm), E(layer_norm), E(dropout2d),
    {NULL, NULL},
};
