"""The backend seam, guarded on the CPU: models, loss, AdamW, magnitude pruning and a few
epochs of training run on strict stand-in arrays (tests/strict_xp.py) that refuse any
implicit conversion to NumPy, as CuPy's do, and give the NumPy results. A stray `np.`
call on a backend array inside minigrok fails here instead of on a user's GPU."""
import importlib.util

import numpy as np
import pytest
import strict_xp

from minigrok.backend import array_module, to_numpy
from minigrok.cli import main
from minigrok.data import modular_dataset
from minigrok.losses import accuracy, cross_entropy, mse
from minigrok.models import get_model, model_config
from minigrok.optim import adamw_init, adamw_step
from minigrok.pruning.magnitude import magnitude_prune
from minigrok.train import model_functions, stack, train_loop

SMALL = {"mlp": {"d_emb": 24, "d_hidden": 8},
         "transformer": {"d_model": 12, "d_head": 6, "d_mlp": 10, "n_heads": 2}}
HP = {"lr": 1e-2, "weight_decay": 1.0, "betas": (0.9, 0.98), "eps": 1e-8, "epochs": 8,
      "eval_every": 2, "stop_after": None, "stop_threshold": 0.99}


def dev(arrays):
    """A dict of NumPy arrays as strict arrays (the host -> device copy)."""
    return {k: strict_xp.asarray(v) for k, v in arrays.items()}


def assert_strict_close(strict, ref, rtol=1e-12):
    assert isinstance(strict, strict_xp.StrictArray), type(strict)
    assert np.allclose(strict.get(), ref, rtol=rtol, atol=1e-14)


def setup(name, p=11, seed=0):
    model = get_model(name)
    params = model.init(model_config(name, p, "float64", **SMALL[name]), np.random.default_rng(seed))
    data = modular_dataset("add", p, 0.5, "all", seed)
    return model, params, data


def test_the_stand_in_is_strict():
    a = strict_xp.asarray(np.ones(3))
    assert array_module(a) is strict_xp
    for convert in (lambda: np.asarray(a), lambda: np.exp(a), lambda: np.concatenate([a]),
                    lambda: a + np.ones(3), lambda: np.ones(3) * a, lambda: a[np.array([0])],
                    lambda: strict_xp.stack([a, np.ones(3)]), lambda: strict_xp.polyfit):
        with pytest.raises((TypeError, AttributeError)):
            convert()
    assert float((a * np.float64(2.0)).sum()) == 6.0 and to_numpy(a).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("form", ["layers", "train"])
@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_models_and_loss(name, form):
    model, params, data = setup(name)
    forward, backward = (model.forward, model.backward) if form == "layers" else model_functions(model)
    x, y = data["train_x"], data["train_y"]
    logits, cache = forward(params, x)
    loss, dlogits = cross_entropy(logits, y)
    grads = backward(dlogits, cache)
    s_logits, s_cache = forward(dev(params), strict_xp.asarray(x))
    s_loss, s_dlogits = cross_entropy(s_logits, strict_xp.asarray(y))
    s_grads = backward(s_dlogits, s_cache)
    assert_strict_close(s_logits, logits)
    assert_strict_close(s_loss, loss)
    assert_strict_close(accuracy(s_logits, strict_xp.asarray(y)), accuracy(logits, y))
    for k in grads:
        assert_strict_close(s_grads[k], grads[k], rtol=1e-10)


def test_mse_adamw_and_pruning():
    rng = np.random.default_rng(0)
    out, target = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    loss, dout = mse(out, target)
    s_loss, s_dout = mse(strict_xp.asarray(out), strict_xp.asarray(target))
    assert_strict_close(s_loss, loss)
    assert_strict_close(s_dout, dout)
    _, params, _ = setup("mlp")
    for scope in ("global", "layer"):
        masks = magnitude_prune(params, rate=0.6, scope=scope)
        s_masks = magnitude_prune(dev(params), rate=0.6, scope=scope)
        assert all(np.array_equal(s_masks[k].get(), masks[k]) for k in masks)
        again = magnitude_prune(dev(params), rate=0.8, scope=scope, masks=s_masks)
        assert all(not (again[k].get() & ~masks[k]).any() for k in masks)  # never revived
    grads = {k: rng.standard_normal(w.shape) for k, w in params.items()}
    ours, s_ours = {k: w.copy() for k, w in params.items()}, dev(params)
    state, s_state = adamw_init(ours), adamw_init(s_ours)
    for _ in range(3):
        adamw_step(ours, grads, state, masks=masks)
        adamw_step(s_ours, dev(grads), s_state, masks=s_masks)
    for k, w in ours.items():
        assert_strict_close(s_ours[k], w)


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_a_few_epochs_of_masked_training(name):
    model, params, data = setup(name)
    masks = magnitude_prune(params, rate=0.5)
    params = {k: w * masks[k] for k, w in params.items()}
    ref = train_loop(model, params, data, HP, masks, quiet=True)[0]
    strict = train_loop(model, dev(params), dev({k: data[k] for k in ("train_x", "train_y",
                                                                      "test_x", "test_y")}),
                        HP, dev(masks), quiet=True)[0]
    for k in ref["params"]:
        assert_strict_close(strict["params"][k], ref["params"][k], rtol=1e-9)
    for column, values in ref["metrics"].items():
        assert np.allclose(strict["metrics"][column], values, rtol=1e-10), column


def test_stacked_training():
    model, params, data = setup("mlp")
    _, params_1, data_1 = setup("mlp", seed=1)
    datas = [{k: d[k] for k in ("train_x", "train_y", "test_x", "test_y")} for d in (data, data_1)]
    ref = train_loop(model, stack([params, params_1]), stack(datas), HP, stacked=True, quiet=True)
    strict = train_loop(model, stack([dev(params), dev(params_1)]), stack([dev(d) for d in datas]), HP,
                        stacked=True, quiet=True)
    for r, s in zip(ref, strict):
        for column, values in r["metrics"].items():
            assert np.allclose(s["metrics"][column], values, rtol=1e-10), column
        assert all(np.allclose(to_numpy(s["params"][k]), r["params"][k], rtol=1e-9) for k in r["params"])


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_cupy_backend_without_cupy_is_one_line(tmp_path, capsys):
    code = main(["train", "--backend", "cupy", "--p", "11", "--epochs", "2", "--quiet",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("minigrok: error: ")
    assert "CuPy" in err and not (tmp_path / "run").exists()
