"""SynFlow (Tanaka et al. 2020): iterative, data-free pruning by synaptic flow.

Linearise the network (every weight W -> |W|, times the current mask) and feed it the
all-ones input; R = 1^T f(1; |W|) is then a sum over input-to-output paths of products of
|weights| (the "synaptic flow"), and

    score_ij = |dR/dW_ij * W_ij|        (W_ij the linearised weight |W_ij|)

`synflow` prunes in rounds k = 1..n (n = 100), recomputing the scores of the pruned net
each round, down the exponential schedule density_k = density^(k / n). Pruned weights score
-1 and are never revived. Everything runs in float64.

The all-ones input, for each model (T = 2 token positions, p = vocabulary size):
  MLP: each position's one-hot vector is replaced by 1_p, so the embedding sum is
       e = |W_E| (2 * 1_p). Every pre-activation is then >= 0, the ReLU is the identity,
           R = 1_p^T |W_U|^T |W_out| |W_in| |W_E| (2 * 1_p)          (a matrix product)
       (the factor 2 scales every score alike and does not change the mask).
  Transformer: both positions hold x0 = |W_E| 1_p.
       attention='linear' (the default) drops the softmax: A = causal(q k^T / sqrt(e)) with
       zeros above the diagonal, z = A v. R is then a polynomial in |W| with non-negative
       coefficients and every weight carries flow. The residual stream stays >= 0, so the
       MLP block's ReLU is the identity too.
       attention='softmax' runs the model's own attention (Tanaka's recipe taken literally).
       With the same vector at both positions the attention pattern is the same whatever
       W_Q and W_K are, so dR/dW_Q = dR/dW_K = 0 exactly: SynFlow would prune W_Q and W_K
       before anything else. It is offered for comparison, not as the default.

The reference grokking-tickets code does something else, offered here under its own name,
`synflow_reference_one_round`: one round, |W|, a *data batch* (the training tokens) as the
input, R = the sum of the logits of the model's own forward (softmax included).
"""
from .. import attention as attention_ops
from .. import layers
from ..backend import array_module
from ..errors import MinigrokError
from ..masks import ones_like
from ..train import model_functions
from .magnitude import density_from, top_k_mask
from .snip import as_float64

ROUNDS = 100
N_CTX = 2  # tokens per example, (a, b)
ATTENTION = ("linear", "softmax")


# ----------------------------------------------------------------------------------------
# R and dR/dW of the linearised models (P holds the linearised weights |W| * mask)

def mlp_flow(P):
    """(R, dR/dP) of R = 1^T |W_U|^T |W_out| |W_in| |W_E| (2 * 1_p), P = |W| (float64)."""
    xp = array_module(*P.values())
    u = N_CTX * xp.ones(P["W_E"].shape[1], dtype=P["W_E"].dtype)  # (p,) sum of two all-ones inputs
    e = P["W_E"] @ u  # (d_emb,)
    h = P["W_in"] @ e  # (d_hidden,) >= 0, so relu(h) = h
    z = P["W_out"] @ h  # (d_emb,)
    out = z @ P["W_U"]  # (p,)
    dout = xp.ones_like(out)  # (p,) R = sum(out)
    dz = P["W_U"] @ dout  # (d_emb,)
    dh = P["W_out"].T @ dz  # (d_hidden,)
    de = P["W_in"].T @ dh  # (d_emb,)
    grads = {
        "W_E": xp.outer(de, u),  # (d_emb, p)     e = W_E u
        "W_in": xp.outer(dh, e),  # (d_hidden, d_emb)  h = W_in e
        "W_out": xp.outer(dz, h),  # (d_emb, d_hidden)  z = W_out h
        "W_U": xp.outer(z, dout),  # (d_emb, p)     out = z W_U
    }
    return out.sum(), grads


def linear_attention_forward(x, W_Q, W_K, W_V, W_O):
    """out = concat_h(causal0(q_h k_h^T / sqrt(e)) v_h) @ W_O.T: attention without the
    softmax, zeros (not -inf) above the diagonal   (x is (..., T, d))."""
    xp = array_module(x)
    q, c_q = attention_ops.project_heads_forward(x, W_Q)  # (..., H, T, e)
    k, c_k = attention_ops.project_heads_forward(x, W_K)  # (..., H, T, e)
    v, c_v = attention_ops.project_heads_forward(x, W_V)  # (..., H, T, e)
    s, c_s = attention_ops.scores_forward(q, k)  # (..., H, T, T)
    T = s.shape[-1]
    causal = xp.tril(xp.ones((T, T), dtype=s.dtype))  # (T, T) 1 where key j <= query i
    z, c_z = attention_ops.weighted_sum_forward(s * causal, v)  # (..., H, T, e)
    out, c_o = layers.linear_forward(attention_ops.merge_heads(z), W_O)  # (..., T, d)
    return out, (c_q, c_k, c_v, c_s, causal, c_z, c_o, W_Q.shape[-3])


def linear_attention_backward(dout, cache):
    """out = concat_h((causal * q_h k_h^T / sqrt(e)) v_h) @ W_O.T  =>  (dx, dW_Q, dW_K,
    dW_V, dW_O); x feeds q, k and v, so dx sums their three contributions."""
    c_q, c_k, c_v, c_s, causal, c_z, c_o, H = cache
    dz_merged, dW_O = layers.linear_backward(dout, c_o)  # (..., T, H*e), (d, H*e)
    dA, dv = attention_ops.weighted_sum_backward(attention_ops.split_heads(dz_merged, H), c_z)
    dq, dk = attention_ops.scores_backward(dA * causal, c_s)  # (..., H, T, e) each
    dx_q, dW_Q = attention_ops.project_heads_backward(dq, c_q)
    dx_k, dW_K = attention_ops.project_heads_backward(dk, c_k)
    dx_v, dW_V = attention_ops.project_heads_backward(dv, c_v)
    return dx_q + dx_k + dx_v, dW_Q, dW_K, dW_V, dW_O


def transformer_flow(P, attention="linear"):
    """(R, dR/dP) of the linearised Transformer on the all-ones input (module docstring)."""
    xp = array_module(*P.values())
    d, p = P["W_E"].shape
    u = xp.ones((1, N_CTX, p), dtype=P["W_E"].dtype)  # (1, T, p) every one-hot -> all ones
    x0 = u @ P["W_E"].T  # (1, T, d) = |W_E| 1_p at both positions
    attn = (attention_ops.attention_forward, attention_ops.attention_backward) if attention == "softmax" \
        else (linear_attention_forward, linear_attention_backward)
    a, c_att = attn[0](x0, P["W_Q"], P["W_K"], P["W_V"], P["W_O"])  # (1, T, d)
    x1_last, c_last = layers.last_token_forward(x0 + a)  # (1, d)
    x2, c_mlp = layers.residual_mlp_forward(x1_last, P["W_in"], P["W_out"])  # (1, d)
    out, c_unembed = layers.unembed_forward(x2, P["W_U"])  # (1, p)
    grads = {}
    dx2, grads["W_U"] = layers.unembed_backward(xp.ones_like(out), c_unembed)  # R = sum(out)
    dx1_last, grads["W_in"], grads["W_out"] = layers.residual_mlp_backward(dx2, c_mlp)
    dx1 = layers.last_token_backward(dx1_last, c_last)  # (1, T, d)
    dx0_att, grads["W_Q"], grads["W_K"], grads["W_V"], grads["W_O"] = attn[1](dx1, c_att)
    dx0 = dx1 + dx0_att  # (1, T, d) x1 = x0 + a
    grads["W_E"] = dx0.reshape(-1, d).T @ u.reshape(-1, p)  # (d, p) x0 = u @ W_E.T
    return out.sum(), grads


def flow(model, P, attention="linear"):
    """(R, dR/dP) of the linearised `model` (mlp or transformer) with weights P >= 0."""
    if attention not in ATTENTION:
        raise MinigrokError(f"unknown SynFlow attention {attention!r}; allowed: {', '.join(ATTENTION)}")
    name = model.__name__.rsplit(".", 1)[-1]
    if name == "mlp":
        return mlp_flow(P)
    if name == "transformer":
        return transformer_flow(P, attention)
    raise MinigrokError(f"SynFlow's all-ones input is defined for the mlp and transformer, not {name!r}")


# ----------------------------------------------------------------------------------------
# scores and masks

def synflow_scores(model, params, masks=None, attention="linear"):
    """|dR/dW * W| on the linearised net |W| * mask (float64); pruned weights score -1."""
    xp = array_module(*params.values())
    P = {k: abs(w) for k, w in as_float64(params).items()}
    if masks is not None:
        P = {k: w * masks[k] for k, w in P.items()}
    _, grads = flow(model, P, attention)
    scores = {k: abs(grads[k] * w) for k, w in P.items()}
    if masks is not None:
        scores = {k: xp.where(masks[k], s, -1.0) for k, s in scores.items()}
    return scores


def synflow(model, params, rate=None, density=None, rounds=ROUNDS, scope="global",
            attention="linear"):
    """Iterative SynFlow (the paper's): `rounds` rounds to density_k = density^(k/rounds)."""
    density = density_from(rate, density)
    masks = ones_like(params)
    for k in range(1, rounds + 1):
        scores = synflow_scores(model, params, masks, attention)
        masks = top_k_mask(scores, density ** (k / rounds), scope)
    return masks


def synflow_reference_scores(model, params, x):
    """The reference code's scores: |dR/dW * W| with R = sum of the logits of the model's
    own forward on |W| and the data batch x (float64)."""
    xp = array_module(*params.values())
    P = {k: abs(w) for k, w in as_float64(params).items()}
    forward, backward = model_functions(model)
    logits, cache = forward(P, x)  # (B, p)
    grads = backward(xp.ones_like(logits), cache)  # R = sum over the batch and classes
    return {k: abs(grads[k] * w) for k, w in P.items()}


def synflow_reference_one_round(model, params, x, rate=None, density=None, scope="global"):
    """The reference code's SynFlow: one round on the data batch x, no schedule."""
    density = density_from(rate, density)
    return top_k_mask(synflow_reference_scores(model, params, x), density, scope)
