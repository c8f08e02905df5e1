"""Reductions: all elements and along dims."""
import torch

from oracle_gen import op, rand_dim, rand_dims, rshape, tensor


def all_of(dom="any"):
    def gen(rng):
        return [tensor(rng, rshape(rng), dom)], {}
    return gen


def along(dom="any", unbiased=False):
    def gen(rng):
        shape = rshape(rng)
        p = {"dims": rand_dims(rng, len(shape)), "keepdim": rng.randint(0, 1)}
        if unbiased:
            p["unbiased"] = rng.randint(0, 1) if shape else 0  # see var_all
        return [tensor(rng, shape, dom)], p
    return gen


op("sum", all_of(), lambda x, p: x[0].sum())
op("mean", all_of(), lambda x, p: x[0].mean())
op("sum_dims", along(), lambda x, p: x[0].sum(p["dims"], keepdim=bool(p["keepdim"])))
op("mean_dims", along(), lambda x, p: x[0].mean(p["dims"], keepdim=bool(p["keepdim"])))
op("logsumexp", along(), lambda x, p: torch.logsumexp(x[0], p["dims"], keepdim=bool(p["keepdim"])))


def var_all(rng):
    shape = rshape(rng)
    # unbiased var of one element is 0/0: tapegrad's gradient is NaN for every
    # shape, PyTorch 1.13's is NaN for [1] but +-inf for a 0-d input (README)
    unbiased = rng.randint(0, 1) if shape else 0
    return [tensor(rng, shape, "any")], {"unbiased": unbiased}


op("var", var_all, lambda x, p: x[0].var(unbiased=bool(p["unbiased"])))
op("var_dims", along(unbiased=True),
   lambda x, p: x[0].var(p["dims"], unbiased=bool(p["unbiased"]), keepdim=bool(p["keepdim"])))
# "mix" values tie often: PyTorch splits the gradient of max/min among ties
op("max", all_of("mix"), lambda x, p: x[0].max())
op("min", all_of("mix"), lambda x, p: x[0].min())
op("max_distinct", all_of("distinct"), lambda x, p: x[0].max(), c_name="max")


def extreme_dim(rng):
    shape = rshape(rng)
    return [tensor(rng, shape, "distinct")], {"dim": rand_dim(rng, len(shape)), "keepdim": rng.randint(0, 1)}


op("max_dim", extreme_dim, lambda x, p: tuple(torch.max(x[0], p["dim"], keepdim=bool(p["keepdim"]))))
op("min_dim", extreme_dim, lambda x, p: tuple(torch.min(x[0], p["dim"], keepdim=bool(p["keepdim"]))))


def sum_to(rng):
    shape = rshape(rng)
    nd = rng.randint(0, len(shape))
    target = [1 if rng.random() < 0.4 else s for s in shape[len(shape) - nd:]]
    if rng.random() < 0.05 and target and shape[-1] > 1:
        target[-1] = shape[-1] + 1  # not a shape it sums to
    return [tensor(rng, shape)], {"shape": target}


op("sum_to_shape", sum_to, lambda x, p: x[0].sum_to_size(p["shape"]) if p["shape"] or x[0].dim() == 0
   else x[0].sum())
