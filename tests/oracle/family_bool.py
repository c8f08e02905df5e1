"""Comparisons, logic, any/all, where and the mask ops (ops/compare.c,
ops/select.c), with mixed float32/float64/int64/bool operands."""
import math

import torch

from oracle_gen import Inp, bcast_shapes, numel, op, rand_dims, rshape

DTYPES = ["f64", "f32", "i64", "bool"]
SPECIAL = [math.nan, math.inf, -math.inf]


def plain(rng, shape, dtype, specials=True, rg=False):
    n = numel(shape)
    if dtype == "bool":
        vals = [float(rng.random() < 0.5) for _ in range(n)]
    elif dtype == "i64":
        vals = [float(rng.randint(-2, 2)) for _ in range(n)]
    else:
        vals = [rng.choice(SPECIAL) if specials and rng.random() < 0.1 else float(rng.randint(-4, 4)) / 2
                for _ in range(n)]
    return Inp(shape, vals, dtype, rg and dtype in ("f32", "f64"))


def pair(rng):
    sa, sb = bcast_shapes(rng)
    return [plain(rng, sa, rng.choice(DTYPES)), plain(rng, sb, rng.choice(DTYPES))], {}


def with_number(rng):
    return [plain(rng, rshape(rng), rng.choice(DTYPES))], {"s": rng.choice([0.0, 1.0, -1.0, 0.5, 1.5, -2.0])}


def one(rng):
    return [plain(rng, rshape(rng), rng.choice(DTYPES))], {}


def num(s):
    """an integral number acts as a Python int (as tapegrad's double does), up to 2^53"""
    return int(s) if float(s).is_integer() and abs(s) < 2 ** 53 else s


for name, fn in [("eq", torch.eq), ("ne", torch.ne), ("lt", torch.lt), ("le", torch.le),
                 ("gt", torch.gt), ("ge", torch.ge)]:
    op(name, pair, lambda x, p, fn=fn: fn(x[0], x[1]))
    op(name + "_scalar", with_number, lambda x, p, fn=fn: fn(x[0], num(p["s"])))
for name, fn in [("isnan", torch.isnan), ("isinf", torch.isinf), ("isfinite", torch.isfinite),
                 ("logical_not", torch.logical_not), ("any", torch.any), ("all", torch.all)]:
    op(name, one, lambda x, p, fn=fn: fn(x[0]))
for name, fn in [("logical_and", torch.logical_and), ("logical_or", torch.logical_or),
                 ("logical_xor", torch.logical_xor)]:
    op(name, pair, lambda x, p, fn=fn: fn(x[0], x[1]))


def along(rng):
    shape = rshape(rng)
    if shape and rng.random() < 0.1:
        shape[0] = 0
    return [plain(rng, shape, rng.choice(DTYPES))], {"dims": rand_dims(rng, len(shape)),
                                                      "keepdim": rng.randint(0, 1)}


def torch_any_all(fn):
    def run(x, p):
        t = x[0]
        dims = [d % max(t.dim(), 1) if -max(t.dim(), 1) <= d < max(t.dim(), 1) else 99 for d in p["dims"]]
        if len(set(dims)) != len(dims) or 99 in dims:
            raise RuntimeError("bad dims")
        # torch 1.13 any/all take one dim: reduce one at a time, highest first
        for d in sorted(dims, reverse=True):
            t = fn(t, d if x[0].dim() else 0, keepdim=kb(p)) if x[0].dim() else fn(t, 0, keepdim=kb(p))
        return t
    return run


def kb(p):
    return bool(p["keepdim"])


op("any_dims", along, torch_any_all(torch.any))
op("all_dims", along, torch_any_all(torch.all))


def where_gen(rng):
    sc, sa, sb = bcast_shapes(rng, 3)
    cond = plain(rng, sc, "bool" if rng.random() < 0.95 else "i64")
    return [cond, plain(rng, sa, rng.choice(DTYPES), False, True),
            plain(rng, sb, rng.choice(DTYPES), False, True)], {}


op("where", where_gen, lambda x, p: torch.where(x[0], x[1], x[2]))


def mask_gen(rng):
    sa, sm = bcast_shapes(rng, 2)
    a = plain(rng, sa, rng.choice(DTYPES), False, True)
    m = plain(rng, sm, "bool" if rng.random() < 0.93 else rng.choice(["i64", "f64"]))
    return [a, m], {"value": rng.choice([0.0, -1.5, 2.0, 1e300, 3.5e38, -math.inf, math.nan])}


def torch_masked_fill(x, p):
    if x[1].dtype != torch.bool:
        raise RuntimeError("mask must be bool")
    return torch.masked_fill(x[0], x[1], num(p["value"]) if math.isfinite(p["value"]) else p["value"])


op("masked_fill", mask_gen, torch_masked_fill)


def torch_masked_select(x, p):
    if x[1].dtype != torch.bool:
        raise RuntimeError("mask must be bool")
    return torch.masked_select(x[0], x[1])


op("masked_select", mask_gen, torch_masked_select)
op("nonzero", one, lambda x, p: torch.nonzero(x[0]))


def to_from_bool(rng):
    if rng.random() < 0.5:
        return [plain(rng, rshape(rng), rng.choice(DTYPES), rg=True)], {"dtype": "bool"}
    return [plain(rng, rshape(rng), "bool")], {"dtype": rng.choice(DTYPES)}


op("to_dtype_bool", to_from_bool, lambda x, p: x[0].to({"f64": torch.float64, "f32": torch.float32,
                                                         "i64": torch.int64, "bool": torch.bool}[p["dtype"]]))
