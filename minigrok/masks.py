"""Masks: dicts with the same keys as the params, boolean arrays of the same shapes.

minigrok stores pruned weights as exact zeros, so a parameter dict always holds the
effective weights W * mask and the forward pass needs no mask. The mask acts in two
places: `apply` zeroes the pruned weights (at rewinding), and the optimiser zeroes their
gradient so they stay 0 (see optim.py).
"""
import numpy as np

from .backend import array_module, to_numpy
from .errors import MinigrokError


def apply(params, masks):
    """W * mask for every parameter (masks may be None: the dense net)."""
    if masks is None:
        return dict(params)
    return {k: w * masks[k].astype(w.dtype) for k, w in params.items()}


def ones_like(params):
    """The dense mask: every weight kept."""
    xp = array_module(*params.values())
    return {k: xp.ones(w.shape, dtype=bool) for k, w in params.items()}


def check_matches(masks, params, where="mask"):
    """Raise a one-line error unless masks has exactly the keys and shapes of params."""
    if set(masks) != set(params):
        raise MinigrokError(
            f"{where} has keys {sorted(masks)} but the model's parameters are {sorted(params)}")
    for k, w in params.items():
        if tuple(masks[k].shape) != tuple(w.shape):
            raise MinigrokError(
                f"{where}[{k!r}] has shape {tuple(masks[k].shape)}, the parameter has {tuple(w.shape)}")


def count_kept(masks):
    """Number of kept weights over all masks."""
    return int(sum(int(to_numpy(m).sum()) for m in masks.values()))


def count_total(masks):
    """Number of weights over all masks."""
    return int(sum(m.size for m in masks.values()))


def density(masks):
    """Fraction of weights kept (1 - pruning rate)."""
    return count_kept(masks) / count_total(masks)


def density_per_layer(masks):
    """{name: kept / size of that matrix} (the pooled fraction is density(masks))."""
    return {k: float(to_numpy(m).astype(bool).mean()) for k, m in masks.items()}


def _overlaps(masks_a, masks_b):
    """{name: (|A & B|, |A | B|)} of each matrix, nonzero read as kept."""
    out = {}
    for k in masks_a:
        a, b = to_numpy(masks_a[k]), to_numpy(masks_b[k])  # (shape), (shape)
        out[k] = int(np.logical_and(a, b).sum()), int(np.logical_or(a, b).sum())
    return out


def _ratio(inter, union):
    """inter / union, 1 when the union is empty (two empty masks are identical)."""
    return inter / union if union else 1.0


def jaccard(masks_a, masks_b):
    """J(A, B) = |A & B| / |A | B| over all weights pooled: 1 for identical masks, 0 for
    disjoint ones, 1 when both are empty."""
    counts = _overlaps(masks_a, masks_b).values()
    return _ratio(sum(i for i, _ in counts), sum(u for _, u in counts))


def jaccard_per_layer(masks_a, masks_b):
    """{name: J(A, B) of that matrix's masks} (the pooled value is jaccard)."""
    return {k: _ratio(i, u) for k, (i, u) in _overlaps(masks_a, masks_b).items()}
