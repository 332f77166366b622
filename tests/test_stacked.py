"""K models as one stacked model: the layers and models on (K, ...) arrays against one
model at a time, the attention's last-query form against central differences, and
stacked training (train_loop with stacked=True) against K separate runs of the same
loop (float64)."""
import json

import numpy as np
import pytest
from gradcheck import assert_close, numerical_grad
from hypothesis import given
from hypothesis import strategies as st

from minigrok import attention, layers
from minigrok.cli import main
from minigrok.data import modular_dataset
from minigrok.losses import cross_entropy
from minigrok.masks import apply, ones_like
from minigrok.models import get_model, model_config
from minigrok.pruning.magnitude import magnitude_prune
from minigrok.io import load_metrics
from minigrok.train import DATA_KEYS, grokking_times, model_functions, stack, train_loop

seeds = st.integers(0, 2**32 - 1)
SMALL = {"mlp": {"d_emb": 24, "d_hidden": 8}, "transformer": {"d_model": 12, "d_head": 6,
                                                                "d_mlp": 10, "n_heads": 2}}


@given(seeds, st.integers(1, 3), st.integers(1, 4), st.integers(1, 3))
def test_lookup_rows_stacked(seed, K, V, B):
    rng = np.random.default_rng(seed)
    tables, idx = rng.standard_normal((K, V, 5)), rng.integers(0, V, size=(K, B, 2))
    out = layers.lookup_rows(tables, idx)
    assert out.shape == (K, B, 2, 5)
    assert all(np.array_equal(out[i], tables[i][idx[i]]) for i in range(K))


@given(seeds, st.integers(1, 3), st.integers(1, 4), st.integers(1, 4))
def test_lookup_rows_backward(seed, K, V, B):
    """out = table[indices] (K stacked tables): the scatter-add against central differences."""
    rng = np.random.default_rng(seed)
    table, idx = rng.standard_normal((K, V, 3)), rng.integers(0, V, size=(K, B, 2))
    G = rng.standard_normal((K, B, 2, 3))
    dtable = layers.lookup_rows_backward(G, idx, table.shape)
    loss = lambda: float((layers.lookup_rows(table, idx) * G).sum())
    assert_close(dtable, numerical_grad(loss, table))


@given(seeds, st.integers(1, 3), st.integers(1, 2), st.integers(1, 4), st.booleans())
def test_attention_last_queries_gradcheck(seed, B, H, T, causal):
    """n_queries < T: the output at the last positions only, against the full attention
    and central differences."""
    rng = np.random.default_rng(seed)
    d, e = 3, 2
    n_queries = int(rng.integers(1, T + 1))
    inputs = [rng.standard_normal((B, T, d))] + [rng.standard_normal((H, e, d)) for _ in range(3)]
    inputs.append(rng.standard_normal((d, H * e)))
    full, _ = attention.attention_forward(*inputs, causal=causal)
    out, cache = attention.attention_forward(*inputs, causal=causal, n_queries=n_queries)
    assert out.shape == (B, n_queries, d) and np.allclose(out, full[:, T - n_queries:])
    G = rng.standard_normal(out.shape)
    grads = attention.attention_backward(G, cache)
    loss = lambda: float((attention.attention_forward(*inputs, causal=causal,
                                                   n_queries=n_queries)[0] * G).sum())
    for analytic, x in zip(grads, inputs):
        assert_close(analytic, numerical_grad(loss, x))


def _setup(name, K, p=11, dtype="float64"):
    cfg = model_config(name, p, dtype, **SMALL[name])
    model = get_model(name)
    params = [model.init(cfg, np.random.default_rng(i)) for i in range(K)]
    data = [modular_dataset("add", p, 0.5, "all", i) for i in range(K)]
    return model, params, data


@pytest.mark.parametrize("name", ["mlp", "transformer"])
@pytest.mark.parametrize("form", ["layers", "train"])
def test_models_stacked_match_one_by_one(name, form):
    K = 3
    model, params, data = _setup(name, K)
    forward, backward = (model.forward, model.backward) if form == "layers" else model_functions(model)
    tokens = np.stack([d["train_x"] for d in data])  # (K, B, 2)
    labels = np.stack([d["train_y"] for d in data])  # (K, B)
    logits, cache = forward(stack(params), tokens)
    loss, dlogits = cross_entropy(logits, labels)
    grads = backward(dlogits, cache)
    for i in range(K):
        logits_i, cache_i = forward(params[i], tokens[i])
        loss_i, dlogits_i = cross_entropy(logits_i, labels[i])
        assert np.allclose(logits[i], logits_i, rtol=1e-12, atol=1e-13)
        assert np.isclose(loss[i], loss_i, rtol=1e-13)
        for k, g in backward(dlogits_i, cache_i).items():
            assert np.allclose(grads[k][i], g, rtol=1e-11, atol=1e-13), k


HP = {"lr": 1e-2, "weight_decay": 1.0, "betas": (0.9, 0.98), "eps": 1e-8, "epochs": 600,
      "eval_every": 10, "stop_after": 50, "stop_threshold": 0.99}


def train_stacked(model, params_list, data_list, hp, masks_list=None):
    """K runs as one stacked train_loop; one outcome per run."""
    return train_loop(model, stack(params_list), stack([{k: d[k] for k in DATA_KEYS} for d in data_list]),
                      hp, stack(masks_list) if masks_list else None, stacked=True, quiet=True)


def _compare(separate, stacked):
    """Every metric of every row, t_mem / t_gen and the final parameters: bit for bit (a
    run's numbers do not depend on whether it trained alone or in a stack)."""
    for one, result in zip(separate, stacked):
        params, metrics = one["params"], one["metrics"]
        assert result["metrics"] == metrics
        assert grokking_times(result["metrics"]) == grokking_times(metrics)
        for k, w in params.items():
            assert np.array_equal(result["params"][k], w), k


def test_stacked_training_matches_separate_runs():
    """Two seeds x (dense, a 50% magnitude mask) = 4 MLPs on p = 23: some stop early at
    different epochs (and leave the stack), the masked ones run to the epoch cap."""
    model = get_model("mlp")
    cfg = model_config("mlp", 23, "float64", d_emb=64, d_hidden=32)
    runs = []
    for seed in (0, 1):
        data = modular_dataset("add", 23, 0.6, "all", seed)
        params = model.init(cfg, np.random.default_rng(seed))
        for rate in (None, 0.5):
            masks = magnitude_prune(params, rate=rate) if rate else None
            runs.append((apply(params, masks), data, masks))
    separate = [train_loop(model, p0, data, HP, masks, quiet=True)[0] for p0, data, masks in runs]
    stacked = train_stacked(model, [r[0] for r in runs], [r[1] for r in runs], HP,
                            [m if m is not None else ones_like(p0) for p0, _, m in runs])
    stops = [r["metrics"]["epoch"][-1] for r in stacked]
    assert len(set(stops)) >= 3 and max(stops) == HP["epochs"] and min(stops) < HP["epochs"], stops
    _compare(separate, stacked)


def test_stacked_transformer_matches_separate_runs():
    model, params, data = _setup("transformer", 2)
    hp = {**HP, "lr": 1e-3, "epochs": 12, "eval_every": 3, "stop_after": None}
    separate = [train_loop(model, p, d, hp, quiet=True)[0] for p, d in zip(params, data)]
    _compare(separate, train_stacked(model, params, data, hp))


def test_sweep_command(tmp_path, capsys):
    """`minigrok sweep`: the rate-sweep recipe. Dense runs per seed, the (rate, seed)
    tickets stacked; rate 0.0 is the dense run itself; a stacked ticket gives the numbers
    of the same ticket trained alone."""
    out = tmp_path / "sweep"
    args = ["sweep", "--p", "11", "--epochs", "12", "--eval-every", "3", "--checkpoint-every", "4",
            "--rates", "0,0.5", "--seeds", "0,1", "--quiet", "--out", str(out)]
    assert main(args) == 0
    assert "rate=0.5" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and rows[0].startswith("condition,seed,density,t_mem,t_gen")
    assert [(r["rate"], r["seed"]) for r in summary["results"]] == [(0, 0), (0, 1), (0.5, 0), (0.5, 1)]
    assert abs(summary["results"][2]["density"] - 0.5) < 1e-3
    dense = load_metrics(str(out / "metrics" / "rate=0.0_dense_seed0.csv"))
    assert dense["epoch"] == list(range(0, 13, 3))
    ticket_dirs = [out / r for r in summary["runs"] if "-d0.500-" in r]
    assert len(ticket_dirs) == 2
    # the seed-0 ticket again, alone through `minigrok ticket`: the same numbers
    assert main(["ticket", "--p", "11", "--epochs", "12", "--eval-every", "3", "--checkpoint-every", "4",
                 "--rate", "0.5", "--seed", "0", "--quiet", "--out", str(tmp_path / "alone")]) == 0
    alone = json.loads((tmp_path / "alone" / "summary.json").read_text())
    stacked = load_metrics(str(out / "metrics" / "rate=0.5_seed0.csv"))
    single = load_metrics(str(tmp_path / "alone" / alone["runs"]["ticket"] / "metrics.csv"))
    assert single["epoch"] == stacked["epoch"]
    assert single == stacked  # bit for bit


@pytest.mark.parametrize("bad", [["--rates", "0.1,x"], ["--rates", "1.0"], ["--seeds", "0,0"]])
def test_sweep_bad_arguments(tmp_path, capsys, bad):
    assert main(["sweep", "--p", "11", "--epochs", "2", "--quiet", *bad, "--out", str(tmp_path / "s")]) == 2
    assert capsys.readouterr().err.startswith("minigrok: error: ")
    assert not (tmp_path / "s").exists()
