/* Parameter lookups of the oracle runner and the search over the op tables
 * of the families (oracle_ops_*.c). */
#include <string.h>

#include "oracle_ops.h"

static const oracle_param *find(const oracle_params *p, const char *key) {
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->p[i].key, key)) return &p->p[i];
  return NULL;
}
double oracle_num(const oracle_params *p, const char *key, double def) {
  const oracle_param *q = find(p, key);
  return q && q->count > 0 ? q->v[0] : def;
}
const char *oracle_str(const oracle_params *p, const char *key, const char *def) {
  const oracle_param *q = find(p, key);
  return q && q->count == 0 ? q->s : def;
}
int oracle_ints(const oracle_params *p, const char *key, long *out) {
  const oracle_param *q = find(p, key);
  if (!q) return 0;
  for (int i = 0; i < q->count; i++) out[i] = (long)q->v[i];
  return q->count;
}

static const oracle_op *const tables[] = {
    oracle_core_ops,
    oracle_loss_ops,
    oracle_reduce_stats_ops,
    oracle_bool_ops,
    oracle_math_ops,
    oracle_shapeops_ops,
    oracle_activation_ops,
    oracle_indexops_ops,
    oracle_conv_ops,
    oracle_optim_groups_ops,
    oracle_norm_ops,
    oracle_pool_ops,
    oracle_seq_ops,
    oracle_rnn_ops,
    oracle_mha_ops,
    oracle_functional_ops,
    oracle_jvp_ops,
    oracle_gpt_ops,
};

const oracle_op *oracle_find(const char *name) {
  for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
    for (const oracle_op *o = tables[t]; o->name; o++)
      if (!strcmp(o->name, name)) return o;
  return NULL;
}
