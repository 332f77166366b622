"""Progress measures: the embedding difference of "Beyond Progress Measures" (Gu et al.
2025, arXiv 2504.03162), next to test accuracy and weight norms.

    MED(W_E) = 1/(p-1) sum_{i=0}^{p-2} || W_E[:, i+1] - W_E[:, i] ||_2        W_E (d, p)

the mean distance between the embeddings of consecutive tokens (no wrap-around from p-1 to
0). Their released code (calculate_embedding_diff(W_E, 0, p - 1, ...) in base.py) slices
W_E[:, 1:p-1] - W_E[:, 0:p-2] and so averages over i = 0..p-3 only, leaving out the last
pair; `released_code=True` reproduces that. (It averages two identical such means when its
two ranges coincide, as they do for d = 0.)

MED grows and shrinks with the scale of W_E, so a sparse ticket (smaller norm) and its
dense parent are hard to compare by it; `relative_embedding_difference` (our addition, not
the paper's) divides by the mean embedding norm: MED / mean_i ||W_E[:, i]|| (sqrt(2) for
independent random embeddings of equal norm, 0 when every token has the same embedding).
"""
import numpy as np


def mean_embedding_difference(W_E, released_code=False):
    """MED of W_E (d, p) as in the module docstring (float)."""
    W = np.asarray(W_E, dtype=np.float64)
    if released_code:
        W = W[:, :-1]  # tokens 0..p-2: differences i = 0..p-3
    diffs = np.linalg.norm(W[:, 1:] - W[:, :-1], axis=0)  # (p-1,) or (p-2,)
    return float(diffs.mean())


def relative_embedding_difference(W_E):
    """MED(W_E) / mean_i ||W_E[:, i]||, a scale-free MED (module docstring)."""
    W = np.asarray(W_E, dtype=np.float64)
    return mean_embedding_difference(W) / float(np.linalg.norm(W, axis=0).mean())


def value_at_epochs(metrics, column, epochs):
    """metrics[column] at each epoch of `epochs`: the last logged row at or before it
    (metrics.csv may log every k epochs); NaN before the first row."""
    logged = np.asarray(metrics["epoch"])
    values = np.asarray(metrics[column], dtype=np.float64)
    idx = np.searchsorted(logged, np.asarray(epochs), side="right") - 1
    return np.where(idx >= 0, values[np.maximum(idx, 0)], np.nan)
