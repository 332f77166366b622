"""The embedding MLP of the grokking-tickets papers (no biases, no LayerNorm).

    e      = W_E[:, a] + W_E[:, b]        (B, d_emb)     sum of the two token embeddings
    h      = relu(e @ W_in.T)             (B, d_hidden)
    z      = h @ W_out.T                  (B, d_emb)     no activation
    logits = z @ W_U                      (B, p)

Parameter names and shapes are the public checkpoint format:
W_E (d_emb, p), W_in (d_hidden, d_emb), W_out (d_emb, d_hidden), W_U (d_emb, p).
"""

from .. import layers
from .init import normal_init

PARAM_NAMES = ("W_E", "W_in", "W_out", "W_U")
DEFAULTS = {"d_emb": 500, "d_hidden": 48, "kappa": 1.0}


def param_names(cfg):
    """The parameter names, in init order (the same for every size)."""
    return PARAM_NAMES


def param_shapes(cfg):
    """{name: (shape, fan_in)}; fan_in is the size of the axis the matrix is applied along."""
    p, d_emb, d_hidden = cfg["p"], cfg["d_emb"], cfg["d_hidden"]
    return {
        "W_E": ((d_emb, p), p),  # a column per token: fan_in = p (one-hot input)
        "W_in": ((d_hidden, d_emb), d_emb),
        "W_out": ((d_emb, d_hidden), d_hidden),
        "W_U": ((d_emb, p), d_emb),  # logits = z @ W_U: fan_in = d_emb
    }


def init(cfg, rng):
    """W ~ N(0, (kappa / sqrt(fan_in))^2) for every matrix, drawn on the host in the
    order of PARAM_NAMES with the given numpy Generator; returns NumPy arrays."""
    return normal_init(param_shapes(cfg), cfg["kappa"], cfg.get("dtype", "float32"), rng)


def forward(params, tokens):
    """logits = relu((W_E[:, a] + W_E[:, b]) @ W_in.T) @ W_out.T @ W_U for tokens (B, 2)."""
    x, c_embed = layers.embed_forward(params["W_E"], tokens)  # (B, 2, d_emb)
    e, c_sum = layers.sum_tokens_forward(x)  # (B, d_emb)
    pre, c_in = layers.linear_forward(e, params["W_in"])  # (B, d_hidden)
    h, c_relu = layers.relu_forward(pre)  # (B, d_hidden)
    z, c_out = layers.linear_forward(h, params["W_out"])  # (B, d_emb)
    logits, c_unembed = layers.unembed_forward(z, params["W_U"])  # (B, p)
    return logits, (c_embed, c_sum, c_in, c_relu, c_out, c_unembed)


def backward(dlogits, cache):
    """Gradients of every parameter, same keys as params, walking forward() in reverse."""
    c_embed, c_sum, c_in, c_relu, c_out, c_unembed = cache
    grads = {}
    dz, grads["W_U"] = layers.unembed_backward(dlogits, c_unembed)  # (B, d_emb), (d_emb, p)
    dh, grads["W_out"] = layers.linear_backward(dz, c_out)  # (B, d_hidden), (d_emb, d_hidden)
    dpre = layers.relu_backward(dh, c_relu)  # (B, d_hidden)
    de, grads["W_in"] = layers.linear_backward(dpre, c_in)  # (B, d_emb), (d_hidden, d_emb)
    dx = layers.sum_tokens_backward(de, c_sum)  # (B, 2, d_emb)
    grads["W_E"] = layers.embed_backward(dx, c_embed)  # (d_emb, p)
    return {name: grads[name] for name in PARAM_NAMES}


# ----------------------------------------------------------------------------------------
# The same function, factored: the fast path the trainer uses.
#
# Everything before the ReLU and everything after it is linear, so the products of the
# weight matrices can be taken first ("virtual weights"):
#
#     P = W_in @ W_E       (d_hidden, p)    pre = P[:, a] + P[:, b]   instead of W_in @ e
#     M = W_out.T @ W_U    (d_hidden, p)    logits = h @ M            instead of (h @ W_out.T) @ W_U
#
# At p = 67 this replaces GEMMs of size B x 500 x 48 by p x 500 x 48 ones: ~10x fewer
# FLOPs. It computes the same logits and gradients as forward/backward above (equal to
# ~1e-15 in float64, tested), only rounded in a different order in float32.

def _mT(A):
    """The transpose of the last two axes: A.T for one model, each model's for K stacked."""
    return A.swapaxes(-1, -2)


def token_counts(tokens, p, dtype):
    """C[..., b, v] = number of positions t with tokens[..., b, t] == v: (..., B, p)."""
    C = layers.one_hot(tokens[..., 0], p, dtype)  # (..., B, p)
    for t in range(1, tokens.shape[-1]):
        C += layers.one_hot(tokens[..., t], p, dtype)
    return C


def forward_factored(params, tokens):
    """logits = relu(P[:, a] + P[:, b]) @ M with P = W_in @ W_E, M = W_out.T @ W_U.

    Also for K stacked models: params of shape (K, ...) and tokens (K, B, 2)."""
    W_E, W_in, W_out, W_U = (params[k] for k in PARAM_NAMES)
    P_rows = (W_in @ W_E).swapaxes(-1, -2)  # (..., p, d_hidden) = P.T, a row per token
    pre = (layers.lookup_rows(P_rows, tokens[..., 0])
           + layers.lookup_rows(P_rows, tokens[..., 1]))  # (..., B, d_hidden)
    h = pre * (pre > 0)  # (..., B, d_hidden) relu
    M = W_out.swapaxes(-1, -2) @ W_U  # (..., d_hidden, p)
    logits = h @ M  # (..., B, p)
    return logits, (params, tokens, h, M)


def backward_factored(dlogits, cache):
    """Gradients of forward_factored, through the products P and M:
    dM = h.T @ dlogits, dh = dlogits @ M.T, dpre = dh [pre > 0], dP = dpre.T @ C (token
    counts); then P = W_in W_E gives dW_in = dP W_E.T, dW_E = W_in.T dP, and
    M = W_out.T W_U gives dW_out = W_U dM.T, dW_U = W_out dM."""
    params, tokens, h, M = cache
    W_E, W_in, W_out, W_U = (params[k] for k in PARAM_NAMES)
    dM = _mT(h) @ dlogits  # (..., d_hidden, p)
    dpre = (dlogits @ _mT(M)) * (h > 0)  # (..., B, d_hidden)
    dP = _mT(dpre) @ token_counts(tokens, W_E.shape[-1], dpre.dtype)  # (..., d_hidden, p)
    return {
        "W_E": _mT(W_in) @ dP,  # (..., d_emb, p)
        "W_in": dP @ _mT(W_E),  # (..., d_hidden, d_emb)
        "W_out": W_U @ _mT(dM),  # (..., d_emb, d_hidden)
        "W_U": W_out @ dM,  # (..., d_emb, p)
    }


# The functions the trainer calls (train.py); forward/backward above stay the reference.
train_forward, train_backward = forward_factored, backward_factored
