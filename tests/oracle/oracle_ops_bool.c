/* The oracle's table of the comparison, logic and mask ops (ops/compare.c,
 * ops/select.c). */
#include <math.h>

#include "oracle_ops.h"

ONE(eq, tg_eq(x[0], x[1]))
ONE(ne, tg_ne(x[0], x[1]))
ONE(lt, tg_lt(x[0], x[1]))
ONE(le, tg_le(x[0], x[1]))
ONE(gt, tg_gt(x[0], x[1]))
ONE(ge, tg_ge(x[0], x[1]))
ONE(eq_scalar, tg_eq_scalar(x[0], NUM("s", 0)))
ONE(ne_scalar, tg_ne_scalar(x[0], NUM("s", 0)))
ONE(lt_scalar, tg_lt_scalar(x[0], NUM("s", 0)))
ONE(le_scalar, tg_le_scalar(x[0], NUM("s", 0)))
ONE(gt_scalar, tg_gt_scalar(x[0], NUM("s", 0)))
ONE(ge_scalar, tg_ge_scalar(x[0], NUM("s", 0)))
ONE(isnan, tg_isnan(x[0]))
ONE(isinf, tg_isinf(x[0]))
ONE(isfinite, tg_isfinite(x[0]))
ONE(logical_and, tg_logical_and(x[0], x[1]))
ONE(logical_or, tg_logical_or(x[0], x[1]))
ONE(logical_xor, tg_logical_xor(x[0], x[1]))
ONE(logical_not, tg_logical_not(x[0]))
ONE(any, tg_any(x[0]))
ONE(all, tg_all(x[0]))
static int o_any_dims(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int dims[ORACLE_MAX_LIST], n = dims_of(p, "dims", dims);
  return (out[0] = tg_any_dims(x[0], n, dims, BOOL("keepdim"))) ? 1 : -1;
}
static int o_all_dims(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int dims[ORACLE_MAX_LIST], n = dims_of(p, "dims", dims);
  return (out[0] = tg_all_dims(x[0], n, dims, BOOL("keepdim"))) ? 1 : -1;
}
ONE(where, tg_where(x[0], x[1], x[2]))
ONE(masked_fill, tg_masked_fill(x[0], x[1], NUM("value", 0)))
ONE(masked_select, tg_masked_select(x[0], x[1]))
ONE(nonzero, tg_nonzero(x[0]))
static tg_dtype dtype_to(const oracle_params *p) {
  return !strcmp(oracle_str(p, "dtype", "f64"), "bool") ? TG_BOOL : dtype_param(p);
}
ONE(to_dtype_bool, tg_to_dtype(x[0], dtype_to(p)))

const oracle_op oracle_bool_ops[] = {
    E(eq), E(ne), E(lt), E(le), E(gt), E(ge), E(eq_scalar), E(ne_scalar), E(lt_scalar),
    E(le_scalar), E(gt_scalar), E(ge_scalar), E(isnan), E(isinf), E(isfinite), E(logical_and),
    E(logical_or), E(logical_xor), E(logical_not), E(any), E(all), E(any_dims), E(all_dims),
    E(where), E(masked_fill), E(masked_select), E(nonzero), E(to_dtype_bool),
    {NULL, NULL},
};
