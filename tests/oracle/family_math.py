"""The unary math ops of ops/math.c (issue 10): logs and exps, trigonometric
and hyperbolic functions and inverses, erf/erfc, reciprocal, rsqrt, square,
sign and the rounding family, in domains that keep each derivative finite;
then int64/bool inputs for PyTorch 1.13's type promotion (forward only:
integer inputs carry no gradient)."""
import torch

from family_promotion import operand, with_default_float32
from oracle_gen import op, rshape, tensor


def unary(dom):
    def gen(rng):
        return [tensor(rng, rshape(rng), dom)], {}
    return gen


op("log1p", unary("pos"), lambda x, p: torch.log1p(x[0]))
op("expm1", unary("any"), lambda x, p: torch.expm1(x[0]))
op("log2", unary("pos"), lambda x, p: torch.log2(x[0]))
op("log10", unary("pos"), lambda x, p: torch.log10(x[0]))
op("exp2", unary("any"), lambda x, p: torch.exp2(x[0]))
op("tan", unary("unit"), lambda x, p: torch.tan(x[0]))
op("asin", unary("unit"), lambda x, p: torch.asin(x[0]))
op("acos", unary("unit"), lambda x, p: torch.acos(x[0]))
op("atan", unary("any"), lambda x, p: torch.atan(x[0]))
op("sinh", unary("any"), lambda x, p: torch.sinh(x[0]))
op("cosh", unary("any"), lambda x, p: torch.cosh(x[0]))
op("asinh", unary("any"), lambda x, p: torch.asinh(x[0]))
op("acosh", unary("gt1"), lambda x, p: torch.acosh(x[0]))
op("atanh", unary("unit"), lambda x, p: torch.atanh(x[0]))
op("erf", unary("any"), lambda x, p: torch.erf(x[0]))
op("erfc", unary("any"), lambda x, p: torch.erfc(x[0]))
op("erfinv", unary("unit"), lambda x, p: torch.erfinv(x[0]))
op("reciprocal", unary("away"), lambda x, p: torch.reciprocal(x[0]))
op("rsqrt", unary("pos"), lambda x, p: torch.rsqrt(x[0]))
op("square", unary("any"), lambda x, p: torch.square(x[0]))
op("sign", unary("any"), lambda x, p: torch.sign(x[0]), gg=False)
op("floor", unary("any"), lambda x, p: torch.floor(x[0]), gg=False)
op("ceil", unary("any"), lambda x, p: torch.ceil(x[0]), gg=False)
op("round", unary("any"), lambda x, p: torch.round(x[0]), gg=False)
op("trunc", unary("any"), lambda x, p: torch.trunc(x[0]), gg=False)
op("frac", unary("any"), lambda x, p: torch.frac(x[0]))

# sign and the rounding family have zero gradients (no double backward in
# torch to compare); the draws are continuous, so no point sits on a jump


def integer_unary(int_dom):
    def gen(rng):
        return [operand(rng, rshape(rng), rng.choice(["i64", "bool"]), "any", int_dom)], {}
    return gen


# the logs, reciprocal and rsqrt on positive integers (bool True), the rest
# on {-1, 0, 1} (atanh(+-1) = +-inf as in torch)
INT_DOMS = {"log2": "pos_int", "log10": "pos_int", "rsqrt": "pos_int", "reciprocal": "pos_int",
            "acosh": "pos_int", "log1p": "pos_int"}
for name in ['log1p', 'expm1', 'log2', 'log10', 'exp2', 'tan', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'acosh', 'atanh', 'erf', 'erfc', 'erfinv', 'reciprocal', 'rsqrt', 'square', 'sign', 'floor', 'ceil', 'round', 'trunc', 'frac']:
    op("promote_" + name, integer_unary(INT_DOMS.get(name, "int3")),
       with_default_float32(lambda x, p, f=getattr(torch, name): f(x[0])), c_name=name)


# ---- binary math (ops/binary_math.c)
from oracle_gen import bcast_shapes  # noqa: E402


def pair(da, db):
    def gen(rng):
        sa, sb = bcast_shapes(rng)
        return [tensor(rng, sa, da), tensor(rng, sb, db)], {}
    return gen


op("atan2", pair("any", "away"), lambda x, p: torch.atan2(x[0], x[1]))
# divisors away from 0; the quotient's jumps are measure zero for N(0,1) draws
op("fmod", pair("any", "away"), lambda x, p: torch.fmod(x[0], x[1]))
op("remainder", pair("any", "away"), lambda x, p: torch.remainder(x[0], x[1]))
op("hypot", pair("away", "away"), lambda x, p: torch.hypot(x[0], x[1]))
# a != 0: PyTorch's copysign gradient is 0 at a == 0 as tapegrad's, but its
# finite differences there are not. First order only: tapegrad's d/da is a
# constant +-1 mask (no second derivative); PyTorch's result/a has a graph
# whose second derivative is 0 up to rounding
op("copysign", pair("away", "any"), lambda x, p: torch.copysign(x[0], x[1]), gg=False)


def lerp_gen(rng):
    sa, sb = bcast_shapes(rng)
    sw = rng.choice([sa, sb, []])
    return [tensor(rng, sa), tensor(rng, sb), tensor(rng, sw, "any")], {}


op("lerp", lerp_gen, lambda x, p: torch.lerp(x[0], x[1], x[2]))


def lerp_scalar_gen(rng):
    sa, sb = bcast_shapes(rng)
    return [tensor(rng, sa), tensor(rng, sb)], {"w": rng.choice([0.0, 0.25, 0.5, 1.0, -1.5, 2.0])}


op("lerp_scalar", lerp_scalar_gen, lambda x, p: torch.lerp(x[0], x[1], p["w"]))


def int_pair(int_doms):
    def gen(rng):
        sa, sb = bcast_shapes(rng)
        dts = ["f64", "f32", "i64", "bool"]
        da, db = rng.choice(dts), rng.choice(dts)
        if da == db == "f64":
            db = rng.choice(dts[1:])
        return [operand(rng, sa, da, "any", int_doms[0]), operand(rng, sb, db, "away", int_doms[1])], {}
    return gen


# hypot's integer operands avoid 0, where PyTorch's float32 second derivative
# is rounding noise (-4e-6) of an exact 0
for name, doms in [("atan2", ("int3", "int3")), ("copysign", ("int3", "int3")), ("hypot", ("nonzero", "nonzero")),
                   ("fmod", ("int3", "nonzero")), ("remainder", ("int3", "nonzero")),
                   ("fmod_zero", ("int3", "int3")), ("remainder_zero", ("int3", "int3"))]:
    c = name.replace("_zero", "")
    op("promote_" + name, int_pair(doms), with_default_float32(lambda x, p, f=getattr(torch, c): f(x[0], x[1])),
       gg=c != "copysign", c_name=c)


# ---- clamp with tensor bounds (ops/binary_math.c)
op("clamp_min_tensor", pair("any", "any"), lambda x, p: torch.clamp_min(x[0], x[1]))
op("clamp_max_tensor", pair("any", "any"), lambda x, p: torch.clamp_max(x[0], x[1]))


def clamp3_gen(rng):
    sa, sb = bcast_shapes(rng)
    sc = rng.choice([sa, sb, [], sb[-1:] if sb else []])
    return [tensor(rng, sa), tensor(rng, sb), tensor(rng, sc, "any")], {}


# lo == hi with a below (PyTorch: no gradient to lo) does not occur in these
# float draws; the README lists that difference
op("clamp_tensor", clamp3_gen, lambda x, p: torch.clamp(x[0], min=x[1], max=x[2]))
for name in ("clamp_min_tensor", "clamp_max_tensor"):
    f = getattr(torch, name.replace("_tensor", ""))
    op("promote_" + name, int_pair(("int3", "int3")), with_default_float32(lambda x, p, f=f: f(x[0], x[1])),
       c_name=name)


# ---- nan_to_num: inputs with NaN and +-inf planted; posinf/neginf None or given
def nan_to_num_gen(rng):
    x = tensor(rng, rng.choice([[5], [2, 3], [4, 1, 2], []]))
    vals = x.values
    if len(vals):
        for _ in range(rng.randint(0, 3)):
            vals[rng.randrange(len(vals))] = rng.choice([float("nan"), float("inf"), -float("inf")])
    p = {"nan": rng.choice([0.0, 1.5, -2.0])}
    for k in ("posinf", "neginf"):
        if rng.random() < 0.5:
            p[k] = rng.choice([3.0, -1.0, 100.0])
    return [x], p


op("nan_to_num", nan_to_num_gen,
   lambda x, p: torch.nan_to_num(x[0], p["nan"], p.get("posinf"), p.get("neginf")))
