"""minigrok.interop: the reference code's names both ways, round trips, one-line errors;
with torch, real state dicts of modules laid out as the reference code's."""
import numpy as np
import pytest

import crosscheck as cc
from minigrok import interop
from minigrok.errors import MinigrokError
from minigrok.models import get_model
from minigrok.pruning.magnitude import magnitude_prune

MODELS = [m for m in interop.REFERENCE_NAMES if cc.available(m)]


def _params_and_masks(model, dtype="float64"):
    _, params, _, masks = cc.setup(model, cc.SMALL_P, dtype)
    return params, masks


def _same(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)


@pytest.mark.parametrize("style", ["reference", "prune"])
@pytest.mark.parametrize("model", MODELS)
def test_round_trip_with_masks(model, style, tmp_path):
    params, masks = _params_and_masks(model)
    pruned = {k: w * masks[k] for k, w in params.items()}
    path = str(tmp_path / "ref.npz")
    interop.save_reference_npz(path, pruned, masks, mask_style=style)
    names = set(np.load(path).files)
    if style == "prune":
        assert "inproj.W_orig" in names or "blocks.0.attn.W_Q_orig" in names
    back = interop.load_reference_npz(path)
    assert back["model"] == model
    assert _same(back["params"], pruned) and _same(back["masks"], masks)


@pytest.mark.parametrize("model", MODELS)
def test_round_trip_dense_and_names(model):
    params, _ = _params_and_masks(model, "float32")
    state = interop.to_reference(params, mask_style="none")
    assert set(state) == {ref for ref, _ in interop.REFERENCE_NAMES[model].values()}
    back = interop.from_reference(state)
    assert back["masks"] is None and _same(back["params"], params)
    full = interop.to_reference(params)  # the reference layout: all-ones weight_mask buffers
    assert all(np.all(full[buf] == 1) for _, buf in interop.REFERENCE_NAMES[model].values())
    assert (interop.CAUSAL_MASK in full) == (model == "transformer")
    back = interop.from_reference(full)
    assert _same(back["params"], params) and all(m.all() for m in back["masks"].values())


def test_mlp_names_are_the_reference_codes():
    params, _ = _params_and_masks("mlp")
    state = interop.to_reference(params)
    assert sorted(state) == ["embed.W_E", "embed.weight_mask", "inproj.W", "inproj.weight_mask",
                             "outproj.W", "outproj.weight_mask", "unembed.W_U", "unembed.weight_mask"]
    assert state["inproj.W"].shape == params["W_in"].shape  # same (out, in) layout, no transpose


def test_unpruned_weights_behind_a_mask_load_as_zeros():
    """The reference code keeps W and multiplies by weight_mask in forward: minigrok stores
    the effective weight, so masked entries come back as exact zeros."""
    params, masks = _params_and_masks("mlp")
    state = interop.to_reference(params, mask_style="none")
    state["inproj.weight_mask"] = masks["W_in"].astype(np.float32)
    back = interop.from_reference(state)
    assert np.array_equal(back["params"]["W_in"], params["W_in"] * masks["W_in"])
    assert back["masks"]["W_E"].all()  # no buffer for W_E: an all-ones mask


def _state(model="mlp"):
    return interop.to_reference(_params_and_masks(model)[0])


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update({"mlps.0.W": np.ones((48, 48))}), "no minigrok mlp counterpart.*mlps.0.W"),
    (lambda s: s.pop("outproj.W"), "lacks 'outproj.W'"),
    (lambda s: s.update({"inproj.W": np.ones((16, 65)), "inproj.weight_mask": np.ones((16, 65))}),
     "shape mismatch.*'inproj.W' has shape \\(16, 65\\), but 'embed.W_E' gives d_emb = 64"),
    (lambda s: s.update({"unembed.W_U": np.ones((64, 24)), "unembed.weight_mask": np.ones((64, 24))}),
     "shape mismatch.*'unembed.W_U'.*p = 23"),
    (lambda s: s.update({"inproj.weight_mask": np.ones((16, 3))}), "mask 'inproj.weight_mask' has shape"),
    (lambda s: s.update({"inproj.weight_mask": np.full((16, 64), 0.5)}), "other than 0 and 1"),
    (lambda s: s.update({"inproj.W_orig": s["inproj.W"]}), "both 'inproj.W' and 'inproj.W_orig'"),
    (lambda s: s.update({"embed.W_E": s["embed.W_E"].astype(np.int64)}), "expected a float array"),
    (lambda s: [s.pop(k) for k in list(s) if k != "embed.W_E"], "cannot tell the model"),
])
def test_load_errors_are_one_line(edit, message, tmp_path):
    state = _state()
    edit(state)
    path = str(tmp_path / "bad.npz")
    np.savez(path, **state)
    with pytest.raises(MinigrokError, match=message) as err:
        interop.load_reference_npz(path)
    assert "\n" not in str(err.value)


def test_export_errors_and_missing_file(tmp_path):
    params, masks = _params_and_masks("mlp")
    with pytest.raises(MinigrokError, match="cannot tell the model"):
        interop.to_reference({"W_E": params["W_E"]})
    with pytest.raises(MinigrokError, match="mask style 'prune' needs masks"):
        interop.to_reference(params, mask_style="prune")
    with pytest.raises(MinigrokError, match="unknown mask style"):
        interop.to_reference(params, mask_style="torch")
    with pytest.raises(MinigrokError, match="unknown model"):
        interop.to_reference(params, model="cnn")
    with pytest.raises(MinigrokError, match="shape mismatch.*W_out"):
        interop.to_reference({**params, "W_out": params["W_out"][:, :3]})
    with pytest.raises(MinigrokError, match="does not exist"):
        interop.load_reference_npz(str(tmp_path / "missing.npz"))
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(MinigrokError, match="not a valid .npz"):
        interop.load_reference_npz(str(tmp_path / "junk.npz"))


# ----------------------------------------------------------------------------------------
# with torch: state dicts of modules laid out as the reference code's

@pytest.mark.parametrize("model", MODELS)
def test_torch_state_dicts_both_ways(model):
    torch = pytest.importorskip("torch")
    from torch.nn.utils import prune
    from torch_models import REFERENCE_MODULES, state_dict_arrays
    params, _ = _params_and_masks(model)
    data = cc.modular_dataset("add", cc.SMALL_P, 0.4, "sym", 0)
    x = data["train_x"]

    # a reference-layout module with a magnitude mask in its weight_mask buffers
    module = REFERENCE_MODULES[model](params)
    masks = magnitude_prune(params, density=0.4)
    exported = interop.to_reference(params, masks)
    with torch.no_grad():
        for name, value in exported.items():
            module.state_dict()[name].copy_(torch.tensor(value))
    loaded = interop.from_reference(state_dict_arrays(module))
    assert _same(loaded["masks"], masks)
    logits, _ = get_model(model).forward(loaded["params"], x)
    assert cc.rel_err(logits, module(torch.as_tensor(x)).detach().numpy()) <= 1e-12

    # minigrok -> strict load_state_dict into a fresh reference-layout module
    fresh = REFERENCE_MODULES[model](params)
    fresh.load_state_dict({k: torch.tensor(v) for k, v in exported.items()}, strict=True)
    assert cc.rel_err(logits, fresh(torch.as_tensor(x)).detach().numpy()) <= 1e-12

    # torch.nn.utils.prune on top of a weight_mask buffer: embed.W_E_orig, embed.W_E_mask
    # and embed.weight_mask all present; the forward multiplies both masks
    module = REFERENCE_MODULES[model](params)
    rng = np.random.default_rng(0)
    buffer_mask = rng.random(params["W_E"].shape) < 0.7
    prune_mask = rng.random(params["W_E"].shape) < 0.7
    with torch.no_grad():
        module.embed.weight_mask.copy_(torch.tensor(buffer_mask))
    prune.custom_from_mask(module.embed, "W_E", torch.tensor(prune_mask))
    state = state_dict_arrays(module)
    assert {"embed.W_E_orig", "embed.W_E_mask", "embed.weight_mask"} <= set(state)
    loaded = interop.from_reference(state)
    assert np.array_equal(loaded["masks"]["W_E"], buffer_mask & prune_mask)
    logits, _ = get_model(model).forward(loaded["params"], x)
    assert cc.rel_err(logits, module(torch.as_tensor(x)).detach().numpy()) <= 1e-12
