"""Every optimizer over two parameter groups (issue 10 section 5 and the
optimizer part of section 7): parameters a [na] in group 0 and b [nb] in
group 1, each group with its own randomly drawn options (every option of
the optimizer, flags included), then STEPS steps with the same drawn
gradients in PyTorch and tapegrad, float64; the outputs are a and b after
the last step. The gradients are inputs that do not require grad, so only
the forward (the trained parameters) is compared.

Options travel as one list per group ("g0", "g1"), in the order of FIELDS;
the C side (oracle_ops_optim_groups.c) reads them in the same order.

Errors: group 0's options are sometimes invalid (negative lr, a beta or rho
out of range, nesterov without momentum, ...), which torch 1.13 refuses in
the constructor and tapegrad must refuse too. Group 1's are always valid:
torch 1.13 does not check the options of an added group at all, and
tapegrad checks them as the constructor does (a deliberate difference).

Adagrad: torch 1.13 fills every group's sum with the constructor's
initial_accumulator_value (and add_param_group makes no state at all, so a
step raises KeyError 'sum'); tapegrad starts each group's sum at its own
value, so the reference sets group 1's sum to its value by hand."""
import torch

from family_promotion import with_default_float32
from oracle_gen import Inp, op

STEPS = 20

FIELDS = {
    "sgd": ["lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"],
    "adam": ["lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad", "maximize"],
    "adamw": ["lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad", "maximize"],
    "rmsprop": ["lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"],
    "adagrad": ["lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize"],
    "adamax": ["lr", "beta1", "beta2", "eps", "weight_decay", "maximize"],
    "adadelta": ["lr", "rho", "eps", "weight_decay", "maximize"],
    "nadam": ["lr", "beta1", "beta2", "eps", "weight_decay", "momentum_decay"],
    "radam": ["lr", "beta1", "beta2", "eps", "weight_decay"],
}
TORCH = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
         "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad,
         "adamax": torch.optim.Adamax, "adadelta": torch.optim.Adadelta,
         "nadam": torch.optim.NAdam, "radam": torch.optim.RAdam}
FLAGS = {"nesterov", "maximize", "amsgrad", "centered"}


def draw_field(rng, name, f):
    if f in FLAGS:
        return float(rng.random() < 0.5)
    if f == "lr":
        return rng.choice([1e-3, 1e-2, 0.05, 0.1, 0.3, 1.0 if name == "adadelta" else 0.2])
    if f in ("beta1", "beta2"):
        return rng.choice([0.0, 0.5, 0.8, 0.9, 0.99, 0.999])
    if f in ("alpha", "rho"):
        return rng.choice([0.0, 0.5, 0.9, 0.99] + ([1.0] if f == "rho" else []))
    if f == "eps":
        return rng.choice([1e-8, 1e-6, 1e-3])
    if f in ("momentum", "dampening", "weight_decay", "lr_decay", "initial_accumulator_value"):
        return rng.choice([0.0, 0.0, 0.1, 0.5, 0.9])
    if f == "momentum_decay":
        return rng.choice([0.0, 4e-3, 0.3])
    raise ValueError(f)


def draw_group(rng, name):
    g = {f: draw_field(rng, name, f) for f in FIELDS[name]}
    if name == "rmsprop" and g["centered"] and g["alpha"] == 0:
        # square_avg - grad_avg^2 is then g*g - g*g: torch 1.13's fused addcmul
        # leaves a rounding residue whose sign makes NaN or not; tapegrad's is 0
        g["alpha"] = 0.5
    if name == "sgd" and g["nesterov"] and (g["momentum"] == 0 or g["dampening"] != 0):
        g["nesterov"] = 0.0  # torch refuses it in the constructor only: kept valid here
    return g


BAD = {"lr": -0.1, "eps": -1e-8, "weight_decay": -0.1, "momentum": -0.5, "beta1": 1.0,
       "beta2": -0.1, "alpha": -0.5, "rho": 1.5, "lr_decay": -0.1,
       "initial_accumulator_value": -0.5, "momentum_decay": -0.1}


def gen_for(name):
    def gen(rng):
        g0, g1 = draw_group(rng, name), draw_group(rng, name)
        if rng.random() < 0.12:  # group 0 invalid: torch's constructor raises
            if name == "sgd" and rng.random() < 0.3:
                g0.update(nesterov=1.0, momentum=0.0)
            else:
                f = rng.choice([f for f in FIELDS[name] if f in BAD])
                g0[f] = BAD[f]
        na, nb = rng.randint(1, 6), rng.randint(1, 6)
        inputs = [Inp([na], [rng.gauss(0, 1) for _ in range(na)], rg=False),
                  Inp([nb], [rng.gauss(0, 1) for _ in range(nb)], rg=False),
                  Inp([STEPS, na], [rng.gauss(0, 1) for _ in range(STEPS * na)], rg=False),
                  Inp([STEPS, nb], [rng.gauss(0, 1) for _ in range(STEPS * nb)], rg=False)]
        return inputs, {"g0": [g0[f] for f in FIELDS[name]], "g1": [g1[f] for f in FIELDS[name]]}
    return gen


def torch_kwargs(name, values):
    kw = dict(zip(FIELDS[name], values))
    for f in FLAGS & kw.keys():
        kw[f] = bool(kw[f])
    if "beta1" in kw:
        kw["betas"] = (kw.pop("beta1"), kw.pop("beta2"))
    return kw


def run_for(name):
    # NAdam's mu_product is torch.tensor(1.), made at the first step: float32
    # under torch's usual default dtype (the driver sets float64), and
    # tapegrad keeps it float32 as torch 1.13 normally does
    @with_default_float32
    def run(x, p):
        k0, k1 = torch_kwargs(name, p["g0"]), torch_kwargs(name, p["g1"])
        a, b = x[0].clone().requires_grad_(True), x[1].clone().requires_grad_(True)
        # the constructor checks its keyword arguments (group 0's here), as tapegrad's does
        opt = TORCH[name]([dict(params=[a], **k0), dict(params=[b], **k1)], **k0)
        if name == "adagrad":
            opt.state[b]["sum"].fill_(k1["initial_accumulator_value"])
        for s in range(STEPS):
            a.grad, b.grad = x[2][s].clone(), x[3][s].clone()
            opt.step()
        return a.detach(), b.detach()
    return run


for _name in FIELDS:
    op("optim_groups_" + _name, gen_for(_name), run_for(_name), gg=False)


# ---------------------------------------------------------------- schedulers
# SGD over two groups with their own lrs, then a scheduler; the output is
# each group's lr at epochs 0..EPOCHS-1, shape [EPOCHS, 2]. torch steps the
# chained form, tapegrad the closed form: equal to rounding. Not drawn: a
# group added after the scheduler (torch's chained form schedules it from
# its own lr, tapegrad leaves it alone), and a negative gamma or eta_min
# (torch 1.13 accepts them, tapegrad refuses). step_size 0 and t_max 0,
# which torch refuses (a division by zero at the first step), must fail.
# Short op names: a case id must fit the runner's 32 characters.
EPOCHS = 12
SCHEDULERS = {
    "step": lambda o, p: torch.optim.lr_scheduler.StepLR(o, step_size=int(p["period"]), gamma=p["gamma"]),
    "exponential": lambda o, p: torch.optim.lr_scheduler.ExponentialLR(o, gamma=p["gamma"]),
    "cosine": lambda o, p: torch.optim.lr_scheduler.CosineAnnealingLR(
        o, T_max=int(p["period"]), eta_min=p["eta_min"]),
}


def gen_sched(rng):
    params = {"lr0": rng.choice([0.1, 0.5, 1.0, 0.03]), "lr1": rng.choice([0.0, 0.02, 0.1, 2.0]),
              "period": float(rng.choice([1, 2, 3, 5, 8])), "gamma": rng.choice([0.0, 0.1, 0.5, 0.9, 1.0, 1.5]),
              "eta_min": rng.choice([0.0, 0.001, 0.05])}
    if rng.random() < 0.1:
        params["period"] = 0.0
    return [], params


def sched_for(kind):
    def run(x, p):
        a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([dict(params=[a], lr=p["lr0"]), dict(params=[b], lr=p["lr1"])], lr=p["lr0"])
        s = SCHEDULERS[kind](opt, p)
        lrs = []
        for _ in range(EPOCHS):
            lrs.append([g["lr"] for g in opt.param_groups])
            opt.step()
            s.step()
        return torch.tensor(lrs)
    return run


for _kind in SCHEDULERS:
    op("sched_groups_" + _kind, gen_sched, sched_for(_kind), gg=False)
