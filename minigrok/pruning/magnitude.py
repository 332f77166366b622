"""Magnitude pruning: keep the weights of largest |W|, globally or per layer.

Vocabulary: `density` = fraction of weights kept, pruning `rate` = fraction removed,
density = 1 - rate. (The reference code's `sparsity=0.4` keeps 40%: rate 0.6.)

Counts are exact: a mask of density d over n weights keeps round(d * n) of them. Ties in
the score are broken deterministically: the earlier weight wins, in the order of the
parameter dict and row-major order inside each matrix. A density that would keep no
weight (of the network, or of a matrix with scope 'layer') is refused.
"""
import numpy as np

from ..backend import array_module, to_numpy
from ..errors import MinigrokError
from ..settings import check_setting

SCOPES = ("global", "layer")


def density_from(rate=None, density=None):
    """The density asked for by exactly one of rate (in [0, 1)) or density (in (0, 1])."""
    if (rate is None) == (density is None):
        raise MinigrokError("give exactly one of rate (fraction removed) or density (fraction kept)")
    if rate is not None:
        return 1.0 - check_setting("rate", rate)
    return check_setting("density", density)


def check_kept(params, density, scope="global"):
    """The one-line error top_k_mask would give, from the shapes alone (before training)."""
    if scope == "layer":
        for k, w in params.items():
            _n_keep(density, w.size, k)
    else:
        _n_keep(density, sum(w.size for w in params.values()), "the network")


def _n_keep(density, size, where):
    """round(density * size), refused when it keeps no weight at all."""
    n = int(round(density * size))
    if n == 0:
        raise MinigrokError(f"density {density:.10g} (rate {1 - density:.10g}) keeps none of the "
                            f"{size} weights of {where}: give a smaller rate")
    return n


def _keep_top(scores_flat, n_keep):
    """Boolean vector keeping the n_keep largest scores; ties go to the lower index."""
    order = np.argsort(-scores_flat, kind="stable")  # (n,) descending, stable on ties
    keep = np.zeros(scores_flat.shape, dtype=bool)  # (n,)
    keep[order[:n_keep]] = True
    return keep


def top_k_mask(scores, density, scope="global"):
    """Mask keeping the top `density` fraction of scores (dict of arrays), exact count.

    scope 'global': one threshold over all matrices; 'layer': each matrix keeps its own
    round(density * size) largest. Scores are ranked on the host in float64; the mask is
    returned on the scores' backend.
    """
    if scope not in SCOPES:
        raise MinigrokError(f"unknown pruning scope {scope!r}; allowed: {', '.join(SCOPES)}")
    xp = array_module(*scores.values())
    host = {k: to_numpy(s).astype(np.float64) for k, s in scores.items()}
    if scope == "layer":
        masks = {k: _keep_top(s.ravel(), _n_keep(density, s.size, k)).reshape(s.shape)
                 for k, s in host.items()}
    else:
        flat = np.concatenate([s.ravel() for s in host.values()])  # (n_total,)
        keep = _keep_top(flat, _n_keep(density, flat.size, "the network"))  # (n_total,)
        masks, start = {}, 0
        for k, s in host.items():
            masks[k] = keep[start:start + s.size].reshape(s.shape)
            start += s.size
    return {k: xp.asarray(m) for k, m in masks.items()}


def magnitude_prune(params, rate=None, density=None, scope="global", masks=None):
    """Mask keeping the weights of largest |W|. With an existing mask, pruned weights
    score -1 so they are never revived (density stays relative to all weights)."""
    density = density_from(rate, density)
    scores = {}
    for k, w in params.items():
        s = abs(w)
        if masks is not None:
            s = s * masks[k] - (1 - masks[k].astype(s.dtype))  # pruned -> -1
        scores[k] = s
    return top_k_mask(scores, density, scope)
