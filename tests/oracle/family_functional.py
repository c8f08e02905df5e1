"""Functional transforms (autograd/functional.c) against torch.autograd.functional
(1.13) on two fixed functions built from ops, at random shapes and views:
f1(x, w) = tanh(x @ w) * sum(sin x)  (B,K) and the scalar
f2(x, w) = sum(tanh(x @ w)^2) + sum(x^3). vjp, jvp, hvp and vhp run with
create_graph=True, so the driver also compares their gradients (and double
backward): derivatives of order three and four of f."""
import torch
import torch.autograd.functional as AF

from oracle_gen import op, tensor


def f1(x, w):
    return torch.tanh(x @ w) * torch.sin(x).sum()


def f2(x, w):
    return (torch.tanh(x @ w) ** 2).sum() + (x ** 3).sum()


def dims(rng):
    return rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 3)


def gen_xw(extra):
    """x (B,D), w (D,K), then the tangents/cotangents `extra` asks for:
    'out' one shaped as f1's output, 'in' one per input"""
    def gen(rng):
        B, D, K = dims(rng)
        ins = [tensor(rng, [B, D]), tensor(rng, [D, K])]
        if extra == "out":
            ins.append(tensor(rng, [B, K]))
        elif extra == "in":
            ins += [tensor(rng, [B, D]), tensor(rng, [D, K])]
        return ins, {}
    return gen


def t_vjp(x, p):
    out, (gx, gw) = AF.vjp(f1, (x[0], x[1]), x[2], create_graph=True)
    return [out, gx, gw]


def t_jvp(x, p):
    out, j = AF.jvp(f1, (x[0], x[1]), (x[2], x[3]), create_graph=True)
    return [out, j]


def t_hvp(x, p):
    out, (hx, hw) = AF.hvp(f2, (x[0], x[1]), (x[2], x[3]), create_graph=True)
    return [out, hx, hw]


def t_vhp(x, p):
    out, (hx, hw) = AF.vhp(f2, (x[0], x[1]), (x[2], x[3]), create_graph=True)
    return [out, hx, hw]


def t_hessian(x, p):
    H = AF.hessian(f2, (x[0], x[1]))
    return [H[0][0], H[0][1], H[1][0], H[1][1]]


def t_jacobian(x, p):
    return list(AF.jacobian(f1, (x[0], x[1])))


def t_jacobian_fwd(x, p):
    # torch's forward AD refuses expanded views as primals: clones (same values)
    # (and its result then keeps history through them: detached, as without create_graph)
    J = AF.jacobian(f1, (x[0].clone(), x[1].clone()), vectorize=True, strategy="forward-mode")
    return [j.detach() for j in J]


op("fn_vjp", gen_xw("out"), t_vjp)
op("fn_jvp", gen_xw("in"), t_jvp)
op("fn_hvp", gen_xw("in"), t_hvp)
op("fn_vhp", gen_xw("in"), t_vhp)
op("fn_hessian", gen_xw(None), t_hessian, gg=False)
op("fn_jacobian", gen_xw(None), t_jacobian, gg=False)
op("fn_jacobian_fwd", gen_xw(None), t_jacobian_fwd, gg=False)
# tapegrad's columns from the ops' JVPs (jvp_columns) against the same torch call
op("fn_jacobian_dual", gen_xw(None), t_jacobian_fwd, gg=False)
