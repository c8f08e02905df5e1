"""Recurrent layers over sequences (nn/rnn.c): torch.nn.RNN (tanh, relu), LSTM and GRU of
1-2 layers, one or two directions, time- or batch-major, with and without biases, initial
states and sequence lengths (pack_padded_sequence(enforce_sorted=False), then
pad_packed_sequence(total_length=T)), unbatched inputs. The weights of a case are one flat
input cut into the module's parameters in torch's order (both sides cut it alike), so the
gradient of every weight is compared through it; outputs are output, h_n (and c_n)."""
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from oracle_gen import op, tensor

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def weight_shapes(G, I, H, L, D, bias):
    """torch's _flat_weights order: per layer, per direction, w_ih, w_hh[, b_ih, b_hh]"""
    shapes = []
    for layer in range(L):
        cols = I if layer == 0 else D * H
        for _ in range(D):
            shapes += [[G * H, cols], [G * H, H]] + ([[G * H], [G * H]] if bias else [])
    return shapes


def seq_gen(kind):
    def gen(rng):
        T, N, I, H = rng.randint(1, 4), rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 3)
        L, D = rng.randint(1, 2), 2 if rng.random() < 0.4 else 1
        bias, bf, has_h = rng.random() < 0.7, rng.random() < 0.3, rng.random() < 0.6
        unbatched = rng.random() < 0.15
        p = {"cfg": [L, D, int(bias), int(bf), int(has_h), I, H]}
        if kind == "rnn":
            p["mode"] = rng.choice(["tanh", "relu"])
        if not unbatched and rng.random() < 0.4:
            p["lengths"] = [rng.randint(1, T) for _ in range(N)]
            if rng.random() < 0.05:
                p["lengths"][0] = rng.choice([0, T + 1])  # PyTorch's error
        bad = rng.random() < 0.05
        lead = [T] if unbatched else [N, T] if bf else [T, N]
        ins = [tensor(rng, lead + [I + (bad and rng.random() < 0.5)])]
        n_states = 2 if kind == "lstm" else 1
        if has_h:
            sh = [D * L] + ([] if unbatched else [N]) + [H]
            if bad and rng.random() < 0.5:
                sh[-1] += 1  # wrong hidden size: PyTorch's error
            ins += [tensor(rng, sh, rg=rng.random() < 0.8) for _ in range(n_states)]
        total = sum(int(torch.tensor(s).prod()) for s in weight_shapes(GATES[kind], I, H, L, D, bias))
        ins.append(tensor(rng, [total]))
        return ins, p
    return gen


def torch_seq(kind):
    def f(x, p):
        L, D, bias, bf, has_h, I, H = (int(v) for v in p["cfg"])
        n_states = 2 if kind == "lstm" else 1
        flat = x[-1]
        ws, off = [], 0
        for s in weight_shapes(GATES[kind], I, H, L, D, bias):
            n = int(torch.tensor(s).prod())
            ws.append(flat.narrow(0, off, n).reshape(s))
            off += n
        kw = dict(num_layers=L, bias=bool(bias), batch_first=bool(bf), bidirectional=D == 2)
        if kind == "rnn":
            m = torch.nn.RNN(I, H, nonlinearity=p["mode"], **kw)
        else:
            m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](I, H, **kw)
        m._flat_weights = ws  # the case's weights, so that their gradients reach flat
        hx = None
        if has_h:
            hx = (x[1], x[2]) if n_states == 2 else x[1]
        xin = x[0]
        if "lengths" in p:
            T = xin.shape[1 if bf else 0]
            packed = pack_padded_sequence(xin, torch.tensor([int(v) for v in p["lengths"]]), batch_first=bool(bf),
                                          enforce_sorted=False)
            out, hn = m(packed, hx)
            out = pad_packed_sequence(out, batch_first=bool(bf), total_length=T)[0]
        else:
            out, hn = m(xin, hx)
        return [out] + (list(hn) if n_states == 2 else [hn])
    return f


op("rnn", seq_gen("rnn"), torch_seq("rnn"))
op("lstm", seq_gen("lstm"), torch_seq("lstm"))
op("gru", seq_gen("gru"), torch_seq("gru"))
