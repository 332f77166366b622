"""minigrok against the same computation in JAX (skipped without jax), the second
yardstick next to PyTorch (test_torch_crosscheck.py).

benchmarks/jax_reference.py writes each model as a JAX user would (layer by layer,
jax.grad, AdamW with PyTorch's semantics, float64 cross-entropy); from minigrok's own
split, initial parameters and magnitude mask it gives the logits, the loss, every
gradient and the parameters after 200 masked full-batch steps, in float64. minigrok's
side is its layer-by-layer pair and the form its trainer runs (the MLP's factored and
the Transformer's tabulated form). Error measure and tolerances: tests/crosscheck.py.
"""
import os
import sys

import numpy as np
import pytest

pytest.importorskip("jax")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import jax_reference  # noqa: E402

import crosscheck as cc  # noqa: E402

NAMES = ("mlp", "transformer")


@pytest.mark.parametrize("form", cc.FORMS)
@pytest.mark.parametrize("p, small", [(cc.SMALL_P, True), (cc.PAPER_P, False)])
@pytest.mark.parametrize("name", NAMES)
def test_logits_loss_grads(name, p, small, form):
    _, params, data, _ = cc.setup(name, p, "float64", small=small)
    x, y = data["train_x"], data["train_y"]
    logits, loss, grads = cc.gradients(name, params, x, y, form)
    j_logits, j_loss, j_grads = jax_reference.loss_and_grads(name, params, x, y)
    tol = cc.TOLERANCES["float64"]
    assert np.asarray(j_logits).dtype == np.float64  # JAX's x64 mode is on
    assert cc.rel_err(logits, np.asarray(j_logits)) <= tol["logits"]
    assert cc.rel_err(loss, float(j_loss)) <= tol["loss"]
    errors = {k: cc.rel_err(grads[k], np.asarray(j_grads[k])) for k in grads}
    assert set(errors) == set(j_grads) and max(errors.values()) <= tol["grads"], cc.worst(errors)


@pytest.mark.parametrize("name", NAMES)
def test_200_masked_adamw_steps(name):
    """minigrok.train.train_step (masked AdamW, wd 1) vs JAX's jitted step, from the same
    theta_0 and mask, float64."""
    _, params0, data, masks = cc.setup(name, cc.SMALL_P, "float64")
    x, y = data["train_x"], data["train_y"]
    losses, params = cc.train(name, params0, masks, x, y)
    j_losses, j_params = jax_reference.train(name, params0, masks, x, y, cc.STEPS, cc.HP)
    tol = cc.TOLERANCES["float64"]
    assert cc.rel_err(losses, j_losses) <= tol["losses"]
    assert losses[-1] < losses[0]  # it did train
    errors = {k: cc.rel_err(params[k], j_params[k]) for k in params}
    assert max(errors.values()) <= tol["params"], cc.worst(errors)
    for k in params:  # pruned weights are exact zeros on both sides
        assert np.all(params[k][~masks[k]] == 0) and np.all(j_params[k][~masks[k]] == 0), k
