/* torch.nn.init: in-place fills without history. The scaled initialisers
 * pick a variance from the fans so that activations (xavier: both passes;
 * kaiming: one pass through a rectifier) keep their scale layer to layer. */
#include <math.h>

#include "nn_internal.h"

static bool check_float(const char *op, const tg_tensor *t) {
  if (!tg_tensor_check(t, op, 1)) return false;
  if (!tg_dtype_is_float(t->dtype)) {
    tg_error("%s: the tensor is %s; initialisers fill float32 or float64 tensors", op,
             tg_dtype_name(t->dtype));
    return false;
  }
  return true;
}

double tg_init_calculate_gain(tg_nonlinearity nl, double param) {
  switch (nl) {
  case TG_NL_LINEAR:
  case TG_NL_SIGMOID: return 1.0;
  case TG_NL_TANH: return 5.0 / 3.0;
  case TG_NL_RELU: return sqrt(2.0);
  case TG_NL_LEAKY_RELU: {
    double slope = isnan(param) ? 0.01 : param;
    return sqrt(2.0 / (1.0 + slope * slope));
  }
  case TG_NL_SELU: return 0.75;
  }
  tg_error("calculate_gain: unknown nonlinearity %d", (int)nl);
  return NAN;
}

static int fans(const char *op, const tg_tensor *t, size_t *fan_in, size_t *fan_out) {
  if (!tg_tensor_check(t, op, 1)) return -1;
  if (t->ndim < 2) {
    tg_error("%s: fan in and fan out need a tensor of at least 2 dims, got %d", op, t->ndim);
    return -1;
  }
  size_t receptive = 1; /* the kernel size of a conv weight [out, in, k...] */
  for (int d = 2; d < t->ndim; d++) receptive *= t->shape[d];
  if (fan_in) *fan_in = t->shape[1] * receptive;
  if (fan_out) *fan_out = t->shape[0] * receptive;
  return 0;
}

int tg_init_fans(const tg_tensor *t, size_t *fan_in, size_t *fan_out) {
  return fans("init_fans", t, fan_in, fan_out);
}

tg_tensor *tg_init_uniform_(tg_tensor *t, tg_rng *rng, double a, double b) {
  if (!check_float("init_uniform_", t)) return NULL;
  if (!(a <= b)) {
    tg_error("init_uniform_: lower bound %g is above upper bound %g", a, b);
    return NULL;
  }
  return tg_uniform_(t, rng, a, b);
}

tg_tensor *tg_init_normal_(tg_tensor *t, tg_rng *rng, double mean, double std) {
  if (!check_float("init_normal_", t)) return NULL;
  if (!(std >= 0)) {
    tg_error("init_normal_: std %g must be non-negative", std);
    return NULL;
  }
  return tg_normal_(t, rng, mean, std);
}

tg_tensor *tg_init_constant_(tg_tensor *t, double value) {
  return tg_tensor_check(t, "init_constant_", 1) ? tg_fill_(t, value) : NULL;
}
tg_tensor *tg_init_zeros_(tg_tensor *t) {
  return tg_tensor_check(t, "init_zeros_", 1) ? tg_fill_(t, 0.0) : NULL;
}
tg_tensor *tg_init_ones_(tg_tensor *t) {
  return tg_tensor_check(t, "init_ones_", 1) ? tg_fill_(t, 1.0) : NULL;
}

/* Glorot & Bengio: Var = 2 / (fan_in + fan_out), times gain^2 */
static double xavier_std(const char *op, const tg_tensor *t, double gain) {
  size_t fi, fo;
  if (!check_float(op, t) || fans(op, t, &fi, &fo) != 0) return NAN;
  return fi + fo ? gain * sqrt(2.0 / (double)(fi + fo)) : 0.0;
}

tg_tensor *tg_init_xavier_uniform_(tg_tensor *t, tg_rng *rng, double gain) {
  double std = xavier_std("init_xavier_uniform_", t, gain);
  if (isnan(std)) return NULL;
  double bound = sqrt(3.0) * std; /* U(-b, b) has std b/sqrt(3) */
  return tg_uniform_(t, rng, -bound, bound);
}

tg_tensor *tg_init_xavier_normal_(tg_tensor *t, tg_rng *rng, double gain) {
  double std = xavier_std("init_xavier_normal_", t, gain);
  return isnan(std) ? NULL : tg_normal_(t, rng, 0.0, std);
}

/* He et al.: Var = gain^2 / fan, fan_in preserves the forward pass,
 * fan_out the backward pass */
static double kaiming_std(const char *op, const tg_tensor *t, double a, tg_fan_mode mode,
                          tg_nonlinearity nl) {
  size_t fi, fo;
  if (!check_float(op, t) || fans(op, t, &fi, &fo) != 0) return NAN;
  if (mode != TG_FAN_IN && mode != TG_FAN_OUT) {
    tg_error("%s: mode must be TG_FAN_IN or TG_FAN_OUT, got %d", op, (int)mode);
    return NAN;
  }
  size_t fan = mode == TG_FAN_IN ? fi : fo;
  double gain = tg_init_calculate_gain(nl, a);
  if (isnan(gain)) return NAN;
  return fan ? gain / sqrt((double)fan) : 0.0; /* zero-element tensor: nothing to fill */
}

tg_tensor *tg_init_kaiming_uniform_(tg_tensor *t, tg_rng *rng, double a, tg_fan_mode mode,
                                    tg_nonlinearity nl) {
  double std = kaiming_std("init_kaiming_uniform_", t, a, mode, nl);
  if (isnan(std)) return NULL;
  double bound = sqrt(3.0) * std;
  return tg_uniform_(t, rng, -bound, bound);
}

tg_tensor *tg_init_kaiming_normal_(tg_tensor *t, tg_rng *rng, double a, tg_fan_mode mode,
                                   tg_nonlinearity nl) {
  double std = kaiming_std("init_kaiming_normal_", t, a, mode, nl);
  return isnan(std) ? NULL : tg_normal_(t, rng, 0.0, std);
}
