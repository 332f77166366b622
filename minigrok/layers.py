"""Every operation of the models, as forward/backward pairs.

Each op is two pure functions, in the style of CS231n's layer files:

    out, cache = op_forward(inputs..., weights...)
    dinputs..., dweights... = op_backward(dout, cache)

The backward's comment quotes the forward formula it differentiates. Weight matrices use
PyTorch's (out_features, in_features) layout, so `x @ W.T` is a linear layer. Ops broadcast
over leading axes: a weight of shape (K, out, in) with inputs (K, ..., in) runs K stacked
models with the same code.

Shapes: B = batch, T = tokens per example, V = vocabulary (p), d = width.
"""
from .backend import array_module


# ----------------------------------------------------------------------------------------
# embedding: a table lookup, whose backward is a scatter-add

def one_hot(indices, n, dtype):
    """one_hot(i, n)[..., j] = 1 if i == j else 0: shape indices.shape + (n,)."""
    xp = array_module(indices)
    return (indices[..., None] == xp.arange(n)).astype(dtype)  # (..., n)


def embed_forward(W_E, tokens):
    """x[b, t, :] = W_E[:, tokens[b, t]]   (W_E is (d, V), one column per token)."""
    x = W_E.T[tokens]  # (B, T, d)
    return x, (W_E.shape, W_E.dtype, tokens)


def embed_backward(dx, cache):
    """x[b, t] = W_E[:, tokens[b, t]]  =>  dW_E[:, v] = sum over (b, t) with tokens[b, t] == v of dx[b, t].

    The scatter-add is written as a matmul with the one-hot matrix of the tokens; on a
    CPU and a GPU this beats `add.at` by ~8x at the paper's sizes and sums in a fixed order.
    """
    (d, V), dtype, tokens = cache
    onehot = one_hot(tokens.reshape(-1), V, dtype)  # (B*T, V)
    dW_E = dx.reshape(-1, d).T @ onehot  # (d, V)
    return dW_E


# ----------------------------------------------------------------------------------------
# stacked models: W (K, out, in) meets x (K, B, ..., in)

def align_models(W, x):
    """View W (K, a, b) as (K, 1, ..., 1, a, b) so its model axis K lines up with x's first
    axis under matmul broadcasting; a single model's 2-D W is returned unchanged."""
    extra = x.ndim - W.ndim
    if W.ndim == 2 or extra <= 0:
        return W
    return W.reshape(W.shape[:-2] + (1,) * extra + W.shape[-2:])


# ----------------------------------------------------------------------------------------
# linear layer without bias: out = x @ W.T

def linear_forward(x, W):
    """out = x @ W.T   (x is (..., in), W is (out, in) or (K, out, in))."""
    out = x @ align_models(W, x).swapaxes(-1, -2)  # (..., out)
    return out, (x, W)


def linear_backward(dout, cache):
    """out = x @ W.T  =>  dx = dout @ W,  dW = dout.T @ x summed over the batch axes."""
    x, W = cache
    dx = dout @ align_models(W, dout)  # (..., in)
    lead = W.shape[:-2]  # () for one model, (K,) for K stacked models
    x2 = x.reshape(*lead, -1, x.shape[-1])  # (..., N, in): every batch axis folded into N
    dout2 = dout.reshape(*lead, -1, dout.shape[-1])  # (..., N, out)
    dW = dout2.swapaxes(-1, -2) @ x2  # (..., out, in)
    return dx, dW


# ----------------------------------------------------------------------------------------
# unembedding: logits = x @ W_U   (W_U is (d, V), the checkpoint layout)

def unembed_forward(x, W_U):
    """logits = x @ W_U   (x is (..., d), W_U is (d, V))."""
    logits = x @ align_models(W_U, x)  # (..., V)
    return logits, (x, W_U)


def unembed_backward(dlogits, cache):
    """logits = x @ W_U  =>  dx = dlogits @ W_U.T,  dW_U = x.T @ dlogits."""
    x, W_U = cache
    dx = dlogits @ align_models(W_U, dlogits).swapaxes(-1, -2)  # (..., d)
    lead = W_U.shape[:-2]
    x2 = x.reshape(*lead, -1, x.shape[-1])  # (..., N, d)
    dlogits2 = dlogits.reshape(*lead, -1, dlogits.shape[-1])  # (..., N, V)
    dW_U = x2.swapaxes(-1, -2) @ dlogits2  # (..., d, V)
    return dx, dW_U


# ----------------------------------------------------------------------------------------
# ReLU

def relu_forward(x):
    """out = max(x, 0)."""
    out = x * (x > 0)  # (...)  keeps the dtype; exact zeros below the kink
    return out, out


def relu_backward(dout, cache):
    """out = max(x, 0)  =>  dx = dout * [x > 0]  (the cache is out; out > 0 iff x > 0)."""
    out = cache
    dx = dout * (out > 0)  # (...)
    return dx


# ----------------------------------------------------------------------------------------
# sum over the token axis: the MLP adds the embeddings of a and b

def sum_tokens_forward(x):
    """out[b] = sum_t x[b, t]."""
    out = x.sum(axis=-2)  # (..., d)
    return out, x.shape[-2]


def sum_tokens_backward(dout, cache):
    """out = sum_t x[t]  =>  dx[t] = dout for every t."""
    T = cache
    xp = array_module(dout)
    dx = xp.repeat(dout[..., None, :], T, axis=-2)  # (..., T, d)
    return dx
