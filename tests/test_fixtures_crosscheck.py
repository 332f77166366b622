"""minigrok against stored PyTorch numbers (tests/fixtures/*.npz), without torch.

The same comparisons as test_torch_crosscheck.py, read from files written by
tests/fixtures/make_fixtures.py (whose docstring lists what each file holds): logits,
loss and gradients at init, the loss at each of 200 masked AdamW steps and the weights
after them, and torch's magnitude masks. Error measure and tolerances: tests/crosscheck.py.
"""
import glob
import json
import os

import numpy as np
import pytest

import crosscheck as cc
from minigrok.pruning.magnitude import magnitude_prune

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
FILES = sorted(glob.glob(os.path.join(FIXTURES, "*.npz")))


def load(path):
    """(meta, {key: array}) of one fixture file."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(str(arrays.pop("meta"))), arrays


def group(arrays, prefix):
    """{W: array} of the keys '<prefix>/<W>'."""
    return {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}


@pytest.fixture(params=FILES, ids=[os.path.basename(f)[:-4] for f in FILES])
def fixture(request):
    meta, arrays = load(request.param)
    assert cc.available(meta["model"]), f"minigrok has no {meta['model']!r} model"
    return meta, arrays


def test_the_fixtures_are_there_and_small():
    names = {os.path.basename(f) for f in FILES}
    assert {"mlp_p23_float64.npz", "mlp_p23_float32.npz"} <= names, "run make_fixtures.py"
    assert sum(os.path.getsize(f) for f in FILES) < 1_000_000


@pytest.mark.parametrize("form", cc.FORMS)
def test_logits_loss_grads(fixture, form):
    meta, a = fixture
    params = group(a, "init")
    logits, loss, grads = cc.gradients(meta["model"], params, a["train_x"], a["train_y"], form)
    tol = cc.TOLERANCES[meta["dtype"]]
    assert logits.dtype == np.dtype(meta["dtype"])
    assert cc.rel_err(logits, a["logits"]) <= tol["logits"]
    assert cc.rel_err(loss, a["loss"]) <= tol["loss"]
    expected = group(a, "grad")
    assert set(grads) == set(expected)
    errors = {k: cc.rel_err(grads[k], expected[k]) for k in grads}
    assert max(errors.values()) <= tol["grads"], cc.worst(errors)


def test_masked_adamw_steps(fixture):
    meta, a = fixture
    masks = group(a, "mask")
    hp = {**meta["hp"], "betas": tuple(meta["hp"]["betas"])}
    losses, params = cc.train(meta["model"], group(a, "init"), masks, a["train_x"], a["train_y"],
                              steps=meta["steps"], hp=hp)
    tol = cc.TOLERANCES[meta["dtype"]]
    assert cc.rel_err(losses, a["losses"]) <= tol["losses"]
    expected = group(a, "after")
    errors = {k: cc.rel_err(params[k], expected[k]) for k in params}
    assert max(errors.values()) <= tol["params"], cc.worst(errors)
    assert all(np.all(params[k][~masks[k]] == 0) for k in params)


def test_magnitude_masks(fixture):
    meta, a = fixture
    after = group(a, "after")
    assert all(np.array_equal(m, magnitude_prune(group(a, "init"), density=meta["density"])[k])
               for k, m in group(a, "mask").items())
    for scope in ("global", "layer"):
        ours = magnitude_prune(after, density=meta["density"], scope=scope)
        for k, m in group(a, f"prune/{scope}").items():
            assert np.array_equal(ours[k], m), (scope, k)
