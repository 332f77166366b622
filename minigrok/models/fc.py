"""A fully connected ReLU network for vector inputs (MNIST, polynomial regression,
sparse parity):

    h_0 = x                               (B, sizes[0])
    h_i = relu(h_{i-1} @ W_{i-1}.T)       (B, sizes[i])       i = 1 .. L-1
    out = h_{L-1} @ W_{L-1}.T             (B, sizes[L])       no activation

Parameters W_0 .. W_{L-1}, W_i of shape (sizes[i+1], sizes[i]); no biases, so that every
parameter is a prunable matrix, as in the modular MLP. Init N(0, (kappa / sqrt(fan_in))^2)
with fan_in = sizes[i]; the paper's MNIST setting scales it by kappa = 8.
"""

from .. import layers
from .init import normal_init

DEFAULTS = {"sizes": [784, 200, 200, 10], "kappa": 1.0}


def param_names(cfg):
    """W_0 .. W_{L-1}."""
    return tuple(f"W_{i}" for i in range(len(cfg["sizes"]) - 1))


def param_shapes(cfg):
    """{name: (shape, fan_in)}."""
    sizes = cfg["sizes"]
    return {f"W_{i}": ((sizes[i + 1], sizes[i]), sizes[i]) for i in range(len(sizes) - 1)}


def init(cfg, rng):
    """W_i ~ N(0, (kappa / sqrt(sizes[i]))^2), drawn on the host in layer order."""
    return normal_init(param_shapes(cfg), cfg["kappa"], cfg.get("dtype", "float32"), rng)


def forward(params, x):
    """out = W_{L-1} relu(... relu(W_0 x)) for x (B, sizes[0])."""
    names = sorted(params, key=lambda k: int(k[2:]))
    h, caches = x, []
    for i, name in enumerate(names):
        h, c_lin = layers.linear_forward(h, params[name])  # (B, sizes[i+1])
        c_relu = None
        if i < len(names) - 1:
            h, c_relu = layers.relu_forward(h)  # (B, sizes[i+1])
        caches.append((name, c_lin, c_relu))
    return h, caches


def backward(dout, caches):
    """Gradients of every W_i, walking forward() in reverse."""
    grads = {}
    dh = dout  # (B, sizes[L])
    for name, c_lin, c_relu in reversed(caches):
        if c_relu is not None:
            dh = layers.relu_backward(dh, c_relu)  # (B, sizes[i+1])
        dh, grads[name] = layers.linear_backward(dh, c_lin)  # (B, sizes[i]), (sizes[i+1], sizes[i])
    return {name: grads[name] for name, _, _ in caches}
