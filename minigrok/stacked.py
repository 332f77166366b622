"""K independent models trained as one stacked model: every array gets a leading model
axis K (W_E (K, d, p), tokens (K, B, 2), masks (K, ...)), and the same layers, models,
loss and AdamW run all K at once (layers.py broadcasts over the model axis; the loss and
accuracy reduce per model; AdamW is elementwise).

    results = train_stacked(model, [params_1, ...], [data_1, ...], hp, [masks_1, ...])

The K models may differ in their initial weights, their masks and their data split (one
seed each), and share the model, the shapes and the optimiser settings. Each keeps its
own metrics, t_mem / t_gen and early stop: a model that stops leaves the stack (the
arrays of the others are compacted), so the rest run faster. Results are those of K
separate `train.train_loop` runs, to float rounding (tests/test_stacked.py); stacked runs
have no checkpoints or resume.
"""
import numpy as np

from .backend import array_module, keep_freed_memory, to_numpy
from .errors import MinigrokError
from .optim import adamw_init
from .progress import progress_end, progress_start, progress_update
from .train import METRIC_COLUMNS, evaluate, grokking_times, train_step

DATA_KEYS = ("train_x", "train_y", "test_x", "test_y")


def stack(dicts):
    """{key: (K, ...) array} from K dicts of arrays of equal shapes, on their backend."""
    first = dicts[0]
    for i, d in enumerate(dicts):
        if set(d) != set(first) or any(tuple(d[k].shape) != tuple(first[k].shape) for k in first):
            raise MinigrokError(f"stacked model {i} has other keys or shapes than model 0: "
                                "stacked runs need equal shapes (same p, frac, split and widths)")
    xp = array_module(*first.values())
    return {k: xp.stack([d[k] for d in dicts]) for k in first}


def unstack(stacked, i):
    """Model i's arrays of a stacked dict, as NumPy arrays (copies)."""
    return {k: np.array(to_numpy(v[i])) for k, v in stacked.items()}


def weight_norms(params):
    """Per-model (L1, L2) norms of all effective weights: two float64 host arrays (K,)."""
    xp = array_module(*params.values())
    K = next(iter(params.values())).shape[0]
    l1 = sum(xp.abs(w).astype(xp.float64).reshape(K, -1).sum(axis=-1) for w in params.values())
    l2 = sum((w.astype(xp.float64) ** 2).reshape(K, -1).sum(axis=-1) for w in params.values()) ** 0.5
    return to_numpy(l1), to_numpy(l2)


def _take(arrays, keep):
    """The models `keep` (a host index array) of every array of a dict."""
    xp = array_module(*arrays.values())
    index = xp.asarray(keep)
    return {k: v[index] for k, v in arrays.items()}


def train_stacked(model, params_list, data_list, hp, masks_list=None, label="stacked",
                  quiet=False):
    """Train K models together for epochs 0..hp['epochs'] (see the module docstring).

    params_list / data_list / masks_list: one params dict (the effective initial weights
    W * mask), data dict (DATA_KEYS) and masks dict (or None: dense) per model. hp: the
    train_loop settings (lr, weight_decay, betas, eps, epochs, eval_every, stop_after,
    stop_threshold). Returns a list of K dicts {"params", "metrics", "times"}.
    """
    K = len(params_list)
    if K == 0 or len(data_list) != K or (masks_list is not None and len(masks_list) != K):
        raise MinigrokError(f"train_stacked needs one params, data (and mask) dict per model; "
                            f"got {len(params_list)} params and {len(data_list)} data dicts")
    keep_freed_memory()  # see train.train_loop
    params = stack(params_list)
    data = stack([{k: d[k] for k in DATA_KEYS} for d in data_list])
    masks = stack(masks_list) if masks_list is not None else None
    opt_state = adamw_init(params)
    metrics = [{c: [] for c in METRIC_COLUMNS} for _ in range(K)]
    final = [None] * K
    since = [None] * K  # first epoch of each model's current streak of test acc >= threshold
    alive = np.arange(K)  # the original index of each model still in the stack
    epochs, every, objective = hp["epochs"], hp["eval_every"], hp.get("objective", "ce")
    stop_after, stop_thr = hp.get("stop_after"), hp.get("stop_threshold", 0.99)
    bar = progress_start(label, 0, epochs, every=max(1000, every), enabled=not quiet)
    for epoch in range(epochs + 1):
        logged = epoch % every == 0 or epoch == epochs
        stopping = np.full(len(alive), epoch == epochs)  # (alive,) models ending at this row
        if logged:  # measured on the parameters before this epoch's step
            test_loss, test_acc = (to_numpy(a) for a in evaluate(
                model, params, data["test_x"], data["test_y"], objective))
            l1, l2 = weight_norms(params)
            for j, i in enumerate(alive):
                held = test_acc[j] >= stop_thr
                since[i] = (since[i] if since[i] is not None else epoch) if held else None
                if stop_after is not None and since[i] is not None and epoch - since[i] >= stop_after:
                    stopping[j] = True
        if stopping.any():  # their final params are those of this row: before the step
            for j in np.flatnonzero(stopping):
                final[alive[j]] = unstack(params, j)
        if stopping.all():
            train_loss, train_acc = evaluate(model, params, data["train_x"], data["train_y"], objective)
        else:  # every model steps; the stopping ones' step is dropped with them below
            train_loss, train_acc = train_step(model, params, opt_state, data["train_x"],
                                               data["train_y"], hp, masks)
        if logged:
            train_loss, train_acc = to_numpy(train_loss), to_numpy(train_acc)
            for j, i in enumerate(alive):
                row = (epoch, train_loss[j], train_acc[j], test_loss[j], test_acc[j], l1[j], l2[j])
                for column, value in zip(METRIC_COLUMNS, row):
                    metrics[i][column].append(int(value) if column == "epoch" else float(value))
            progress_update(bar, epoch, f"{len(alive)} running, best test {test_acc.max():.3f}")
        if stopping.any():
            keep = np.flatnonzero(~stopping)
            alive = alive[keep]
            if len(alive) == 0:
                break
            params, data = _take(params, keep), _take(data, keep)
            opt_state["m"], opt_state["v"] = _take(opt_state["m"], keep), _take(opt_state["v"], keep)
            masks = _take(masks, keep) if masks is not None else None
    progress_end(bar, f"at epoch {epoch}")
    return [{"params": final[i], "metrics": metrics[i], "times": grokking_times(metrics[i])}
            for i in range(K)]
