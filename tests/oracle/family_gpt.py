"""The small GPT's fused kernels (nn/gpt_kernels.c): tg_causal_attention_qkv
against the lecture's attention written in torch ops on views of the fused
projection: q, k, v (B, H, T, hs) from qkv (B*T, 3C), softmax of the masked
q k^T / sqrt(hs), heads concatenated back to (B*T, C). torch has no such op,
so a wrong shape raises here as tapegrad refuses it."""
import torch

from oracle_gen import op, tensor


def attention_gen(dtype):
    def gen(rng):
        B, H, hs = rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 4)
        T = 8 if dtype == "f32" and rng.random() < 0.6 else rng.randint(1, 9)  # f32 T = 8: the 8-lane kernels
        rows, cols = B * T, 3 * H * hs
        r = rng.random()
        if r < 0.04:
            rows += 1  # not B*T rows
        elif r < 0.08:
            cols += 1 if (cols + 1) % (3 * H) else 2  # not 3 C with C a multiple of H
        # float32 without views: an expanded input's gradient is a float32 sum over the
        # copies, whose rounding differs from torch's by more than the oracle's float32
        # tolerance; float64 covers the views
        return [tensor(rng, [rows, cols], dtype=dtype, views=dtype == "f64")], {"B": B, "T": T, "H": H}
    return gen


def torch_causal_attention_qkv(x, p):
    qkv, B, T, H = x[0], int(p["B"]), int(p["T"]), int(p["H"])
    if qkv.dim() != 2 or qkv.shape[0] != B * T or qkv.shape[1] % (3 * H):
        raise RuntimeError("causal_attention_qkv: qkv must be (B*T, 3*C), C a multiple of n_head")
    hs = qkv.shape[1] // (3 * H)
    q, k, v = qkv.reshape(B, T, 3, H, hs).permute(2, 0, 3, 1, 4)
    wei = q @ k.transpose(-2, -1) * hs ** -0.5
    tril = torch.tril(torch.ones(T, T, dtype=torch.bool))
    wei = torch.softmax(wei.masked_fill(~tril, float("-inf")), dim=-1)
    return (wei @ v).transpose(1, 2).reshape(B * T, H * hs)


op("causal_attention_qkv", attention_gen("f64"), torch_causal_attention_qkv)
op("causal_attention_qkv_f32", attention_gen("f32"), torch_causal_attention_qkv, gg=False,
   c_name="causal_attention_qkv")
