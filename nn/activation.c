/* The activations of ops/activation.c (and softplus) as modules with
 * PyTorch's type names; their settings live in cfg_f/cfg_i. */
#include "nn_internal.h"

#define PLAIN(fn, op)                                                          \
  static tg_tensor *fn##_forward(tg_module *m, tg_tensor *x) {                 \
    (void)m;                                                                   \
    return op(x);                                                              \
  }
PLAIN(silu, tg_silu)
PLAIN(mish, tg_mish)
PLAIN(selu, tg_selu)
PLAIN(softsign, tg_softsign)
PLAIN(hardsigmoid, tg_hardsigmoid)
PLAIN(hardswish, tg_hardswish)
PLAIN(logsigmoid, tg_logsigmoid)

static tg_tensor *gelu_forward(tg_module *m, tg_tensor *x) {
  return tg_gelu(x, m->cfg_i[0] ? "tanh" : "none");
}
/* relu6 is hardtanh(0, 6) under its own name, as PyTorch's ReLU6 */
static tg_tensor *hardtanh_forward(tg_module *m, tg_tensor *x) {
  return tg_hardtanh(x, m->cfg_f[0], m->cfg_f[1]);
}
static tg_tensor *relu6_forward(tg_module *m, tg_tensor *x) {
  (void)m;
  return tg_relu6(x);
}
static tg_tensor *celu_forward(tg_module *m, tg_tensor *x) { return tg_celu(x, m->cfg_f[0]); }
static tg_tensor *softplus_forward(tg_module *m, tg_tensor *x) {
  return tg_softplus(x, m->cfg_f[0], m->cfg_f[1]);
}

static tg_module *two_numbers(const char *type, tg_forward_fn fwd, double f0, double f1) {
  tg_module *m = nn_stateless(type, fwd, f0, 0, 0);
  if (m) m->cfg_f[1] = f1;
  return m;
}

tg_module *tg_nn_gelu(const char *approximate) {
  int is_tanh = ops_gelu_approximate("nn_gelu", 1, approximate);
  return is_tanh < 0 ? NULL
                     : nn_with_repr(nn_stateless("GELU", gelu_forward, 0, is_tanh, 0), "approximate='%s'",
                                    is_tanh ? "tanh" : "none");
}
tg_module *tg_nn_silu(void) { return nn_stateless("SiLU", silu_forward, 0, 0, 0); }
tg_module *tg_nn_mish(void) { return nn_stateless("Mish", mish_forward, 0, 0, 0); }
tg_module *tg_nn_hardtanh(double min_val, double max_val) {
  return nn_with_repr(two_numbers("Hardtanh", hardtanh_forward, min_val, max_val), "min_val=%s, max_val=%s",
                      nn_pyfloat(min_val), nn_pyfloat(max_val));
}
tg_module *tg_nn_relu6(void) { return nn_stateless("ReLU6", relu6_forward, 0, 0, 0); }
tg_module *tg_nn_selu(void) { return nn_stateless("SELU", selu_forward, 0, 0, 0); }
tg_module *tg_nn_celu(double alpha) {
  return nn_with_repr(nn_stateless("CELU", celu_forward, alpha, 0, 0), "alpha=%s", nn_pyfloat(alpha));
}
tg_module *tg_nn_softsign(void) { return nn_stateless("Softsign", softsign_forward, 0, 0, 0); }
tg_module *tg_nn_hardsigmoid(void) {
  return nn_stateless("Hardsigmoid", hardsigmoid_forward, 0, 0, 0);
}
tg_module *tg_nn_hardswish(void) { return nn_stateless("Hardswish", hardswish_forward, 0, 0, 0); }
tg_module *tg_nn_logsigmoid(void) { return nn_stateless("LogSigmoid", logsigmoid_forward, 0, 0, 0); }
tg_module *tg_nn_softplus(double beta, double threshold) {
  return nn_with_repr(two_numbers("Softplus", softplus_forward, beta, threshold), "beta=%s, threshold=%s",
                      nn_pynum(beta), nn_pynum(threshold));
}
