"""GraSP (Wang, Zhang & Grosse 2020): prune at initialisation, preserving gradient flow.

    L_T(W) = cross_entropy(f(x; W) / T, y)        on the training batch, T = 200 (the
                                                  temperature of Wang et al.'s code, kept by
                                                  the reference code)
    g      = dL_T/dW                              (held fixed: a "stopped" gradient)
    H g    = d/dW (g_stopped . dL_T/dW)           Hessian-vector product
    S      = -W * (H g)                           Wang et al.'s score S(-theta), elementwise

Sign convention, stated once: removing weight i moves W by delta = -W_i e_i, which changes
the gradient norm |g|^2 by about 2 delta^T H g = 2 S_i. Wang et al. remove the fraction of
weights with the *largest* S (their removal reduces the gradient flow least, or even
increases it) and keep the rest, i.e. GraSP **keeps the weights of lowest S**. Here
`grasp_scores` returns S itself and `grasp` keeps the top `density` fraction of -S
= W * (H g). This is the mask of the original code (keep S <= threshold) and of the
reference code, whose score W * (H g) (no minus) is kept largest-first; the normalisation
by |sum S| both codes apply is positive and does not change the order.

H g is a central difference of the hand-written gradient (no second backward):

    H v ~ (g(W + eps v) - g(W - eps v)) / (2 eps),   eps = rel_step * max(|W|_2, 1) / |v|_2

with v = g: the step moves the weight vector by rel_step = 1e-7 of its norm (float64:
truncation ~ rel_step^2, rounding ~ 1e-16 / rel_step; against torch's exact double
backward the scores agree to ~1e-9 of the largest at p = 67). A ReLU input that lies
within the step of its kink at 0 makes the difference jump (errors of 100x the largest
score were seen at p = 67 with rel_step 1e-5); the jump shows up in one of the two
one-sided differences only, so when (g+ - g)/eps and (g - g-)/eps disagree by more than
kink_tol = 1e-4 of the largest entry the step is shrunk tenfold and the product retaken
(down to rel_step 1e-10, then a clear error; a too large starting step is shrunk the same
way, its smooth O(eps) gap being caught by the same test). Everything runs in float64. Unlike the original,
which samples 10 examples per class, the whole training batch is used, as in the
reference code (full batch).
"""
from ..backend import array_module
from ..errors import MinigrokError
from .magnitude import density_from, top_k_mask
from .snip import as_float64, loss_gradients

TEMPERATURE = 200.0
MIN_REL_STEP = 1e-10  # below it rounding (~1e-16 / rel_step) swamps the product


def _norm(tree):
    """Euclidean norm of a dict of arrays taken as one vector (a Python float)."""
    return float(sum(float((v * v).sum()) for v in tree.values())) ** 0.5


def hessian_vector_product(model, params, x, y, v, temperature=1.0, rel_step=1e-7,
                           kink_tol=1e-4, g=None):
    """H v for the Hessian H of L_T at params, by central differences of the gradient,
    shrinking the step while a ReLU kink lies inside it (module docstring). g: the
    gradient at params, if already computed."""
    xp = array_module(*params.values())
    v_norm = _norm(v)
    if v_norm == 0.0:
        return {k: xp.zeros_like(w) for k, w in params.items()}
    if g is None:
        _, g = loss_gradients(model, params, x, y, temperature)
    while rel_step >= MIN_REL_STEP * 0.99:
        eps = rel_step * max(_norm(params), 1.0) / v_norm
        _, g_plus = loss_gradients(model, {k: w + eps * v[k] for k, w in params.items()},
                                   x, y, temperature)
        _, g_minus = loss_gradients(model, {k: w - eps * v[k] for k, w in params.items()},
                                    x, y, temperature)
        Hv = {k: (g_plus[k] - g_minus[k]) / (2 * eps) for k in params}
        scale = max(float(abs(h).max()) for h in Hv.values())
        gap = max(float(abs(g_plus[k] + g_minus[k] - 2 * g[k]).max()) for k in params) / eps
        if gap <= kink_tol * scale:  # (g+ - g)/eps and (g - g-)/eps agree: no kink crossed
            return Hv
        rel_step /= 10
    raise MinigrokError(
        "GraSP's Hessian-vector product: a ReLU input sits at its kink (the one-sided "
        f"differences still disagree at rel_step {MIN_REL_STEP:g}); the weights are degenerate")


def grasp_scores(model, params, x, y, temperature=TEMPERATURE, rel_step=1e-7):
    """S = -W * (H g) in float64 (Wang et al.'s S(-theta)); GraSP keeps the lowest S."""
    params = as_float64(params)
    _, g = loss_gradients(model, params, x, y, temperature)
    Hg = hessian_vector_product(model, params, x, y, g, temperature, rel_step, g=g)
    return {k: -w * Hg[k] for k, w in params.items()}


def grasp(model, params, x, y, rate=None, density=None, scope="global",
          temperature=TEMPERATURE):
    """GraSP mask at the asked density: remove the largest S, keep the lowest S."""
    density = density_from(rate, density)
    scores = grasp_scores(model, params, x, y, temperature)
    return top_k_mask({k: -s for k, s in scores.items()}, density, scope)
