"""Norm-controlled dense baseline (the paper's section 5.1): same weight norm as the ticket,
no sparsity.

    r_p     = |theta_0 * m|_p / |theta_0|_p          p = 1 (L1) or 2 (L2), every weight
                                                     of every matrix taken as one vector
    theta_0' = theta_0 * r_p                         dense, |theta_0'|_p = |theta_0 * m|_p

equivalently theta_0 ~ N(0, (kappa r_p / sqrt(fan_in))^2). theta_0' is then trained dense
with the ticket's optimiser settings (recipes/norm_control.py); if the ticket groks sooner, its speed-up is not
explained by its smaller initial norm alone.

(The reference code's L2 variant multiplies by sqrt(ratio) of its own ratio; we follow the
paper's formula, whose L2 norm equality the tests check.)
"""
from ..backend import array_module, to_float
from ..errors import MinigrokError

NORMS = ("l1", "l2")


def weight_norm(params, norm="l2"):
    """|params|_1 or |params|_2 over all weights taken as one vector (float64)."""
    if norm not in NORMS:
        raise MinigrokError(f"unknown norm {norm!r}; allowed: {', '.join(NORMS)}")
    xp = array_module(*params.values())
    if norm == "l1":
        return sum(to_float(xp.abs(w.astype(xp.float64)).sum()) for w in params.values())
    return sum(to_float((w.astype(xp.float64) ** 2).sum()) for w in params.values()) ** 0.5


def norm_ratio(params0, masks, norm="l2"):
    """r_p = |theta_0 * mask|_p / |theta_0|_p."""
    ticket = {k: w * masks[k].astype(w.dtype) for k, w in params0.items()}
    return weight_norm(ticket, norm) / weight_norm(params0, norm)


def norm_matched_init(params0, masks, norm="l2"):
    """theta_0 * r_p: the dense initialisation with the ticket's L1 or L2 norm."""
    r = norm_ratio(params0, masks, norm)
    return {k: w * w.dtype.type(r) for k, w in params0.items()}

