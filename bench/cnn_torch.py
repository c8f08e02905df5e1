#!/usr/bin/env python3
"""The LeNet-5-style CNN of examples/cnn_mnist.c in PyTorch, for a side-by-side run.

Conv2d(1,6,5,padding=2) -> ReLU -> MaxPool2d(2) -> Conv2d(6,16,5) -> ReLU ->
MaxPool2d(2) -> Flatten -> Linear(400,120) -> ReLU -> Linear(120,84) -> ReLU ->
Linear(84,10), PyTorch's default init, cross-entropy, SGD lr 0.01 momentum 0.9,
batch 64, train shuffled, pixels / 255, on the same IDX files (plain or .gz).
Prints the progress line cnn_mnist prints:

    epoch k/N  loss X  train acc A%  test errors E/10000 (acc T%)  S samples/s  elapsed Es

Run with the system python that has python3-torch:
    /usr/bin/python3 bench/cnn_torch.py --epochs 5 --threads 1
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
    print("cnn_torch.py: PyTorch is not available (%s); install python3-torch "
          "(apt-get install -y python3-torch) and run it with /usr/bin/python3" % e)
    sys.exit(0)


def load_split(directory, train):
    images, labels = idx_data.load_split(directory, train)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)
    return x, torch.from_numpy(labels.astype(np.int64))


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def train_epoch(model, opt, x, y, batch, gen, max_steps):
    model.train()
    order = torch.randperm(x.shape[0], generator=gen)
    loss_sum, correct, seen = 0.0, 0, 0
    for step, i in enumerate(range(0, x.shape[0], batch)):
        if max_steps and step >= max_steps:
            break
        idx = order[i:i + batch]
        xb, yb = x[idx], y[idx]
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item() * xb.shape[0]
        correct += (logits.argmax(1) == yb).sum().item()
        seen += xb.shape[0]
    return loss_sum / seen, correct, seen


def test_errors(model, x, y):
    model.eval()
    with torch.no_grad():
        correct = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
                      for i in range(0, x.shape[0], 1000))
    return x.shape[0] - correct


def run_epochs(model, opt, train, test, args, gen):
    """args.epochs epochs, each with cnn_mnist's progress line"""
    (x_train, y_train), (x_test, y_test) = train, test
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        loss, correct, seen = train_epoch(model, opt, x_train, y_train, args.batch, gen,
                                          args.max_steps)
        secs = time.perf_counter() - t0
        errors = test_errors(model, x_test, y_test)
        n = x_test.shape[0]
        print("epoch %d/%d  loss %.4f  train acc %.2f%%  test errors %d/%d (acc %.2f%%)  "
              "%.0f samples/s  elapsed %.1fs"
              % (epoch, args.epochs, loss, 100.0 * correct / seen, errors, n,
                 100.0 * (n - errors) / n, seen / secs, time.perf_counter() - start))
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=idx_data.DEFAULT_DATA)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
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
        (x_train, y_train), (x_test, y_test) = load_split(args.data, True), load_split(args.data, False)
    except (OSError, ValueError) as e:
        print("cnn_torch.py: %s" % e, file=sys.stderr)
        return 1
    model = lenet5()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    print("cnn_torch: torch %s, %d threads, LeNet-5 %d parameters, %d train / %d test samples "
          "from %s, batch %d, SGD lr %g momentum 0.9"
          % (torch.__version__, torch.get_num_threads(), sum(p.numel() for p in model.parameters()),
             x_train.shape[0], x_test.shape[0], args.data, args.batch, args.lr))
    sys.stdout.flush()
    run_epochs(model, opt, (x_train, y_train), (x_test, y_test), args, gen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
