"""Sparse parity (Barak et al. 2022; Merrill et al. 2023): n random bits in {-1, +1}, the
label is the parity of the first k of them (1 if their product is -1, else 0).

The latest grokking-tickets paper: n = 30 bits, k = 3, 1,200 training samples; the test
set is 1,000 fresh samples from the same distribution.
"""
import numpy as np

from ..errors import MinigrokError


def parity_dataset(n_bits=30, k=3, n_train=1200, n_test=1000, seed=0):
    """x (n, n_bits) float32 in {-1, +1}, y (n,) int64 = parity of the first k bits."""
    if not 1 <= k <= n_bits:
        raise MinigrokError(f"k = {k} is not allowed: it must be in 1..n_bits ({n_bits})")
    rng = np.random.default_rng(seed)
    x = rng.choice(np.array([-1.0, 1.0]), size=(n_train + n_test, n_bits))  # (n, n_bits)
    y = (np.prod(x[:, :k], axis=1) < 0).astype(np.int64)  # (n,) odd number of -1s
    x = x.astype(np.float32)
    return {"train_x": x[:n_train], "train_y": y[:n_train], "test_x": x[n_train:], "test_y": y[n_train:],
            "meta": {"task": "parity", "n_bits": n_bits, "k": k, "n_train": n_train,
                     "n_test": n_test, "n_in": n_bits, "n_out": 2, "seed": seed}}
