"""Every backward in layers.py, the losses and the whole MLP against float64 central
differences, on inputs drawn by hypothesis (bounded, away from ReLU kinks)."""
import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from minigrok import layers
from minigrok.losses import cross_entropy, mse
from minigrok.models import mlp, model_config

from gradcheck import assert_close, numerical_grad

seeds = st.integers(0, 2**32 - 1)
dims = st.integers(1, 6)
scales = st.floats(0.1, 3.0)


def _rng(seed):
    return np.random.default_rng(seed)


@given(seeds, dims, dims, dims, scales)
def test_linear_backward(seed, B, n_in, n_out, scale):
    rng = _rng(seed)
    x = rng.standard_normal((B, n_in)) * scale
    W = rng.standard_normal((n_out, n_in)) * scale
    G = rng.standard_normal((B, n_out))  # upstream gradient: loss = sum(out * G)
    out, cache = layers.linear_forward(x, W)
    assert np.allclose(out, x @ W.T)
    dx, dW = layers.linear_backward(G, cache)
    loss = lambda: float((layers.linear_forward(x, W)[0] * G).sum())  # noqa: E731
    assert_close(dx, numerical_grad(loss, x))
    assert_close(dW, numerical_grad(loss, W))


@given(seeds, dims, dims, dims, st.integers(1, 3))
def test_linear_backward_stacked_and_extra_axes(seed, K, B, n, T):
    """W (K, out, in) with x (K, B, T, in): K models, batch and token axes folded."""
    rng = _rng(seed)
    x = rng.standard_normal((K, B, T, n))
    W = rng.standard_normal((K, n + 1, n))
    G = rng.standard_normal((K, B, T, n + 1))
    _, cache = layers.linear_forward(x, W)
    dx, dW = layers.linear_backward(G, cache)
    loss = lambda: float((layers.linear_forward(x, W)[0] * G).sum())  # noqa: E731
    assert_close(dx, numerical_grad(loss, x))
    assert_close(dW, numerical_grad(loss, W))


@given(seeds, dims, dims, dims, scales)
def test_unembed_backward(seed, B, d, V, scale):
    rng = _rng(seed)
    x = rng.standard_normal((B, d)) * scale
    W_U = rng.standard_normal((d, V)) * scale
    G = rng.standard_normal((B, V))
    _, cache = layers.unembed_forward(x, W_U)
    dx, dW_U = layers.unembed_backward(G, cache)
    loss = lambda: float((layers.unembed_forward(x, W_U)[0] * G).sum())  # noqa: E731
    assert_close(dx, numerical_grad(loss, x))
    assert_close(dW_U, numerical_grad(loss, W_U))


@given(seeds, dims, dims)
def test_relu_backward_away_from_kink(seed, B, n):
    rng = _rng(seed)
    x = rng.standard_normal((B, n))
    assume(np.abs(x).min() > 1e-3)  # the derivative is undefined at 0
    G = rng.standard_normal((B, n))
    out, cache = layers.relu_forward(x)
    assert np.array_equal(out, np.maximum(x, 0))
    dx = layers.relu_backward(G, cache)
    loss = lambda: float((layers.relu_forward(x)[0] * G).sum())  # noqa: E731
    assert_close(dx, numerical_grad(loss, x))


@given(seeds, dims, st.integers(1, 4), dims, st.integers(2, 7))
def test_embed_backward_is_scatter_add(seed, B, T, d, V):
    rng = _rng(seed)
    W_E = rng.standard_normal((d, V))
    tokens = rng.integers(0, V, size=(B, T))  # repeated tokens exercise the scatter-add
    G = rng.standard_normal((B, T, d))
    x, cache = layers.embed_forward(W_E, tokens)
    assert np.array_equal(x[1 % B, 0], W_E[:, tokens[1 % B, 0]])
    dW_E = layers.embed_backward(G, cache)
    loss = lambda: float((layers.embed_forward(W_E, tokens)[0] * G).sum())  # noqa: E731
    assert_close(dW_E, numerical_grad(loss, W_E))
    expected = np.zeros_like(W_E)  # the same sum written as a plain loop
    for b in range(B):
        for t in range(T):
            expected[:, tokens[b, t]] += G[b, t]
    assert np.allclose(dW_E, expected)


@given(seeds, dims, st.integers(1, 4), dims)
def test_sum_tokens_backward(seed, B, T, d):
    rng = _rng(seed)
    x = rng.standard_normal((B, T, d))
    G = rng.standard_normal((B, d))
    _, cache = layers.sum_tokens_forward(x)
    dx = layers.sum_tokens_backward(G, cache)
    loss = lambda: float((layers.sum_tokens_forward(x)[0] * G).sum())  # noqa: E731
    assert_close(dx, numerical_grad(loss, x))


@given(seeds, dims, st.integers(2, 9), scales)
def test_cross_entropy_gradient(seed, B, V, scale):
    rng = _rng(seed)
    logits = rng.standard_normal((B, V)) * scale * 3
    labels = rng.integers(0, V, size=B)
    loss, dlogits = cross_entropy(logits, labels)
    direct = -np.mean([logits[b, labels[b]] - np.log(np.exp(logits[b]).sum()) for b in range(B)])
    assert abs(float(loss) - direct) < 1e-10
    f = lambda: float(cross_entropy(logits, labels)[0])  # noqa: E731
    assert_close(dlogits, numerical_grad(f, logits))


def test_cross_entropy_is_float64_for_float32_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)  # overflow without the shift
    loss, dlogits = cross_entropy(logits, np.array([1]))
    assert loss.dtype == np.float64 and dlogits.dtype == np.float32
    assert abs(float(loss) - 1000.0) < 1e-9


@given(seeds, dims, dims)
def test_mse_gradient(seed, B, K):
    rng = _rng(seed)
    out, y = rng.standard_normal((B, K)), rng.standard_normal((B, K))
    loss, dout = mse(out, y)
    assert abs(float(loss) - np.mean((out - y) ** 2)) < 1e-12
    f = lambda: float(mse(out, y)[0])  # noqa: E731
    assert_close(dout, numerical_grad(f, out))


@given(seeds, st.integers(3, 7), st.integers(2, 5), st.integers(2, 6), st.integers(1, 5), scales)
def test_mlp_backward_whole_model(seed, p, d_emb, d_hidden, B, kappa):
    """The whole MLP: every parameter gradient of the float64 cross-entropy."""
    rng = _rng(seed)
    cfg = model_config("mlp", p, dtype="float64", d_emb=d_emb, d_hidden=d_hidden, kappa=kappa)
    params = mlp.init(cfg, rng)
    tokens = rng.integers(0, p, size=(B, 2))
    labels = rng.integers(0, p, size=B)
    logits, cache = mlp.forward(params, tokens)
    pre = cache[2][0] @ params["W_in"].T  # hidden pre-activations
    assume(np.abs(pre).min() > 1e-4)  # away from the ReLU kinks
    _, dlogits = cross_entropy(logits, labels)
    grads = mlp.backward(dlogits, cache)
    assert list(grads) == list(mlp.PARAM_NAMES)
    f = lambda: float(cross_entropy(mlp.forward(params, tokens)[0], labels)[0])  # noqa: E731
    for name in mlp.PARAM_NAMES:
        assert_close(grads[name], numerical_grad(f, params[name]))


def test_mlp_forward_matches_formula():
    rng = _rng(0)
    params = mlp.init(model_config("mlp", 11, dtype="float64"), rng)
    tokens = rng.integers(0, 11, size=(5, 2))
    logits, _ = mlp.forward(params, tokens)
    W_E, W_in, W_out, W_U = (params[k] for k in mlp.PARAM_NAMES)
    e = W_E[:, tokens[:, 0]].T + W_E[:, tokens[:, 1]].T
    expected = np.maximum(e @ W_in.T, 0) @ W_out.T @ W_U
    assert np.allclose(logits, expected, rtol=1e-12)


def test_mlp_init_scales():
    cfg = model_config("mlp", 67)
    params = mlp.init(cfg, _rng(1))
    assert params["W_E"].shape == (500, 67) and params["W_in"].shape == (48, 500)
    assert params["W_out"].shape == (500, 48) and params["W_U"].shape == (500, 67)
    assert all(w.dtype == np.float32 for w in params.values())
    for name, fan_in in [("W_E", 67), ("W_in", 500), ("W_out", 48), ("W_U", 500)]:
        assert abs(params[name].std() * np.sqrt(fan_in) - 1.0) < 0.05, name


@given(seeds, st.integers(3, 7), st.integers(2, 5), st.integers(2, 6), st.integers(1, 6))
def test_mlp_factored_equals_layered(seed, p, d_emb, d_hidden, B):
    """The trainer's factored MLP computes the same logits and gradients as the layers."""
    rng = _rng(seed)
    cfg = model_config("mlp", p, dtype="float64", d_emb=d_emb, d_hidden=d_hidden)
    params = mlp.init(cfg, rng)
    tokens = rng.integers(0, p, size=(B, 2))
    labels = rng.integers(0, p, size=B)
    logits, cache = mlp.forward(params, tokens)
    fast_logits, fast_cache = mlp.forward_factored(params, tokens)
    assert np.allclose(fast_logits, logits, rtol=1e-12, atol=1e-13)
    _, dlogits = cross_entropy(logits, labels)
    grads, fast = mlp.backward(dlogits, cache), mlp.backward_factored(dlogits, fast_cache)
    for name in mlp.PARAM_NAMES:
        assert np.allclose(fast[name], grads[name], rtol=1e-11, atol=1e-13), name
