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
# The same function, factored: the fast path the trainer uses.
#
# The attention reads the token embeddings themselves (no positional embedding, no
# LayerNorm), and there are only p distinct tokens, so the query, key and value of every
# token can be tabulated first, as the MLP's "virtual weights" (models/mlp.py):
#
#     E     = W_E.T                (p, d)       the embedding table, a row per token
#     K_tab = E @ W_K.T            (p, H*e)     k[b, t] = K_tab[tokens[b, t]], same for q, v
#
# The projections then cost p = 67 rows instead of B*T = 1822; the backward scatters the
# gradients of q, k and v into per-token tables (one one-hot matmul each) and takes the
# table products' gradients. The same logits and gradients as forward/backward above
# (equal to ~1e-15 in float64, tested), rounded in another order in float32.

def _token_table_forward(E, W, tokens):
    """out[..., b, h, t, :] = (E @ W[h].T)[tokens[..., b, t]]: a per-head projection of
    every token's embedding, tabulated (p rows) and then looked up: (..., B, H, T, e)."""
    H, e, d = W.shape[-3:]
    table, c_table = layers.linear_forward(E, W.reshape(W.shape[:-3] + (H * e, d)))  # (..., p, H*e)
    rows = layers.lookup_rows(table, tokens)  # (..., B, T, H*e)
    return attention.split_heads(rows, H), (c_table, table.shape, tokens, W.shape)


def _token_table_backward(dout, cache):
    """out = (E @ W.T)[tokens], heads split  =>  dtable = scatter-add of dout by token,
    then dE = dtable @ W and dW = dtable.T @ E."""
    c_table, table_shape, tokens, W_shape = cache
    dtable = layers.lookup_rows_backward(attention.merge_heads(dout), tokens, table_shape)  # (..., p, H*e)
    dE, dW = layers.linear_backward(dtable, c_table)  # (..., p, d), (..., H*e, d)
    return dE, dW.reshape(W_shape)


def forward_factored(params, tokens):
    """forward() with the query, key and value of each token tabulated first (see above).
    Also for K stacked models: params of shape (K, ...) and tokens (K, B, T)."""
    E = params["W_E"].swapaxes(-1, -2)  # (..., p, d) a row per token
    last = tokens[..., -1:]  # (..., B, 1) the token at the query position
    q, c_q = _token_table_forward(E, params["W_Q"], last)  # (..., B, H, 1, e)
    k, c_k = _token_table_forward(E, params["W_K"], tokens)  # (..., B, H, T, e)
    v, c_v = _token_table_forward(E, params["W_V"], tokens)  # (..., B, H, T, e)
    a, c_att = attention.attend_forward(q, k, v, params["W_O"], causal=True)  # (..., B, 1, d)
    x1 = layers.lookup_rows(E, tokens[..., -1]) + a[..., 0, :]  # (..., B, d) x0[:, -1] + a
    x2, c_mlp = layers.residual_mlp_forward(x1, params["W_in"], params["W_out"])  # (..., B, d)
    logits, c_unembed = layers.unembed_forward(x2, params["W_U"])  # (..., B, p)
    return logits, (tokens, E.shape, c_q, c_k, c_v, c_att, c_mlp, c_unembed)


def backward_factored(dlogits, cache):
    """Gradients of forward_factored, walking it in reverse; W_E collects the gradient of
    its table from the query, key, value and residual paths."""
    tokens, E_shape, c_q, c_k, c_v, c_att, c_mlp, c_unembed = cache
    grads = {}
    dx2, grads["W_U"] = layers.unembed_backward(dlogits, c_unembed)  # (..., B, d)
    dx1, grads["W_in"], grads["W_out"] = layers.residual_mlp_backward(dx2, c_mlp)  # (..., B, d)
    dq, dk, dv, grads["W_O"] = attention.attend_backward(dx1[..., None, :], c_att)
    dE_q, grads["W_Q"] = _token_table_backward(dq, c_q)  # (..., p, d), (..., H, e, d)
    dE_k, grads["W_K"] = _token_table_backward(dk, c_k)
    dE_v, grads["W_V"] = _token_table_backward(dv, c_v)
    dE_x = layers.lookup_rows_backward(dx1, tokens[..., -1], E_shape)  # the residual path
    grads["W_E"] = (dE_q + dE_k + dE_v + dE_x).swapaxes(-1, -2)  # (..., d, p)
    return {name: grads[name] for name in PARAM_NAMES}


# The functions the trainer calls (train.py); forward/backward above stay the reference.
train_forward, train_backward = forward_factored, backward_factored
