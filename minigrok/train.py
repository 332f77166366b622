"""The training loop: full batch AdamW, metrics, t_mem / t_gen, checkpoints and resume.

Epoch n means "the parameters after n AdamW steps". At each logged epoch the row of
metrics.csv holds the train loss and accuracy (from the same forward pass as that step's
gradient), the test loss and accuracy, and the L1 and L2 norms of the effective weights;
then the step is taken. t_mem / t_gen are the first logged epochs whose train / test
accuracy reaches a threshold (0.95, the paper's latest version, and 0.99), and
tau_grok = t_gen / t_mem.

Run directories (files on disk, resume) are in runs.py; this file is the loop itself.
"""
from .backend import array_module, keep_freed_memory, to_float
from .objectives import get_objective
from .optim import adamw_init, adamw_step
from .progress import progress_end, progress_start, progress_update

THRESHOLDS = (0.95, 0.99)
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "l1", "l2")



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
    loss, _, acc = get_objective(objective)(logits, y)
    return loss, acc


def weight_norms(params):
    """(L1, L2) norm of all effective weights taken as one vector."""
    xp = array_module(*params.values())
    l1 = sum(xp.abs(w).astype(xp.float64).sum() for w in params.values())
    l2 = sum((w.astype(xp.float64) ** 2).sum() for w in params.values()) ** 0.5
    return to_float(l1), to_float(l2)


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


def streak_start(since, epoch, held):
    """The streak's first epoch after logging `epoch`: kept while held, None once broken."""
    if not held:
        return None
    return epoch if since is None else since


# ----------------------------------------------------------------------------------------
# the loop

def train_loop(model, params, data, hp, masks=None, opt_state=None, metrics=None,
               start_epoch=0, on_checkpoint=None, label="train", quiet=False):
    """Train params (on the backend of its arrays) for epochs start_epoch..hp['epochs'].

    data holds device arrays train_x/train_y/test_x/test_y. Returns (params, opt_state,
    metrics) where metrics maps each METRIC_COLUMNS name to a list. on_checkpoint(epoch,
    params, opt_state, metrics) is called every hp['checkpoint_every'] epochs.
    """
    keep_freed_memory()  # NumPy's per-step temporaries: reuse memory, no page faults
    opt_state = opt_state or adamw_init(params)
    metrics = metrics or {c: [] for c in METRIC_COLUMNS}
    epochs, every, objective = hp["epochs"], hp["eval_every"], hp.get("objective", "ce")
    stop_after, stop_thr = hp.get("stop_after"), hp.get("stop_threshold", 0.99)
    since = held_since(metrics, stop_thr)
    bar = progress_start(label, start_epoch, epochs, every=max(1000, every), enabled=not quiet)
    epoch = start_epoch
    for epoch in range(start_epoch, epochs + 1):
        logged = epoch % every == 0 or epoch == epochs
        stopping = False
        if logged:  # measured on the parameters before this epoch's step
            test_loss, test_acc = evaluate(model, params, data["test_x"], data["test_y"], objective)
            l1, l2 = weight_norms(params)
            test_acc = to_float(test_acc)
            since = streak_start(since, epoch, test_acc >= stop_thr)
            stopping = stop_after is not None and since is not None and epoch - since >= stop_after
        last = stopping or epoch == epochs
        if last:  # no step after the last row: final params = the params of that row
            train_loss, train_acc = evaluate(model, params, data["train_x"], data["train_y"], objective)
        else:  # the loss and accuracy of the step's own forward pass
            train_loss, train_acc = train_step(model, params, opt_state, data["train_x"],
                                               data["train_y"], hp, masks)
        if logged:
            row = (epoch, to_float(train_loss), to_float(train_acc), to_float(test_loss),
                   test_acc, l1, l2)
            for column, value in zip(METRIC_COLUMNS, row):
                metrics[column].append(value)
            progress_update(bar, epoch, f"train {row[2]:.3f} test {test_acc:.3f}")
        if last:
            break
        if on_checkpoint and hp.get("checkpoint_every") and (epoch + 1) % hp["checkpoint_every"] == 0:
            on_checkpoint(epoch + 1, params, opt_state, metrics)
    progress_end(bar, f"at epoch {epoch}")
    return params, opt_state, metrics
