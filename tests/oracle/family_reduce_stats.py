"""Statistics, scans and sorting (ops/reduce_stats.c, scan.c, sort.c): prod,
std, norms, amax/amin, arg-extremes, median, kthvalue, cumsum/cumprod,
logcumsumexp, sort, topk, unique. family_reduce.py has sum/mean/var/max/min."""
import math

import torch

from oracle_gen import Inp, numel, op, rand_dim, rand_dims, rshape
from oracle_gen import tensor as any_view


def tensor(rng, shape, dom="any", rg=True):
    """views of an empty tensor are left out (the base shape would be negative)"""
    return any_view(rng, shape, dom, rg=rg, views=numel(shape) > 0)


def kb(p):
    return bool(p["keepdim"])


def shape_maybe_empty(rng):
    shape = rshape(rng)
    if shape and rng.random() < 0.08:
        shape[rng.randrange(len(shape))] = 0
    return shape


def with_zeros(rng, shape, dom="any"):
    """an input with none, one or two zeros (prod/cumprod's special cases)"""
    t = tensor(rng, shape, dom)
    n = len(t.values)
    for _ in range(rng.choice([0, 1, 1, 2, 2, 3]) if n else 0):
        t.values[rng.randrange(n)] = 0.0
    return t


def int_input(rng, shape):
    return Inp(shape, [float(rng.randint(-3, 3)) for _ in range(numel(shape))], "i64", False)


def one_dim(dom="any", zeros=False, empty=False):
    def gen(rng):
        shape = shape_maybe_empty(rng) if empty else rshape(rng)
        x = with_zeros(rng, shape, dom) if zeros else tensor(rng, shape, dom)
        return [x], {"dim": rand_dim(rng, len(shape)), "keepdim": rng.randint(0, 1)}
    return gen


def prod_all(rng):
    return [with_zeros(rng, rshape(rng))], {}


# with two or more zeros in a slot PyTorch's double backward is zero, tapegrad's the true
# second derivative (README): inputs with zeros are checked to first order, zero-free ones twice
op("prod", prod_all, lambda x, p: x[0].prod(), gg=False)
op("prod_gg", lambda rng: ([tensor(rng, rshape(rng))], {}), lambda x, p: x[0].prod(), c_name="prod")
op("prod_dim", one_dim(zeros=True), lambda x, p: x[0].prod(p["dim"], keepdim=kb(p)), gg=False)
op("prod_dim_gg", one_dim(), lambda x, p: x[0].prod(p["dim"], keepdim=kb(p)), c_name="prod_dim")


def std_all(rng):
    shape = rshape(rng)
    x = tensor(rng, shape, "mix")
    return [x], {"unbiased": rng.randint(0, 1) if numel(shape) > 1 else 0}


op("std", std_all, lambda x, p: x[0].std(unbiased=bool(p["unbiased"])), gg=False)


def std_along(rng):
    """no input expanded along a reduced dim: a slot of equal values has std 0 and gradient
    0 in tapegrad, while PyTorch's std there is a rounding residue and its gradient O(1)
    noise (README)"""
    while True:
        shape = rshape(rng)
        p = {"dims": rand_dims(rng, len(shape)), "keepdim": rng.randint(0, 1), "unbiased": rng.randint(0, 1)}
        x = tensor(rng, shape, "any")
        if x.view[0] != "e" or all(d % len(shape) != x.view[1] for d in p["dims"] if -len(shape) <= d < len(shape)):
            return [x], p


op("std_dims", std_along, lambda x, p: x[0].std(p["dims"], unbiased=bool(p["unbiased"]), keepdim=kb(p)))

NORM_P = [1.0, 2.0, "inf", "-inf", 0.5, 3.0, "fro", 0.0]


def torch_p(p):
    v = p["p"]
    return {"inf": math.inf, "-inf": -math.inf}.get(v, v) if isinstance(v, str) else v


def norm_gen(vector):
    def gen(rng):
        shape = shape_maybe_empty(rng)
        pp = rng.choice(NORM_P if not vector else [q for q in NORM_P if q != "fro"])
        if pp in ("-inf", 0.0) or (isinstance(pp, float) and pp < 1):
            dom = "away"  # zeros: PyTorch's gradients are NaN/inf there
        else:
            dom = "any"
        params = {"p": pp, "dims": rand_dims(rng, len(shape)), "keepdim": rng.randint(0, 1)}
        return [tensor(rng, shape, dom)], params
    return gen


def torch_norm(x, p):
    if p["p"] == "fro" and len(p["dims"]) > 2:
        # torch.norm's "fro" takes at most 2 dims; tapegrad's "fro" is p = 2 over any dims
        return torch.norm(x[0], 2, p["dims"], keepdim=kb(p))
    if p["p"] == "fro":
        return torch.norm(x[0], "fro", p["dims"], keepdim=kb(p))
    return torch.norm(x[0], torch_p(p), p["dims"], keepdim=kb(p))


op("norm", norm_gen(False), torch_norm)
def nan_norm(rng):
    """inf norms with a NaN: NaN wins, as PyTorch"""
    shape = [rng.randint(1, 4) for _ in range(rng.randint(1, 3))]
    x = tensor(rng, shape, "away")
    x.values[rng.randrange(len(x.values))] = math.nan
    return [x], {"p": rng.choice(["inf", "-inf"]), "dims": rand_dims(rng, len(shape), bad=0),
                 "keepdim": rng.randint(0, 1)}


op("norm_nan", nan_norm, torch_norm, c_name="norm")
op("linalg_vector_norm_nan", nan_norm,
   lambda x, p: torch.linalg.vector_norm(x[0], torch_p(p), p["dims"], keepdim=kb(p)), c_name="linalg_vector_norm")
op("linalg_vector_norm", norm_gen(True),
   lambda x, p: torch.linalg.vector_norm(x[0], torch_p(p), p["dims"], keepdim=kb(p)))


def amax_gen(rng):
    shape = shape_maybe_empty(rng)
    return [tensor(rng, shape, "mix")], {"dims": rand_dims(rng, len(shape)), "keepdim": rng.randint(0, 1)}


op("amax", amax_gen, lambda x, p: torch.amax(x[0], p["dims"], keepdim=kb(p)))
op("amin", amax_gen, lambda x, p: torch.amin(x[0], p["dims"], keepdim=kb(p)))


def arg_all(rng):
    shape = shape_maybe_empty(rng)
    x = int_input(rng, shape) if rng.random() < 0.3 else tensor(rng, shape, "distinct", rg=False)
    return [x], {}


def arg_dim(rng):
    shape = shape_maybe_empty(rng)
    x = int_input(rng, shape) if rng.random() < 0.3 else tensor(rng, shape, "distinct", rg=False)
    return [x], {"dim": rand_dim(rng, len(shape)), "keepdim": rng.randint(0, 1)}


op("argmax", arg_all, lambda x, p: torch.argmax(x[0]))
op("argmin", arg_all, lambda x, p: torch.argmin(x[0]))
op("argmax_dim", arg_dim, lambda x, p: torch.argmax(x[0], p["dim"], keepdim=kb(p)))
op("argmin_dim", arg_dim, lambda x, p: torch.argmin(x[0], p["dim"], keepdim=kb(p)))
op("median", lambda rng: ([tensor(rng, rshape(rng), "distinct")], {}), lambda x, p: x[0].median())
op("median_dim", one_dim("distinct"), lambda x, p: tuple(torch.median(x[0], p["dim"], keepdim=kb(p))))


def kth_gen(rng):
    shape = rshape(rng)
    d = rand_dim(rng, len(shape))
    n = shape[d] if shape and -len(shape) <= d < len(shape) else 1
    return [tensor(rng, shape, "distinct")], {"k": rng.randint(0, n + 1) if rng.random() < 0.1 else
                                             rng.randint(1, n), "dim": d, "keepdim": rng.randint(0, 1)}


op("kthvalue", kth_gen, lambda x, p: tuple(torch.kthvalue(x[0], int(p["k"]), p["dim"], keepdim=kb(p))))


def scan_gen(dom="any", zeros=False, ints=False):
    def gen(rng):
        shape = shape_maybe_empty(rng)
        if ints and rng.random() < 0.3:
            x = int_input(rng, shape)
        else:
            x = with_zeros(rng, shape, dom) if zeros else tensor(rng, shape, dom)
        return [x], {"dim": rand_dim(rng, len(shape))}
    return gen


op("cumsum", scan_gen(ints=True), lambda x, p: torch.cumsum(x[0], p["dim"]))
# one zero per slot at most for double backward (PyTorch's is wrong with two, see README)
op("cumprod", scan_gen(zeros=True), lambda x, p: torch.cumprod(x[0], p["dim"]), gg=False)
op("cumprod_gg", scan_gen(), lambda x, p: torch.cumprod(x[0], p["dim"]), c_name="cumprod")
op("logcumsumexp", scan_gen(), lambda x, p: torch.logcumsumexp(x[0], p["dim"]))


def inf_scan(rng):
    """+-inf planted (NaN now and then); 0-d inputs too. The gradient follows
    PyTorch 1.13's formula, NaN pattern included: NaN at +inf and at -inf
    before any finite element of the lane, 0 after a +inf"""
    shape = [rng.randint(1, 4) for _ in range(rng.randint(0, 3))]
    x = tensor(rng, shape, "any")
    for k in range(len(x.values)):
        if rng.random() < 0.4:
            x.values[k] = rng.choice([math.inf, -math.inf, math.inf, -math.inf, math.nan])
    return [x], {"dim": rand_dim(rng, len(shape), bad=0)}


op("logcumsumexp_inf", inf_scan, lambda x, p: torch.logcumsumexp(x[0], p["dim"]), c_name="logcumsumexp")


def sort_gen(rng):
    shape = shape_maybe_empty(rng)
    x = int_input(rng, shape) if rng.random() < 0.25 else tensor(rng, shape, "distinct")
    return [x], {"dim": rand_dim(rng, len(shape)), "descending": rng.randint(0, 1)}


op("sort", sort_gen, lambda x, p: tuple(torch.sort(x[0], dim=p["dim"], descending=bool(p["descending"]),
                                                   stable=True)))


def topk_gen(rng):
    shape = shape_maybe_empty(rng)
    d = rand_dim(rng, len(shape))
    n = shape[d] if shape and -len(shape) <= d < len(shape) else 1
    k = rng.randint(0, n + 1) if rng.random() < 0.15 else rng.randint(min(1, n), n)
    return [tensor(rng, shape, "distinct")], {"k": k, "dim": d, "largest": rng.randint(0, 1)}


op("topk", topk_gen, lambda x, p: tuple(torch.topk(x[0], int(p["k"]), p["dim"], largest=bool(p["largest"]))))


def unique_gen(rng):
    shape = shape_maybe_empty(rng)
    kind = rng.choice(["f64", "i64", "bool"])
    vals = [float(rng.randint(-2, 2)) for _ in range(numel(shape))]
    if kind == "bool":
        vals = [float(v > 0) for v in vals]
    return [Inp(shape, vals, kind, False)], {}


op("unique", unique_gen,
   lambda x, p: tuple(torch.unique(x[0], sorted=True, return_inverse=True, return_counts=True)))
