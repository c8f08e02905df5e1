"""What the optim oracle's kinds share: tolerances, comparison, random draws
(see optim_oracle.py)."""
import math
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
