"""Tasks. Each builder returns a dict of host (NumPy) arrays:
{"train_x", "train_y", "test_x", "test_y"} plus a "meta" dict describing the split.

`make_dataset(cfg)` picks the builder by cfg["task"]; TASK_DEFAULTS holds each task's
model and training settings (the paper's, with their source), which a run's own
settings override.
"""
import numpy as np

from ..errors import MinigrokError
from .mnist import mnist_dataset
from .modular import OPERATIONS, SPLITS, modular_dataset
from .parity import parity_dataset
from .regression import regression_dataset

TASK_DEFAULTS = {
    # the embedding MLP / Transformer on op(a, b) mod p
    "modular": {"model": "mlp", "objective": "ce"},
    # 784-200-200-10 ReLU MLP, MSE on one-hot targets, kappa 8 (paper, after Liu et al.);
    # weight decay 0.1 and a 100k-epoch cap as the reference code's MNIST config. Test
    # accuracy tops out near 0.92 with 1,000 training images, so t_gen is also reported
    # at 0.9 and tickets stop there; metrics every 100 epochs, checkpoints every 10k.
    "mnist": {"model": "fc", "sizes": [784, 200, 200, 10], "kappa": 8.0, "objective": "mse_onehot",
              "weight_decay": 0.1, "epochs": 100000, "n_train": 1000, "eval_every": 100,
              "checkpoint_every": 10000, "stop_threshold": 0.9, "report_threshold": 0.9},
    # 40-40-48-500-1 MLP, MSE, AdamW lr 1e-2, wd 1 (the latest paper version); the first
    # size is 40 inputs + the constant one of with_constant_input. Scored by R^2, which
    # is also reported at 0.5 (README: these settings never pass 0.2; 400 points, kappa 3,
    # lr 1e-3, wd 0.1 generalise late and pass 0.5)
    "regression": {"model": "fc", "sizes": [41, 40, 48, 500, 1], "objective": "mse", "lr": 1e-2,
                   "weight_decay": 1.0, "input_bias": True, "report_threshold": 0.5},
    # one hidden layer of 1,000 ReLU units (width after Merrill et al. 2023), cross-entropy;
    # 30 bits + the constant one
    "parity": {"model": "fc", "sizes": [31, 1000, 2], "objective": "ce", "input_bias": True},
}


def with_constant_input(data):
    """x -> [x, 1]: one more input fixed at 1, so that the first layer's weights on it are
    that layer's biases (the fc model keeps no bias vectors: every parameter is a prunable
    matrix, as in the papers' pruning). Without it a bias-free ReLU net is positively
    homogeneous, f(c x) = c f(x), and can represent neither the parity of 3 bits in
    {-1, +1} (an odd function that is not linear) nor the quadratic regression target."""
    def add_one(x):
        return np.concatenate([x, np.ones((len(x), 1), dtype=x.dtype)], axis=1)  # (n, n_in + 1)
    meta = {**data["meta"], "n_in": data["meta"]["n_in"] + 1, "constant_input": True}
    return {**data, "train_x": add_one(data["train_x"]), "test_x": add_one(data["test_x"]), "meta": meta}


def make_dataset(cfg):
    """The dataset of cfg['task'] (default 'modular') built from cfg's settings."""
    task = cfg.get("task", "modular")
    if task == "modular":
        return modular_dataset(cfg["op"], cfg["p"], cfg["frac"], cfg["split"], cfg["seed"])
    if task == "mnist":
        return mnist_dataset(cfg.get("n_train", 1000), cfg["seed"], cfg.get("data_dir"))
    if task in ("regression", "parity"):
        build = regression_dataset if task == "regression" else parity_dataset
        sizes = {"n_train": cfg["n_train"]} if cfg.get("n_train") else {}  # else the task's
        data = build(seed=cfg["seed"], **sizes)
        return with_constant_input(data) if cfg.get("input_bias") else data
    raise MinigrokError(f"unknown task {task!r}; allowed: {', '.join(TASK_DEFAULTS)}")


__all__ = ["OPERATIONS", "SPLITS", "TASK_DEFAULTS", "make_dataset", "modular_dataset",
           "mnist_dataset", "parity_dataset", "regression_dataset", "with_constant_input"]
