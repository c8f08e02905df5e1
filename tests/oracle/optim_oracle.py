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
  schedulers  the lr after construction and after each of 30 steps, against
              get_last_lr(), to RTOL_OPTIM
  BatchNorm1d (N, C) and (N, C, L) input, contiguous or transposed, momentum
              values with None (cumulative), affine or not: several training
              steps, then eval (and train again): output, running_mean,
              running_var, num_batches_tracked and the gradients of input,
              weight and bias of a random linear function of the output, to
              RTOL_BN
A case torch refuses (a bad option, a batch of one) must fail in tapegrad with
a message, and one torch accepts must succeed. Prints the cases per kind and
ends with "optim oracle: N passed, M failed" counted in kinds; exits non-zero
on any mismatch, printing the first few.

    tests/oracle/optim_oracle.py RUNNER [--seed S] [--reps N] [--only KIND,...] [-v]
"""
import argparse
import io
import itertools
import math
import os
import random
import subprocess
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore")  # scheduler.step() before optimizer.step()
# The default dtype stays float32, as in a user's program: torch 1.13 makes
# NAdam's mu_product (and every step count) a torch.tensor(1.) of that dtype.
F64 = torch.float64

RTOL_OPTIM = 1e-12
# BatchNorm's backward subtracts means of products: its rounding grows with
# the batch, and torch's kernel orders the sums differently
RTOL_BN = 1e-11
STEPS = 20
SCHED_STEPS = 30


def fmt(x):
    return repr(float(x))


# per kind: values compared and the worst error seen, in units of the tolerance's base
STATS = {"n": 0, "worst": 0.0, "where": ""}


def close(a, b, rtol, scale):
    """a within rtol of |b| + scale: relative for the tensor's large entries,
    and at the tensor's scale (its largest magnitude) for entries that
    cancelled to near zero, whose rounding is that of the terms they came
    from (a parameter crossing zero, RMSprop's centered sq - avg^2)"""
    STATS["n"] += 1
    if math.isnan(b):
        return math.isnan(a)
    if math.isinf(b):
        return a == b
    base = abs(b) + scale
    err = abs(a - b) / base if base else (0.0 if a == b else math.inf)
    if err > STATS["worst"]:
        STATS.update(worst=err, where=f"{a!r} vs {b!r}")
    return err <= rtol


def compare_values(what, got, want, rtol, scale=None):
    """None when equal, else a message; got and want are lists of floats;
    scale: the size of the terms that cancel, one for all or one per value
    (default the largest |want|)"""
    if got is None:
        return f"{what}: tapegrad gave none"
    if len(got) != len(want):
        return f"{what}: {len(got)} values, PyTorch {len(want)}"
    if scale is None:
        scale = max((abs(w) for w in want if math.isfinite(w)), default=0.0)
    for j, (a, b) in enumerate(zip(got, want)):
        w0 = STATS["worst"]
        ok = close(a, b, rtol, scale[j] if isinstance(scale, list) else scale)
        if STATS["worst"] > w0:
            STATS["where"] = f"{STATS['where']} at {what}[{j}] of {STATS['case']}"
        if not ok:
            rel = abs(a - b) / abs(b) if b else float("inf")
            return f"{what}[{j}] = {a!r}, PyTorch {b!r} (rel {rel:.2g})"
    return None


def flat(t):
    return t.detach().reshape(-1).tolist()


def rand_shape(rng):
    return [rng.randint(1, 4) for _ in range(rng.randint(0, 3))]


def rand_values(rng, n, scale=1.0):
    return [rng.gauss(0, 1) * scale for _ in range(n)]


def numel(shape):
    return math.prod(shape)


# ================================================================ optimizers
# Each optimizer: torch's class, the options that change the algorithm (each
# a list of values: the choices every combination runs through; a callable
# draws a fresh value), and the options that are only tuned (drawn, or left
# out so both sides use their defaults).


def u(a, b):
    return lambda rng: rng.uniform(a, b)


OFF = 0.0
LR = ("lr", lambda rng: rng.choice([1e-3, 1e-2, 0.1, rng.uniform(1e-3, 0.5)]))
# eps 0 with a zero gradient divides 0 by 0: the NaN must come out the same
EPS = ("eps", lambda rng: rng.choice([1e-8, 1e-6, 1e-3, 0.1, 1e-8, 0.0]))
BETAS = ("betas", lambda rng: rng.choice([(0.9, 0.999), (rng.uniform(0.5, 0.99), rng.uniform(0.9, 0.9999)),
                                          (rng.uniform(0, 0.9), rng.uniform(0.3, 0.9)),
                                          (0.0, rng.uniform(0, 0.999)), (rng.uniform(0, 0.9), 0.0)]))

OPTIMIZERS = {
    # SGD's lr has no default in torch 1.13: always given
    "SGD": (torch.optim.SGD,
            {"momentum": [OFF, u(0.1, 0.99)], "dampening": [OFF, u(0.05, 0.9)],
             "nesterov": [False, True], "weight_decay": [OFF, u(1e-4, 0.1)],
             "maximize": [False, True]},
            [LR], {"lr"}),
    "Adam": (torch.optim.Adam,
             {"amsgrad": [False, True], "weight_decay": [OFF, u(1e-4, 0.1)],
              "maximize": [False, True], "betas": [(0.9, 0.999), BETAS[1]]},
             [LR, EPS], set()),
    "AdamW": (torch.optim.AdamW,
              {"amsgrad": [False, True], "weight_decay": [OFF, u(1e-4, 0.1), None],
               "maximize": [False, True], "betas": [(0.9, 0.999), BETAS[1]]},
              [LR, EPS], set()),
    "RMSprop": (torch.optim.RMSprop,
                {"centered": [False, True], "momentum": [OFF, u(0.1, 0.99)],
                 "weight_decay": [OFF, u(1e-4, 0.1)], "maximize": [False, True]},
                [LR, EPS, ("alpha", lambda rng: rng.choice([u(0.5, 0.999)(rng), 1.0, 0.99]))], set()),
    "Adagrad": (torch.optim.Adagrad,
                {"lr_decay": [OFF, u(1e-3, 0.5)], "initial_accumulator_value": [OFF, u(0.01, 2)],
                 "weight_decay": [OFF, u(1e-4, 0.1)], "maximize": [False, True]},
                [LR, ("eps", lambda rng: rng.choice([1e-10, 1e-6, 0.1, 0.0]))], set()),
    "Adamax": (torch.optim.Adamax,
               {"weight_decay": [OFF, u(1e-4, 0.1)], "maximize": [False, True],
                "betas": [(0.9, 0.999), BETAS[1]]},
               [LR, EPS], set()),
    "Adadelta": (torch.optim.Adadelta,
                 {"weight_decay": [OFF, u(1e-4, 0.1)], "maximize": [False, True],
                  "rho": [0.9, u(0.3, 0.99), 1.0, 0.0]},
                 [("lr", lambda rng: rng.choice([1.0, 0.1, rng.uniform(0.05, 2)])), EPS], set()),
    "NAdam": (torch.optim.NAdam,
              {"weight_decay": [OFF, u(1e-4, 0.1)], "momentum_decay": [4e-3, OFF, u(1e-3, 0.5)],
               "betas": [(0.9, 0.999), BETAS[1]]},
              [LR, EPS], set()),
    # beta2 below ~0.6 keeps rho_t <= 5 for ever (never adaptive); 0.999
    # turns adaptive at step 6; both paths and the switch are covered
    "RAdam": (torch.optim.RAdam,
              {"weight_decay": [OFF, u(1e-4, 0.1)],
               "betas": [(0.9, 0.999), BETAS[1], (0.9, 0.5), (0.8, 0.9)]},
              [LR, EPS], set()),
}

# Options torch checks in the constructor, and a bad value for each; tapegrad
# must refuse them too. (Left out: NaN options and a negative SGD dampening,
# which torch 1.13 never checks and tapegrad refuses: see the report.)
INVALID = {
    "SGD": [("lr", -0.1), ("momentum", -0.5), ("weight_decay", -1e-3)],
    "Adam": [("lr", -1e-3), ("eps", -1e-8), ("betas", (1.0, 0.999)), ("betas", (0.9, 1.0)),
             ("betas", (-0.1, 0.999)), ("weight_decay", -0.1)],
    "AdamW": [("lr", -1e-3), ("eps", -1e-8), ("betas", (1.0, 0.999)), ("betas", (0.9, -0.5)),
              ("weight_decay", -0.1)],
    "RMSprop": [("lr", -0.01), ("eps", -1e-8), ("momentum", -0.9), ("weight_decay", -0.1),
                ("alpha", -0.5)],
    "Adagrad": [("lr", -0.01), ("lr_decay", -0.1), ("weight_decay", -0.1),
                ("initial_accumulator_value", -1.0), ("eps", -1e-10)],
    "Adamax": [("lr", -2e-3), ("eps", -1e-8), ("betas", (1.0, 0.999)), ("betas", (0.9, 1.5)),
               ("weight_decay", -0.1)],
    "Adadelta": [("lr", -1.0), ("rho", 1.5), ("rho", -0.1), ("eps", -1e-6), ("weight_decay", -0.1)],
    "NAdam": [("lr", -2e-3), ("eps", -1e-8), ("betas", (1.0, 0.999)), ("betas", (0.9, 1.0)),
              ("weight_decay", -0.1), ("momentum_decay", -4e-3)],
    "RAdam": [("lr", -1e-3), ("eps", -1e-8), ("betas", (1.0, 0.999)), ("betas", (0.9, 1.0)),
              ("weight_decay", -0.1)],
}


# and NaN in every checked option: torch's "not 0.0 <= x" refuses it (SGD's
# "x < 0.0" does not: left out, tapegrad refuses NaN everywhere)
for _name, _bad in INVALID.items():
    if _name != "SGD":
        _bad += sorted({(k, (math.nan, 0.999) if k == "betas" else math.nan) for k, _ in _bad})


# Odd values torch accepts (its checks stop at these bounds): tapegrad must
# accept them too, and agree
ODD = {
    "SGD": [("lr", 0.0), ("momentum", 1.0), ("momentum", 1.5), ("dampening", 1.0), ("dampening", 1.5),
            ("weight_decay", 2.0)],
    "Adam": [("lr", 0.0), ("eps", 10.0), ("betas", (0.0, 0.0))],
    "AdamW": [("lr", 0.0), ("weight_decay", 5.0), ("betas", (0.0, 0.0))],
    "RMSprop": [("lr", 0.0), ("alpha", 0.0), ("alpha", 1.5), ("momentum", 1.0), ("momentum", 2.0)],
    "Adagrad": [("lr", 0.0), ("lr_decay", 50.0), ("initial_accumulator_value", 100.0), ("eps", 10.0)],
    "Adamax": [("lr", 0.0), ("betas", (0.0, 0.0)), ("eps", 10.0)],
    "Adadelta": [("lr", 0.0), ("eps", 10.0), ("weight_decay", 3.0)],
    "NAdam": [("lr", 0.0), ("momentum_decay", 100.0), ("betas", (0.0, 0.0))],
    "RAdam": [("lr", 0.0), ("betas", (0.0, 0.0)), ("betas", (0.99, 0.9999))],
}


class OptimCase:
    kind = "optim"

    def __init__(self, name, opts, params, steps, sched=None):
        self.name, self.opts, self.params, self.steps = name, opts, params, steps
        self.sched = sched  # None, or a SchedCase's (name, a, b), stepped after each step
        self.id = None
        self.expect = None

    def describe(self):
        shapes = [list(s) for s, _ in self.params]
        lrs = [(t, lr) for t, (lr, _) in enumerate(self.steps) if lr is not None]
        return f"{self.name}({self.opts}) params {shapes}" + (f" lr changes {lrs}" if lrs else "") + \
            (f" scheduler {self.sched}" if self.sched else "")


def draw_value(rng, v):
    return v(rng) if callable(v) else v


def draw_optim_case(rng, name, combo, invalid=None, nan=False):
    cls, switches, tuned, required = OPTIMIZERS[name]
    opts = {}
    for key, v in combo.items():
        v = draw_value(rng, v)
        if v is not None:  # None: left to both sides' default
            opts[key] = v
    for key, gen in tuned:
        if key in required or rng.random() < 0.8:
            opts[key] = gen(rng)
    if invalid:
        opts[invalid[0]] = invalid[1]
    if nan:  # eps 0 and a zero first gradient: 0/0, and the NaN carries on
        opts["eps"] = 0.0
    if opts.get("eps", 1) == 0 and opts.get("betas", (0, 1))[1] == 0:
        # beta2 0 without eps steps by m/|g|: a sign step so ill-conditioned
        # that rounding grows by orders of magnitude
        opts["betas"] = (opts["betas"][0], 0.5)
    n_params = rng.randint(1, 3)
    params = [(s, rand_values(rng, numel(s))) for s in (rand_shape(rng) for _ in range(n_params))]
    scales = [rng.choice([1.0, 1.0, 1e-3, 30.0]) for _ in params]
    # a parameter may sit out its first steps, then take a gradient only now and then
    late = [rng.choice([0, 0, 0, rng.randint(1, 8)]) for _ in params]
    p_absent = rng.choice([0.0, 0.0, 0.2, 0.5])
    lr_change = rng.random() < 0.4
    t_change = rng.randint(3, STEPS - 3)
    steps = []
    for t in range(STEPS if not invalid else 0):
        # a zero gradient is still a gradient (zero_grad(set_to_none=False)): the step runs
        grads = {i: rand_values(rng, numel(s), scales[i] if rng.random() > 0.05 and not (nan and t == 0) else 0.0)
                 for i, (s, _) in enumerate(params) if t >= late[i] and rng.random() >= p_absent}
        lr = None
        if lr_change and t == t_change:
            lr = opts.get("lr", 1e-3) * rng.uniform(0.1, 3.0)
        steps.append((lr, grads))
    return OptimCase(name, opts, params, steps)


def optim_cases(rng, name, reps):
    cls, switches, tuned, required = OPTIMIZERS[name]
    keys = list(switches)
    out = []
    for values in itertools.product(*(switches[k] for k in keys)):
        for _ in range(reps):
            out.append(draw_optim_case(rng, name, dict(zip(keys, values))))
    for bad in INVALID[name]:
        out.append(draw_optim_case(rng, name, {}, invalid=bad))
    for odd in ODD[name]:
        combo = {k: rng.choice(v) for k, v in switches.items()}
        if name == "SGD":
            combo["nesterov"] = False
        if odd == ("alpha", 0.0):
            # centered with alpha 0 is sqrt(g*g - g*g): 0 in tapegrad; torch's
            # fused multiply-add leaves the rounding error of g*g, and the
            # square root of a negative one is NaN (a deliberate difference)
            combo["centered"] = False
        combo[odd[0]] = odd[1]
        out.append(draw_optim_case(rng, name, combo))
    # a scheduler driving the lr the steps use (no lr changes by hand: torch's
    # schedulers chain onto them, tapegrad's closed forms do not)
    for sched in SCHEDULERS:
        combo = {k: rng.choice(v) for k, v in switches.items()}
        if name == "SGD":  # nesterov takes only momentum > 0 without dampening
            combo["nesterov"] = False
        c = draw_optim_case(rng, name, combo)
        c.steps = [(None, grads) for _, grads in c.steps]
        s = sched_cases(rng, sched, 1)[0]
        c.sched = (sched, s.a, s.b)
        out.append(c)
    if name not in ("SGD", "Adadelta"):  # Adadelta's eps sits inside sqrt(0 + eps) / sqrt(0 + eps)
        for values in itertools.product(*(switches[k] for k in keys)):
            out.append(draw_optim_case(rng, name, dict(zip(keys, values)), nan=True))
    return out


def run_torch_optim(case):
    cls = OPTIMIZERS[case.name][0]
    ps = [torch.tensor(v, dtype=F64).reshape(s).requires_grad_(True) for s, v in case.params]
    try:
        opt = cls(ps, **case.opts)
    except (ValueError, RuntimeError) as e:
        case.expect = ("err", str(e))
        return
    sched = make_torch_sched(opt, *case.sched) if case.sched else None
    traj = []
    for lr, grads in case.steps:
        if lr is not None:
            for g in opt.param_groups:
                g["lr"] = lr
        for i, p in enumerate(ps):
            p.grad = torch.tensor(grads[i], dtype=F64).reshape(p.shape) if i in grads else None
        opt.step()
        if sched:
            sched.step()
        traj.append([flat(p) for p in ps])
    state = {}
    for i, p in enumerate(ps):
        st = opt.state.get(p, {})
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                state[f"{i}.{k}"] = flat(v)
        if not st:  # torch never stepped it (and keeps no state): tapegrad's count must be 0
            state[f"{i}.step"] = [0.0]
    case.expect = ("ok", traj, state)


def write_optim(f, case):
    kv = []
    for k, v in case.opts.items():
        if k == "betas":
            kv += [("beta1", v[0]), ("beta2", v[1])]
        else:
            kv.append((k, float(v)))
    f.write(f"optim {case.id} {case.name} opts {len(kv)} " + " ".join(f"{k} {fmt(v)}" for k, v in kv) + "\n")
    sn, sa, sb = case.sched or ("none", 0, 0)
    f.write(f"sched {SCHEDULERS.get(sn, sn)} {fmt(sa)} {fmt(sb)}\n")
    f.write(f"params {len(case.params)}\n")
    for s, v in case.params:
        f.write(f"{len(s)} {' '.join(map(str, s))} {' '.join(map(fmt, v))}\n")
    f.write(f"steps {len(case.steps)}\n")
    for lr, grads in case.steps:
        f.write(f"{'nan' if lr is None else fmt(lr)} {len(grads)}")
        for i, g in grads.items():
            f.write(f" {i} {' '.join(map(fmt, g))}")
        f.write("\n")


def check_optim(case, got):
    if case.expect[0] == "err":
        if got["status"] != "err":
            return f"PyTorch refuses ({case.expect[1]}), tapegrad accepts"
        return None if got["msg"] and got["msg"] != "(no message)" else "tapegrad fails without a message"
    if got["status"] == "err":
        return f"tapegrad refuses: {got['msg']}"
    if got.get("fail"):
        return f"tapegrad's step fails: {got['fail']}"
    _, traj, state = case.expect
    for t, want_ps in enumerate(traj):
        for i, want in enumerate(want_ps):
            m = compare_values(f"step {t} param {i}", got["p"].get((t, i)), want, RTOL_OPTIM)
            if m:
                return m
    for name, want in state.items():
        if name not in got["state"]:
            return f"state {name}: tapegrad has no such entry"
        m = compare_values(f"state {name}", got["state"][name], want, RTOL_OPTIM)
        if m:
            return m
    return None


# ================================================================ schedulers
SCHEDULERS = {
    "StepLR": "step",
    "ExponentialLR": "exponential",
    "CosineAnnealingLR": "cosine",
}


class SchedCase:
    kind = "sched"

    def __init__(self, name, lr0, a, b):
        self.name, self.lr0, self.a, self.b = name, lr0, a, b
        self.id = None
        self.expect = None

    def describe(self):
        return f"{self.name}(lr {self.lr0}, {self.a}, {self.b})"


def sched_cases(rng, name, reps):
    out = []
    for k in range(20 * reps):
        lr0 = rng.choice([0.1, 1.0, rng.uniform(1e-4, 2)])
        if name == "StepLR":
            a, b = rng.randint(1, 8), rng.choice([0.1, 0.5, 0.0, 1.0, rng.uniform(0.01, 1.5)])
        elif name == "ExponentialLR":
            a, b = rng.choice([0.9, 0.5, 1.0, 0.0, rng.uniform(0.3, 1.1)]), 0.0
        else:
            a = rng.choice([1, 2, rng.randint(1, 10), rng.randint(5, 40)])
            b = rng.choice([0.0, 0.0, rng.uniform(0, lr0), rng.uniform(lr0, 2 * lr0)])
        out.append(SchedCase(name, lr0, a, b))
    # torch takes a zero period at construction and fails (ZeroDivisionError)
    # at the first step; tapegrad refuses it at construction. (Negative gamma,
    # step_size or eta_min: torch never checks them, tapegrad refuses.)
    if name == "StepLR":
        out.append(SchedCase(name, 0.1, 0, 0.5))
    if name == "CosineAnnealingLR":
        out.append(SchedCase(name, 0.1, 0, 0.0))
    return out


def make_torch_sched(opt, name, a, b):
    if name == "StepLR":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=a, gamma=b)
    if name == "ExponentialLR":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=a)
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a, eta_min=b)


def run_torch_sched(case):
    p = torch.zeros(1, dtype=F64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=case.lr0)
    try:
        s = make_torch_sched(opt, case.name, case.a, case.b)
        lrs = [s.get_last_lr()[0]]
        for _ in range(SCHED_STEPS):
            s.step()
            lrs.append(s.get_last_lr()[0])
    except (ValueError, ZeroDivisionError) as e:
        case.expect = ("err", f"{type(e).__name__}: {e}")
        return
    case.expect = ("ok", lrs)


def write_sched(f, case):
    f.write(f"sched {case.id} {SCHEDULERS[case.name]} {fmt(case.lr0)} {SCHED_STEPS} {fmt(case.a)} {fmt(case.b)}\n")


def check_sched(case, got):
    if case.expect[0] == "err":
        return None if got["status"] == "err" else f"PyTorch fails ({case.expect[1]}), tapegrad accepts"
    if got["status"] == "err":
        return f"tapegrad refuses: {got['msg']}"
    # each lr on its own: a relative error, not one scaled by the largest lr
    for e, (a, b) in enumerate(zip(got.get("lrs", []), case.expect[1])):
        if not close(a, b, RTOL_OPTIM, 0.0):
            return f"lr at epoch {e} = {a!r}, PyTorch {b!r}"
    if len(got.get("lrs", [])) != len(case.expect[1]):
        return f"{len(got.get('lrs', []))} lrs, PyTorch {len(case.expect[1])}"
    return None


# ================================================================ BatchNorm1d
class BNCase:
    kind = "bn"

    def __init__(self, c, eps, momentum, affine, w, b, steps):
        self.c, self.eps, self.momentum, self.affine, self.w, self.b, self.steps = \
            c, eps, momentum, affine, w, b, steps
        self.id = None
        self.name = "BatchNorm1d"
        self.expect = None

    def describe(self):
        st = [("train" if tr else "eval", list(shape), view) for tr, shape, view, _, _ in self.steps]
        return f"BatchNorm1d({self.c}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}) steps {st}"


def bn_step(rng, c, train, ndim=None, bad=None, constant_ok=True):
    """(train, base shape, view, x, g); the module sees the base, or for view
    't' the base with its last two dims swapped"""
    nd = ndim or rng.choice([2, 3])
    length = rng.randint(1, 4)
    # training needs more than one value per channel: N > 1, or N = 1 with L > 1
    n = rng.randint(2, 6) if train and (nd == 2 or length == 1) else rng.randint(1, 6)
    shape = [n, c] if nd == 2 else [n, c, length]
    if bad == "one":  # one value per channel
        shape = [1, c] if nd == 2 else [1, c, 1]
    elif bad == "channels":
        shape[1] = c + rng.randint(1, 2)
    elif bad == "ndim":
        shape = rng.choice([[c], [2, c, 2, 2]])
    view = "t" if len(shape) >= 2 and rng.random() < 0.3 else "c"
    base = list(shape)
    if view == "t":
        base[-2], base[-1] = base[-1], base[-2]
    scale = rng.choice([1.0, 10.0, 0.1])
    shift = rng.choice([0.0, 3.0])
    x = [rng.gauss(shift, scale) for _ in range(numel(base))]
    if constant_ok and rng.random() < 0.1 and len(shape) >= 2 and not bad:  # a constant channel: variance 0
        for k in range(numel(base)):
            idx, r = [], k
            for d in reversed(base):
                idx.append(r % d)
                r //= d
            idx.reverse()
            if idx[(0 if len(base) == 2 else 2) if view == "t" else 1] == 0:  # the module's dim 1
                x[k] = shift
    g = rand_values(rng, numel(shape))
    return (train, base, view, x, g)


def bn_cases(rng, reps):
    out = []
    momenta = [0.1, None, 0.0, 1.0, "draw"]
    for momentum, affine in itertools.product(momenta, [True, False]):
        for _ in range(6 * reps):
            c = rng.randint(1, 5)
            m = rng.uniform(0.01, 0.99) if momentum == "draw" else momentum
            eps = rng.choice([1e-5, 1e-3, 0.1, 0.0])
            # eps 0 and a constant channel: torch takes 1/sqrt(0) as 0 (y =
            # bias); tapegrad divides 0 by 0 (a deliberate difference)
            k = eps > 0
            nd = rng.choice([2, 3, None])  # None: mixed across steps
            steps = [bn_step(rng, c, True, nd, constant_ok=k) for _ in range(rng.randint(2, 5))]
            steps += [bn_step(rng, c, False, nd, constant_ok=k) for _ in range(2)]
            if rng.random() < 0.3:
                steps.append(bn_step(rng, c, True, nd, constant_ok=k))
            w = [rng.uniform(0.2, 2) * rng.choice([1, -1]) for _ in range(c)]
            b = rand_values(rng, c)
            out.append(BNCase(c, eps, m, affine, w, b, steps))
    # torch refuses these batches (the steps before them run and are compared)
    for bad in ["one", "one", "channels", "ndim", "ndim"]:
        for _ in range(reps):
            c = rng.randint(1, 4)
            steps = [bn_step(rng, c, True), bn_step(rng, c, True, bad=bad)]
            out.append(BNCase(c, 1e-5, 0.1, rng.random() < 0.5, [1.0] * c, [0.0] * c, steps))
    # eval with a batch of one is fine in both
    for _ in range(reps):
        c = rng.randint(1, 4)
        steps = [bn_step(rng, c, True), bn_step(rng, c, False, bad="one")]
        out.append(BNCase(c, 1e-5, None, True, rand_values(rng, c), rand_values(rng, c), steps))
    return out


def run_torch_bn(case):
    bn = torch.nn.BatchNorm1d(case.c, eps=case.eps, momentum=case.momentum, affine=case.affine).double()
    if case.affine:
        with torch.no_grad():
            bn.weight.copy_(torch.tensor(case.w, dtype=F64))
            bn.bias.copy_(torch.tensor(case.b, dtype=F64))
    results = []
    err = None
    for train, base, view, x, g in case.steps:
        bn.train(train)
        xb = torch.tensor(x, dtype=F64).reshape(base).requires_grad_(True)
        xv = xb.transpose(-2, -1) if view == "t" else xb
        try:
            y = bn(xv)
        except (ValueError, RuntimeError) as e:
            err = str(e).split("\n")[0]
            break
        wrt = [xb] + ([bn.weight, bn.bias] if case.affine else [])
        gt = torch.tensor(g, dtype=F64).reshape(y.shape)
        grads = torch.autograd.grad((y * gt).sum(), wrt)
        # the input gradient w/sigma (G - mean G - xhat mean(G xhat)) cancels
        # to near zero in small batches: compare it at the size of its terms
        # (per channel, laid out as the base)
        dims = [0, 2] if y.dim() == 3 else [0]
        var = xv.detach().var(dims, unbiased=False) if train else bn.running_var
        w = bn.weight.detach().abs().clamp(min=1.0) if case.affine else torch.ones(case.c, dtype=F64)
        def per_channel(v, base_layout):
            v = v.reshape([case.c] + [1] * (y.dim() - 2)).expand(y.shape)
            return flat(v.transpose(-2, -1) if base_layout and view == "t" else v)
        invstd = w / (var + case.eps).sqrt()
        gx_scale = per_channel(gt.abs().amax(dims) * invstd, True)
        # and y = (x - mean) * invstd at the size of x, for a channel near its mean
        y_scale = per_channel(xv.detach().abs().amax(dims) * invstd, False)
        results.append({"y": flat(y), "gx": flat(grads[0]), "gx_scale": gx_scale, "y_scale": y_scale,
                        "gw": flat(grads[1]) if case.affine else None,
                        "gb": flat(grads[2]) if case.affine else None,
                        "rm": flat(bn.running_mean), "rv": flat(bn.running_var),
                        "nbt": float(bn.num_batches_tracked)})
    case.expect = ("ok", results, err)


def write_bn(f, case):
    mom = "nan" if case.momentum is None else fmt(case.momentum)
    f.write(f"bn {case.id} {case.c} {fmt(case.eps)} {mom} {int(case.affine)} {len(case.steps)}\n")
    if case.affine:
        f.write(" ".join(map(fmt, case.w)) + "\n" + " ".join(map(fmt, case.b)) + "\n")
    for train, base, view, x, g in case.steps:
        f.write(f"{int(train)} {len(base)} {' '.join(map(str, base))} {view}\n")
        f.write(" ".join(map(fmt, x)) + "\n" + " ".join(map(fmt, g)) + "\n")


def check_bn(case, got):
    if got["status"] == "err":
        return f"tapegrad refuses the module: {got['msg']}"
    _, results, err = case.expect
    steps = got["bn"]
    for t, want in enumerate(results):
        if t >= len(steps):
            return f"step {t}: tapegrad fails ({got.get('fail')}), PyTorch runs it"
        have = steps[t]
        for key in ("y", "gx", "gw", "gb", "rm", "rv"):
            w, h = want[key], have.get(key)
            if w is None or h is None:
                if (w is None) != (h is None):
                    return f"step {t} {key}: tapegrad {'none' if h is None else 'some'}, " \
                           f"PyTorch {'none' if w is None else 'some'}"
                continue
            m = compare_values(f"step {t} {key}", h, w, RTOL_BN, want.get(key + "_scale"))
            if m:
                return m
        if have.get("nbt") != want["nbt"]:
            return f"step {t} num_batches_tracked {have.get('nbt')}, PyTorch {want['nbt']}"
    if err is not None:
        if len(steps) > len(results) or not got.get("fail"):
            return f"step {len(results)}: PyTorch refuses ({err}), tapegrad accepts"
        if got["fail"] == "(no message)":
            return "tapegrad fails without a message"
    elif got.get("fail"):
        return f"tapegrad fails at step {len(steps)}: {got['fail']}"
    return None


# ================================================================ driver
def parse_results(text):
    res, cur = {}, None
    for line in text.splitlines():
        parts = line.split(" ")
        tag = parts[0]
        if tag == "res":
            cur = {"status": parts[2], "msg": " ".join(parts[3:]), "p": {}, "state": {}, "bn": []}
            res[parts[1]] = cur
        elif tag == "p":
            cur["p"][(int(parts[1]), int(parts[2]))] = [float(x) for x in parts[3:]]
        elif tag == "state":
            cur["state"][parts[1]] = [float(x) for x in parts[2:]]
        elif tag == "lrs":
            cur["lrs"] = [float(x) for x in parts[1:]]
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
         "bn": (run_torch_bn, write_bn, check_bn)}


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
    for name in list(OPTIMIZERS) + list(SCHEDULERS) + ["BatchNorm1d"]:
        if only and name not in only:
            continue
        rng = random.Random(f"{args.seed}:{name}")
        if name in OPTIMIZERS:
            cs = optim_cases(rng, name, args.reps)
        elif name in SCHEDULERS:
            cs = sched_cases(rng, name, args.reps)
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
