/* The ops the PyTorch oracle can call, by the names torch_oracle.py uses,
 * and the parameters a case carries. */
#ifndef ORACLE_OPS_H
#define ORACLE_OPS_H

#include <string.h>

#include "tapegrad.h"

#define ORACLE_MAX_PARAMS 8
#define ORACLE_MAX_LIST 16

typedef struct oracle_param {
  char key[24];
  int count; /* numbers in v; 0 for a string parameter */
  double v[ORACLE_MAX_LIST];
  char s[32];
} oracle_param;

typedef struct oracle_params {
  int n;
  oracle_param p[ORACLE_MAX_PARAMS];
} oracle_params;

/* parameter lookups with a default for an absent key */
double oracle_num(const oracle_params *p, const char *key, double def);
const char *oracle_str(const oracle_params *p, const char *key, const char *def);
/* a list of ints (dims, shape); returns the count, 0 when absent */
int oracle_ints(const oracle_params *p, const char *key, long *out);

/* fills out[0..k) and returns k, or -1 when the op failed (message in
 * tg_last_error) */
typedef int (*oracle_fn)(tg_tensor **x, const oracle_params *p, tg_tensor **out);
typedef struct oracle_op {
  const char *name;
  oracle_fn fn;
} oracle_op;

const oracle_op *oracle_find(const char *name);

/* the tables of the families, each ending with {NULL, NULL} */
extern const oracle_op oracle_core_ops[];
extern const oracle_op oracle_loss_ops[];
extern const oracle_op oracle_reduce_stats_ops[];
extern const oracle_op oracle_bool_ops[];
extern const oracle_op oracle_math_ops[];
extern const oracle_op oracle_shapeops_ops[];
extern const oracle_op oracle_activation_ops[];
extern const oracle_op oracle_indexops_ops[];
extern const oracle_op oracle_conv_ops[];
extern const oracle_op oracle_optim_groups_ops[];
extern const oracle_op oracle_norm_ops[];
extern const oracle_op oracle_pool_ops[];
extern const oracle_op oracle_seq_ops[];
extern const oracle_op oracle_rnn_ops[];
extern const oracle_op oracle_mha_ops[];
extern const oracle_op oracle_functional_ops[];
extern const oracle_op oracle_jvp_ops[];
extern const oracle_op oracle_gpt_ops[];

/* shorthands for the tables: x[] the inputs, p the parameters */
#define NUM(k, d) oracle_num(p, k, d)
#define INT(k, d) ((int)oracle_num(p, k, d))
#define BOOL(k) (oracle_num(p, k, 0) != 0)
#define ONE(name, expr)                                                        \
  static int o_##name(tg_tensor **x, const oracle_params *p, tg_tensor **out) { \
    (void)p;                                                                   \
    (void)x;                                                                   \
    return (out[0] = (expr)) ? 1 : -1;                                         \
  }

static inline int dims_of(const oracle_params *p, const char *key, int *dims) {
  long l[ORACLE_MAX_LIST];
  int n = oracle_ints(p, key, l);
  for (int i = 0; i < n; i++) dims[i] = (int)l[i];
  return n;
}
static inline int shape_of(const oracle_params *p, const char *key, size_t *shape) {
  long l[ORACLE_MAX_LIST];
  int n = oracle_ints(p, key, l);
  for (int i = 0; i < n; i++) shape[i] = (size_t)l[i]; /* -1 becomes SIZE_MAX: "infer" */
  return n;
}
static inline tg_reduction reduction(const oracle_params *p) {
  const char *r = oracle_str(p, "reduction", "mean");
  return !strcmp(r, "sum") ? TG_REDUCTION_SUM : !strcmp(r, "none") ? TG_REDUCTION_NONE : TG_REDUCTION_MEAN;
}
static inline tg_dtype dtype_param(const oracle_params *p) {
  const char *d = oracle_str(p, "dtype", "f64");
  return !strcmp(d, "f32") ? TG_FLOAT32 : !strcmp(d, "i64") ? TG_INT64 : TG_FLOAT64;
}



#define E(name) {#name, o_##name}

#endif
