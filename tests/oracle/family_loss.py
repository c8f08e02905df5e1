"""Losses of nn/ (fused nodes)."""
import torch
import torch.nn.functional as F

from oracle_gen import Inp, bcast_shapes, index_tensor, numel, op, rshape, tensor

REDUCTIONS = ["mean", "sum", "none"]


def class_inputs(rng, spatial=True, ignore=-100, views=True):
    """logits (N, C, d1, ...) or (C) and int64 targets, some equal to ignore"""
    c = rng.randint(1, 5)
    kind = rng.random()
    n = rng.randint(1, 4)
    if kind < 0.15:
        xs, ts = [c], []
    elif kind < 0.6 or not spatial:
        xs, ts = [n, c], [n]
    else:
        extra = rshape(rng, 1, 2, 1, 3)
        xs, ts = [n, c] + extra, [n] + extra
    hi = c + (1 if rng.random() < 0.04 else 0)
    targets = index_tensor(rng, ts, hi)
    if rng.random() < 0.4:
        targets.values = [float(ignore) if rng.random() < 0.3 else v for v in targets.values]
    return tensor(rng, xs, views=views), targets


def class_gen(rng):
    x, t = class_inputs(rng)
    return [x, t], {"reduction": rng.choice(REDUCTIONS)}


op("cross_entropy", class_gen, lambda x, p: F.cross_entropy(x[0], x[1], reduction=p["reduction"]))
op("nll_loss", class_gen, lambda x, p: F.nll_loss(x[0], x[1], reduction=p["reduction"]))


def pair_gen(dom_a, dom_b, bcast=False):
    def gen(rng):
        shape = rshape(rng)
        sb = list(shape)
        if bcast and rng.random() < 0.3 and sb:
            sb = [1 if rng.random() < 0.5 else s for s in sb][rng.randint(0, len(sb)):]
        return [tensor(rng, shape, dom_a), tensor(rng, sb, dom_b, rg=rng.random() < 0.5)], \
            {"reduction": rng.choice(REDUCTIONS)}
    return gen


op("binary_cross_entropy", pair_gen("prob", "prob"),
   lambda x, p: F.binary_cross_entropy(x[0], x[1], reduction=p["reduction"]))
op("bce_with_logits", pair_gen("any", "prob"),
   lambda x, p: F.binary_cross_entropy_with_logits(x[0], x[1], reduction=p["reduction"]))
op("mse_loss", pair_gen("any", "any", bcast=True), lambda x, p: F.mse_loss(x[0], x[1], reduction=p["reduction"]))


def kl(x, p):
    e = -0.5 * (1 + x[1] - x[0] ** 2 - torch.exp(x[1]))
    return {"mean": e.mean, "sum": e.sum, "none": lambda: e}[p["reduction"]]()


op("gaussian_kl", pair_gen("any", "any"), kl)


def class_with_gen(probs_ok):
    def gen(rng):
        ignore = rng.choice([-100, 0, 1])
        x, t = class_inputs(rng, ignore=ignore, views=False)  # views: see class_gen
        c = x.shape[0] if len(x.shape) == 1 else x.shape[1]
        p = {"reduction": rng.choice(REDUCTIONS), "ignore_index": ignore,
             "label_smoothing": rng.choice([0.0, 0.0, 0.1, 0.5, 1.0]) if probs_ok else 0.0}
        ins = [x, t]
        if probs_ok and rng.random() < 0.3:  # class probabilities as targets
            ins[1] = tensor(rng, x.shape, "prob", rg=rng.random() < 0.5)
            p["ignore_index"] = -100
        if rng.random() < 0.5:
            ins.append(tensor(rng, [c], "pos", rg=False, views=False))
            p["has_weight"] = 1
        else:
            ins.append(tensor(rng, [1], rg=False, views=False))  # unused
        if probs_ok and rng.random() < 0.04:
            p["label_smoothing"] = 1.5
        return ins, p
    return gen


def torch_class(f, smoothing):
    def fn(x, p):
        w = x[2] if p.get("has_weight") else None
        kw = {"label_smoothing": p["label_smoothing"]} if smoothing else {}
        return f(x[0], x[1], weight=w, ignore_index=int(p["ignore_index"]), reduction=p["reduction"], **kw)
    return fn


op("cross_entropy_with", class_with_gen(True), torch_class(F.cross_entropy, True))
op("nll_loss_with", class_with_gen(False), torch_class(F.nll_loss, False))


def with_param(gen, **choices):
    def g(rng):
        ins, p = gen(rng)
        for k, v in choices.items():
            p[k] = rng.choice(v)
        return ins, p
    return g


op("l1_loss", pair_gen("any", "any", bcast=True), lambda x, p: F.l1_loss(x[0], x[1], reduction=p["reduction"]))
op("smooth_l1_loss", with_param(pair_gen("any", "any", bcast=True), beta=[1.0, 0.5, 0.0, 2.0]),
   lambda x, p: F.smooth_l1_loss(x[0], x[1], reduction=p["reduction"], beta=p["beta"]))
op("huber_loss", with_param(pair_gen("any", "any", bcast=True), delta=[1.0, 0.5, 2.0]),
   lambda x, p: F.huber_loss(x[0], x[1], reduction=p["reduction"], delta=p["delta"]))


def kl_gen(rng):
    ins, p = pair_gen("any", "prob", bcast=True)(rng)
    p["log_target"] = rng.randint(0, 1)
    if p["log_target"]:
        ins[1] = tensor(rng, ins[1].shape, "any", rg=ins[1].rg, views=False)
    elif rng.random() < 0.3:  # zero probabilities (xlogy's 0 log 0 = 0), no gradient for them
        ins[1].values = [0.0 if rng.random() < 0.3 else v for v in ins[1].values]
        ins[1].rg = False
    if rng.random() < 0.25:
        p["reduction"] = "batchmean"
    return ins, p


def torch_kl(x, p):
    if p["reduction"] == "batchmean" and x[0].dim() == 0:
        return F.kl_div(x[0], x[1], reduction="sum", log_target=bool(p["log_target"]))
    return F.kl_div(x[0], x[1], reduction=p["reduction"], log_target=bool(p["log_target"]))


op("kl_div", kl_gen, torch_kl)


def poisson_gen(rng):
    log_input = rng.randint(0, 1)
    ins, p = pair_gen("any" if log_input else "pos", "pos", bcast=True)(rng)
    ins[1].values = [v * 2 for v in ins[1].values]  # targets on both sides of 1 (Stirling's mask)
    p.update(log_input=log_input, full=rng.randint(0, 1))
    return ins, p


op("poisson_nll_loss", poisson_gen,
   lambda x, p: F.poisson_nll_loss(x[0], x[1], log_input=bool(p["log_input"]), full=bool(p["full"]),
                                   reduction=p["reduction"]))


def sign_tensor(rng, shape):
    return Inp(shape, [rng.choice([-1.0, 1.0]) for _ in range(numel(shape))], "f64", False)


def ranking_gen(rng):
    shapes = bcast_shapes(rng, 3)
    if rng.random() < 0.9:  # PyTorch wants equal ndim (then broadcasts)
        nd = max(len(s) for s in shapes)
        shapes = [[1] * (nd - len(s)) + s for s in shapes]
    sa, sb, sy = shapes
    return [tensor(rng, sa), tensor(rng, sb), sign_tensor(rng, sy)], \
        {"reduction": rng.choice(REDUCTIONS), "margin": rng.choice([0.0, 0.5, -0.2])}


op("margin_ranking_loss", ranking_gen,
   lambda x, p: F.margin_ranking_loss(x[0], x[1], x[2], margin=p["margin"], reduction=p["reduction"]))


def embedding_gen(rng):
    d = rng.randint(1, 5)
    batched = rng.random() < 0.8
    n = rng.randint(1, 4)
    shape = [n, d] if batched else [d]
    y = sign_tensor(rng, [n] if batched else [])
    if rng.random() < 0.05:
        y = sign_tensor(rng, [n + 1])
    return [tensor(rng, shape), tensor(rng, shape), y], \
        {"reduction": rng.choice(REDUCTIONS), "margin": rng.choice([0.0, 0.3, -0.5])}


op("cosine_embedding_loss", embedding_gen,
   lambda x, p: F.cosine_embedding_loss(x[0], x[1], x[2], margin=p["margin"], reduction=p["reduction"]))


def cosine_gen(rng):
    sa, sb = bcast_shapes(rng)
    nd = max(len(sa), len(sb), 1)
    return [tensor(rng, sa), tensor(rng, sb)], {"dim": rng.randint(-nd, nd - 1)}


op("cosine_similarity", cosine_gen, lambda x, p: F.cosine_similarity(x[0], x[1], dim=p["dim"]))
