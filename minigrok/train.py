"""The training loop: full batch AdamW, metrics, t_mem / t_gen, early stop, checkpoints.

One loop trains one run or K runs at once. Stacked, every array carries a leading model
axis K (W_E (K, d, p), tokens (K, B, 2), masks (K, ...), AdamW moments (K, ...)) and the
same layers, models, loss and AdamW run all K together (layers.py broadcasts over the
model axis; the loss and accuracy reduce per model; AdamW is elementwise). The K runs
may differ in their initial weights, masks and data split, and share the model, the
shapes and the optimiser settings. Each keeps its own metrics, t_mem / t_gen and early
stop: a run that stops leaves the stack, so the rest run faster.

Epoch n means "the parameters after n AdamW steps". At each logged epoch a run's metrics
row holds the train loss and accuracy (from the same forward pass as that step's
gradient), the test loss and accuracy, and the L1 and L2 norms of the effective weights;
then the step is taken. t_mem / t_gen are the first logged epochs whose train / test
accuracy reaches a threshold (0.95, the paper's latest version, and 0.99), and
tau_grok = t_gen / t_mem.

The loop writes nothing: it hands snapshots to on_checkpoint and each run's end to
on_stop, and runs.py turns those into files through store/.
"""
import math

import numpy as np

from .backend import array_module, keep_freed_memory, to_float, to_numpy
from .errors import MinigrokError
from .evaluator import open_evaluator
from .io import METRIC_COLUMNS
from .objectives import get_objective
from .optim import adamw_init, adamw_step
from .progress import progress_end, progress_start, progress_update

THRESHOLDS = (0.95, 0.99)
DATA_KEYS = ("train_x", "train_y", "test_x", "test_y")


# ----------------------------------------------------------------------------------------
# one step and one evaluation

def model_functions(model):
    """(forward, backward) the trainer uses: a model's faster equivalent form where it has
    one (the MLP's factored form, see models/mlp.py), else its layer-by-layer pair."""
    return (getattr(model, "train_forward", model.forward),
            getattr(model, "train_backward", model.backward))


def train_step(model, params, opt_state, x, y, hp, masks=None):
    """Forward, the loss (hp['objective'], default float64 cross-entropy; see
    objectives.py), backward and one masked AdamW step (in place).
    Returns the loss and accuracy of the parameters *before* the step."""
    forward, backward = model_functions(model)
    logits, cache = forward(params, x)  # (B, p)
    loss, dlogits, acc = get_objective(hp.get("objective", "ce"))(logits, y)  # (), (B, p), ()
    grads = backward(dlogits, cache)
    adamw_step(params, grads, opt_state, lr=hp["lr"], weight_decay=hp["weight_decay"],
               betas=tuple(hp["betas"]), eps=hp["eps"], masks=masks)
    return loss, acc


def evaluate(model, params, x, y, objective="ce"):
    """(loss, accuracy) of params on inputs x with labels y, no gradient."""
    logits, _ = model_functions(model)[0](params, x)  # (B, p)
    loss, _, acc = get_objective(objective)(logits, y, grad=False)
    return loss, acc


def weight_norms(params, n_models=None):
    """(L1, L2) norms of all effective weights taken as one vector, per run: two lists of
    n_models floats for stacked params, of one float for one run's (n_models None). Each
    run's sums are taken over its own arrays, so a run gets the same bits stacked or not."""
    xp = array_module(*params.values())
    runs = [params] if n_models is None else [{k: w[j] for k, w in params.items()} for j in range(n_models)]
    l1 = [to_float(sum(xp.abs(w).astype(xp.float64).sum() for w in run.values())) for run in runs]
    l2 = [to_float(sum((w.astype(xp.float64) ** 2).sum() for w in run.values()) ** 0.5) for run in runs]
    return l1, l2


# ----------------------------------------------------------------------------------------
# t_mem, t_gen and the early stop

def first_epoch_reaching(epochs, values, threshold):
    """First epoch whose value is >= threshold, or None if it never is."""
    for epoch, value in zip(epochs, values):
        if value >= threshold:
            return int(epoch)
    return None


def grokking_times(metrics, extra_threshold=None):
    """{threshold: {"t_mem", "t_gen", "tau_grok"}} for THRESHOLDS (keys as strings), plus
    extra_threshold when given: a task's own level where 0.95 is out of reach (MNIST)."""
    times = {}
    thresholds = THRESHOLDS if extra_threshold is None else sorted({*THRESHOLDS, float(extra_threshold)})
    for thr in thresholds:
        t_mem = first_epoch_reaching(metrics["epoch"], metrics["train_acc"], thr)
        t_gen = first_epoch_reaching(metrics["epoch"], metrics["test_acc"], thr)
        tau = t_gen / t_mem if (t_mem and t_gen is not None) else None
        times[f"{thr:g}"] = {"t_mem": t_mem, "t_gen": t_gen, "tau_grok": tau}
    return times


def held_since(metrics, threshold):
    """First epoch of the current unbroken streak of test accuracy >= threshold."""
    since = None
    for epoch, acc in zip(metrics["epoch"], metrics["test_acc"]):
        since = streak_start(since, epoch, acc >= threshold)
    return since


def stop_epoch(metrics, stop_after, threshold):
    """The first logged epoch at which train_loop's early stop fires on these rows (test
    accuracy held >= threshold for stop_after epochs), or None if it does not."""
    since = None
    for epoch, acc in zip(metrics["epoch"], metrics["test_acc"]):
        since = streak_start(since, epoch, acc >= threshold)
        if held_long_enough(since, epoch, stop_after):
            return int(epoch)
    return None


def held_long_enough(since, epoch, stop_after):
    """The early stop's rule at a logged epoch: a streak that began at `since` has lasted
    stop_after epochs (never when stop_after is None)."""
    return stop_after is not None and since is not None and epoch - since >= stop_after


def streak_start(since, epoch, held):
    """The streak's first epoch after logging `epoch`: kept while held, None once broken."""
    if not held:
        return None
    return epoch if since is None else since


# ----------------------------------------------------------------------------------------
# stacking

def stack(dicts):
    """{key: (K, ...) array} from K dicts of arrays of equal shapes, on their backend."""
    first = dicts[0]
    for i, d in enumerate(dicts):
        if set(d) != set(first) or any(tuple(d[k].shape) != tuple(first[k].shape) for k in first):
            raise MinigrokError(f"stacked model {i} has other keys or shapes than model 0: "
                                "stacked runs need equal shapes (same p, frac, split and widths)")
    xp = array_module(*first.values())
    return {k: xp.stack([d[k] for d in dicts]) for k in first}


def _member(arrays, j, stacked):
    """A copy of run j's arrays: slice j of a stack, or the arrays of one run."""
    if arrays is None:
        return None
    xp = array_module(*arrays.values())
    return {k: xp.array(v[j] if stacked else v) for k, v in arrays.items()}


def take_runs(array, keep):
    """The runs `keep` (a list of positions in the stack) of a stacked array."""
    return array[array_module(array).asarray(keep)]


def _take(arrays, keep):
    """The runs `keep` of every array of a stacked dict."""
    return {k: take_runs(v, keep) for k, v in arrays.items()}


def _per_run(value):
    """A loss or accuracy as a list of K Python floats (K = 1 for one unstacked run)."""
    return np.asarray(to_numpy(value), dtype=np.float64).ravel().tolist()


# ----------------------------------------------------------------------------------------
# the loop

def train_loop(model, params, data, hp, masks=None, opt_state=None, metrics=None,
               start_epoch=0, stacked=False, on_checkpoint=None, on_stop=None,
               label="train", quiet=False, overlap_eval=True):
    """Train for epochs start_epoch..hp['epochs'] on the backend of params' arrays.

    params / masks / opt_state / data (DATA_KEYS): one run's arrays, or with stacked=True
    K runs' arrays along a leading axis (see the module docstring). The arrays given are
    never modified (the loop trains copies). metrics: the rows logged before start_epoch
    (one dict of lists per run; a list of K dicts when stacked), or None.
    hp: lr, weight_decay, betas, eps, epochs, eval_every, and optionally objective,
    stop_after / stop_threshold (stop once test accuracy has held >= the threshold for
    stop_after epochs) and checkpoint_every.

    on_checkpoint(epoch, snapshots) after every checkpoint_every-th step, snapshots =
    {run index: {"params", "opt_state", "metrics" (rows before epoch)}} of the runs still
    training; on_stop(i, outcome) when run i ends. Returns the K outcomes (K = 1 for one
    run): {"params", "opt_state", "metrics", "stopped_early"}, the params of the last row.

    A run whose train or test loss is NaN or inf has diverged: it stops at once, without
    that row, and its outcome is {"params": None, "metrics" (the rows before),
    "diverged": {"epoch", "train_loss", "test_loss"}}; no NaN ever becomes a result.

    The test evaluation of epoch n may run in a second process while epoch n's step runs
    here (evaluator.py; overlap_eval=False forbids it): the same bits either way. So the
    runs that may end at a row keep a copy of their parameters before the step, and the
    step is taken before the row's test accuracy is known; an ending run's step is dropped.
    """
    keep_freed_memory()  # NumPy's per-step temporaries: reuse memory, no page faults
    xp = array_module(*params.values())
    params = {k: xp.array(w) for k, w in params.items()}  # trained in place: our own copy
    if opt_state is None:
        opt_state = adamw_init(params)
    else:
        opt_state = {"step": opt_state["step"], **{part: {k: xp.array(v) for k, v in opt_state[part].items()}
                                                   for part in ("m", "v")}}
    K = next(iter(params.values())).shape[0] if stacked else 1
    metrics = [metrics] if (metrics is not None and not stacked) else metrics
    metrics = [{c: list(m[c]) for c in METRIC_COLUMNS} for m in metrics] if metrics else \
        [{c: [] for c in METRIC_COLUMNS} for _ in range(K)]
    epochs, every, objective = hp["epochs"], hp["eval_every"], hp.get("objective", "ce")
    stop_after, stop_thr = hp.get("stop_after"), hp.get("stop_threshold", 0.99)
    checkpoint_every = hp.get("checkpoint_every")
    effective = getattr(model, "effective_weights", lambda p: p)  # W * mask of a supermask model
    since = [held_since(m, stop_thr) for m in metrics]
    alive = list(range(K))  # the original index of each run still training
    outcomes = [None] * K
    bar = progress_start(label, start_epoch, epochs, every=max(1000, every), enabled=not quiet)
    evaluator = open_evaluator(model, params, data["test_x"], data["test_y"], objective,
                               n_evals=(epochs - start_epoch) // every + 1, allowed=overlap_eval)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, epochs + 1):
            logged = epoch % every == 0 or epoch == epochs
            n = len(alive)
            if logged:  # measured on the parameters before this epoch's step
                evaluator.submit(params)
                l1, l2 = weight_norms(effective(params), len(alive) if stacked else None)
            # the runs that may end at this row: the last epoch, or a streak long enough if it holds
            may_end = [epoch == epochs or (logged and held_long_enough(epoch if since[i] is None else since[i],
                                                                       epoch, stop_after)) for i in alive]
            before_step = {j: (_member(params, j, stacked), _opt_member(opt_state, j, stacked))
                           for j in range(n) if may_end[j]}
            if epoch == epochs:  # no step after the last row
                train_loss, train_acc = evaluate(model, params, data["train_x"], data["train_y"], objective)
            else:  # every run steps; the step of an ending run is dropped with it below
                train_loss, train_acc = train_step(model, params, opt_state, data["train_x"],
                                                   data["train_y"], hp, masks)
            train_loss, train_acc = _per_run(train_loss), _per_run(train_acc)
            stopping = [epoch == epochs] * n  # per run still training: does it end at this row?
            stopped_early = [False] * n
            if logged:
                test_loss, test_acc = map(_per_run, evaluator.result())
                for j, i in enumerate(alive):
                    since[i] = streak_start(since[i], epoch, test_acc[j] >= stop_thr)
                    stopped_early[j] = held_long_enough(since[i], epoch, stop_after)
                    stopping[j] = stopping[j] or stopped_early[j]
            ending = {j: before_step[j] for j in range(n) if stopping[j]}  # their last params
            diverged = [not math.isfinite(x) for x in train_loss]  # NaN / inf: the weights blew up
            if logged:
                diverged = [d or not math.isfinite(x) for d, x in zip(diverged, test_loss)]
            for j in (j for j in range(n) if diverged[j]):
                i = alive[j]
                ending.pop(j, None)
                outcomes[i] = {"params": None, "opt_state": None, "metrics": metrics[i],
                               "stopped_early": False,
                               "diverged": {"epoch": int(epoch), "train_loss": float(train_loss[j]),
                                            "test_loss": float(test_loss[j]) if logged else None}}
                if on_stop:
                    on_stop(int(i), outcomes[i])
            if logged:
                for j, i in enumerate(alive):
                    if diverged[j]:
                        continue
                    row = (epoch, train_loss[j], train_acc[j], test_loss[j], test_acc[j], l1[j], l2[j])
                    for column, value in zip(METRIC_COLUMNS, row):
                        metrics[i][column].append(value)
                progress_update(bar, epoch, f"train {max(train_acc):.3f} test {max(test_acc):.3f}"
                                if K == 1 else f"{n} running, best test {max(test_acc):.3f}")
            for j, (p_j, s_j) in ending.items():
                i = alive[j]
                outcomes[i] = {"params": p_j, "opt_state": s_j, "metrics": metrics[i],
                               "stopped_early": bool(stopped_early[j])}
                if on_stop:
                    on_stop(int(i), outcomes[i])
            if ending or any(diverged):
                keep = [j for j in range(n) if not (stopping[j] or diverged[j])]
                alive = [alive[j] for j in keep]
                if not alive:
                    break
                params, data = _take(params, keep), _take(data, keep)
                opt_state["m"], opt_state["v"] = _take(opt_state["m"], keep), _take(opt_state["v"], keep)
                masks = _take(masks, keep) if masks is not None else None
                evaluator.keep(keep)
            if on_checkpoint and checkpoint_every and (epoch + 1) % checkpoint_every == 0:
                on_checkpoint(epoch + 1, {int(i): {"params": _member(params, j, stacked),
                                                   "opt_state": _opt_member(opt_state, j, stacked),
                                                   "metrics": metrics[i]}
                                          for j, i in enumerate(alive)})
    finally:
        evaluator.close()
    progress_end(bar, f"at epoch {epoch}")
    return outcomes


def _opt_member(opt_state, j, stacked):
    """Run j's AdamW state (see _member)."""
    return {"step": opt_state["step"], "m": _member(opt_state["m"], j, stacked),
            "v": _member(opt_state["v"], j, stacked)}
