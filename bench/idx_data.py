"""Fashion-MNIST / MNIST IDX files (plain or .gz) as numpy arrays, for the
PyTorch twins in bench/: gzip + numpy only, no torchvision, no download."""
import gzip
import os
import struct

import numpy as np

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def open_idx(directory, stem):
    """dir/stem or dir/stem.gz, or the 'images.idx3-ubyte' spelling"""
    candidates = [stem, stem + ".gz", stem.replace("-idx", ".idx"),
                  stem.replace("-idx", ".idx") + ".gz"]
    for name in candidates:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path, (gzip.open(path, "rb") if name.endswith(".gz") else open(path, "rb"))
    raise FileNotFoundError("no %s[.gz] in %s" % (stem, directory))


def read_idx(directory, stem, magic, ndim):
    path, f = open_idx(directory, stem)
    with f:
        data = f.read()
    got, = struct.unpack(">I", data[:4])
    if got != magic:
        raise ValueError("%s: magic 0x%08x, expected 0x%08x" % (path, got, magic))
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError("%s: %d bytes of data for dims %s" % (path, arr.size, dims))
    return arr.reshape(dims)


def load_split(directory, train):
    """(images uint8 (N, 28, 28), labels uint8 (N,)) of the train or test split"""
    prefix = "train" if train else "t10k"
    images = read_idx(directory, prefix + "-images-idx3-ubyte", 0x803, 3)
    labels = read_idx(directory, prefix + "-labels-idx1-ubyte", 0x801, 1)
    if images.shape[0] != labels.shape[0]:
        raise ValueError("%s: %d images but %d labels" % (prefix, images.shape[0], labels.shape[0]))
    return images, labels
