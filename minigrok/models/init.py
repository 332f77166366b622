"""The initialisation every model shares: W ~ N(0, (kappa / sqrt(fan_in))^2), the paper's kappa."""
import numpy as np


def normal_init(shapes, kappa, dtype, rng):
    """W ~ N(0, (kappa / sqrt(fan_in))^2) for each {name: (shape, fan_in)}, drawn in float64
    on the host with the numpy Generator rng, in the order of `shapes`, then cast to dtype.
    Drawing on the host keeps CPU and GPU runs from the same seed identical."""
    dtype = np.dtype(dtype)
    return {name: (rng.standard_normal(shape) * (kappa / np.sqrt(fan_in))).astype(dtype)  # (shape)
            for name, (shape, fan_in) in shapes.items()}
