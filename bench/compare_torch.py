#!/usr/bin/env python3
"""tapegrad against PyTorch eager, side by side, in one run.

For every thread count (--threads, default "1,2") this runs the tapegrad
benchmark programs (build/bench/*, key=value output) and the same workloads
written in PyTorch (this script in --worker mode, each in its own process so
that its thread count and its peak RSS are its own), then prints one table:

    workload | metric | threads | tapegrad | PyTorch | tapegrad/PyTorch | better

and, after it, the benchmark issue's targets with met / NOT met.

Both sides get the same thread count: tg_set_num_threads(N) (OpenBLAS) for
tapegrad; torch.set_num_threads(N) plus OPENBLAS_NUM_THREADS=N and
OMP_NUM_THREADS=N for PyTorch (Debian's torch runs its GEMMs in OpenBLAS,
which otherwise uses every core whatever set_num_threads says).

Run it with the python that has Debian's python3-torch:

    /usr/bin/python3 bench/compare_torch.py --build build-bench            # full sizes, a few minutes
    /usr/bin/python3 bench/compare_torch.py --build build-bench --quick    # smoke run, seconds

Without PyTorch it says so and exits 0.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

TORCH_HINT = ("PyTorch is not available to %s; install Debian's python3-torch "
              "(apt-get install -y python3-torch) and run this script with /usr/bin/python3")

# ---------------------------------------------------------------- sizes

FULL = {
    "tape_n": 200000, "tape_repeats": 5, "torch_tape_repeats": 3,
    "micro_batch": 100, "micro_steps": 20, "torch_micro_steps": 3,
    "mlp_steps": 200, "mlp_repeats": 5, "mlp_warmup": 20,
    "vae_samples": 60000, "vae_epochs": 1, "vae_repeats": 1,
    "mm_repeats": 7, "mm_min_time": 0.1,
    "mm_shapes": "100x784x200,100x200x10,128x784x400,128x400x20,128x20x400,128x400x784,"
                 "1024x1024x1024",
    # tape cost against chain length (1 thread): tapegrad to 10^7, PyTorch to
    # 10^6 (PyTorch's cost per op and memory per node make 10^7 take minutes
    # and gigabytes; bench/RESULTS.md)
    "sweep_n": [1000, 10000, 100000, 1000000, 10000000], "sweep_torch_max": 1000000,
    "cnn_steps": 50, "cnn_repeats": 5, "cnn_warmup": 5, "cnn_conv_iters": 50,
    "gpt_steps": 200, "gpt_repeats": 5, "gpt_warmup": 20,
    "lstm_steps": 100, "lstm_repeats": 5, "lstm_warmup": 10,
    "small_iters": 200000, "small_repeats": 7, "torch_small_iters": 3000, "torch_small_repeats": 5,
}
QUICK = {
    "tape_n": 20000, "tape_repeats": 3, "torch_tape_repeats": 3,
    "micro_batch": 20, "micro_steps": 5, "torch_micro_steps": 2,
    "mlp_steps": 30, "mlp_repeats": 3, "mlp_warmup": 5,
    "vae_samples": 3200, "vae_epochs": 1, "vae_repeats": 1,
    "mm_repeats": 3, "mm_min_time": 0.02,
    "mm_shapes": "100x784x200,100x200x10,128x400x784,1024x1024x1024",
    "sweep_n": [1000, 10000, 100000], "sweep_torch_max": 100000,
    "cnn_steps": 10, "cnn_repeats": 3, "cnn_warmup": 2, "cnn_conv_iters": 10,
    "gpt_steps": 30, "gpt_repeats": 3, "gpt_warmup": 5,
    "lstm_steps": 20, "lstm_repeats": 3, "lstm_warmup": 3,
    "small_iters": 20000, "small_repeats": 3, "torch_small_iters": 300, "torch_small_repeats": 3,
}

# ---------------------------------------------------------------- parsing


def parse_kv(text):
    """key=value output: plain lines into one dict, lines carrying op= (matmul)
    into a list of dicts under 'rows'"""
    out, rows = {}, []
    for line in text.splitlines():
        toks = [t for t in line.split() if "=" in t]
        if not toks:
            continue
        kv = dict(t.split("=", 1) for t in toks)
        if "op" in kv:
            rows.append(kv)
        else:
            out.update(kv)
    if rows:
        out["rows"] = rows
    return out


def num(d, key):
    try:
        return float(d[key])
    except (KeyError, TypeError, ValueError):
        return None


def thread_env(threads):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def cpu_jiffies():
    """(busy, total) jiffies of all CPUs from /proc/stat, or None"""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]) - idle, sum(v[:8])


def busy_fraction(seconds):
    a = cpu_jiffies()
    time.sleep(seconds)
    b = cpu_jiffies()
    if not a or not b or b[1] == a[1]:
        return 0.0
    return (b[0] - a[0]) / float(b[1] - a[1])


WAIT_IDLE = 0.0   # --wait-idle: seconds to wait for an idle machine before each run
BACKGROUND = []   # (what, fraction of all CPUs used by other processes during it)


def wait_idle():
    deadline = time.time() + WAIT_IDLE
    while WAIT_IDLE > 0 and time.time() < deadline:
        if busy_fraction(1.0) < 0.10:
            return
    if WAIT_IDLE > 0:
        sys.stderr.write("  (machine still busy after --wait-idle %gs; measuring anyway)\n" % WAIT_IDLE)


def run(cmd, threads, what):
    """run one benchmark process; parse its key=value output. Also estimates
    how much CPU other processes used meanwhile (the machine may be shared)."""
    wait_idle()
    j0, c0 = cpu_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=thread_env(threads), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    wall = time.perf_counter() - t0
    j1, c1 = cpu_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.stderr.write("%s failed (exit %d): %s\n%s" % (what, p.returncode, " ".join(cmd), p.stderr))
        return None
    bg = None
    if j0 and j1 and j1[1] > j0[1]:
        hz = os.sysconf("SC_CLK_TCK")
        ncpu = os.cpu_count() or 1
        child = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
        bg = max(0.0, ((j1[0] - j0[0]) / float(hz) - child) / (wall * ncpu))
        BACKGROUND.append(("%s t=%d" % (what, threads), bg))
    sys.stderr.write("  %-28s %6.1fs  other processes used %s of the CPUs meanwhile\n"
                     % (what, wall, "?" if bg is None else "%.0f%%" % (100 * bg)))
    return parse_kv(p.stdout)


# ---------------------------------------------------------------- PyTorch workers
# Each runs in its own process (--worker NAME) and prints key=value lines the
# way the C programs do: the median over repeats as key, the minimum as key_min.


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def emit(key, values, fmt="%.1f"):
    print(("%s=" + fmt) % (key, median(values)))
    print(("%s_min=" + fmt) % (key, min(values)))


def emit_rate(key, values, fmt="%.1f"):
    emit(key, values, fmt)
    print(("%s_max=" + fmt) % (key, max(values)))


def worker_tape(torch, a):
    """y = y*1.0001 + 0.5, n times, on a one-element tensor that requires grad"""
    x = torch.tensor([1.0], requires_grad=True)
    rec, bwd, ng = [], [], []
    for _ in range(a.repeats):
        x.grad = None
        t0 = time.perf_counter()
        y = x
        for _ in range(a.n):
            y = y * 1.0001 + 0.5
        t1 = time.perf_counter()
        y.backward()
        t2 = time.perf_counter()
        del y
        with torch.no_grad():
            t3 = time.perf_counter()
            y = x
            for _ in range(a.n):
                y = y * 1.0001 + 0.5
            t4 = time.perf_counter()
        del y
        rec.append((t1 - t0) * 1e9 / (2 * a.n))
        bwd.append((t2 - t1) * 1e9 / (2 * a.n))
        ng.append((t4 - t3) * 1e9 / (2 * a.n))
    print("n=%d" % a.n)
    emit("record_ns_per_op", rec)
    emit("backward_ns_per_node", bwd)
    emit("nograd_ns_per_op", ng)
    print("grad=%.6g" % x.grad.item())


def worker_micro(torch, a):
    """bench/tape_overhead.c's micrograd MLP 2-16-16-1 on 0-d tensors, op for op"""
    import math
    import random
    rnd = random.Random(1337)
    sizes = [2, 16, 16, 1]
    params = []
    for l in range(3):
        for _ in range(sizes[l + 1]):
            for i in range(sizes[l] + 1):  # weights, then the bias
                params.append(torch.tensor(rnd.uniform(-1, 1) if i < sizes[l] else 0.0,
                                           requires_grad=True))
    xs, ys = [], []
    for s in range(a.batch):
        t = math.pi * rnd.random()
        up = s % 2 == 0
        x0 = (math.cos(t) if up else 1 - math.cos(t)) + 0.1 * rnd.gauss(0, 1)
        x1 = (math.sin(t) if up else 0.5 - math.sin(t)) + 0.1 * rnd.gauss(0, 1)
        xs.append((torch.tensor(x0), torch.tensor(x1)))
        ys.append(1.0 if up else -1.0)
    opt = torch.optim.SGD(params, lr=0.05)

    def forward(x):
        inp, p = list(x), 0
        for l in range(3):
            nin, out = sizes[l], []
            for _ in range(sizes[l + 1]):
                act = params[p + nin]
                for i in range(nin):
                    act = act + params[p + i] * inp[i]
                out.append(act.relu() if l < 2 else act)
                p += nin + 1
            inp = out
        return inp[0]

    def step():
        data = None
        for s in range(a.batch):
            h = (forward(xs[s]) * -ys[s] + 1.0).relu()
            data = h if data is None else data + h
        reg = None
        for p in params:
            sq = p * p
            reg = sq if reg is None else reg + sq
        loss = data * (1.0 / a.batch) + reg * 1e-4
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    step()
    us = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        us.append((time.perf_counter() - t0) / a.steps * 1e6)
    print("micro_mlp_batch=%d" % a.batch)
    emit("micro_mlp_us_per_step", us)


def time_steps(step, a):
    """a.warmup steps, then a.repeats blocks of a.steps: samples/s and us/step"""
    for _ in range(a.warmup):
        step()
    sps, us = [], []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        dt = time.perf_counter() - t0
        sps.append(a.batch * a.steps / dt)
        us.append(dt / a.steps * 1e6)
    emit_rate("samples_per_s", sps, "%.0f")
    emit("step_us", us)


def worker_mlp(torch, a):
    from torch import nn
    import torch.nn.functional as F
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 10))
    for m in model:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, (2.0 / (m.in_features + m.out_features)) ** 0.5)
            nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.rand(a.batch, 784)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    time_steps(step, a)


def worker_vae(torch, a):
    """the VAE of bench/vae_torch.py (PyTorch's examples/vae) on random bytes of
    the MNIST shape, scaled /255 per batch as a DataLoader would"""
    from torch import nn
    import torch.nn.functional as F
    rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    torch.manual_seed(1)

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, 20)
            self.fc22 = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def forward(self, x):
            h1 = F.relu(self.fc1(x))
            mu, logvar = self.fc21(h1), self.fc22(h1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar

    def loss_fn(recon, x, mu, logvar):
        bce = F.binary_cross_entropy(recon, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    data = torch.randint(0, 256, (a.samples, 784), dtype=torch.uint8)
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def batches():
        order = torch.randperm(a.samples)
        for i in range(0, a.samples, a.batch):  # the last short batch is kept
            yield data[order[i:i + a.batch]].float().div_(255.0)

    def step(x):
        opt.zero_grad()
        recon, mu, logvar = model(x)
        loss = loss_fn(recon, x, mu, logvar)
        loss.backward()
        opt.step()
        return loss.item()

    for i, x in enumerate(batches()):
        if i >= a.warmup:
            break
        step(x)
    spe = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.epochs):
            for x in batches():
                step(x)
        spe.append((time.perf_counter() - t0) / a.epochs)
    print("samples=%d" % a.samples)
    emit("seconds_per_epoch", spe, "%.3f")
    emit_rate("samples_per_s", [a.samples / s for s in spe], "%.0f")
    print("peak_rss_mb=%.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
    print("import_rss_mb=%.1f" % rss_import)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                print("vm_hwm_mb=%.1f" % (float(line.split()[1]) / 1024.0))


def worker_matmul(torch, a):
    """torch.mm for the three products of a Linear layer, as bench/matmul.c"""
    gen = torch.Generator().manual_seed(1)
    for shape in a.shapes.split(","):
        m, k, n = (int(v) for v in shape.split("x"))
        x = torch.rand(m, k, generator=gen) * 2 - 1
        w = torch.rand(n, k, generator=gen) * 2 - 1
        g = torch.rand(m, n, generator=gen) * 2 - 1
        ops = [("fwd", lambda: torch.mm(x, w.t())), ("bwd_a", lambda: torch.mm(g, w)),
               ("bwd_b", lambda: torch.mm(x.t(), g))]
        flop = 2.0 * m * n * k
        for name, fn in ops:
            fn()
            t0 = time.perf_counter()
            fn()
            one = time.perf_counter() - t0
            iters = min(1000000, int(a.min_time / one) + 1 if one > 0 else 1000)
            gf = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                for _ in range(iters):
                    fn()
                gf.append(flop * iters / (time.perf_counter() - t0) / 1e9)
            print("m=%d n=%d k=%d op=%s gflops=%.2f gflops_min=%.2f gflops_max=%.2f"
                  % (m, n, k, name, median(gf), min(gf), max(gf)))
            sys.stdout.flush()


def worker_cnn(torch, a):
    """bench/cnn_step.c: issue 11's LeNet-5 (PyTorch's default init), one
    training step on a fixed random batch, then each convolution alone at its
    shapes: forward without grad, and torch.autograd.grad of the output w.r.t.
    the input alone and the weight alone (only that call timed)"""
    from torch import nn
    import torch.nn.functional as F
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    time_steps(step, a)
    sys.stdout.flush()
    for name, cin, cout, hw, pad in (("conv1", 1, 6, 28, 2), ("conv2", 6, 16, 14, 0)):
        ho = hw + 2 * pad - 4
        cx = torch.randn(a.batch, cin, hw, hw)
        cw = torch.randn(cout, cin, 5, 5)
        cb = torch.randn(cout)
        cg = torch.randn(a.batch, cout, ho, ho)

        def timed(op, iters):
            t = 0.0
            inp = cx if op == "bwd_input" else cw
            inp.requires_grad_(op != "fwd")
            for _ in range(iters):
                t0 = time.perf_counter()
                out = F.conv2d(cx, cw, cb, padding=pad)
                if op != "fwd":
                    t0 = time.perf_counter()
                    torch.autograd.grad(out, inp, cg)
                t += time.perf_counter() - t0
            inp.requires_grad_(False)
            return t

        for op in ("fwd", "bwd_input", "bwd_weight"):
            timed(op, max(a.n, 50))  # oneDNN takes tens of calls to reach its speed
            emit("%s_%s_us" % (name, op), [timed(op, a.n) / a.n * 1e6 for _ in range(a.repeats)])
    print("peak_rss_mb=%.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                print("vm_hwm_mb=%.1f" % (float(line.split()[1]) / 1024.0))


def worker_lstm(torch, a):
    """bench/lstm_step.c: examples/char_lstm's training step (Embedding(27, 24)
    -> LSTM(24, 64, 2 layers, batch_first) over pack_padded_sequence ->
    Linear(64, 27), summed cross-entropy over the real tokens / their count,
    AdamW 3e-3, clip_grad_norm_(1.0)) on one fixed batch of 32 words padded
    to 12, word b of length 2 + (7 b mod 11)"""
    from torch import nn
    import torch.nn.functional as F
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    torch.manual_seed(0)
    B, T, H = a.batch, 12, 64
    emb, lstm, head = nn.Embedding(27, 24), nn.LSTM(24, H, num_layers=2, batch_first=True), nn.Linear(H, 27)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.01)
    lengths = torch.tensor([2 + (7 * k) % 11 for k in range(B)])
    x, y = torch.randint(1, 27, (B, T)), torch.randint(1, 27, (B, T))
    for k in range(B):
        x[k, lengths[k]:] = 0
        y[k, lengths[k]:] = -100
    tokens = int(lengths.sum())

    def step():
        packed = pack_padded_sequence(emb(x), lengths, batch_first=True, enforce_sorted=False)
        out, _ = lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        loss = F.cross_entropy(head(out).reshape(-1, 27), y.reshape(-1), ignore_index=-100,
                               reduction="sum") / tokens
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    sps, us = [], []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        dt = time.perf_counter() - t0
        sps.append(a.steps / dt)
        us.append(dt / a.steps * 1e6)
    emit_rate("steps_per_s", sps)
    emit("step_us", us)
    print("peak_rss_mb=%.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))


def worker_small(torch, a):
    """bench/small_graphs.c's two scalar graphs (bench/small_graphs_torch.py)"""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import small_graphs_torch
    small_graphs_torch.run(torch, a.n, a.repeats)


def worker_main(a):
    try:
        import torch
    except ImportError as e:
        print(TORCH_HINT % sys.executable + " (%s)" % e, file=sys.stderr)
        return 3
    torch.set_num_threads(a.threads)
    print("torch_version=%s" % torch.__version__)
    print("threads=%d" % torch.get_num_threads())
    {"tape": worker_tape, "micro": worker_micro, "mlp": worker_mlp, "vae": worker_vae,
     "matmul": worker_matmul, "cnn": worker_cnn, "lstm": worker_lstm,
     "small": worker_small}[a.worker](torch, a)
    return 0


# ---------------------------------------------------------------- driver


TORCH_PYTHON = sys.executable  # set by main() to a python that has torch
# the workloads (--only) each program serves
PROGRAM_WORKLOADS = {"tape_overhead": {"tape", "sweep"}, "mlp_step": {"mlp"}, "vae_epoch": {"vae"},
                     "matmul": {"matmul"}, "cnn_step": {"cnn"}, "gpt_step": {"gpt"},
                     "small_graphs": {"small"}, "lstm_step": {"lstm"}}
# bench/gpt_torch.py's two ways of writing the gpt_mini model
GPT_VARIANTS = (("heads", "per-head modules (the lecture)"), ("fused", "fused qkv, batched heads"))
GPT_BATCHES = (1, 64)


def torch_cmd(worker, threads, **kw):
    cmd = [TORCH_PYTHON, os.path.abspath(__file__), "--worker", worker, "--threads", str(threads)]
    for k, v in kw.items():
        cmd += ["--" + k.replace("_", "-"), str(v)]
    return cmd


def collect(args, S, threads):
    """{(side, workload): parsed output} for one thread count"""
    b = os.path.join(args.build, "bench")
    t = str(threads)
    res = {}
    want = set(args.only.split(",")) if args.only else {"tape", "sweep", "mlp", "vae", "matmul", "cnn", "gpt",
                                                             "lstm"}
    want = set(args.only.split(",")) if args.only else {"tape", "sweep", "mlp", "vae", "matmul", "cnn",
                                                                  "gpt", "small"}
    if "small" in want and threads == 1:  # scalar graphs: single-threaded on both sides
        res["tg", "small"] = run([os.path.join(b, "small_graphs"), "--iters", str(S["small_iters"]),
                                  "--repeats", str(S["small_repeats"])],
                                 threads, "tapegrad small_graphs")
        res["pt", "small"] = run(torch_cmd("small", threads, n=S["torch_small_iters"],
                                           repeats=S["torch_small_repeats"]),
                                 threads, "PyTorch small graphs")
    if "tape" in want:
        res["tg", "tape"] = run([os.path.join(b, "tape_overhead"), "--threads", t,
                                 "--n", str(S["tape_n"]), "--repeats", str(S["tape_repeats"]),
                                 "--micro-batch", str(S["micro_batch"]),
                                 "--micro-steps", str(S["micro_steps"])],
                                threads, "tapegrad tape_overhead")
        res["pt", "tape"] = run(torch_cmd("tape", threads, n=S["tape_n"],
                                          repeats=S["torch_tape_repeats"]),
                                threads, "PyTorch tape")
        res["pt", "micro"] = run(torch_cmd("micro", threads, batch=S["micro_batch"],
                                           steps=S["torch_micro_steps"], repeats=3),
                                 threads, "PyTorch micro MLP")
    if "sweep" in want and threads == 1:  # the tape is single-threaded: one count is enough
        for n in S["sweep_n"]:
            reps = 3 if n <= 1000000 else 2  # the first pass of a repeat faults the pages in
            res["tg", "sweep", n] = run([os.path.join(b, "tape_overhead"), "--threads", t,
                                         "--n", str(n), "--repeats", str(reps),
                                         "--micro-steps", "0"],
                                        threads, "tapegrad tape N=%d" % n)
            if n <= S["sweep_torch_max"]:
                res["pt", "sweep", n] = run(torch_cmd("tape", threads, n=n,
                                                      repeats=3 if n <= 100000 else 1),
                                            threads, "PyTorch tape N=%d" % n)
    if "mlp" in want:
        res["tg", "mlp"] = run([os.path.join(b, "mlp_step"), "--threads", t,
                                "--steps", str(S["mlp_steps"]), "--repeats", str(S["mlp_repeats"]),
                                "--warmup", str(S["mlp_warmup"])],
                               threads, "tapegrad mlp_step")
        res["pt", "mlp"] = run(torch_cmd("mlp", threads, steps=S["mlp_steps"],
                                         repeats=S["mlp_repeats"], warmup=S["mlp_warmup"]),
                               threads, "PyTorch mlp step")
    if "vae" in want:
        vae = dict(samples=S["vae_samples"], epochs=S["vae_epochs"], repeats=S["vae_repeats"])
        res["tg", "vae"] = run([os.path.join(b, "vae_epoch"), "--threads", t] +
                               sum([["--" + k, str(v)] for k, v in vae.items()], []),
                               threads, "tapegrad vae_epoch")
        res["pt", "vae"] = run(torch_cmd("vae", threads, **vae), threads, "PyTorch vae epoch")
    if "matmul" in want:
        res["tg", "matmul"] = run([os.path.join(b, "matmul"), "--threads", t,
                                   "--repeats", str(S["mm_repeats"]),
                                   "--min-time", str(S["mm_min_time"]), "--shapes", S["mm_shapes"]],
                                  threads, "tapegrad matmul")
        res["pt", "matmul"] = run(torch_cmd("matmul", threads, min_time=S["mm_min_time"],
                                            shapes=S["mm_shapes"], repeats=S["mm_repeats"]),
                                  threads, "PyTorch matmul")
    if "cnn" in want:
        res["tg", "cnn"] = run([os.path.join(b, "cnn_step"), "--threads", t,
                                "--steps", str(S["cnn_steps"]), "--repeats", str(S["cnn_repeats"]),
                                "--warmup", str(S["cnn_warmup"]),
                                "--conv-iters", str(S["cnn_conv_iters"])],
                               threads, "tapegrad cnn_step")
        res["pt", "cnn"] = run(torch_cmd("cnn", threads, steps=S["cnn_steps"], repeats=S["cnn_repeats"],
                                         warmup=S["cnn_warmup"], n=S["cnn_conv_iters"]),
                               threads, "PyTorch cnn step")
    if "lstm" in want:
        lstm = ["--steps", str(S["lstm_steps"]), "--repeats", str(S["lstm_repeats"]),
                "--warmup", str(S["lstm_warmup"])]
        res["tg", "lstm"] = run([os.path.join(b, "lstm_step"), "--threads", t] + lstm, threads,
                                "tapegrad lstm_step")
        res["pt", "lstm"] = run(torch_cmd("lstm", threads, steps=S["lstm_steps"], repeats=S["lstm_repeats"],
                                          warmup=S["lstm_warmup"]), threads, "PyTorch lstm step")
    if "gpt" in want:
        steps = ["--steps", str(S["gpt_steps"]), "--repeats", str(S["gpt_repeats"]),
                 "--warmup", str(S["gpt_warmup"]), "--batches", ",".join(str(x) for x in GPT_BATCHES)]
        res["tg", "gpt"] = run([os.path.join(b, "gpt_step"), "--threads", t] + steps, threads,
                               "tapegrad gpt_step")
        for v, _ in GPT_VARIANTS:
            res["pt", "gpt_" + v] = run([TORCH_PYTHON, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                   "gpt_torch.py"),
                                         "--variant", v, "--threads", t] + steps, threads,
                                        "PyTorch gpt step (%s)" % v)
    return res


CNN_CONVS = (("conv1", "1->6 5x5 pad 2, 28x28"), ("conv2", "6->16 5x5, 14x14"))
CNN_OPS = ("fwd", "bwd_input", "bwd_weight")


def fmt(v, digits=None):
    if v is None:
        return "n/a"
    if digits is None:
        digits = 0 if abs(v) >= 1000 else (1 if abs(v) >= 10 else (2 if abs(v) >= 1 else 3))
    return "%.*f" % (digits, v)


def table_rows(all_res, threads_list):
    """rows of (workload, metric, threads, tg, pt, better, note)"""
    rows = []

    def add(workload, metric, t, tg, pt, better, note=""):
        rows.append((workload, metric, t, tg, pt, better, note))

    for t in threads_list:
        r = all_res[t]
        tg, pt = r.get(("tg", "small")) or {}, r.get(("pt", "small")) or {}
        for gname, what in (("tiny", "tiny 10-node graph"), ("small", "micrograd README graph")):
            if not (tg or pt):
                break
            add("%s graph" % gname, "CPU ns/iter", t, num(tg, gname + "_cpu_ns_per_iter"),
                num(pt, gname + "_cpu_ns_per_iter"), "lower", "this thread's CPU time (shared machines)")
            add("%s graph" % gname, "ns/iter", t, num(tg, gname + "_ns_per_iter"),
                num(pt, gname + "_ns_per_iter"), "lower",
                "%s: %s nodes; g %s, a.grad %s, b.grad %s (PyTorch %s, %s, %s); floors: plain C "
                "%s ns, writing 296 B/node %s ns"
                % (what, tg.get(gname + "_nodes", "?"), tg.get(gname + "_g", "?"),
                   tg.get(gname + "_a_grad", "?"), tg.get(gname + "_b_grad", "?"),
                   pt.get(gname + "_g", "?"), pt.get(gname + "_a_grad", "?"),
                   pt.get(gname + "_b_grad", "?"), tg.get(gname + "_plain_ns_per_iter", "?"),
                   tg.get(gname + "_write_ns_per_iter", "?")))
        tg, pt = r.get(("tg", "tape")) or {}, r.get(("pt", "tape")) or {}
        if tg or pt:
            add("tape", "record ns/op", t, num(tg, "record_ns_per_op"), num(pt, "record_ns_per_op"),
                "lower", "N=%s (PyTorch N=%s)" % (tg.get("n", "?"), pt.get("n", "?")))
            add("tape", "backward ns/node", t, num(tg, "backward_ns_per_node"),
                num(pt, "backward_ns_per_node"), "lower")
            add("tape", "no_grad ns/op", t, num(tg, "nograd_ns_per_op"), num(pt, "nograd_ns_per_op"),
                "lower")
            add("tape", "bytes/node (tape only)", t, num(tg, "tape_bytes_per_node"), None, "lower",
                "all: %s B/node incl. result tensor; writing them alone: %s ns/node"
                % (tg.get("bytes_per_node", "?"), tg.get("write_ns_per_node", "?")))
            ptm = r.get(("pt", "micro")) or {}
            add("micro MLP 2-16-16-1", "us/step", t, num(tg, "micro_mlp_us_per_step"),
                num(ptm, "micro_mlp_us_per_step"), "lower",
                "batch %s, %s ops/step, %s mallocs/step" % (tg.get("micro_mlp_batch", "?"),
                                                           tg.get("micro_mlp_ops_per_step", "?"),
                                                           tg.get("micro_mlp_mallocs_per_step", "?")))
        for n in sorted(k[2] for k in r if k[:2] == ("tg", "sweep")):
            tg, pt = r.get(("tg", "sweep", n)) or {}, r.get(("pt", "sweep", n)) or {}
            w = "tape N=%s" % tg.get("n", n)
            add(w, "record ns/op", t, num(tg, "record_ns_per_op"), num(pt, "record_ns_per_op"), "lower",
                "%d recorded ops" % (2 * n))
            add(w, "backward ns/node", t, num(tg, "backward_ns_per_node"),
                num(pt, "backward_ns_per_node"), "lower")
            add(w, "no_grad ns/op", t, num(tg, "nograd_ns_per_op"), num(pt, "nograd_ns_per_op"),
                "lower")
            add(w, "bytes/node", t, num(tg, "bytes_per_node"), None, "lower",
                "scope_end %s ns/op" % tg.get("free_ns_per_op", "?"))
        tg, pt = r.get(("tg", "mlp")) or {}, r.get(("pt", "mlp")) or {}
        if tg or pt:
            add("mlp_step 784-200-10", "samples/s", t, num(tg, "samples_per_s"),
                num(pt, "samples_per_s"), "higher",
                "batch 100; GEMM-bound %s samples/s" % fmt(
                    100e6 / num(tg, "gemm_alone_us") if num(tg, "gemm_alone_us") else None))
            add("mlp_step 784-200-10", "gemm_bound_fraction", t, num(tg, "gemm_bound_fraction"),
                None, "higher", "gemm_share %s" % tg.get("gemm_share", "?"))
            add("mlp_step 784-200-10", "mallocs/step", t, num(tg, "mallocs_per_step"), None, "lower",
                "inside OpenBLAS %s, tapegrad pool %s" % (tg.get("blas_mallocs_per_step", "?"),
                                                          tg.get("tg_pool_mallocs_per_step", "?")))
        tg, pt = r.get(("tg", "vae")) or {}, r.get(("pt", "vae")) or {}
        if tg or pt:
            add("vae_epoch", "s/epoch", t, num(tg, "seconds_per_epoch"), num(pt, "seconds_per_epoch"),
                "lower", "%s samples, batch 128" % tg.get("samples", pt.get("samples", "?")))
            add("vae_epoch", "peak RSS MB", t, num(tg, "peak_rss_mb"), num(pt, "peak_rss_mb"),
                "lower", "VmHWM %s vs %s MB; PyTorch after import: %s MB"
                % (tg.get("vm_hwm_mb", "?"), pt.get("vm_hwm_mb", "?"), pt.get("import_rss_mb", "?")))
            add("vae_epoch", "mallocs/step", t, num(tg, "mallocs_per_step"), None, "lower",
                "inside OpenBLAS %s, tapegrad pool %s" % (tg.get("blas_mallocs_per_step", "?"),
                                                          tg.get("tg_pool_mallocs_per_step", "?")))
        tg, pt = r.get(("tg", "cnn")) or {}, r.get(("pt", "cnn")) or {}
        if tg or pt:
            add("cnn_step LeNet-5", "samples/s", t, num(tg, "samples_per_s"), num(pt, "samples_per_s"),
                "higher", "batch 64, SGD momentum 0.9")
            for c, what in CNN_CONVS:
                for op in CNN_OPS:
                    add("cnn %s %s" % (c, op), "us", t, num(tg, "%s_%s_us" % (c, op)),
                        num(pt, "%s_%s_us" % (c, op)), "lower", what + ", batch 64")
            add("cnn_step LeNet-5", "peak RSS MB", t, num(tg, "vm_hwm_mb"), num(pt, "vm_hwm_mb"),
                "lower", "VmHWM; ru_maxrss %s vs %s MB" % (tg.get("peak_rss_mb", "?"),
                                                           pt.get("peak_rss_mb", "?")))
            add("cnn_step LeNet-5", "mallocs/step", t, num(tg, "mallocs_per_step"), None, "lower",
                "inside OpenBLAS %s, tapegrad pool %s" % (tg.get("blas_mallocs_per_step", "?"),
                                                          tg.get("tg_pool_mallocs_per_step", "?")))
        tg, pt = r.get(("tg", "lstm")) or {}, r.get(("pt", "lstm")) or {}
        if tg or pt:
            add("lstm_step char_lstm", "steps/s", t, num(tg, "steps_per_s"), num(pt, "steps_per_s"), "higher",
                "batch 32, T 12, 2-layer LSTM H 64, lengths, AdamW + clipping")
            add("lstm_step char_lstm", "peak RSS MB", t, num(tg, "peak_rss_mb"), num(pt, "peak_rss_mb"), "lower")
            add("lstm_step char_lstm", "mallocs/step", t, num(tg, "mallocs_per_step"), None, "lower")
        tg = r.get(("tg", "gpt")) or {}
        for B in GPT_BATCHES if tg or any(r.get(("pt", "gpt_" + v)) for v, _ in GPT_VARIANTS) else ():
            for v, what in GPT_VARIANTS:
                pt = r.get(("pt", "gpt_" + v)) or {}
                add("gpt_step batch %d" % B, "steps/s", t, num(tg, "b%d_steps_per_s" % B),
                    num(pt, "b%d_steps_per_s" % B), "higher", "PyTorch: " + what)
                add("gpt_step batch %d" % B, "min step ms", t, num(tg, "b%d_step_ms_min" % B),
                    num(pt, "b%d_step_ms_min" % B), "lower",
                    "PyTorch: %s; fastest single step %s vs %s ms" % (what, tg.get("b%d_step_ms_best" % B, "?"),
                                                                      pt.get("b%d_step_ms_best" % B, "?")))
            add("gpt_step batch %d" % B, "mallocs/step", t, num(tg, "b%d_mallocs_per_step" % B), None, "lower",
                "tapegrad pool %s" % tg.get("b%d_tg_pool_mallocs_per_step" % B, "?"))
        if tg:
            pt = r.get(("pt", "gpt_fused")) or {}
            add("gpt_step (both batches)", "peak RSS MB", t, num(tg, "vm_hwm_mb"), num(pt, "vm_hwm_mb"), "lower",
                "VmHWM, PyTorch fused qkv; ru_maxrss %s vs %s MB" % (tg.get("peak_rss_mb", "?"),
                                                                    pt.get("peak_rss_mb", "?")))
        tg, pt = r.get(("tg", "matmul")) or {}, r.get(("pt", "matmul")) or {}
        ptrows = {(x["m"], x["n"], x["k"], x["op"]): x for x in pt.get("rows", [])}
        for x in tg.get("rows", []):
            key = (x["m"], x["n"], x["k"], x["op"])
            p = ptrows.get(key, {})
            add("matmul %sx%sx%s %s" % (x["m"], x["k"], x["n"], x["op"]), "GFLOP/s", t,
                num(x, "gflops"), num(p, "gflops"), "higher",
                "sgemm %s, tapegrad/sgemm %s (%s)" % (x.get("ref_gflops", "?"), x.get("ratio", "?"),
                                                      x.get("blas", "?")))
    return rows


def print_table(rows, out):
    out.write("| workload | metric | threads | tapegrad | PyTorch | tapegrad/PyTorch | better | notes |\n")
    out.write("| --- | --- | ---: | ---: | ---: | ---: | --- | --- |\n")
    for w, m, t, tg, pt, better, note in rows:
        ratio = tg / pt if tg is not None and pt else None
        out.write("| %s | %s | %d | %s | %s | %s | %s | %s |\n"
                  % (w, m, t, fmt(tg), fmt(pt), fmt(ratio, 3) if ratio is not None else "n/a",
                     better, note))


def check_targets(all_res, threads_list):
    """[(target, met: True/False/None, detail)]"""
    out = []
    r1 = all_res.get(1, {})
    r2 = all_res.get(2, {})

    def g(res, side, wl, key):
        return num(res.get((side, wl)) or {}, key)

    def verdict(ok):
        return None if ok is None else bool(ok)

    for gname, factor in (("tiny", 500), ("small", 300)):
        tgs, pts = g(r1, "tg", "small", gname + "_ns_per_iter"), g(r1, "pt", "small", gname + "_ns_per_iter")
        tgc, ptc = (g(r1, "tg", "small", gname + "_cpu_ns_per_iter"),
                    g(r1, "pt", "small", gname + "_cpu_ns_per_iter"))
        if tgs and pts:
            same = all((r1.get(("tg", "small")) or {}).get(gname + k) ==
                       (r1.get(("pt", "small")) or {}).get(gname + k) for k in ("_g", "_a_grad", "_b_grad"))
            out.append(("%s graph >= %dx PyTorch iterations/s, gradients as PyTorch's (4 decimals)"
                        % (gname, factor), verdict(pts / tgs >= factor and same),
                        "%.0f vs %.0f ns/iter (%.0fx; in CPU time %s); values %s"
                        % (tgs, pts, pts / tgs, "%.0fx" % (ptc / tgc) if tgc and ptc else "?",
                           "equal" if same else "DIFFER")))
    tg_rec, pt_rec = g(r1, "tg", "tape", "record_ns_per_op"), g(r1, "pt", "tape", "record_ns_per_op")
    tg_bwd, pt_bwd = (g(r1, "tg", "tape", "backward_ns_per_node"),
                      g(r1, "pt", "tape", "backward_ns_per_node"))
    if tg_rec and pt_rec:
        out.append(("tape record <= 1/100 of PyTorch eager ns/op", verdict(tg_rec <= pt_rec / 100),
                    "%.1f vs %.1f/100 = %.1f ns (PyTorch/tapegrad = %.0fx)"
                    % (tg_rec, pt_rec, pt_rec / 100, pt_rec / tg_rec)))
    if tg_bwd and pt_bwd:
        out.append(("tape backward <= 1/100 of PyTorch eager ns/node", verdict(tg_bwd <= pt_bwd / 100),
                    "%.1f vs %.1f/100 = %.1f ns (PyTorch/tapegrad = %.0fx)"
                    % (tg_bwd, pt_bwd, pt_bwd / 100, pt_bwd / tg_bwd)))
    if tg_rec:
        out.append(("tape record <= 50 ns/op", verdict(tg_rec <= 50), "%.1f ns/op" % tg_rec))
    # issue 17: the long chain keeps its figures, the micro MLP all-in per op
    tg_bytes = g(r1, "tg", "tape", "bytes_per_node")
    if tg_rec and tg_bwd and tg_bytes:
        out.append(("tape record <= 40 ns/op, backward <= 40 ns/node, <= 296 bytes/node",
                    verdict(tg_rec <= 40 and tg_bwd <= 40 and tg_bytes <= 296),
                    "%.1f ns/op, %.1f ns/node, %.0f B/node" % (tg_rec, tg_bwd, tg_bytes)))
    mm = g(r1, "tg", "tape", "micro_mlp_ns_per_op")
    if mm:
        out.append(("micro MLP <= 30 ns per op all-in (record + backward + free + SGD)",
                    verdict(mm <= 30), "%.1f ns/op" % mm))
    tb = g(r1, "tg", "tape", "tape_bytes_per_node")
    if tb is not None:
        out.append(("tape <= 128 bytes/node beyond saved values", verdict(tb <= 128),
                    "%.0f B/node (%s B/node with the result tensor)"
                    % (tb, (r1.get(("tg", "tape")) or {}).get("bytes_per_node", "?"))))
    sweep = sorted(k[2] for k in r1 if k[:2] == ("tg", "sweep"))
    if len(sweep) >= 2:
        def per(key):
            return [num(r1.get(("tg", "sweep", n)) or {}, key) for n in sweep]
        parts, ok = [], True
        for key, what in (("record_ns_per_op", "record ns/op"), ("backward_ns_per_node", "backward ns/node"),
                          ("bytes_per_node", "bytes/node")):
            v = per(key)
            if None in v:  # a run failed: its message is above the table
                continue
            spread = max(v) / min(v)
            ok = ok and spread <= (1.1 if key == "bytes_per_node" else 2.0)
            parts.append("%s %s (max/min %.2f)" % (what, " / ".join(fmt(x) for x in v), spread))
        out.append(("tape cost linear in N from %d to %d (per-op time within 2x, bytes within 10%%)"
                    % (sweep[0], sweep[-1]), verdict(ok), "; ".join(parts)))
    s1, p1 = g(r1, "tg", "mlp", "samples_per_s"), g(r1, "pt", "mlp", "samples_per_s")
    if s1 and p1:
        out.append(("mlp_step >= 1.2x PyTorch samples/s at 1 thread", verdict(s1 >= 1.2 * p1),
                    "%.0f vs %.0f (%.2fx)" % (s1, p1, s1 / p1)))
    pbest = max([v for v in (g(all_res[t], "pt", "mlp", "samples_per_s") for t in threads_list) if v]
                or [0]) or None
    s2 = g(r2, "tg", "mlp", "samples_per_s")
    if s2 and pbest:
        out.append(("mlp_step at 2 threads >= 1.8x PyTorch's best", verdict(s2 >= 1.8 * pbest),
                    "%.0f vs best %.0f (%.2fx)" % (s2, pbest, s2 / pbest)))
    for t in threads_list:
        f = g(all_res[t], "tg", "mlp", "gemm_bound_fraction")
        if f is not None:
            out.append(("mlp_step >= 90%% of GEMM-bound (%d thread%s)" % (t, "s" if t > 1 else ""),
                        verdict(f >= 0.9), "gemm_bound_fraction %.3f" % f))
    v1, q1 = g(r1, "tg", "vae", "seconds_per_epoch"), g(r1, "pt", "vae", "seconds_per_epoch")
    if v1 and q1:
        out.append(("vae_epoch <= 0.8x PyTorch seconds at 1 thread", verdict(v1 <= 0.8 * q1),
                    "%.2f vs %.2f s (%.2fx)" % (v1, q1, v1 / q1)))
    qbest = min([v for v in (g(all_res[t], "pt", "vae", "seconds_per_epoch") for t in threads_list) if v]
                or [0]) or None
    v2 = g(r2, "tg", "vae", "seconds_per_epoch")
    if v2 and qbest:
        out.append(("vae_epoch at 2 threads <= 0.5x PyTorch's best", verdict(v2 <= 0.5 * qbest),
                    "%.2f vs best %.2f s (%.2fx)" % (v2, qbest, v2 / qbest)))
    m1, n1 = g(r1, "tg", "vae", "peak_rss_mb"), g(r1, "pt", "vae", "peak_rss_mb")
    if m1 and n1:
        out.append(("vae_epoch peak RSS <= 0.25x PyTorch's", verdict(m1 <= 0.25 * n1),
                    "%.0f vs %.0f MB (%.2fx)" % (m1, n1, m1 / n1)))
    c1, d1 = g(r1, "tg", "cnn", "samples_per_s"), g(r1, "pt", "cnn", "samples_per_s")
    if c1 and d1:
        out.append(("cnn_step >= 1.3x PyTorch samples/s at 1 thread", verdict(c1 >= 1.3 * d1),
                    "%.0f vs %.0f (%.2fx)" % (c1, d1, c1 / d1)))
    dbest = max([v for v in (g(all_res[t], "pt", "cnn", "samples_per_s") for t in threads_list) if v]
                or [0]) or None
    c2 = g(r2, "tg", "cnn", "samples_per_s")
    if c2 and dbest:
        out.append(("cnn_step at 2 threads >= 1.3x PyTorch's best", verdict(c2 >= 1.3 * dbest),
                    "%.0f vs best %.0f (%.2fx)" % (c2, dbest, c2 / dbest)))
    conv_rt = []
    for t in threads_list:
        for c, _ in CNN_CONVS:
            for op in CNN_OPS:
                a_, b_ = (g(all_res[t], side, "cnn", "%s_%s_us" % (c, op)) for side in ("tg", "pt"))
                if a_ and b_:
                    conv_rt.append((a_ / b_, "%s %s t=%d" % (c, op, t)))
    if conv_rt:
        bad = [x for x in conv_rt if x[0] > 1.1]
        out.append(("cnn each conv layer (fwd, bwd_input, bwd_weight) <= 1.1x PyTorch's time",
                    verdict(not bad), "worst %.2fx (%s); %d of %d above 1.1"
                    % (max(conv_rt)[0], max(conv_rt)[1], len(bad), len(conv_rt))))
    e1, f1 = g(r1, "tg", "cnn", "vm_hwm_mb"), g(r1, "pt", "cnn", "vm_hwm_mb")
    if e1 and f1:
        out.append(("cnn_step peak RSS <= 0.3x PyTorch's", verdict(e1 <= 0.3 * f1),
                    "%.0f vs %.0f MB VmHWM (%.2fx)" % (e1, f1, e1 / f1)))
    worst = None
    for t in threads_list:
        for x in (all_res[t].get(("tg", "matmul")) or {}).get("rows", []):
            rt = num(x, "ratio")
            if rt is not None and (worst is None or rt < worst[0]):
                worst = (rt, "%sx%sx%s %s, %d thread%s" % (x["m"], x["k"], x["n"], x["op"], t,
                                                          "s" if t > 1 else ""))
    if worst:
        below = sum(1 for t in threads_list for x in (all_res[t].get(("tg", "matmul")) or {}).get("rows", [])
                    if (num(x, "ratio") or 0) < 0.95)
        out.append(("matmul >= 95% of raw sgemm (every shape and op)", verdict(worst[0] >= 0.95),
                    "worst %.3f (%s); %d case(s) below 0.95" % (worst[0], worst[1], below)))
    for B, factor in ((1, 5.0), (64, 2.0)):
        key = "b%d_steps_per_s" % B
        tgs = [(g(all_res[t], "tg", "gpt", key), t) for t in threads_list]
        pts = [(g(all_res[t], "pt", "gpt_" + v, key), "%s t=%d" % (v, t))
               for t in threads_list for v, _ in GPT_VARIANTS]
        tgs, pts = [x for x in tgs if x[0]], [x for x in pts if x[0]]
        if tgs and pts:
            a_, b_ = max(tgs), max(pts)
            out.append(("gpt_step batch %d >= %gx PyTorch's best variant (steps/s, each at its best thread count)"
                        % (B, factor), verdict(a_[0] >= factor * b_[0]),
                        "%.0f (t=%d) vs %.0f (%s): %.2fx" % (a_[0], a_[1], b_[0], b_[1], a_[0] / b_[0])))
    gm = g(r1, "tg", "gpt", "vm_hwm_mb")
    gp = [x for x in (g(r1, "pt", "gpt_" + v, "vm_hwm_mb") for v, _ in GPT_VARIANTS) if x]
    if gm and gp:
        out.append(("gpt_step peak RSS <= 0.1x PyTorch's", verdict(gm <= 0.1 * min(gp)),
                    "%.1f vs %.0f MB VmHWM (%.3fx)" % (gm, min(gp), gm / min(gp))))
    mallocs = []
    for t in threads_list:
        for wl, key in (("mlp", "mallocs_per_step"), ("vae", "mallocs_per_step"), ("cnn", "mallocs_per_step"),
                        ("tape", "micro_mlp_mallocs_per_step"), ("tape", "mallocs_per_op"),
                        ("gpt", "b1_mallocs_per_step"), ("gpt", "b64_mallocs_per_step"),
                        ("lstm", "mallocs_per_step")):
            v = g(all_res[t], "tg", wl, key)
            if v is not None:
                mallocs.append((v, "%s %s t=%d" % (wl, key, t)))
    if mallocs:
        bad = [m for m in mallocs if m[0] > 0]
        blas = {}
        for t in threads_list:
            for wl in ("mlp", "vae", "cnn"):
                v = g(all_res[t], "tg", wl, "blas_mallocs_per_step")
                if v:
                    blas["%s t=%d" % (wl, t)] = v
        out.append(("zero mallocs per steady step (whole process)", verdict(not bad),
                    ("; ".join("%s=%g" % (w, v) for v, w in bad) +
                     ("; of these inside OpenBLAS's sgemm: " +
                      ", ".join("%s %g" % kv for kv in blas.items()) if blas else ""))
                    if bad else "0 in all %d counts" % len(mallocs)))
        own = [(v - (blas.get(w.split(" ")[0] + " " + w.split(" ")[-1], 0) if w.split(" ")[0] in
                     ("mlp", "vae", "cnn") else 0), w) for v, w in mallocs]
        own_bad = [m for m in own if m[0] > 0]
        out.append(("zero mallocs per steady step outside OpenBLAS (tapegrad's own)",
                    verdict(not own_bad),
                    "; ".join("%s=%g" % (w, v) for v, w in own_bad) if own_bad else
                    "0 in all %d counts" % len(own)))
    if 1 in all_res and 2 in all_res:
        slower = []
        rows1 = {(w, m): tg for w, m, t, tg, pt, b, n in table_rows(all_res, [1])}
        for w, m, t, tg, pt, b, n in table_rows(all_res, [2]):
            v1 = rows1.get((w, m))
            if tg is None or v1 is None or "mallocs" in m or "bytes" in m or "RSS" in m or "fraction" in m:
                continue
            worse = tg > v1 * 1.03 if b == "lower" else tg < v1 / 1.03
            if worse:
                slower.append("%s %s: %s -> %s" % (w, m, fmt(v1), fmt(tg)))
        out.append(("tapegrad at 2 threads never slower than at 1 (3% noise allowance)",
                    verdict(not slower), "; ".join(slower) if slower else "no workload slower"))
    l1, m1 = g(r1, "tg", "lstm", "steps_per_s"), g(r1, "pt", "lstm", "steps_per_s")
    if l1 and m1:
        out.append(("lstm_step >= 1.5x PyTorch steps/s at 1 thread", verdict(l1 >= 1.5 * m1),
                    "%.1f vs %.1f (%.2fx)" % (l1, m1, l1 / m1)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--build", default="build", help="meson build directory (default build)")
    ap.add_argument("--threads", default="1,2", help='thread counts, e.g. "1,2"')
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--only", default="", help="subset of tape,sweep,mlp,vae,matmul,cnn,gpt,lstm,small")
    ap.add_argument("--json", default="", help="also write every parsed result to this file")
    ap.add_argument("--markdown", default="", help="also write the table and targets to this file")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before each run wait up to SECONDS for the machine to be idle "
                         "(<10%% CPU busy over 1 s); for shared machines")
    # worker mode (internal): one PyTorch workload in this process
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    for name, typ, default in (("n", int, 100000), ("repeats", int, 3), ("steps", int, 100),
                               ("warmup", int, 5), ("batch", int, 0), ("samples", int, 60000),
                               ("epochs", int, 1), ("min-time", float, 0.1), ("shapes", str, "")):
        ap.add_argument("--" + name, type=typ, default=default, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        if a.threads and "," in a.threads:
            ap.error("--worker takes one thread count")
        a.threads = int(a.threads)
        if not a.batch:
            a.batch = {"micro": 100, "mlp": 100, "vae": 128, "cnn": 64, "lstm": 32}.get(a.worker, 0)
        return worker_main(a)

    # The driver never imports torch itself: on Linux a child's ru_maxrss
    # starts from its parent's peak, so a driver holding torch would inflate
    # every peak RSS it measures. A subprocess finds a python that has torch.
    global TORCH_PYTHON
    torch_version = None
    for py in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if not os.access(py, os.X_OK):
            continue
        p = subprocess.run([py, "-c", "import torch; print(torch.__version__)"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        if p.returncode == 0:
            TORCH_PYTHON, torch_version = py, p.stdout.strip()
            break
    if torch_version is None:
        print("compare_torch.py: " + TORCH_HINT % " or ".join(
            dict.fromkeys([sys.executable, "/usr/bin/python3"])))
        return 0
    threads_list = [int(t) for t in a.threads.split(",") if t.strip()]
    want = set(a.only.split(",")) if a.only else None
    missing = [p for p in ("tape_overhead", "mlp_step", "vae_epoch", "matmul", "cnn_step", "gpt_step",
                           "lstm_step", "small_graphs")
               if want is None or PROGRAM_WORKLOADS[p] & want]
    missing = [p for p in missing
               if not os.access(os.path.join(a.build, "bench", p), os.X_OK)]
    if missing:
        print("compare_torch.py: %s not built in %s/bench; build first, e.g.\n"
              "  meson setup %s --buildtype=release -Dbench=true && ninja -C %s"
              % (", ".join(missing), a.build, a.build, a.build))
        return 1
    global WAIT_IDLE
    WAIT_IDLE = a.wait_idle
    S = QUICK if a.quick else FULL
    all_res = {}
    for t in threads_list:
        sys.stderr.write("threads=%d\n" % t)
        all_res[t] = collect(a, S, t)
    rows = table_rows(all_res, threads_list)
    targets = check_targets(all_res, threads_list)
    import io
    buf = io.StringIO()
    buf.write("tapegrad vs PyTorch %s (%s sizes; tapegrad/PyTorch < 1 is better where lower is "
              "better, > 1 where higher is)\n\n" % (torch_version, "quick" if a.quick else "full"))
    print_table(rows, buf)
    buf.write("\nTargets (benchmark issue):\n\n")
    for name, ok, detail in targets:
        buf.write("- %s %s: %s\n" % ("met    " if ok else ("NOT met" if ok is False else "n/a    "),
                                     name, detail))
    if BACKGROUND:
        worst = max(BACKGROUND, key=lambda x: x[1])
        buf.write("\nOther processes' CPU use during the runs: mean %.0f%%, worst %.0f%% (%s) of all "
                  "CPUs; numbers taken under load are not trustworthy.\n"
                  % (100 * sum(b for _, b in BACKGROUND) / len(BACKGROUND), 100 * worst[1], worst[0]))
    sys.stdout.write(buf.getvalue())
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(buf.getvalue())
    if a.json:
        with open(a.json, "w") as f:
            dump = {str(t): {"/".join(str(x) for x in k): v for k, v in r.items()}
                    for t, r in all_res.items()}
            dump["background_cpu"] = dict(BACKGROUND)
            json.dump(dump, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
