"""Forward-mode AD (autograd/forward_ad.c) against torch.autograd.forward_ad
(1.13): every op listed in JVP_OPS is run again, on the cases its own family
draws, with each float input made a dual tensor with a random tangent, and
both the primal outputs and their tangents are compared. Extending it is a
name in JVP_OPS (the op's own generator and torch function are reused; the C
side, oracle_ops_jvp.c, wraps the op's own table entry). Only values are
compared (no input requires grad)."""
import torch
import torch.autograd.forward_ad as fwAD

from oracle_gen import REGISTRY, Inp, op, values

# the ops with a JVP in tapegrad's op table (tests/test_forward_ad.c lists
# those without); grouped as the families that draw them
JVP_OPS = """
add sub mul div pow maximum minimum add_scalar sub_scalar rsub_scalar mul_scalar div_scalar pow_scalar
neg exp log sqrt abs sin cos tanh sigmoid log1p expm1 log2 log10 exp2 tan asin acos atan sinh cosh
asinh acosh atanh erf erfc erfinv reciprocal rsqrt square atan2 fmod remainder hypot copysign
clamp clamp_min_tensor clamp_max_tensor clamp_tensor
relu leaky_relu elu softplus gelu silu mish hardtanh relu6 selu celu softsign hardsigmoid hardswish logsigmoid
matmul dot outer mv bmm softmax log_softmax
sum mean sum_dims mean_dims logsumexp var var_dims std std_dims prod prod_dim norm amax amin max min
max_dim min_dim sort topk median_dim kthvalue cumsum
cross_entropy binary_cross_entropy bce_with_logits mse_loss
gather scatter_add index_select index_add embedding where masked_fill masked_select
reshape view expand permute flatten squeeze unsqueeze transpose t narrow slice select contiguous clone to_dtype
cat stack diagonal
""".split()


# parameters dropped from an op's cases here, with why:
# embedding: PyTorch 1.13's forward AD gives an output row read from the
# padding row the weight row's tangent (padding_idx only zeroes the
# gradient), tapegrad's JVP gives it zero (reported, not settled here)
DROP_PARAMS = {"embedding": ("pad",)}




def mean_over_nothing(inputs, params):
    """cross_entropy's mean when every target is ignored: PyTorch's tangent
    is NaN (0/0), tapegrad's 0 (its primal is NaN in both; reported)"""
    return params.get("reduction") == "mean" and all(v == -100 for v in inputs[1].values)


def unbiased_of_one(inputs, params):
    """var/std unbiased of one element: 0/0, NaN in tapegrad, +-inf in
    PyTorch 1.13 (as the gradient, README)"""
    n = 1
    for d in view_shape(inputs[0]):
        n *= d
    return params.get("unbiased") and n == 1


def expanded(inputs, params):
    """view() of an expanded input: PyTorch sees the clone forward AD needs
    (it refuses expanded primals), tapegrad the expanded view, which view()
    rightly refuses"""
    return inputs[0].view[0] == "e"


# cases of an op not compared here (redrawn), with why
SKIP_CASES = {"cross_entropy": mean_over_nothing, "var": unbiased_of_one, "std": unbiased_of_one,
              "view": expanded}


def view_shape(inp):
    """the shape the op sees (oracle_gen.tensor's views of the base)"""
    s, v = list(inp.shape), inp.view
    if v[0] == "t":
        s[v[1]], s[v[2]] = s[v[2]], s[v[1]]
    elif v[0] == "s":
        s[v[1]] = (s[v[1]] + 1) // 2
    elif v[0] == "n":
        s[v[1]] = v[3]
    elif v[0] == "e":
        s[v[1]] = v[2]
    return s


def is_float(inp):
    return inp.dtype in ("f64", "f32")


def gen_of(spec):
    skip = SKIP_CASES.get(spec.name, lambda i, p: False)

    def gen(rng):
        inputs, params = spec.gen(rng)
        while skip(inputs, params):
            inputs, params = spec.gen(rng)
        tangents = []
        for i in inputs:
            i.rg = False
            if is_float(i):
                shape = view_shape(i)
                n = 1
                for d in shape:
                    n *= d
                tangents.append(Inp(shape, values(rng, n, "any"), i.dtype, False))
        params = {k: v for k, v in params.items() if k not in DROP_PARAMS.get(spec.name, ())}
        params = dict(params, jvp_op=spec.c_name, jvp_n=len(inputs))
        return inputs + tangents, params
    return gen


def as_list(out):
    return [out] if isinstance(out, torch.Tensor) else list(out)


def torch_of(spec):
    def run(x, p):
        n = p["jvp_n"]
        tangents = iter(x[n:])
        with fwAD.dual_level():
            # torch refuses expanded views as primals: clones of those, the
            # same values (other views stay views: view() must see their strides)
            duals = [fwAD.make_dual(v.clone() if 0 in v.stride() else v, next(tangents).clone())
                     if v.dtype.is_floating_point else v for v in x[:n]]
            prim, tan = [], []
            for o in as_list(spec.torch_fn(duals, p)):
                pr, tn = fwAD.unpack_dual(o)
                prim.append(pr.clone())
                tan.append(tn.clone() if tn is not None else torch.zeros_like(pr))
        return prim + tan
    return run


_specs = {s.name: s for s in REGISTRY}
for _name in JVP_OPS:
    _spec = _specs[_name]
    op("jvp_" + _name, gen_of(_spec), torch_of(_spec), gg=False, c_name="jvp")
