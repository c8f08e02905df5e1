#!/usr/bin/python3
"""PyTorch as the oracle of tapegrad's optimizers, LR schedulers and BatchNorm1d.

Draws seeded cases, runs each in torch (float64) and, through
tests/optim_runner (compiled once, one process for every case), in tapegrad,
and compares:
  optimizers  every option combination that matters, a few float64
              parameters of random shapes, 20 steps of gradients drawn here
              (identical in both; some parameters get none on some steps, as
              torch's p.grad None, and some cases change the lr mid-run):
              every parameter after every step and the state at the end
              (exp_avg etc., where the names map), to RTOL_OPTIM
  schedulers  every torch.optim.lr_scheduler kind tapegrad has, random
              hyper-parameters, on SGD/Adam/Adagrad with 1-3 parameter groups:
              after construction and after each of 30 steps every group's lr,
              momentum or beta1 (OneCycleLR cycles them) and parameter, and
              ReduceLROnPlateau's state, to RTOL_OPTIM (optim_oracle_sched.py)
  BatchNorm1d (N, C) and (N, C, L) input, contiguous or transposed, momentum
              values with None (cumulative), affine or not: several training
              steps, then eval (and train again): output, running_mean,
              running_var, num_batches_tracked and the gradients of input,
              weight and bias of a random linear function of the output, to
              RTOL_BN
  LBFGS       Rosenbrock (2-d and n-d, over one or several parameters) and a
              4-8-1 tanh MLP, both line searches, drawn options, several
              steps of a closure: loss and parameters per step, the state at
              the end, to RTOL_LBFGS (optim_oracle_lbfgs.py)
A case torch refuses (a bad option, a batch of one) must fail in tapegrad with
a message, and one torch accepts must succeed. Prints the cases per kind and
ends with "optim oracle: N passed, M failed" counted in kinds; exits non-zero
on any mismatch, printing the first few.

    tests/oracle/optim_oracle.py RUNNER [--seed S] [--reps N] [--only KIND,...] [-v]

The kinds live in optim_oracle_optim.py (optimizers), optim_oracle_sched.py
(schedulers), optim_oracle_lbfgs.py and optim_oracle_bn.py, their shared tolerances and comparison in
optim_oracle_common.py; this file is the driver. A parameter-group case would
be an OptimCase with groups, written as a "groups" section (see the protocol
at the top of tests/optim_runner.c).
"""
import argparse
import io
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from optim_oracle_bn import bn_cases, check_bn, run_torch_bn, write_bn  # noqa: E402
from optim_oracle_common import STATS  # noqa: E402
from optim_oracle_lbfgs import LBFGS_KINDS, check_lbfgs, lbfgs_cases, run_torch_lbfgs, write_lbfgs  # noqa: E402
from optim_oracle_optim import OPTIMIZERS, check_optim, optim_cases, run_torch_optim, write_optim  # noqa: E402
from optim_oracle_sched import SCHEDULERS, check_sched, run_torch_sched, sched_cases, write_sched  # noqa: E402


# ================================================================ driver
def parse_results(text):
    res, cur = {}, None
    for line in text.splitlines():
        parts = line.split(" ")
        tag = parts[0]
        if tag == "res":
            cur = {"status": parts[2], "msg": " ".join(parts[3:]), "p": {}, "state": {}, "bn": [], "rows": {}}
            res[parts[1]] = cur
        elif tag == "p":
            cur["p"][(int(parts[1]), int(parts[2]))] = [float(x) for x in parts[3:]]
        elif tag == "state":
            cur["state"][parts[1]] = [float(x) for x in parts[2:]]
        elif tag == "loss":  # an L-BFGS step's returned loss
            cur.setdefault("loss", {})[int(parts[1])] = float(parts[2])
        elif tag == "lrs":
            cur["lrs"] = [float(x) for x in parts[1:]]
        elif tag in ("slr", "smom", "sp", "spl"):  # a scheduler case's values after step t
            cur["rows"].setdefault(int(parts[1]), {})[tag[1:]] = [float(x) for x in parts[2:]]
        elif tag == "sfail":
            cur["fail_t"], cur["fail"] = int(parts[1]), " ".join(parts[2:]) or "(no message)"
        elif tag == "fail":
            cur["fail"] = " ".join(parts[1:]) or "(no message)"
        elif tag == "y":  # the first line of a BatchNorm step
            cur["bn"].append({"y": [float(x) for x in parts[1:]]})
        elif tag in ("gx", "gw", "gb", "rm", "rv"):
            cur["bn"][-1][tag] = None if parts[1:] == ["none"] else [float(x) for x in parts[1:]]
        elif tag == "nbt":
            cur["bn"][-1]["nbt"] = float(parts[1])
    return res


KINDS = {"optim": (run_torch_optim, write_optim, check_optim),
         "sched": (run_torch_sched, write_sched, check_sched),
         "bn": (run_torch_bn, write_bn, check_bn),
         "lbfgs": (run_torch_lbfgs, write_lbfgs, check_lbfgs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runner")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reps", type=int, default=2, help="cases per option combination (default 2)")
    ap.add_argument("--only", default="", help="comma-separated kinds (SGD, StepLR, BatchNorm1d, ...)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every failing case")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    t0 = time.time()
    by_kind = {}
    for name in list(OPTIMIZERS) + LBFGS_KINDS + list(SCHEDULERS) + ["BatchNorm1d"]:
        if only and name not in only:
            continue
        rng = random.Random(f"{args.seed}:{name}")
        if name in OPTIMIZERS:
            cs = optim_cases(rng, name, args.reps)
        elif name in SCHEDULERS:
            cs = sched_cases(rng, name, args.reps)
        elif name in LBFGS_KINDS:
            cs = lbfgs_cases(rng, args.reps)
        else:
            cs = bn_cases(rng, args.reps)
        for k, c in enumerate(cs):
            c.id = f"{name}#{k}"
            KINDS[c.kind][0](c)
        by_kind[name] = cs
    t_torch = time.time() - t0
    cases = [c for cs in by_kind.values() for c in cs]
    text = io.StringIO()
    for c in cases:
        KINDS[c.kind][1](text, c)
    p = subprocess.run([args.runner], input=text.getvalue(), capture_output=True, text=True)
    if p.returncode != 0:
        print(f"optim oracle: the runner exited {p.returncode}: {p.stderr[-2000:]}")
        print("optim oracle: 0 passed, 1 failed")
        return 1
    results = parse_results(p.stdout)
    n_pass = n_fail = 0
    for name, cs in by_kind.items():
        fails = []
        STATS.update(n=0, worst=0.0)
        for c in cs:
            got = results.get(c.id)
            STATS["case"] = c.id
            m = "no answer from the runner" if got is None else KINDS[c.kind][2](c, got)
            if m:
                fails.append((c, m))
        n_err = sum(1 for c in cs if c.expect[0] == "err" or (c.kind == "bn" and c.expect[2]))
        status = "ok" if not fails else f"FAILED {len(fails)}"
        print(f"optim oracle {name}: {len(cs)} cases ({n_err} where PyTorch raises), "
              f"{STATS['n']} values, worst rel {STATS['worst']:.1e}: {status}")
        if args.verbose:
            print(f"    worst: {STATS['where']}")
        for c, m in fails[: (len(fails) if args.verbose else 3)]:
            print(f"    {c.id} {c.describe()}: {m}")
        n_fail += bool(fails)
        n_pass += not fails
    print(f"optim oracle: {len(cases)} cases over {len(by_kind)} kinds in {time.time() - t0:.1f} s "
          f"(PyTorch {t_torch:.1f} s)")
    print(f"optim oracle: {n_pass} passed, {n_fail} failed")
    return 0 if n_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
