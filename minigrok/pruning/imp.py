"""Iterative magnitude pruning (IMP, Frankle & Carbin 2019) with rewinding to theta_0.

    level 0:  train theta_0 dense                       -> theta^(0)
    level k:  m_k = top d_k of |theta^(k-1)| among the weights m_(k-1) kept
              theta^(k) = train(theta_0 * m_k)          (rewind, retrain with the same hp)

Densities (fractions of all weights kept): d_k = (1 - level_rate)^k = 0.8, 0.64, 0.512, ...
while above the target; the last level lands exactly on the target density (so its step
may prune less than 20% of the remaining weights). Counts are exact (round(d_k * n)) and
the masks are nested: a weight pruned once is never revived. This module gives the
levels' densities and masks; recipes/imp.py trains them.
"""
from .magnitude import density_from, magnitude_prune

LEVEL_RATE = 0.2


def imp_densities(target, level_rate=LEVEL_RATE):
    """[0.8, 0.64, ..., target]: the density of each pruned level, 1 - level_rate apart."""
    keep = density_from(rate=level_rate)
    densities, d = [], keep
    while d > target * (1 + 1e-9):
        densities.append(d)
        d *= keep
    return densities + [target]


def imp_level_mask(trained, density, previous=None, scope="global"):
    """m_k: the top `density` (of all weights) of |theta^(k-1)| among those previous keeps."""
    return magnitude_prune(trained, density=density, scope=scope, masks=previous)
