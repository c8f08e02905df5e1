/* The oracle's table of the batched products, dim moves and composed index
 * ops (ops/linalg_batched.c, ops/shape_move.c, ops/scatter.c). */
#include "oracle_ops.h"

ONE(bmm, tg_bmm(x[0], x[1]))
ONE(mv, tg_mv(x[0], x[1]))
ONE(addmm, tg_addmm(x[0], x[1], x[2], NUM("beta", 1), NUM("alpha", 1)))
ONE(baddbmm, tg_baddbmm(x[0], x[1], x[2], NUM("beta", 1), NUM("alpha", 1)))
ONE(swapaxes, tg_swapaxes(x[0], INT("dim0", 0), INT("dim1", 0)))
ONE(swapdims, tg_swapdims(x[0], INT("dim0", 0), INT("dim1", 0)))
ONE(take_along_dim, tg_take_along_dim(x[0], x[1], INT("dim", 0)))
ONE(take_along_dim_flat, tg_take_along_dim_flat(x[0], x[1]))
ONE(index_fill, tg_index_fill(x[0], INT("dim", 0), x[1], NUM("value", 0)))
ONE(scatter, tg_scatter(x[0], INT("dim", 0), x[1], x[2]))
ONE(scatter_value, tg_scatter_value(x[0], INT("dim", 0), x[1], NUM("value", 0)))

static int o_movedim(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int src[ORACLE_MAX_LIST], dst[ORACLE_MAX_LIST];
  int n = dims_of(p, "src", src);
  if (dims_of(p, "dst", dst) != n) return -1;
  return (out[0] = tg_movedim(x[0], n, src, dst)) ? 1 : -1;
}

/* x: a, the n index tensors, values */
static int o_index_put(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int n = INT("n", 1);
  return (out[0] = tg_index_put(x[0], n, x + 1, x[1 + n], BOOL("accumulate"))) ? 1 : -1;
}

static int o_einsum(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  return (out[0] = tg_einsum(oracle_str(p, "equation", ""), INT("n", 1), x)) ? 1 : -1;
}

const oracle_op oracle_indexops_ops[] = {
    E(bmm),      E(mv),       E(addmm),          E(baddbmm),    E(movedim),
    E(swapaxes), E(swapdims), E(take_along_dim), E(index_fill), E(scatter),
    E(scatter_value), E(index_put), E(einsum), E(take_along_dim_flat),
    {NULL, NULL},
};
