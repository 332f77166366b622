"""Non-grokking tickets (the paper's section 4.2): masks from the dense run *before* it has
generalised.

    m_t = top (density) of |theta_t|      theta_t = the dense run's weights at epoch t

at t = 2k (memorised), 5k, 10k, 16k (transition) and 28k (grokked) epochs by default, with
the same density and scope as the grokking ticket. Each mask is then rewound to theta_0
and retrained like the ticket (recipes/non_grokking.py, which reads the weights from the
dense run's checkpoints: train it with --checkpoint-every dividing every epoch asked).
"""
from .magnitude import density_from, magnitude_prune

EPOCHS = (2000, 5000, 10000, 16000, 28000)


def non_grokking_masks(weights_by_epoch, rate=None, density=None, scope="global"):
    """{epoch: magnitude mask of theta_epoch} for weights_by_epoch {epoch: params}."""
    density = density_from(rate, density)
    return {epoch: magnitude_prune(params, density=density, scope=scope)
            for epoch, params in weights_by_epoch.items()}
