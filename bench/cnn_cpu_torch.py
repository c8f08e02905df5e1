#!/usr/bin/python3
"""PyTorch's side of `cnn_step --cpu-clock 1`: the same LeNet-5 step (batch
64, SGD momentum 0.9) and the two convolutions alone, timed by the
process's CPU time (time.process_time) at 1 thread, so that on a busy
machine the time spent waiting for a core does not count. Prints key=value
lines like cnn_step; each value is the minimum over --repeats blocks.

    /usr/bin/python3 bench/cnn_cpu_torch.py [--repeats 20] [--steps 5] [--conv-iters 3]
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--repeats", type=int, default=20)
ap.add_argument("--steps", type=int, default=5)
ap.add_argument("--conv-iters", type=int, default=3)
a = ap.parse_args()
torch.set_num_threads(1)
torch.manual_seed(0)
m = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                  nn.Linear(84, 10))
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))


def step():
    loss = F.cross_entropy(m(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


for _ in range(5):
    step()
best = float("inf")
for _ in range(a.repeats):
    t0 = time.process_time()
    for _ in range(a.steps):
        step()
    best = min(best, (time.process_time() - t0) / a.steps)
print("samples_per_s=%.0f\nstep_us=%.1f" % (64 / best, best * 1e6))
for name, ci, co, hw, pad in (("conv1", 1, 6, 28, 2), ("conv2", 6, 16, 14, 0)):
    ho = hw + 2 * pad - 4
    cx, cw, cb = torch.randn(64, ci, hw, hw), torch.randn(co, ci, 5, 5), torch.randn(co)
    cg = torch.randn(64, co, ho, ho)
    for op in ("fwd", "bwd_input", "bwd_weight"):
        best = float("inf")
        for r in range(a.repeats + 5):  # the first 5 blocks warm oneDNN up
            t = 0.0
            for _ in range(a.conv_iters):
                if op == "fwd":
                    with torch.no_grad():
                        t0 = time.process_time()
                        F.conv2d(cx, cw, cb, padding=pad)
                else:
                    inp = (cx if op == "bwd_input" else cw).detach().requires_grad_()
                    o = F.conv2d(inp if op == "bwd_input" else cx, inp if op == "bwd_weight" else cw, cb, padding=pad)
                    t0 = time.process_time()
                    torch.autograd.grad(o, inp, cg)
                t += time.process_time() - t0
            if r >= 5:
                best = min(best, t / a.conv_iters)
        print("%s_%s_us=%.1f" % (name, op, best * 1e6))
