"""Magnitude pruning: exact counts, deterministic ties, global vs per-layer, rate checks."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigrok.errors import MinigrokError
from minigrok.masks import apply, density, density_per_layer, jaccard
from minigrok.pruning.magnitude import density_from, magnitude_prune


def _params(seed):
    rng = np.random.default_rng(seed)
    return {"A": rng.standard_normal((7, 5)), "B": rng.standard_normal((3, 11)) * 3}


@given(st.integers(0, 1000), st.floats(0.0, 0.99), st.sampled_from(["global", "layer"]))
def test_exact_counts(seed, rate, scope):
    params = _params(seed)
    sizes = [68] if scope == "global" else [w.size for w in params.values()]
    if any(round((1 - rate) * n) == 0 for n in sizes):  # keeps no weight: refused
        with pytest.raises(MinigrokError, match="keeps none of the"):
            magnitude_prune(params, rate=rate, scope=scope)
        return
    masks = magnitude_prune(params, rate=rate, scope=scope)
    if scope == "global":
        assert sum(int(m.sum()) for m in masks.values()) == round((1 - rate) * 68)
    else:
        for k, m in masks.items():
            assert int(m.sum()) == round((1 - rate) * params[k].size)


@given(st.integers(0, 1000), st.floats(0.05, 0.95))
def test_global_keeps_the_largest(seed, rate):
    params = _params(seed)
    masks = magnitude_prune(params, rate=rate, scope="global")
    kept = np.concatenate([np.abs(params[k])[masks[k]] for k in params])
    dropped = np.concatenate([np.abs(params[k])[~masks[k]] for k in params])
    if kept.size and dropped.size:
        assert kept.min() >= dropped.max()


def test_global_differs_from_layer_when_scales_differ():
    params = {"small": np.full((10,), 0.1) + np.arange(10) * 1e-3, "big": np.arange(1.0, 11.0)}
    g = magnitude_prune(params, rate=0.5, scope="global")
    l = magnitude_prune(params, rate=0.5, scope="layer")
    assert g["small"].sum() == 0 and g["big"].sum() == 10  # one threshold: the big layer wins
    assert l["small"].sum() == 5 and l["big"].sum() == 5
    assert list(l["small"]) == [False] * 5 + [True] * 5


def test_ties_go_to_the_earlier_weight():
    params = {"A": np.ones((2, 3)), "B": np.ones((4,))}
    masks = magnitude_prune(params, density=0.5, scope="global")  # keep 5 of 10 equal weights
    assert list(masks["A"].ravel()) == [True] * 5 + [False]  # row-major order, dict order
    assert list(masks["B"]) == [False] * 4
    masks2 = magnitude_prune(params, density=0.5, scope="global")
    assert all(np.array_equal(masks[k], masks2[k]) for k in masks)


def test_rate_and_density_vocabulary():
    assert density_from(rate=0.6) == pytest.approx(0.4)
    assert density_from(density=0.4) == 0.4
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(MinigrokError, match="rate"):
            density_from(rate=bad)
    with pytest.raises(MinigrokError, match="density"):
        density_from(density=0.0)
    with pytest.raises(MinigrokError, match="exactly one"):
        density_from(rate=0.5, density=0.5)


def test_apply_density_jaccard():
    params = _params(3)
    masks = magnitude_prune(params, rate=0.6)
    pruned = apply(params, masks)
    assert all(np.all(pruned[k][~masks[k]] == 0) for k in params)
    assert density(masks) == pytest.approx(round(0.4 * 68) / 68)
    assert set(density_per_layer(masks)) == {"A", "B"}
    assert jaccard(masks, masks) == 1.0
    inverse = {k: ~m for k, m in masks.items()}
    assert jaccard(masks, inverse) == 0.0


def test_pruning_an_existing_mask_never_revives_weights():
    params = _params(4)
    first = magnitude_prune(params, rate=0.5)
    second = magnitude_prune(apply(params, first), rate=0.7, masks=first)
    assert all(not np.any(second[k] & ~first[k]) for k in params)
