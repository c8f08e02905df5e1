"""Products, softmax and the indexing ops."""
import torch

from oracle_gen import as_int64, index_tensor, op, rand_dim, rshape, tensor


def matmul_shapes(rng):
    n, m, k = (rng.randint(1, 4) for _ in range(3))
    kind = rng.randrange(6)
    if kind == 0:
        sa, sb = [k], [k]
    elif kind == 1:
        sa, sb = [n, k], [k, m]
    elif kind == 2:
        sa, sb = [n, k], [k]
    elif kind == 3:
        sa, sb = [k], [k, m]
    else:
        batch = rshape(rng, 1, 2, 1, 3)
        ba = [1 if rng.random() < 0.3 else b for b in batch]
        bb = [1 if rng.random() < 0.3 else b for b in batch][rng.randint(0, len(batch)):]
        sa, sb = ba + [n, k], bb + [k, m]
        if kind == 5 and rng.random() < 0.5:
            sb = [k]
    if rng.random() < 0.06:
        sb = list(sb)
        sb[0 if len(sb) == 1 else -2] = k + 1  # inner sizes disagree
    if rng.random() < 0.03:
        sa = []  # 0-d operand
    return sa, sb


def matmul_gen(rng):
    sa, sb = matmul_shapes(rng)
    return [tensor(rng, sa), tensor(rng, sb)], {}


op("matmul", matmul_gen, lambda x, p: torch.matmul(x[0], x[1]))


def vectors(same=True):
    def gen(rng):
        n = rng.randint(1, 5)
        m = n if same or rng.random() < 0.5 else rng.randint(1, 5)
        sa = [n] if rng.random() > 0.05 else [n, 2]
        return [tensor(rng, sa), tensor(rng, [m])], {}
    return gen


op("dot", vectors(), lambda x, p: torch.dot(x[0], x[1]))
op("outer", vectors(False), lambda x, p: torch.outer(x[0], x[1]))


def softmax_gen(rng):
    shape = rshape(rng)
    return [tensor(rng, shape)], {"dim": rand_dim(rng, len(shape))}


op("softmax", softmax_gen, lambda x, p: torch.softmax(x[0], p["dim"]))
op("log_softmax", softmax_gen, lambda x, p: torch.log_softmax(x[0], p["dim"]))


def gather_gen(rng):
    shape = rshape(rng, 1, 4)
    dim = rand_dim(rng, len(shape), bad=0.03)
    d = dim % len(shape) if -len(shape) <= dim < len(shape) else 0
    ishape = [rng.randint(1, 4) if k == d else rng.randint(1, s) for k, s in enumerate(shape)]
    hi = shape[d] + (1 if rng.random() < 0.04 else 0)  # sometimes out of range
    return [tensor(rng, shape), index_tensor(rng, ishape, hi)], {"dim": dim}


op("gather", gather_gen, lambda x, p: torch.gather(x[0], p["dim"], x[1]))


def scatter_add_gen(rng):
    (a, idx), p = gather_gen(rng)
    src_shape = list(idx.shape)  # a larger src breaks PyTorch 1.13's own backward
    return [a, idx, tensor(rng, src_shape)], p


op("scatter_add", scatter_add_gen, lambda x, p: torch.scatter_add(x[0], p["dim"], x[1], x[2]))


def index_select_gen(rng):
    shape = rshape(rng, 0, 4)
    dim = rand_dim(rng, len(shape), bad=0.03)
    n = max(len(shape), 1)
    size = shape[dim % n] if shape and -n <= dim < n else 1
    hi = size + (1 if rng.random() < 0.04 else 0)
    idx = index_tensor(rng, [rng.randint(1, 5)] if shape else [1], hi)
    return [tensor(rng, shape), idx], {"dim": dim}


op("index_select", index_select_gen, lambda x, p: torch.index_select(x[0], p["dim"], x[1]))


def index_add_gen(rng):
    (a, idx), p = index_select_gen(rng)
    shape = list(a.shape) if a.view[0] == "c" else None
    src_shape = list(tensor_shape(a))
    if src_shape:
        src_shape[p["dim"] % len(src_shape) if -len(src_shape) <= p["dim"] < len(src_shape) else 0] = idx.shape[0]
    del shape
    return [a, idx, tensor(rng, src_shape)], p


def tensor_shape(inp):
    """the shape the op sees (after the view)"""
    s = list(inp.shape)
    v = inp.view
    if v[0] == "t":
        s[v[1]], s[v[2]] = s[v[2]], s[v[1]]
    elif v[0] == "s":
        s[v[1]] = (s[v[1]] + 1) // 2
    elif v[0] == "n":
        s[v[1]] = v[3]
    elif v[0] == "e":
        s[v[1]] = v[2]
    return s


op("index_add", index_add_gen, lambda x, p: torch.index_add(x[0], p["dim"], x[1], x[2]))

# int64 operands (no gradient), as PyTorch takes them; now and then one left
# float64: a dtype mismatch both refuse
op("matmul_i64", as_int64(matmul_gen, [0, 1]), lambda x, p: torch.matmul(x[0], x[1]), c_name="matmul")
op("gather_i64", as_int64(gather_gen, [0]), lambda x, p: torch.gather(x[0], p["dim"], x[1]), c_name="gather")
op("scatter_add_i64", as_int64(scatter_add_gen, [0, 2]),
   lambda x, p: torch.scatter_add(x[0], p["dim"], x[1], x[2]), c_name="scatter_add")
op("index_select_i64", as_int64(index_select_gen, [0]),
   lambda x, p: torch.index_select(x[0], p["dim"], x[1]), c_name="index_select")
op("index_add_i64", as_int64(index_add_gen, [0, 2]),
   lambda x, p: torch.index_add(x[0], p["dim"], x[1], x[2]), c_name="index_add")
op("dot_i64", as_int64(vectors(), [0, 1]), lambda x, p: torch.dot(x[0], x[1]), c_name="dot")
# outer is a product of pairs: mixed dtypes promote (both sides)
op("outer_i64", as_int64(vectors(False), [0, 1]), lambda x, p: torch.outer(x[0], x[1]), c_name="outer")
