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

Score initialisation: 'kaiming_uniform' (the reference code, torch's nn.Linear default
kaiming_uniform_(a=sqrt(5))): s ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in the size of the
axis the matrix is applied along (the first axis of W_U, the last of every other matrix);
or 'magnitude': s = |W|, which starts from the magnitude-pruned mask.

Defaults follow the reference scripts (edge_pop_*.sh): AdamW lr 1e-2, betas (0.9, 0.98),
keep 40% per matrix ("--pruning_rate 0.4" keeps 40%), starting from the dense run's
epoch-1000 checkpoint (memorised, not generalised). Table 1 of the paper reports test
accuracy at 600 / 1000 / 1400 / 2000 epochs.
"""
import numpy as np

from ..backend import array_module, to_float
from ..errors import MinigrokError
from ..losses import accuracy, cross_entropy
from ..masks import apply
from ..optim import adamw_init, adamw_step
from ..progress import progress_end, progress_start, progress_update
from ..train import METRIC_COLUMNS, evaluate, model_functions, weight_norms
from .magnitude import density_from, top_k_mask

REPORT_EPOCHS = (600, 1000, 1400, 2000)
DEFAULTS = {"lr": 1e-2, "weight_decay": 1.0, "betas": (0.9, 0.98), "eps": 1e-8,
            "epochs": 2000, "eval_every": 100}
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
    xp = array_module(*weights.values())
    forward, backward = model_functions(model)
    logits, cache = forward(apply(weights, masks), x)  # (B, p)
    loss, dlogits = cross_entropy(logits, y)
    d_eff = backward(dlogits, cache)  # dL/dW_eff, same keys
    dscores = {k: xp.sign(scores[k]) * d_eff[k] * w for k, w in weights.items()}
    return loss, accuracy(logits, y), dscores


def edge_popup_train(model, weights, data, hp=None, rate=None, density=None, scope="layer",
                     scores=None, rng=None, init="kaiming_uniform",
                     report_epochs=REPORT_EPOCHS, quiet=True):
    """Train the scores of frozen `weights` for hp['epochs'] full-batch AdamW steps.

    data: device arrays train_x/train_y/test_x/test_y. scores: initial scores, or drawn
    by init_scores(weights, rng, init). Metrics (train_loop's columns, norms of W_eff) are
    logged every hp['eval_every'] epochs and at report_epochs; epoch n is after n steps.
    Returns {"scores", "masks", "metrics", "test_acc_at": {epoch: test accuracy}}.
    """
    density = density_from(rate, density)
    hp = {**DEFAULTS, **(hp or {})}
    if scores is None:
        if rng is None:
            raise MinigrokError("edge-popup needs initial scores or a numpy Generator rng to draw them")
        scores = init_scores(weights, rng, init)
    scores = {k: s.copy() for k, s in scores.items()}  # trained in place
    state = adamw_init(scores)
    epochs, every, report = hp["epochs"], hp["eval_every"], set(report_epochs)
    metrics = {c: [] for c in METRIC_COLUMNS}
    bar = progress_start("edge-popup", 0, epochs, every=max(1000, every), enabled=not quiet)
    for epoch in range(epochs + 1):
        logged = epoch % every == 0 or epoch in report or epoch == epochs
        masks = supermask(scores, density, scope)
        effective = apply(weights, masks)
        if logged:  # measured before this epoch's step, as train.py does
            test_loss, test_acc = evaluate(model, effective, data["test_x"], data["test_y"])
            l1, l2 = weight_norms(effective)
        if epoch == epochs:
            train_loss, train_acc = evaluate(model, effective, data["train_x"], data["train_y"])
        else:
            train_loss, train_acc, dscores = edge_popup_gradients(
                model, weights, scores, masks, data["train_x"], data["train_y"])
            adamw_step(scores, dscores, state, lr=hp["lr"], weight_decay=hp["weight_decay"],
                       betas=tuple(hp["betas"]), eps=hp["eps"])
        if logged:
            row = (epoch, to_float(train_loss), to_float(train_acc), to_float(test_loss),
                   to_float(test_acc), l1, l2)
            for column, value in zip(METRIC_COLUMNS, row):
                metrics[column].append(value)
            progress_update(bar, epoch, f"train {row[2]:.3f} test {row[4]:.3f}")
    progress_end(bar)
    test_acc_at = {e: a for e, a in zip(metrics["epoch"], metrics["test_acc"]) if e in report}
    return {"scores": scores, "masks": masks, "metrics": metrics, "test_acc_at": test_acc_at}
