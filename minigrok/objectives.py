"""What a task is scored by: its loss (with the gradient) and its accuracy.

    ce          cross-entropy on float64 logits; accuracy = arg-max matches the label
                (modular arithmetic, sparse parity)
    mse_onehot  MSE against one-hot targets (the paper's MNIST setting, after Liu et al.);
                accuracy = arg-max matches the label
    mse         MSE against real targets (polynomial regression); accuracy = fraction of
                points with |prediction - target| < tolerance

Each objective maps (outputs, targets) to (loss, doutputs, accuracy).
"""
from .backend import array_module
from .errors import MinigrokError
from .layers import one_hot
from .losses import accuracy, cross_entropy, mse

REGRESSION_TOLERANCE = 0.01


def ce(logits, labels):
    """Cross-entropy; accuracy by arg-max."""
    loss, dlogits = cross_entropy(logits, labels)
    return loss, dlogits, accuracy(logits, labels)


def mse_onehot(outputs, labels):
    """MSE against one-hot(labels); accuracy by arg-max."""
    targets = one_hot(labels, outputs.shape[-1], outputs.dtype)  # (B, K)
    loss, dout = mse(outputs, targets)
    return loss, dout, accuracy(outputs, labels)


def mse_real(outputs, targets, tolerance=REGRESSION_TOLERANCE):
    """MSE against real targets; accuracy = mean [|out - y| < tolerance]."""
    xp = array_module(outputs)
    loss, dout = mse(outputs, targets)
    close = (xp.abs(outputs - targets) < tolerance).all(axis=-1)  # (B,)
    return loss, dout, close.astype(xp.float64).mean(axis=-1)


OBJECTIVES = {"ce": ce, "mse_onehot": mse_onehot, "mse": mse_real}


def get_objective(name):
    """The objective function called `name`."""
    if name not in OBJECTIVES:
        raise MinigrokError(f"unknown objective {name!r}; allowed: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]
