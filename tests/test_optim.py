"""AdamW: a few steps against a direct transcription of the update formula, PyTorch's
default hyper-parameters of the paper, and masked weights staying exactly 0."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigrok.optim import adamw_init, adamw_step, flush_subnormals


def reference_adamw(w, grads, lr, wd, beta1, beta2, eps):
    """The update rule written out with explicit bias corrections, in float64."""
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        w = w - lr * wd * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


@given(st.integers(0, 2**32 - 1), st.integers(1, 8), st.floats(1e-4, 1e-1),
       st.floats(0.0, 2.0), st.floats(0.5, 0.99), st.floats(0.9, 0.999))
def test_adamw_matches_formula(seed, steps, lr, wd, beta1, beta2):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(steps)]
    params = {"W": w0.copy()}
    state = adamw_init(params)
    for g in grads:
        adamw_step(params, {"W": g}, state, lr=lr, weight_decay=wd, betas=(beta1, beta2), eps=1e-8)
    expected = reference_adamw(w0, grads, lr, wd, beta1, beta2, 1e-8)
    # sqrt(v)/sqrt(1-b2^t) vs sqrt(v/(1-b2^t)) differ only in rounding
    assert np.allclose(params["W"], expected, rtol=1e-12, atol=1e-14)
    assert state["step"] == steps


def test_masked_weights_stay_exactly_zero_under_decay():
    rng = np.random.default_rng(0)
    mask = rng.random((6, 5)) < 0.4
    params = {"W": (rng.standard_normal((6, 5)) * mask).astype(np.float32)}
    state = adamw_init(params)
    for _ in range(50):
        g = rng.standard_normal((6, 5)).astype(np.float32)  # nonzero grads everywhere
        adamw_step(params, {"W": g}, state, lr=1e-2, weight_decay=1.0, masks={"W": mask})
    assert np.all(params["W"][~mask] == 0.0)
    assert np.all(params["W"][mask] != 0.0)
    assert np.all(state["m"]["W"][~mask] == 0.0) and np.all(state["v"]["W"][~mask] == 0.0)


def test_float32_state_stays_float32():
    params = {"W": np.ones((2, 2), np.float32)}
    state = adamw_init(params)
    adamw_step(params, {"W": np.ones((2, 2), np.float32)}, state)
    assert params["W"].dtype == np.float32 and state["v"]["W"].dtype == np.float32


def test_a_dead_units_subnormal_weights_are_flushed_to_zero():
    """Row 0 never gets a gradient (a dead ReLU unit): its weights decay by (1 - lr wd)
    per step into the subnormal range and are set to 0 at step FLUSH_EVERY; the live row
    1 matches an unflushed run exactly."""
    from minigrok.optim import FLUSH_EVERY
    tiny = np.finfo(np.float32).tiny
    runs = []
    for steps in (FLUSH_EVERY - 1, FLUSH_EVERY):
        params = {"W": np.array([[2e-38, -2e-38], [1.0, -1.0]], np.float32)}
        state = adamw_init(params)
        g = np.array([[0.0, 0.0], [0.5, -0.25]], np.float32)
        for _ in range(steps):
            adamw_step(params, {"W": g}, state, lr=1e-2, weight_decay=1.0)
        runs.append(params["W"])
    before, after = runs
    assert np.all((before[0] != 0) & (np.abs(before[0]) < tiny))  # subnormal
    assert np.all(after[0] == 0)
    assert np.all(np.abs(after[1]) > 0.1) and np.all(after[1] != before[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flush_subnormals_zeroes_only_subnormals(dtype):
    tiny = np.finfo(dtype).tiny
    a = np.array([tiny, -tiny, tiny / 4, -tiny / 1024, 0.0, 1.0, -3e-5], dtype)
    flush_subnormals(a)
    assert a.tolist() == np.array([tiny, -tiny, 0, 0, 0, 1.0, -3e-5], dtype).tolist()
