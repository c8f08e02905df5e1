#!/usr/bin/env python3
"""The VAE of examples/vae_mnist.c in PyTorch, for a side-by-side run.

The model, loss and training loop are PyTorch's examples/vae/main.py:
fc1 784->400, fc21/fc22 400->20, fc3 20->400, fc4 400->784 (default Linear
init), ReLU, sigmoid output, BCE(sum) + KL, Adam lr 1e-3, batch 128, train
shuffled, test in order and sampled as in train. The data are the same IDX
files (plain or .gz) read with gzip + numpy, pixels / 255 -- no torchvision,
no download. Prints the lines vae_mnist prints:

    ====> Epoch: k Average loss: X
    ====> Test set loss: X
    epoch k/N  train loss X  test loss X  S samples  R samples/s  epoch Ts  elapsed Es

Run with the system python that has python3-torch:
    /usr/bin/python3 bench/vae_torch.py --epochs 10 --threads 1
"""
import argparse
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    import idx_data
except ImportError as e:  # torch (or numpy) is optional: say so and succeed
    print("vae_torch.py: PyTorch is not available (%s); install python3-torch "
          "(apt-get install -y python3-torch) and run it with /usr/bin/python3" % e)
    sys.exit(0)


def load_split(directory, train):
    images, _ = idx_data.load_split(directory, train)
    return torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float32) / 255.0)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def batches(x, batch, shuffle, gen):
    n = x.shape[0]
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    for i in range(0, n, batch):  # the last short batch is kept (drop_last=False)
        yield x[order[i:i + batch]]


def train(model, opt, x, batch, gen, max_steps):
    model.train()
    total, seen = 0.0, 0
    for step, data in enumerate(batches(x, batch, True, gen)):
        if max_steps and step >= max_steps:
            break
        opt.zero_grad()
        recon, mu, logvar = model(data)
        loss = loss_function(recon, data, mu, logvar)
        loss.backward()
        total += loss.item()
        opt.step()
        seen += data.shape[0]
    return total / seen, seen


def test(model, x, batch):
    model.eval()
    total = 0.0
    with torch.no_grad():
        for data in batches(x, batch, False, None):
            recon, mu, logvar = model(data)
            total += loss_function(recon, data, mu, logvar).item()
    return total / x.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=idx_data.DEFAULT_DATA)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=0)
    args = ap.parse_args()
    if args.epochs < 0 or args.batch <= 0 or args.lr <= 0:
        ap.error("--epochs must be >= 0, --batch > 0 and --lr > 0")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    try:
        x_train, x_test = load_split(args.data, True), load_split(args.data, False)
    except (OSError, ValueError) as e:
        print("vae_torch.py: %s" % e, file=sys.stderr)
        return 1
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    print("vae_torch: torch %s, %d threads, %d train / %d test samples from %s, batch %d, "
          "Adam lr %g" % (torch.__version__, torch.get_num_threads(), x_train.shape[0],
                          x_test.shape[0], args.data, args.batch, args.lr))
    sys.stdout.flush()
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        loss, seen = train(model, opt, x_train, args.batch, gen, args.max_steps)
        secs = time.perf_counter() - t0
        print("====> Epoch: {} Average loss: {:.4f}".format(epoch, loss))
        tl = test(model, x_test, args.batch)
        print("====> Test set loss: {:.4f}".format(tl))
        print("epoch %d/%d  train loss %.4f  test loss %.4f  %d samples  %.0f samples/s  "
              "epoch %.2fs  elapsed %.1fs" % (epoch, args.epochs, loss, tl, seen, seen / secs,
                                              secs, time.perf_counter() - start))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
