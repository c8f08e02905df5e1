"""Splitting into views (split, chunk, unbind) and the copying shape ops
(flip, tril, triu)."""
import torch

from oracle_gen import op, rand_dim, rand_dims, rshape, tensor


def some_shape(rng, lo_nd=1, hi=4):
    """mostly lo_nd..4 dims; a few 0-d (the ops' errors or 0-d rules)"""
    return rshape(rng, 0 if rng.random() < 0.06 else lo_nd, 4, 1, hi)


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
    return [tensor(rng, shape)], {"dims": dims}


op("flip", flip_gen, lambda x, p: torch.flip(x[0], p["dims"]))


def tri_gen(rng):
    shape = some_shape(rng, 2 if rng.random() < 0.92 else 1, 5)
    return [tensor(rng, shape)], {"diagonal": rng.randint(-4, 4)}


op("tril", tri_gen, lambda x, p: torch.tril(x[0], p["diagonal"]))
op("triu", tri_gen, lambda x, p: torch.triu(x[0], p["diagonal"]))
