"""Polynomial regression (the latest grokking-tickets paper, after Kumar et al.):

    x ~ N(0, I / d) in R^d (d = 40),  beta ~ N(0, I),  y = (beta . x)^2 / 2

100 training and 100 test points by default. The task has no classes; its "accuracy" is
R^2, the fraction of the targets' variance the net explains (objectives.mse_real).
"""
import numpy as np

from ..errors import MinigrokError


def regression_dataset(d=40, n_train=100, n_test=100, seed=0):
    """x (n, d) float32, y (n, 1) float32 with y = (beta . x)^2 / 2 for one beta ~ N(0, I)."""
    if d < 1 or n_train < 2 or n_test < 2:
        raise MinigrokError(f"d, n_train, n_test = {d}, {n_train}, {n_test}: d must be >= 1 and each "
                            f"set needs >= 2 points (R^2 divides by the targets' spread)")
    rng = np.random.default_rng(seed)
    beta = rng.standard_normal(d)  # (d,)
    x = rng.standard_normal((n_train + n_test, d)) / np.sqrt(d)  # (n, d)
    y = 0.5 * (x @ beta) ** 2  # (n,)
    x, y = x.astype(np.float32), y.astype(np.float32)[:, None]  # (n, d), (n, 1)
    return {"train_x": x[:n_train], "train_y": y[:n_train], "test_x": x[n_train:], "test_y": y[n_train:],
            "meta": {"task": "regression", "d": d, "n_train": n_train, "n_test": n_test,
                     "n_in": d, "n_out": 1, "seed": seed}}
