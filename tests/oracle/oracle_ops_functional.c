/* The oracle's table of the functional transforms (family_functional.py):
 * f1(x, w) = tanh(x @ w) * sum(sin x) and f2(x, w) = sum(tanh(x @ w)^2) +
 * sum(x^3), through tg_vjp, tg_jvp, tg_hvp, tg_vhp (create_graph, so their
 * gradients are compared too), tg_hessian and tg_jacobians. */
#include "oracle_ops.h"

static tg_tensor *f1(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_mul(tg_tanh(tg_matmul(in[0], in[1])), tg_sum(tg_sin(in[0])));
}

static tg_tensor *f2(tg_tensor **in, void *ctx) {
  (void)ctx;
  tg_tensor *t = tg_tanh(tg_matmul(in[0], in[1]));
  return tg_add(tg_sum(tg_mul(t, t)), tg_sum(tg_pow_scalar(in[0], 3)));
}

static const tg_functional_opts GRAPH = {.create_graph = true};

static int o_fn_vjp(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  (void)p;
  return tg_vjp(f1, NULL, x, 2, x[2], &out[0], &out[1], GRAPH) == 0 ? 3 : -1;
}

static int o_fn_jvp(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  (void)p;
  return tg_jvp(f1, NULL, x, 2, x + 2, &out[0], &out[1], GRAPH) == 0 ? 2 : -1;
}

static int o_fn_hvp(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  (void)p;
  return tg_hvp(f2, NULL, x, 2, x + 2, &out[0], &out[1], GRAPH) == 0 ? 3 : -1;
}

static int o_fn_vhp(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  (void)p;
  return tg_vhp(f2, NULL, x, 2, x + 2, &out[0], &out[1], GRAPH) == 0 ? 3 : -1;
}

static int o_fn_hessian(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  (void)p;
  return tg_hessian(f2, NULL, x, 2, out) == 0 ? 4 : -1;
}

static int o_fn_jacobian(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  (void)p;
  return tg_jacobians(f1, NULL, x, 2, out, (tg_jacobian_opts){0}) == 0 ? 2 : -1;
}

static int o_fn_jacobian_fwd(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  (void)p;
  return tg_jacobians(f1, NULL, x, 2, out, (tg_jacobian_opts){.forward_mode = true}) == 0 ? 2 : -1;
}

static int o_fn_jacobian_dual(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  (void)p;
  tg_jacobian_opts o = {.forward_mode = true, .jvp_columns = true};
  return tg_jacobians(f1, NULL, x, 2, out, o) == 0 ? 2 : -1;
}

const oracle_op oracle_functional_ops[] = {
    E(fn_vjp), E(fn_jvp), E(fn_hvp), E(fn_vhp), E(fn_hessian), E(fn_jacobian), E(fn_jacobian_fwd), E(fn_jacobian_dual),
    {NULL, NULL},
};
