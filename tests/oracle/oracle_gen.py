"""Random case generators for the PyTorch oracle: shapes, broadcast pairs,
value domains, non-contiguous views, and the op registry the families fill."""
import math

REGISTRY = []


class Inp:
    """A base tensor (shape, flat values) and the view the op receives."""

    def __init__(self, shape, values, dtype="f64", rg=True, view=("c",)):
        self.shape, self.values, self.dtype, self.rg, self.view = list(shape), values, dtype, rg, view
        self.ggw = None


class Case:
    def __init__(self, spec, inputs, params):
        self.spec, self.inputs, self.params = spec, inputs, params
        self.gg = False
        self.expect = None
        self.gouts = []
        self.id = ""


class Spec:
    """An op: name, C name in the runner, generator draw(rng) -> (inputs,
    params), PyTorch function (views, params) -> tensor(s), and whether
    double backward is compared."""

    def __init__(self, name, gen, torch_fn, gg=True, c_name=None):
        self.name, self.gen, self.torch_fn, self.gg_ok = name, gen, torch_fn, gg
        self.c_name = c_name or name

    def draw(self, rng):
        inputs, params = self.gen(rng)
        case = Case(self, inputs, params)
        case.gg = self.gg_ok and rng.random() < 0.5
        return case


def op(name, gen, torch_fn, gg=True, c_name=None):
    REGISTRY.append(Spec(name, gen, torch_fn, gg, c_name))


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def rshape(rng, lo_nd=0, hi_nd=4, lo=1, hi=4):
    return [rng.randint(lo, hi) for _ in range(rng.randint(lo_nd, hi_nd))]


KINKS = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]


def value(rng, dom):
    """One value of a domain: any N(0,1); pos [0.5,2); away |x|>=0.25; unit
    (-0.9,0.9); mix: N(0,1) or, 30% of the time, a kink point (ties, zeros);
    nonneg: pos or 0; gt1 [1.2,3.2); int3 {-1,0,1}; nonzero {-3..3} without 0; pos_int
    {1,2,3}."""
    if dom == "any":
        return rng.gauss(0, 1)
    if dom == "pos":
        return 0.5 + 1.5 * rng.random()
    if dom == "away":
        m = 0.25 + abs(rng.gauss(0, 1))
        return m if rng.random() < 0.5 else -m
    if dom == "unit":
        return rng.uniform(-0.9, 0.9)
    if dom == "mix":
        return rng.choice(KINKS) if rng.random() < 0.3 else rng.gauss(0, 1)
    if dom == "nonneg":
        return 0.0 if rng.random() < 0.25 else 0.5 + 1.5 * rng.random()
    if dom == "int3":
        return float(rng.randint(-1, 1))
    if dom == "nonzero":
        return float(rng.choice([-3, -2, -1, 1, 2, 3]))
    if dom == "pos_int":
        return float(rng.randint(1, 3))
    if dom == "gt1":  # acosh: derivative finite
        return 1.2 + 2.0 * rng.random()
    if dom == "prob":
        return rng.uniform(0.05, 0.95)
    raise ValueError(dom)


def values(rng, n, dom):
    if dom == "distinct":  # well separated: no ties for max/min/sort
        vs = [0.2 * k + 0.05 * rng.random() for k in range(n)]
        rng.shuffle(vs)
        shift = rng.uniform(-0.1 * n, 0.0)
        return [v + shift for v in vs]
    return [value(rng, dom) for _ in range(n)]


def tensor(rng, shape, dom="any", rg=True, views=True, dtype="f64"):
    """An input the op sees with `shape`, taken as a random view of a base:
    contiguous, transposed, strided (step 2), narrowed or expanded."""
    shape = list(shape)
    nd = len(shape)
    kinds = ["c", "c"]
    if views and nd >= 1:
        kinds += ["s", "n"]
        if nd >= 2:
            kinds += ["t", "t"]
        if dom != "distinct" and any(s > 1 for s in shape):
            kinds += ["e"]
    kind = rng.choice(kinds)
    base, view = list(shape), ("c",)
    if kind == "t":
        d0, d1 = sorted(rng.sample(range(nd), 2))
        base[d0], base[d1] = base[d1], base[d0]
        view = ("t", d0, d1)
    elif kind == "s":
        d = rng.randrange(nd)
        base[d] = 2 * shape[d] - 1 + rng.randint(0, 1)
        view = ("s", d)
    elif kind == "n":
        d = rng.randrange(nd)
        extra = rng.randint(1, 2)
        start = rng.randint(0, extra)
        base[d] = shape[d] + extra
        view = ("n", d, start, shape[d])
    elif kind == "e":
        d = rng.choice([k for k in range(nd) if shape[k] > 1])
        base[d] = 1
        view = ("e", d, shape[d])
    return Inp(base, values(rng, numel(base), dom), dtype, rg, view)


def bool_tensor(rng, shape, p_true=0.5):
    """a bool mask, contiguous, no grad"""
    return Inp(shape, [1.0 if rng.random() < p_true else 0.0 for _ in range(numel(shape))], "bool", False)


def index_tensor(rng, shape, hi):
    """int64 indices in [0, hi), contiguous, no grad"""
    return Inp(shape, [float(rng.randrange(hi)) if hi > 0 else 0.0 for _ in range(numel(shape))], "i64", False)


def bcast_shapes(rng, k=2, bad=0.08):
    """k shapes that broadcast together (trailing dims, some set to 1); with
    probability `bad` two of them conflict in their last dim"""
    out = rshape(rng)
    shapes = []
    for _ in range(k):
        nd = rng.randint(0, len(out))
        s = out[len(out) - nd:]
        shapes.append([1 if rng.random() < 0.3 else d for d in s])
    if rng.random() < bad and k >= 2 and shapes[0] and shapes[1]:
        shapes[0][-1], shapes[1][-1] = 2, 3
    return shapes


def rand_dims(rng, nd, bad=0.08):
    """a non-empty subset of dims in random order, some negative; sometimes
    out of range or repeated (PyTorch's errors)"""
    if nd == 0:
        dims = [rng.choice([0, -1])]
    else:
        dims = rng.sample(range(nd), rng.randint(1, nd))
        dims = [d - nd if rng.random() < 0.3 else d for d in dims]
    r = rng.random()
    if r < bad / 2:
        dims.append(max(nd, 1) + rng.randint(0, 2))
    elif r < bad:
        dims.append(dims[0])
    return dims


def rand_dim(rng, nd, bad=0.06):
    """one dim in [-nd, nd) (0-d: 0 or -1), sometimes out of range"""
    if rng.random() < bad:
        return rng.choice([max(nd, 1), -max(nd, 1) - 1])
    n = max(nd, 1)
    return rng.randint(-n, n - 1)


def isclose_int(x):
    return abs(x - round(x)) < 1e-12 and math.isfinite(x)


def as_int64(gen, which, mix=True, mixed_rg=True):
    """the float inputs `which` of gen's cases as int64 constants (small
    integers; no gradient); with `mix`, now and then one left float64, a
    dtype mismatch (requiring grad unless not `mixed_rg`)"""
    def g(rng):
        inputs, params = gen(rng)
        keep = rng.choice(which) if mix and len(which) > 1 and rng.random() < 0.05 else None
        for k in which:
            if k >= len(inputs):
                continue
            k = k % len(inputs)
            if k == keep:
                inputs[k].rg = inputs[k].rg and mixed_rg
            else:
                inputs[k].dtype, inputs[k].rg = "i64", False
                inputs[k].values = [float(round(2 * v)) for v in inputs[k].values]
        return inputs, params
    return g
