/* The oracle's table of the statistics, scans and sorting ops
 * (ops/reduce_stats.c, scan.c, sort.c). */
#include <math.h>

#include "oracle_ops.h"

/* norms take p as a number or the strings "inf", "-inf", "fro" */
static double norm_p(const oracle_params *p) {
  const char *s = oracle_str(p, "p", "");
  if (!strcmp(s, "inf")) return INFINITY;
  if (!strcmp(s, "-inf")) return -INFINITY;
  if (!strcmp(s, "fro")) return 2;
  return NUM("p", 2);
}
#define DIMS_OP(name, call)                                                     \
  static int o_##name(tg_tensor **x, const oracle_params *p, tg_tensor **out) { \
    int dims[ORACLE_MAX_LIST], n = dims_of(p, "dims", dims);                    \
    return (out[0] = (call)) ? 1 : -1;                                          \
  }
#define TWO(name, call)                                                         \
  static int o_##name(tg_tensor **x, const oracle_params *p, tg_tensor **out) { \
    out[1] = NULL;                                                              \
    return (out[0] = (call)) ? 2 : -1;                                          \
  }

ONE(prod, tg_prod(x[0]))
ONE(prod_dim, tg_prod_dim(x[0], INT("dim", 0), BOOL("keepdim")))
ONE(std, tg_std(x[0], BOOL("unbiased")))
DIMS_OP(std_dims, tg_std_dims(x[0], n, dims, BOOL("unbiased"), BOOL("keepdim")))
DIMS_OP(norm, tg_norm(x[0], norm_p(p), n, dims, BOOL("keepdim")))
DIMS_OP(linalg_vector_norm, tg_linalg_vector_norm(x[0], norm_p(p), n, dims, BOOL("keepdim")))
DIMS_OP(amax, tg_amax(x[0], n, dims, BOOL("keepdim")))
DIMS_OP(amin, tg_amin(x[0], n, dims, BOOL("keepdim")))
ONE(argmax, tg_argmax(x[0]))
ONE(argmin, tg_argmin(x[0]))
ONE(argmax_dim, tg_argmax_dim(x[0], INT("dim", 0), BOOL("keepdim")))
ONE(argmin_dim, tg_argmin_dim(x[0], INT("dim", 0), BOOL("keepdim")))
ONE(median, tg_median(x[0]))
TWO(median_dim, tg_median_dim(x[0], INT("dim", 0), BOOL("keepdim"), &out[1]))
TWO(kthvalue, tg_kthvalue(x[0], (long)NUM("k", 1), INT("dim", 0), BOOL("keepdim"), &out[1]))
ONE(cumsum, tg_cumsum(x[0], INT("dim", 0)))
ONE(cumprod, tg_cumprod(x[0], INT("dim", 0)))
ONE(logcumsumexp, tg_logcumsumexp(x[0], INT("dim", 0)))
TWO(sort, tg_sort(x[0], INT("dim", -1), BOOL("descending"), &out[1]))
TWO(topk, tg_topk(x[0], (long)NUM("k", 1), INT("dim", -1), BOOL("largest"), true, &out[1]))
static int o_unique(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  (void)p;
  out[1] = out[2] = NULL;
  return (out[0] = tg_unique(x[0], true, &out[1], &out[2])) ? 3 : -1;
}

const oracle_op oracle_reduce_stats_ops[] = {
    E(prod), E(prod_dim), E(std), E(std_dims), E(norm), E(linalg_vector_norm), E(amax), E(amin),
    E(argmax), E(argmin), E(argmax_dim), E(argmin_dim), E(median), E(median_dim), E(kthvalue),
    E(cumsum), E(cumprod), E(logcumsumexp), E(sort), E(topk), E(unique),
    {NULL, NULL},
};
