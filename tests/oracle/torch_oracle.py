#!/usr/bin/python3
"""PyTorch as the test oracle of tapegrad.

Draws random cases for every op (seeded), runs each in PyTorch (float64) and,
through tests/oracle/oracle_runner (compiled once), in tapegrad, and compares
the forward result (dtype, shape, values), the gradient of every input and,
for double backward, the gradient of sum_i <grad_i, w_i>. A case PyTorch
refuses must fail in tapegrad with a message, and a case PyTorch accepts must
succeed. Prints the cases per op and ends with "oracle: N passed, M failed"
counted in ops (an op passes when all its cases agree).

    tests/oracle/torch_oracle.py RUNNER [--cases N] [--seed S] [--only OP,...] [-v]

Adding an op: a line `op(name, generator, torch_function)` in a
tests/oracle/family_*.py (listed in oracle_cases.py), and a line for the same
name in its C table tests/oracle/oracle_ops_*.c (listed in oracle_ops.c).
oracle_gen.py draws shapes, broadcast pairs, value domains and views; this
file is the driver: the protocol, execution in torch, comparison.
"""
import argparse
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_cases import REGISTRY  # noqa: E402  (the op table, filled by families/)

warnings.filterwarnings("ignore")
torch.set_default_dtype(torch.float64)

RTOL_F64, RTOL_F32 = 1e-9, 2e-6
TORCH_DTYPE = {"f64": torch.float64, "f32": torch.float32, "i64": torch.int64, "bool": torch.bool}
TAG = {v: k for k, v in TORCH_DTYPE.items()}


def fmt(x):
    return repr(float(x))


def build_torch_input(inp):
    t = torch.tensor(inp.values, dtype=torch.float64).reshape(inp.shape)
    if inp.dtype != "f64":
        t = t.to(TORCH_DTYPE[inp.dtype])
    if inp.rg:
        t.requires_grad_(True)
    v = inp.view
    if v[0] == "c":
        view = t
    elif v[0] == "t":
        view = t.transpose(v[1], v[2])
    elif v[0] == "s":
        view = t[(slice(None),) * v[1] + (slice(0, None, 2),)]
    elif v[0] == "n":
        view = t.narrow(v[1], v[2], v[3])
    elif v[0] == "e":
        shape = list(t.shape)
        shape[v[1]] = v[2]
        view = t.expand(shape)
    else:
        raise ValueError(v)
    return t, view


def as_list(out):
    if isinstance(out, torch.Tensor):
        return [out]
    return [o for o in out]


def run_torch(case, rng):
    """Fills case.expect: ('err', msg) or ('ok', outs, grads, ggs)."""
    leaves, views = zip(*(build_torch_input(i) for i in case.inputs)) if case.inputs else ((), ())
    try:
        outs = as_list(case.spec.torch_fn(list(views), case.params))
    except Exception as e:  # PyTorch refuses: tapegrad must too
        case.expect = ("err", str(e).split("\n")[0])
        return
    # upstream gradient for each float output, in order (the runner consumes them so)
    roots, gouts = [], []
    case.gouts = []
    for o in outs:
        if o.dtype.is_floating_point:
            g = [rng.gauss(0, 1) for _ in range(o.numel())]
            case.gouts.append(g)
            if o.requires_grad:
                roots.append(o)
                gouts.append(torch.tensor(g, dtype=o.dtype).reshape(o.shape))
    wrt = [leaf for leaf, i in zip(leaves, case.inputs) if i.rg]
    grads = [None] * len(wrt)
    want_gg = case.gg and bool(wrt)
    try:
        if roots and wrt:
            grads = list(torch.autograd.grad(roots, wrt, gouts, create_graph=want_gg, allow_unused=True))
    except RuntimeError as e:  # PyTorch's own backward fails: nothing to compare
        case.expect = ("skip", str(e).split("\n")[0])
        return
    ggs = None
    if want_gg:
        for i in case.inputs:
            if i.rg:
                i.ggw = [rng.gauss(0, 1) for _ in range(len(i.values))]
        s = None
        k = 0
        for i in case.inputs:
            if not i.rg:
                continue
            g = grads[k]
            k += 1
            if g is not None and g.requires_grad:
                term = (g * torch.tensor(i.ggw).reshape(g.shape)).sum()
                s = term if s is None else s + term
        ggs = [None] * len(wrt)
        if s is not None and s.requires_grad:
            ggs = list(torch.autograd.grad(s, wrt, allow_unused=True))
    # back to one entry per input (None where the input does not require grad)
    def per_input(vals):
        it = iter(vals)
        return [next(it) if i.rg else None for i in case.inputs]

    case.expect = ("ok", [o.detach() for o in outs],
                   [g.detach() if g is not None else None for g in per_input(grads)],
                   None if ggs is None else [g.detach() if g is not None else None for g in per_input(ggs)])


def write_case(f, case):
    f.write(f"case {case.id} {case.spec.c_name}\n")
    for k, v in case.params.items():
        if isinstance(v, str):
            f.write(f"ps {k} {v}\n")
        elif isinstance(v, (list, tuple)):
            f.write(f"p {k} {len(v)} {' '.join(fmt(x) for x in v)}\n")
        else:
            f.write(f"p {k} 1 {fmt(v)}\n")
    for i in case.inputs:
        view = " ".join(str(a) for a in i.view[1:])
        f.write(f"in {i.dtype} {int(i.rg)} {len(i.shape)} {' '.join(map(str, i.shape))} {i.view[0]} {view}\n")
        f.write(" ".join(fmt(x) for x in i.values) + "\n")
    if case.expect[0] == "ok":
        for g in case.gouts:
            f.write(f"gout {len(g)}\n{' '.join(fmt(x) for x in g)}\n")
        for k, i in enumerate(case.inputs):
            if i.ggw is not None:
                f.write(f"ggw {k}\n{' '.join(fmt(x) for x in i.ggw)}\n")
    f.write("run\n")


def parse_results(text):
    """id -> dict(status, msg, outs[(dtype, shape, values)], grads{i: ...}, ggs{i: ...})"""
    res, cur = {}, None
    for line in text.splitlines():
        parts = line.split(" ")
        if parts[0] == "res":
            cur = {"status": parts[2], "msg": " ".join(parts[3:]), "outs": [], "grads": {}, "ggs": {}}
            res[parts[1]] = cur
        elif parts[0] in ("out", "grad", "gg"):
            k = int(parts[1])
            if parts[2] == "none":
                val = None
            else:
                nd = int(parts[3])
                shape = tuple(int(s) for s in parts[4:4 + nd])
                vals = [float(x) for x in parts[5 + nd:]]
                val = (parts[2], shape, vals)
            {"out": cur["outs"].append, "grad": lambda v, k=k: cur["grads"].__setitem__(k, v),
             "gg": lambda v, k=k: cur["ggs"].__setitem__(k, v)}[parts[0]](val)
        elif parts[0] == "ggerr":
            cur["ggerr"] = " ".join(parts[1:])
    return res


def close(a, b, rtol):
    if math.isnan(b):
        return math.isnan(a)
    if math.isinf(b):
        return a == b
    return abs(a - b) <= rtol * (abs(b) + 1.0)


def values_of(t):
    try:
        return t.reshape(-1).tolist()
    except RuntimeError:  # PyTorch's unallocated zero tensor (efficient zeros of a backward)
        return [0.0] * t.numel()


def compare_tensor(what, got, want, zeros_ok=False, f32_case=False):
    """None when equal, else a message. got: (dtype, shape, values) or None.
    Values computed in float32 anywhere in the case (f32_case) are compared
    at float32's tolerance, whatever dtype they end in."""
    if want is None and got is None:
        return None
    # a gradient tapegrad leaves out is zero; PyTorch's may be the rounding residue of one
    rtol0 = RTOL_F32 if f32_case else RTOL_F64
    if got is None:
        if zeros_ok and want is not None and all(close(0.0, float(b), rtol0) for b in values_of(want)):
            return None
        return f"{what}: tapegrad gave none, PyTorch {tuple(want.shape)}"
    if want is None:
        if zeros_ok and all(close(v, 0.0, rtol0) for v in got[2]):
            return None
        return f"{what}: tapegrad gave {got[1]}, PyTorch none"
    dt, shape, vals = got
    if shape != tuple(want.shape):
        return f"{what}: shape {list(shape)}, PyTorch {list(want.shape)}"
    wdt = TAG.get(want.dtype, str(want.dtype))
    if dt != wdt:
        return f"{what}: dtype {dt}, PyTorch {wdt}"
    wv = want.reshape(-1).tolist()
    rtol = RTOL_F32 if dt == "f32" or f32_case else RTOL_F64
    exact = dt in ("i64", "bool")  # integers and bools compare exactly
    for j, (a, b) in enumerate(zip(vals, wv)):
        if (a != b) if exact else not close(a, float(b), rtol):
            return f"{what}[{j}] = {a!r}, PyTorch {float(b)!r}"
    return None


def check(case, got):
    """None when tapegrad agrees with PyTorch, else a message."""
    if got is None:
        return "no answer from the runner"
    if case.expect[0] == "err":
        if got["status"] != "err":
            return f"PyTorch refuses ({case.expect[1]}), tapegrad accepts"
        if not got["msg"] or got["msg"] == "(no message)":
            return "tapegrad fails without a message"
        return None
    if got["status"] == "err":
        return f"tapegrad refuses: {got['msg']}"
    _, outs, grads, ggs = case.expect
    f32 = any(i.dtype == "f32" for i in case.inputs)
    if len(got["outs"]) != len(outs):
        return f"{len(got['outs'])} outputs, PyTorch {len(outs)}"
    for k, (g, w) in enumerate(zip(got["outs"], outs)):
        m = compare_tensor(f"out{k}", g, w)
        if m:
            return m
    for k, w in enumerate(grads):
        m = compare_tensor(f"grad{k}", got["grads"].get(k), w, zeros_ok=True, f32_case=f32)
        if m:
            return m
    if ggs is not None:
        if "ggerr" in got:
            return f"double backward fails: {got['ggerr']}"
        for k, w in enumerate(ggs):
            m = compare_tensor(f"gradgrad{k}", got["ggs"].get(k), w, zeros_ok=True, f32_case=f32)
            if m:
                return m
    return None


def describe(case):
    ins = ", ".join(f"{i.dtype}{list(i.shape)}{'' if i.view[0] == 'c' else ' view ' + str(i.view)}"
                    for i in case.inputs)
    return f"{case.spec.name}({ins}; {case.params})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runner")
    ap.add_argument("--cases", type=int, default=200, help="cases per op (default 200)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated op names")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every failing case")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    t0 = time.time()
    cases, by_op = [], {}
    for spec in REGISTRY:
        if only and spec.name not in only:
            continue
        rng = random.Random(f"{args.seed}:{spec.name}")
        by_op[spec.name] = []
        for k in range(args.cases):
            case = spec.draw(rng)
            case.id = f"{spec.name}#{k}"
            run_torch(case, rng)
            if case.expect[0] == "skip":
                continue
            cases.append(case)
            by_op[spec.name].append(case)
    t_torch = time.time() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cases.txt")
        with open(path, "w") as f:
            for c in cases:
                write_case(f, c)
        with open(path) as f:
            p = subprocess.run([args.runner], stdin=f, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"oracle: the runner exited {p.returncode}: {p.stderr[-2000:]}")
        print("oracle: 0 passed, 1 failed")
        return 1
    results = parse_results(p.stdout)
    n_pass = n_fail = 0
    total = total_err = 0
    for name, cs in by_op.items():
        fails = [(c, check(c, results.get(c.id))) for c in cs]
        fails = [(c, m) for c, m in fails if m]
        n_err = sum(1 for c in cs if c.expect[0] == "err")
        n_gg = sum(1 for c in cs if c.expect[0] == "ok" and c.expect[3] is not None)
        total += len(cs)
        total_err += n_err
        status = "ok" if not fails else f"FAILED {len(fails)}"
        print(f"oracle {name}: {len(cs)} cases ({n_err} errors, {n_gg} double backward) {status}")
        for c, m in fails[: (len(fails) if args.verbose else 2)]:
            print(f"    {describe(c)}: {m}")
        if fails:
            n_fail += 1
        else:
            n_pass += 1
    print(f"oracle: {total} cases ({total_err} where PyTorch raises) over {len(by_op)} ops in "
          f"{time.time() - t0:.1f} s (PyTorch {t_torch:.1f} s)")
    print(f"oracle: {n_pass} passed, {n_fail} failed")
    return 0 if n_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
