#!/usr/bin/env python3
"""PyTorch twin of bench/small_graphs.c (issue 17), op for op: float64 0-d
tensors; every iteration creates the two leaves, builds the graph, runs the
backward and reads g, a.grad and b.grad. Prints the same key=value pairs
(<graph>_ns_per_iter: median over --repeats blocks, _min the minimum).
bench/compare_torch.py runs it as the "small" workload.

    /usr/bin/python3 bench/small_graphs_torch.py [--iters N] [--repeats R]
"""
import argparse
import time


def tiny(torch):
    a = torch.tensor(-41.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    c = a + b
    d = a * b + b ** 3
    e = c - d
    f = e ** 2
    g = f / 2.0
    g.backward()
    return g.item(), a.grad.item(), b.grad.item()


def small(torch):
    """micrograd's README example"""
    a = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    c = a + b
    d = a * b + b ** 3
    c = c + (c + 1)
    c = c + (1 + c + (-a))
    d = d + (d * 2 + (b + a).relu())
    d = d + (3 * d + (b - a).relu())
    e = c - d
    f = e ** 2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    return g.item(), a.grad.item(), b.grad.item()


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def run(torch, iters, repeats):
    torch.set_num_threads(1)
    for name, fn, n in (("tiny", tiny, iters), ("small", small, max(1, iters // 3))):
        for _ in range(20):
            r = fn(torch)
        ns, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.thread_time()
            for _ in range(n):
                r = fn(torch)
            ns.append((time.perf_counter() - t0) * 1e9 / n)
            cpu.append((time.thread_time() - c0) * 1e9 / n)
        print("%s_g=%.4f\n%s_a_grad=%.4f\n%s_b_grad=%.4f" % (name, r[0], name, r[1], name, r[2]))
        print("%s_ns_per_iter=%.1f\n%s_ns_per_iter_min=%.1f" % (name, median(ns), name, min(ns)))
        print("%s_cpu_ns_per_iter=%.1f\n%s_cpu_ns_per_iter_min=%.1f" % (name, median(cpu), name, min(cpu)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    import torch
    print("torch_version=%s" % torch.__version__)
    run(torch, a.iters, a.repeats)


if __name__ == "__main__":
    main()
