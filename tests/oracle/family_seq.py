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
