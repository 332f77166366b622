"""Iterative magnitude pruning (IMP, Frankle & Carbin 2019) with rewinding to theta_0.

    level 0:  train theta_0 dense                       -> theta^(0)
    level k:  m_k = top (1 - level_rate) of |theta^(k-1)| among the weights m_(k-1) kept
              theta^(k) = train(theta_0 * m_k)          (rewind, retrain with the same hp)

Densities (fractions of all weights kept): d_k = (1 - level_rate)^k = 0.8, 0.64, 0.512, ...
while above the target; the last level lands exactly on the target density (so its step
may prune less than 20% of the remaining weights). Counts are exact (round(d_k * n)) and
the masks are nested: a weight pruned once is never revived.
"""
from ..backend import to_float
from ..masks import apply
from ..optim import DEFAULTS as ADAMW_DEFAULTS
from ..train import grokking_times, train_loop
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


def level_summary(level, density, metrics):
    """t_mem / t_gen (0.99 and 0.95), final test accuracy and epochs run of one level."""
    times = grokking_times(metrics)
    return {"level": level, "density": density, **times["0.99"], "thresholds": times,
            "final_test_acc": to_float(metrics["test_acc"][-1]), "epochs_run": metrics["epoch"][-1]}


def imp(model, params0, data, hp, rate=None, density=None, level_rate=LEVEL_RATE,
        scope="global", trained=None, quiet=True):
    """Run IMP down to the target density. Returns one dict per level (level 0 = dense):
    {"level", "density", "masks" (None at level 0), "params" (trained), "metrics",
    "summary"}.

    params0: theta_0 (never modified); data: device arrays train_x/train_y/test_x/test_y;
    hp: train_loop's settings (epochs, stop_after, ...; AdamW defaults filled in).
    trained: the already trained dense weights, to reuse a cached dense run as level 0.
    """
    target = density_from(rate, density)
    hp = {"eval_every": 1, **ADAMW_DEFAULTS, **hp}
    levels = []
    if trained is None:
        params, _, metrics = train_loop(model, {k: w.copy() for k, w in params0.items()}, data,
                                        hp, label="imp dense", quiet=quiet)
        levels.append({"level": 0, "density": 1.0, "masks": None, "params": params,
                       "metrics": metrics, "summary": level_summary(0, 1.0, metrics)})
    else:
        params = trained
        levels.append({"level": 0, "density": 1.0, "masks": None, "params": trained,
                       "metrics": None, "summary": None})
    masks = None
    for level, d in enumerate(imp_densities(target, level_rate), start=1):
        masks = magnitude_prune(params, density=d, scope=scope, masks=masks)
        params, _, metrics = train_loop(model, apply(params0, masks), data, hp, masks=masks,
                                        label=f"imp {level}", quiet=quiet)
        levels.append({"level": level, "density": d, "masks": masks, "params": params,
                       "metrics": metrics, "summary": level_summary(level, d, metrics)})
    return levels
