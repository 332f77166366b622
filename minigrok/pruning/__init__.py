"""Pruning methods. Each turns scores into a mask of an exact density (see magnitude.py);
none trains a network: training is the recipes' (minigrok/recipes/).

    magnitude     |W| after training (the grokking ticket), global or per layer
    random        uniform random, same per-layer counts as a given mask or a global density
    snip          |dL/dW * W| at initialisation
    grasp         -W * (H g) at initialisation (keeps the lowest; see grasp.py for the sign)
    synflow       iterative synaptic flow (the paper's) and the reference code's one round
    imp           iterative magnitude pruning: the levels' densities and nested masks
    norm_control  theta_0 rescaled to the ticket's L1 / L2 norm
    non_grokking  magnitude masks from the dense run's checkpoints before it grokked
    edge_popup    learned scores over frozen weights (supermask), straight-through top-k
"""
from .edge_popup import edge_popup_gradients, init_scores, supermask, supermask_model
from .grasp import grasp, grasp_scores, hessian_vector_product
from .imp import imp_densities, imp_level_mask
from .magnitude import density_from, magnitude_prune, top_k_mask
from .non_grokking import non_grokking_masks
from .norm_control import norm_matched_init, norm_ratio, weight_norm
from .random import random_like, random_mask
from .snip import loss_gradients, snip, snip_scores
from .synflow import (
    synflow,
    synflow_reference_one_round,
    synflow_reference_scores,
    synflow_scores,
)

__all__ = [
    "density_from", "magnitude_prune", "top_k_mask",
    "random_like", "random_mask",
    "snip", "snip_scores", "loss_gradients",
    "grasp", "grasp_scores", "hessian_vector_product",
    "synflow", "synflow_scores", "synflow_reference_one_round", "synflow_reference_scores",
    "imp_densities", "imp_level_mask",
    "norm_matched_init", "norm_ratio", "weight_norm",
    "non_grokking_masks",
    "edge_popup_gradients", "init_scores", "supermask", "supermask_model",
]
