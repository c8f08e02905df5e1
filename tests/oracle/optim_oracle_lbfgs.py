"""The optim oracle's L-BFGS cases (see optim_oracle.py): torch.optim.LBFGS
1.13 against tg_lbfgs_step, float64, several steps of a closure:

  rosen   Rosenbrock sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2 over the
          concatenation of the parameters, flattened in order: 2-d (one
          parameter, or two 0-d ones), n-d (one vector, or pieces of random
          shapes, so the flat vector crosses parameters)
  linear  w * x of one element, unbounded below: the line search
          extrapolates its 25 times (max_ls) and returns the last point
  mlp     mean((tanh(X W1^T + b1) W2^T + b2 - Y)^2), a 4-8-1 MLP on fixed
          random data (16 rows)

with both line searches (None, "strong_wolfe") and drawn options (lr,
max_iter, max_eval, tolerance_grad, tolerance_change, a small history_size
so the ring wraps). Compared after every step: the loss the step returns and
every parameter; at the end the state (func_evals, n_iter, t, d, H_diag,
prev_flat_grad, prev_loss and the history old_dirs/old_stps/ro in torch's
order, read from tapegrad's ring), to RTOL_LBFGS.

L-BFGS on Rosenbrock can be chaotic: a 1-ulp change of the start moves
torch's own parameters by 1e-7 after three steps, so a case is kept only
where it does not, measured: torch run again from starts moved by 1 ulp
must agree with the first run to SENSITIVITY_MAX in every value compared
(else the case is drawn again). Cases whose torch run goes non-finite are
drawn again too (tapegrad stops on a NaN loss; torch carries on).
torch raises for history_size 0 (at its first pop) and an unknown
line_search_fn: tapegrad must refuse both."""
import math
import random

import torch

from optim_oracle_common import F64, compare_values, flat, fmt

# Dot products (BLAS here, loops there) round differently; an L-BFGS step
# feeds them through 20 iterations and a line search
RTOL_LBFGS = 1e-10
SENSITIVITY_MAX = 1e-11
LBFGS_KINDS = ["LBFGS"]
MLP_ROWS = 16


class LBFGSCase:
    kind = "lbfgs"

    def __init__(self, problem, opts, params, data, steps):
        self.name, self.problem, self.opts, self.params, self.data, self.steps = "LBFGS", problem, opts, params, \
            data, steps

    def describe(self):
        shapes = [s for s, _ in self.params]
        return f"{self.problem} params {shapes} {self.opts} steps {self.steps}"


def rosen_loss(ps):
    x = torch.cat([p.reshape(-1) for p in ps])
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def linear_loss(ps, data):
    return (torch.cat([p.reshape(-1) for p in ps]) * data[0]).sum()


def mlp_loss(ps, data):
    w1, b1, w2, b2 = ps
    x, y = data
    h = torch.tanh(x @ w1.t() + b1)
    return ((h @ w2.t() + b2 - y) ** 2).mean()


def split_shapes(rng, n):
    """shapes whose sizes add up to n (0-d pieces count 1)"""
    shapes, left = [], n
    while left > 0:
        k = rng.randint(1, min(left, 4))
        shapes.append([] if k == 1 and rng.random() < 0.5 else ([k] if rng.random() < 0.6 else [1, k]))
        left -= k
    return shapes


def draw_params(rng, problem):
    if problem == "mlp":
        shapes = [[8, 4], [8], [1, 8], [1]]
        return [(s, [rng.uniform(-0.7, 0.7) for _ in range(math.prod(s))]) for s in shapes]
    n = 2 if problem == "rosen2" else rng.randint(3, 8)
    start = ([-1.5, 2.0] if rng.random() < 0.5 else [rng.uniform(-2, 2) for _ in range(n)]) if n == 2 \
        else [rng.uniform(-2, 2) for _ in range(n)]
    if rng.random() < 0.5:
        shapes = [[n]]
    else:
        shapes = [[], []] if n == 2 else split_shapes(rng, n)
    out, off = [], 0
    for s in shapes:
        k = math.prod(s)
        out.append((s, start[off:off + k]))
        off += k
    return out


def draw_opts(rng, problem, ls):
    o = {"line_search_fn": ls}
    if ls is None:
        # a fixed unit step overshoots Rosenbrock's valley
        o["lr"] = rng.choice([0.1, 0.05, 0.2, rng.uniform(0.01, 0.2)]) if problem != "mlp" else \
            rng.choice([1.0, 0.5, rng.uniform(0.1, 1)])
    elif rng.random() < 0.7:
        # a first trial step far too long sends the line search's zoom
        # through its Armijo failures, boundary moves and, at worst, its 25
        # evaluations; one far too short makes it extrapolate
        o["lr"] = rng.choice([1.0, 0.5, rng.uniform(0.2, 1.5), 30.0, 1e3, 1e6, 1e-12])
    if rng.random() < 0.5:
        o["max_iter"] = rng.randint(1, 12)
    if rng.random() < 0.3:
        o["max_eval"] = rng.randint(1, 40)
    if rng.random() < 0.5:
        o["history_size"] = rng.randint(1, 5)
    if rng.random() < 0.3:
        o["tolerance_grad"] = rng.choice([1e-5, 1e-9, 0.0])
    if rng.random() < 0.3:
        o["tolerance_change"] = rng.choice([1e-6, 1e-12, 0.0, 1e-3])
    return o


def draw_data(rng, problem, n=0):
    if problem == "linear":
        return [([n], [rng.uniform(-1, 1) for _ in range(n)])]
    if problem != "mlp":
        return []
    return [([MLP_ROWS, 4], [rng.gauss(0, 1) for _ in range(MLP_ROWS * 4)]),
            ([MLP_ROWS, 1], [rng.uniform(-1, 1) for _ in range(MLP_ROWS)])]


def lbfgs_cases(rng, reps):
    out = []
    for problem in ("rosen2", "rosen", "mlp"):
        for ls in (None, "strong_wolfe"):
            for _ in range(reps * 3):
                for _try in range(10):
                    c = LBFGSCase(problem, draw_opts(rng, problem, ls), draw_params(rng, problem),
                                  draw_data(rng, problem), rng.randint(2, 5))
                    run_torch_lbfgs(c)
                    if c.expect[0] == "ok" and c.finite and sensitivity(c) <= SENSITIVITY_MAX:
                        out.append(c)
                        break
    # the paths random options rarely take: zooms from far too long steps,
    # the stops for lack of progress (in t*d, then in the loss) and for a
    # small gradient within a step, a start at the minimum (no iteration)
    targeted = [("rosen2", {"line_search_fn": "strong_wolfe", "lr": 1e6}),
                ("mlp", {"line_search_fn": "strong_wolfe", "lr": 1e3}),
                ("rosen", {"line_search_fn": None, "lr": 1e-4, "tolerance_change": 1e-3}),
                ("mlp", {"line_search_fn": None, "lr": 0.5, "tolerance_change": 1e-4}),
                ("rosen", {"line_search_fn": "strong_wolfe", "tolerance_change": 1e-2}),
                ("mlp", {"line_search_fn": "strong_wolfe", "lr": 30.0, "tolerance_change": 1e-3}),
                ("mlp", {"line_search_fn": "strong_wolfe", "tolerance_grad": 1e-2}),
                ("mlp", {"line_search_fn": None, "lr": 0.5, "tolerance_grad": 1e-2})]
    for problem, opts in targeted:
        for _try in range(20):
            c = LBFGSCase(problem, dict(opts), draw_params(rng, problem), draw_data(rng, problem), 3)
            run_torch_lbfgs(c)
            if c.expect[0] == "ok" and c.finite and sensitivity(c) <= SENSITIVITY_MAX:
                out.append(c)
                break
    # linear on one element: every value is computed by the same IEEE
    # operations on both sides (no sums to order), so the case is exact even
    # though the cubic's branch rides on a rounding of zero
    for ls in (None, "strong_wolfe"):
        lin = LBFGSCase("linear", {"line_search_fn": ls, "max_iter": 2},
                        [(rng.choice([[], [1]]), [rng.uniform(-2, 2)])], draw_data(rng, "linear", 1), 2)
        run_torch_lbfgs(lin)
        out.append(lin)
    at_min = LBFGSCase("rosen", {"line_search_fn": "strong_wolfe"}, [([3], [1.0, 1.0, 1.0])], [], 2)
    run_torch_lbfgs(at_min)
    out.append(at_min)
    # torch raises at its first pop from an empty history, or at the step
    for bad in ({"history_size": 0}, {"line_search_fn": "bogus"}):
        c = LBFGSCase("rosen2", dict(bad), draw_params(rng, "rosen2"), [], 2)
        out.append(c)
    return out


def run_torch_lbfgs(case):
    if getattr(case, "expect", None):
        return
    ps = [torch.tensor(v, dtype=F64).reshape(s).requires_grad_(True) for s, v in case.params]
    data = [torch.tensor(v, dtype=F64).reshape(s) for s, v in case.data]
    opt = torch.optim.LBFGS(ps, **case.opts)

    def closure():
        opt.zero_grad()
        loss = mlp_loss(ps, data) if case.problem == "mlp" else linear_loss(ps, data) \
            if case.problem == "linear" else rosen_loss(ps)
        loss.backward()
        return loss

    losses, traj = [], []
    try:
        for _ in range(case.steps):
            losses.append(float(opt.step(closure)))
            traj.append([flat(p) for p in ps])
    except (ValueError, RuntimeError, IndexError) as e:
        case.expect = ("err", str(e))
        return
    st = opt.state[ps[0]]
    state = {"0.func_evals": [float(st["func_evals"])], "0.n_iter": [float(st["n_iter"])]}
    for k in ("t", "H_diag", "prev_loss"):
        if st.get(k) is not None:
            state[f"0.{k}"] = [float(st[k])]
    for k in ("d", "prev_flat_grad"):
        if st.get(k) is not None:
            state[f"0.{k}"] = flat(st[k])
    if st.get("old_dirs") is not None:
        state["0.n_old"] = [float(len(st["old_dirs"]))]
        state["history"] = ([flat(y) for y in st["old_dirs"]], [flat(s) for s in st["old_stps"]],
                            [float(r) for r in st["ro"]])
    case.finite = all(math.isfinite(v) for v in losses) and \
        all(math.isfinite(v) for ps_t in traj for p in ps_t for v in p)
    case.expect = ("ok", losses, traj, state)


def compared_values(expect):
    """every value a check compares: name -> list of floats"""
    _, losses, traj, state = expect
    out = {"loss": losses}
    for t, ps in enumerate(traj):
        for i, v in enumerate(ps):
            out[f"p{t}.{i}"] = v
    for k, v in state.items():
        if k == "history":
            for j, rows in enumerate(v[:2]):
                for i, row in enumerate(rows):
                    out[f"h{j}.{i}"] = row
            out["ro"] = v[2]
        else:
            out[k] = v
    return out


def sensitivity(case, trials=2):
    """the largest relative change of a compared value when torch starts
    from parameters moved by 1 ulp (each element up or down at random)"""
    base = compared_values(case.expect)
    worst = 0.0
    for trial in range(trials):
        r = random.Random(trial)
        moved = [(s, [x * (1 + r.choice((-1, 1)) * 2.0 ** -52) for x in v]) for s, v in case.params]
        c2 = LBFGSCase(case.problem, case.opts, moved, case.data, case.steps)
        run_torch_lbfgs(c2)
        if c2.expect[0] != "ok":
            return math.inf
        other = compared_values(c2.expect)
        if other.keys() != base.keys():
            return math.inf
        for k, want in base.items():
            got = other[k]
            if len(got) != len(want):
                return math.inf
            scale = max((abs(w) for w in want), default=0.0)
            for a, b in zip(got, want):
                d = abs(a - b)
                worst = max(worst, d / (abs(b) + scale) if d else 0.0)
    return worst


LS_CODE = {None: 0, "strong_wolfe": 1}


def write_lbfgs(f, case):
    o = case.opts
    ls = LS_CODE.get(o.get("line_search_fn"), 7)
    # max_eval None (torch's max_iter * 5 // 4) is tapegrad's 0
    vals = [o.get("lr", 1.0), o.get("max_iter", 20), o.get("max_eval") or 0, o.get("tolerance_grad", 1e-7),
            o.get("tolerance_change", 1e-9), o.get("history_size", 100), ls]
    f.write(f"lbfgs {case.id} {case.problem if case.problem in ('mlp', 'linear') else 'rosen'} {' '.join(map(fmt, vals))}\n")
    for tag, ts in (("data", case.data), ("params", case.params)):
        f.write(f"{tag} {len(ts)}\n")
        for s, v in ts:
            f.write(f"{len(s)} {' '.join(map(str, s))} {' '.join(map(fmt, v))}\n")
    f.write(f"steps {case.steps}\n")


def ring_rows(got, name, n_old, first, hist, width):
    """tapegrad's ring entry name as torch's list: rows (first + i) % hist"""
    v = got["state"].get(name)
    if v is None:
        return None
    return [v[((first + i) % hist) * width:((first + i) % hist + 1) * width] for i in range(n_old)]


def check_lbfgs(case, got):
    if case.expect[0] == "err":
        if got["status"] != "err":
            return f"PyTorch raises ({case.expect[1]}), tapegrad accepts"
        return None if got["msg"] and got["msg"] != "(no message)" else "tapegrad fails without a message"
    if got["status"] == "err":
        return f"tapegrad refuses: {got['msg']}"
    if got.get("fail"):
        return f"tapegrad's step fails: {got['fail']}"
    _, losses, traj, state = case.expect
    for t, want_ps in enumerate(traj):
        m = compare_values(f"step {t} loss", [got.get("loss", {}).get(t, math.nan)], [losses[t]], RTOL_LBFGS)
        if m:
            return m
        for i, want in enumerate(want_ps):
            m = compare_values(f"step {t} param {i}", got["p"].get((t, i)), want, RTOL_LBFGS)
            if m:
                return m
    hist = state.get("history")
    for name, want in state.items():
        if name == "history":
            continue
        if name not in got["state"]:
            return f"state {name}: tapegrad has no such entry"
        m = compare_values(f"state {name}", got["state"][name], want, RTOL_LBFGS)
        if m:
            return m
    if hist is not None:
        n_old = len(hist[0])
        first = int(got["state"]["0.old_first"][0])
        size = case.opts.get("history_size", 100)
        width = sum(math.prod(s) for s, _ in case.params)
        for k, (name, want) in enumerate((("0.old_dirs", hist[0]), ("0.old_stps", hist[1]))):
            rows = ring_rows(got, name, n_old, first, size, width)
            for i in range(n_old):
                m = compare_values(f"state {name}[{i}]", None if rows is None else rows[i], want[i], RTOL_LBFGS)
                if m:
                    return m
        ro = ring_rows(got, "0.ro", n_old, first, size, 1)
        m = compare_values("state 0.ro", None if ro is None else [r[0] for r in ro], hist[2], RTOL_LBFGS)
        if m:
            return m
    return None
