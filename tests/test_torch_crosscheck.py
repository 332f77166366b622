"""minigrok against the same computation in PyTorch autograd (skipped without torch).

From minigrok's own split and initial parameters, a plain torch transcription of each
model (tests/torch_models.py) gives logits, the float64 cross-entropy and every gradient,
and torch.optim.AdamW with a torch.nn.utils.prune mask gives the parameters after 200
full-batch steps. Error measure and tolerances: tests/crosscheck.py.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import crosscheck as cc  # noqa: E402
from torch_models import (torch_gradients, torch_magnitude_masks, torch_topk_masks,  # noqa: E402
                          torch_train)

from minigrok.pruning.magnitude import magnitude_prune  # noqa: E402

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


@pytest.fixture(autouse=True)
def _deterministic_torch():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one summation order per run; CI shares its cores anyway
    yield
    torch.set_num_threads(threads)


def _require(name):
    assert cc.available(name), f"minigrok has no {name!r} model"


def _check_gradients(name, p, dtype, small, form):
    _, params, data, _ = cc.setup(name, p, dtype, small=small)
    x, y = data["train_x"], data["train_y"]
    logits, loss, grads = cc.gradients(name, params, x, y, form)
    t_logits, t_loss, t_grads = torch_gradients(name, params, x, y, TORCH_DTYPES[dtype])
    tol = cc.TOLERANCES[dtype]
    assert logits.dtype == np.dtype(dtype) and all(g.dtype == np.dtype(dtype) for g in grads.values())
    assert set(grads) == set(t_grads)
    assert cc.rel_err(logits, t_logits) <= tol["logits"]
    assert cc.rel_err(loss, t_loss) <= tol["loss"]
    errors = {k: cc.rel_err(grads[k], t_grads[k]) for k in grads}
    assert max(errors.values()) <= tol["grads"], cc.worst(errors)


@pytest.mark.parametrize("form", cc.FORMS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", cc.CROSSCHECKED)
def test_logits_loss_grads_small(name, dtype, form):
    """form 'layers': model.forward/backward; 'train': what train_step runs, if other."""
    _require(name)
    _check_gradients(name, cc.SMALL_P, dtype, True, form)


@pytest.mark.parametrize("form", cc.FORMS)
@pytest.mark.parametrize("name", cc.CROSSCHECKED)
def test_logits_loss_grads_paper_size(name, form):
    """p = 67 at the model's default widths (d_emb 500, d_hidden 48 for the MLP)."""
    _require(name)
    _check_gradients(name, cc.PAPER_P, "float64", False, form)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", cc.CROSSCHECKED)
def test_200_masked_adamw_steps(name, dtype):
    """minigrok.train.train_step (masked AdamW, wd 1) vs torch.optim.AdamW on a model
    pruned with torch.nn.utils.prune.custom_from_mask, from the same theta_0 and mask."""
    _require(name)
    _, params0, data, masks = cc.setup(name, cc.SMALL_P, dtype)
    x, y = data["train_x"], data["train_y"]
    losses, params = cc.train(name, params0, masks, x, y)
    t_losses, t_params = torch_train(name, params0, masks, x, y, cc.STEPS, cc.HP, TORCH_DTYPES[dtype])
    tol = cc.TOLERANCES[dtype]
    assert cc.rel_err(losses, t_losses) <= tol["losses"]
    assert losses[-1] < losses[0]  # it did train
    errors = {k: cc.rel_err(params[k], t_params[k]) for k in params}
    assert max(errors.values()) <= tol["params"], cc.worst(errors)
    for k in params:  # pruned weights are exact zeros on both sides
        assert np.all(params[k][~masks[k]] == 0) and np.all(t_params[k][~masks[k]] == 0)


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("density", [0.4, 0.1, 0.75])
def test_magnitude_masks_match_torch(scope, density):
    """On trained float32 weights (where float32 ties are possible) and on float64 init."""
    _, params0, data, masks = cc.setup("mlp", cc.SMALL_P, "float32")
    _, trained = cc.train("mlp", params0, masks, data["train_x"], data["train_y"], steps=20)
    for params in (trained, cc.setup("mlp", cc.SMALL_P, "float64")[1]):
        ours = magnitude_prune(params, density=density, scope=scope)
        theirs = torch_magnitude_masks(params, density, scope)
        for k in params:
            assert np.array_equal(ours[k], theirs[k]), k


def test_magnitude_masks_ties_and_topk():
    """Many equal |w| (weights rounded to 0.1, signs mixed): the stable tie-break agrees;
    on distinct weights torch.topk picks the same set."""
    params = cc.setup("mlp", cc.SMALL_P, "float64")[1]
    rounded = {k: np.round(w * 5, 0) / 5 for k, w in params.items()}
    for scope in ("global", "layer"):
        ours = magnitude_prune(rounded, density=0.4, scope=scope)
        theirs = torch_magnitude_masks(rounded, 0.4, scope)
        assert all(np.array_equal(ours[k], theirs[k]) for k in params), scope
    ours = magnitude_prune(params, density=0.4)
    topk = torch_topk_masks(params, 0.4)
    assert all(np.array_equal(ours[k], topk[k]) for k in params)


def test_transformer_two_heads():
    """Several heads: the (H, d_head, d) / (d, H*d_head) layouts agree with torch's."""
    _require("transformer")
    from minigrok.models import get_model, model_config
    data = cc.modular_dataset("add", cc.SMALL_P, 0.4, "sym", 1)
    cfg = model_config("transformer", cc.SMALL_P, "float64", d_model=24, d_head=8, d_mlp=16, n_heads=2)
    params = get_model("transformer").init(cfg, np.random.default_rng(1))
    x, y = data["train_x"], data["train_y"]
    logits, loss, grads = cc.gradients("transformer", params, x, y)
    t_logits, t_loss, t_grads = torch_gradients("transformer", params, x, y)
    assert cc.rel_err(logits, t_logits) <= 1e-10 and cc.rel_err(loss, t_loss) <= 1e-10
    errors = {k: cc.rel_err(grads[k], t_grads[k]) for k in grads}
    assert max(errors.values()) <= 1e-10, cc.worst(errors)
