"""Every setting a user can give and what is allowed: the one table that the command line
and the Python API (runs.plan, the recipes, prune) check against, before anything is
allocated or written.

    check_settings(cfg)      each known key of cfg against RULES; one line per bad value:
                             "lr = inf is not allowed: give a finite number > 0"
    check_memory(cfg, K)     the largest arrays a run will hold (data, K models with their
                             AdamW state, one full-batch step) against the memory this
                             process may still use

A number must be a real int or float (not a bool, not a string) and finite; NaN fails
every comparison, so it is refused with the rest.
"""
import math
import os
import resource

import numpy as np

from .errors import MinigrokError

_INT = (int, np.integer)
_NUM = (int, float, np.integer, np.floating)


def _is_int(v):
    return isinstance(v, _INT) and not isinstance(v, (bool, np.bool_))


def _is_num(v):
    return isinstance(v, _NUM) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)


def _int_at_least(low):
    return (lambda v: _is_int(v) and v >= low), f"an integer >= {low}"


def _optional(rule):
    test, words = rule
    return (lambda v: v is None or test(v)), f"{words}, or none"


def _number(test, words):
    return (lambda v: _is_num(v) and test(v)), f"a finite number {words}"


RULES = {
    # optimiser
    "lr": _number(lambda v: v > 0, "> 0"),
    "weight_decay": _number(lambda v: v >= 0, ">= 0"),
    "beta1": _number(lambda v: 0 <= v < 1, "in [0, 1)"),
    "beta2": _number(lambda v: 0 <= v < 1, "in [0, 1)"),
    "eps": _number(lambda v: v > 0, "> 0"),
    # schedule and reporting
    "epochs": _int_at_least(0),
    "eval_every": _int_at_least(1),
    "checkpoint_every": _optional(_int_at_least(1)),  # none: no checkpoint (no resume)
    "stop_after": _optional(_int_at_least(0)),
    "stop_threshold": _number(lambda v: 0 < v <= 1, "in (0, 1]"),
    "report_threshold": _optional(_number(lambda v: 0 < v <= 1, "in (0, 1]")),
    # task, data and model
    "seed": _int_at_least(0),
    "p": _int_at_least(2),
    "frac": _number(lambda v: 0 < v < 1, "in (0, 1)"),
    "n_train": _optional(_int_at_least(1)),
    "kappa": _number(lambda v: v > 0, "> 0"),
    "d_model": _int_at_least(1),
    "dtype": ((lambda v: v in ("float32", "float64")), "float32 or float64"),
    # pruning and recipes
    "rate": _number(lambda v: 0 <= v < 1, "in [0, 1) (the fraction of weights removed)"),
    "density": _number(lambda v: 0 < v <= 1, "in (0, 1] (the fraction of weights kept)"),
    "rewind_epoch": _int_at_least(0),
    "dense_stop_after": _optional(_int_at_least(0)),
    "late_epochs": _int_at_least(1),
    "from_epoch": _int_at_least(1),
    "ep_epochs": _int_at_least(1),
    "ep_lr": _number(lambda v: v > 0, "> 0"),
    "grok_threshold": _number(lambda v: 0 < v <= 1, "in (0, 1]"),
    # where it runs
    "workers": _int_at_least(1),
    "blas_threads": _int_at_least(1),
}


def check_setting(name, value):
    """A one-line error unless value is allowed for setting `name` (RULES)."""
    test, words = RULES[name]
    if not test(value):
        raise MinigrokError(f"{name} = {value!r} is not allowed: give {words}")
    return value


def check_settings(cfg):
    """Every setting of cfg that RULES knows (betas as beta1 and beta2)."""
    for name, value in cfg.items():
        if name in RULES:
            check_setting(name, value)
    betas = cfg.get("betas")
    if betas is not None:
        if not (isinstance(betas, (list, tuple)) and len(betas) == 2):
            raise MinigrokError(f"betas = {betas!r} is not allowed: give two numbers (beta1, beta2)")
        check_setting("beta1", betas[0])
        check_setting("beta2", betas[1])
    return cfg


# ----------------------------------------------------------------------------------------
# memory

def available_bytes():
    """What this process may still allocate: the machine's available memory, capped by an
    address-space limit (ulimit -v) less what the process already maps."""
    found = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError):
            pass
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit != resource.RLIM_INFINITY:
        found.append(max(0, limit - _mapped_bytes()))
    return min(found) if found else None


def _mapped_bytes():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def estimate_bytes(cfg, n_models=1):
    """The largest arrays a run holds, in bytes: building the data, then K models' weights
    with their AdamW state and gradient, and one full-batch step (activations, float64
    logits and their gradient for the training set; the evaluation of the test set)."""
    size = 4 if cfg.get("dtype", "float32") == "float32" else 8
    if cfg.get("task", "modular") == "modular":
        p = int(cfg["p"])
        pairs = p * p if cfg.get("split") == "all" else p * (p + 1) // 2
        n_train = int(cfg.get("frac", 0.4) * pairs)
        n_test = pairs - n_train
        data = 5 * 8 * p * p  # the p x p grids and pairs the split is drawn from
        width = max(int(cfg.get(k) or 0) for k in ("d_emb", "d_model", "d_mlp")) or 500
        params = 2 * width * p + 4 * width * width  # W_E, W_U and the square-ish inner matrices
        per_example = p * (size + 8 + 8) + 8 * width * size  # logits, float64 upcast, dlogits, hidden
    else:
        sizes = cfg.get("sizes") or [784, 200, 200, 10]
        n_train, n_test = int(cfg.get("n_train") or 1000), 10000
        data = 8 * sizes[0] * (n_train + n_test)
        params = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        per_example = sum(sizes) * size * 4 + sizes[-1] * 16
    step = n_models * (5 * params * size + n_train * per_example) + n_test * per_example
    return data + step


def check_memory(cfg, n_models=1):
    """A one-line error when a run would need more memory than this process may use."""
    need, have = estimate_bytes(cfg, n_models), available_bytes()
    if have is not None and need > have:
        what = f"p = {cfg['p']}" if cfg.get("task", "modular") == "modular" else f"the {cfg['task']} task"
        models = f" for {n_models} stacked models" if n_models > 1 else ""
        raise MinigrokError(f"{what} needs about {need / 2**30:.1f} GiB{models} (data, weights "
                            f"and one training step); {have / 2**30:.1f} GiB is available here")
