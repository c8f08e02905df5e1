"""The activations of ops/activation.c (issue 10): gelu (exact and tanh),
silu, mish, hardtanh/relu6, selu, celu, softsign, hardsigmoid, hardswish,
logsigmoid. Values N(0, 3^2) or, a quarter of the time, exactly on a kink
(+-3, 0, 6, the hardtanh bounds), where PyTorch's one-sided choices are
compared; then bad parameters and integer/bool inputs as PyTorch 1.13."""
import torch
import torch.nn.functional as F

from family_promotion import operand, with_default_float32
from oracle_gen import op, rshape, tensor

KINKS = [-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 6.0]


def act_values(rng, n, kinks):
    return [rng.choice(kinks) if rng.random() < 0.25 else rng.gauss(0, 3) for _ in range(n)]


def unary(params=None, kinks=KINKS):
    def gen(rng):
        t = tensor(rng, rshape(rng))
        t.values = act_values(rng, len(t.values), kinks)
        return [t], (params(rng) if params else {})
    return gen


def hardsigmoid_exact(x):
    """torch 1.13's float64 hardsigmoid gradient is the float32 constant
    1/6 (0.16666667163); tapegrad's is the exact 1/6: the reference keeps
    torch's forward and puts the exact gradient on the same open (-3, 3)"""
    inside = ((x > -3) & (x < 3)).to(x.dtype) / 6
    return F.hardsigmoid(x).detach() + (x - x.detach()) * inside


op("gelu", unary(lambda r: {"approximate": r.choice(["none", "tanh", "none", "tanh", "Tanh", "erf"])}),
   lambda x, p: F.gelu(x[0], approximate=p["approximate"]))
op("silu", unary(), lambda x, p: F.silu(x[0]))
op("mish", unary(), lambda x, p: F.mish(x[0]))


def hardtanh_params(rng):
    lo, hi = rng.choice([(-1.0, 1.0), (-1.0, 1.0), (-0.5, 2.0), (0.0, 6.0), (-3.0, 0.5), (1.0, 1.0), (2.0, 1.0)])
    return {"min_val": lo, "max_val": hi}


op("hardtanh", unary(hardtanh_params), lambda x, p: F.hardtanh(x[0], p["min_val"], p["max_val"]))
op("relu6", unary(), lambda x, p: F.relu6(x[0]))
op("selu", unary(), lambda x, p: F.selu(x[0]))
op("celu", unary(lambda r: {"alpha": r.choice([1.0, 0.5, 2.0, -1.5, 0.0])}),
   lambda x, p: F.celu(x[0], p["alpha"]))
op("softsign", unary(), lambda x, p: F.softsign(x[0]))
# no double backward: torch 1.13 raises "derivative for hardsigmoid_backward
# is not implemented"; tapegrad's second derivative is 0
op("hardsigmoid", unary(), lambda x, p: hardsigmoid_exact(x[0]), gg=False)
# not at x = 3: torch 1.13's gradient there is 1.5 in its scalar loop (the
# x/3 + 1/2 of the closed [-3, 3] it documents) but 1 in its vectorised loop
# (8 float64 at a time), so it depends on the element's position; tapegrad
# gives 1.5 everywhere. x = -3 (gradient -1/2) agrees in both loops.
op("hardswish", unary(kinks=[k for k in KINKS if k != 3.0]), lambda x, p: F.hardswish(x[0]))
op("logsigmoid", unary(), lambda x, p: F.logsigmoid(x[0]))


# ---- integer and bool inputs (forward only: they carry no gradient)
def integer_unary(params=None):
    def gen(rng):
        return [operand(rng, rshape(rng), rng.choice(["i64", "bool"]), "any", "nonzero")], \
            (params(rng) if params else {})
    return gen


def int_hardtanh_params(rng):
    lo, hi = rng.choice([(-1.0, 1.0), (-1.5, 2.5), (0.0, 2.0), (2.0, 1.0)])
    return {"min_val": lo, "max_val": hi}


INT_CASES = [
    ("gelu", lambda r: {"approximate": r.choice(["none", "tanh"])},
     lambda x, p: F.gelu(x[0], approximate=p["approximate"])),
    ("silu", None, lambda x, p: F.silu(x[0])),
    ("mish", None, lambda x, p: F.mish(x[0])),
    ("hardtanh", int_hardtanh_params, lambda x, p: F.hardtanh(x[0], p["min_val"], p["max_val"])),
    ("relu6", None, lambda x, p: F.relu6(x[0])),
    ("selu", None, lambda x, p: F.selu(x[0])),
    ("celu", lambda r: {"alpha": 1.0}, lambda x, p: F.celu(x[0], p["alpha"])),
    ("softsign", None, lambda x, p: F.softsign(x[0])),
    ("hardsigmoid", None, lambda x, p: F.hardsigmoid(x[0])),
    ("hardswish", None, lambda x, p: F.hardswish(x[0])),
    ("logsigmoid", None, lambda x, p: F.logsigmoid(x[0])),
]
for name, params, fn in INT_CASES:
    op("promote_" + name, integer_unary(params), with_default_float32(fn), c_name=name)
