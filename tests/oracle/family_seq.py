"""Sequence-model ops (ops/embedding.c, nn/rms_norm.c): F.embedding with padding_idx and
max_norm, against torch 1.13; rms_norm (torch 1.13 has none) against its formula written
in torch ops. Parameters a case leaves out mean torch's None."""
import torch
import torch.nn.functional as F

from oracle_gen import index_tensor, op, rshape, tensor


def embedding_gen(rng):
    V, D = rng.randint(1, 6), rng.randint(0 if rng.random() < 0.05 else 1, 4)
    p = {}
    r = rng.random()
    if r < 0.4:
        p["pad"] = rng.randint(-V, V - 1)
    elif r < 0.44:
        p["pad"] = rng.choice([V, -V - 1])  # out of range: PyTorch's AssertionError
    max_norm = rng.random() < 0.35
    if max_norm:
        p["max_norm"] = rng.choice([0.5, 1.0, 2.0, 3.0])
        p["norm_type"] = rng.choice([1.0, 2.0, 3.0, 0.5])
    hi = V + (1 if rng.random() < 0.04 else 0)  # an index past the end: PyTorch's IndexError
    idx = index_tensor(rng, rshape(rng, 0, 3), hi)
    # max_norm writes into the weight: an expanded view there is PyTorch's error (overlapping
    # memory) and tapegrad's repeated write; those cases use a contiguous weight
    # (and an empty weight has no views: the base shape would be negative)
    return [tensor(rng, [V, D], views=not max_norm and D > 0), idx], p


def torch_embedding(x, p):
    return F.embedding(x[1], x[0], padding_idx=p.get("pad"), max_norm=p.get("max_norm"),
                       norm_type=p.get("norm_type", 2.0))


op("embedding", embedding_gen, torch_embedding)


def rms_norm_gen(rng):
    shape = rshape(rng, 1, 4, 1, 3)
    k = rng.randint(1, len(shape))
    ns = shape[len(shape) - k:]
    if rng.random() < 0.05:
        ns = [ns[0] + 1] + ns[1:]  # not the trailing dims: PyTorch's error
    p = {"ns": ns}
    if rng.random() < 0.7:
        p["eps"] = rng.choice([1e-5, 1e-3, 0.1])
    ins = [tensor(rng, shape)]
    p["has_w"] = int(rng.random() < 0.7)
    if p["has_w"]:
        ws = list(ns) if rng.random() > 0.04 else ns[1:] + [2]  # wrong shape: PyTorch's error
        ins.append(tensor(rng, ws, rg=rng.random() < 0.7))
    return ins, p


def torch_rms_norm(x, p):
    """torch 2.4's F.rms_norm, written in torch ops (1.13 has none); eps None is
    torch.finfo(x.dtype).eps, and the weight must have normalized_shape as there"""
    ns = [int(s) for s in p["ns"]]
    if list(x[0].shape[x[0].dim() - len(ns):]) != ns or len(ns) > x[0].dim():
        raise RuntimeError("rms_norm: normalized_shape is not the trailing dims")
    eps = p.get("eps", torch.finfo(x[0].dtype).eps)
    dims = list(range(-len(ns), 0))
    y = x[0] * torch.rsqrt(x[0].pow(2).mean(dims, keepdim=True) + eps)
    if p["has_w"]:
        if list(x[1].shape) != ns:
            raise RuntimeError("rms_norm: weight shape")
        y = y * x[1]
    return y


op("rms_norm", rms_norm_gen, torch_rms_norm)
