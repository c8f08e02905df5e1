#!/usr/bin/env python3
"""The PyTorch twin of bench/gpt_step.c: examples/gpt_mini's model, one training step timed.

The GPT of Karpathy's lecture script (ng-video-lecture gpt.py) shrunk as in
BurTorch's benchmark: vocabulary 65, context 8, n_embd 24, 6 heads of size
4, 6 pre-LayerNorm blocks, lm_head 24x65, no final LayerNorm, no dropout,
46,289 parameters, the lecture's _init_weights (N(0, 0.02), zero biases).
Two ways to write it:

  heads  the lecture's modules as written: Head (key/query/value
         Linear(24, 4, bias=False), a tril buffer, masked_fill, softmax)
         per head, MultiHeadAttention concatenating 6 of them, FeedFoward,
         Block, GPTLanguageModel
  fused  one Linear(24, 72, bias=False) for q, k and v of all heads, the
         heads batched as (B, 6, T, 4): F.scaled_dot_product_attention with
         is_causal where torch has it (2.0+), else the same attention by
         hand (1.13)

A step is zero_grad(set_to_none=True), forward, mean cross-entropy over
B*T, backward, SGD (lr 0.1) and loss.item(), on windows of a seeded random
token stream drawn outside the clock, as gpt_step does. Prints gpt_step's
keys (bB_step_ms, bB_step_ms_min, bB_step_ms_best, bB_steps_per_s, ...,
peak_rss_mb, vm_hwm_mb).

    /usr/bin/python3 bench/gpt_torch.py --variant fused --threads 1 --batches 1,64
"""
import argparse
import os
import resource
import sys
import time

VOCAB, CTX, EMBD, HEADS, LAYERS = 65, 8, 24, 6, 6


def build(torch, variant):
    from torch import nn
    import torch.nn.functional as F

    head_size = EMBD // HEADS

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.key = nn.Linear(EMBD, head_size, bias=False)
            self.query = nn.Linear(EMBD, head_size, bias=False)
            self.value = nn.Linear(EMBD, head_size, bias=False)
            self.register_buffer("tril", torch.tril(torch.ones(CTX, CTX)))

        def forward(self, x):
            B, T, C = x.shape
            k, q = self.key(x), self.query(x)
            wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
            wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
            wei = F.softmax(wei, dim=-1)
            return wei @ self.value(x)

    class MultiHeadAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = nn.ModuleList([Head() for _ in range(HEADS)])
            self.proj = nn.Linear(head_size * HEADS, EMBD)

        def forward(self, x):
            return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))

    sdpa = getattr(F, "scaled_dot_product_attention", None)

    class FusedAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(EMBD, 3 * EMBD, bias=False)
            self.proj = nn.Linear(EMBD, EMBD)
            self.register_buffer("tril", torch.tril(torch.ones(CTX, CTX)))

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(x).view(B, T, 3, HEADS, head_size).permute(2, 0, 3, 1, 4)
            if sdpa is not None:
                y = sdpa(q, k, v, is_causal=True)
            else:
                wei = (q @ k.transpose(-2, -1)) * head_size ** -0.5
                wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
                y = F.softmax(wei, dim=-1) @ v
            return self.proj(y.transpose(1, 2).reshape(B, T, C))

    class FeedFoward(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(EMBD, 4 * EMBD), nn.ReLU(), nn.Linear(4 * EMBD, EMBD))

        def forward(self, x):
            return self.net(x)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.sa = MultiHeadAttention() if variant == "heads" else FusedAttention()
            self.ffwd = FeedFoward()
            self.ln1 = nn.LayerNorm(EMBD)
            self.ln2 = nn.LayerNorm(EMBD)

        def forward(self, x):
            x = x + self.sa(self.ln1(x))
            return x + self.ffwd(self.ln2(x))

    class GPTLanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding_table = nn.Embedding(VOCAB, EMBD)
            self.position_embedding_table = nn.Embedding(CTX, EMBD)
            self.blocks = nn.Sequential(*[Block() for _ in range(LAYERS)])
            self.lm_head = nn.Linear(EMBD, VOCAB)
            self.apply(self._init_weights)

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets):
            B, T = idx.shape
            x = self.token_embedding_table(idx) + self.position_embedding_table(torch.arange(T))
            logits = self.lm_head(self.blocks(x))
            return F.cross_entropy(logits.view(B * T, VOCAB), targets.view(B * T))

    return GPTLanguageModel()


def measure(torch, variant, B, steps, repeats, warmup, seed):
    torch.manual_seed(seed)
    model = build(torch, variant)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 46289, n_params
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.randint(0, VOCAB, (1 << 16,))
    offs = torch.arange(CTX)

    def timed_step():
        ix = torch.randint(len(data) - CTX, (B,))
        x = data[ix[:, None] + offs]
        y = data[ix[:, None] + offs + 1]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        opt.step()
        loss.item()
        return time.perf_counter() - t0

    for _ in range(warmup):
        timed_step()
    blocks, best = [], float("inf")
    for _ in range(repeats):
        s = 0.0
        for _ in range(steps):
            t = timed_step()
            s += t
            best = min(best, t)
        blocks.append(s / steps * 1e3)
    return n_params, blocks, best * 1e3


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def report(torch, variant, batches, steps, repeats, warmup, seed):
    print("workload=gpt_step\nvariant=%s\nattention=%s" % (
        variant, "per-head modules" if variant == "heads" else
        ("F.scaled_dot_product_attention" if hasattr(torch.nn.functional, "scaled_dot_product_attention")
         else "batched heads by hand")))
    for B in batches:
        n_params, blocks, best = measure(torch, variant, B, steps, repeats, warmup, seed)
        print("parameters=%d" % n_params)
        print("b%d_step_ms=%.4f\nb%d_step_ms_min=%.4f\nb%d_step_ms_best=%.4f"
              % (B, median(blocks), B, min(blocks), B, best))
        rates = [1e3 / b for b in blocks]
        print("b%d_steps_per_s=%.1f\nb%d_steps_per_s_min=%.1f\nb%d_steps_per_s_max=%.1f"
              % (B, median(rates), B, min(rates), B, max(rates)))
        sys.stdout.flush()
    print("peak_rss_mb=%.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                print("vm_hwm_mb=%.1f" % (float(line.split()[1]) / 1024.0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", choices=("heads", "fused"), default="fused")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    # Debian's torch runs its GEMMs in OpenBLAS, which otherwise takes every core
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(a.threads))
    try:
        import torch
    except ImportError as e:
        print("gpt_torch.py: PyTorch is not available (%s); install python3-torch "
              "(apt-get install -y python3-torch) and run it with /usr/bin/python3" % e)
        return 0
    torch.set_num_threads(a.threads)
    print("torch_version=%s\nthreads=%d" % (torch.__version__, torch.get_num_threads()))
    report(torch, a.variant, [int(b) for b in a.batches.split(",")], a.steps, a.repeats, a.warmup, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
