/* Binary elementwise math with broadcasting (issue 10): atan2, fmod,
 * remainder, hypot, copysign, lerp, clamp with tensor bounds. Gradients as PyTorch's derivatives.yaml,
 * at the broadcast shape (the engine sums them down, tg_sum_to_shape). */
#include <tgmath.h>

#include "ops_internal.h"

#define NOPRM ((ops_params){0, 0})

typedef enum { TO_FLOAT, FLOAT_ONLY, INT_DIVISION, KEEP_INT_BOOL } promo_kind;

/* PyTorch 1.13 on integer/bool operands: atan2/copysign compute in float32,
 * hypot refuses them, fmod/remainder keep int64 (refusing bool and a zero
 * integer divisor, torch's ZeroDivisionError), clamp_min/clamp_max keep
 * int64 and bool */
static bool promote(const char *name, promo_kind kind, tg_tensor **a, tg_tensor **b, tg_dtype *cast_to) {
  *cast_to = (tg_dtype)-1;
  if (!tg_tensor_check(*a, name, 1) || !tg_tensor_check(*b, name, 2)) return false;
  if (!ops_needs_promotion(*a, *b)) return true;
  tg_dtype rt = ops_result_type(*a, *b);
  if (tg_dtype_is_float(rt)) return ops_promote_to_common(a, b);
  if (kind == FLOAT_ONLY || (kind == INT_DIVISION && rt == TG_BOOL)) {
    tg_error("%s: not implemented for %s tensors", name, tg_dtype_name(rt));
    return false;
  }
  tg_dtype work = kind == TO_FLOAT ? TG_FLOAT32 : TG_FLOAT64;
  tg_tensor *ca = (*a)->dtype == work ? *a : tg_to_dtype(*a, work);
  tg_tensor *cb = (*b)->dtype == work ? *b : tg_to_dtype(*b, work);
  if (!ca || !cb) return false;
  if (kind == KEEP_INT_BOOL) *cast_to = rt;
  if (kind == INT_DIVISION) {
    for (size_t i = 0; i < cb->numel; i++)
      if (tg_get_flat(cb, i) == 0) {
        tg_error("%s: ZeroDivisionError (an integer divisor is 0)", name);
        return false;
      }
    *cast_to = rt;
  }
  *a = ca;
  *b = cb;
  return true;
}

static tg_tensor *binary_math(const char *name, promo_kind kind, tg_tensor *a, tg_tensor *b,
                              const ops_kernel *k, const tg_op *op) {
  tg_dtype cast_to;
  if (!promote(name, kind, &a, &b, &cast_to)) return NULL;
  tg_tensor *out = ops_binary_forward(name, a, b, k, NOPRM);
  ops_record(out, op, 2, (tg_tensor *[]){a, b});
  return (int)cast_to < 0 ? out : ops_promote_back(out, cast_to);
}

/* a constant (no history) function of the node's two inputs */
static tg_tensor *const_of(tg_node *n, const ops_kernel *k) {
  return ops_binary_forward("mask", n->in[0], n->in[1], k, NOPRM);
}

/* p + q, either of which may be NULL (a zero tangent term) */
static tg_tensor *jvp_sum(tg_tensor *p, tg_tensor *q) { return !p ? q : !q ? p : tg_add(p, q); }
/* t * c, NULL for a zero t */
static tg_tensor *jvp_term(tg_tensor *t, tg_tensor *c) { return t ? tg_mul(t, c) : NULL; }

/* atan2(a, b): d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2) */
OPS_BINARY_KERNEL(atan2_k, atan2(x, y))
static void atan2_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *a = n->in[0], *b = n->in[1];
  tg_tensor *r = tg_div(g, tg_add(tg_square(a), tg_square(b)));
  if (tg_node_needs_grad(n, 0)) gi[0] = tg_mul(r, b);
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_neg(tg_mul(r, a));
}
/* tangent: (ta b - tb a) / (a^2 + b^2) */
static tg_tensor *atan2_jvp(tg_node *n, tg_tensor *const *t) {
  tg_tensor *a = n->in[0], *b = n->in[1];
  tg_tensor *num = jvp_sum(jvp_term(t[0], b), jvp_term(t[1], tg_neg(a)));
  return tg_div(num, tg_add(tg_square(a), tg_square(b)));
}
TG_DEFINE_OP_JVP(OP_ATAN2, "Atan2Backward", atan2_backward, atan2_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));
tg_tensor *tg_atan2(tg_tensor *a, tg_tensor *b) { return binary_math("atan2", TO_FLOAT, a, b, &atan2_k, &OP_ATAN2); }

/* fmod: d/da = 1, d/db = -trunc(a / b) (piecewise constant) */
OPS_BINARY_KERNEL(fmod_k, fmod(x, y))
OPS_BINARY_KERNEL(neg_trunc_div_k, -trunc(x / y))
static void fmod_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = g;
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_mul(g, const_of(n, &neg_trunc_div_k));
}
static tg_tensor *fmod_jvp(tg_node *n, tg_tensor *const *t) {
  return jvp_sum(t[0], t[1] ? tg_mul(t[1], const_of(n, &neg_trunc_div_k)) : NULL);
}
TG_DEFINE_OP_JVP(OP_FMOD, "FmodBackward", fmod_backward, fmod_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));
tg_tensor *tg_fmod(tg_tensor *a, tg_tensor *b) { return binary_math("fmod", INT_DIVISION, a, b, &fmod_k, &OP_FMOD); }

/* remainder: the sign of the divisor, as Python's %; d/db = -floor(a / b) */
static inline double py_mod(double x, double y) {
  double m = fmod(x, y);
  return (m != 0 && ((y < 0) != (m < 0))) ? m + y : m;
}
static inline float py_modf(float x, float y) {
  float m = fmodf(x, y);
  return (m != 0 && ((y < 0) != (m < 0))) ? m + y : m;
}
OPS_BINARY_KERNEL(remainder_k, _Generic(x, float: py_modf, default: py_mod)(x, y))
OPS_BINARY_KERNEL(neg_floor_div_k, -floor(x / y))
static void remainder_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  gi[0] = g;
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_mul(g, const_of(n, &neg_floor_div_k));
}
static tg_tensor *remainder_jvp(tg_node *n, tg_tensor *const *t) {
  return jvp_sum(t[0], t[1] ? tg_mul(t[1], const_of(n, &neg_floor_div_k)) : NULL);
}
TG_DEFINE_OP_JVP(OP_REMAINDER, "RemainderBackward", remainder_backward, remainder_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));
tg_tensor *tg_remainder(tg_tensor *a, tg_tensor *b) {
  return binary_math("remainder", INT_DIVISION, a, b, &remainder_k, &OP_REMAINDER);
}

/* hypot: d/da = a / out, d/db = b / out */
OPS_BINARY_KERNEL(hypot_k, hypot(x, y))
static void hypot_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  tg_tensor *r = tg_div(g, n->out);
  if (tg_node_needs_grad(n, 0)) gi[0] = tg_mul(r, n->in[0]);
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_mul(r, n->in[1]);
}
/* tangent: (ta a + tb b) / out */
static tg_tensor *hypot_jvp(tg_node *n, tg_tensor *const *t) {
  return tg_div(jvp_sum(jvp_term(t[0], n->in[0]), jvp_term(t[1], n->in[1])), n->out);
}
TG_DEFINE_OP_JVP(OP_HYPOT, "HypotBackward", hypot_backward, hypot_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1) | TG_SAVES_OUT);
tg_tensor *tg_hypot(tg_tensor *a, tg_tensor *b) { return binary_math("hypot", FLOAT_ONLY, a, b, &hypot_k, &OP_HYPOT); }

/* copysign: d/da = out / a (+-1), 0 where a == 0; d/db = 0, as PyTorch */
OPS_BINARY_KERNEL(copysign_k, copysign(x, y))
OPS_BINARY_KERNEL(copysign_d_k, x == 0 ? 0 : (signbit(x) == signbit(y) ? 1 : -1))
static void copysign_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (tg_node_needs_grad(n, 0)) gi[0] = tg_mul(g, const_of(n, &copysign_d_k));
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_zeros_like(g);
}
/* tangent: ta * (+-1, 0 at a == 0); b's tangent does not reach it */
static tg_tensor *copysign_jvp(tg_node *n, tg_tensor *const *t) {
  return t[0] ? tg_mul(t[0], const_of(n, &copysign_d_k)) : tg_zeros_like(n->out);
}
TG_DEFINE_OP_JVP(OP_COPYSIGN, "CopysignBackward", copysign_backward, copysign_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));
tg_tensor *tg_copysign(tg_tensor *a, tg_tensor *b) {
  return binary_math("copysign", TO_FLOAT, a, b, &copysign_k, &OP_COPYSIGN);
}

/* lerp = start + weight * (end - start), composed of differentiable ops;
 * PyTorch wants floating operands of one dtype */
static bool lerp_check(const char *name, tg_tensor *s, tg_tensor *e, tg_tensor *w, bool has_w) {
  if (!tg_tensor_check(s, name, 1) || !tg_tensor_check(e, name, 2) || (has_w && !tg_tensor_check(w, name, 3)))
    return false;
  if (!tg_dtype_is_float(s->dtype)) {
    tg_error("%s: not implemented for %s tensors", name, tg_dtype_name(s->dtype));
    return false;
  }
  const tg_tensor *other[2] = {e, w};
  for (int i = 0; i < 2; i++)
    if (other[i] && other[i]->dtype != s->dtype) {
      tg_error("%s: expected dtype %s for argument %d but got %s", name, tg_dtype_name(s->dtype), i + 2,
               tg_dtype_name(other[i]->dtype));
      return false;
    }
  return true;
}
tg_tensor *tg_lerp(tg_tensor *start, tg_tensor *end, tg_tensor *weight) {
  if (!lerp_check("lerp", start, end, weight, true)) return NULL;
  return tg_add(start, tg_mul(weight, tg_sub(end, start)));
}
tg_tensor *tg_lerp_scalar(tg_tensor *start, tg_tensor *end, double weight) {
  if (!lerp_check("lerp_scalar", start, end, NULL, false)) return NULL;
  return tg_add(start, tg_mul_scalar(tg_sub(end, start), weight));
}

/* clamp with tensor bounds, as torch.clamp(a, min=lo, max=hi): NaN in any
 * operand gives NaN; the gradient goes to a where lo <= a <= hi, to lo where
 * a < lo, to hi where max(a, lo) > hi (so lo > hi gives hi) */
#define NAN_OR(x, y, v) ((isnan(x) || isnan(y)) ? (x) + (y) : (v))
OPS_BINARY_KERNEL(clamp_min_k, NAN_OR(x, y, x < y ? y : x))
OPS_BINARY_KERNEL(ge_k, x >= y ? 1 : 0)
OPS_BINARY_KERNEL(lt_k, x < y ? 1 : 0)
static void clamp_min_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (tg_node_needs_grad(n, 0)) gi[0] = tg_mul(g, const_of(n, &ge_k));
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_mul(g, const_of(n, &lt_k));
}
static tg_tensor *clamp_min_jvp(tg_node *n, tg_tensor *const *t) {
  return jvp_sum(t[0] ? tg_mul(t[0], const_of(n, &ge_k)) : NULL, t[1] ? tg_mul(t[1], const_of(n, &lt_k)) : NULL);
}
TG_DEFINE_OP_JVP(OP_CLAMP_MIN, "ClampMinBackward", clamp_min_backward, clamp_min_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));
tg_tensor *tg_clamp_min_tensor(tg_tensor *a, tg_tensor *lo) {
  return binary_math("clamp_min_tensor", KEEP_INT_BOOL, a, lo, &clamp_min_k, &OP_CLAMP_MIN);
}

OPS_BINARY_KERNEL(clamp_max_k, NAN_OR(x, y, x > y ? y : x))
OPS_BINARY_KERNEL(le_k, x <= y ? 1 : 0)
OPS_BINARY_KERNEL(gt_k, x > y ? 1 : 0)
static void clamp_max_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  if (tg_node_needs_grad(n, 0)) gi[0] = tg_mul(g, const_of(n, &le_k));
  if (tg_node_needs_grad(n, 1)) gi[1] = tg_mul(g, const_of(n, &gt_k));
}
static tg_tensor *clamp_max_jvp(tg_node *n, tg_tensor *const *t) {
  return jvp_sum(t[0] ? tg_mul(t[0], const_of(n, &le_k)) : NULL, t[1] ? tg_mul(t[1], const_of(n, &gt_k)) : NULL);
}
TG_DEFINE_OP_JVP(OP_CLAMP_MAX, "ClampMaxBackward", clamp_max_backward, clamp_max_jvp, TG_SAVES_IN(0) | TG_SAVES_IN(1));
tg_tensor *tg_clamp_max_tensor(tg_tensor *a, tg_tensor *hi) {
  return binary_math("clamp_max_tensor", KEEP_INT_BOOL, a, hi, &clamp_max_k, &OP_CLAMP_MAX);
}

/* max then min, as PyTorch's forward; the gradients agree with PyTorch's
 * except where a < lo == hi (PyTorch: none to lo, here all to lo) */
tg_tensor *tg_clamp_tensor(tg_tensor *a, tg_tensor *lo, tg_tensor *hi) {
  if (!tg_tensor_check(a, "clamp_tensor", 1) || !tg_tensor_check(lo, "clamp_tensor", 2) ||
      !tg_tensor_check(hi, "clamp_tensor", 3))
    return NULL;
  if (a->dtype == TG_BOOL && lo->dtype == TG_BOOL && hi->dtype == TG_BOOL) {
    tg_error("clamp_tensor: not implemented for bool tensors");
    return NULL;
  }
  return tg_clamp_max_tensor(tg_clamp_min_tensor(a, lo), hi);
}
