/* Type promotion as PyTorch's, for the arithmetic ops (binary.c, scalar.c,
 * unary.c). The kernels are float kernels, so operands are converted
 * (tg_to_dtype: differentiable, the gradient comes back in the operand's
 * own dtype) before the op runs:
 *   - float32 with float64: float64; a float with int64 or bool: that float
 *     (a 0-d operand counts only when its kind is higher, ops_result_type);
 *   - int64/bool only: computed in float64 and converted back to the
 *     result's integer dtype (exact below 2^53); true division gives
 *     float32 (PyTorch's default dtype);
 *   - a tensor with a number: an integer tensor with a non-integral number
 *     (or any division) gives float32, else the tensor's dtype;
 *   - unary ops: neg, abs, relu, square, sign and the rounding family keep
 *     int64 (square and sign of bool as PyTorch), the activations with
 *     parameters refuse integers (PyTorch has no integer kernels for them),
 *     the others give float32.
 * The ops call here only when the dtypes differ or are not float, so the
 * common case costs one test. */
#include <math.h>
#include <string.h>

#include "ops_internal.h"

static int category(tg_dtype dt) { return dt == TG_BOOL ? 0 : dt == TG_INT64 ? 1 : 2; }

static tg_dtype dtype_promotion(tg_dtype a, tg_dtype b) {
  if (tg_dtype_is_float(a) && tg_dtype_is_float(b)) return a == TG_FLOAT64 || b == TG_FLOAT64 ? TG_FLOAT64 : TG_FLOAT32;
  if (tg_dtype_is_float(a)) return a;
  if (tg_dtype_is_float(b)) return b;
  return category(a) >= category(b) ? a : b;
}

/* A 0-d tensor meeting a tensor with dims decides the result only when its
 * category (bool < integer < float) is higher: float32 [3] + float64 [] is
 * float32, int64 [3] + float64 [] is float64 (PyTorch's result_type). */
tg_dtype ops_result_type(const tg_tensor *a, const tg_tensor *b) {
  if ((a->ndim == 0) == (b->ndim == 0)) return dtype_promotion(a->dtype, b->dtype);
  const tg_tensor *dims = a->ndim ? a : b, *zero = a->ndim ? b : a;
  return category(zero->dtype) > category(dims->dtype) ? zero->dtype : dims->dtype;
}

static bool convert(tg_tensor **t, tg_dtype dt) {
  if ((*t)->dtype == dt) return true;
  *t = tg_to_dtype(*t, dt);
  return *t != NULL;
}

static bool is_sub(const char *op) { return !strcmp(op, "sub") || !strcmp(op, "sub_scalar") || !strcmp(op, "rsub_scalar"); }

static bool refuse_bool_sub(const char *op) {
  tg_error("%s: subtraction with a bool tensor is not supported; use tg_logical_not or tg_logical_xor", op);
  return false;
}

bool ops_promote_pair(const char *op, tg_tensor **a, tg_tensor **b, tg_dtype *cast_to) {
  *cast_to = (tg_dtype)-1;
  if (!tg_tensor_check(*a, op, 1) || !tg_tensor_check(*b, op, 2)) return false;
  tg_dtype ad = (*a)->dtype, bd = (*b)->dtype;
  if (is_sub(op) && (ad == TG_BOOL || bd == TG_BOOL)) return refuse_bool_sub(op);
  tg_dtype rt = ops_result_type(*a, *b);
  if (tg_dtype_is_float(rt)) return convert(a, rt) && convert(b, rt);
  if (!strcmp(op, "div")) return convert(a, TG_FLOAT32) && convert(b, TG_FLOAT32);
  if (rt == TG_BOOL && !strcmp(op, "pow")) {
    tg_error("pow: not implemented for two bool tensors");
    return false;
  }
  /* integer pow with a negative exponent truncates toward zero, as PyTorch */
  *cast_to = rt;
  return convert(a, TG_FLOAT64) && convert(b, TG_FLOAT64);
}

bool ops_promote_scalar(const char *op, tg_tensor **a, double s, tg_dtype *cast_to) {
  *cast_to = (tg_dtype)-1;
  if (!tg_tensor_check(*a, op, 1)) return false;
  if (is_sub(op) && (*a)->dtype == TG_BOOL) return refuse_bool_sub(op);
  bool integral = isfinite(s) && s == floor(s);
  if (!integral || !strcmp(op, "div_scalar")) return convert(a, TG_FLOAT32);
  if (!strcmp(op, "pow_scalar") && s < 0) {
    tg_error("pow_scalar: integers to negative integer powers are not allowed");
    return false;
  }
  /* a bool tensor with an integer gives int64, as PyTorch */
  *cast_to = TG_INT64;
  return convert(a, TG_FLOAT64);
}

static bool name_in(const char *op, const char *const *names) {
  for (; *names; names++)
    if (!strcmp(op, *names)) return true;
  return false;
}

static const char *const int_keeping[] = {"neg", "abs", "relu", "square", "sign", "floor", "ceil",
                                          "round", "trunc", "clamp", "hardtanh", "relu6", NULL};
static const char *const bool_refusing[] = {"neg", "abs", "relu", "floor", "ceil", "round", "trunc",
                                            "hardtanh", "relu6", "softsign", NULL};
static const char *const float_only[] = {"leaky_relu", "elu", "softplus", "gelu", "silu", "mish",
                                         "selu", "celu", "hardsigmoid", "hardswish", "logsigmoid", "frac", NULL};

bool ops_promote_unary(const char *op, tg_tensor **a, tg_dtype *cast_to) {
  *cast_to = (tg_dtype)-1;
  if (!tg_tensor_check(*a, op, 1)) return false;
  tg_dtype dt = (*a)->dtype;
  if (name_in(op, float_only) || (dt == TG_BOOL && name_in(op, bool_refusing))) {
    tg_error("%s: not implemented for %s tensors", op, tg_dtype_name(dt));
    return false;
  }
  if (!name_in(op, int_keeping)) return convert(a, TG_FLOAT32);
  *cast_to = dt == TG_BOOL && strcmp(op, "sign") ? TG_INT64 : dt;
  return convert(a, TG_FLOAT64);
}

bool ops_promote_to_common(tg_tensor **a, tg_tensor **b) {
  tg_dtype rt = ops_result_type(*a, *b);
  return convert(a, rt) && convert(b, rt);
}

tg_tensor *ops_promote_back(tg_tensor *out, tg_dtype cast_to) {
  if (!out || (int)cast_to < 0) return out;
  return tg_to_dtype(out, cast_to);
}
