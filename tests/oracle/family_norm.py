"""Normalisation layers of nn/ (nn/norm.c, nn/norm_layer.c): batch norm with
batch statistics and in eval mode on (N, C, d1, ...) input, instance, group
and layer norm, and dropout2d where it is deterministic. Optional inputs
follow x in a fixed order (weight, bias, running_mean, running_var), each
present when its has_* flag is set; the updated running statistics are
outputs too."""
import torch
import torch.nn.functional as F

from oracle_gen import numel, op
from oracle_gen import tensor as any_view

EPS = [1e-5, 1e-3, 0.1]
MOMENTUM = [0.1, 0.0, 1.0, 0.5]


def tensor(rng, shape, dom="any", rg=True, views=True, dtype="f64"):
    """views of an empty tensor are left out (the base shape would be negative)"""
    return any_view(rng, shape, dom, rg=rg, views=views and numel(shape) > 0, dtype=dtype)


def nc_shape(rng, lo_nd=2, hi_nd=5):
    """(N, C, d1, ...); now and then a 0 in N or a spatial dim (an empty result)"""
    shape = [rng.randint(1, 3) for _ in range(rng.randint(lo_nd, hi_nd))]
    shape[1] = rng.randint(1, 4)
    if rng.random() < 0.04:
        shape[rng.choice([0] + list(range(2, len(shape))))] = 0
    return shape


def affine_flags(rng, p, bias_only):
    """has_w, has_b: any combination but a bias without a weight, or (bias_only) just that one.
    PyTorch 1.13's double backward of batch_norm, instance_norm and layer_norm with a bias and
    no weight fails ("Expected a proper Tensor but got None"): those cases are ops of their own,
    compared to first order"""
    if bias_only is None:  # group_norm's double backward has no such trouble
        p["has_w"], p["has_b"] = int(rng.random() < 0.7), int(rng.random() < 0.7)
    elif bias_only:
        p["has_w"], p["has_b"] = 0, 1
    else:
        p["has_w"] = int(rng.random() < 0.7)
        p["has_b"] = int(p["has_w"] and rng.random() < 0.7)


def torch_channels_last(x):
    """PyTorch 1.13's batch_norm backward on CPU is wrong for an input that is channels-last
    but not contiguous (a transposed view, say, with g contiguous): up to O(1) off, against
    the same values made contiguous. tapegrad's agrees with the contiguous one; such
    views are left out of batch_norm's cases."""
    v = torch.empty(x.shape)
    if x.view[0] == "t":
        v = v.transpose(x.view[1], x.view[2])
    elif x.view[0] == "s":
        v = v[(slice(None),) * x.view[1] + (slice(0, None, 2),)]
    elif x.view[0] == "n":
        v = v.narrow(x.view[1], x.view[2], x.view[3])
    elif x.view[0] == "e":
        shape = list(v.shape)
        shape[x.view[1]] = x.view[2]
        v = v.expand(shape)
    if v.is_contiguous():
        return False
    return (v.dim() == 4 and v.is_contiguous(memory_format=torch.channels_last)) or \
        (v.dim() == 5 and v.is_contiguous(memory_format=torch.channels_last_3d))


def bn_input(rng, shape, dtype):
    """float32: no expanded view, where a channel of equal values normalises to PyTorch's exact
    0 (it sums in double) and to tapegrad's float32 rounding residue over sqrt(eps)"""
    while True:
        x = tensor(rng, shape, dtype=dtype)
        if not torch_channels_last(x) and not (dtype == "f32" and x.view[0] == "e"):
            return x


def channel_inputs(rng, c, p, dtype, stats, bias_only=False, views=True, empty=False):
    """weight, bias (each maybe absent, maybe not requiring grad), running stats. PyTorch
    1.13's batch_norm backward reads a non-contiguous weight or bias as if it were contiguous
    (wrong gradients, denormal garbage for an expanded one): batch_norm's are contiguous"""
    ins = []
    # the first of them the wrong size: PyTorch's error, but for an empty input (it checks
    # nothing then; tapegrad does)
    bad = rng.random() < 0.04 and not empty
    affine_flags(rng, p, bias_only)
    for key in ("has_w", "has_b"):
        if p[key]:
            n = c + 1 if bad and not ins else c
            ins.append(tensor(rng, [n], "any" if key == "has_b" else "pos", rg=rng.random() < 0.7, views=views,
                              dtype=dtype))
    p["has_rs"] = int(stats)
    if stats:
        ins.append(tensor(rng, [c], "any", rg=False, views=False, dtype=dtype))
        ins.append(tensor(rng, [c], "pos", rg=False, views=False, dtype=dtype))
    return ins


def split(x, p):
    """x[0] and the optional inputs by their flags"""
    k, out = 1, {}
    for key in ("has_w", "has_b"):
        out[key] = x[k] if p.get(key) else None
        k += bool(p.get(key))
    out["rm"], out["rv"] = (x[k], x[k + 1]) if p.get("has_rs") else (None, None)
    return out


def with_stats(y, o):
    return [y] if o["rm"] is None else [y, o["rm"], o["rv"]]


def batch_norm_gen(training, bias_only=False, dtype="f64"):
    def gen(rng):
        shape = nc_shape(rng)
        while dtype == "f32" and numel(shape) < 8 * shape[1]:
            # float32 with at least 8 values per channel: with two or three, x - mean cancels to
            # a few bits, and roundings in another order (PyTorch sums in double) show at 1e-5
            shape = nc_shape(rng)
        if rng.random() < 0.03:
            shape = [rng.randint(1, 4)]  # 1-d: PyTorch's IndexError
        c = shape[1] if len(shape) > 1 else 1
        p = {"training": int(training), "momentum": rng.choice(MOMENTUM), "eps": rng.choice(EPS)}
        # eval needs the running stats (without them: PyTorch's error)
        stats = rng.random() < 0.5 if training else rng.random() < 0.96
        return [bn_input(rng, shape, dtype)] + channel_inputs(rng, c, p, dtype, stats, bias_only, False,
                                                              numel(shape) == 0), p
    return gen


def torch_stats_norm(f, mode):
    """F.batch_norm or F.instance_norm (the same positional arguments), with mode the name of
    the training / use_input_stats flag"""
    def fn(x, p):
        o = split(x, p)
        y = f(x[0], o["rm"], o["rv"], o["has_w"], o["has_b"], bool(p[mode]), p["momentum"], p["eps"])
        return with_stats(y, o)
    return fn


torch_batch_norm = torch_stats_norm(F.batch_norm, "training")


# one value per channel when training (N = 1 and 1s elsewhere) comes up by itself: PyTorch's error
op("batch_norm_train", batch_norm_gen(True), torch_batch_norm, c_name="batch_norm")
op("batch_norm_eval", batch_norm_gen(False), torch_batch_norm, c_name="batch_norm")
op("batch_norm_train_bias", batch_norm_gen(True, True), torch_batch_norm, gg=False, c_name="batch_norm")
# float32 to first order: double backward of small batches is ill-conditioned enough that float32
# roundings in different orders differ by 1e-4 relative
op("batch_norm_train_f32", batch_norm_gen(True, dtype="f32"), torch_batch_norm, gg=False, c_name="batch_norm")
op("batch_norm_eval_f32", batch_norm_gen(False, dtype="f32"), torch_batch_norm, gg=False, c_name="batch_norm")
op("batch_norm_eval_bias", batch_norm_gen(False, True), torch_batch_norm, gg=False, c_name="batch_norm")


def instance_norm_gen(bias_only=False):
    def gen(rng):
        shape = nc_shape(rng, 2, 5)  # 2-d, or 1 spatial element: PyTorch's error with input stats
        p = {"use_input_stats": int(rng.random() < 0.75), "momentum": rng.choice(MOMENTUM), "eps": rng.choice(EPS)}
        stats = rng.random() < (0.5 if p["use_input_stats"] else 0.95)
        ins = channel_inputs(rng, shape[1], p, "f64", stats, bias_only, empty=numel(shape) == 0)
        if p["has_w"] or p["has_b"] or stats:
            # An empty batch: PyTorch 1.13 fails with a weight or bias (select(): index 0 out
            # of range, repeating them 0 times), and sets the running stats to the mean over no
            # instances, NaN; tapegrad returns the empty result and keeps the running stats
            shape[0] = max(shape[0], 1)
        return [tensor(rng, shape)] + ins, p
    return gen


torch_instance_norm = torch_stats_norm(F.instance_norm, "use_input_stats")


op("instance_norm", instance_norm_gen(), torch_instance_norm)
op("instance_norm_bias", instance_norm_gen(True), torch_instance_norm, gg=False, c_name="instance_norm")


def group_norm_gen(rng):
    g, k = rng.randint(1, 3), rng.randint(1, 3)
    shape = nc_shape(rng, 2, 4)
    shape[1] = g * k
    r = rng.random()
    if r < 0.05:
        shape[1] += 1  # not divisible: PyTorch's error
    elif r < 0.07:
        g = 0  # PyTorch: ZeroDivisionError
    p = {"groups": g, "eps": rng.choice(EPS)}
    ins = channel_inputs(rng, shape[1], p, "f64", False, None)
    if p["has_w"]:
        # PyTorch's weight gradient of an empty input is NaN (its statistics over nothing);
        # tapegrad's is 0, the sum over nothing
        shape = [max(s, 1) for s in shape]
    return [tensor(rng, shape)] + ins, p


def torch_group_norm(x, p):
    o = split(x, p)
    return F.group_norm(x[0], int(p["groups"]), o["has_w"], o["has_b"], p["eps"])


op("group_norm", group_norm_gen, torch_group_norm)


def layer_norm_gen(bias_only=False):
    def gen(rng):
        shape = [rng.randint(1, 3) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.04:
            shape[rng.randrange(len(shape))] = 0
        k = rng.randint(1, len(shape))
        ns = shape[len(shape) - k:]
        if rng.random() < 0.05:
            ns = [ns[0] + 1] + ns[1:]  # not the trailing dims: PyTorch's error
        p = {"ns": ns, "eps": rng.choice(EPS)}
        ins = [tensor(rng, shape)]
        affine_flags(rng, p, bias_only)
        for key in ("has_w", "has_b"):
            if p[key]:
                ws = list(ns) if rng.random() > 0.03 else ns[1:] + [2]  # wrong shape: PyTorch's error
                ins.append(tensor(rng, ws, "any" if key == "has_b" else "pos", rg=rng.random() < 0.7))
        return ins, p
    return gen


def torch_layer_norm(x, p):
    o = split(x, p)
    return F.layer_norm(x[0], [int(s) for s in p["ns"]], o["has_w"], o["has_b"], p["eps"])


op("layer_norm", layer_norm_gen(), torch_layer_norm)
op("layer_norm_bias", layer_norm_gen(True), torch_layer_norm, gg=False, c_name="layer_norm")


def dropout2d_gen(rng):
    """the deterministic cases: eval, p 0 or 1, and the errors (bad p; a 1-d input once a mask
    is drawn); the random masks are tests/test_nn_norm.c's"""
    shape = [rng.randint(1, 3) for _ in range(rng.randint(1, 4))]
    training = int(rng.random() < 0.6)
    p = rng.choice([0.0, 1.0, 0.5, 1.5, -0.2]) if training else rng.choice([0.0, 0.3, 0.5, 1.0])
    if training and p == 0.5 and len(shape) > 1:
        shape = shape[:1]
    return [tensor(rng, shape)], {"p": p, "training": training}


op("dropout2d", dropout2d_gen, lambda x, p: F.dropout2d(x[0], p["p"], bool(p["training"])))
