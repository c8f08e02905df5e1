"""The optim oracle's optimizer cases (see optim_oracle.py):
drawing them, running them in torch, writing them for tests/optim_runner,
checking its answers."""
import itertools
import math

import torch

from optim_oracle_common import F64, RTOL_OPTIM, STEPS, compare_values, flat, fmt, numel, rand_shape, \
    rand_values
from optim_oracle_sched import SCHEDULERS, draw_spec, make_torch_sched, write_spec

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
        self.sched = sched  # None, or a scheduler spec (optim_oracle_sched.py), stepped after each step
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
    # schedulers chain onto them, tapegrad's closed forms do not); OneCycleLR
    # cycles the Adam family's beta1, and runs at least the 20 steps
    for sched in SCHEDULERS:
        if sched == "ReduceLROnPlateau":  # metric-driven: the scheduler cases cover it
            continue
        combo = {k: rng.choice(v) for k, v in switches.items()}
        if name == "SGD":  # nesterov takes only momentum > 0 without dampening
            combo["nesterov"] = False
        c = draw_optim_case(rng, name, combo)
        c.steps = [(None, grads) for _, grads in c.steps]
        c.sched = draw_spec(rng, sched, 1)
        for spec in [c.sched] + c.sched[1].get("children", []):
            if spec[0] == "OneCycleLR":
                for key in ("epochs", "steps_per_epoch"):
                    spec[1].pop(key, None)
                spec[1]["total_steps"] = rng.randint(STEPS, 40)
                spec[1]["cycle_momentum"] = spec is c.sched and name in ("Adam", "AdamW", "Adamax", "NAdam", "RAdam")
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
    sched = make_torch_sched(opt, case.sched) if case.sched else None
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
    f.write(f"sched {write_spec(case.sched)}\n")
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
