"""The optim oracle's LR-scheduler cases (see optim_oracle.py): every
torch.optim.lr_scheduler kind tapegrad has, drawn with random
hyper-parameters on SGD, Adam or Adagrad with one to three parameter groups
(their own lr and momentum / beta1), 30 steps of optimizer.step() then
scheduler.step() (ReduceLROnPlateau: step(metric)), comparing after
construction and after each step every group's lr, its momentum or beta1
(OneCycleLR cycles them) and the parameters, and ReduceLROnPlateau's best,
num_bad_epochs and cooldown_counter. A spec is (kind, {args}); a
SequentialLR's children are specs made in order on the same optimizer, as a
torch program makes them."""
import math

import torch

from optim_oracle_common import F64, RTOL_OPTIM, SCHED_STEPS, compare_values, fmt

L = torch.optim.lr_scheduler
LAMBDAS = [lambda a: (lambda e: a ** e), lambda a: (lambda e: 1 / (1 + a * e)),
           lambda a: (lambda e: min((e + 1) ** -0.5, (e + 1) * a ** -1.5))]


def make_torch_sched(opt, spec):
    k, a = spec
    if k == "StepLR":
        return L.StepLR(opt, step_size=a["step_size"], gamma=a["gamma"])
    if k == "ExponentialLR":
        return L.ExponentialLR(opt, gamma=a["gamma"])
    if k == "CosineAnnealingLR":
        return L.CosineAnnealingLR(opt, T_max=a["T_max"], eta_min=a["eta_min"])
    if k == "LinearLR":
        return L.LinearLR(opt, start_factor=a["start_factor"], end_factor=a["end_factor"],
                          total_iters=a["total_iters"])
    if k == "MultiStepLR":
        return L.MultiStepLR(opt, milestones=a["milestones"], gamma=a["gamma"])
    if k == "ConstantLR":
        return L.ConstantLR(opt, factor=a["factor"], total_iters=a["total_iters"])
    if k == "LambdaLR":
        return L.LambdaLR(opt, LAMBDAS[a["fn"]](a["a"]))
    if k == "OneCycleLR":
        kw = {key: a[key] for key in ("max_lr", "total_steps", "epochs", "steps_per_epoch", "pct_start",
                                      "anneal_strategy", "cycle_momentum", "base_momentum", "max_momentum",
                                      "div_factor", "final_div_factor", "three_phase") if key in a}
        return L.OneCycleLR(opt, **kw)
    if k == "ReduceLROnPlateau":
        return L.ReduceLROnPlateau(opt, mode=a["mode"], factor=a["factor"], patience=a["patience"],
                                   threshold=a["threshold"], threshold_mode=a["threshold_mode"],
                                   cooldown=a["cooldown"], min_lr=a["min_lr"], eps=a["eps"])
    if k == "SequentialLR":
        children = [make_torch_sched(opt, c) for c in a["children"]]
        return L.SequentialLR(opt, children, milestones=a["milestones"])
    raise KeyError(k)


def spec_tokens(spec):
    k, a = spec

    def lst(v):
        return [str(len(v))] + [fmt(x) for x in v]
    if k == "StepLR":
        return ["step", str(a["step_size"]), fmt(a["gamma"])]
    if k == "ExponentialLR":
        return ["exponential", fmt(a["gamma"])]
    if k == "CosineAnnealingLR":
        return ["cosine", str(a["T_max"]), fmt(a["eta_min"])]
    if k == "LinearLR":
        return ["linear", fmt(a["start_factor"]), fmt(a["end_factor"]), str(a["total_iters"])]
    if k == "MultiStepLR":
        return ["multistep"] + lst(a["milestones"]) + [fmt(a["gamma"])]
    if k == "ConstantLR":
        return ["constant", fmt(a["factor"]), str(a["total_iters"])]
    if k == "LambdaLR":
        return ["lambda", str(a["fn"]), fmt(a["a"])]
    if k == "OneCycleLR":
        m = a["max_lr"]
        return ["onecycle", fmt(0.0 if isinstance(m, list) else m)] + lst(m if isinstance(m, list) else []) + \
            [str(a.get("total_steps") or 0), str(a.get("epochs") or 0), str(a.get("steps_per_epoch") or 0),
             fmt(a["pct_start"]), str(int(a["anneal_strategy"] == "linear")), str(int(a["cycle_momentum"])),
             fmt(a["base_momentum"]), fmt(a["max_momentum"]), fmt(a["div_factor"]),
             fmt(a["final_div_factor"]), str(int(a["three_phase"]))]
    if k == "ReduceLROnPlateau":
        m = a["min_lr"]
        return ["plateau", str(int(a["mode"] == "max")), fmt(a["factor"]), str(a["patience"]),
                fmt(a["threshold"]), str(int(a["threshold_mode"] == "abs")), str(a["cooldown"]),
                fmt(0.0 if isinstance(m, list) else m)] + lst(m if isinstance(m, list) else []) + [fmt(a["eps"])]
    if k == "SequentialLR":
        out = ["sequential", str(len(a["children"]))]
        for c in a["children"]:
            out += spec_tokens(c)
        return out + lst(a["milestones"])
    raise KeyError(k)


def write_spec(spec):
    """SPEC as tests/optim_runner.c reads it; "0" for no scheduler"""
    if spec is None:
        return "0"
    t = spec_tokens(spec)
    return f"{len(t)} {' '.join(t)}"


# ================================================================ drawing
def lr0(rng):
    return rng.choice([0.1, 1.0, rng.uniform(1e-4, 2)])


def draw_spec(rng, name, ng):
    """one spec of kind name with random hyper-parameters torch accepts"""
    r = rng
    if name == "StepLR":
        return name, {"step_size": r.randint(1, 8), "gamma": r.choice([0.1, 0.5, 0.0, 1.0, r.uniform(0.01, 1.5)])}
    if name == "ExponentialLR":
        return name, {"gamma": r.choice([0.9, 0.5, 1.0, 0.0, r.uniform(0.3, 1.1)])}
    if name == "CosineAnnealingLR":
        return name, {"T_max": r.choice([1, 2, r.randint(1, 10), r.randint(5, 40)]),
                      "eta_min": r.choice([0.0, 0.0, r.uniform(0, 0.1), r.uniform(0.1, 2)])}
    if name == "LinearLR":
        return name, {"start_factor": r.choice([1 / 3, r.uniform(0.01, 1), 1.0]),
                      "end_factor": r.choice([1.0, r.uniform(0, 1), 0.0]),
                      "total_iters": r.choice([5, 1, r.randint(1, 40)])}
    if name == "MultiStepLR":
        ms = sorted(r.randint(0, 32) for _ in range(r.randint(0, 6)))
        if r.random() < 0.3:
            r.shuffle(ms)  # torch takes them in any order (a Counter)
        return name, {"milestones": ms, "gamma": r.choice([0.1, 0.5, r.uniform(0, 2)])}
    if name == "ConstantLR":
        return name, {"factor": r.choice([1 / 3, r.uniform(0.01, 1), 1.0]), "total_iters": r.choice([5, 1, r.randint(1, 40)])}
    if name == "LambdaLR":
        fn = r.randint(0, 2)
        return name, {"fn": fn, "a": [r.uniform(0.8, 1.05), r.uniform(0, 0.5), float(r.randint(1, 10))][fn]}
    if name == "OneCycleLR":
        a = {"max_lr": r.choice([r.uniform(0.01, 2), [r.uniform(0.01, 2) for _ in range(ng)]]),
             "pct_start": r.choice([0.3, r.uniform(0.05, 0.95), 0.5]),
             "anneal_strategy": r.choice(["cos", "linear"]), "cycle_momentum": r.random() < 0.7,
             "base_momentum": r.choice([0.85, r.uniform(0.5, 0.9)]),
             "max_momentum": r.choice([0.95, r.uniform(0.9, 0.99)]),
             "div_factor": r.choice([25.0, r.uniform(2, 100)]),
             "final_div_factor": r.choice([1e4, r.uniform(10, 1e5)]), "three_phase": r.random() < 0.4}
        if r.random() < 0.6:
            a["total_steps"] = r.choice([r.randint(10, 28), r.randint(30, 60), SCHED_STEPS - 1])
        else:
            a["epochs"], a["steps_per_epoch"] = r.randint(1, 6), r.randint(2, 10)
        return name, a
    if name == "ReduceLROnPlateau":
        return name, {"mode": r.choice(["min", "max"]), "factor": r.choice([0.1, 0.5, r.uniform(0.05, 0.95)]),
                      "patience": r.choice([0, 1, 2, r.randint(0, 6)]),
                      "threshold": r.choice([1e-4, 0.0, 0.01, 0.1]), "threshold_mode": r.choice(["rel", "abs"]),
                      "cooldown": r.choice([0, 0, 1, r.randint(0, 4)]),
                      "min_lr": r.choice([0.0, r.uniform(0, 0.01), [r.uniform(0, 0.05) for _ in range(ng)]]),
                      "eps": r.choice([1e-8, 0.0, 1e-3])}
    if name == "SequentialLR":
        # the transformer recipe first: LinearLR warmup, then cosine
        if r.random() < 0.4:
            w = r.randint(1, 10)
            kids = [("LinearLR", {"start_factor": r.choice([1 / 3, 0.01, r.uniform(0.01, 1)]), "end_factor": 1.0,
                                  "total_iters": w}),
                    ("CosineAnnealingLR", {"T_max": r.randint(5, 30), "eta_min": r.choice([0.0, 1e-4])})]
            return name, {"children": kids, "milestones": [w]}
        n = r.randint(2, 3)
        kinds = ["LinearLR", "ConstantLR", "ExponentialLR", "StepLR", "CosineAnnealingLR", "MultiStepLR", "LambdaLR"]
        kids = [draw_spec(r, r.choice(kinds), ng) for _ in range(n)]
        if r.random() < 0.2:  # OneCycleLR first (its initial_lr is the others' base), lr only
            kids[0] = draw_spec(r, "OneCycleLR", ng)
            kids[0][1]["cycle_momentum"] = False
        ms = sorted(r.sample(range(1, 26), n - 1))
        return name, {"children": kids, "milestones": ms}
    raise KeyError(name)


# torch refuses these (ValueError, or ZeroDivisionError at the first step
# that divides); tapegrad must refuse them at construction
INVALID = {
    "LinearLR": [{"start_factor": 1.5}, {"start_factor": -0.1}, {"end_factor": 1.2}, {"end_factor": -0.5},
                 {"start_factor": 0.0, "total_iters": 5}],
    "ConstantLR": [{"factor": 1.5}, {"factor": -0.2}, {"factor": 0.0, "total_iters": 7}],
    "StepLR": [{"step_size": 0}],
    "CosineAnnealingLR": [{"T_max": 0}],
    "OneCycleLR": [{"pct_start": 1.5}, {"pct_start": -0.1}, {"total_steps": -3}, {"total_steps": None},
                   {"epochs": 0, "steps_per_epoch": 5, "total_steps": None},
                   {"epochs": 3, "steps_per_epoch": -1, "total_steps": None},
                   {"max_lr": [0.1] * 5}, {"div_factor": 0.0}, {"final_div_factor": 0.0},
                   # pct_start * total_steps = 1: the first phase has zero length at step 0
                   {"total_steps": 10, "pct_start": 0.1},
                   "adagrad"],
    "ReduceLROnPlateau": [{"factor": 1.0}, {"factor": 2.0}, {"min_lr": [0.0] * 5}],
    "SequentialLR": ["milestones"],
}


class SchedCase:
    kind = "sched"

    def __init__(self, name, opt, groups, spec, grads, metrics):
        self.name, self.opt, self.groups, self.spec = name, opt, groups, spec
        self.grads, self.metrics = grads, metrics
        self.id = None
        self.expect = None

    def describe(self):
        return f"{self.name} on {self.opt} groups (lr, momentum) {self.groups}: {self.spec}"


def draw_metrics(rng, mode):
    m, out = rng.uniform(0.5, 2), []
    for _ in range(SCHED_STEPS):
        m *= rng.choice([0.9, 0.99, 0.9999, 1.0, 1.0, 1.0, 1.01, 1.2])
        out.append(m if mode == "min" else 1 / m)
    if rng.random() < 0.2:
        out[rng.randrange(SCHED_STEPS)] = math.nan  # never better: a bad epoch
    return out


def draw_case(rng, name, invalid=None):
    ng = rng.randint(1, 3)
    spec = draw_spec(rng, name, ng)
    opt = rng.choice(["SGD", "Adam", "SGD", "Adam", "Adagrad"])
    if name == "OneCycleLR" and spec[1]["cycle_momentum"] and opt == "Adagrad":
        opt = "SGD"
    if invalid == "adagrad":
        opt, spec[1]["cycle_momentum"] = "Adagrad", True
    elif invalid == "milestones":  # one milestone too many
        spec[1]["milestones"] = spec[1]["milestones"] + [30]
    elif invalid:
        if name == "OneCycleLR":  # the step counts as the invalid entry gives them, else 20
            for key in ("total_steps", "epochs", "steps_per_epoch"):
                spec[1].pop(key, None)
            spec[1]["total_steps"] = 20
        spec[1].update(invalid)
    # SGD momentum 0 is torch's plain SGD; OneCycleLR cycling needs it > 0 in tapegrad
    cycling = name == "OneCycleLR" and spec[1]["cycle_momentum"]
    groups = [(lr0(rng), rng.uniform(0.5, 0.99) if opt == "Adam" else
               rng.choice([0.0, rng.uniform(0.1, 0.99)]) if opt == "SGD" and not cycling else
               rng.uniform(0.1, 0.99) if opt == "SGD" else 0.0) for _ in range(ng)]
    grads = [[rng.gauss(0, 1) for _ in range(ng)] for _ in range(SCHED_STEPS)]
    metrics = draw_metrics(rng, spec[1].get("mode", "min")) if name == "ReduceLROnPlateau" else [0.0] * SCHED_STEPS
    return SchedCase(name, opt, groups, spec, grads, metrics)


SCHEDULERS = ["StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "MultiStepLR", "ConstantLR",
              "LambdaLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR"]


def sched_cases(rng, name, reps):
    out = [draw_case(rng, name) for _ in range(20 * reps)]
    if name == "OneCycleLR":
        # the last step torch allows (total_steps), then one too many; and
        # pct_start 1, whose second phase has zero length at total_steps
        c = draw_case(rng, name)
        c.spec[1].update(total_steps=SCHED_STEPS - 2, epochs=None, steps_per_epoch=None)
        out.append(c)
        c = draw_case(rng, name)
        c.spec[1].update(total_steps=20, pct_start=1.0, epochs=None, steps_per_epoch=None)
        out.append(c)
    for bad in INVALID.get(name, []):
        out.append(draw_case(rng, name, invalid=bad))
    return out


# ================================================================ running
def torch_optimizer(case):
    ps = [torch.ones((), dtype=F64, requires_grad=True) for _ in case.groups]
    if case.opt == "SGD":
        return ps, torch.optim.SGD([{"params": [p], "lr": lr, "momentum": m} for p, (lr, m) in zip(ps, case.groups)],
                                   lr=case.groups[0][0])
    if case.opt == "Adam":
        return ps, torch.optim.Adam([{"params": [p], "lr": lr, "betas": (m, 0.999)} for p, (lr, m) in zip(ps, case.groups)])
    return ps, torch.optim.Adagrad([{"params": [p], "lr": lr} for p, (lr, _) in zip(ps, case.groups)])


def snapshot(opt, sched, ps):
    row = {"lr": [g["lr"] for g in opt.param_groups],
           "mom": [g["betas"][0] if "betas" in g else g["momentum"] if "momentum" in g else math.nan
                   for g in opt.param_groups]}
    if ps is not None:
        row["p"] = [p.item() for p in ps]
    if isinstance(sched, L.ReduceLROnPlateau):
        row["pl"] = [sched.best, sched.num_bad_epochs, sched.cooldown_counter]
    return row


def run_torch_sched(case):
    ps, opt = torch_optimizer(case)
    try:
        s = make_torch_sched(opt, case.spec)
    except (ValueError, ZeroDivisionError) as e:
        case.expect = ("err", f"{type(e).__name__}: {e}")
        return
    rows, fail = [snapshot(opt, s, None)], None
    for t in range(SCHED_STEPS):
        for p, g in zip(ps, case.grads[t]):
            p.grad = torch.tensor(g, dtype=F64)
        opt.step()
        try:
            if isinstance(s, L.ReduceLROnPlateau):
                s.step(case.metrics[t])
            else:
                s.step()
        except (ValueError, ZeroDivisionError) as e:
            fail = (t + 1, f"{type(e).__name__}: {e}")
            break
        rows.append(snapshot(opt, s, ps))
    case.expect = ("ok", rows, fail)


def write_sched(f, case):
    f.write(f"sched {case.id} {case.opt} {len(case.groups)} " +
            " ".join(f"{fmt(lr)} {fmt(m)}" for lr, m in case.groups) +
            f" {SCHED_STEPS} {write_spec(case.spec)}\n")
    for t in range(SCHED_STEPS):
        f.write(" ".join(fmt(g) for g in case.grads[t]) + f" {fmt(case.metrics[t])}\n")


def check_sched(case, got):
    if case.expect[0] == "err":
        if got["status"] != "err":
            return f"PyTorch refuses ({case.expect[1]}), tapegrad accepts"
        return None if got["msg"] and got["msg"] != "(no message)" else "tapegrad fails without a message"
    _, rows, fail = case.expect
    if got["status"] == "err":
        # what torch divides by zero on at a later step (a zero period, a
        # zero factor) tapegrad refuses when it is made
        if fail and fail[1].startswith("ZeroDivisionError") and got["msg"] not in ("", "(no message)"):
            return None
        return f"tapegrad refuses: {got['msg']}"
    # each lr relative to itself, down to a thousandth of the largest (an lr
    # annealed to 0 is 0 in one form and a rounding residue in the other)
    lr_scale = 1e-3 * max((abs(x) for r in rows for x in r["lr"]), default=0.0)
    for t, want in enumerate(rows):
        have = got["rows"].get(t)
        if have is None:
            return f"no values after step {t}" + (f" (tapegrad failed: {got.get('fail')})" if got.get("fail") else "")
        for key in want:
            # the parameters start at 1: a step that brings one near 0 cancels at that scale
            scale = {"lr": lr_scale, "mom": 0.0, "pl": 0.0}.get(key, max([1.0] + [abs(x) for x in want[key]]))
            m = compare_values(f"{key} at step {t}", have.get(key), want[key], RTOL_OPTIM, scale)
            if m:
                return m
    if fail:
        if got.get("fail_t") != fail[0]:
            return f"PyTorch fails at step {fail[0]} ({fail[1]}), tapegrad " + \
                (f"at step {got['fail_t']}" if got.get("fail_t") else "does not")
    elif got.get("fail"):
        return f"tapegrad's step {got['fail_t']} fails: {got['fail']}"
    return None
