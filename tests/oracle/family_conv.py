"""Convolutions and sliding windows: conv1d, conv2d (numeric and "same"/
"valid" padding), conv_transpose1d/2d, unfold, fold, against
torch.nn.functional. Shapes are drawn around the valid range, so some cases
are PyTorch's errors (kernel larger than the padded input, output too small);
a few break one rule on purpose (channels, groups, bias size, bad params)."""
import torch
import torch.nn.functional as F

from oracle_gen import op, tensor

BAD = 0.1  # share of cases that break one rule on purpose


def pick(rng, *choices):
    return rng.choice(choices)


def pair(rng, lo, hi, sd=2):
    return [rng.randint(lo, hi) for _ in range(sd)]


def spatial(rng, k, d, p, s, sd):
    """input sizes around the smallest valid one (d (k - 1) + 1 - 2 p)"""
    out = []
    for i in range(sd):
        lo = d[i] * (k[i] - 1) + 1 - 2 * p[i]
        out.append(max(1, lo + rng.randint(-1 if rng.random() < 0.1 else 0, 3 + s[i])))
    return out


def conv_gen(rng, sd, transposed=False, strmode=False):
    groups = pick(rng, 1, 1, 2, 3)
    cin_g, cout_g = rng.randint(1, 3), rng.randint(1, 3)
    depthwise = not transposed and rng.random() < 0.2
    if depthwise:
        cin_g, cout_g = 1, rng.randint(1, 2)
        groups = rng.randint(2, 4)
    k = pair(rng, 1, 3, sd)
    s = pair(rng, 1, 3, sd)
    d = pair(rng, 1, 2, sd)
    p = pair(rng, 0, 2, sd)
    if rng.random() < 0.15:  # pointwise (1x1): the convolution without columns
        k, s, p = [1] * sd, [1] * sd, [0] * sd
    op_ = [0] * sd
    if transposed:
        op_ = [rng.randint(0, max(s[i], d[i]) - 1) for i in range(sd)]
    mode = None
    if strmode:
        mode = pick(rng, "same", "same", "valid")
        if mode == "same":
            s = [1] * sd if rng.random() > 0.05 else s
        p = [0] * sd
    if transposed:
        size = [rng.randint(1, 4) for _ in range(sd)]
        for i in range(sd):  # mostly an output of at least 1
            room = ((size[i] - 1) * s[i] + d[i] * (k[i] - 1) + op_[i]) // 2
            if rng.random() < 0.9:
                p[i] = min(p[i], room)
    else:
        size = spatial(rng, k, d, [0] * sd if mode == "valid" else p if mode is None else
                       [d[i] * (k[i] - 1) // 2 for i in range(sd)], s, sd)
    cin, cout = cin_g * groups, cout_g * groups
    batch = [] if rng.random() < 0.12 else [rng.randint(1, 2)]
    xshape = batch + [cin] + size
    wshape = ([cin, cout_g] if transposed else [cout, cin_g]) + k
    bshape = [cout]
    bias = rng.random() < 0.6
    r = rng.random()
    if r < BAD:
        what = rng.randrange(6)
        if what == 0:
            xshape[len(batch)] += 1  # channel mismatch
        elif what == 1:
            groups += 1  # usually does not divide
        elif what == 2:
            bias, bshape = True, [cout + 1]
        elif what == 3:
            s[0] = 0
        elif what == 4:
            p[-1] = -1
        else:
            xshape = xshape + [2]  # wrong ndim
    # mostly float64; float32 and int64 (torch's integer convolution) too,
    # and now and then mixed dtypes (an error)
    dt = "f64" if rng.random() < 0.8 else pick(rng, "f32", "f32", "i64", "mixed")
    shapes = [xshape, wshape] + ([bshape] if bias else [])
    inputs = []
    for j, sh in enumerate(shapes):
        t = dt if dt != "mixed" else ("f32" if j == 0 else "f64")
        if t == "i64":
            inputs.append(tensor(rng, sh, "int3", rg=False, dtype="i64"))
        else:
            inputs.append(tensor(rng, sh, dtype=t))
    params = {"stride": s, "dilation": d, "groups": groups, "bias": int(bias)}
    if mode:
        params["mode"] = mode
    else:
        params["padding"] = p
    if transposed:
        params["output_padding"] = op_
    return inputs, params


def torch_conv(fn, transposed=False):
    def run(x, p):
        b = x[2] if p["bias"] else None
        if transposed:
            return fn(x[0], x[1], b, p["stride"], p["padding"], p["output_padding"], p["groups"],
                      p["dilation"])
        pad = p.get("mode", p.get("padding"))
        return fn(x[0], x[1], b, p["stride"], pad, p["dilation"], p["groups"])
    return run


op("conv2d", lambda rng: conv_gen(rng, 2), torch_conv(F.conv2d))
op("conv2d_padding", lambda rng: conv_gen(rng, 2, strmode=True), torch_conv(F.conv2d))
op("conv1d", lambda rng: conv_gen(rng, 1), torch_conv(F.conv1d))
op("conv1d_padding", lambda rng: conv_gen(rng, 1, strmode=True), torch_conv(F.conv1d))
op("conv_transpose2d", lambda rng: conv_gen(rng, 2, transposed=True), torch_conv(F.conv_transpose2d, True))
op("conv_transpose1d", lambda rng: conv_gen(rng, 1, transposed=True), torch_conv(F.conv_transpose1d, True))


def window(rng):
    k, d, p, s = pair(rng, 1, 3), pair(rng, 1, 2), pair(rng, 0, 2), pair(rng, 1, 3)
    if rng.random() < BAD:
        which = rng.randrange(4)
        [k, s, d][which % 3][rng.randrange(2)] = 0
        if which == 3:
            p[0] = -1
    return k, d, p, s


def unfold_gen(rng):
    k, d, p, s = window(rng)
    size = spatial(rng, [max(v, 1) for v in k], [max(v, 1) for v in d], [max(v, 0) for v in p], s, 2)
    batch = [] if rng.random() < 0.15 else [rng.randint(1, 2) if rng.random() > 0.03 else 0]
    shape = batch + [rng.randint(1, 3)] + size
    if rng.random() < 0.03:
        shape = shape[1:]  # 2-d: refused
    return [tensor(rng, shape)], {"kernel": k, "dilation": d, "padding": p, "stride": s}


op("unfold", unfold_gen, lambda x, p: F.unfold(x[0], p["kernel"], p["dilation"], p["padding"], p["stride"]))


def fold_gen(rng):
    k, d, p, s = window(rng)
    kk = [max(v, 1) for v in k]
    out = spatial(rng, kk, [max(v, 1) for v in d], [max(v, 0) for v in p], s, 2)
    blocks = 1
    for i in range(2):
        span = out[i] + 2 * max(p[i], 0) - max(d[i], 1) * (kk[i] - 1) - 1
        blocks *= max(span // max(s[i], 1) + 1, 0) if span >= 0 else 0
    c = rng.randint(1, 3)
    rows, L = c * kk[0] * kk[1], max(blocks, 1)
    r = rng.random()
    if r < 0.04:
        rows += 1  # not a multiple of the kernel size
    elif r < 0.08:
        L += 1  # block count mismatch
    batch = [] if rng.random() < 0.15 else [rng.randint(1, 2)]
    return [tensor(rng, batch + [rows, L])], {"output_size": out, "kernel": k, "dilation": d,
                                              "padding": p, "stride": s}


op("fold", fold_gen, lambda x, p: F.fold(x[0], p["output_size"], p["kernel"], p["dilation"], p["padding"],
                                          p["stride"]))
