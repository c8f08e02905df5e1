"""Losses of nn/ (fused nodes)."""
import torch
import torch.nn.functional as F

from oracle_gen import index_tensor, op, rshape, tensor

REDUCTIONS = ["mean", "sum", "none"]


def class_gen(log_probs=False):
    def gen(rng):
        c = rng.randint(1, 5)
        batched = rng.random() < 0.85
        n = rng.randint(1, 4)
        logits = tensor(rng, [n, c] if batched else [c])
        hi = c + (1 if rng.random() < 0.04 else 0)
        targets = index_tensor(rng, [n] if batched else [], hi)
        return [logits, targets], {"reduction": rng.choice(REDUCTIONS)}
    return gen


op("cross_entropy", class_gen(), lambda x, p: F.cross_entropy(x[0], x[1], reduction=p["reduction"]))
op("nll_loss", class_gen(True), lambda x, p: F.nll_loss(x[0], x[1], reduction=p["reduction"]))


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
