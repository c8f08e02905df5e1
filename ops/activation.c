/* Activation functions (issue 10): gelu, silu, mish, hardtanh/relu6, selu,
 * celu, softsign, hardsigmoid, hardswish, logsigmoid. Forward kernels follow
 * PyTorch 1.13's CPU kernels; gradients are its backward formulas, written
 * with tg_ ops so double backward works, with constant masks (no history)
 * at the kinks so the values there are PyTorch's. */
#include <string.h>
#include <tgmath.h>

#include "ops_internal.h"

#define mask ops_unary_mask
#define NOPRM ((ops_params){0, 0})
#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
#define GELU_BETA 0.79788456080286535588 /* sqrt(2 / pi) */
#define GELU_KAPPA 0.044715
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946

OPS_UNARY_KERNEL(negative_k, x < 0 ? 1 : 0)

/* ---- gelu: x Phi(x), or PyTorch's tanh approximation (p0 = 1) */
OPS_UNARY_KERNEL(gelu_k, p0 != 0 ? 0.5 * x * (1 + ops_tanh(GELU_BETA * (x + GELU_KAPPA * x * x * x)))
                                 : 0.5 * x * (1 + erf(x * SQRT1_2)))
static void gelu_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0];
  if (tg_node_f(n)[0] == 0) {
    /* Phi(x) + x phi(x) */
    tg_tensor *cdf = tg_mul_scalar(tg_add_scalar(tg_erf(tg_mul_scalar(x, SQRT1_2)), 1.0), 0.5);
    tg_tensor *pdf = tg_mul_scalar(tg_exp(tg_mul_scalar(tg_square(x), -0.5)), INV_SQRT_2PI);
    gi[0] = tg_mul(g, tg_add(cdf, tg_mul(x, pdf)));
    return;
  }
  /* 0.5 (1 + t) + 0.5 x (1 - t^2) beta (1 + 3 kappa x^2), t = tanh(inner) */
  tg_tensor *x2 = tg_square(x);
  tg_tensor *inner = tg_mul_scalar(tg_mul(x, tg_add_scalar(tg_mul_scalar(x2, GELU_KAPPA), 1.0)), GELU_BETA);
  tg_tensor *t = tg_tanh(inner);
  tg_tensor *dinner = tg_mul_scalar(tg_add_scalar(tg_mul_scalar(x2, 3 * GELU_KAPPA), 1.0), GELU_BETA);
  tg_tensor *left = tg_mul_scalar(tg_add_scalar(t, 1.0), 0.5);
  tg_tensor *right = tg_mul(tg_mul_scalar(x, 0.5), tg_mul(tg_rsub_scalar(tg_square(t), 1.0), dinner));
  gi[0] = tg_mul(g, tg_add(left, right));
}
TG_DEFINE_OP_JVP(OP_GELU, "GeluBackward", gelu_backward, ops_jvp_diag, TG_SAVES_IN(0) | TG_NODE_F);
int ops_gelu_approximate(const char *op, int argno, const char *approximate) {
  if (!approximate) {
    tg_error("%s: argument %d is NULL", op, argno);
    return -1;
  }
  if (!strcmp(approximate, "tanh")) return 1;
  if (!strcmp(approximate, "none")) return 0;
  tg_error("%s: approximate argument must be either none or tanh, got '%s'", op, approximate);
  return -1;
}
tg_tensor *tg_gelu(tg_tensor *a, const char *approximate) {
  int is_tanh = ops_gelu_approximate("gelu", 2, approximate);
  if (is_tanh < 0) return NULL;
  return ops_unary_op("gelu", a, &gelu_k, (ops_params){is_tanh, 0}, &OP_GELU);
}

/* ---- silu: x sigmoid(x); silu' = s (1 + x (1 - s)) */
OPS_UNARY_KERNEL(silu_k, x * ops_sigmoid(x))
static void silu_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *s = tg_sigmoid(x);
  gi[0] = tg_mul(g, tg_mul(s, tg_add_scalar(tg_mul(x, tg_rsub_scalar(s, 1.0)), 1.0)));
}
TG_DEFINE_OP_JVP(OP_SILU, "SiluBackward", silu_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_silu(tg_tensor *a) { return ops_unary_op("silu", a, &silu_k, NOPRM, &OP_SILU); }

/* ---- mish: x tanh(softplus(x)); mish' = t + x sigmoid(x) (1 - t^2) */
OPS_UNARY_KERNEL(mish_k, x * ops_tanh(log1p(ops_exp(x))))
static void mish_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *x = n->in[0], *t = tg_tanh(tg_softplus(x, 1.0, 20.0));
  tg_tensor *rest = tg_mul(tg_mul(x, tg_sigmoid(x)), tg_rsub_scalar(tg_square(t), 1.0));
  gi[0] = tg_mul(g, tg_add(t, rest));
}
TG_DEFINE_OP_JVP(OP_MISH, "MishBackward", mish_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_mish(tg_tensor *a) { return ops_unary_op("mish", a, &mish_k, NOPRM, &OP_MISH); }

/* ---- hardtanh: clamp(x, lo, hi) (lo > hi gives hi; a NaN bound gives NaN,
 * as PyTorch); the gradient passes strictly inside (lo, hi) */
#define HT_LO(x) (((x) < p0 || isnan(p0)) ? p0 : (x))
OPS_UNARY_KERNEL(hardtanh_k, (HT_LO(x) > p1 || isnan(p1)) ? p1 : HT_LO(x))
OPS_UNARY_KERNEL(hardtanh_d_k, (x <= p0 || x >= p1) ? 0 : 1)
static void hardtanh_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_mul(g, mask(n, &hardtanh_d_k));
}
TG_DEFINE_OP_JVP(OP_HARDTANH, "HardtanhBackward", hardtanh_backward, ops_jvp_diag, TG_SAVES_IN(0) | TG_NODE_F);
tg_tensor *tg_hardtanh(tg_tensor *a, double min_val, double max_val) {
  return ops_unary_op("hardtanh", a, &hardtanh_k, (ops_params){min_val, max_val}, &OP_HARDTANH);
}
tg_tensor *tg_relu6(tg_tensor *a) {
  return ops_unary_op("relu6", a, &hardtanh_k, (ops_params){0, 6}, &OP_HARDTANH);
}

/* ---- the elu family: scale x for x > 0, scale alpha expm1(in_scale x)
 * otherwise. The derivative at 0 is the negative side's (PyTorch's x <= 0),
 * the second derivative there 0; exp is taken of min(x, 0) so a large
 * positive x cannot overflow into inf * 0. */
static tg_tensor *elu_family_grad(tg_node *n, const ops_kernel *at_zero_or_pos, double neg_coef,
                                  double in_scale) {
  tg_tensor *neg = mask(n, &negative_k);
  tg_tensor *e = tg_exp(tg_mul_scalar(tg_mul(neg, n->in[0]), in_scale));
  return tg_add(mask(n, at_zero_or_pos), tg_mul_scalar(tg_mul(neg, e), neg_coef * in_scale));
}

OPS_UNARY_KERNEL(selu_k, x > 0 ? SELU_SCALE * x : SELU_SCALE * SELU_ALPHA * expm1(x))
OPS_UNARY_KERNEL(selu_d_k, x > 0 ? SELU_SCALE : (x == 0 ? SELU_SCALE * SELU_ALPHA : 0))
static void selu_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_mul(g, elu_family_grad(n, &selu_d_k, SELU_SCALE * SELU_ALPHA, 1.0));
}
TG_DEFINE_OP_JVP(OP_SELU, "SeluBackward", selu_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_selu(tg_tensor *a) { return ops_unary_op("selu", a, &selu_k, NOPRM, &OP_SELU); }

/* celu(x, alpha) = max(0, x) + min(0, alpha expm1(x / alpha)) */
OPS_UNARY_KERNEL(celu_k, x > 0 ? x : p0 * expm1(x / p0))
OPS_UNARY_KERNEL(nonnegative_k, x >= 0 ? 1 : 0)
static void celu_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  double alpha = tg_node_f(n)[0];
  gi[0] = tg_mul(g, elu_family_grad(n, &nonnegative_k, alpha, 1 / alpha));
}
TG_DEFINE_OP_JVP(OP_CELU, "CeluBackward", celu_backward, ops_jvp_diag, TG_SAVES_IN(0) | TG_NODE_F);
tg_tensor *tg_celu(tg_tensor *a, double alpha) {
  if (alpha == 0) {
    tg_error("celu: alpha cannot be 0 (ZeroDivisionError)");
    return NULL;
  }
  return ops_unary_op("celu", a, &celu_k, (ops_params){alpha, 0}, &OP_CELU);
}

/* ---- softsign: x / (1 + |x|); softsign' = 1 / (1 + |x|)^2 */
OPS_UNARY_KERNEL(softsign_k, x / (1 + fabs(x)))
static void softsign_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_div(g, tg_square(tg_add_scalar(tg_abs(n->in[0]), 1.0)));
}
TG_DEFINE_OP_JVP(OP_SOFTSIGN, "SoftsignBackward", softsign_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_softsign(tg_tensor *a) {
  return ops_unary_op("softsign", a, &softsign_k, NOPRM, &OP_SOFTSIGN);
}

/* ---- hardsigmoid: min(max(x + 3, 0), 6) / 6, PyTorch's order (NaN stays NaN) */
#define RELU6_OF_SHIFT(x) ((x) + 3 < 0 ? 0 : ((x) + 3 > 6 ? 6 : (x) + 3))
OPS_UNARY_KERNEL(hardsigmoid_k, RELU6_OF_SHIFT(x) / 6)
OPS_UNARY_KERNEL(hardsigmoid_d_k, (x > -3 && x < 3) ? 1.0 / 6 : 0)
static void hardsigmoid_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_mul(g, mask(n, &hardsigmoid_d_k));
}
TG_DEFINE_OP_JVP(OP_HARDSIGMOID, "HardsigmoidBackward", hardsigmoid_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_hardsigmoid(tg_tensor *a) {
  return ops_unary_op("hardsigmoid", a, &hardsigmoid_k, NOPRM, &OP_HARDSIGMOID);
}

/* ---- hardswish: x hardsigmoid(x). PyTorch's gradient is x/3 + 1/2 on the
 * closed [-3, 3] (so -1/2 and 3/2 at the ends), 0 below, 1 above; its
 * second derivative is 1/3 only on the open (-3, 3): the x/3 part is kept
 * differentiable there and the end values are constants. */
OPS_UNARY_KERNEL(hardswish_k, x * RELU6_OF_SHIFT(x) / 6)
OPS_UNARY_KERNEL(open_middle_k, (x > -3 && x < 3) ? 1 : 0)
OPS_UNARY_KERNEL(hardswish_d_const_k,
                 x < -3 ? 0 : (x == -3 ? -0.5 : (x < 3 ? 0.5 : (x == 3 ? 1.5 : 1))))
static void hardswish_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *slope = tg_mul(mask(n, &open_middle_k), tg_div_scalar(n->in[0], 3.0));
  gi[0] = tg_mul(g, tg_add(slope, mask(n, &hardswish_d_const_k)));
}
TG_DEFINE_OP_JVP(OP_HARDSWISH, "HardswishBackward", hardswish_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_hardswish(tg_tensor *a) {
  return ops_unary_op("hardswish", a, &hardswish_k, NOPRM, &OP_HARDSWISH);
}

/* ---- logsigmoid: min(x, 0) - log1p(exp(-|x|)) (no overflow either side);
 * logsigmoid' = sigmoid(-x) */
OPS_UNARY_KERNEL(logsigmoid_k, (x < 0 ? x : 0) - log1p(ops_exp(-fabs(x))))
static void logsigmoid_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = tg_mul(g, tg_sigmoid(tg_neg(n->in[0])));
}
TG_DEFINE_OP_JVP(OP_LOGSIGMOID, "LogSigmoidBackward", logsigmoid_backward, ops_jvp_diag, TG_SAVES_IN(0));
tg_tensor *tg_logsigmoid(tg_tensor *a) {
  return ops_unary_op("logsigmoid", a, &logsigmoid_k, NOPRM, &OP_LOGSIGMOID);
}
