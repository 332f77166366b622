"""Mask dynamics: how the magnitude mask changes over training ("rapid structural change").

At each checkpoint theta_t take the magnitude mask m_t at the ticket's density and scope
(the mask the ticket would have if pruned at t), and compare it with the final mask m_T
and with the previous checkpoint's mask by the Jaccard overlap

    J(A, B) = |A & B| / |A | B|       (1 for identical masks, 0 for disjoint ones;
                                       1 when both are empty)

per layer (the part of the mask in each matrix) and globally (all weights pooled).
"""
from .. import masks
from ..pruning.magnitude import magnitude_prune

GLOBAL = "global"


def jaccard_by_layer(masks_a, masks_b):
    """{name: J of that matrix's masks, ..., 'global': J over all weights pooled}."""
    return {**masks.jaccard_per_layer(masks_a, masks_b), GLOBAL: masks.jaccard(masks_a, masks_b)}


def magnitude_masks(params_seq, density, scope="global"):
    """The magnitude mask (top `density` of |W|, exact count) of each params dict."""
    return [magnitude_prune(params, density=density, scope=scope) for params in params_seq]


def jaccard_over_training(masks_seq):
    """Overlap of each mask in a sequence with the last one and with the one before it.

    Returns {"to_final": [dict per mask], "to_previous": [None, dict, dict, ...]}, each dict
    as jaccard_by_layer gives it.
    """
    final = masks_seq[-1]
    to_final = [jaccard_by_layer(m, final) for m in masks_seq]
    to_previous = [None] + [jaccard_by_layer(m, prev) for prev, m in zip(masks_seq, masks_seq[1:])]
    return {"to_final": to_final, "to_previous": to_previous}
