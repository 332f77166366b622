"""Every pruning method of minigrok/pruning against a direct reference on a tiny network
(float64): SNIP and GraSP against finite differences, SynFlow against a hand computation
and its conservation law, exact mask counts, IMP levels, norm control, non-grokking masks
from a real run's checkpoints, and edge-popup's straight-through gradient."""
import importlib

import numpy as np
import pytest
from gradcheck import assert_close, numerical_grad

from minigrok import io
from minigrok.errors import MinigrokError
from minigrok.losses import cross_entropy
from minigrok.masks import apply, count_kept, density, ones_like
from minigrok.models import get_model, model_config
from minigrok.pruning import (edge_popup_gradients, grasp, grasp_scores,
                              hessian_vector_product, imp_densities, imp_level_mask, init_scores,
                              loss_gradients, magnitude_prune, non_grokking_masks,
                              norm_matched_init, norm_ratio, random_like, random_mask, snip,
                              snip_scores, supermask, synflow, synflow_reference_scores,
                              synflow_scores, top_k_mask, weight_norm)
from minigrok.pruning.synflow import flow
from minigrok.optim import DEFAULTS as ADAMW_DEFAULTS
from minigrok.pruning.edge_popup import (join_weights_scores, split_weights_scores,
                                         weights_and_scores_model)
from minigrok.recipes.edge_popup import train_edge_popup
from minigrok.runs import train_run
from minigrok import store

# the function synflow shadows its module as an attribute of minigrok.pruning
synflow_module = importlib.import_module("minigrok.pruning.synflow")

TINY = {"mlp": {"d_emb": 6, "d_hidden": 4},
        "transformer": {"d_model": 4, "d_head": 2, "n_heads": 2, "d_mlp": 4}}


def tiny(name, p=5, seed=0, **widths):
    """(model, float64 params, data) for op = add on all p^2 pairs, half of them train."""
    model = get_model(name)
    params = model.init(model_config(name, p, "float64", **{**TINY[name], **widths}),
                        np.random.default_rng(seed))
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    x = np.stack([a.ravel(), b.ravel()], axis=1)  # (p^2, 2)
    y = (x[:, 0] + x[:, 1]) % p
    order = np.random.default_rng(seed + 1).permutation(len(x))
    tr, te = order[: len(x) // 2], order[len(x) // 2:]
    return model, params, {"train_x": x[tr], "train_y": y[tr], "test_x": x[te], "test_y": y[te]}


def loss_of(model, params, x, y, temperature=1.0):
    logits, _ = model.forward(params, x)
    return float(cross_entropy(logits / temperature, y)[0])


def flat(tree):
    return np.concatenate([v.ravel() for v in tree.values()])


# ----------------------------------------------------------------------------------------
# random masks

def test_random_like_keeps_every_layer_count():
    _, params, _ = tiny("mlp")
    given = magnitude_prune(params, rate=0.6, scope="global")  # uneven per-layer densities
    a = random_like(given, np.random.default_rng(0))
    for k in given:
        assert a[k].dtype == bool and int(a[k].sum()) == int(given[k].sum()), k
    b = random_like(given, np.random.default_rng(0))
    c = random_like(given, np.random.default_rng(1))
    assert all(np.array_equal(a[k], b[k]) for k in a)  # the seed fixes the mask
    assert any(not np.array_equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_random_mask_exact_density(scope):
    _, params, _ = tiny("transformer")
    masks = random_mask(params, np.random.default_rng(3), rate=0.7, scope=scope)
    n = sum(w.size for w in params.values())
    if scope == "global":
        assert count_kept(masks) == round(0.3 * n)
    else:
        assert all(int(masks[k].sum()) == round(0.3 * w.size) for k, w in params.items())


# ----------------------------------------------------------------------------------------
# SNIP: |dL/dW * W| with dL/dW by finite differences of the loss

@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_snip_scores_match_finite_differences(name):
    model, params, data = tiny(name)
    x, y = data["train_x"], data["train_y"]
    scores = snip_scores(model, params, x, y)
    for k, w in params.items():
        numeric = numerical_grad(lambda: loss_of(model, params, x, y), w)
        assert_close(scores[k], np.abs(numeric * w), rtol=1e-6, atol=1e-9)
    masks = snip(model, params, x, y, density=0.3)
    assert all(np.array_equal(masks[k], m) for k, m in top_k_mask(scores, 0.3).items())


# ----------------------------------------------------------------------------------------
# GraSP: the central-difference H g against an explicit finite-difference Hessian

@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_grasp_hessian_vector_product_matches_explicit_hessian(name):
    model, params, data = tiny(name, p=3, d_emb=3, d_hidden=2, d_model=4)
    x, y, T = data["train_x"], data["train_y"], 200.0
    keys, shapes = list(params), [params[k].shape for k in params]
    sizes = np.cumsum([0] + [int(np.prod(s)) for s in shapes])

    def grad_at(vec):
        tree = {k: vec[sizes[i]:sizes[i + 1]].reshape(shapes[i]) for i, k in enumerate(keys)}
        return flat(loss_gradients(model, tree, x, y, T)[1])

    w0, h = flat(params), 1e-5
    H = np.zeros((w0.size, w0.size))
    for i in range(w0.size):  # column i: (g(w + h e_i) - g(w - h e_i)) / 2h
        e = np.zeros_like(w0)
        e[i] = h
        H[:, i] = (grad_at(w0 + e) - grad_at(w0 - e)) / (2 * h)
    g = grad_at(w0)
    _, g_tree = loss_gradients(model, params, x, y, T)
    Hg = flat(hessian_vector_product(model, params, x, y, g_tree, T))
    assert np.abs(Hg - H @ g).max() <= 1e-6 * np.abs(H @ g).max()
    big_step = flat(hessian_vector_product(model, params, x, y, g_tree, T, rel_step=0.1))
    assert np.abs(big_step - H @ g).max() <= 1e-6 * np.abs(H @ g).max()  # the step shrank
    S = flat(grasp_scores(model, params, x, y, temperature=T))
    assert np.abs(S - (-w0 * (H @ g))).max() <= 1e-6 * np.abs(S).max()


def test_grasp_keeps_the_lowest_score():
    model, params, data = tiny("mlp")
    x, y = data["train_x"], data["train_y"]
    S = grasp_scores(model, params, x, y)
    masks = grasp(model, params, x, y, rate=0.6)
    kept = np.concatenate([S[k][masks[k]] for k in S])
    removed = np.concatenate([S[k][~masks[k]] for k in S])
    assert kept.max() <= removed.min()  # Wang et al. remove the largest -W * Hg
    assert count_kept(masks) == round(0.4 * sum(w.size for w in params.values()))


# ----------------------------------------------------------------------------------------
# SynFlow

def test_synflow_by_hand_on_a_one_unit_mlp():
    """p = 2, d_emb = d_hidden = 1: R = (|2| + |1|) |-0.5| |3| (|1| + |-2|) * 2 = 27, and
    each score |dR/dW * W| is computed by hand (every layer's scores add up to R)."""
    params = {"W_E": np.array([[1.0, -2.0]]), "W_in": np.array([[3.0]]),
              "W_out": np.array([[-0.5]]), "W_U": np.array([[2.0, 1.0]])}
    model = get_model("mlp")
    R, _ = flow(model, {k: np.abs(w) for k, w in params.items()})
    assert R == pytest.approx(27.0)
    scores = synflow_scores(model, params)
    expected = {"W_E": [[9.0, 18.0]], "W_in": [[27.0]], "W_out": [[27.0]], "W_U": [[18.0, 9.0]]}
    for k, v in expected.items():
        np.testing.assert_allclose(scores[k], v, rtol=1e-12)


def test_synflow_conserves_flow_per_layer_in_the_mlp():
    """For a layered linear net R is degree-1 homogeneous in each layer: sum of scores = R."""
    model, params, _ = tiny("mlp", p=7, d_emb=9, d_hidden=5)
    R, _ = flow(model, {k: np.abs(w) for k, w in params.items()})
    for k, s in synflow_scores(model, params).items():
        assert s.sum() == pytest.approx(R, rel=1e-12), k


@pytest.mark.parametrize("attention", ["linear", "softmax"])
@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_synflow_gradient_matches_finite_differences(name, attention):
    model, params, _ = tiny(name)
    P = {k: np.abs(w) for k, w in params.items()}
    R, grads = flow(model, P, attention)
    for k, w in P.items():
        numeric = numerical_grad(lambda: float(flow(model, P, attention)[0]), w, h=1e-5)
        assert_close(grads[k], numeric, rtol=1e-7, atol=1e-9 * abs(R))
    if name == "transformer" and attention == "softmax":  # the documented degenerate case
        assert np.all(grads["W_Q"] == 0) and np.all(grads["W_K"] == 0)
    elif name == "transformer":
        assert np.all(grads["W_Q"] > 0) and np.all(grads["W_K"] > 0)


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_synflow_rounds_follow_the_exponential_schedule(name, monkeypatch):
    model, params, _ = tiny(name)
    seen = []

    def recording_top_k(scores, d, scope="global"):
        masks = top_k_mask(scores, d, scope)
        seen.append((d, masks, scores))
        return masks

    monkeypatch.setattr(synflow_module, "top_k_mask", recording_top_k)
    final = synflow(model, params, density=0.2, rounds=5)
    assert [d for d, _, _ in seen] == pytest.approx([0.2 ** (k / 5) for k in range(1, 6)])
    n = sum(w.size for w in params.values())
    assert count_kept(final) == round(0.2 * n)
    for (_, before, _), (_, after, scores) in zip(seen, seen[1:]):
        assert all(not np.any(after[k] & ~before[k]) for k in after)  # never revived
        assert all(np.all(scores[k][~before[k]] == -1) for k in scores)
    one = synflow(model, params, density=0.2, rounds=1)  # one round = top-k of the dense flow
    assert all(np.array_equal(one[k], m) for k, m in top_k_mask(seen[0][2], 0.2).items())


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_synflow_reference_variant_is_the_data_gradient(name):
    model, params, data = tiny(name)
    x = data["train_x"]
    P = {k: np.abs(w) for k, w in params.items()}
    scores = synflow_reference_scores(model, params, x)
    for k, w in P.items():
        numeric = numerical_grad(lambda: float(model.forward(P, x)[0].sum()), w)
        assert_close(scores[k], np.abs(numeric * w), rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------------------
# iterative magnitude pruning

def test_imp_densities():
    assert imp_densities(0.64) == pytest.approx([0.8, 0.64])
    assert imp_densities(0.5) == pytest.approx([0.8, 0.64, 0.512, 0.5])
    assert imp_densities(0.9) == pytest.approx([0.9])


def test_imp_level_masks_are_nested_and_exact():
    """Each level keeps exactly round(d_k * n) weights, all among the previous level's,
    ranked by the magnitude of that level's trained weights."""
    model, params0, _ = tiny("mlp", p=7)
    rng = np.random.default_rng(3)
    n = sum(w.size for w in params0.values())
    previous, masks = ones_like(params0), None
    for level, d in enumerate(imp_densities(0.5), start=1):
        trained = {k: rng.standard_normal(w.shape) * previous[k] for k, w in params0.items()}
        masks = imp_level_mask(trained, d, masks)
        assert count_kept(masks) == round(d * n)
        assert all(not np.any(masks[k] & ~previous[k]) for k in masks)  # nested
        previous = masks
    assert count_kept(masks) == round(0.5 * n)


# ----------------------------------------------------------------------------------------
# norm-controlled dense baseline

@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_norm_matched_init_has_the_ticket_norm(norm):
    _, params, _ = tiny("transformer")
    masks = random_mask(params, np.random.default_rng(0), density=0.4)
    scaled = norm_matched_init(params, masks, norm)
    ticket = apply(params, masks)
    assert weight_norm(scaled, norm) == pytest.approx(weight_norm(ticket, norm), rel=1e-12)
    r = norm_ratio(params, masks, norm)
    assert all(np.allclose(scaled[k], r * params[k], rtol=1e-15) for k in params)
    assert 0 < r < 1 and all(np.all(scaled[k] != 0) for k in params)  # dense
    power = 1 if norm == "l1" else 2
    kept = sum((np.abs(w[masks[k]]) ** power).sum() for k, w in params.items())
    total = sum((np.abs(w) ** power).sum() for w in params.values())
    by_hand = (kept / total) ** (1 / power)
    assert r == pytest.approx(by_hand, rel=1e-12)


def test_norm_ratio_of_the_reference_code():
    """matrix_sum: sum_k |W_k m_k|_p / sum_k |W_k|_p, written out with NumPy's norms; for L1
    the same number as the global ratio, for L2 another one; the init is scaled by it."""
    _, params, _ = tiny("transformer")
    masks = random_mask(params, np.random.default_rng(0), density=0.4)
    for norm, order in (("l1", 1), ("l2", 2)):
        by_hand = (sum(np.linalg.norm((w * masks[k]).ravel(), order) for k, w in params.items())
                   / sum(np.linalg.norm(w.ravel(), order) for w in params.values()))
        r = norm_ratio(params, masks, norm, "matrix_sum")
        assert r == pytest.approx(by_hand, rel=1e-12)
        scaled = norm_matched_init(params, masks, norm, "matrix_sum")
        assert all(np.allclose(scaled[k], r * params[k], rtol=1e-15) for k in params)
    assert norm_ratio(params, masks, "l1", "matrix_sum") == pytest.approx(norm_ratio(params, masks, "l1"), rel=1e-12)
    assert abs(norm_ratio(params, masks, "l2", "matrix_sum") / norm_ratio(params, masks, "l2") - 1) > 1e-3
    with pytest.raises(MinigrokError, match="norm variant"):
        norm_ratio(params, masks, "l2", "per_layer")


# ----------------------------------------------------------------------------------------
# non-grokking tickets from a real run's checkpoints

def test_non_grokking_masks_from_checkpoints(tmp_path):
    out = str(tmp_path / "dense")
    run = train_run({"p": 7, "epochs": 15, "checkpoint_every": 5, "eval_every": 5}, out, quiet=True)
    weights = {e: store.load_commit(out, e, run["key"])["params"] for e in (0, 5, 10, 15)}
    masks = non_grokking_masks(weights, rate=0.6)
    assert set(masks) == {0, 5, 10, 15}
    for epoch in (5, 15):
        params = io.load_npz(f"{out}/checkpoints/epoch_{epoch}.npz")["params"]
        expected = magnitude_prune(params, density=0.4)
        assert all(np.array_equal(masks[epoch][k], expected[k]) for k in expected)
    init = magnitude_prune(io.load_npz(f"{out}/init.npz")["params"], density=0.4)
    assert all(np.array_equal(masks[0][k], init[k]) for k in init)
    assert abs(density(masks[10]) - 0.4) < 1e-4
    assert any(not np.array_equal(masks[5][k], masks[15][k]) for k in init)
    with pytest.raises(MinigrokError, match=r"epoch_7.npz' does not exist"):
        store.load_commit(out, 7, run["key"])


# ----------------------------------------------------------------------------------------
# edge-popup

@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_edge_popup_straight_through_gradient(name):
    """dL/ds = sign(s) * dL/dM at the binary mask M, with dL/dM by finite differences of
    L(W * M) for a real-valued M: the straight-through rule, checked entry by entry. (At a
    sparse binary mask some ReLU inputs can be exactly 0, where finite differences see a
    kink; the density and seed are chosen so that none is.)"""
    model, weights, data = tiny(name)
    x, y = data["train_x"], data["train_y"]
    scores = init_scores(weights, np.random.default_rng(5))
    assert any(np.any(s < 0) for s in scores.values())  # the sign factor is exercised
    masks = supermask(scores, 0.75)
    _, _, dscores = edge_popup_gradients(model, weights, scores, masks, x, y)
    M = {k: m.astype(np.float64) for k, m in masks.items()}
    if name == "mlp":  # finite differences need every ReLU input away from its kink at 0
        e = apply(weights, M)["W_E"].T[x].sum(axis=1)  # (B, d_emb)
        assert np.abs(e @ apply(weights, M)["W_in"].T).min() > 1e-3
    for k in weights:
        numeric = numerical_grad(lambda: loss_of(model, apply(weights, M), x, y), M[k])
        assert_close(dscores[k], np.sign(scores[k]) * numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_weights_and_scores_gradients(name):
    """The reference's --weight_learning --double_reg model: dL/dW = dL/dW_eff * m, checked
    by finite differences of L(W * m) in W (masked entries get 0), and dL/ds = sign(s) *
    dL/dW_eff * W, the same straight-through gradient as with frozen weights."""
    model, weights, data = tiny(name)
    x, y = data["train_x"], data["train_y"]
    scores = init_scores(weights, np.random.default_rng(5))
    masks = supermask(scores, 0.75)
    ws_model = weights_and_scores_model(model, 0.75)
    params = join_weights_scores(weights, scores)
    logits, cache = ws_model.forward(params, x)
    assert_close(logits, model.forward(apply(weights, masks), x)[0], rtol=1e-12, atol=1e-14)
    dweights, dscores = split_weights_scores(ws_model.backward(cross_entropy(logits, y)[1], cache))
    _, _, dscores_frozen = edge_popup_gradients(model, weights, scores, masks, x, y)
    for k, w in weights.items():
        W = w.copy()
        numeric = numerical_grad(lambda: loss_of(model, apply({**weights, k: W}, masks), x, y), W)
        assert_close(dweights[k], numeric, rtol=1e-6, atol=1e-9)
        assert not np.any(dweights[k][~masks[k]])
        assert_close(dscores[k], dscores_frozen[k], rtol=0, atol=0)


def test_edge_popup_with_trained_weights_trains_both():
    model, weights, data = tiny("mlp", p=7)
    given = {k: w.copy() for k, w in weights.items()}
    hp = {**ADAMW_DEFAULTS, "epochs": 30, "eval_every": 5, "lr": 1e-2, "weight_decay": 1.0}
    start = init_scores(weights, np.random.default_rng(0))
    r = train_edge_popup(model, weights, data, hp, 0.5, start, train_weights=True)
    assert all(np.array_equal(weights[k], given[k]) for k in weights)  # the caller's arrays kept
    assert all(not np.allclose(r["weights"][k], given[k]) for k in weights)
    assert any(not np.allclose(r["scores"][k], start[k]) for k in start)
    assert r["metrics"]["train_loss"][-1] < r["metrics"]["train_loss"][0]
    assert all(int(r["masks"][k].sum()) == round(0.5 * w.size) for k, w in weights.items())


def test_init_scores():
    _, weights, _ = tiny("mlp")
    s = init_scores(weights, np.random.default_rng(0))
    assert np.abs(s["W_U"]).max() <= 1 / np.sqrt(weights["W_U"].shape[0])  # fan_in = d_emb
    assert np.abs(s["W_in"]).max() <= 1 / np.sqrt(weights["W_in"].shape[1])
    m = init_scores(weights, None, init="magnitude")
    assert all(np.array_equal(m[k], np.abs(w)) for k, w in weights.items())
    with pytest.raises(MinigrokError, match="score init"):
        init_scores(weights, None, init="zeros")


def test_edge_popup_trains_scores_and_never_the_weights():
    model, weights, data = tiny("mlp", p=7)
    frozen = {k: w.copy() for k, w in weights.items()}
    hp = {**ADAMW_DEFAULTS, "epochs": 30, "eval_every": 5, "lr": 1e-2}
    runs = {wd: train_edge_popup(model, weights, data, {**hp, "weight_decay": wd}, 0.5,
                                 init_scores(weights, np.random.default_rng(0)))
            for wd in (0.0, 1.0)}
    for result in runs.values():
        assert all(np.array_equal(weights[k], frozen[k]) for k in weights)
        assert result["metrics"]["epoch"] == list(range(0, 31, 5))
        assert all(int(result["masks"][k].sum()) == round(0.5 * w.size) for k, w in weights.items())
        assert result["metrics"]["train_loss"][-1] < result["metrics"]["train_loss"][0]
    start = init_scores(weights, np.random.default_rng(0))
    assert any(not np.allclose(runs[1.0]["scores"][k], start[k]) for k in start)
    assert any(not np.array_equal(runs[0.0]["scores"][k], runs[1.0]["scores"][k]) for k in start)
