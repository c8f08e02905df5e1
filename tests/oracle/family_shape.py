"""Shapes and views."""
import torch

from oracle_gen import numel, op, rand_dim, rshape, tensor


def factor_shape(rng, n):
    """a random shape with n elements"""
    dims = []
    while n > 1 and len(dims) < 4:
        f = rng.choice([d for d in range(1, n + 1) if n % d == 0])
        dims.append(f)
        n //= f
    if n > 1:
        dims.append(n)
    if rng.random() < 0.3:
        dims.insert(rng.randint(0, len(dims)), 1)
    rng.shuffle(dims)
    return dims


def reshape_gen(rng):
    shape = rshape(rng)
    target = factor_shape(rng, numel(shape))
    r = rng.random()
    if target and r < 0.3:
        target[rng.randrange(len(target))] = -1
    elif r < 0.36:
        target = target + [2]  # wrong number of elements
    return [tensor(rng, shape)], {"shape": target}


op("reshape", reshape_gen, lambda x, p: x[0].reshape(p["shape"]))
op("view", reshape_gen, lambda x, p: x[0].view(p["shape"]))


def expand_gen(rng):
    shape = rshape(rng, 0, 3)
    target = [s if s != 1 or rng.random() < 0.5 else rng.randint(2, 3) for s in shape]
    if rng.random() < 0.3 and target:
        k = rng.randrange(len(target))
        target[k] = -1
    target = [rng.randint(1, 3) for _ in range(rng.randint(0, 2))] + target
    if rng.random() < 0.06 and shape and shape[-1] > 1:
        target[-1] = shape[-1] + 1
    return [tensor(rng, shape)], {"shape": target}


op("expand", expand_gen, lambda x, p: x[0].expand(p["shape"]))


def permute_gen(rng):
    shape = rshape(rng)
    dims = list(range(len(shape)))
    rng.shuffle(dims)
    dims = [d - len(shape) if rng.random() < 0.3 else d for d in dims]
    if rng.random() < 0.06 and dims:
        dims[0] = dims[-1] if len(dims) > 1 else 5
    return [tensor(rng, shape)], {"dims": dims}


op("permute", permute_gen, lambda x, p: x[0].permute(p["dims"]))


def flatten_gen(rng):
    shape = rshape(rng)
    return [tensor(rng, shape)], {"start": rand_dim(rng, len(shape)), "end": rand_dim(rng, len(shape))}


op("flatten", flatten_gen, lambda x, p: torch.flatten(x[0], p["start"], p["end"]))


def one_dim(insert=False):
    def gen(rng):
        shape = [1 if rng.random() < 0.4 else s for s in rshape(rng)]
        nd = len(shape) + (1 if insert else 0)
        return [tensor(rng, shape)], {"dim": rand_dim(rng, nd)}
    return gen


op("squeeze", one_dim(), lambda x, p: x[0].squeeze(p["dim"]))
op("squeeze_all", one_dim(), lambda x, p: x[0].squeeze())
op("unsqueeze", one_dim(True), lambda x, p: x[0].unsqueeze(p["dim"]))


def transpose_gen(rng):
    shape = rshape(rng)
    return [tensor(rng, shape)], {"d0": rand_dim(rng, len(shape)), "d1": rand_dim(rng, len(shape))}


op("transpose", transpose_gen, lambda x, p: x[0].transpose(p["d0"], p["d1"]))
op("t", lambda r: ([tensor(r, rshape(r, 0, 3))], {}), lambda x, p: x[0].t())


def narrow_gen(rng):
    shape = rshape(rng, 1, 4)
    dim = rand_dim(rng, len(shape), bad=0.03)
    size = shape[dim % len(shape)] if -len(shape) <= dim < len(shape) else 1
    start = rng.randint(0, size)
    length = rng.randint(0, size - start)
    if rng.random() < 0.2:
        start -= size  # negative start counts from the end
    if rng.random() < 0.04:
        length = size + 1
    return [tensor(rng, shape)], {"dim": dim, "start": start, "length": length}


op("narrow", narrow_gen, lambda x, p: x[0].narrow(p["dim"], p["start"], p["length"]))


def slice_gen(rng):
    shape = rshape(rng, 1, 4)
    dim = rand_dim(rng, len(shape), bad=0.03)
    n = 5
    return [tensor(rng, shape)], {"dim": dim, "start": rng.randint(-n, n), "end": rng.randint(-n, n),
                                 "step": rng.randint(1, 3)}


def torch_slice(x, p):
    d = p["dim"]
    if not -x[0].dim() <= d < x[0].dim():
        raise IndexError("dim out of range")
    return x[0][(slice(None),) * (d % x[0].dim()) + (slice(p["start"], p["end"], p["step"]),)]


op("slice", slice_gen, torch_slice)


def select_gen(rng):
    shape = rshape(rng, 1, 4)
    dim = rand_dim(rng, len(shape), bad=0.03)
    size = shape[dim % len(shape)] if -len(shape) <= dim < len(shape) else 1
    return [tensor(rng, shape)], {"dim": dim, "index": rng.randint(-size - 1 if rng.random() < 0.05 else -size,
                                                                     size - 1)}


op("select", select_gen, lambda x, p: x[0].select(p["dim"], p["index"]))
op("contiguous", lambda r: ([tensor(r, rshape(r))], {}), lambda x, p: x[0].contiguous())
op("clone", lambda r: ([tensor(r, rshape(r))], {}), lambda x, p: x[0].clone())


def to_dtype_gen(rng):
    return [tensor(rng, rshape(rng))], {"dtype": rng.choice(["f32", "f64", "i64"])}


TO = {"f32": torch.float32, "f64": torch.float64, "i64": torch.int64}
op("to_dtype", to_dtype_gen, lambda x, p: x[0].to(TO[p["dtype"]]))


def cat_gen(stack=False):
    def gen(rng):
        shape = rshape(rng, 0 if stack else 1, 3)
        n = rng.randint(1, 4)
        nd = len(shape) + (1 if stack else 0)
        dim = rand_dim(rng, nd, bad=0.03)
        shapes = []
        for _ in range(n):
            s = list(shape)
            if not stack and -len(s) <= dim < len(s):
                s[dim] = rng.randint(1, 3)
            shapes.append(s)
        if rng.random() < 0.05 and n > 1 and shapes[1]:
            shapes[1][-1] += 1  # sizes disagree
        return [tensor(rng, s) for s in shapes], {"dim": dim, "n": n}
    return gen


op("cat", cat_gen(), lambda x, p: torch.cat(x, p["dim"]))
op("stack", cat_gen(True), lambda x, p: torch.stack(x, p["dim"]))
