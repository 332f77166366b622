"""Losses. Each returns (loss, dlogits): the mean loss as a 0-d float64 array and its
gradient with respect to the model output, in the output's dtype."""
from .backend import array_module


def cross_entropy(logits, labels, grad=True):
    """L = -mean_b log softmax(z_b)[y_b], computed in float64 (the logits are upcast).

    Gradient: dL/dz_b = (softmax(z_b) - onehot(y_b)) / B, cast back to the logits' dtype,
    what PyTorch gives for `F.cross_entropy(logits.double(), y)`, except that entries
    below the dtype's smallest normal number (1.2e-38 in float32) are set to 0. Late in
    training the softmax of a confident net puts ~1e-40 on wrong classes; as float32
    subnormals these made every product of the backward ~5x slower (a Transformer step at
    p = 67: 5.9 ms instead of 1.2), for a gradient contribution below 1.2e-38 / B per entry.
    PyTorch keeps them (unless torch.set_flush_denormal(True)). Leading axes before the
    batch (stacked models) each get their own mean. grad=False: the loss alone (the
    gradient is None), as an evaluation needs.
    """
    xp = array_module(logits)
    B = logits.shape[-2]
    z = logits.astype(xp.float64)  # (..., B, V) a fresh float64 copy, shifted in place:
    z -= z.max(axis=-1, keepdims=True)  # log softmax(z) = z - max z - log sum exp(z - max z)
    e = xp.exp(z)  # (..., B, V)
    total = e.sum(axis=-1, keepdims=True)  # (..., B, 1)
    y = labels[..., None]  # (..., B, 1)
    loss = (xp.log(total) - xp.take_along_axis(z, y, axis=-1))[..., 0].mean(axis=-1)  # (...)
    if not grad:
        return loss, None
    e *= 1.0 / (B * total)  # (..., B, V) softmax(z) / B
    e[e < xp.finfo(logits.dtype).tiny] = 0.0  # what the cast would make subnormal: 0 (docstring)
    e_y = xp.take_along_axis(e, y, axis=-1)  # (..., B, 1)
    xp.put_along_axis(e, y, e_y - 1.0 / B, axis=-1)  # (softmax - onehot) / B
    return loss, e.astype(logits.dtype)


def accuracy(logits, labels):
    """Fraction of rows whose arg-max equals the label (float64, per leading axis)."""
    xp = array_module(logits)
    return (logits.argmax(axis=-1) == labels).astype(xp.float64).mean(axis=-1)


def mse(outputs, targets, grad=True):
    """L = mean over the B x K elements of (out - y)^2 (PyTorch's `F.mse_loss`).

    Gradient: dL/dout = 2 (out - y) / (B K). Summed in float64.
    """
    xp = array_module(outputs)
    diff = outputs - targets  # (..., B, K)
    n = diff.shape[-1] * diff.shape[-2]
    loss = (diff.astype(xp.float64) ** 2).sum(axis=(-1, -2)) / n  # (...)
    dout = (2.0 / n) * diff if grad else None  # (..., B, K)
    return loss, dout
