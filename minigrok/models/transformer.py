"""The one-layer ReLU Transformer of the grokking-tickets papers (after Nanda et al.):
no LayerNorm, no positional embedding, no biases, causal attention over the tokens [a, b],
logits read at the last position.

    x0     = W_E[:, tokens].T                                (B, T, d)   token embeddings
    att_h  = softmax(mask(x0 W_Q[h].T (x0 W_K[h].T).T / sqrt(d_head)))   (B, H, T, T) causal
    x1     = x0 + concat_h(att_h @ (x0 @ W_V[h].T)) @ W_O.T  (B, T, d)   attention + residual
    x2     = x1 + relu(x1 @ W_in.T) @ W_out.T                (B, T, d)   MLP + residual
    logits = x2[:, -1] @ W_U                                 (B, p)

Defaults: d = d_head = d_mlp = 128, one head, T = n_ctx = 2. Parameter names and shapes
are the public checkpoint format: W_E (d, p), W_Q / W_K / W_V (H, d_head, d),
W_O (d, H*d_head), W_in (d_mlp, d), W_out (d, d_mlp), W_U (d, p).

Only the last position reaches the logits, so forward() computes the attention's query
and output, and the MLP, at the last position only (every position is still a key and a
value): the same logits and gradients as computing them everywhere, for ~20% less work.
"""

from .. import attention, layers
from ..backend import array_module
from .init import normal_init

PARAM_NAMES = ("W_E", "W_Q", "W_K", "W_V", "W_O", "W_in", "W_out", "W_U")
DEFAULTS = {"d_model": 128, "d_head": 128, "d_mlp": 128, "n_heads": 1, "n_ctx": 2, "kappa": 1.0}


def param_names(cfg):
    """The parameter names, in init order (the same for every size)."""
    return PARAM_NAMES


def param_shapes(cfg):
    """{name: (shape, fan_in)}; the init std of a matrix is kappa / sqrt(fan_in).

    fan_in is the size of the axis the matrix is applied along, except for W_O and W_out,
    which use d_model as the reference code does; the two agree at
    the defaults, where n_heads * d_head = d_mlp = d_model.
    """
    p, d, e, H, d_mlp = cfg["p"], cfg["d_model"], cfg["d_head"], cfg["n_heads"], cfg["d_mlp"]
    return {
        "W_E": ((d, p), p),  # a column per token: fan_in = p (one-hot input)
        "W_Q": ((H, e, d), d),
        "W_K": ((H, e, d), d),
        "W_V": ((H, e, d), d),
        "W_O": ((d, H * e), d),  # applied along H*e; std 1/sqrt(d) as the reference code
        "W_in": ((d_mlp, d), d),
        "W_out": ((d, d_mlp), d),  # applied along d_mlp; std 1/sqrt(d) as the reference code
        "W_U": ((d, p), d),  # logits = x @ W_U: fan_in = d
    }


def init(cfg, rng):
    """W ~ N(0, (kappa / sqrt(fan_in))^2) for every matrix, drawn on the host in the
    order of PARAM_NAMES with the given numpy Generator; returns NumPy arrays."""
    return normal_init(param_shapes(cfg), cfg["kappa"], cfg.get("dtype", "float32"), rng)


def forward(params, tokens):
    """logits (B, p) at the last position for tokens (B, T); see the module docstring.
    cache[1]["pattern"] is the last query's attention pattern (B, H, 1, T)."""
    x0, c_embed = layers.embed_forward(params["W_E"], tokens)  # (B, T, d)
    a, c_att = attention.attention_forward(x0, params["W_Q"], params["W_K"], params["W_V"],
                                        params["W_O"], causal=True, n_queries=1)  # (B, 1, d)
    x1 = x0[..., -1, :] + a[..., 0, :]  # (B, d) residual stream after the attention, last position
    x2, c_mlp = layers.residual_mlp_forward(x1, params["W_in"], params["W_out"])  # (B, d)
    logits, c_unembed = layers.unembed_forward(x2, params["W_U"])  # (B, p)
    return logits, (c_embed, c_att, c_mlp, c_unembed)


def backward(dlogits, cache):
    """Gradients of every parameter, same keys as params, walking forward() in reverse."""
    c_embed, c_att, c_mlp, c_unembed = cache
    grads = {}
    dx2, grads["W_U"] = layers.unembed_backward(dlogits, c_unembed)  # (B, d), (d, p)
    dx1, grads["W_in"], grads["W_out"] = layers.residual_mlp_backward(dx2, c_mlp)  # (B, d)
    dx0, grads["W_Q"], grads["W_K"], grads["W_V"], grads["W_O"] = \
        attention.attention_backward(dx1[..., None, :], c_att)  # (B, T, d), (H, e, d) x3, (d, H*e)
    dx0[..., -1, :] += dx1  # x1 = x0[:, -1] + a[:, 0]: the residual path
    grads["W_E"] = layers.embed_backward(dx0, c_embed)  # (d, p)
    return {name: grads[name] for name in PARAM_NAMES}


def attention_pattern(params, tokens):
    """The attention pattern (B, H, T, T): att[b, h, i, j] = weight query i gives key j."""
    x0, _ = layers.embed_forward(params["W_E"], tokens)  # (B, T, d)
    _, c_att = attention.attention_forward(x0, params["W_Q"], params["W_K"], params["W_V"],
                                        params["W_O"], causal=True)
    return c_att["pattern"]  # (B, H, T, T)


# ----------------------------------------------------------------------------------------
# The same function, tabulated through the ReLU: the fast path the trainer uses.
#
# With no positional embedding and no LayerNorm, every vector before the MLP's ReLU is a
# token's embedding pushed through fixed matrices. There are only p tokens, so all of
# them can be computed once per step for the p tokens ("virtual weights", as the MLP's
# factored form in models/mlp.py), and an example only looks rows up:
#
#     E     = W_E.T                           (p, d)        a row per token
#     Q[h]  = E W_Q[h].T, K[h], V[h] alike    (H, p, e)     per-head tables
#     S[h]  = Q[h] K[h].T / sqrt(e)           (H, p, p)     S[h][u, v]: the score query token u gives key token v
#     VO[h] = V[h] W_O[:, h].T                (H, p, d)     what head h writes for a token it reads
#     X     = [E; VO[0]; ...; VO[H-1]]        ((1+H)p, d)   everything the residual stream x1 is a sum of
#     R     = [W_in.T | W_U]                  (d, d_mlp+p)  the two readers of x1: the MLP and the unembedding
#     XR    = X R                             ((1+H)p, d_mlp+p)
#     M     = W_out.T W_U                     (d_mlp, p)    the MLP's output, read by the unembedding
#
# For one example with tokens t_1 .. t_T (the query is the last, t_T, which sees every
# position, so the causal mask removes nothing), head h weighs position j by
#
#     alpha[h, j] = softmax_j S[h][t_T, t_j]
#     x1          = E[t_T] + sum_h sum_j alpha[h, j] VO[h][t_j]           (d,)
#     [pre | direct] = x1 R = XR[t_T] + sum_h sum_j alpha[h, j] XR[(1+h)p + t_j]
#     logits      = direct + relu(pre) M                                   (p,)
#
# since x2 W_U = (x1 + relu(x1 W_in.T) W_out.T) W_U = x1 W_U + relu(pre) M. Per example
# this is 1 + H*T row lookups and one d_mlp x p product instead of the projections, the
# attention, W_O, W_in, W_out and W_U on every example: the matrix products run on p-row
# tables. The backward walks the same steps: the gradient g = [dpre | dlogits] of the
# looked-up rows is scatter-added back into XR (weighted by alpha), gives dalpha = g . XR[row]
# and through the softmax the scores' gradient, scatter-added into a p x p table dS; then
# each table product's gradient is a product of p-row matrices. The same logits and
# gradients as forward/backward above (to ~1e-15 in float64, tested), rounded in another
# order in float32.

def _head_tables(E, W):
    """T[h] = E @ W[h].T for every head: (..., H, p, e) from E (..., p, d), W (..., H, e, d)."""
    H, e, d = W.shape[-3:]
    table, c_linear = layers.linear_forward(E, W.reshape(W.shape[:-3] + (H * e, d)))  # (..., p, H*e)
    return attention.split_heads(table, H), (c_linear, W.shape)  # (..., H, p, e)


def _head_tables_backward(dT, cache):
    """T[h] = E @ W[h].T  =>  dE = sum_h dT[h] @ W[h],  dW[h] = dT[h].T @ E."""
    c_linear, W_shape = cache
    dE, dW = layers.linear_backward(attention.merge_heads(dT), c_linear)  # (..., p, d), (..., H*e, d)
    return dE, dW.reshape(W_shape)


def _output_heads(W_O, H):
    """W_O (..., d, H*e) as per-head matrices (..., H, e, d): VO[h] = V[h] @ out[h]."""
    d, He = W_O.shape[-2:]
    per_head = W_O.reshape(W_O.shape[:-2] + (d, H, He // H))  # (..., d, H, e)
    return per_head.swapaxes(-3, -2).swapaxes(-2, -1)  # (..., H, e, d)


def forward_tabulated(params, tokens):
    """forward() through the tables above: logits (..., B, p) for tokens (..., B, T).
    Also for K stacked models: params of shape (K, ...) and tokens (K, B, T)."""
    xp = array_module(tokens)
    W_E, W_Q, W_K, W_V, W_O, W_in, W_out, W_U = (params[k] for k in PARAM_NAMES)
    H, e, d = W_Q.shape[-3:]
    lead, p, d_mlp = W_E.shape[:-2], W_E.shape[-1], W_in.shape[-2]
    B, T = tokens.shape[-2:]
    # the tables: products of p-row matrices
    E = W_E.swapaxes(-1, -2)  # (..., p, d)
    Q, c_Q = _head_tables(E, W_Q)  # (..., H, p, e)
    K, c_K = _head_tables(E, W_K)  # (..., H, p, e)
    V, c_V = _head_tables(E, W_V)  # (..., H, p, e)
    scale = 1.0 / e ** 0.5
    S = (Q @ K.swapaxes(-1, -2)) * scale  # (..., H, p, p)
    O = _output_heads(W_O, H)  # (..., H, e, d)
    VO = V @ O  # (..., H, p, d)
    X = xp.concatenate([E[..., None, :, :], VO], axis=-3).reshape(lead + ((1 + H) * p, d))  # (..., (1+H)p, d)
    R = xp.concatenate([W_in.swapaxes(-1, -2), W_U], axis=-1)  # (..., d, d_mlp + p)
    XR = X @ R  # (..., (1+H)p, d_mlp + p)
    M = W_out.swapaxes(-1, -2) @ W_U  # (..., d_mlp, p)
    # the attention weights of the last query, looked up in the score table; laid out
    # (..., H, T, B), examples last, so the softmax reduces over a short middle axis
    query, keys = tokens[..., -1], tokens.swapaxes(-1, -2)  # (..., B), (..., T, B)
    heads = xp.arange(H).reshape((H, 1, 1))  # (H, 1, 1)
    score_index = (heads * p + query[..., None, None, :]) * p + keys[..., None, :, :]  # (..., H, T, B) into S
    s = layers.lookup_rows(S.reshape(lead + (H * p * p, 1)), score_index)[..., 0]  # (..., H, T, B)
    alpha, c_softmax = attention.softmax_forward(s, axis=-2)  # (..., H, T, B) over the T positions
    # the residual stream read by W_in and W_U: 1 + H*T weighted rows of XR per example
    rows = xp.concatenate([query[..., None, :], ((1 + heads) * p + keys[..., None, :, :]).reshape(lead + (H * T, B))],
                          axis=-2).swapaxes(-1, -2)  # (..., B, 1+H*T) the rows of E[t_T] and of VO[h][t_j]
    weights = xp.concatenate([xp.ones(lead + (1, B), dtype=alpha.dtype), alpha.reshape(lead + (H * T, B))],
                             axis=-2).swapaxes(-1, -2)  # (..., B, 1+H*T)
    pre_direct, c_lookup = layers.weighted_lookup_forward(XR, rows, weights)  # (..., B, d_mlp+p)
    hidden, c_relu = layers.relu_forward(pre_direct[..., :d_mlp])  # (..., B, d_mlp)
    logits = hidden @ M  # (..., B, p)
    logits += pre_direct[..., d_mlp:]  # (..., B, p) the direct path x1 W_U
    cache = (params, (Q, K, V), (c_Q, c_K, c_V), O, X, R, M, hidden, score_index, c_softmax,
             c_lookup, scale)
    return logits, cache


def backward_tabulated(dlogits, cache):
    """Gradients of forward_tabulated, walking it in reverse (see the derivation above)."""
    xp = array_module(dlogits)
    params, (Q, K, V), (c_Q, c_K, c_V), O, X, R, M, hidden, score_index, c_softmax, c_lookup, scale = cache
    W_E, W_Q, W_K, W_V, W_O, W_in, W_out, W_U = (params[k] for k in PARAM_NAMES)
    lead, p, d_mlp = W_E.shape[:-2], W_E.shape[-1], W_in.shape[-2]
    H, T, B = score_index.shape[-3:]
    # logits = direct + hidden @ M, hidden = relu(pre)
    dM = hidden.swapaxes(-1, -2) @ dlogits  # (..., d_mlp, p)
    dpre = layers.relu_backward(dlogits @ M.swapaxes(-1, -2), hidden)  # (..., B, d_mlp)
    g = xp.concatenate([dpre, dlogits], axis=-1)  # (..., B, d_mlp + p) gradient of [pre | direct]
    # [pre | direct] = sum_j weights[j] XR[rows[j]]; the weights past the first are alpha
    dweights, dXR = layers.weighted_lookup_backward(g, c_lookup)  # (..., B, 1+H*T), (..., (1+H)p, C)
    dalpha = dweights[..., 1:].swapaxes(-1, -2).reshape(lead + (H, T, B))  # (..., H, T, B)
    ds = attention.softmax_backward(dalpha, c_softmax)  # (..., H, T, B)
    dS = layers.scatter_add(score_index.reshape(lead + (H * T * B,)), ds.reshape(lead + (H * T * B,)),
                            H * p * p)  # (..., H*p*p) the scores' table gradient
    dS = dS.reshape(lead + (H, p, p)) * scale  # (..., H, p, p) gradient of Q K.T
    # the table products, each a product of p-row matrices
    dX = dXR @ R.swapaxes(-1, -2)  # (..., (1+H)p, d)
    dR = X.swapaxes(-1, -2) @ dXR  # (..., d, d_mlp + p)
    dE = dX[..., :p, :]  # (..., p, d) the residual path E[t_T]
    dVO = dX[..., p:, :].reshape(lead + (H, p, dX.shape[-1]))  # (..., H, p, d)
    dV = dVO @ O.swapaxes(-1, -2)  # (..., H, p, e)
    dO = V.swapaxes(-1, -2) @ dVO  # (..., H, e, d)
    dQ = dS @ K  # (..., H, p, e)
    dK = dS.swapaxes(-1, -2) @ Q  # (..., H, p, e)
    grads = {}
    dE_Q, grads["W_Q"] = _head_tables_backward(dQ, c_Q)
    dE_K, grads["W_K"] = _head_tables_backward(dK, c_K)
    dE_V, grads["W_V"] = _head_tables_backward(dV, c_V)
    grads["W_E"] = (dE + dE_Q + dE_K + dE_V).swapaxes(-1, -2)  # (..., d, p)
    grads["W_O"] = dO.swapaxes(-2, -1).swapaxes(-3, -2).reshape(W_O.shape)  # (..., d, H*e)
    grads["W_in"] = dR[..., :d_mlp].swapaxes(-1, -2)  # (..., d_mlp, d)
    grads["W_out"] = W_U @ dM.swapaxes(-1, -2)  # (..., d, d_mlp)  from M = W_out.T W_U
    grads["W_U"] = dR[..., d_mlp:] + W_out @ dM  # (..., d, p)  read from x1 and through M
    return {name: grads[name] for name in PARAM_NAMES}


# The functions the trainer and its evaluation call (train.py); forward/backward above
# stay the reference.
train_forward, train_backward = forward_tabulated, backward_tabulated
