"""Pruning methods. Each turns scores into a mask of an exact density; see magnitude.py."""
from .magnitude import density_from, magnitude_prune, top_k_mask

__all__ = ["density_from", "magnitude_prune", "top_k_mask"]
