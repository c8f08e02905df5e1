/* The oracle's table of the unary math ops (ops/math.c). */
#include <math.h>

#include "oracle_ops.h"

ONE(log1p, tg_log1p(x[0]))
ONE(expm1, tg_expm1(x[0]))
ONE(log2, tg_log2(x[0]))
ONE(log10, tg_log10(x[0]))
ONE(exp2, tg_exp2(x[0]))
ONE(tan, tg_tan(x[0]))
ONE(asin, tg_asin(x[0]))
ONE(acos, tg_acos(x[0]))
ONE(atan, tg_atan(x[0]))
ONE(sinh, tg_sinh(x[0]))
ONE(cosh, tg_cosh(x[0]))
ONE(asinh, tg_asinh(x[0]))
ONE(acosh, tg_acosh(x[0]))
ONE(atanh, tg_atanh(x[0]))
ONE(erf, tg_erf(x[0]))
ONE(erfc, tg_erfc(x[0]))
ONE(erfinv, tg_erfinv(x[0]))
ONE(reciprocal, tg_reciprocal(x[0]))
ONE(rsqrt, tg_rsqrt(x[0]))
ONE(square, tg_square(x[0]))
ONE(sign, tg_sign(x[0]))
ONE(floor, tg_floor(x[0]))
ONE(ceil, tg_ceil(x[0]))
ONE(round, tg_round(x[0]))
ONE(trunc, tg_trunc(x[0]))
ONE(frac, tg_frac(x[0]))
ONE(nan_to_num, tg_nan_to_num(x[0], NUM("nan", 0), NUM("posinf", NAN), NUM("neginf", NAN)))
ONE(atan2, tg_atan2(x[0], x[1]))
ONE(clamp_tensor, tg_clamp_tensor(x[0], x[1], x[2]))
ONE(clamp_min_tensor, tg_clamp_min_tensor(x[0], x[1]))
ONE(clamp_max_tensor, tg_clamp_max_tensor(x[0], x[1]))
ONE(fmod, tg_fmod(x[0], x[1]))
ONE(remainder, tg_remainder(x[0], x[1]))
ONE(hypot, tg_hypot(x[0], x[1]))
ONE(copysign, tg_copysign(x[0], x[1]))
ONE(lerp, tg_lerp(x[0], x[1], x[2]))
ONE(lerp_scalar, tg_lerp_scalar(x[0], x[1], NUM("w", 0.5)))

const oracle_op oracle_math_ops[] = {
    E(log1p),
    E(expm1),
    E(log2),
    E(log10),
    E(exp2),
    E(tan),
    E(asin),
    E(acos),
    E(atan),
    E(sinh),
    E(cosh),
    E(asinh),
    E(acosh),
    E(atanh),
    E(erf),
    E(erfc),
    E(erfinv),
    E(reciprocal),
    E(rsqrt),
    E(square),
    E(sign),
    E(floor),
    E(ceil),
    E(round),
    E(trunc),
    E(frac), E(nan_to_num),
    E(atan2), E(fmod), E(remainder), E(hypot), E(copysign), E(lerp), E(lerp_scalar), E(clamp_tensor), E(clamp_min_tensor), E(clamp_max_tensor),
    {NULL, NULL},
};
