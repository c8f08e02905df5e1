/* Binary elementwise ops with broadcasting. Each backward returns gradients
 * at the output's (broadcast) shape; the engine sums them down to each
 * input's shape in one place (tg_sum_to_shape). */
#include <tgmath.h>

#include "ops_internal.h"

static tg_tensor *binary(const char *name, tg_tensor *a, tg_tensor *b, const ops_kernel *k,
                         const tg_op *op) {
  tg_dtype cast_to = (tg_dtype)-1;
  if (__builtin_expect(ops_needs_promotion(a, b), 0) && !ops_promote_pair(name, &a, &b, &cast_to))
    return NULL;
  tg_tensor *out = ops_binary_forward(name, a, b, k, (ops_params){0, 0});
  ops_record(out, op, 2, (tg_tensor *[]){a, b});
  return __builtin_expect((int)cast_to < 0, 1) ? out : ops_promote_back(out, cast_to);
}

/* add: d/da = 1, d/db = 1 */
OPS_BINARY_KERNEL(add_k, x + y)
static void add_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  (void)n;
  gi[0] = g;
  gi[1] = g;
}
/* tangent: ta + tb (NULL: zero) */
static tg_tensor *add_jvp(tg_node *n, tg_tensor *const *t) {
  (void)n;
  return !t[0] ? t[1] : !t[1] ? t[0] : tg_add(t[0], t[1]);
}
TG_DEFINE_OP_JVP(OP_ADD, "AddBackward", add_backward, add_jvp, 0);
tg_tensor *tg_add(tg_tensor *a, tg_tensor *b) { return binary("add", a, b, &add_k, &OP_ADD); }

/* sub: d/da = 1, d/db = -1 */
OPS_BINARY_KERNEL(sub_k, x - y)
/* on 0-d operands input 0's gradient goes to a leaf's .grad first when
 * input 1's does, keeping the engine's order of the two adds (a - a) */
static void sub_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  bool scalar = tg_node_needs_grad(n, 1) && ops_scalar_node(n, g);
  gi[0] = g;
  if (scalar && tg_node_needs_grad(n, 0) && !n->in[0]->grad_fn) OPS_SCALAR_GRAD(n, 0, g, gi, gv);
  if (scalar) OPS_SCALAR_GRAD(n, 1, g, gi, -gv);
  else if (tg_node_needs_grad(n, 1)) gi[1] = tg_neg(g);
}
static tg_tensor *sub_jvp(tg_node *n, tg_tensor *const *t) {
  (void)n;
  return !t[1] ? t[0] : !t[0] ? tg_neg(t[1]) : tg_sub(t[0], t[1]);
}
TG_DEFINE_OP_JVP(OP_SUB, "SubBackward", sub_backward, sub_jvp, 0);
tg_tensor *tg_sub(tg_tensor *a, tg_tensor *b) { return binary("sub", a, b, &sub_k, &OP_SUB); }

/* mul: d/da = b, d/db = a. A scalar node's gradient for a leaf (a weight
 * of a scalar network) is added straight into its .grad: g*b rounded to the
 * dtype, then added, the bits tg_mul and the engine's accumulate give. */
OPS_BINARY_KERNEL(mul_k, x *y)
static void mul_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  bool scalar = ops_scalar_node(n, g);
  for (int i = 0; i < 2; i++) {
    if (!tg_node_needs_grad(n, i)) continue;
    if (scalar) OPS_SCALAR_GRAD(n, i, g, gi, gv * OPS_V(n, 1 - i));
    else gi[i] = tg_mul(g, n->in[1 - i]);
  }
}
/* tangent: ta b + a tb */
static tg_tensor *mul_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *p = t[0] ? tg_mul(t[0], n->in[1]) : NULL, *q = t[1] ? tg_mul(n->in[0], t[1]) : NULL;
  return !p ? q : !q ? p : tg_add(p, q);
}
TG_DEFINE_OP_JVP(OP_MUL, "MulBackward", mul_backward, mul_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));
tg_tensor *tg_mul(tg_tensor *a, tg_tensor *b) { return binary("mul", a, b, &mul_k, &OP_MUL); }

/* div: d/da = 1/b, d/db = -a/b^2 = -out/b */
OPS_BINARY_KERNEL(div_k, x / y)
static void div_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *a = n->in[0], *b = n->in[1];
  tg_tensor *g_over_b = tg_div(g, b);
  if (tg_node_needs_grad(n, 0)) gi[0] = g_over_b;
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_neg(tg_mul(g_over_b, tg_div(a, b)));
}
/* tangent: (ta - out tb) / b */
static tg_tensor *div_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *q = t[1] ? tg_mul(n->out, t[1]) : NULL;
  tg_tensor *num = !q ? t[0] : !t[0] ? tg_neg(q) : tg_sub(t[0], q);
  return tg_div(num, n->in[1]);
}
TG_DEFINE_OP_JVP(OP_DIV, "DivBackward", div_backward, div_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));
tg_tensor *tg_div(tg_tensor *a, tg_tensor *b) { return binary("div", a, b, &div_k, &OP_DIV); }

/* pow, as PyTorch's pow_backward_self and pow_backward_exponent:
 * d/da = b*a^(b-1), taken as 0 where b == 0 (a^(b-1) would be inf at a = 0);
 * d/db = a^b*log(a), taken as 0 where a == 0 and b >= 0 (0*-inf there; a
 * negative b gives inf*-inf = -inf). Each "taken as 0" is a constant mask m:
 * the piece is computed at a point where it is finite (a^0, log(1)) and
 * multiplied by 1 - m, so its derivatives are masked too, as PyTorch's where. */
OPS_BINARY_KERNEL(pow_k, pow(x, y))
OPS_UNARY_KERNEL(is_zero_k, x == 0 ? 1 : 0)
OPS_BINARY_KERNEL(zero_base_k, (x == 0 && y >= 0) ? 1 : 0)
static void pow_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *a = n->in[0], *b = n->in[1];
  if (tg_node_needs_grad(n, 0)) {
    tg_tensor *m = ops_unary_forward("pow", b, &is_zero_k, (ops_params){0, 0});
    tg_tensor *d = tg_mul(b, tg_pow(a, tg_add(tg_sub_scalar(b, 1.0), m)));
    gi[0] = tg_mul(g, tg_mul(d, tg_rsub_scalar(m, 1.0)));
  }
  if (tg_node_needs_grad(n, 1)) {
    tg_tensor *m = ops_binary_forward("pow", a, b, &zero_base_k, (ops_params){0, 0});
    tg_tensor *d = tg_mul(n->out, tg_log(tg_add(a, m)));
    gi[1] = tg_mul(g, tg_mul(d, tg_rsub_scalar(m, 1.0)));
  }
}
/* tangent: ta b a^(b-1) + tb out log(a), each through the backward's masks
 * (the backward is linear in g, so its pieces applied to ta, tb are J's) */
static tg_tensor *pow_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *a = n->in[0], *b = n->in[1], *p = NULL, *q = NULL;
  if (t[0]) {
    tg_tensor *m = ops_unary_forward("pow", b, &is_zero_k, (ops_params){0, 0});
    tg_tensor *d = tg_mul(b, tg_pow(a, tg_add(tg_sub_scalar(b, 1.0), m)));
    p = tg_mul(t[0], tg_mul(d, tg_rsub_scalar(m, 1.0)));
  }
  if (t[1]) {
    tg_tensor *m = ops_binary_forward("pow", a, b, &zero_base_k, (ops_params){0, 0});
    tg_tensor *d = tg_mul(n->out, tg_log(tg_add(a, m)));
    q = tg_mul(t[1], tg_mul(d, tg_rsub_scalar(m, 1.0)));
  }
  return !p ? q : !q ? p : tg_add(p, q);
}
TG_DEFINE_OP_JVP(OP_POW, "PowBackward", pow_backward, pow_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1) | TG_SAVES_OUT);
tg_tensor *tg_pow(tg_tensor *a, tg_tensor *b) { return binary("pow", a, b, &pow_k, &OP_POW); }

/* maximum/minimum: the gradient goes to the larger (smaller) input; on a
 * tie it is split in half, as PyTorch does. The masks are constants. */
OPS_BINARY_KERNEL(max_k, (x > y || isnan(x)) ? x : y)
OPS_BINARY_KERNEL(min_k, (x < y || isnan(x)) ? x : y)
OPS_BINARY_KERNEL(gt_mask_k, x > y ? 1 : (x == y ? 0.5 : 0))
OPS_BINARY_KERNEL(lt_mask_k, x < y ? 1 : (x == y ? 0.5 : 0))

static void select_backward(tg_node *n, tg_tensor *g, tg_tensor **gi, const ops_kernel *mask_k) {
  tg_tensor *a = n->in[0], *b = n->in[1];
  tg_tensor *mask_a = ops_binary_forward("maximum", a, b, mask_k, (ops_params){0, 0});
  if (tg_node_needs_grad(n, 0)) gi[0] = tg_mul(g, mask_a);
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_mul(g, tg_rsub_scalar(mask_a, 1.0));
}
static void maximum_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  select_backward(n, g, gi, &gt_mask_k);
}
static void minimum_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  select_backward(n, g, gi, &lt_mask_k);
}
/* tangent: the selected input's, the mean of both on a tie (the backward's masks) */
static tg_tensor *select_jvp(tg_node *n, tg_tensor *const *t, const ops_kernel *mask_k) {
  tg_tensor *mask_a = ops_binary_forward("maximum", n->in[0], n->in[1], mask_k, (ops_params){0, 0});
  tg_tensor *p = t[0] ? tg_mul(t[0], mask_a) : NULL, *q = t[1] ? tg_mul(t[1], tg_rsub_scalar(mask_a, 1.0)) : NULL;
  return !p ? q : !q ? p : tg_add(p, q);
}
static tg_tensor *maximum_jvp(tg_node *n, tg_tensor *const *t) { return select_jvp(n, t, &gt_mask_k); }
static tg_tensor *minimum_jvp(tg_node *n, tg_tensor *const *t) { return select_jvp(n, t, &lt_mask_k); }
TG_DEFINE_OP_JVP(OP_MAXIMUM, "MaximumBackward", maximum_backward, maximum_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));
TG_DEFINE_OP_JVP(OP_MINIMUM, "MinimumBackward", minimum_backward, minimum_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));
tg_tensor *tg_maximum(tg_tensor *a, tg_tensor *b) {
  return binary("maximum", a, b, &max_k, &OP_MAXIMUM);
}
tg_tensor *tg_minimum(tg_tensor *a, tg_tensor *b) {
  return binary("minimum", a, b, &min_k, &OP_MINIMUM);
}
