"""Tasks. Each builder returns a dict of host (NumPy) arrays:
{"train_x", "train_y", "test_x", "test_y"} plus a "meta" dict describing the split."""
from .modular import OPERATIONS, SPLITS, modular_dataset

__all__ = ["OPERATIONS", "SPLITS", "modular_dataset"]
