"""Norm-controlled dense baseline (the paper's section 5.1): same weight norm as the ticket,
no sparsity.

    r_p     = |theta_0 * m|_p / |theta_0|_p          p = 1 (L1) or 2 (L2), every weight
                                                     of every matrix taken as one vector
    theta_0' = theta_0 * r_p                         dense, |theta_0'|_p = |theta_0 * m|_p

equivalently theta_0 ~ N(0, (kappa r_p / sqrt(fan_in))^2). theta_0' is then trained dense
with the ticket's optimiser settings (recipes/norm_control.py); if the ticket groks sooner, its speed-up is not
explained by its smaller initial norm alone.

The reference code (prune.py, its same_norm_init branch, off by default) measures the
norms differently: the sum over matrices of each matrix's norm,

    r_p^ref = sum_k |W_k * m_k|_p / sum_k |W_k|_p    (variant "matrix_sum")

and multiplies every matrix by r_p^ref itself (its set_weight_ratio; the set_weight_ratio_l2
that would multiply by sqrt(r) is never called). For L1 the two ratios are the same
number (the L1 norm of the whole vector is the sum of the matrices' L1 norms); for L2 they
differ, and only the "global" variant gives theta_0' the ticket's L2 norm (the tests check
it). Both are offered: `variant="global"` (the paper's words, the default) and
`variant="matrix_sum"` (the reference code's).
"""
from ..backend import array_module, to_float
from ..errors import MinigrokError

NORMS = ("l1", "l2")
VARIANTS = ("global", "matrix_sum")


def weight_norm(params, norm="l2"):
    """|params|_1 or |params|_2 over all weights taken as one vector (float64)."""
    if norm not in NORMS:
        raise MinigrokError(f"unknown norm {norm!r}; allowed: {', '.join(NORMS)}")
    xp = array_module(*params.values())
    if norm == "l1":
        return sum(to_float(xp.abs(w.astype(xp.float64)).sum()) for w in params.values())
    return sum(to_float((w.astype(xp.float64) ** 2).sum()) for w in params.values()) ** 0.5


def norm_ratio(params0, masks, norm="l2", variant="global"):
    """r_p = |theta_0 * mask|_p / |theta_0|_p ("global"), or the reference code's ratio of
    the sums of per-matrix norms ("matrix_sum", module docstring)."""
    if variant not in VARIANTS:
        raise MinigrokError(f"unknown norm variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    ticket = {k: w * masks[k].astype(w.dtype) for k, w in params0.items()}
    if variant == "matrix_sum":
        return (sum(weight_norm({k: w}, norm) for k, w in ticket.items())
                / sum(weight_norm({k: w}, norm) for k, w in params0.items()))
    return weight_norm(ticket, norm) / weight_norm(params0, norm)


def norm_matched_init(params0, masks, norm="l2", variant="global"):
    """theta_0 * r_p: the dense initialisation with the ticket's L1 or L2 norm (variant
    "matrix_sum": scaled by the reference code's ratio instead)."""
    r = norm_ratio(params0, masks, norm, variant)
    return {k: w * w.dtype.type(r) for k, w in params0.items()}

