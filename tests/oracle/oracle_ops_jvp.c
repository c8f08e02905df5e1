/* The oracle's forward-mode wrapper (family_jvp.py): the case names the op
 * (parameter jvp_op, an entry of another table) and its input count
 * (jvp_n); its float inputs are followed by their tangents. The op runs
 * inside a dual level on dual tensors; the outputs are its primal outputs,
 * then their tangents (zeros where an output has none). */
#include "oracle_ops.h"

#define JVP_MAX 32

static int jvp_outputs(tg_tensor **ys, int k, tg_tensor **out) {
  for (int j = 0; j < k; j++) {
    tg_tensor *prim = NULL, *tan = NULL;
    if (!ys[j] || tg_unpack_dual(ys[j], &prim, &tan) != 0) return -1;
    out[j] = tg_clone(prim);
    out[k + j] = tan ? tg_clone(tan) : tg_zeros_like(prim);
    if (!out[j] || !out[k + j]) return -1;
  }
  return 2 * k;
}

static int o_jvp(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  const oracle_op *op = oracle_find(oracle_str(p, "jvp_op", ""));
  int n = INT("jvp_n", 0);
  if (!op || n <= 0 || n > JVP_MAX) {
    fprintf(stderr, "oracle jvp: unknown op %s or bad input count %d\n", oracle_str(p, "jvp_op", ""), n);
    return -1;
  }
  if (tg_fwad_enter_dual_level() != 0) return -1;
  tg_tensor *xd[JVP_MAX], *ys[JVP_MAX / 2] = {0};
  int t = n, rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    bool fl = x[i]->dtype == TG_FLOAT64 || x[i]->dtype == TG_FLOAT32;
    xd[i] = fl ? tg_make_dual(x[i], x[t++]) : x[i];
    if (!xd[i]) rc = -1;
  }
  int k = rc == 0 ? op->fn(xd, p, ys) : -1;
  rc = k > 0 && k <= JVP_MAX / 2 ? jvp_outputs(ys, k, out) : -1;
  tg_fwad_exit_dual_level();
  return rc;
}

const oracle_op oracle_jvp_ops[] = {
    E(jvp),
    {NULL, NULL},
};
