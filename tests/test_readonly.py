"""No public function writes into the arrays it is given: every entry point below gets
read-only arrays (flags.writeable = False), so a write raises at once, and every input is
compared with a copy afterwards. Only AdamW writes in place, by its contract: the
parameters and the state it is handed are the optimiser's own (train_loop hands it its
own copies; the test below checks that the loop's caller keeps its arrays)."""
import numpy as np
import pytest

from minigrok import losses, masks, train
from minigrok.analysis import fourier, graph, mask_dynamics, neurons, progress
from minigrok.models import get_model, model_config
from minigrok.optim import DEFAULTS as ADAMW_DEFAULTS
from minigrok.pruning import (edge_popup_gradients, grasp, imp_level_mask, init_scores,
                              magnitude_prune, non_grokking_masks, norm_matched_init, random_like,
                              random_mask, snip, supermask, synflow, synflow_reference_one_round)
from minigrok.pruning.edge_popup import join_weights_scores, weights_and_scores_model
from minigrok.runs import plan

TINY = {"mlp": {"d_emb": 6, "d_hidden": 5}, "transformer": {"d_model": 8, "d_head": 4, "n_heads": 2, "d_mlp": 6}}


def frozen(tree):
    """A read-only copy of an array, or of every array in a dict / list / tuple."""
    if isinstance(tree, np.ndarray):
        out = tree.copy()
        out.flags.writeable = False
        return out
    if isinstance(tree, dict):
        return {k: frozen(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(frozen(v) for v in tree)
    return tree


def same(a, b):
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return True


def call_frozen(fn, *args, **kwargs):
    """fn on read-only copies of args; the inputs must come out unchanged."""
    args_ro, kwargs_ro = frozen(args), frozen(kwargs)
    out = fn(*args_ro, **kwargs_ro)
    assert same(args_ro, args) and same(kwargs_ro, kwargs)
    return out


def setup(name, p=7):
    model = get_model(name)
    params = model.init(model_config(name, p, "float64", **TINY[name]), np.random.default_rng(0))
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    x = np.stack([a.ravel(), b.ravel()], axis=1)  # (p^2, 2)
    y = (x[:, 0] + x[:, 1]) % p
    return model, params, {"train_x": x[::2], "train_y": y[::2], "test_x": x[1::2], "test_y": y[1::2]}


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_models_losses_and_training(name):
    model, params, data = setup(name)
    x, y = data["train_x"], data["train_y"]
    fwd_pairs = [(model.forward, model.backward)]
    if hasattr(model, "train_forward"):
        fwd_pairs.append((model.train_forward, model.train_backward))
    for forward, backward in fwd_pairs:
        logits, cache = call_frozen(forward, params, x)
        _, dlogits = call_frozen(losses.cross_entropy, logits, y)
        call_frozen(losses.accuracy, logits, y)
        call_frozen(backward, dlogits, frozen(cache))
    call_frozen(losses.mse, logits, logits * 0.5)
    call_frozen(train.evaluate, model, params, data["test_x"], data["test_y"])
    call_frozen(train.weight_norms, params)
    hp = {**ADAMW_DEFAULTS, "epochs": 3, "eval_every": 1}
    keep = magnitude_prune(params, rate=0.5)
    call_frozen(train.train_loop, model, params, data, hp, masks=keep, quiet=True)


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_pruning_and_masks(name):
    model, params, data = setup(name)
    x, y = data["train_x"], data["train_y"]
    keep = call_frozen(magnitude_prune, params, rate=0.6)
    call_frozen(masks.apply, params, keep)
    call_frozen(masks.jaccard, keep, keep)
    call_frozen(random_like, keep, np.random.default_rng(0))
    call_frozen(random_mask, params, np.random.default_rng(0), rate=0.6)
    call_frozen(snip, model, params, x, y, rate=0.6)
    call_frozen(grasp, model, params, x, y, rate=0.6)
    call_frozen(synflow, model, params, rate=0.6, rounds=2)
    call_frozen(synflow_reference_one_round, model, params, x, rate=0.6)
    call_frozen(imp_level_mask, params, 0.8, previous=keep)
    call_frozen(non_grokking_masks, {0: params, 10: params}, rate=0.6)
    call_frozen(norm_matched_init, params, keep, "l2", "matrix_sum")
    scores = init_scores(params, np.random.default_rng(1))
    sm = call_frozen(supermask, scores, 0.4)
    call_frozen(edge_popup_gradients, model, params, scores, sm, x, y)
    ws = weights_and_scores_model(model, 0.4)
    logits, cache = call_frozen(ws.forward, join_weights_scores(params, scores), x)
    call_frozen(ws.backward, np.ones_like(logits), frozen(cache))


def test_analyses():
    model, params, _ = setup("mlp")
    keep = magnitude_prune(params, rate=0.6)
    W_E = params["W_E"]
    call_frozen(fourier.spectral_entropy, W_E)
    call_frozen(fourier.spectral_entropy, W_E, per_row=True)
    call_frozen(fourier.reference_code_self_cross_entropy, W_E)
    call_frozen(fourier.kept_energy_fraction, W_E, keep["W_E"])
    call_frozen(fourier.mask_spectrum, keep["W_E"])
    call_frozen(progress.mean_embedding_difference, W_E)
    call_frozen(progress.relative_embedding_difference, W_E)
    call_frozen(mask_dynamics.magnitude_masks, [params, params], 0.4)
    call_frozen(mask_dynamics.jaccard_over_training, [keep, keep])
    chain, weights = graph.mlp_chain(keep), graph.mlp_chain(params)
    call_frozen(graph.graph_metrics, chain, weights, rng=np.random.default_rng(0))
    call_frozen(neurons.mlp_hidden_preactivations, params, neurons.all_pairs(7))
    call_frozen(neurons.dead_units_by_mask, chain)


def test_a_run_plan_keeps_the_given_start_and_mask():
    model, params, _ = setup("mlp", p=11)
    params = model.init(model_config("mlp", 11, "float32"), np.random.default_rng(0))
    keep = magnitude_prune(params, rate=0.6)
    call_frozen(plan, {"p": 11, "epochs": 2}, params0=params, masks=keep)
