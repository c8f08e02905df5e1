#!/usr/bin/env python3
"""The VGG-style CNN of examples/cnn_cifar.c in PyTorch, for a side-by-side run.

3 x [Conv2d(3x3, padding=1, bias=False) -> BatchNorm2d -> ReLU -> MaxPool2d(2)]
with 32, 64, 128 channels -> Flatten -> Linear(2048, 10), PyTorch's default
init, cross-entropy, SGD lr 0.01 momentum 0.9 (or --adam, lr 1e-3), batch 64,
train shuffled, pixels / 255 normalised per channel with the training set's
mean and (population) std, tested in eval mode, on the same CIFAR-10 binary
batches (DIR/data_batch_{1..5}.bin, DIR/test_batch.bin). Prints the progress
line cnn_cifar prints:

    epoch k/N  loss X  train acc A%  test errors E/10000 (acc T%)  S samples/s  elapsed Es

Run with the system python that has python3-torch:
    /usr/bin/python3 bench/cnn_cifar_torch.py --cifar DIR --epochs 5 --threads 1
"""
import argparse
import os
import sys

try:
    import numpy as np
    import torch
    from torch import nn

    import cnn_torch  # the same training loop and progress line as cnn_mnist's twin
except ImportError as e:  # torch (or numpy) is optional: say so and succeed
    print("cnn_cifar_torch.py: PyTorch is not available (%s); install python3-torch "
          "(apt-get install -y python3-torch) and run it with /usr/bin/python3" % e)
    sys.exit(0)

RECORD = 1 + 3 * 32 * 32


def read_batches(paths):
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) of CIFAR-10 binary files"""
    chunks = []
    for path in paths:
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % RECORD:
            raise ValueError("%s: %d bytes is not a whole number of %d-byte records"
                             % (path, raw.size, RECORD))
        chunks.append(raw.reshape(-1, RECORD))
    rec = np.concatenate(chunks)
    if rec[:, 0].max() > 9:
        raise ValueError("a label above 9 in %s" % ", ".join(paths))
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)


def load(directory):
    train = read_batches([os.path.join(directory, "data_batch_%d.bin" % k) for k in range(1, 6)])
    test = read_batches([os.path.join(directory, "test_batch.bin")])
    x_train = torch.from_numpy(train[0].astype(np.float32) / 255.0)
    x_test = torch.from_numpy(test[0].astype(np.float32) / 255.0)
    mean = x_train.double().mean(dim=(0, 2, 3))
    std = x_train.double().std(dim=(0, 2, 3), unbiased=False)
    norm = lambda x: ((x - mean.float().view(1, 3, 1, 1)) / std.float().view(1, 3, 1, 1))
    return (norm(x_train), torch.from_numpy(train[1])), (norm(x_test), torch.from_numpy(test[1]))


def vgg_small():
    layers = []
    for cin, cout in ((3, 32), (32, 64), (64, 128)):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                   nn.MaxPool2d(2)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 4 * 4, 10))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cifar", required=True, help="the folder of the CIFAR-10 binary batches")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--adam", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=0)
    args = ap.parse_args()
    lr = args.lr if args.lr is not None else (1e-3 if args.adam else 0.01)
    if args.epochs < 0 or args.batch <= 0 or lr <= 0:
        ap.error("--epochs must be >= 0, --batch > 0 and --lr > 0")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    try:
        (x_train, y_train), (x_test, y_test) = load(args.cifar)
    except (OSError, ValueError) as e:
        print("cnn_cifar_torch.py: %s" % e, file=sys.stderr)
        return 1
    model = vgg_small()
    if args.adam:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    print("cnn_cifar_torch: torch %s, %d threads, 3-block VGG-style CNN %d parameters, %d train / "
          "%d test samples from %s, batch %d, %s lr %g"
          % (torch.__version__, torch.get_num_threads(), sum(p.numel() for p in model.parameters()),
             x_train.shape[0], x_test.shape[0], args.cifar, args.batch,
             "Adam" if args.adam else "SGD momentum 0.9", lr))
    sys.stdout.flush()
    cnn_torch.run_epochs(model, opt, (x_train, y_train), (x_test, y_test), args, gen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
