"""Binary (broadcasting), with-a-number and unary elementwise ops."""
import torch
import torch.nn.functional as F

from oracle_gen import bcast_shapes, op, rshape, tensor


def binary(doms):
    def gen(rng):
        sa, sb = bcast_shapes(rng)
        return [tensor(rng, sa, doms[0]), tensor(rng, sb, doms[1])], {}
    return gen


op("add", binary(("any", "any")), lambda x, p: x[0] + x[1])
op("sub", binary(("any", "any")), lambda x, p: x[0] - x[1])
op("mul", binary(("any", "any")), lambda x, p: x[0] * x[1])
op("div", binary(("any", "away")), lambda x, p: x[0] / x[1])
op("pow", binary(("pos", "any")), lambda x, p: torch.pow(x[0], x[1]))
# at zero bases and zero/negative exponents PyTorch's masked formulas decide
# (first order only: at those points PyTorch's second derivatives are NaN
# where tapegrad's masked ones are 0; README, "Where tapegrad differs")
op("pow_edge", binary(("nonneg", "int3")), lambda x, p: torch.pow(x[0], x[1]), gg=False, c_name="pow")
# mix draws ties: the gradient is split in half at equal operands
op("maximum", binary(("mix", "mix")), lambda x, p: torch.maximum(x[0], x[1]))
op("minimum", binary(("mix", "mix")), lambda x, p: torch.minimum(x[0], x[1]))


def with_number(choices, dom="any"):
    def gen(rng):
        s = rng.choice(choices) if rng.random() < 0.5 else rng.uniform(-3, 3)
        return [tensor(rng, rshape(rng), dom)], {"s": s}
    return gen


op("add_scalar", with_number([0.0, 1.5, -2.0]), lambda x, p: x[0] + p["s"])
op("sub_scalar", with_number([0.0, 1.5, -2.0]), lambda x, p: x[0] - p["s"])
op("rsub_scalar", with_number([0.0, 1.5, -2.0]), lambda x, p: p["s"] - x[0])
op("mul_scalar", with_number([0.0, 1.0, -2.0]), lambda x, p: x[0] * p["s"])
op("div_scalar", with_number([0.5, -2.0, 3.0]), lambda x, p: x[0] / p["s"])
op("pow_scalar", with_number([0.0, 1.0, 2.0, 3.0, 0.5, -1.0], "pos"), lambda x, p: x[0] ** p["s"])


def pow_scalar_edge(rng):
    return [tensor(rng, rshape(rng), "nonneg")], {"s": rng.choice([0.0, 1.0, 2.0, 3.0, 0.5, -1.0, 1.5])}


op("pow_scalar_edge", pow_scalar_edge, lambda x, p: x[0] ** p["s"], c_name="pow_scalar")


def unary(dom, params=None):
    def gen(rng):
        return [tensor(rng, rshape(rng), dom)], (params(rng) if params else {})
    return gen


op("neg", unary("any"), lambda x, p: -x[0])
op("exp", unary("any"), lambda x, p: torch.exp(x[0]))
op("log", unary("pos"), lambda x, p: torch.log(x[0]))
op("sqrt", unary("pos"), lambda x, p: torch.sqrt(x[0]))
op("abs", unary("mix"), lambda x, p: torch.abs(x[0]))
op("sin", unary("any"), lambda x, p: torch.sin(x[0]))
op("cos", unary("any"), lambda x, p: torch.cos(x[0]))
op("tanh", unary("any"), lambda x, p: torch.tanh(x[0]))
op("sigmoid", unary("any"), lambda x, p: torch.sigmoid(x[0]))
op("relu", unary("mix"), lambda x, p: torch.relu(x[0]))
op("leaky_relu", unary("mix", lambda r: {"slope": r.choice([0.01, 0.2, -0.5, 0.0])}),
   lambda x, p: F.leaky_relu(x[0], p["slope"]))
op("elu", unary("mix", lambda r: {"alpha": r.choice([1.0, 0.5, 2.0])}),
   lambda x, p: F.elu(x[0], p["alpha"]))


def softplus_params(rng):
    return {"beta": rng.choice([1.0, 2.0, 0.5, -1.0]), "threshold": rng.choice([20.0, 1.0, 0.5])}


op("softplus", unary("any", softplus_params), lambda x, p: F.softplus(x[0], p["beta"], p["threshold"]))


def clamp_params(rng):
    lo, hi = sorted([rng.choice([-1.0, 0.0, 0.5]), rng.choice([0.0, 1.0, 2.0])])
    r = rng.random()
    if r < 0.15:
        lo = float("nan")
    elif r < 0.3:
        hi = float("nan")
    elif r < 0.4:
        lo, hi = hi + 0.5, lo  # min > max: PyTorch gives max everywhere
    return {"lo": lo, "hi": hi}


def torch_clamp(x, p):
    lo = None if p["lo"] != p["lo"] else p["lo"]
    hi = None if p["hi"] != p["hi"] else p["hi"]
    return torch.clamp(x[0], lo, hi)


op("clamp", unary("mix", clamp_params), torch_clamp)
