"""MultiheadAttention (nn/mha.c) against torch 1.13's F.multi_head_attention_forward, with
the module's batch_first transposes: the weights are inputs of the case, so both sides
use the same ones, and their gradients are compared with those of query, key, value and
the float masks. is_causal (torch 2's flag) is emulated as the bool triu(1) attn_mask;
dropout only in eval (no effect), its draws being tapegrad's own (tests/test_nn_mha.c).

flags: bias, add_bias_kv, add_zero_attn, batch_first, separate q/k/v weights,
need_weights, average_attn_weights, is_causal, self-attention (key = value = query,
one input), dropout 0.5 in eval. A float key_padding_mask comes only without an
attn_mask: 1.13 refuses it beside a float one and reads it as bool beside a bool one,
where tapegrad adds it (torch 2's rule)."""
import torch
import torch.nn.functional as F

from oracle_gen import bool_tensor, op, tensor


def mask_bool(rng, shape, p_true=0.4):
    """bool, true = not attended; key 0 always attended, so no row is all -inf (NaN)"""
    m = bool_tensor(rng, shape, p_true)
    S = shape[-1]
    for i in range(0, len(m.values), max(S, 1)):
        m.values[i] = 0.0
    return m


def mha_gen(rng):
    bad = rng.choice(["div", "am", "kpm", "vlen", "kdim"]) if rng.random() < 0.06 else None
    H = rng.choice([1, 2, 2, 3])
    hd = rng.randint(1, 3)
    E = H * hd if bad != "div" else 2 * hd + 1
    if bad == "div":
        H = 2
    L, S, N = rng.randint(1, 3), rng.randint(1, 4), rng.randint(1, 3)
    batched = rng.random() < 0.8
    bf = batched and rng.random() < 0.4
    selfa = rng.random() < 0.2 and bad not in ("vlen", "kdim")
    sep = not selfa and rng.random() < 0.35
    kdim, vdim = (rng.randint(1, 4), rng.randint(1, 4)) if sep else (E, E)
    if selfa:
        S = L
    bias = rng.random() < 0.75
    bias_kv = rng.random() < 0.3
    zero = rng.random() < 0.3
    need = rng.random() < 0.6
    avg = rng.random() < 0.6
    causal = rng.random() < 0.15 and bad != "am"
    drop_eval = rng.random() < 0.15
    kpm = rng.choice(["none", "none", "bool", "float"])
    am = "none" if causal else rng.choice(["none", "bool2", "float2", "bool3", "float3"])
    if bad == "am" and am == "none":
        am = "float2"
    if bad == "kpm" and kpm == "none":
        kpm = "bool"
    if kpm == "float" and (am != "none" or causal):
        kpm = "bool"

    def seq(T, D):  # a (T, N, D) input in the layout of the case
        return [N, T, D] if bf else [T, N, D] if batched else [T, D]

    ins = [tensor(rng, seq(L, E))]
    if not selfa:
        ins.append(tensor(rng, seq(S, kdim + (bad == "kdim"))))
        ins.append(tensor(rng, seq(S + (bad == "vlen"), vdim)))
    if sep:
        ins += [tensor(rng, [E, E]), tensor(rng, [E, kdim]), tensor(rng, [E, vdim])]
    else:
        ins.append(tensor(rng, [3 * E, E]))
    if bias:
        ins.append(tensor(rng, [3 * E]))
    if bias_kv:
        ins += [tensor(rng, [1, 1, E]), tensor(rng, [1, 1, E])]
    ins.append(tensor(rng, [E, E]))
    if bias:
        ins.append(tensor(rng, [E]))
    Sm = S + (bad == "kpm")
    if kpm == "bool":
        ins.append(mask_bool(rng, [N, Sm] if batched else [Sm]))
    elif kpm == "float":
        ins.append(tensor(rng, [N, Sm] if batched else [Sm], rg=rng.random() < 0.6))
    if am != "none":
        Sa = S + (bad == "am")
        shape = [L, Sa] if am.endswith("2") else [(N if batched else 1) * H, L, Sa]
        ins.append(mask_bool(rng, shape) if am.startswith("bool") else tensor(rng, shape, rg=rng.random() < 0.6))
    flags = [bias, bias_kv, zero, bf, sep, need, avg, causal, selfa, drop_eval]
    return ins, {"H": H, "flags": [int(f) for f in flags], "kpm": kpm, "am": am}


def torch_mha(x, p):
    bias, bias_kv, zero, bf, sep, need, avg, causal, selfa, drop_eval = [bool(f) for f in p["flags"]]
    it = iter(x)
    q = next(it)
    k = q if selfa else next(it)
    v = q if selfa else next(it)
    inw = qw = kw = vw = None
    if sep:
        qw, kw, vw = next(it), next(it), next(it)
    else:
        inw = next(it)
    inb = next(it) if bias else None
    bk, bv = (next(it), next(it)) if bias_kv else (None, None)
    ow = next(it)
    ob = next(it) if bias else None
    kpm = next(it) if p["kpm"] != "none" else None
    am = next(it) if p["am"] != "none" else None
    batched = q.dim() == 3
    bfb = bf and batched
    if causal:
        L, S = q.shape[1 if bfb else 0], k.shape[1 if bfb else 0]
        am = torch.ones(L, S, dtype=torch.bool).triu(1)
    if bfb:
        if selfa:
            q = k = v = q.transpose(1, 0)
        else:
            q, k, v = [t.transpose(1, 0) for t in (q, k, v)]
    out, w = F.multi_head_attention_forward(
        q, k, v, q.shape[-1], int(p["H"]), inw, inb, bk, bv, zero, 0.5 if drop_eval else 0.0, ow, ob,
        training=not drop_eval, key_padding_mask=kpm, need_weights=need, attn_mask=am,
        use_separate_proj_weight=sep, q_proj_weight=qw, k_proj_weight=kw, v_proj_weight=vw,
        average_attn_weights=avg)
    if bfb:
        out = out.transpose(1, 0)
    return [out, w] if need else [out]


op("mha", mha_gen, torch_mha)
