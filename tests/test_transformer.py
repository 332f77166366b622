"""The Transformer: every new op of layers.py and the whole model against float64 central
differences (hypothesis, bounded inputs, away from ReLU kinks), the forward pass against a
direct NumPy transcription of the formulas in models/transformer.py, the init, the CLI, and a small ticket run."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minigrok import attention, io, layers
from minigrok.cli import main
from minigrok.losses import cross_entropy
from minigrok.models import get_model, model_config, transformer
from minigrok.recipes import run_recipe

from gradcheck import assert_close, numerical_grad

seeds = st.integers(0, 2**32 - 1)
dims = st.integers(1, 4)
tokens_per_example = st.integers(1, 4)
scales = st.floats(0.1, 3.0)


def _rng(seed):
    return np.random.default_rng(seed)


def _check_grads(forward, backward_grads, inputs, G):
    """loss = sum(forward() * G); compare each analytic gradient with central differences."""
    loss = lambda: float((forward() * G).sum())  # noqa: E731
    for analytic, x in zip(backward_grads, inputs):
        assert_close(analytic, numerical_grad(loss, x))


# ----------------------------------------------------------------------------------------
# softmax, with and without the causal mask

@given(seeds, dims, dims, st.integers(1, 6), scales)
def test_softmax_backward(seed, B, H, N, scale):
    rng = _rng(seed)
    s = rng.standard_normal((B, H, N)) * scale * 3
    G = rng.standard_normal((B, H, N))
    att, cache = attention.softmax_forward(s)
    assert np.allclose(att, np.exp(s) / np.exp(s).sum(-1, keepdims=True))
    ds = attention.softmax_backward(G, cache)
    _check_grads(lambda: attention.softmax_forward(s)[0], [ds], [s], G)


def _masked_softmax(s):
    masked, c_mask = attention.causal_mask_forward(s)
    att, c_softmax = attention.softmax_forward(masked)
    return att, (c_mask, c_softmax)


@given(seeds, dims, dims, tokens_per_example, scales)
def test_causal_masked_softmax_backward(seed, B, H, T, scale):
    rng = _rng(seed)
    s = rng.standard_normal((B, H, T, T)) * scale * 3
    G = rng.standard_normal((B, H, T, T))
    att, (c_mask, c_softmax) = _masked_softmax(s)
    future = np.triu(np.ones((T, T), dtype=bool), k=1)  # key j > query i
    assert np.all(att[..., future] == 0.0)  # exact zeros, not just small
    assert np.allclose(att.sum(-1), 1.0) and not np.isnan(att).any()
    ds = attention.causal_mask_backward(attention.softmax_backward(G, c_softmax), c_mask)
    assert np.all(ds[..., future] == 0.0)  # a masked score cannot change the output
    _check_grads(lambda: _masked_softmax(s)[0], [ds], [s], G)


def test_causal_mask_keeps_float32():
    s = np.zeros((3, 2, 2), dtype=np.float32)
    masked, _ = attention.causal_mask_forward(s)
    att, _ = attention.softmax_forward(masked)
    assert masked.dtype == att.dtype == np.float32
    assert np.array_equal(att[0], np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32))


# ----------------------------------------------------------------------------------------
# the pieces of attention

@given(seeds, dims, dims, dims, tokens_per_example, dims)
def test_project_heads_backward(seed, B, H, e, T, d):
    rng = _rng(seed)
    x = rng.standard_normal((B, T, d))
    W = rng.standard_normal((H, e, d))
    G = rng.standard_normal((B, H, T, e))
    out, cache = attention.project_heads_forward(x, W)
    assert np.allclose(out, np.einsum("btd,hed->bhte", x, W))
    assert np.array_equal(attention.merge_heads(attention.split_heads(x, 1)), x)
    dx, dW = attention.project_heads_backward(G, cache)
    _check_grads(lambda: attention.project_heads_forward(x, W)[0], [dx, dW], [x, W], G)


@given(seeds, dims, tokens_per_example, tokens_per_example, dims)
def test_scores_backward(seed, B, Tq, Tk, e):
    rng = _rng(seed)
    q, k = rng.standard_normal((B, 2, Tq, e)), rng.standard_normal((B, 2, Tk, e))
    G = rng.standard_normal((B, 2, Tq, Tk))
    s, cache = attention.scores_forward(q, k)
    assert np.allclose(s, np.einsum("bhie,bhje->bhij", q, k) / np.sqrt(e))
    dq, dk = attention.scores_backward(G, cache)
    _check_grads(lambda: attention.scores_forward(q, k)[0], [dq, dk], [q, k], G)


@given(seeds, dims, tokens_per_example, tokens_per_example, dims)
def test_weighted_sum_backward(seed, B, Tq, Tk, e):
    rng = _rng(seed)
    att, v = rng.random((B, 2, Tq, Tk)), rng.standard_normal((B, 2, Tk, e))
    G = rng.standard_normal((B, 2, Tq, e))
    _, cache = attention.weighted_sum_forward(att, v)
    datt, dv = attention.weighted_sum_backward(G, cache)
    _check_grads(lambda: attention.weighted_sum_forward(att, v)[0], [datt, dv], [att, v], G)


@given(seeds, dims, dims, dims, tokens_per_example, dims, scales, st.booleans())
def test_attention_backward_as_a_whole(seed, B, H, e, T, d, scale, causal):
    rng = _rng(seed)
    x = rng.standard_normal((B, T, d)) * scale
    W_Q, W_K, W_V = (rng.standard_normal((H, e, d)) * scale for _ in range(3))
    W_O = rng.standard_normal((d, H * e)) * scale
    G = rng.standard_normal((B, T, d))
    inputs = [x, W_Q, W_K, W_V, W_O]
    out, cache = attention.attention_forward(*inputs, causal=causal)
    assert out.shape == (B, T, d) and cache["pattern"].shape == (B, H, T, T)
    grads = attention.attention_backward(G, cache)
    _check_grads(lambda: attention.attention_forward(*inputs, causal=causal)[0], grads, inputs, G)


@given(seeds, st.integers(1, 3), dims, dims, tokens_per_example)
def test_attention_stacked_models_match_one_by_one(seed, K, B, H, T):
    """W (K, H, e, d) with x (K, B, T, d): K models in one call, forward and backward."""
    rng = _rng(seed)
    d, e = 3, 2
    x = rng.standard_normal((K, B, T, d))
    Ws = [rng.standard_normal((K, H, e, d)) for _ in range(3)] + [rng.standard_normal((K, d, H * e))]
    G = rng.standard_normal((K, B, T, d))
    out, cache = attention.attention_forward(x, *Ws)
    grads = attention.attention_backward(G, cache)
    for i in range(K):
        out_i, cache_i = attention.attention_forward(x[i], *(W[i] for W in Ws))
        assert np.allclose(out[i], out_i)
        for g, g_i in zip(grads, attention.attention_backward(G[i], cache_i)):
            assert np.allclose(g[i], g_i)


# ----------------------------------------------------------------------------------------
# the residual MLP block and the last-token read

@given(seeds, dims, tokens_per_example, dims, dims, scales)
def test_residual_mlp_backward_away_from_kink(seed, B, T, d, d_mlp, scale):
    rng = _rng(seed)
    x = rng.standard_normal((B, T, d)) * scale
    W_in = rng.standard_normal((d_mlp, d)) * scale
    W_out = rng.standard_normal((d, d_mlp)) * scale
    assume(np.abs(x @ W_in.T).min() > 1e-3)  # the ReLU derivative is undefined at 0
    G = rng.standard_normal((B, T, d))
    out, cache = layers.residual_mlp_forward(x, W_in, W_out)
    assert np.allclose(out, x + np.maximum(x @ W_in.T, 0) @ W_out.T)
    grads = layers.residual_mlp_backward(G, cache)
    _check_grads(lambda: layers.residual_mlp_forward(x, W_in, W_out)[0], grads, [x, W_in, W_out], G)


@given(seeds, dims, tokens_per_example, dims)
def test_last_token_backward(seed, B, T, d):
    rng = _rng(seed)
    x = rng.standard_normal((B, T, d))
    G = rng.standard_normal((B, d))
    out, cache = layers.last_token_forward(x)
    assert np.array_equal(out, x[:, -1])
    dx = layers.last_token_backward(G, cache)
    _check_grads(lambda: layers.last_token_forward(x)[0], [dx], [x], G)


# ----------------------------------------------------------------------------------------
# the whole model

def _small_config(p, d, e, H, d_mlp, kappa=1.0):
    return model_config("transformer", p, dtype="float64", d_model=d, d_head=e, n_heads=H,
                        d_mlp=d_mlp, kappa=kappa)


@given(seeds, st.integers(3, 6), st.integers(2, 4), st.integers(1, 3), st.integers(1, 2),
       st.integers(2, 5), st.integers(1, 4), st.floats(0.5, 2.0), st.floats(0.3, 0.9))
def test_transformer_backward_whole_model_with_mask(seed, p, d, e, H, d_mlp, B, kappa, density):
    """Cross-entropy gradients of the pruned model (params * mask) at every kept weight."""
    rng = _rng(seed)
    params = transformer.init(_small_config(p, d, e, H, d_mlp, kappa), rng)
    masks = {k: rng.random(w.shape) < density for k, w in params.items()}
    params = {k: w * masks[k] for k, w in params.items()}
    tokens = rng.integers(0, p, size=(B, 2))
    labels = rng.integers(0, p, size=B)
    logits, cache = transformer.forward(params, tokens)
    x_mlp, W_in = cache[2][0]  # the MLP's input (B, d) and W_in
    live = masks["W_in"].any(axis=1)  # a fully pruned row stays exactly 0 whatever we perturb
    assume(not live.any() or np.abs((x_mlp @ W_in.T)[:, live]).min() > 1e-4)  # off the kinks
    _, dlogits = cross_entropy(logits, labels)
    grads = transformer.backward(dlogits, cache)
    assert list(grads) == list(transformer.PARAM_NAMES)
    f = lambda: float(cross_entropy(transformer.forward(params, tokens)[0], labels)[0])  # noqa: E731
    for name in transformer.PARAM_NAMES:
        assert grads[name].shape == params[name].shape, name
        kept = masks[name]
        assert_close(grads[name][kept], numerical_grad(f, params[name])[kept])


def _transformer_by_the_formulas(params, tokens):
    """The Transformer's formulas (models/transformer.py) written out with plain NumPy, one head at a time, the MLP on
    every position and the last position read at the end."""
    W_E, W_Q, W_K, W_V, W_O, W_in, W_out, W_U = (params[k] for k in transformer.PARAM_NAMES)
    H, e, _ = W_Q.shape
    T = tokens.shape[1]
    x = W_E[:, tokens].transpose(1, 2, 0)  # (B, T, d)
    heads = []
    for h in range(H):
        q, k, v = x @ W_Q[h].T, x @ W_K[h].T, x @ W_V[h].T  # (B, T, e)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(e)  # (B, T, T)
        s = np.where(np.tril(np.ones((T, T))) == 1, s, -1e30)  # causal
        att = np.exp(s - s.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        heads.append(att @ v)  # (B, T, e)
    x = x + np.concatenate(heads, axis=-1) @ W_O.T
    x = x + np.maximum(x @ W_in.T, 0) @ W_out.T
    return x[:, -1] @ W_U


@pytest.mark.parametrize("H, T", [(1, 2), (2, 3)])
def test_transformer_forward_matches_formulas(H, T):
    rng = _rng(H)
    params = transformer.init(_small_config(11, 8, 4, H, 6), rng)
    tokens = rng.integers(0, 11, size=(7, T))
    logits, cache = transformer.forward(params, tokens)
    assert logits.shape == (7, 11)
    assert np.allclose(logits, _transformer_by_the_formulas(params, tokens), rtol=1e-12, atol=1e-12)
    pattern = transformer.attention_pattern(params, tokens)
    assert pattern.shape == (7, H, T, T)  # forward() computes the last query's row only:
    assert np.allclose(pattern[:, :, -1:], cache[1]["pattern"], rtol=1e-12, atol=1e-15)
    assert np.all(pattern[:, :, 0, 0] == 1.0)  # the first token can only see itself


def test_transformer_init_shapes_and_scales():
    cfg = model_config("transformer", 67)
    assert get_model("transformer") is transformer
    params = transformer.init(cfg, _rng(1))
    assert list(params) == list(transformer.PARAM_NAMES)
    shapes = {"W_E": (128, 67), "W_Q": (1, 128, 128), "W_K": (1, 128, 128), "W_V": (1, 128, 128),
              "W_O": (128, 128), "W_in": (128, 128), "W_out": (128, 128), "W_U": (128, 67)}
    assert {k: w.shape for k, w in params.items()} == shapes
    assert all(w.dtype == np.float32 for w in params.values())
    for name, w in params.items():
        fan_in = 67 if name == "W_E" else 128
        assert abs(w.std() * np.sqrt(fan_in) - 1.0) < 0.05, name
        assert abs(w.mean()) < 0.05 / np.sqrt(fan_in) * 4, name
    again = transformer.init(cfg, _rng(1))
    assert all(np.array_equal(params[k], again[k]) for k in params)  # the seed fixes the draw
    wide = transformer.init(model_config("transformer", 5, n_heads=2, d_head=3, kappa=2.0), _rng(0))
    assert wide["W_Q"].shape == (2, 3, 128) and wide["W_O"].shape == (128, 6)
    assert abs(wide["W_in"].std() * np.sqrt(128) - 2.0) < 0.1


def test_transformer_matches_torch_autograd():
    """Logits and every gradient against PyTorch's autograd on the same float64 formulas."""
    torch = pytest.importorskip("torch")
    rng = _rng(3)
    params = transformer.init(_small_config(7, 6, 4, 2, 5), rng)
    tokens = rng.integers(0, 7, size=(9, 2))
    labels = rng.integers(0, 7, size=9)
    logits, cache = transformer.forward(params, tokens)
    _, dlogits = cross_entropy(logits, labels)
    grads = transformer.backward(dlogits, cache)

    t = {k: torch.tensor(w, requires_grad=True) for k, w in params.items()}
    x = t["W_E"][:, torch.tensor(tokens)].permute(1, 2, 0)  # (B, T, d)
    q = torch.einsum("btd,hed->bhte", x, t["W_Q"])
    k = torch.einsum("btd,hed->bhte", x, t["W_K"])
    v = torch.einsum("btd,hed->bhte", x, t["W_V"])
    s = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    s = s.masked_fill(~torch.ones(2, 2, dtype=torch.bool).tril(), float("-inf"))
    z = (s.softmax(-1) @ v).transpose(1, 2).reshape(9, 2, -1)  # (B, T, H*e)
    x = x + z @ t["W_O"].T
    x = x + torch.relu(x @ t["W_in"].T) @ t["W_out"].T
    t_logits = x[:, -1] @ t["W_U"]
    torch.nn.functional.cross_entropy(t_logits, torch.tensor(labels)).backward()
    assert np.allclose(logits, t_logits.detach().numpy(), rtol=1e-12, atol=1e-12)
    for name in transformer.PARAM_NAMES:
        assert np.allclose(grads[name], t[name].grad.numpy(), rtol=1e-10, atol=1e-12), name


# ----------------------------------------------------------------------------------------
# the command line and a small grokking-ticket run

def test_cli_trains_and_prunes_the_transformer(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--model", "transformer", "--p", "11", "--epochs", "5", "--out", str(out),
                 "--quiet"])
    assert code == 0, capsys.readouterr().err
    ckpt = io.load_npz(str(out / "final.npz"))
    assert set(ckpt["params"]) == set(transformer.PARAM_NAMES)
    assert ckpt["params"]["W_Q"].shape == (1, 128, 128) and ckpt["opt_state"]["step"] == 5
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 6  # header + epochs 0..5
    mask = tmp_path / "mask.npz"
    assert main(["prune", "--from", str(out / "final.npz"), "--rate", "0.6", "--out", str(mask)]) == 0
    assert set(io.load_masks(str(mask))) == set(transformer.PARAM_NAMES)


def test_transformer_ticket_generalises_sooner(tmp_path):
    """p = 23, all ordered pairs, 80% of them for training, lr 3e-3 (faster than the paper's
    1e-3 so the dense net groks in a few hundred epochs). Both runs stop 100 epochs after
    test accuracy reaches 0.95 (the paper's latest threshold). With seed 0 the dense net
    reaches 0.95 at epoch 300, the ticket (keep 40%, rewound to theta_0) at 180; at 0.99 the
    ticket stalls at ~0.98 on some seeds, hence 0.95. ~5-10 s on one core."""
    cfg = {"model": "transformer", "p": 23, "split": "all", "frac": 0.8, "lr": 3e-3, "seed": 0,
           "epochs": 1500, "eval_every": 10, "checkpoint_every": 500, "stop_threshold": 0.95,
           "stop_after": 100}
    summary = run_recipe("ticket", cfg, str(tmp_path), str(tmp_path), [0],
                         {"rate": 0.6, "dense_stop_after": 100}, quiet=True)
    dense = summary["dense"]["thresholds"]["0.95"]["t_gen"]
    ticket = summary["ticket"]["thresholds"]["0.95"]["t_gen"]
    assert dense is not None and ticket is not None, summary
    assert ticket * 1.5 <= dense, (ticket, dense)
    assert abs(summary["ticket"]["density"] - 0.4) < 1e-3
    assert summary["speedup_0.95"] == dense / ticket
    assert (tmp_path / "attention.png").is_file()  # the attention pattern of both runs


# ----------------------------------------------------------------------------------------
# the tabulated form the trainer runs (forward_tabulated / backward_tabulated)

@given(seeds, st.integers(2, 9), st.integers(1, 6), st.integers(1, 4), st.integers(1, 3),
       st.integers(1, 6), st.integers(1, 9), st.integers(1, 3), st.integers(0, 3),
       st.floats(0.5, 3.0))
def test_tabulated_equals_layers(seed, p, d, e, H, d_mlp, B, T, K, kappa):
    """forward_tabulated / backward_tabulated give the layer-by-layer logits and every
    gradient to ~1e-15 in float64, for any heads, context length and widths; K > 0
    stacks K models (each with its own tokens) and must give each model's own numbers."""
    rng = _rng(seed)
    cfg = model_config("transformer", p, dtype="float64", d_model=d, d_head=e, n_heads=H,
                       d_mlp=d_mlp, n_ctx=T, kappa=kappa)
    runs = [(transformer.init(cfg, rng), rng.integers(0, p, size=(B, T)), rng.integers(0, p, size=B))
            for _ in range(max(K, 1))]
    expected = []
    for params, tokens, labels in runs:
        logits, cache = transformer.forward(params, tokens)
        _, dlogits = cross_entropy(logits, labels)
        expected.append((logits, transformer.backward(dlogits, cache)))
    if K == 0:  # one model, unstacked
        (params, tokens, labels), = runs
        got = [_tabulated(params, tokens, labels)]
    else:
        stacked = {k: np.stack([r[0][k] for r in runs]) for k in transformer.PARAM_NAMES}
        logits, grads = _tabulated(stacked, np.stack([r[1] for r in runs]), np.stack([r[2] for r in runs]))
        got = [(logits[j], {k: g[j] for k, g in grads.items()}) for j in range(K)]
    for (logits, grads), (ref_logits, ref_grads) in zip(got, expected):
        assert_close(logits, ref_logits, rtol=1e-12, atol=1e-13)
        assert list(grads) == list(transformer.PARAM_NAMES)
        for name in transformer.PARAM_NAMES:
            assert grads[name].shape == ref_grads[name].shape, name
            assert_close(grads[name], ref_grads[name], rtol=1e-11, atol=1e-13)


def _tabulated(params, tokens, labels):
    logits, cache = transformer.forward_tabulated(params, tokens)
    _, dlogits = cross_entropy(logits, labels)
    return logits, transformer.backward_tabulated(dlogits, cache)


def test_trainer_runs_the_tabulated_form():
    from minigrok.train import model_functions
    assert model_functions(transformer) == (transformer.forward_tabulated, transformer.backward_tabulated)


# ----------------------------------------------------------------------------------------
# weighted lookup and scatter-add (layers.py), sparse on NumPy

@given(seeds, st.integers(1, 7), st.integers(1, 4), st.integers(1, 5), st.integers(1, 4),
       st.integers(0, 3))
def test_weighted_lookup_backward(seed, G, J, C, B, K):
    """Central differences of the weighted lookup, with repeated rows; K > 0 stacks K tables."""
    rng = _rng(seed)
    lead = (K,) if K else ()
    table = rng.standard_normal(lead + (G, C))
    indices = rng.integers(0, G, size=lead + (B, J))
    weights = rng.standard_normal(lead + (B, J))
    out, cache = layers.weighted_lookup_forward(table, indices, weights)
    expected = np.stack([np.einsum("bj,bjc->bc", w, t[i]) for t, i, w in
                         zip(table.reshape((-1, G, C)), indices.reshape((-1, B, J)),
                             weights.reshape((-1, B, J)))]).reshape(out.shape)
    assert_close(out, expected, rtol=1e-13, atol=1e-14)
    G_out = rng.standard_normal(out.shape)
    dweights, dtable = layers.weighted_lookup_backward(G_out, cache)
    forward = lambda: layers.weighted_lookup_forward(table, indices, weights)[0]  # noqa: E731
    _check_grads(forward, [dweights, dtable], [weights, table], G_out)


@given(seeds, st.integers(1, 30), st.integers(1, 12), st.integers(0, 3))
def test_scatter_add_is_a_weighted_count(seed, N, n, K):
    rng = _rng(seed)
    lead = (K,) if K else ()
    indices = rng.integers(0, n, size=lead + (N,))
    weights = rng.standard_normal(lead + (N,)).astype(np.float32)
    out = layers.scatter_add(indices, weights, n)
    expected = np.zeros(lead + (n,))
    for pos in np.ndindex(indices.shape):
        expected[pos[:-1] + (indices[pos],)] += weights[pos]
    assert out.dtype == np.float32 and out.shape == lead + (n,)
    assert_close(out, expected, rtol=1e-6, atol=1e-6)
