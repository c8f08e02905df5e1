"""Batched products, dim moves and index ops composed from gather/masked_fill
(ops/linalg_batched.c, ops/shape_move.c, ops/scatter.c)."""
import torch

from oracle_gen import as_int64, index_tensor, op, rand_dim, rshape, tensor


def bmm_gen(rng):
    b, n, k, m = (rng.randint(1, 4) for _ in range(4))
    sa, sb = [b, n, k], [b, k, m]
    r = rng.random()
    if r < 0.04:
        sb = [b + 1, k, m]  # batch sizes differ: no broadcasting in bmm
    elif r < 0.08:
        sb = [b, k + 1, m]
    elif r < 0.11:
        sa = [n, k]
    return [tensor(rng, sa), tensor(rng, sb)], {}


op("bmm", bmm_gen, lambda x, p: torch.bmm(x[0], x[1]))


def mv_gen(rng):
    n, k = rng.randint(1, 5), rng.randint(1, 5)
    sa, sv = [n, k], [k]
    r = rng.random()
    if r < 0.04:
        sv = [k + 1]
    elif r < 0.07:
        sv = [k, 1]
    elif r < 0.1:
        sa = [k]
    return [tensor(rng, sa), tensor(rng, sv)], {}


op("mv", mv_gen, lambda x, p: torch.mv(x[0], x[1]))


def expandable(rng, shape):
    """a shape expandable to `shape` (trailing dims, some 1); sometimes not"""
    nd = rng.randint(0, len(shape))
    s = [1 if rng.random() < 0.3 else d for d in shape[len(shape) - nd:]]
    if rng.random() < 0.05:
        s = [2] + list(shape) if rng.random() < 0.5 else list(shape[:-1]) + [shape[-1] + 1]
    return s


def coeffs(rng, zero_beta=True):
    beta = rng.choice([1.0, 0.0, 0.5, -2.0] if zero_beta else [1.0, 0.5, -2.0])
    alpha = rng.choice([1.0, 0.0, 1.5, -0.5])
    return {"beta": beta, "alpha": alpha}


def addmm_gen(rng):
    n, k, m = (rng.randint(1, 4) for _ in range(3))
    s1, s2 = [n, k], [k, m]
    if rng.random() < 0.04:
        s2 = [k + 1, m]
    return [tensor(rng, expandable(rng, [n, m])), tensor(rng, s1), tensor(rng, s2)], coeffs(rng)


op("addmm", addmm_gen, lambda x, p: torch.addmm(x[0], x[1], x[2], beta=p["beta"], alpha=p["alpha"]))


def baddbmm_gen(rng):
    b, n, k, m = (rng.randint(1, 4) for _ in range(4))
    s1, s2 = [b, n, k], [b, k, m]
    if rng.random() < 0.04:
        s2 = [b + 1, k, m]
    # beta 0 skipped: PyTorch 1.13's baddbmm, with inputs that require grad,
    # returns NaN from uninitialised memory in some elements (tapegrad gives
    # alpha * bmm, the documented result; tests/test_ops_index.c checks it)
    return [tensor(rng, expandable(rng, [b, n, m])), tensor(rng, s1), tensor(rng, s2)], coeffs(rng, False)


op("baddbmm", baddbmm_gen,
   lambda x, p: torch.baddbmm(x[0], x[1], x[2], beta=p["beta"], alpha=p["alpha"]))


def movedim_gen(rng):
    shape = rshape(rng, 0, 5)
    nd = max(len(shape), 1)
    k = rng.randint(0, nd)
    src = rng.sample(range(nd), k)
    dst = rng.sample(range(nd), k)
    src = [s - nd if rng.random() < 0.3 else s for s in src]
    dst = [d - nd if rng.random() < 0.3 else d for d in dst]
    if rng.random() < 0.05 and k >= 1:
        src.append(src[0])  # repeated dim
        dst.append(next(iter(set(range(nd)) - set(d % nd for d in dst)), 0))
    elif rng.random() < 0.04:
        src, dst = src + [nd], dst + [0]  # out of range
    return [tensor(rng, shape)], {"src": src, "dst": dst}


op("movedim", movedim_gen, lambda x, p: torch.movedim(x[0], p["src"], p["dst"]))


def swap_gen(rng):
    shape = rshape(rng, 0, 4)
    return [tensor(rng, shape)], {"dim0": rand_dim(rng, len(shape)), "dim1": rand_dim(rng, len(shape))}


op("swapaxes", swap_gen, lambda x, p: torch.swapaxes(x[0], p["dim0"], p["dim1"]))
op("swapdims", swap_gen, lambda x, p: torch.swapdims(x[0], p["dim0"], p["dim1"]))


def take_along_dim_gen(rng):
    shape = rshape(rng, 1, 4)
    dim = rand_dim(rng, len(shape), bad=0.03)
    d = dim % len(shape) if -len(shape) <= dim < len(shape) else 0
    ishape = []
    for k, s in enumerate(shape):
        if k == d:
            ishape.append(rng.randint(1, 4))
        else:  # broadcast either way: index 1, input 1 (expanded), or equal
            ishape.append(rng.choice([s, s, 1, rng.randint(1, 3)]))
    if rng.random() < 0.03:
        ishape = ishape[1:]  # ranks differ
    hi = shape[d] + (1 if rng.random() < 0.04 else 0)
    return [tensor(rng, shape), index_tensor(rng, ishape, hi)], {"dim": dim}


op("take_along_dim", take_along_dim_gen, lambda x, p: torch.take_along_dim(x[0], x[1], p["dim"]))


def index_fill_gen(rng):
    shape = rshape(rng, 0, 4)
    dim = rand_dim(rng, len(shape), bad=0.03)
    n = max(len(shape), 1)
    size = shape[dim % n] if shape and -n <= dim < n else 1
    hi = size + (1 if rng.random() < 0.04 else 0)
    ishape = [] if rng.random() < 0.2 else [rng.randint(0, 4)]
    if rng.random() < 0.03:
        ishape = [1, 1]
    idx = index_tensor(rng, ishape, hi + size)
    idx.values = [v - size for v in idx.values]  # [-size, hi): negatives wrap
    return [tensor(rng, shape), idx], {"dim": dim, "value": rng.choice([0.0, -1.5, 2.25])}


op("index_fill", index_fill_gen, lambda x, p: torch.index_fill(x[0], p["dim"], x[1], p["value"]))


def distinct_index(rng, shape, d, ishape, bad):
    """int64 index of ishape whose entries along d are distinct within each
    fiber (repeated scatter targets are unspecified in PyTorch), in
    [0, shape[d]); with `bad` one entry out of range"""
    from oracle_gen import Inp
    vals = [0.0] * numel(ishape)
    strides = [numel(ishape[k + 1:]) for k in range(len(ishape))]
    fibers = numel(ishape) // max(ishape[d], 1)
    for f in range(fibers):
        # the f-th combination of the coordinates other than d
        coords, r = [], f
        for k in reversed(range(len(ishape))):
            if k == d:
                coords.append(0)
                continue
            coords.append(r % ishape[k])
            r //= ishape[k]
        coords.reverse()
        base = sum(c * s for c, s in zip(coords, strides))
        for j, v in enumerate(rng.sample(range(shape[d]), ishape[d])):
            vals[base + j * strides[d]] = float(v)
    if bad and vals:
        vals[rng.randrange(len(vals))] = float(shape[d] if rng.random() < 0.5 else -1)
    return Inp(ishape, vals, "i64", False)


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def scatter_shapes(rng):
    shape = rshape(rng, 1, 4)
    dim = rand_dim(rng, len(shape), bad=0.03)
    d = dim % len(shape) if -len(shape) <= dim < len(shape) else 0
    ishape = [rng.randint(1, s) for s in shape]
    others = [k for k in range(len(shape)) if k != d]
    if others and rng.random() < 0.04:
        k = rng.choice(others)
        ishape[k] = shape[k] + 1  # index larger than the input off dim
    idx = distinct_index(rng, shape, d, ishape, rng.random() < 0.04)
    return shape, dim, idx


def scatter_gen(rng):
    shape, dim, idx = scatter_shapes(rng)
    return [tensor(rng, shape), idx, tensor(rng, list(idx.shape))], {"dim": dim}


op("scatter", scatter_gen, lambda x, p: torch.scatter(x[0], p["dim"], x[1], x[2]))


def scatter_value_gen(rng):
    shape, dim, idx = scatter_shapes(rng)
    return [tensor(rng, shape), idx], {"dim": dim, "value": rng.choice([0.0, 1.5, -3.0])}


op("scatter_value", scatter_value_gen, lambda x, p: torch.scatter(x[0], p["dim"], x[1], value=p["value"]))


def index_put_gen(rng):
    """index 0 has the broadcast shape and distinct entries (so no place is
    written twice: unspecified in PyTorch without accumulate); the others
    broadcast against it with any entries; negatives count from the end"""
    from oracle_gen import Inp
    shape = rshape(rng, 1, 4)
    n = rng.randint(1, len(shape))
    accumulate = rng.random() < 0.4
    bshape = rshape(rng, 0, 2, 1, 3)
    m = numel(bshape)
    if m > shape[0] and not accumulate:
        bshape, m = [shape[0]], shape[0]
    if accumulate:
        first = [rng.randrange(-shape[0], shape[0]) for _ in range(m)]
    else:
        first = [v - shape[0] if rng.random() < 0.3 else v for v in rng.sample(range(shape[0]), m)]
    idx = [Inp(bshape, [float(v) for v in first], "i64", False)]
    for k in range(1, n):
        nd = rng.randint(0, len(bshape))
        ish = [1 if rng.random() < 0.4 else d for d in bshape[len(bshape) - nd:]]
        idx.append(Inp(ish, [float(rng.randrange(-shape[k], shape[k])) for _ in range(numel(ish))], "i64", False))
    if rng.random() < 0.04:
        idx[-1].values[rng.randrange(len(idx[-1].values))] = float(shape[n - 1]) if idx[-1].values else 0.0
    target = bshape + shape[n:]
    nd = rng.randint(0, len(target))
    vshape = [1 if rng.random() < 0.3 else d for d in target[len(target) - nd:]]
    if rng.random() < 0.04 and vshape:
        vshape[-1] += 1  # does not broadcast
    return [tensor(rng, shape)] + idx + [tensor(rng, vshape)], {"n": n, "accumulate": int(accumulate)}


op("index_put", index_put_gen,
   lambda x, p: torch.index_put(x[0], tuple(x[1:1 + p["n"]]), x[1 + p["n"]], bool(p["accumulate"])))


def einsum_operand(rng, letters, size, ell):
    """subscripts and shape of one operand: a random subset of the letters in
    random order, sometimes one repeated (a diagonal: both dims of one size),
    size-1 dims that broadcast, and an ellipsis over a suffix of `ell`"""
    s = rng.sample(letters, rng.randint(0, min(3, len(letters))))
    if s and rng.random() < 0.25:
        s.insert(rng.randint(0, len(s)), rng.choice(s))
    one = {c: rng.random() < 0.15 for c in s}
    sh = [1 if one[c] else size[c] for c in s]
    if sh and rng.random() < 0.03:
        sh[0] += 1  # disagrees (unless the others are 1)
    subs = "".join(s)
    if ell is not None and rng.random() < 0.6:
        e = ell[len(ell) - rng.randint(0, len(ell)):]
        e = [1 if rng.random() < 0.2 else d for d in e]
        k = rng.randint(0, len(s))
        subs = subs[:k] + "..." + subs[k:]
        sh = sh[:k] + e + sh[k:]
    return subs, sh


def einsum_gen(rng):
    """1-3 operands over a few letters (some upper case); diagonals,
    ellipses (broadcasting, right-aligned), explicit or implicit output;
    sometimes sizes that disagree and malformed equations"""
    letters = rng.sample("abcdijkXY", rng.randint(1, 5))
    size = {c: rng.randint(1, 3) for c in letters}
    ell = rshape(rng, 0, 3, 1, 3) if rng.random() < 0.4 else None
    if ell and rng.random() < 0.03:
        ell[0] += 1  # a clash among the operands' ellipsis dims, unless one is 1
    n = rng.randint(1, 3)
    ops = [einsum_operand(rng, letters, size, ell) for _ in range(n)]
    subs = [o[0] for o in ops]
    eq = ",".join(subs)
    used = sorted(set("".join(subs).replace(".", "")))
    if rng.random() < 0.7:
        out = rng.sample(used, rng.randint(0, len(used)))
        if "..." in eq and rng.random() < 0.7 or rng.random() < 0.1:
            out.insert(rng.randint(0, len(out)), "...")
        eq += "->" + "".join(out)
    r = rng.random()
    if r < 0.02:
        eq = "z" + eq  # one subscript too many for operand 0
    elif r < 0.04:
        eq = eq.split("->")[0] + "->z"  # an output letter in no operand
    elif r < 0.06 and used:
        eq = eq.split("->")[0] + "->" + used[0] * 2  # repeated in the output
    elif r < 0.07:
        eq = eq.split("->")[0] + ",a->"  # more operands named than given
    elif r < 0.08:
        eq = "..." + eq.replace("...", "..")  # a stray '.' or a second ellipsis
    elif r < 0.09:
        eq = eq.split("->")[0] + "->......"  # two ellipses in the output
    if not eq:
        eq = "->"  # the runner's string parameters cannot be empty
    return [tensor(rng, o[1]) for o in ops], {"equation": eq, "n": n}


op("einsum", einsum_gen, lambda x, p: torch.einsum(p["equation"], *x))


def take_along_dim_flat_gen(rng):
    """dim=None: any ranks; indices into the flattened input, sometimes out of
    range (numel, or negative: gather does not wrap)"""
    shape = rshape(rng, 0, 3)
    n = numel(shape)
    ishape = rshape(rng, 0, 3, 0, 3)
    idx = index_tensor(rng, ishape, n)
    if idx.values and rng.random() < 0.05:
        idx.values[rng.randrange(len(idx.values))] = float(n if rng.random() < 0.5 else -1)
    return [tensor(rng, shape), idx], {}


def take_along_dim_flat(x, p):
    # PyTorch 1.13 flattens with view(-1), so it raises "view size is not
    # compatible" on a layout no view can flatten (transposed, strided,
    # expanded); tapegrad takes any layout, as a deliberate difference, and
    # PyTorch runs on a contiguous copy of the same view
    return torch.take_along_dim(x[0].contiguous(), x[1])


op("take_along_dim_flat", take_along_dim_flat_gen, take_along_dim_flat)


def index_put_mask_gen(rng):
    """bool masks among the indices: one mask over leading dims, or two masks
    one after the other (nonzero counts broadcast: equal or 1), or a mask and
    an int64 index; values broadcast to [nnz, rest..]. Without accumulate the
    places are distinct. Sometimes a mask of the wrong shape or too many dims"""
    from oracle_gen import Inp, bool_tensor
    shape = rshape(rng, 1, 4)
    accumulate = rng.random() < 0.4
    k = rng.randint(1, len(shape))
    mask = bool_tensor(rng, shape[:k], rng.choice([0.3, 0.6, 1.0]))
    idx, used = [mask], k
    nnz = int(sum(mask.values))
    r = rng.random()
    if r < 0.25 and used < len(shape):  # a second mask of one true element, or of nnz
        m2 = bool_tensor(rng, [shape[used]], 0.0)
        m2.values[rng.randrange(shape[used])] = 1.0
        idx.append(m2)
        used += 1
    elif r < 0.5 and used < len(shape):  # an int64 index of one element (distinct places) or nnz
        size = shape[used]
        m = 1 if not accumulate or rng.random() < 0.5 else max(nnz, 1)
        idx.append(Inp([m], [float(rng.randrange(-size, size)) for _ in range(m)], "i64", False))
        used += 1
    r = rng.random()
    if r < 0.04:
        mask.shape[-1] += 1  # mask shape differs from the input's
        mask.values += [1.0] * (numel(mask.shape) - len(mask.values))
    elif r < 0.07:
        mask.shape = shape + [2]  # more dims than the input
        mask.values = [1.0] * numel(mask.shape)
    target = [nnz] + shape[used:]
    nd = rng.randint(0, len(target))
    vshape = [1 if rng.random() < 0.3 else d for d in target[len(target) - nd:]]
    if rng.random() < 0.04 and vshape:
        vshape[-1] += 1  # does not broadcast
    values = tensor(rng, vshape, views=0 not in vshape)  # a view of a zero-size base is not drawn
    return [tensor(rng, shape)] + idx + [values], {"n": len(idx), "accumulate": int(accumulate)}


op("index_put_mask", index_put_mask_gen,
   lambda x, p: torch.index_put(x[0], tuple(x[1:1 + p["n"]]), x[1 + p["n"]], bool(p["accumulate"])),
   c_name="index_put")


# (name, generator, torch function, inputs made int64, as_int64 options)
for name, gen, fn, which, *opts in [
        ("scatter", scatter_gen, lambda x, p: torch.scatter(x[0], p["dim"], x[1], x[2]), [0, 2]),
        ("scatter_value", scatter_value_gen, lambda x, p: torch.scatter(x[0], p["dim"], x[1], value=p["value"]), [0]),
        ("take_along_dim", take_along_dim_gen, lambda x, p: torch.take_along_dim(x[0], x[1], p["dim"]), [0]),
        ("take_along_dim_flat", take_along_dim_flat_gen, take_along_dim_flat, [0]),
        ("index_put", index_put_gen,
         lambda x, p: torch.index_put(x[0], tuple(x[1:1 + p["n"]]), x[1 + p["n"]], bool(p["accumulate"])), [0, -1]),
        ("bmm", bmm_gen, lambda x, p: torch.bmm(x[0], x[1]), [0, 1]),
        ("mv", mv_gen, lambda x, p: torch.mv(x[0], x[1]), [0, 1]),
        # beta and alpha fractional too: PyTorch casts them to int64 (truncates)
        ("addmm", addmm_gen, lambda x, p: torch.addmm(x[0], x[1], x[2], beta=p["beta"], alpha=p["alpha"]),
         [0, 1, 2]),
        # a float input left among int64 batches is converted to int64
        # (truncated); such an input does not require grad here: PyTorch 1.13
        # then fails an internal assert (isDifferentiableType), tapegrad
        # converts it either way
        ("baddbmm", baddbmm_gen,
         lambda x, p: torch.baddbmm(x[0], x[1], x[2], beta=p["beta"], alpha=p["alpha"]), [0, 1, 2],
         {"mixed_rg": False}),
        # no mixed dtypes: PyTorch 1.13's einsum promotes them where its
        # pairwise step is an elementwise product (no contracted dim longer
        # than 1) and refuses them where it is a bmm; tapegrad always refuses
        ("einsum", einsum_gen, lambda x, p: torch.einsum(p["equation"], *x), [0, 1, 2], {"mix": False}),
        ("index_put_mask", index_put_mask_gen,
         lambda x, p: torch.index_put(x[0], tuple(x[1:1 + p["n"]]), x[1 + p["n"]], bool(p["accumulate"])), [0, -1]),
]:
    op(name + "_i64", as_int64(gen, which, **(opts[0] if opts else {})), fn,
       c_name="index_put" if name.startswith("index_put") else name)
