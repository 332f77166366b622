"""The two models written as a PyTorch user would, for the benchmarks: plain eager tensors,
autograd for the gradients, torch.optim.AdamW (its default CPU implementation) for the
step and F.cross_entropy on float64 logits, as minigrok. Same names and shapes as
minigrok's parameters (the formulas of minigrok/models/), so both start from one initialisation.

Only the last position reaches the logits, so the Transformer computes the attention's
query and output and the MLP at that position only, as minigrok's forward does: both
sides do the same matmul work (cases.forward_flops). The MLP is written layer by layer;
minigrok's trainer uses its factored form (models/mlp.py), which is part of what is
being measured.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F


def mlp_forward(P, tokens):
    """logits = relu((W_E[:, a] + W_E[:, b]) @ W_in.T) @ W_out.T @ W_U."""
    e = P["W_E"].T[tokens[:, 0]] + P["W_E"].T[tokens[:, 1]]  # (B, d_emb)
    h = torch.relu(e @ P["W_in"].T)  # (B, d_hidden)
    return (h @ P["W_out"].T) @ P["W_U"]  # (B, p)


def transformer_forward(P, tokens):
    """One block, one head, causal attention over [a, b], no LayerNorm, last position."""
    x = P["W_E"].T[tokens]  # (B, T, d)
    H, e, d = P["W_Q"].shape
    q = x[:, -1:] @ P["W_Q"].reshape(H * e, d).T  # (B, 1, H*e) the last query only
    k, v = (x @ P[n].reshape(H * e, d).T for n in ("W_K", "W_V"))  # (B, T, H*e)
    q, k, v = (t.unflatten(-1, (H, e)).transpose(1, 2) for t in (q, k, v))  # (B, H, T or 1, e)
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(e), dim=-1)  # (B, H, 1, T)
    z = (att @ v).transpose(1, 2).flatten(2)  # (B, 1, H*e); the last query sees every key
    x = x[:, -1] + z[:, 0] @ P["W_O"].T  # (B, d)
    x = x + torch.relu(x @ P["W_in"].T) @ P["W_out"].T  # (B, d)
    return x @ P["W_U"]  # (B, p)


FORWARDS = {"mlp": mlp_forward, "transformer": transformer_forward}


def make_params(params):
    """minigrok's NumPy params as torch leaf tensors that require grad (a copy)."""
    return {k: torch.tensor(np.asarray(w)).requires_grad_(True) for k, w in params.items()}


def make_train_step(name, params, hp, compiled=False):
    """A closure running one full-batch step (forward, float64 cross-entropy, backward,
    AdamW) and returning the loss; compiled=True wraps forward+loss in torch.compile."""
    forward = FORWARDS[name]
    P = make_params(params)
    opt = torch.optim.AdamW(list(P.values()), lr=hp["lr"], betas=tuple(hp["betas"]),
                            eps=hp["eps"], weight_decay=hp["weight_decay"])

    def loss_fn(P, x, y):
        return F.cross_entropy(forward(P, x).double(), y)

    if compiled:
        loss_fn = torch.compile(loss_fn)

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(P, x, y)
        loss.backward()
        opt.step()
        return loss

    return step


def make_eval(name, params, compiled=False):
    """A closure returning (loss, accuracy) of the model on (x, y), no autograd."""
    forward = FORWARDS[name]
    P = {k: torch.tensor(np.asarray(w)) for k, w in params.items()}

    def evaluate(x, y):
        logits = forward(P, x)
        return F.cross_entropy(logits.double(), y), (logits.argmax(-1) == y).double().mean()

    if compiled:
        evaluate = torch.compile(evaluate)

    def run(x, y):
        with torch.no_grad():
            return evaluate(x, y)

    return run
