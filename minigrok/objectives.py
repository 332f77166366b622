"""What a task is scored by: its loss (with the gradient) and its accuracy.

    ce          cross-entropy on float64 logits; accuracy = arg-max matches the label
                (modular arithmetic, sparse parity)
    mse_onehot  MSE against one-hot targets (the paper's MNIST setting, after Liu et al.);
                accuracy = arg-max matches the label
    mse         MSE against real targets (polynomial regression); "accuracy" = R^2, the
                fraction of the targets' variance explained (see mse_real)

Each objective maps (outputs, targets) to (loss, doutputs, accuracy); with grad=False
(an evaluation) doutputs is None and is not computed.
"""
from .backend import array_module
from .errors import MinigrokError
from .layers import one_hot
from .losses import accuracy, cross_entropy, mse

def ce(logits, labels, grad=True):
    """Cross-entropy; accuracy by arg-max."""
    loss, dlogits = cross_entropy(logits, labels, grad)
    return loss, dlogits, accuracy(logits, labels)


def mse_onehot(outputs, labels, grad=True):
    """MSE against one-hot(labels); accuracy by arg-max."""
    targets = one_hot(labels, outputs.shape[-1], outputs.dtype)  # (B, K)
    loss, dout = mse(outputs, targets, grad)
    return loss, dout, accuracy(outputs, labels)


def mse_real(outputs, targets, grad=True):
    """MSE against real targets; "accuracy" = the coefficient of determination

        R^2 = 1 - sum (f(x) - y)^2 / sum (y - mean(y))^2

    over the B points: 1 for a perfect fit, 0 for predicting the targets' mean, negative
    for worse. It is scale-free, so thresholds (0.9, 0.99) mean the same for any target
    scale, where a fixed tolerance |f(x) - y| < tol would not.
    """
    xp = array_module(outputs)
    loss, dout = mse(outputs, targets, grad)  # (...), (..., B, K)
    t = targets.astype(xp.float64)  # (..., B, K) or (B, K)
    spread = ((t - t.mean(axis=(-1, -2), keepdims=True)) ** 2).sum(axis=(-1, -2))  # (...)
    n = outputs.shape[-1] * outputs.shape[-2]
    return loss, dout, 1.0 - loss * n / spread


OBJECTIVES = {"ce": ce, "mse_onehot": mse_onehot, "mse": mse_real}


def score_name(objective):
    """What the objective's "accuracy" is, for labels: 'R^2' for mse, else 'accuracy'."""
    return "R^2" if objective == "mse" else "accuracy"


def get_objective(name):
    """The objective function called `name`."""
    if name not in OBJECTIVES:
        raise MinigrokError(f"unknown objective {name!r}; allowed: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]
