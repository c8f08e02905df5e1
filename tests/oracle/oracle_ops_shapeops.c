/* The oracle's table for split/chunk/unbind/meshgrid (several outputs) and
 * the copying shape ops (family_shapeops.py). */
#include "oracle_ops.h"

#define MAX_PARTS 16

static int o_split(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  size_t sizes[ORACLE_MAX_LIST];
  int n = shape_of(p, "sizes", sizes);
  return n > MAX_PARTS ? -1 : tg_split(x[0], (size_t)n, sizes, INT("dim", 0), out);
}
static int o_split_size(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  return tg_split_size(x[0], (size_t)INT("size", 1), INT("dim", 0), MAX_PARTS, out);
}
static int o_chunk(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  size_t chunks = (size_t)INT("chunks", 1);
  tg_tensor *parts[MAX_PARTS];
  if (chunks > MAX_PARTS) return -1;
  int n = tg_chunk(x[0], chunks, INT("dim", 0), parts);
  for (int k = 0; k < n; k++) out[k] = parts[k];
  return n;
}
static int o_unbind(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  return tg_unbind(x[0], INT("dim", 0), MAX_PARTS, out);
}
static int o_flip(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int dims[ORACLE_MAX_LIST];
  int n = dims_of(p, "dims", dims);
  return (out[0] = tg_flip(x[0], n, dims)) ? 1 : -1;
}
ONE(tril, tg_tril(x[0], INT("diagonal", 0)))
ONE(triu, tg_triu(x[0], INT("diagonal", 0)))

static int o_roll(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  long shifts[ORACLE_MAX_LIST];
  int dims[ORACLE_MAX_LIST];
  int ns = oracle_ints(p, "shifts", shifts), nd = dims_of(p, "dims", dims);
  return (out[0] = tg_roll(x[0], ns, shifts, nd, dims)) ? 1 : -1;
}
static int o_repeat(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  size_t reps[ORACLE_MAX_LIST];
  int n = shape_of(p, "reps", reps);
  return (out[0] = tg_repeat(x[0], n, reps)) ? 1 : -1;
}
static int o_tile(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  size_t reps[ORACLE_MAX_LIST];
  int n = shape_of(p, "reps", reps);
  return (out[0] = tg_tile(x[0], n, reps)) ? 1 : -1;
}
ONE(diagonal, tg_diagonal(x[0], INT("offset", 0), INT("dim1", 0), INT("dim2", 1)))
ONE(diag, tg_diag(x[0], INT("offset", 0)))
ONE(trace, tg_trace(x[0]))
static int o_pad(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  long pad[ORACLE_MAX_LIST];
  int n = oracle_ints(p, "pad", pad);
  const char *m = oracle_str(p, "mode", "constant");
  tg_pad_mode mode = !strcmp(m, "reflect") ? TG_PAD_REFLECT : !strcmp(m, "replicate") ? TG_PAD_REPLICATE
                     : !strcmp(m, "circular") ? TG_PAD_CIRCULAR : TG_PAD_CONSTANT;
  return (out[0] = tg_pad(x[0], n, pad, mode, NUM("value", 0))) ? 1 : -1;
}

/* dim absent from the case: the flattened input (dim NULL) */
#define NO_DIM 1e9
static int o_repeat_interleave(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int dim = INT("dim", 0);
  long r = (long)NUM("repeats", 0);
  return (out[0] = tg_repeat_interleave(x[0], (size_t)r, NUM("dim", NO_DIM) == NO_DIM ? NULL : &dim)) ? 1 : -1;
}
static int o_repeat_interleave_tensor(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  long l[ORACLE_MAX_LIST];
  int n = oracle_ints(p, "reps", l), dim = INT("dim", 0);
  int64_t v[ORACLE_MAX_LIST];
  for (int i = 0; i < n; i++) v[i] = l[i];
  size_t len = (size_t)n;
  tg_tensor *reps = BOOL("scalar") ? tg_from_i64(0, NULL, v)
                    : BOOL("rows")  ? tg_from_i64(2, (const size_t[]){1, len}, v)
                                    : tg_from_i64(1, &len, v);
  return (out[0] = tg_repeat_interleave_tensor(x[0], reps, NUM("dim", NO_DIM) == NO_DIM ? NULL : &dim)) ? 1
                                                                                                      : -1;
}
ONE(one_hot, tg_one_hot(x[0], (long)NUM("num_classes", -1)))
static int o_meshgrid(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  const char *ix = oracle_str(p, "indexing", "ij");
  return tg_meshgrid(INT("n", 0), x, strcmp(ix, "none") ? ix : NULL, out);
}

const oracle_op oracle_shapeops_ops[] = {
    E(split), E(split_size), E(chunk), E(unbind), E(flip), E(tril), E(triu),
    E(roll), E(repeat), E(tile), E(diagonal), E(diag), E(trace), E(pad),
    E(repeat_interleave), E(repeat_interleave_tensor), E(one_hot), E(meshgrid), {NULL, NULL},
};
