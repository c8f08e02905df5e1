"""Sequence-model ops (ops/embedding.c, nn/rms_norm.c): F.embedding with padding_idx and
max_norm, against torch 1.13; rms_norm (torch 1.13 has none) against its formula written
in torch ops. Parameters a case leaves out mean torch's None."""
import torch
import torch.nn.functional as F

from oracle_gen import bool_tensor, index_tensor, op, rshape, tensor


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
    # max_norm writes into the weight in place under no_grad: PyTorch 1.13 then gives a view's
    # base leaf no gradient at all (tapegrad does), and an expanded view's rows overlap in
    # memory; those cases use a contiguous weight
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


def cell_gen(G, lstm=False, relu=False):
    """x (N, in) or unbatched (in), states present or not (zeros), biases present or not;
    now and then an input of the wrong size: PyTorch's error"""
    def gen(rng):
        N, I, H = rng.randint(1, 3), rng.randint(1, 4), rng.randint(1, 3)
        batched = rng.random() < 0.75
        lead = [N] if batched else []
        p = {"has_h": int(rng.random() < 0.8), "has_b": int(rng.random() < 0.7)}
        if relu:
            p["nonlinearity"] = "relu"
        bad = rng.random() < 0.05
        ins = [tensor(rng, lead + [I + bad])]
        if p["has_h"]:
            ins += [tensor(rng, lead + [H], rg=rng.random() < 0.8) for _ in range(2 if lstm else 1)]
        ins += [tensor(rng, [G * H, I]), tensor(rng, [G * H, H])]
        if p["has_b"]:
            ins += [tensor(rng, [G * H]), tensor(rng, [G * H])]
        return ins, p
    return gen


def cell_args(x, p, n_states):
    """(x, states, w_ih, w_hh, b_ih, b_hh) as the 2-d torch._VF cells take them"""
    k = 1 + (n_states if p["has_h"] else 0)
    xin = x[0] if x[0].dim() == 2 else x[0].unsqueeze(0)
    w_ih, w_hh = x[k], x[k + 1]
    if xin.shape[1] != w_ih.shape[1]:
        raise RuntimeError("input has inconsistent input_size")
    H = w_hh.shape[1]
    states = [(s if s.dim() == 2 else s.unsqueeze(0)) for s in x[1:k]] or \
        [torch.zeros(xin.shape[0], H, dtype=xin.dtype) for _ in range(n_states)]
    b = (x[k + 2], x[k + 3]) if p["has_b"] else (None, None)
    return xin, states, w_ih, w_hh, b[0], b[1]


def unbatch(y, x):
    return y if x[0].dim() == 2 else y.squeeze(0)


def torch_rnn_cell(x, p):
    xin, st, w_ih, w_hh, b_ih, b_hh = cell_args(x, p, 1)
    f = torch._VF.rnn_relu_cell if p.get("nonlinearity") == "relu" else torch._VF.rnn_tanh_cell
    return unbatch(f(xin, st[0], w_ih, w_hh, b_ih, b_hh), x)


def torch_lstm_cell(x, p):
    xin, st, w_ih, w_hh, b_ih, b_hh = cell_args(x, p, 2)
    h, c = torch._VF.lstm_cell(xin, st, w_ih, w_hh, b_ih, b_hh)
    return [unbatch(h, x), unbatch(c, x)]


def torch_gru_cell(x, p):
    xin, st, w_ih, w_hh, b_ih, b_hh = cell_args(x, p, 1)
    return unbatch(torch._VF.gru_cell(xin, st[0], w_ih, w_hh, b_ih, b_hh), x)


op("rnn_cell", cell_gen(1), torch_rnn_cell)
op("rnn_cell_relu", cell_gen(1, relu=True), torch_rnn_cell, c_name="rnn_cell")
op("lstm_cell", cell_gen(4, lstm=True), torch_lstm_cell)
op("gru_cell", cell_gen(3), torch_gru_cell)


def sdpa_gen(rng):
    """q (B.., L, E), k (B.., S, E), v (B.., S, Ev), batch dims broadcasting; a bool or float
    mask broadcast to (.., L, S), or is_causal; a given scale or the default. Dropout is
    random: tests/test_ops_seq.c's"""
    batch = rshape(rng, 0, 2, 1, 3)
    L, S, E, Ev = rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 3), rng.randint(1, 3)

    def bshape():
        return [b if rng.random() < 0.8 else 1 for b in batch]
    bad = rng.random() < 0.04  # E of k differs: PyTorch's error
    ins = [tensor(rng, bshape() + [L, E]), tensor(rng, bshape() + [S, E + bad]), tensor(rng, bshape() + [S, Ev])]
    p = {"mask": rng.choice(["none", "none", "bool", "float", "causal"])}
    ms = [L if rng.random() < 0.8 else 1, S if rng.random() < 0.8 else 1]
    if rng.random() < 0.5:
        ms = bshape() + ms
    if p["mask"] == "bool":
        # at least one true per row, or the row's softmax is NaN in both (torch 2's math path too)
        m = bool_tensor(rng, ms, 0.7)
        m.values[0::max(ms[-1], 1)] = [1.0] * len(m.values[0::max(ms[-1], 1)])
        ins.append(m)
    elif p["mask"] == "float":
        ins.append(tensor(rng, ms, rg=rng.random() < 0.6))
    if rng.random() < 0.5:
        p["scale"] = rng.choice([0.5, 1.0, 2.0])
    return ins, p


def torch_sdpa(x, p):
    """softmax(q k^T scale + mask) v in torch ops (torch 1.13 has no public sdpa)"""
    q, k, v = x[0], x[1], x[2]
    scale = p.get("scale", 1.0 / q.shape[-1] ** 0.5)
    s = q @ k.transpose(-2, -1) * scale
    if p["mask"] == "causal":
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        s = s.masked_fill(~keep, float("-inf"))
    elif p["mask"] == "bool":
        s = s.masked_fill(~x[3], float("-inf"))
    elif p["mask"] == "float":
        s = s + x[3]
    return torch.softmax(s, -1) @ v


# named short: a case id (name and number) must fit the runner's 31 characters
op("sdpa", sdpa_gen, torch_sdpa, c_name="scaled_dot_product_attention")
