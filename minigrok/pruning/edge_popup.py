"""Edge-popup (Ramanujan et al. 2020): find a subnetwork of *frozen* weights by learning a
real score per weight (a "supermask"); the weights themselves never change.

    m      = top_k(|s|, density)            per matrix (scope 'layer', as the reference code)
    W_eff  = W * m
    L      = cross_entropy(f(x; W_eff), y)
    dL/ds  = sign(s) * (dL/dW_eff * W)      straight-through: top_k is passed as the identity,
                                            so dL/d|s| = dL/dm = dL/dW_eff * W; sign(s) is the
                                            derivative of the |.| (the reference code ranks
                                            |s| and autograd differentiates through abs)
    s     <- AdamW step on s                with weight decay ("EP + wd") or without

The reference code's second condition (`--weight_learning --double_reg`) trains the
weights as well: the same forward on W * m, and one AdamW over weights and scores, with
weight decay on both:

    dL/dW  = dL/dW_eff * m                  (only the kept weights get a gradient)
    dL/ds  = sign(s) * (dL/dW_eff * W)      as above

Score initialisation: 'kaiming_uniform' (the reference code, torch's nn.Linear default
kaiming_uniform_(a=sqrt(5))): s ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in the size of the
axis the matrix is applied along (the first axis of W_U, the last of every other matrix);
or 'magnitude': s = |W|, which starts from the magnitude-pruned mask.

supermask_model(model, weights, density) presents the frozen weights as a model whose
parameters are the scores (forward(s, x) runs the model on W * m), so that the one
training loop (train.py) trains scores with AdamW as it trains weights; the recipe
(recipes/edge_popup.py) follows the reference scripts (edge_pop_*.sh): AdamW lr 1e-2,
betas (0.9, 0.98), keep 40% per matrix ("--pruning_rate 0.4" keeps 40%), starting from the
dense run's epoch-1000 checkpoint. Table 1 of the paper reports test accuracy at 600 /
1000 / 1400 / 2000 epochs.
"""
from types import SimpleNamespace

import numpy as np

from ..backend import array_module
from ..errors import MinigrokError
from ..losses import accuracy, cross_entropy
from ..masks import apply
from ..train import model_functions
from .magnitude import top_k_mask

REPORT_EPOCHS = (600, 1000, 1400, 2000)
INITS = ("kaiming_uniform", "magnitude")


def fan_in(name, shape):
    """Size of the axis a matrix is applied along: W_U (d, p) acts on its first axis."""
    return shape[0] if name == "W_U" else shape[-1]


def init_scores(weights, rng, init="kaiming_uniform"):
    """Initial scores, same keys, shapes and dtype as the weights (drawn on the host)."""
    if init not in INITS:
        raise MinigrokError(f"unknown score init {init!r}; allowed: {', '.join(INITS)}")
    xp = array_module(*weights.values())
    scores = {}
    for k, w in weights.items():
        if init == "magnitude":
            scores[k] = abs(w)  # a new array
        else:
            bound = 1.0 / np.sqrt(fan_in(k, w.shape))
            scores[k] = xp.asarray(rng.uniform(-bound, bound, size=w.shape).astype(w.dtype))
    return scores


def supermask(scores, density, scope="layer"):
    """m = top_k(|s|, density): the subnetwork the scores select."""
    return top_k_mask({k: abs(s) for k, s in scores.items()}, density, scope)


def edge_popup_gradients(model, weights, scores, masks, x, y):
    """(loss, accuracy, dL/ds) with masks = supermask(scores, ...); the straight-through
    gradient dL/ds = sign(s) * dL/dW_eff * W (module docstring)."""
    forward, backward = model_functions(model)
    logits, cache = forward(apply(weights, masks), x)  # (B, p)
    loss, dlogits = cross_entropy(logits, y)
    d_eff = backward(dlogits, cache)  # dL/dW_eff, same keys
    return loss, accuracy(logits, y), score_grads(d_eff, weights, scores)


def score_grads(d_eff, weights, scores):
    """dL/ds = sign(s) * dL/dW_eff * W per matrix: the straight-through gradient of the
    scores, the mask's top-k treated as the identity (module docstring)."""
    xp = array_module(*weights.values())
    return {k: xp.sign(scores[k]) * d_eff[k] * w for k, w in weights.items()}


def supermask_model(model, weights, density, scope="layer"):
    """The frozen weights as a model of their scores: forward(s, x) = model on
    W * top_k(|s|), backward gives dL/ds by the straight-through rule (module docstring),
    effective_weights(s) = W * top_k(|s|) (for the weight norms the loop logs)."""
    forward_w, backward_w = model_functions(model)

    def forward(scores, x):
        logits, cache = forward_w(apply(weights, supermask(scores, density, scope)), x)  # (B, p)
        return logits, (cache, scores)

    def backward(dlogits, cache):
        inner, scores = cache
        return score_grads(backward_w(dlogits, inner), weights, scores)

    return SimpleNamespace(forward=forward, backward=backward,
                           effective_weights=lambda scores: apply(weights, supermask(scores, density, scope)))


WEIGHT, SCORE = "weight/", "score/"  # the prefixes of weights_and_scores_model's parameters


def split_weights_scores(params):
    """({name: W}, {name: s}) from weights_and_scores_model's parameters."""
    return ({k[len(WEIGHT):]: v for k, v in params.items() if k.startswith(WEIGHT)},
            {k[len(SCORE):]: v for k, v in params.items() if k.startswith(SCORE)})


def join_weights_scores(weights, scores):
    """weights_and_scores_model's parameters {"weight/<k>": W, "score/<k>": s}."""
    return {**{WEIGHT + k: w for k, w in weights.items()}, **{SCORE + k: s for k, s in scores.items()}}


def weights_and_scores_model(model, density, scope="layer"):
    """Weights and scores trained together (the module docstring's second condition): a
    model whose parameters are join_weights_scores(W, s); forward runs the model on
    W * top_k(|s|), backward gives dL/dW = dL/dW_eff * m and dL/ds = sign(s) * dL/dW_eff * W,
    effective_weights gives W * m (for the weight norms the loop logs)."""
    forward_w, backward_w = model_functions(model)

    def effective(params):
        weights, scores = split_weights_scores(params)
        masks = supermask(scores, density, scope)
        return apply(weights, masks), masks

    def forward(params, x):
        w_eff, masks = effective(params)
        logits, cache = forward_w(w_eff, x)  # (B, p)
        return logits, (cache, params, masks)

    def backward(dlogits, cache):
        inner, params, masks = cache
        weights, scores = split_weights_scores(params)
        d_eff = backward_w(dlogits, inner)  # dL/dW_eff, same keys as the weights
        dweights = {k: d_eff[k] * masks[k] for k in weights}
        return join_weights_scores(dweights, score_grads(d_eff, weights, scores))

    return SimpleNamespace(forward=forward, backward=backward,
                           effective_weights=lambda params: effective(params)[0])
