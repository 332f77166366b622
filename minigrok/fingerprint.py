"""The numerics fingerprint: which float rounding this code gives on this machine.

    fingerprint(model)   16 hex digits: SHA-256 of the float32 weights of `model` after
                         the full-batch AdamW steps of its reference setting (below)

A seed fixes a run's numbers only together with the code that rounds them: the order of
every float32 sum (how a model is factored or tabulated, the BLAS kernel OpenBLAS picks
for this CPU, the thread count). Grokking amplifies a rounding difference into a
different t_gen. The fingerprint hashes the weights, bit for bit, after a short run
through the same train_step every run uses, so any change of rounding changes it:

- a run's identity holds its model's fingerprint (runs.identity), so a run folder made
  by code or a machine that rounds differently is never continued or reused as if it were
  this code's run;
- each results file in results/ records the fingerprints it was measured with, and a test
  recomputes them: a results table whose numbers this code would no longer give is
  reported stale, with the command that regenerates it.

What it cannot see: a change of rounding that only matters late in a long run. Setting
the loss gradient's subnormals to 0 left these weights bit-identical, yet moved one of 20
MLP seeds' dense t_gen (18,981 -> 18,481 at 30,000 epochs). A change like that must also
change the reference run below (that one came with the CONFIDENT_STEPS phase), so that
older folders and records are refused rather than trusted.

Reference settings: seed 0, float32, one BLAS thread; the MLP and the Transformer at
their default widths on (a + b) mod 67 (sym split, frac 0.4, 911 training pairs), the fc
model on the regression task's defaults (40-40-48-500-1 with its constant input, MSE).
STEPS steps of the task's AdamW (lr 1e-3, wd 1, betas 0.9 / 0.98; regression lr 1e-2),
then CONFIDENT_STEPS more at lr 1e-2 without weight decay: the logits grow until the
softmax puts less than float32's smallest normal number on wrong classes, the regime of
late training, so code paths that only matter there (the loss gradient's subnormal flush,
losses.py) are in the hash too. ~0.3 s (MLP) to ~0.7 s (Transformer) once per process.
"""
import functools
import hashlib

import numpy as np

from .threads import blas_info, set_blas_threads

STEPS = 200
CONFIDENT_STEPS = 100
REFERENCE = {
    "mlp": {"task": "modular", "op": "add", "p": 67, "frac": 0.4, "split": "sym"},
    "transformer": {"task": "modular", "op": "add", "p": 67, "frac": 0.4, "split": "sym"},
    "fc": {"task": "regression"},
}


@functools.lru_cache(maxsize=None)
def fingerprint(model_name):
    """SHA-256 (first 16 hex digits) of `model_name`'s float32 weights after the steps of its
    REFERENCE setting (module docstring), computed with one BLAS thread (the thread count
    in force is put back afterwards)."""
    from .data import TASK_DEFAULTS, make_dataset
    from .models import get_model, model_config
    from .optim import DEFAULTS as ADAMW
    from .train import train_loop

    task = REFERENCE[model_name]["task"]
    cfg = {**ADAMW, "seed": 0, "dtype": "float32", **TASK_DEFAULTS[task], **REFERENCE[model_name]}
    data = make_dataset(cfg)
    model = get_model(model_name)
    overrides = {k: cfg[k] for k in model.DEFAULTS if k in cfg}
    mcfg = model_config(model_name, data["meta"].get("vocab"), "float32", **overrides)
    params = model.init(mcfg, np.random.default_rng(0))
    threads = blas_info().get("threads")
    set_blas_threads(1)
    try:  # the one training loop, in two phases: the task's AdamW, then confident steps
        first, = train_loop(model, params, data, {**cfg, "epochs": STEPS, "eval_every": STEPS},
                            quiet=True, overlap_eval=False)
        confident = {**cfg, "lr": 1e-2, "weight_decay": 0.0, "epochs": STEPS + CONFIDENT_STEPS,
                     "eval_every": CONFIDENT_STEPS}
        last, = train_loop(model, first["params"], data, confident, opt_state=first["opt_state"],
                           metrics=first["metrics"], start_epoch=STEPS, quiet=True, overlap_eval=False)
    finally:
        if threads:
            set_blas_threads(threads)
    params = last["params"]
    h = hashlib.sha256()
    for name in model.param_names(mcfg):
        h.update(np.ascontiguousarray(params[name]).tobytes())
    return h.hexdigest()[:16]


def fingerprints(model_names=("mlp", "transformer", "fc")):
    """{model: fingerprint} for several models."""
    return {name: fingerprint(name) for name in model_names}
