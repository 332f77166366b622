"""Pruning scores against their definitions written in PyTorch autograd (skipped without
torch): SNIP |dL/dW * W|, GraSP -W * (H g) with H g by an exact double backward, and
SynFlow's |dR/dW * W| on the linearised nets (both attention modes, with a mask) and the
reference code's one-round variant on data.

Tolerances (relative to the largest score, float64): 1e-10 where minigrok and torch
compute the same formula by different code; 1e-6 for GraSP, whose H g minigrok takes by a
central difference of the gradient (rel_step 1e-7: truncation ~1e-14, rounding ~1e-9;
measured ~1e-9 at p = 67 for both models, with masks identical to torch's).
"""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch_models import FORWARDS  # noqa: E402

from minigrok.models import get_model, model_config  # noqa: E402
from minigrok.pruning import (grasp_scores, random_mask, snip_scores,  # noqa: E402
                              synflow_reference_scores, synflow_scores)

EXACT, CENTRAL_DIFFERENCE = 1e-10, 1e-6
WIDTHS = {"mlp": {"d_emb": 24, "d_hidden": 8},
          "transformer": {"d_model": 8, "d_head": 4, "n_heads": 2, "d_mlp": 8}}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def setup(name, p=11, seed=0):
    model = get_model(name)
    params = model.init(model_config(name, p, "float64", **WIDTHS[name]), np.random.default_rng(seed))
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    x = np.stack([a.ravel(), b.ravel()], axis=1)[np.random.default_rng(seed).permutation(p * p)[:50]]
    return model, params, x, (x[:, 0] + x[:, 1]) % p


def leaves(params, transform=lambda w: w):
    return {k: transform(torch.tensor(w, dtype=torch.float64)).requires_grad_(True)
            for k, w in params.items()}


def assert_scores(ours, theirs, tol):
    scale = max(float(np.abs(v).max()) for v in theirs.values())
    for k in theirs:
        err = float(np.abs(ours[k] - theirs[k]).max())
        assert err <= tol * scale, f"{k}: max error {err:.3e} vs scale {scale:.3e}"


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_snip_matches_torch(name):
    model, params, x, y = setup(name)
    P = leaves(params)
    F.cross_entropy(FORWARDS[name](P, torch.as_tensor(x)), torch.as_tensor(y)).backward()
    expected = {k: (P[k].grad * P[k]).abs().detach().numpy() for k in P}
    assert_scores(snip_scores(model, params, x, y), expected, EXACT)


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_grasp_matches_torch_double_backward(name):
    model, params, x, y = setup(name)
    P = leaves(params)
    T = 200.0
    loss = F.cross_entropy(FORWARDS[name](P, torch.as_tensor(x)) / T, torch.as_tensor(y))
    g = torch.autograd.grad(loss, list(P.values()), create_graph=True)
    z = sum((gi.detach() * gi).sum() for gi in g)  # g_stopped . g
    Hg = torch.autograd.grad(z, list(P.values()))  # d/dW (g_stopped . g) = H g
    expected = {k: (-P[k] * h).detach().numpy() for k, h in zip(P, Hg)}
    assert_scores(grasp_scores(model, params, x, y, temperature=T), expected, CENTRAL_DIFFERENCE)


def torch_flow(name, P, softmax=False):
    """R = sum of the outputs of the linearised net (P >= 0) on the all-ones input."""
    p = P["W_E"].shape[1]
    x0 = torch.ones(2, p, dtype=torch.float64) @ P["W_E"].T  # (T=2, d): every one-hot -> 1_p
    if name == "mlp":
        h = torch.relu(x0.sum(0) @ P["W_in"].T)
        return ((h @ P["W_out"].T) @ P["W_U"]).sum()
    q, k, v = (torch.einsum("td,hed->hte", x0, P[n]) for n in ("W_Q", "W_K", "W_V"))
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (H, T, T)
    causal = torch.ones(2, 2, dtype=torch.bool).tril()
    att = torch.softmax(s.masked_fill(~causal, float("-inf")), -1) if softmax else s * causal
    x1 = x0 + (att @ v).transpose(0, 1).flatten(1) @ P["W_O"].T  # (T, d)
    x2 = x1[-1] + torch.relu(x1[-1] @ P["W_in"].T) @ P["W_out"].T
    return (x2 @ P["W_U"]).sum()


@pytest.mark.parametrize("name, attention", [("mlp", "linear"), ("transformer", "linear"),
                                             ("transformer", "softmax")])
def test_synflow_matches_torch(name, attention):
    """Dense, and with a mask (|W| * mask; pruned weights score -1)."""
    model, params, _, _ = setup(name)
    masks = random_mask(params, np.random.default_rng(1), density=0.5)
    for m in (None, masks):
        keep = {k: 1.0 if m is None else torch.as_tensor(m[k], dtype=torch.float64) for k in params}
        P = {k: (torch.tensor(w).abs() * keep[k]).requires_grad_(True) for k, w in params.items()}
        torch_flow(name, P, softmax=attention == "softmax").backward()
        expected = {k: (P[k].grad * P[k]).abs().detach().numpy() for k in P}
        if m is not None:
            expected = {k: np.where(m[k], s, -1.0) for k, s in expected.items()}
        assert_scores(synflow_scores(model, params, m, attention), expected, EXACT)


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_synflow_reference_one_round_matches_torch(name):
    model, params, x, _ = setup(name)
    P = leaves(params, lambda w: w.abs())
    FORWARDS[name](P, torch.as_tensor(x)).sum().backward()
    expected = {k: (P[k].grad * P[k]).abs().detach().numpy() for k in P}
    assert_scores(synflow_reference_scores(model, params, x), expected, EXACT)
