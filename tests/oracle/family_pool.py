"""Pooling and resampling (ops/pool.c, pool_adaptive.c, resample.c) against
torch.nn.functional: max_pool1d/2d (with indices), avg_pool1d/2d, the
adaptive pools, interpolate (nearest, linear, bilinear), pixel_shuffle and
pixel_unshuffle. Inputs are random views (transposed, strided, narrowed,
expanded: the expanded ones give max pools exact ties, where both take the
first maximum of the window); about one case in eight is one PyTorch refuses.

Cases never drawn, with the reason:
- a divisor_override of 0, align_corners=False with nearest: tapegrad
  spells "none" that way (0 / false), so it cannot express PyTorch's errors
  for them. (A stride of 0 and negative sizes are drawn: both refuse them.)
- a max-pool window with no tap inside the input (dilation past the
  padding): torch 1.13 gives -inf with an index off the plane and its
  backward adds that gradient to the next plane's element (or past the
  tensor); tapegrad gives the same -inf and index and drops the gradient.
- adaptive_avg_pool with output size 1 (all dims) on input of the wrong
  rank or with empty spatial dims, and int64 input where the input or the
  output is empty: torch 1.13 takes a shortcut there (a mean, NaN for an
  empty input; an empty result before the dtype check) and accepts what it
  refuses otherwise; tapegrad refuses such input whatever the output size.
- pixel_shuffle of a non-contiguous 5-d input: torch 1.13 refuses some
  ("Unsupported memory format"); tapegrad shuffles any layout.
- nearest on 5-d input (volumetric; tapegrad does 1-d and 2-d).
- nearest with a scale_factor whose output size is the input's or twice it
  (but a factor other than 1 or 2): torch 1.13's forward then uses
  floor(dst / factor) while its backward uses the shortcut dst (or dst/2),
  so its gradient is not the gradient of its forward; tapegrad's is."""
import torch
import torch.nn.functional as F

from oracle_gen import Inp, numel, op, tensor


def int_input(rng, shape):
    return Inp(shape, [float(rng.randint(-5, 5)) for _ in range(numel(shape))], "i64", False)


def inp(rng, shape):
    """a random view; an empty tensor plain (oracle_gen's views assume sizes >= 1)"""
    return tensor(rng, shape, views=all(n > 0 for n in shape))


def lead(rng, sd, batch_ok=True):
    """the dims before the spatial ones: (N, C) or, unbatched, (C,)"""
    c = rng.randint(1, 3)
    if rng.random() < 0.3:
        return [c]
    n = 0 if batch_ok and rng.random() < 0.05 else rng.randint(1, 3)
    return [n, c]


def break_shape(rng, shape, sd):
    """a shape PyTorch refuses: too few or too many dims, or an empty non-batch dim"""
    r = rng.random()
    if r < 0.35:
        return shape[-sd:]
    if r < 0.6:
        return [1] + shape if len(shape) == sd + 2 else [2, 1, 1] + shape[-sd:]
    s = list(shape)
    s[rng.randrange(len(s) - sd - 1 if len(s) == sd + 2 else 0, len(s))] = 0
    return s


def out_size(n, k, s, p, d, ceil):
    """torch's pooling_output_shape"""
    o = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def empty_window(size, k, st, p, d, ceil):
    """some window has no tap inside the input"""
    for n, kk, ss, pp, dd in zip(size, k, st, p, d):
        if kk < 1 or ss < 1 or dd < 1:
            return False
        for o in range(max(0, out_size(n, kk, ss, pp, dd, ceil))):
            if not any(0 <= o * ss - pp + j * dd < n for j in range(kk)):
                return True
    return False


def pool_gen(rng, sd, is_max):
    while True:
        x, params = pool_draw(rng, sd, is_max)
        st = params.get("s", params["k"])
        if not empty_window(x[0].view_shape[-sd:], params["k"], st, params["p"], params["d"], params["ceil"]):
            return x, params


def pool_draw(rng, sd, is_max):
    k = [rng.randint(1, 4) for _ in range(sd)]
    st = None if rng.random() < 0.3 else [rng.randint(1, 3) for _ in range(sd)]
    p = [rng.randint(0, kk // 2) for kk in k]
    d = [rng.randint(1, 3) if is_max else 1 for _ in range(sd)]
    ceil = rng.randint(0, 1)
    size = [max(1, dd * (kk - 1) + 1 - 2 * pp) + rng.randint(0, 4) for kk, pp, dd in zip(k, p, d)]
    shape = lead(rng, sd) + size
    bad = rng.random() < 0.13
    kinds = ["pad", "small", "shape", "k0", "neg", "s0"] + (["d0"] if is_max else [])
    kind = rng.choice(kinds) if bad else ""
    if rng.random() < 0.06:  # max refuses int64; avg averages it with truncating division
        kind = "long"
    a = rng.randrange(sd)
    if kind == "pad":
        p[a] = k[a] // 2 + 1
    elif kind == "small" and d[a] * (k[a] - 1) - 2 * p[a] >= 1:
        shape[-sd + a] = d[a] * (k[a] - 1) - 2 * p[a]
    elif kind == "shape":
        shape = break_shape(rng, shape, sd)
    elif kind == "k0":
        k[a], p[a] = 0, 0
    elif kind == "d0":
        d[a] = 0
    elif kind == "neg":  # the C API takes int64: negatives fail as in torch
        which = rng.choice(["k", "s", "p"] + (["d"] if is_max else []))
        if which == "k":
            k[a] = -rng.randint(1, 3)
        elif which == "s":
            st = st or [1] * sd
            st[a] = -rng.randint(1, 2)
        elif which == "p":
            p[a] = -1
        else:
            d[a] = -1
    elif kind == "s0":
        st = st or [1] * sd
        st[a] = 0
    x = int_input(rng, shape) if kind == "long" else inp(rng, shape)
    x.view_shape = shape
    params = {"k": k, "p": p, "d": d, "ceil": ceil}
    if st is not None:
        params["s"] = st
    return [x], params


def one(v, sd):
    return v[0] if sd == 1 else v


def max_pool_torch(sd):
    fn = F.max_pool1d if sd == 1 else F.max_pool2d

    def run(x, p):
        s = one(p["s"], sd) if "s" in p else None
        return fn(x[0], one(p["k"], sd), s, one(p["p"], sd), one(p["d"], sd), bool(p["ceil"]),
                  return_indices=bool(p["ri"]))
    return run


def max_gen(sd):
    def gen(rng):
        x, p = pool_gen(rng, sd, True)
        p["ri"] = rng.randint(0, 1)
        return x, p
    return gen


op("max_pool1d", max_gen(1), max_pool_torch(1))
op("max_pool2d", max_gen(2), max_pool_torch(2))


def avg_gen(sd):
    def gen(rng):
        x, p = pool_gen(rng, sd, False)
        del p["d"]
        p["incl"] = rng.randint(0, 1)
        if sd == 2 and rng.random() < 0.3:
            p["div"] = rng.choice([-3, -1, 1, 2, 5])
        return x, p
    return gen


def avg_pool_torch(sd):
    def run(x, p):
        s = one(p["s"], sd) if "s" in p else None
        if sd == 1:
            return F.avg_pool1d(x[0], p["k"][0], s, p["p"][0], bool(p["ceil"]), bool(p["incl"]))
        return F.avg_pool2d(x[0], p["k"], s, p["p"], bool(p["ceil"]), bool(p["incl"]), p.get("div"))
    return run


op("avg_pool1d", avg_gen(1), avg_pool_torch(1))
op("avg_pool2d", avg_gen(2), avg_pool_torch(2))


def adaptive_gen(sd, is_max):
    def gen(rng):
        while True:
            x, p = adaptive_draw(rng, sd, is_max)
            out, shape, long = p["out"], x[0].view_shape, x[0].dtype == "i64"
            if is_max:
                return x, p
            ones = all(o == 1 for o in out)
            bad_shape = len(shape) not in (sd + 1, sd + 2) or 0 in shape[-sd:]
            if (ones and bad_shape) or (long and (0 in out or 0 in shape)):
                continue
            return x, p
    return gen


def adaptive_draw(rng, sd, is_max):
    if True:
        shape = lead(rng, sd) + [rng.randint(1, 7) for _ in range(sd)]
        out = [rng.randint(0 if rng.random() < 0.05 else 1, 7) for _ in range(sd)]
        bad = rng.random() < 0.12
        kind = rng.choice(["shape", "long"]) if bad else ""
        if kind == "shape":
            shape = break_shape(rng, shape, sd)
        elif rng.random() < 0.05:  # an empty channel dim: avg accepts it, max refuses
            shape[-sd - 1] = 0
        x = int_input(rng, shape) if kind == "long" else inp(rng, shape)
        x.view_shape = shape
        p = {"out": out}
        if is_max:
            p["ri"] = rng.randint(0, 1)
        return [x], p


def adaptive_torch(sd, is_max):
    def run(x, p):
        o = one(p["out"], sd)
        if is_max:
            fn = F.adaptive_max_pool1d if sd == 1 else F.adaptive_max_pool2d
            return fn(x[0], o, return_indices=bool(p["ri"]))
        fn = F.adaptive_avg_pool1d if sd == 1 else F.adaptive_avg_pool2d
        return fn(x[0], o)
    return run


op("adaptive_avg_pool1d", adaptive_gen(1, False), adaptive_torch(1, False))
op("adaptive_avg_pool2d", adaptive_gen(2, False), adaptive_torch(2, False))
op("adaptive_max_pool1d", adaptive_gen(1, True), adaptive_torch(1, True))
op("adaptive_max_pool2d", adaptive_gen(2, True), adaptive_torch(2, True))


def nearest_shortcut(size, sfs):
    """torch 1.13's nearest backward takes out == in and out == 2 in as exact"""
    for n, sf in zip(size, sfs):
        out = int(n * sf)
        if (out == n and sf != 1.0) or (out == 2 * n and sf != 2.0):
            return True
    return False


def interp_gen(rng):
    while True:
        mode = rng.choice(["nearest", "nearest", "linear", "bilinear", "bilinear"])
        sd = 1 if mode == "linear" else 2 if mode == "bilinear" else rng.randint(1, 2)
        size = [rng.randint(1, 6) for _ in range(sd)]
        shape = [rng.randint(0, 2) if rng.random() < 0.05 else rng.randint(1, 2), rng.randint(1, 3)] + size
        p = {"mode": mode}
        if mode != "nearest":
            p["align"] = rng.randint(0, 1)
        if rng.random() < 0.5:
            p["size"] = [rng.randint(1, 8) for _ in range(sd)]
        else:
            p["sf"] = [rng.choice([0.5, 1.0, 1.5, 2.0, 3.0, round(rng.uniform(0.3, 3.2), 3)]) for _ in range(sd)]
            if mode == "nearest" and nearest_shortcut(size, p["sf"]):
                continue
        bad = rng.random() < 0.13
        kind = rng.choice(["both", "neither", "zero", "dims", "align", "emptyc", "long"]) if bad else ""
        if kind == "both":
            p["size"], p["sf"] = [2] * sd, [2.0] * sd
        elif kind == "neither":
            p.pop("size", None)
            p.pop("sf", None)
        elif kind == "zero":
            p.pop("sf", None)
            p["size"] = [0] * sd
        elif kind == "dims":
            # (the C API takes sd sizes, so the list length always matches the input's rank)
            shape = shape[-2:] if mode == "nearest" else [2] + shape if mode == "linear" else shape[1:]
        elif kind == "align" and mode == "nearest":
            p["align"] = 1
        elif kind == "emptyc":
            shape[1] = 0
        x = int_input(rng, shape) if kind == "long" else inp(rng, shape)
        return [x], p


def interp_torch(x, p):
    align = bool(p["align"]) if "align" in p else None
    if p["mode"] != "nearest" and not align and "align" in p and p["align"] == 0:
        align = False
    return F.interpolate(x[0], size=p.get("size"), scale_factor=p.get("sf"), mode=p["mode"],
                         align_corners=align)


op("interpolate", interp_gen, interp_torch)


def shuffle_gen(up):
    def gen(rng):
        r = rng.randint(1, 3)
        nlead = rng.randint(0, 2)
        shape = [rng.randint(0 if rng.random() < 0.05 else 1, 2) for _ in range(nlead)]
        c, h, w = rng.randint(1, 2), rng.randint(1, 3), rng.randint(1, 3)
        shape += [c * r * r, h, w] if up else [c, h * r, w * r]
        bad = rng.random() < 0.12
        kind = rng.choice(["div", "dims", "r"]) if bad else ""
        if kind == "div" and r > 1:
            shape[-3 if up else -1] += 1
        elif kind == "dims":
            shape = shape[-2:]
        elif kind == "r":
            r = rng.choice([0, -1])
        if rng.random() < 0.1:
            x = int_input(rng, shape)
        else:
            x = inp(rng, shape) if len(shape) < 5 else tensor(rng, shape, views=False)
        return [x], {"r": r}
    return gen


op("pixel_shuffle", shuffle_gen(True), lambda x, p: F.pixel_shuffle(x[0], p["r"]))
op("pixel_unshuffle", shuffle_gen(False), lambda x, p: F.pixel_unshuffle(x[0], p["r"]))
