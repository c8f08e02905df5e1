"""Splitting into views (split, chunk, unbind, meshgrid) and the copying
shape ops (flip, tril, triu, roll, repeat, repeat_interleave, one_hot, ...)."""
import torch

from oracle_gen import Inp, numel, op, rand_dim, rand_dims, rshape, tensor


def some_shape(rng, lo_nd=1, hi=4):
    """mostly lo_nd..4 dims; a few 0-d (the ops' errors or 0-d rules)"""
    return rshape(rng, 0 if rng.random() < 0.06 else lo_nd, 4, 1, hi)


def int_tensor(rng, shape):
    """int64 values in [-5, 5], contiguous, no grad"""
    return Inp(shape, [float(rng.randint(-5, 5)) for _ in range(numel(shape))], "i64", False)


def dim_len(shape, dim):
    nd = len(shape)
    if nd == 0 or not -nd <= dim < nd:
        return None
    return shape[dim]


def split_gen(rng):
    shape = some_shape(rng, 1, 5)
    dim = rand_dim(rng, len(shape))
    n = dim_len(shape, dim) or 1
    sizes, left = [], n
    while left > 0 and len(sizes) < 5:
        k = rng.randint(0, left)
        sizes.append(k)
        left -= k
    sizes.append(left)
    if rng.random() < 0.1:
        sizes[rng.randrange(len(sizes))] += rng.choice([1, 2])  # sums past the dim
    return [tensor(rng, shape)], {"sizes": sizes, "dim": dim}


op("split", split_gen, lambda x, p: torch.split(x[0], p["sizes"], p["dim"]))


def split_size_gen(rng):
    shape = some_shape(rng, 1, 5)
    dim = rand_dim(rng, len(shape))
    n = dim_len(shape, dim) or 1
    size = rng.randint(1, n + 1) if rng.random() > 0.06 else 0
    return [tensor(rng, shape)], {"size": size, "dim": dim}


op("split_size", split_size_gen, lambda x, p: torch.split(x[0], p["size"], p["dim"]))


def chunk_gen(rng):
    shape = some_shape(rng, 1, 5)
    chunks = rng.randint(1, 6) if rng.random() > 0.06 else 0
    return [tensor(rng, shape)], {"chunks": chunks, "dim": rand_dim(rng, len(shape))}


op("chunk", chunk_gen, lambda x, p: torch.chunk(x[0], p["chunks"], p["dim"]))


def unbind_gen(rng):
    shape = some_shape(rng)
    return [tensor(rng, shape)], {"dim": rand_dim(rng, len(shape))}


op("unbind", unbind_gen, lambda x, p: torch.unbind(x[0], p["dim"]))


def flip_gen(rng):
    shape = some_shape(rng)
    dims = [] if rng.random() < 0.1 else rand_dims(rng, len(shape))
    if rng.random() < 0.1:  # integers flip too (no gradient)
        return [int_tensor(rng, shape)], {"dims": dims}
    return [tensor(rng, shape)], {"dims": dims}


op("flip", flip_gen, lambda x, p: torch.flip(x[0], p["dims"]))


def tri_gen(rng):
    shape = some_shape(rng, 2 if rng.random() < 0.92 else 1, 5)
    return [tensor(rng, shape)], {"diagonal": rng.randint(-4, 4)}


op("tril", tri_gen, lambda x, p: torch.tril(x[0], p["diagonal"]))
op("triu", tri_gen, lambda x, p: torch.triu(x[0], p["diagonal"]))


def roll_gen(rng):
    shape = some_shape(rng)
    if rng.random() < 0.25:
        return [tensor(rng, shape)], {"shifts": [rng.randint(-7, 7)], "dims": []}
    dims = rand_dims(rng, len(shape))
    shifts = [rng.randint(-7, 7) for _ in dims]
    if rng.random() < 0.05:
        shifts.append(1)  # shifts and dims do not align
    return [tensor(rng, shape)], {"shifts": shifts, "dims": dims}


op("roll", roll_gen, lambda x, p: torch.roll(x[0], p["shifts"], p["dims"]))


def repeat_gen(rng):
    shape = rshape(rng, 0, 3, 1, 3)
    n = max(len(shape) + rng.randint(0, 2) - (1 if rng.random() < 0.05 else 0), 0)
    return [tensor(rng, shape)], {"reps": [rng.randint(0, 3) for _ in range(n)]}


op("repeat", repeat_gen, lambda x, p: x[0].repeat(p["reps"]))


def tile_gen(rng):
    shape = rshape(rng, 0, 3, 1, 3)
    return [tensor(rng, shape)], {"reps": [rng.randint(0, 3) for _ in range(rng.randint(0, 4))]}


op("tile", tile_gen, lambda x, p: torch.tile(x[0], p["reps"]))


def diagonal_gen(rng):
    shape = some_shape(rng, 2, 5)
    nd = len(shape)
    if nd >= 2 and rng.random() > 0.08:
        d1, d2 = (d - nd * rng.randint(0, 1) for d in rng.sample(range(nd), 2))
    else:
        d1, d2 = rand_dim(rng, nd), rand_dim(rng, nd)
    return [tensor(rng, shape)], {"offset": rng.randint(-4, 4), "dim1": d1, "dim2": d2}


op("diagonal", diagonal_gen, lambda x, p: torch.diagonal(x[0], p["offset"], p["dim1"], p["dim2"]))


def diag_gen(rng):
    shape = rshape(rng, 1, 2, 1, 5) if rng.random() > 0.05 else rshape(rng, 3, 3)
    # an offset past a matrix: torch 1.13 fails ("integer multiplication
    # overflow"); tapegrad gives the empty diagonal, so such cases are not drawn
    hi = max(shape) if len(shape) == 2 else 3
    off = rng.randint(-hi, hi)
    if len(shape) == 2:
        off = max(min(off, shape[1]), -shape[0])
    return [tensor(rng, shape)], {"offset": off}


op("diag", diag_gen, lambda x, p: torch.diag(x[0], p["offset"]))


def trace_gen(rng):
    # torch 1.13's trace backward of a tall matrix (rows > cols) puts ones
    # off the diagonal (a bug); tapegrad's gradient is the identity's part,
    # so only wide and square matrices are compared
    r = rng.randint(1, 4)
    shape = [r, rng.randint(r, 5)] if rng.random() > 0.05 else rshape(rng, 1, 1)
    return [tensor(rng, shape)], {}


op("trace", trace_gen, lambda x, p: torch.trace(x[0]))


def pad_gen(rng):
    mode = rng.choice(["constant", "constant", "reflect", "replicate", "circular"])
    if mode == "constant":
        shape = rshape(rng, 1, 4, 1, 4)
        k = rng.randint(1, len(shape)) if rng.random() > 0.04 else len(shape) + 1
    else:
        k = rng.randint(1, 3)
        lead = rng.choice([1, 2] if mode != "circular" else [2]) if rng.random() > 0.06 else 0
        shape = [rng.randint(1, 3) for _ in range(lead)] + [rng.randint(2, 5) for _ in range(k)]
    pads = []
    for j in range(k):
        size = shape[-1 - j] if j < len(shape) else 1
        lim = size - 1 if mode == "reflect" else size
        lr = [rng.randint(-1, lim + (1 if rng.random() < 0.05 else 0)) for _ in range(2)]
        if mode in ("reflect", "replicate") and size + sum(lr) < 1:
            # torch 1.13 is not consistent about an output size of 0 or less
            # in these modes (a 2-d pad of a 3-d input may give size 0)
            lr = [max(v, 0) for v in lr]
        crop = size + sum(min(v, 0) for v in lr)
        if mode == "circular" and max(lr) > crop and max(lr) <= size:
            # torch 1.13 fills such a pad from its own unfilled output (a
            # deliberate difference: tapegrad refuses)
            lr = [min(v, crop) for v in lr]
        pads += lr
    if rng.random() < 0.03:
        pads.append(1)  # odd length
    return [tensor(rng, shape)], {"pad": pads, "mode": mode, "value": rng.choice([0.0, -1.5])}


op("pad", pad_gen, lambda x, p: torch.nn.functional.pad(x[0], p["pad"], p["mode"], p["value"]
                                                          if p["mode"] == "constant" else None))


def interleave_gen(rng, tensor_reps):
    # flattened: small inputs, so that a count per entry fits a parameter list
    flat = rng.random() < 0.3
    shape = rshape(rng, 0, 2, 1, 4) if flat else some_shape(rng, 1, 4)
    if shape and rng.random() < 0.05:
        shape[rng.randrange(len(shape))] = 0
    p = {} if flat else {"dim": rand_dim(rng, len(shape))}
    if rng.random() < 0.04:
        p["dim"] = rng.choice([0, -1])  # 0-d input with a dim: an error
        shape = []
    if not tensor_reps:
        p["repeats"] = rng.randint(0, 3) if rng.random() > 0.04 else -1
        if rng.random() < 0.1:
            return [int_tensor(rng, shape)], p
        return [tensor(rng, shape, views=0 not in shape)], p
    n = numel(shape) if flat else (dim_len(shape, p["dim"]) or 1)
    r = rng.random()
    if r < 0.15:
        n, p["scalar"] = 1, 1  # a 0-d count tensor
    elif r < 0.3:
        n = 1  # one count for all
    elif r < 0.36:
        n += rng.choice([-1, 1]) if n > 0 else 2  # a wrong count
    reps = [rng.randint(0, 3) for _ in range(n)]
    if reps and rng.random() < 0.04:
        reps[rng.randrange(len(reps))] = -1
    if rng.random() < 0.03:
        p["rows"] = 1  # a 2-d count tensor: an error
    p["reps"] = reps
    return [tensor(rng, shape, views=0 not in shape)], p


def reps_tensor(p):
    r = torch.tensor(p["reps"], dtype=torch.int64)
    return r.reshape(()) if p.get("scalar") else r.reshape(1, -1) if p.get("rows") else r


op("repeat_interleave", lambda rng: interleave_gen(rng, False),
   lambda x, p: torch.repeat_interleave(x[0], p["repeats"], p.get("dim")))
op("repeat_interleave_tensor", lambda rng: interleave_gen(rng, True),
   lambda x, p: torch.repeat_interleave(x[0], reps_tensor(p), p.get("dim")))


def one_hot_gen(rng):
    shape = rshape(rng, 0, 3, 0 if rng.random() < 0.1 else 1, 4)
    k = rng.randint(1, 5)
    vals = [float(rng.randrange(k)) for _ in range(numel(shape))]
    if vals and rng.random() < 0.05:
        vals[rng.randrange(len(vals))] = -1.0
    r = rng.random()
    nc = -1 if r < 0.4 else rng.choice([-2, 0]) if r < 0.46 else k + rng.randint(-1 if r < 0.55 else 0, 2)
    if rng.random() < 0.04:  # a float input: an error
        return [tensor(rng, shape, rg=False, views=0 not in shape)], {"num_classes": nc}
    return [Inp(shape, vals, "i64", False)], {"num_classes": nc}


op("one_hot", one_hot_gen, lambda x, p: torch.nn.functional.one_hot(x[0], p["num_classes"]), gg=False)


def meshgrid_gen(rng):
    n = rng.randint(1, 4) if rng.random() > 0.03 else 0
    ins = []
    for _ in range(n):
        r = rng.random()
        shape = [] if r < 0.15 else [rng.randint(0, 2)] if r < 0.2 else [3, 2] if r < 0.22 else [rng.randint(1, 4)]
        ins.append(tensor(rng, shape, views=0 not in shape, dtype="f32" if rng.random() < 0.03 else "f64"))
    return ins, {"n": n, "indexing": rng.choice(["ij", "xy", "none"]) if rng.random() > 0.03 else "ab"}


def meshgrid_torch(x, p):
    if p["indexing"] == "none":
        return torch.meshgrid(*x, indexing="ij")  # NULL: "ij" (torch 1.13 warns without one)
    return torch.meshgrid(*x, indexing=p["indexing"])


op("meshgrid", meshgrid_gen, meshgrid_torch)
