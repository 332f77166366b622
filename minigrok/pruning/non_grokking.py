"""Non-grokking tickets (the paper's section 4.2): masks from the dense run *before* it has
generalised.

    m_t = top (density) of |theta_t|      theta_t = the dense run's checkpoint at epoch t

at t = 2k (memorised), 5k, 10k, 16k (transition) and 28k (grokked) epochs by default, with
the same density and scope as the grokking ticket. Each mask is then rewound to theta_0
and retrained like the ticket (the experiment's job). Epoch 0 means init.npz (magnitude
at initialisation).

The dense run must have written those checkpoints: train it with --checkpoint-every
dividing every epoch asked, and long enough, without an early stop before the last one.
"""
import os

from .. import io
from ..errors import MinigrokError
from .magnitude import density_from, magnitude_prune

EPOCHS = (2000, 5000, 10000, 16000, 28000)


def checkpoint_path(run_dir, epoch):
    """The dense run's weights after `epoch` steps (0 = init.npz), or a clear error."""
    path = os.path.join(run_dir, "init.npz") if epoch == 0 else \
        os.path.join(run_dir, "checkpoints", f"epoch_{epoch}.npz")
    if not os.path.isfile(path):
        folder = os.path.join(run_dir, "checkpoints")
        found = sorted(int(f[6:-4]) for f in os.listdir(folder)
                       if f.startswith("epoch_") and f.endswith(".npz")) if os.path.isdir(folder) else []
        shown = f"{found[:3]} ... {found[-3:]}" if len(found) > 6 else str(found)
        raise MinigrokError(
            f"no checkpoint for epoch {epoch} in {run_dir!r} ({path!r} does not exist; "
            f"checkpoints there: {shown}). Train the dense run with --checkpoint-every "
            "dividing the epochs asked, long enough and without an early stop before them")
    return path


def non_grokking_masks(run_dir, epochs=EPOCHS, rate=None, density=None, scope="global"):
    """{epoch: magnitude mask of the dense run's weights at that epoch}."""
    density = density_from(rate, density)
    paths = {epoch: checkpoint_path(run_dir, epoch) for epoch in epochs}  # all checked first
    masks = {}
    for epoch, path in paths.items():
        ckpt = io.load_npz(path)
        params = ckpt["params"]
        if ckpt["masks"] is not None:  # a masked run: its pruned weights stay pruned
            params = {k: w * ckpt["masks"][k] for k, w in params.items()}
        masks[epoch] = magnitude_prune(params, density=density, scope=scope)
    return masks
