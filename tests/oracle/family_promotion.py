"""Type promotion: the arithmetic, comparison and selection ops with operands
of mixed float32/float64/int64/bool dtypes (ops/promote.c). The C names are
the ops' own; these entries only draw other dtypes. PyTorch runs with its
stock default dtype (float32) here, which decides the dtype of integer
true division and of an integer tensor with a fractional number."""
import torch

from oracle_gen import bcast_shapes, op, rshape, tensor

DTYPES = ["f64", "f32", "i64", "bool"]


def num(s):
    """tapegrad's numbers are doubles: an integral one acts as a Python int"""
    return int(s) if float(s).is_integer() else s


def with_default_float32(fn):
    def run(x, p):
        old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float32)
        try:
            return fn(x, p)
        finally:
            torch.set_default_dtype(old)
    return run


def operand(rng, shape, dtype, float_dom, int_dom):
    """a float operand requires grad; integer and bool ones are constants"""
    if dtype in ("f64", "f32"):
        return tensor(rng, shape, float_dom, dtype=dtype)
    dom = int_dom if dtype != "bool" else "pos" if int_dom == "pos_int" else "nonneg"
    return tensor(rng, shape, dom, rg=False, dtype=dtype)


def mixed_pair(float_doms=("any", "any"), int_doms=("int3", "int3")):
    def gen(rng):
        sa, sb = bcast_shapes(rng)
        da, db = rng.choice(DTYPES), rng.choice(DTYPES)
        if da == db == "f64":
            db = rng.choice(DTYPES[1:])
        return [operand(rng, sa, da, float_doms[0], int_doms[0]),
                operand(rng, sb, db, float_doms[1], int_doms[1])], {}
    return gen


def binary(name, fn, float_doms=("any", "any"), int_doms=("int3", "int3")):
    op("promote_" + name, mixed_pair(float_doms, int_doms), with_default_float32(fn), c_name=name)


binary("add", lambda x, p: x[0] + x[1])
binary("sub", lambda x, p: x[0] - x[1])  # any bool operand is refused
binary("mul", lambda x, p: x[0] * x[1])
binary("div", lambda x, p: x[0] / x[1], ("any", "away"), ("int3", "nonzero"))
# integer powers with negative exponents truncate toward zero; a zero integer
# base with a negative exponent is undefined in C and left out, and so are
# zero bases (bool False) where PyTorch's second derivatives are NaN (see pow_edge)
binary("pow", lambda x, p: torch.pow(x[0], x[1]), ("pos", "int3"), ("pos_int", "int3"))
binary("maximum", lambda x, p: torch.maximum(x[0], x[1]))
binary("minimum", lambda x, p: torch.minimum(x[0], x[1]))
def integer_with_number(rng):
    dt = rng.choice(["i64", "bool"])
    s = rng.choice([1.0, 2.0, -3.0, 0.5, -1.5])
    return [operand(rng, rshape(rng), dt, "any", "int3")], {"s": s}


for name, fn in [("add_scalar", lambda x, p: x[0] + num(p["s"])),
                 ("sub_scalar", lambda x, p: x[0] - num(p["s"])),
                 ("rsub_scalar", lambda x, p: num(p["s"]) - x[0]),
                 ("mul_scalar", lambda x, p: x[0] * num(p["s"])),
                 ("div_scalar", lambda x, p: x[0] / num(p["s"]))]:
    op("promote_" + name, integer_with_number, with_default_float32(fn), c_name=name)


def integer_pow_scalar(rng):
    dt = rng.choice(["i64", "bool"])
    return [operand(rng, rshape(rng), dt, "any", "pos_int")], {"s": rng.choice([0.0, 1.0, 2.0, 3.0, -1.0, 0.5])}


op("promote_pow_scalar", integer_pow_scalar, with_default_float32(lambda x, p: x[0] ** num(p["s"])),
   c_name="pow_scalar")


def integer_unary(rng):
    return [operand(rng, rshape(rng), rng.choice(["i64", "bool"]), "any", "int3")], {}


for name, fn in [("neg", lambda x: -x), ("abs", torch.abs), ("relu", torch.relu), ("exp", torch.exp),
                 ("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("sqrt", torch.sqrt),
                 ("sin", torch.sin), ("log", torch.log)]:
    op("promote_" + name, integer_unary, with_default_float32(lambda x, p, fn=fn: fn(x[0])), c_name=name)


def integer_clamp(rng):
    lo = rng.choice([-1.0, 0.0, -0.5])
    return [operand(rng, rshape(rng), rng.choice(["i64", "bool"]), "any", "int3")], \
        {"lo": lo, "hi": lo + rng.choice([1.0, 2.0, 1.5])}


op("promote_clamp", integer_clamp, with_default_float32(lambda x, p: torch.clamp(x[0], num(p["lo"]), num(p["hi"]))),
   c_name="clamp")


def integer_sum(rng):
    return [operand(rng, rshape(rng), rng.choice(["i64", "bool"]), "any", "int3")], {}


op("promote_sum", integer_sum, lambda x, p: x[0].sum(), c_name="sum")
