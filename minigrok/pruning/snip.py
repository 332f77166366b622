"""SNIP (Lee et al. 2019): connection sensitivity at initialisation.

    L(W)     = cross_entropy(f(x; W) / T, y)          on the training batch (T = 1 for SNIP)
    score_ij = |dL/dW_ij * W_ij|                      = |dL/dm_ij| at the all-ones mask m
    mask     = top_k(score, density)                  keep the most sensitive connections

The gradient is the model's hand-written backward (the trainer's forward/backward pair);
everything is computed in float64 (params upcast) so the ranking does not depend on the
training dtype. The reference code divides the scores by their sum, which does not change
the ranking and is left out.
"""
from ..backend import array_module
from ..losses import cross_entropy
from ..train import model_functions
from .magnitude import density_from, top_k_mask


def as_float64(params):
    """The parameters upcast to float64 (new arrays)."""
    xp = array_module(*params.values())
    return {k: w.astype(xp.float64) for k, w in params.items()}


def loss_gradients(model, params, x, y, temperature=1.0):
    """(loss, grads) of L = cross_entropy(f(x; params) / temperature, y), same keys as params.

    Since z = logits / T, dL/dlogits = (dL/dz) / T (the chain rule through the division).
    """
    forward, backward = model_functions(model)
    logits, cache = forward(params, x)  # (B, p)
    loss, dz = cross_entropy(logits / temperature, y)  # (), (B, p)
    return loss, backward(dz / temperature, cache)


def snip_scores(model, params, x, y):
    """|dL/dW * W| for every weight (float64), L the cross-entropy on (x, y)."""
    params = as_float64(params)
    _, grads = loss_gradients(model, params, x, y)
    return {k: abs(grads[k] * w) for k, w in params.items()}


def snip(model, params, x, y, rate=None, density=None, scope="global"):
    """SNIP mask at the asked density: keep the largest |dL/dW * W|."""
    density = density_from(rate, density)
    return top_k_mask(snip_scores(model, params, x, y), density, scope)
