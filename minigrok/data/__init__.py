"""Tasks. Each builder returns a dict of host (NumPy) arrays:
{"train_x", "train_y", "test_x", "test_y"} plus a "meta" dict describing the split.

`make_dataset(cfg)` picks the builder by cfg["task"]; TASK_DEFAULTS holds each task's
model and training settings (the paper's, with their source), which a run's own
settings override.
"""
from ..errors import MinigrokError
from .mnist import mnist_dataset
from .modular import OPERATIONS, SPLITS, modular_dataset
from .parity import parity_dataset
from .regression import regression_dataset

TASK_DEFAULTS = {
    # the embedding MLP / Transformer on op(a, b) mod p (DESIGN.md section 2)
    "modular": {"model": "mlp", "objective": "ce"},
    # 784-200-200-10 ReLU MLP, MSE on one-hot targets, kappa 8 (paper, after Liu et al.);
    # weight decay 0.1 and a 100k-epoch cap as the reference code's MNIST config
    "mnist": {"model": "fc", "sizes": [784, 200, 200, 10], "kappa": 8.0, "objective": "mse_onehot",
              "weight_decay": 0.1, "epochs": 100000, "n_train": 1000},
    # 40-40-48-500-1 MLP, MSE, AdamW lr 1e-2, wd 1 (the latest paper version)
    "regression": {"model": "fc", "sizes": [40, 40, 48, 500, 1], "objective": "mse", "lr": 1e-2,
                   "weight_decay": 1.0},
    # one hidden layer of 1,000 ReLU units (width after Merrill et al. 2023), cross-entropy
    "parity": {"model": "fc", "sizes": [30, 1000, 2], "objective": "ce"},
}


def make_dataset(cfg):
    """The dataset of cfg['task'] (default 'modular') built from cfg's settings."""
    task = cfg.get("task", "modular")
    if task == "modular":
        return modular_dataset(cfg["op"], cfg["p"], cfg["frac"], cfg["split"], cfg["seed"])
    if task == "mnist":
        return mnist_dataset(cfg.get("n_train", 1000), cfg["seed"], cfg.get("data_dir"))
    if task == "regression":
        return regression_dataset(seed=cfg["seed"])
    if task == "parity":
        return parity_dataset(seed=cfg["seed"])
    raise MinigrokError(f"unknown task {task!r}; allowed: {', '.join(TASK_DEFAULTS)}")


__all__ = ["OPERATIONS", "SPLITS", "TASK_DEFAULTS", "make_dataset", "modular_dataset",
           "mnist_dataset", "parity_dataset", "regression_dataset"]
