"""Attention, as forward/backward pairs in the style of layers.py.

    q, k, v = x W_Q[h].T, x W_K[h].T, x W_V[h].T        one projection per head h
    s       = q k.T / sqrt(d_head)                      scaled scores
    att     = softmax(causal_mask(s))                   a query sees itself and earlier keys
    z       = att v                                     weighted sum of the values
    out     = concat_h(z) W_O.T                         output projection

Each piece is its own pair; attention_forward/backward chain them for the Transformer.
Shapes: B = batch, H = heads, T = tokens, e = d_head, d = d_model.
"""
from .backend import array_module
from .layers import linear_backward, linear_forward

# ----------------------------------------------------------------------------------------
# attention heads: a projection per head, computed as one matmul over all heads
#
# Shapes: H = heads, e = d_head, T = tokens (queries and keys), d = d_model.
# W_Q / W_K / W_V are (H, e, d) (or (K, H, e, d) for K stacked models); W_O is (d, H*e).

def split_heads(y, n_heads):
    """(..., T, H*e) -> (..., H, T, e): y[..., t, h*e + i] becomes out[..., h, t, i].

    A pure rearrangement, so its backward is merge_heads (and merge_heads' is split_heads).
    """
    y = y.reshape(y.shape[:-1] + (n_heads, y.shape[-1] // n_heads))  # (..., T, H, e)
    return y.swapaxes(-3, -2)  # (..., H, T, e)


def merge_heads(z):
    """(..., H, T, e) -> (..., T, H*e): the heads side by side, the inverse of split_heads."""
    z = z.swapaxes(-3, -2)  # (..., T, H, e)
    return z.reshape(z.shape[:-2] + (z.shape[-2] * z.shape[-1],))  # (..., T, H*e)


def project_heads_forward(x, W):
    """out[..., h, t, :] = x[..., t, :] @ W[h].T   (x is (..., T, d), W is (H, e, d)).

    The H heads are stacked into one (H*e, d) matrix, so this is a single linear layer
    followed by split_heads.
    """
    H, e, d = W.shape[-3:]
    W_flat = W.reshape(W.shape[:-3] + (H * e, d))  # (H*e, d) or (K, H*e, d)
    y, c_linear = linear_forward(x, W_flat)  # (..., T, H*e)
    return split_heads(y, H), (c_linear, W.shape)  # (..., H, T, e)


def project_heads_backward(dout, cache):
    """out[..., h, t] = x[..., t] @ W[h].T  =>  dx = sum_h dout[..., h] @ W[h],
    dW[h] = sum over the batch axes and t of dout[..., h, t].T x[..., t]."""
    c_linear, W_shape = cache
    dy = merge_heads(dout)  # (..., T, H*e)
    dx, dW_flat = linear_backward(dy, c_linear)  # (..., T, d), (H*e, d) or (K, H*e, d)
    return dx, dW_flat.reshape(W_shape)  # (..., T, d), (H, e, d) or (K, H, e, d)


# ----------------------------------------------------------------------------------------
# attention scores: s = q @ k.T / sqrt(e)
#
# The products of the transposed attention matrices (ds.T @ q, att.T @ dz) contract over
# the few queries; they are written with einsum, since NumPy's matmul would make one BLAS
# call per example for these tiny outer products (~5x slower at T = 2).

def scores_forward(q, k):
    """s[..., i, j] = q[..., i, :] . k[..., j, :] / sqrt(e)   (q is (..., Tq, e), k is (..., Tk, e))."""
    scale = 1.0 / q.shape[-1] ** 0.5  # a Python float keeps the dtype
    s = (q @ k.swapaxes(-1, -2)) * scale  # (..., Tq, Tk)
    return s, (q, k, scale)


def scores_backward(ds, cache):
    """s = q @ k.T / sqrt(e)  =>  dq = ds @ k / sqrt(e),  dk = ds.T @ q / sqrt(e)."""
    q, k, scale = cache
    xp = array_module(ds)
    ds = ds * scale  # (..., Tq, Tk) scaled once, on the small array
    dq = ds @ k  # (..., Tq, e)
    dk = xp.einsum("...ij,...ie->...je", ds, q)  # (..., Tk, e) = ds.T @ q
    return dq, dk


# ----------------------------------------------------------------------------------------
# causal mask: a query sees the keys at its own position and before

def causal_mask_forward(s):
    """out[..., i, j] = s[..., i, j] if key j is not after query i, else -inf
    (s is (..., Tq, Tk)).

    The Tq queries are the last Tq of the Tk positions (Tq = Tk: all of them), so query i
    sits at position i + Tk - Tq and sees the keys j <= i + Tk - Tq. -inf (not a large
    negative number) makes the softmax weight of a masked key exactly 0 in every dtype.
    No row is all -inf, since a query always sees its own position, so the softmax never
    computes -inf - -inf.
    """
    xp = array_module(s)
    Tq, Tk = s.shape[-2:]
    query, key = xp.arange(Tq) + (Tk - Tq), xp.arange(Tk)  # (Tq,) positions, (Tk,)
    allowed = key[None, :] <= query[:, None]  # (Tq, Tk) lower triangle with the diagonal
    out = xp.where(allowed, s, xp.asarray(-xp.inf, dtype=s.dtype))  # (..., Tq, Tk)
    return out, allowed


def causal_mask_backward(dout, cache):
    """out = s where allowed, else the constant -inf  =>  ds = dout where allowed, else 0."""
    allowed = cache
    return dout * allowed  # (..., Tq, Tk)


# ----------------------------------------------------------------------------------------
# softmax over the last axis

def softmax_forward(s, axis=-1):
    """att[..., j] = exp(s[..., j] - max s) / sum_k exp(s[..., k] - max s)   (over `axis`,
    the last by default; a short axis that is not the last reduces much faster in NumPy)."""
    xp = array_module(s)
    z = xp.exp(s - s.max(axis=axis, keepdims=True))  # (...) the shift avoids overflow
    att = z / z.sum(axis=axis, keepdims=True)  # (...)
    return att, (att, axis)


def softmax_backward(datt, cache):
    """att = softmax(s)  =>  ds_j = att_j * (datt_j - sum_k att_k datt_k)   (over the axis)."""
    att, axis = cache
    return att * (datt - (att * datt).sum(axis=axis, keepdims=True))  # (...)


# ----------------------------------------------------------------------------------------
# weighted sum of the values: z = att @ v

def weighted_sum_forward(att, v):
    """z[..., i, :] = sum_j att[..., i, j] v[..., j, :]   (att is (..., Tq, Tk), v is (..., Tk, e))."""
    z = att @ v  # (..., Tq, e)
    return z, (att, v)


def weighted_sum_backward(dz, cache):
    """z = att @ v  =>  datt = dz @ v.T,  dv = att.T @ dz."""
    att, v = cache
    xp = array_module(dz)
    datt = dz @ v.swapaxes(-1, -2)  # (..., Tq, Tk)
    dv = xp.einsum("...ij,...ie->...je", att, dz)  # (..., Tk, e) = att.T @ dz
    return datt, dv


# ----------------------------------------------------------------------------------------
# multi-head attention, the sublayer of the Transformer (the residual add is the caller's)

def attend_forward(q, k, v, W_O, causal=True):
    """out = concat_h(softmax(mask(q_h @ k_h.T / sqrt(e))) @ v_h) @ W_O.T: attention from
    given per-head queries q (..., H, Tq, e) and keys and values k, v (..., H, T, e); the
    queries are the last Tq positions. out is (..., Tq, d).

    The cache is a dict; cache["pattern"] is the attention pattern att (..., H, Tq, T),
    att[..., h, i, j] = how much query i of head h reads key position j.
    """
    s, c_scores = scores_forward(q, k)  # (..., H, Tq, T)
    c_mask = None
    if causal:
        s, c_mask = causal_mask_forward(s)  # (..., H, Tq, T)
    att, c_softmax = softmax_forward(s)  # (..., H, Tq, T)
    z, c_sum = weighted_sum_forward(att, v)  # (..., H, Tq, e)
    out, c_o = linear_forward(merge_heads(z), W_O)  # (..., Tq, d)
    return out, {"scores": c_scores, "mask": c_mask, "softmax": c_softmax, "sum": c_sum,
                 "o": c_o, "pattern": att}


def attend_backward(dout, cache):
    """out = concat_h(softmax(mask(q_h @ k_h.T / sqrt(e))) @ v_h) @ W_O.T  =>  (dq, dk, dv,
    dW_O), each op's backward in reverse."""
    dz_merged, dW_O = linear_backward(dout, cache["o"])  # (..., Tq, H*e), (d, H*e)
    dz = split_heads(dz_merged, cache["pattern"].shape[-3])  # (..., H, Tq, e)
    datt, dv = weighted_sum_backward(dz, cache["sum"])  # (..., H, Tq, T), (..., H, T, e)
    ds = softmax_backward(datt, cache["softmax"])  # (..., H, Tq, T)
    if cache["mask"] is not None:
        ds = causal_mask_backward(ds, cache["mask"])  # (..., H, Tq, T)
    dq, dk = scores_backward(ds, cache["scores"])  # (..., H, Tq, e), (..., H, T, e)
    return dq, dk, dv, dW_O


def attention_forward(x, W_Q, W_K, W_V, W_O, causal=True, n_queries=None):
    """out = attend(q, k, v, W_O) with q_h = x @ W_Q[h].T, k_h = x @ W_K[h].T,
    v_h = x @ W_V[h].T   (x is (..., T, d)); see attend_forward.

    n_queries: compute the output at the last n_queries positions only (default: all T);
    a model that reads only the last position needs its query alone, and every position
    as a key and a value. out is (..., Tq, d) with Tq = n_queries or T; cache["pattern"]
    is the attention pattern (..., H, Tq, T).
    """
    T = x.shape[-2]
    Tq = T if n_queries is None else n_queries
    q, c_q = project_heads_forward(x[..., T - Tq:, :], W_Q)  # (..., H, Tq, e)
    k, c_k = project_heads_forward(x, W_K)  # (..., H, T, e)
    v, c_v = project_heads_forward(x, W_V)  # (..., H, T, e)
    out, cache = attend_forward(q, k, v, W_O, causal)  # (..., Tq, d)
    cache.update(q=c_q, k=c_k, v=c_v)
    return out, cache


def attention_backward(dout, cache):
    """out = attend(q, k, v, W_O) with q, k, v projections of x  =>  (dx, dW_Q, dW_K, dW_V,
    dW_O); x feeds q (at the last Tq positions), k and v, so dx sums three contributions."""
    dq, dk, dv, dW_O = attend_backward(dout, cache)  # (..., H, Tq or T, e), (d, H*e)
    dx_q, dW_Q = project_heads_backward(dq, cache["q"])  # (..., Tq, d), (H, e, d)
    dx_k, dW_K = project_heads_backward(dk, cache["k"])  # (..., T, d), (H, e, d)
    dx_v, dW_V = project_heads_backward(dv, cache["v"])  # (..., T, d), (H, e, d)
    dx = dx_k + dx_v  # (..., T, d)
    dx[..., dx.shape[-2] - dx_q.shape[-2]:, :] += dx_q  # the queries' positions
    return dx, dW_Q, dW_K, dW_V, dW_O
