"""Float64 central-difference gradient checks shared by the tests."""
import numpy as np


def numerical_grad(f, x, h=1e-6):
    """df/dx by central differences, one coordinate at a time (f returns a float)."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        f_plus = f()
        flat[i] = old - h
        f_minus = f()
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * h)
    return grad


def assert_close(analytic, numeric, rtol=1e-6, atol=1e-8):
    """Relative error |a - n| / max(|a|, |n|, atol-scale) small everywhere."""
    err = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(analytic) + np.abs(numeric), 1.0)
    assert np.all(err <= rtol * scale + atol), f"max abs err {err.max():.3e}"
