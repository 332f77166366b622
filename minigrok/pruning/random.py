"""Random masks: the "same sparsity, no structure" baseline.

    score_i ~ U(0, 1) drawn on the host with an explicit numpy Generator
    mask    = top_k(score, density)               exact count, as every mask in minigrok

Three flavours:
    random_like(masks, rng)                 each matrix keeps exactly as many weights as the
                                            given mask does (the paper's "random pruning at
                                            the same density per layer")
    random_mask(params, rng, density=...)   one global count over all matrices (scope
                                            'global': per-layer counts then vary at random),
                                            or round(density * size) per matrix ('layer')
    random_blocks_like(blocks, rng)         what random_like computes, for a list of host
                                            blocks (analysis.graph's chains), but drawn
                                            otherwise: kept indices = rng.choice, block by
                                            block, no scores. A seed gives another mask than
                                            random_like; it fixes the graph baselines.

Scores are drawn in the order of the dict and row-major inside each matrix, so a seed
gives the same mask on every backend.
"""
import numpy as np

from ..backend import array_module, to_numpy
from .magnitude import density_from, top_k_mask


def _uniform_scores(shapes, rng):
    """{name: U(0, 1) array} drawn on the host in dict order."""
    return {k: rng.random(shape) for k, shape in shapes.items()}  # (shape) float64


def random_like(masks, rng):
    """A random mask keeping, in every matrix, exactly the count the given mask keeps."""
    xp = array_module(*masks.values())
    scores = _uniform_scores({k: m.shape for k, m in masks.items()}, rng)
    out = {}
    for k, m in masks.items():
        kept = int(to_numpy(m).sum())
        layer = top_k_mask({k: scores[k]}, kept / m.size, scope="layer")[k]  # round(kept) = kept
        out[k] = xp.asarray(layer)
    return out


def random_mask(params, rng, rate=None, density=None, scope="global"):
    """A uniformly random mask of the asked density over the shapes of params."""
    density = density_from(rate, density)
    xp = array_module(*params.values())
    scores = _uniform_scores({k: w.shape for k, w in params.items()}, rng)
    return {k: xp.asarray(m) for k, m in top_k_mask(scores, density, scope).items()}


def random_blocks_like(blocks, rng):
    """[random boolean block keeping as many weights as the given one] for a list of
    blocks: kept indices = rng.choice(size, kept, replace=False), block by block."""
    out = []
    for m in blocks:
        m = np.asarray(m, dtype=bool)  # (out, in)
        flat = np.zeros(m.size, dtype=bool)  # (out * in,)
        flat[rng.choice(m.size, size=int(m.sum()), replace=False)] = True
        out.append(flat.reshape(m.shape))  # (out, in)
    return out
