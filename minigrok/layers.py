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
import math

from scipy import sparse

from .backend import array_module


# ----------------------------------------------------------------------------------------
# embedding: a table lookup, whose backward is a scatter-add

def one_hot(indices, n, dtype):
    """one_hot(i, n)[..., j] = 1 if i == j else 0: shape indices.shape + (n,)."""
    xp = array_module(indices)
    out = xp.zeros(indices.shape + (n,), dtype=dtype)  # (..., n)
    xp.put_along_axis(out, indices[..., None], 1, axis=-1)  # a 1 at each index
    return out


def lookup_rows(table, indices):
    """out[..., :] = table[indices[...], :] for a table (V, d); for K stacked tables
    (K, V, d) the indices (K, ...) pick rows of their own model's table."""
    if table.ndim == 2:
        return table[indices]  # (..., d)
    xp = array_module(table)
    K, V, d = table.shape
    first_row = (xp.arange(K) * V).reshape((K,) + (1,) * (indices.ndim - 1))  # (K, 1, ...)
    return table.reshape(K * V, d)[indices + first_row]  # (K, ..., d) one gather for all K


def lookup_rows_backward(dout, indices, table_shape):
    """out = table[indices]  =>  dtable[v] = sum of dout over the positions whose index is
    v: a scatter-add, written as a matmul with the one-hot matrix of the indices (see
    embed_backward). table_shape is (V, d), or (K, V, d) for K stacked tables."""
    lead, (V, d) = tuple(table_shape[:-2]), tuple(table_shape[-2:])
    onehot = one_hot(indices.reshape(lead + (-1,)), V, dout.dtype)  # (..., N, V)
    return onehot.swapaxes(-1, -2) @ dout.reshape(lead + (-1, d))  # (..., V, d)


# ----------------------------------------------------------------------------------------
# weighted lookup: a weighted sum of a few rows of a table per example, whose backward
# is a weighted scatter-add (the tabulated Transformer, models/transformer.py)

def weighted_lookup_forward(table, indices, weights):
    """out[..., b, :] = sum_j weights[..., b, j] * table[indices[..., b, j], :]: J rows of a
    table (G, C) per example (indices, weights (..., B, J)); K stacked tables (K, G, C)
    take indices (K, B, J) into their own table. out is (..., B, C).

    It is the product W @ table with the (B, G) matrix W holding J weights per row. On
    NumPy W is a scipy.sparse CSR matrix (K stacked models: one block-diagonal matrix), so
    forward and backward cost ~J*B*C multiply-adds, summed in a fixed order; elsewhere
    (CuPy) W is dense and the products are GEMMs.
    """
    xp = array_module(table)
    G, C = table.shape[-2:]
    W = weight_matrix(indices, weights, G)  # (K*B, K*G) sparse, or (..., B, G) dense
    if xp.__name__ == "numpy":
        out = (W @ table.reshape(-1, C)).reshape(indices.shape[:-1] + (C,))  # (..., B, C)
    else:
        out = W @ table  # (..., B, C)
    return out, (W, table, indices)


def weighted_lookup_backward(dout, cache):
    """out[b] = sum_j weights[b, j] table[indices[b, j]]  =>
    dweights[b, j] = dout[b] . table[indices[b, j]],
    dtable[r] = sum over (b, j) with indices[b, j] == r of weights[b, j] dout[b] = W.T @ dout."""
    W, table, indices = cache
    xp = array_module(dout)
    G, C = table.shape[-2:]
    dweights = xp.einsum("...bc,...bjc->...bj", dout, lookup_rows(table, indices))  # (..., B, J)
    if xp.__name__ == "numpy":
        dtable = (W.T @ dout.reshape(-1, C)).reshape(table.shape)  # (..., G, C)
    else:
        dtable = W.swapaxes(-1, -2) @ dout  # (..., G, C)
    return dweights, dtable


def weight_matrix(indices, weights, n_columns):
    """W[..., b, r] = sum over j with indices[..., b, j] == r of weights[..., b, j]: the
    (B, n_columns) matrix of a weighted lookup. On NumPy a scipy.sparse CSR matrix
    (K*B, K*n_columns), block-diagonal over the K = prod(leading axes) models; elsewhere
    a dense (..., B, n_columns) array."""
    xp = array_module(weights)
    lead, (B, J) = indices.shape[:-2], indices.shape[-2:]
    if xp.__name__ != "numpy":
        W = xp.zeros(lead + (B, n_columns), dtype=weights.dtype)  # (..., B, n_columns)
        for j in range(J):
            W += one_hot(indices[..., j], n_columns, weights.dtype) * weights[..., j, None]
        return W
    n_models = math.prod(lead)
    first_column = (xp.arange(n_models) * n_columns).reshape(lead + (1, 1))  # (..., 1, 1)
    columns = (indices + first_column).ravel().astype(xp.int32)  # (K*B*J,) J entries per row
    starts = xp.arange(0, n_models * B * J + 1, J, dtype=xp.int32)  # (K*B + 1,) where rows start
    return sparse.csr_matrix((weights.ravel(), columns, starts), shape=(n_models * B, n_models * n_columns))


def scatter_add(indices, weights, n):
    """out[..., r] = sum of weights[..., i] over the i with indices[..., i] == r: (..., n)
    (indices, weights (..., N)). NumPy: one bincount over all K models, summed in float64
    and cast back; elsewhere a one-hot product."""
    xp = array_module(weights)
    lead = indices.shape[:-1]
    if xp.__name__ != "numpy":
        return (weights[..., None, :] @ one_hot(indices, n, weights.dtype))[..., 0, :]  # (..., n)
    n_models = math.prod(lead)
    first = (xp.arange(n_models) * n).reshape(lead + (1,))  # (..., 1)
    out = xp.bincount((indices + first).ravel(), weights.ravel(), minlength=n_models * n)
    return out.astype(weights.dtype).reshape(lead + (n,))  # (..., n)


def embed_forward(W_E, tokens):
    """x[..., b, t, :] = W_E[..., :, tokens[..., b, t]]   (W_E is (d, V) or (K, d, V), one
    column per token; tokens (B, T) or (K, B, T))."""
    x = lookup_rows(W_E.swapaxes(-1, -2), tokens)  # (..., B, T, d)
    return x, (W_E.shape, W_E.dtype, tokens)


def embed_backward(dx, cache):
    """x[b, t] = W_E[:, tokens[b, t]]  =>  dW_E[:, v] = sum over (b, t) with tokens[b, t] == v of dx[b, t].

    The scatter-add is written as a matmul with the one-hot matrix of the tokens; on a
    CPU and a GPU this beats `add.at` by ~8x at the paper's sizes and sums in a fixed order.
    """
    W_shape, dtype, tokens = cache
    lead, (d, V) = W_shape[:-2], W_shape[-2:]  # lead = () or (K,)
    onehot = one_hot(tokens.reshape(lead + (-1,)), V, dtype)  # (..., B*T, V)
    dW_E = dx.reshape(lead + (-1, d)).swapaxes(-1, -2) @ onehot  # (..., d, V)
    return dW_E


# ----------------------------------------------------------------------------------------
# stacked models: W (K, out, in) meets x (K, B, ..., in)

def fold_batch(x, W):
    """View x (..., n) as (N, n), or as (K, N, n) when W (K, a, b) stacks K models: every
    batch axis is folded into N, so one matrix product per model covers the whole batch
    (NumPy would otherwise loop over the batch axes, one small GEMM each)."""
    return x.reshape(W.shape[:-2] + (-1, x.shape[-1]))  # (N, n) or (K, N, n)


# ----------------------------------------------------------------------------------------
# linear layer without bias: out = x @ W.T

def linear_forward(x, W):
    """out = x @ W.T   (x is (..., in), W is (out, in) or (K, out, in))."""
    out = fold_batch(x, W) @ W.swapaxes(-1, -2)  # (N, out) or (K, N, out)
    return out.reshape(x.shape[:-1] + out.shape[-1:]), (x, W)  # (..., out)


def linear_backward(dout, cache):
    """out = x @ W.T  =>  dx = dout @ W,  dW = dout.T @ x summed over the batch axes."""
    x, W = cache
    dout2 = fold_batch(dout, W)  # (N, out) or (K, N, out)
    dx = (dout2 @ W).reshape(x.shape)  # (..., in)
    dW = dout2.swapaxes(-1, -2) @ fold_batch(x, W)  # (out, in) or (K, out, in)
    return dx, dW


# ----------------------------------------------------------------------------------------
# unembedding: logits = x @ W_U   (W_U is (d, V), the checkpoint layout)

def unembed_forward(x, W_U):
    """logits = x @ W_U   (x is (..., d), W_U is (d, V) or (K, d, V))."""
    logits = fold_batch(x, W_U) @ W_U  # (N, V) or (K, N, V)
    return logits.reshape(x.shape[:-1] + logits.shape[-1:]), (x, W_U)  # (..., V)


def unembed_backward(dlogits, cache):
    """logits = x @ W_U  =>  dx = dlogits @ W_U.T,  dW_U = x.T @ dlogits."""
    x, W_U = cache
    dlogits2 = fold_batch(dlogits, W_U)  # (N, V) or (K, N, V)
    dx = (dlogits2 @ W_U.swapaxes(-1, -2)).reshape(x.shape)  # (..., d)
    dW_U = fold_batch(x, W_U).swapaxes(-1, -2) @ dlogits2  # (d, V) or (K, d, V)
    return dx, dW_U


# ----------------------------------------------------------------------------------------
# ReLU

def relu_forward(x):
    """out = max(x, 0)."""
    xp = array_module(x)
    out = xp.maximum(x, 0)  # (...)  keeps the dtype; exact zeros below the kink
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


# ----------------------------------------------------------------------------------------
# the residual ReLU MLP block: out = x + relu(x @ W_in.T) @ W_out.T

def residual_mlp_forward(x, W_in, W_out):
    """out = x + relu(x @ W_in.T) @ W_out.T   (x is (..., d), W_in (d_mlp, d), W_out (d, d_mlp))."""
    pre, c_in = linear_forward(x, W_in)  # (..., d_mlp)
    h, c_relu = relu_forward(pre)  # (..., d_mlp)
    y, c_out = linear_forward(h, W_out)  # (..., d)
    return x + y, (c_in, c_relu, c_out)  # (..., d)


def residual_mlp_backward(dout, cache):
    """out = x + relu(x @ W_in.T) @ W_out.T  =>  dx = dout + (the MLP's dx), dW_in, dW_out;
    the residual path hands dout to x unchanged."""
    c_in, c_relu, c_out = cache
    dh, dW_out = linear_backward(dout, c_out)  # (..., d_mlp), (d, d_mlp)
    dpre = relu_backward(dh, c_relu)  # (..., d_mlp)
    dx_mlp, dW_in = linear_backward(dpre, c_in)  # (..., d), (d_mlp, d)
    return dout + dx_mlp, dW_in, dW_out  # (..., d)


# ----------------------------------------------------------------------------------------
# read one position of a sequence: the Transformer predicts from the last token

def last_token_forward(x):
    """out[...] = x[..., T-1, :]   (x is (..., T, d))."""
    return x[..., -1, :], (x.shape, x.dtype)  # (..., d)


def last_token_backward(dout, cache):
    """out = x[..., T-1, :]  =>  dx[..., T-1, :] = dout and dx = 0 at every other position."""
    shape, dtype = cache
    xp = array_module(dout)
    dx = xp.zeros(shape, dtype=dtype)  # (..., T, d)
    dx[..., -1, :] = dout
    return dx
