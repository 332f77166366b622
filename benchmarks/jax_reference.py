"""The two models written as a JAX user would, for the benchmarks and the cross-check test:
plain jax.numpy, layer by layer (no tabulation), jax.grad for the gradients, AdamW with
PyTorch's semantics written out (the formulas of minigrok/optim.py), float64
cross-entropy as minigrok, and the whole step under jax.jit. Same names and shapes as
minigrok's parameters, so both start from one initialisation.

float64 needs JAX's x64 mode, which is switched on here at import (float32 arrays stay
float32). The thread count must be set before JAX is imported: blas.request_threads
sets XLA_FLAGS for it.
"""
import functools
import math

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402


def mlp_forward(P, tokens):
    """logits = relu((W_E[:, a] + W_E[:, b]) @ W_in.T) @ W_out.T @ W_U."""
    e = P["W_E"].T[tokens[:, 0]] + P["W_E"].T[tokens[:, 1]]  # (B, d_emb)
    h = jax.nn.relu(e @ P["W_in"].T)  # (B, d_hidden)
    return (h @ P["W_out"].T) @ P["W_U"]  # (B, p)


def transformer_forward(P, tokens):
    """One block, one or more heads, causal attention over the tokens, no LayerNorm;
    the logits read the last position (so only its query, attention output and MLP
    are computed, as minigrok's forward)."""
    x = P["W_E"].T[tokens]  # (B, T, d)
    H, e, d = P["W_Q"].shape
    B, T = tokens.shape
    q = x[:, -1:] @ P["W_Q"].reshape(H * e, d).T  # (B, 1, H*e)
    k = x @ P["W_K"].reshape(H * e, d).T  # (B, T, H*e)
    v = x @ P["W_V"].reshape(H * e, d).T  # (B, T, H*e)
    q, k, v = (t.reshape(B, -1, H, e).transpose(0, 2, 1, 3) for t in (q, k, v))  # (B, H, T or 1, e)
    att = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(e), axis=-1)  # (B, H, 1, T)
    z = (att @ v).transpose(0, 2, 1, 3).reshape(B, H * e)  # (B, H*e) the last query sees every key
    x = x[:, -1] + z @ P["W_O"].T  # (B, d)
    x = x + jax.nn.relu(x @ P["W_in"].T) @ P["W_out"].T  # (B, d)
    return x @ P["W_U"]  # (B, p)


FORWARDS = {"mlp": mlp_forward, "transformer": transformer_forward}


def cross_entropy(logits, labels):
    """Mean cross-entropy, computed on float64 logits as minigrok and the PyTorch reference."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float64), axis=-1)  # (B, p)
    return -jnp.take_along_axis(logp, labels[:, None], axis=-1).mean()


def adamw_update(P, grads, m, v, step, hp):
    """One AdamW step with torch.optim.AdamW's semantics (see minigrok/optim.py):
    decoupled decay, then the moments, then the bias-corrected update."""
    beta1, beta2 = hp["betas"]
    lr, wd, eps = hp["lr"], hp["weight_decay"], hp["eps"]
    step = step + 1
    step_size = lr / (1 - beta1 ** step)
    sqrt_bias2 = jnp.sqrt(1 - beta2 ** step)
    new_P, new_m, new_v = {}, {}, {}
    for name, w in P.items():
        g = grads[name]
        w = w * (1 - lr * wd)
        new_m[name] = m[name] + (1 - beta1) * (g - m[name])
        new_v[name] = beta2 * v[name] + (1 - beta2) * g * g
        denom = jnp.sqrt(new_v[name]) / sqrt_bias2 + eps
        new_P[name] = w - step_size * new_m[name] / denom
    return new_P, new_m, new_v, step


def make_train_step(name, params, hp):
    """A closure running one jitted full-batch step (forward, float64 cross-entropy,
    jax.grad, AdamW) on its own copy of the parameters; returns the loss."""
    forward = FORWARDS[name]
    loss_fn = lambda P, x, y: cross_entropy(forward(P, x), y)  # noqa: E731

    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))  # P, m, v updated in place
    def step_fn(P, m, v, step, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(P, x, y)
        P, m, v, step = adamw_update(P, grads, m, v, step, hp)
        return P, m, v, step, loss

    state = {"P": {k: jnp.array(w) for k, w in params.items()}}  # own copies: donated
    state["m"] = {k: jnp.zeros_like(w) for k, w in state["P"].items()}
    state["v"] = {k: jnp.zeros_like(w) for k, w in state["P"].items()}
    state["step"] = jnp.asarray(0, dtype=jnp.int64)

    def step(x, y):
        P, m, v, t, loss = step_fn(state["P"], state["m"], state["v"], state["step"], x, y)
        state.update(P=P, m=m, v=v, step=t)
        return loss.block_until_ready()

    step.state = state
    return step


def make_eval(name, params):
    """A closure returning (loss, accuracy) of the model on (x, y), jitted."""
    forward = FORWARDS[name]
    P = {k: jnp.asarray(w) for k, w in params.items()}

    @jax.jit
    def evaluate(P, x, y):
        logits = forward(P, x)
        return cross_entropy(logits, y), (logits.argmax(-1) == y).astype(jnp.float64).mean()

    def run(x, y):
        loss, acc = evaluate(P, x, y)
        return loss.block_until_ready(), acc

    return run


def loss_and_grads(name, params, tokens, labels):
    """(logits, loss, grads) of one model at params, for the cross-check test."""
    forward = FORWARDS[name]
    P = {k: jnp.asarray(w) for k, w in params.items()}
    logits = forward(P, jnp.asarray(tokens))
    loss, grads = jax.value_and_grad(lambda P: cross_entropy(forward(P, jnp.asarray(tokens)),
                                                             jnp.asarray(labels)))(P)
    return logits, loss, grads


def train(name, params0, masks, x, y, steps, hp):
    """`steps` full-batch AdamW steps of the pruned model W * mask (the gradient of a
    pruned weight is then 0, as with torch.nn.utils.prune); returns (losses before each
    step, effective params after the last), as NumPy arrays."""
    import numpy as np
    forward = FORWARDS[name]
    M = {k: jnp.asarray(np.asarray(masks[k], dtype=np.asarray(w).dtype)) for k, w in params0.items()}
    loss_fn = lambda P, x, y: cross_entropy(forward({k: P[k] * M[k] for k in P}, x), y)  # noqa: E731

    @jax.jit
    def step_fn(P, m, v, step, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(P, x, y)
        P, m, v, step = adamw_update(P, grads, m, v, step, hp)
        return P, m, v, step, loss

    P = {k: jnp.asarray(w) for k, w in params0.items()}
    m = {k: jnp.zeros_like(w) for k, w in P.items()}
    v = {k: jnp.zeros_like(w) for k, w in P.items()}
    step, x, y, losses = jnp.asarray(0, dtype=jnp.int64), jnp.asarray(x), jnp.asarray(y), []
    for _ in range(steps):
        P, m, v, step, loss = step_fn(P, m, v, step, x, y)
        losses.append(float(loss))
    return np.array(losses), {k: np.asarray(P[k] * M[k]) for k in P}
