#!/usr/bin/env python3
"""The character LSTM of examples/char_lstm.c in PyTorch, for a side-by-side run.

Words: the lines of /usr/share/dict/words (Debian's wamerican) made only of
a-z, in file order; word i goes to validation when i % 10 == 9, else to
training. Tokens: '.' = 0 (start and end of a word), 'a'..'z' = 1..26. A word
w gives inputs ". w" and targets "w .", padded with -100 (ignored by the loss).
Model: Embedding(27, E) -> LSTM(E, H, num_layers=2, batch_first=True) over
pack_padded_sequence(lengths, enforce_sorted=False) -> Linear(H, 27); mean
cross-entropy over the real tokens; AdamW (lr, weight_decay 0.01),
clip_grad_norm_(1.0). Each epoch visits the training words in the order of a
Fisher-Yates shuffle driven by splitmix64(seed + epoch), the same one
char_lstm.c draws, so both see the same batches. Prints the lines char_lstm
prints:

    epoch k/N  train loss X  val loss V  S words/s  elapsed Es

Run with the system python that has python3-torch:
    /usr/bin/python3 bench/char_lstm_torch.py --epochs 3 --threads 1
"""
import argparse
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
except ImportError as e:  # torch is optional: say so and succeed
    print("char_lstm_torch.py: PyTorch is not available (%s); install python3-torch "
          "(apt-get install -y python3-torch) and run it with /usr/bin/python3" % e)
    sys.exit(0)

MASK64 = (1 << 64) - 1


def splitmix64(state):
    """(new state, output): the generator char_lstm.c uses for its shuffles."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def shuffled(n, seed):
    """Fisher-Yates over range(n), j = next() % (i + 1) from the top down."""
    order, state = list(range(n)), seed
    for i in range(n - 1, 0, -1):
        state, r = splitmix64(state)
        j = r % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def load_words(path, max_words):
    words = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            w = line.rstrip("\n")
            if w and all("a" <= c <= "z" for c in w):
                words.append(w)
    if max_words:
        words = words[:max_words]
    train = [w for i, w in enumerate(words) if i % 10 != 9]
    val = [w for i, w in enumerate(words) if i % 10 == 9]
    return train, val


def batch_tensors(words):
    """inputs (B, T) int64, targets (B, T) with -100 padding, lengths (B)."""
    t = max(len(w) for w in words) + 1
    x = torch.zeros(len(words), t, dtype=torch.int64)
    y = torch.full((len(words), t), -100, dtype=torch.int64)
    for b, w in enumerate(words):
        ids = [ord(c) - ord("a") + 1 for c in w]
        x[b, 1:len(w) + 1] = torch.tensor(ids)
        y[b, :len(w)] = torch.tensor(ids)
        y[b, len(w)] = 0
    return x, y, torch.tensor([len(w) + 1 for w in words])


class CharLSTM(nn.Module):
    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(self.embedding(x), lengths, batch_first=True,
                                      enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.head(out)


def mean_loss(model, x, y, lengths):
    logits = model(x, lengths)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                           ignore_index=-100, reduction="sum"), int((y != -100).sum())


def evaluate(model, words, batch):
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(words), batch):
            s, n = mean_loss(model, *batch_tensors(words[i:i + batch]))
            total += float(s)
            count += n
    model.train()
    return total / count


def train_epoch(model, opt, train, batch, seed, max_steps):
    order = shuffled(len(train), seed)
    total, count, words = 0.0, 0, 0
    for step, i in enumerate(range(0, len(train), batch)):
        if max_steps and step >= max_steps:
            break
        chunk = [train[k] for k in order[i:i + batch]]
        s, n = mean_loss(model, *batch_tensors(chunk))
        opt.zero_grad()
        (s / n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        total += float(s)
        count += n
        words += len(chunk)
    return total / count, words


def sample(model, n, temperature, gen, max_len=20):
    model.eval()
    out = []
    with torch.no_grad():
        for _ in range(n):
            state, tok, word = None, 0, ""
            for _ in range(max_len):
                h, state = model.lstm(model.embedding(torch.tensor([[tok]])), state)
                p = F.softmax(model.head(h[0, -1]) / temperature, dim=-1)
                tok = int(torch.multinomial(p, 1, generator=gen))
                if tok == 0:
                    break
                word += chr(ord("a") + tok - 1)
            out.append(word)
    model.train()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--words", default="/usr/share/dict/words")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--embed", type=int, default=24)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-words", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train, val = load_words(a.words, a.max_words)
    if not train or not val:
        sys.exit("char_lstm_torch.py: no a-z words in %s" % a.words)
    model = CharLSTM(27, a.embed, a.hidden, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    n_params = sum(p.numel() for p in model.parameters())
    print("char_lstm (PyTorch %s): %d train words, %d val words, %d parameters, %d thread(s)"
          % (torch.__version__, len(train), len(val), n_params, a.threads))
    start = time.perf_counter()
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        train_loss, seen = train_epoch(model, opt, train, a.batch, a.seed + epoch, a.max_steps)
        dt = time.perf_counter() - t0
        val_loss = evaluate(model, val, 256)
        print("epoch %d/%d  train loss %.4f  val loss %.4f  %.0f words/s  elapsed %.1fs"
              % (epoch + 1, a.epochs, train_loss, val_loss, seen / dt, time.perf_counter() - start))
        sys.stdout.flush()
    gen = torch.Generator().manual_seed(a.seed)
    print("samples (temperature %.2f): %s" % (a.temperature, " ".join(sample(model, 20, a.temperature, gen))))


if __name__ == "__main__":
    main()
