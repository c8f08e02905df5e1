"""The optim oracle's BatchNorm1d cases (see optim_oracle.py)."""
import itertools

import torch

from optim_oracle_common import F64, RTOL_BN, compare_values, flat, fmt, numel, rand_values

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
    # (Left out: momentum outside [0, 1] and a negative eps, which torch never
    # checks and tapegrad's constructor refuses.)
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
