"""The grokking-ticket recipe: train dense, prune the generalised weights by magnitude,
rewind the survivors to their initial values, retrain.

    theta_0 --train--> theta_T (grokked)
    mask    = top (1 - rate) of |theta_T|            (global or per layer)
    ticket  = theta_0 * mask  --train, same settings-->  groks sooner

Rewinding to a later epoch k uses theta_k * mask instead (the dense run's checkpoint k).

When to prune: the paper prunes "after 30k iterations", so by default the dense run
trains to its epoch cap (--epochs, 30,000) and is pruned there; the ticket stops once its
test accuracy has held >= 0.99 for 1,000 epochs. Pruning later gives better tickets
(measured, seed 1: the mask taken at epoch 10k gives ticket t_gen 868, at 20k 262, at
30k 402, against dense t_gen 8,990); `dense_stop_after` prunes earlier, once the dense
net has held the threshold that long.
The output folder holds dense/ and ticket/ run directories, mask.npz, summary.json and
accuracy.png. Rerunning with the same folder continues or reuses what is there.
"""
import os

from . import io
from .errors import MinigrokError
from .masks import density as mask_density
from .objectives import score_name
from .pruning.magnitude import SCOPES, density_from, magnitude_prune
from .runs import resume_run, run, with_defaults

TICKET_DEFAULTS = {"rate": 0.6, "scope": "global", "rewind_epoch": 0, "stop_after": 1000,
                   "dense_stop_after": None}


def rewind_source(dense_dir, rewind_epoch):
    """Path of the dense run's weights at rewind_epoch (0 = init.npz, theta_0)."""
    if rewind_epoch == 0:
        return os.path.join(dense_dir, "init.npz")
    path = os.path.join(dense_dir, "checkpoints", f"epoch_{rewind_epoch}.npz")
    if not os.path.isfile(path):
        raise MinigrokError(f"cannot rewind to epoch {rewind_epoch}: {path!r} does not exist "
                            "(rewind epochs must be multiples of --checkpoint-every)")
    return path


# settings a saved run may be continued or re-reported with: more epochs, another report level
RESUMABLE_CHANGES = ("epochs", "report_threshold")


def _training_settings(cfg):
    return {k: v for k, v in cfg.items() if k not in RESUMABLE_CHANGES}


def _run_or_resume(cfg, out_dir, label, quiet):
    if os.path.isfile(os.path.join(out_dir, "config.json")):
        saved = io.load_json(os.path.join(out_dir, "config.json"))
        if _training_settings(saved) != _training_settings(cfg):
            raise MinigrokError(f"{out_dir!r} holds a run with other settings; choose another --out")
        return resume_run(out_dir, epochs=cfg["epochs"], label=label, quiet=quiet,
                          report_threshold=cfg.get("report_threshold"))
    return run(cfg, out_dir, label=label, quiet=quiet)


def ticket_experiment(cfg, out_dir, rate=0.6, scope="global", rewind_epoch=0, dense_stop_after=None,
                      quiet=False):
    """Dense run, magnitude mask at `rate`, rewind, ticket run; returns the summary dict.

    cfg: the training settings of both runs (TRAIN_DEFAULTS keys). Both runs stop once
    test accuracy has held >= cfg['stop_threshold'] for cfg['stop_after'] epochs; the
    dense run trains to cfg['epochs'] unless dense_stop_after stops it the same way.
    """
    cfg = with_defaults({"stop_after": TICKET_DEFAULTS["stop_after"], **cfg})
    density = density_from(rate=rate)
    if scope not in SCOPES:
        raise MinigrokError(f"unknown pruning scope {scope!r}; allowed: {', '.join(SCOPES)}")
    if not (isinstance(rewind_epoch, int) and rewind_epoch >= 0):
        raise MinigrokError(f"rewind epoch {rewind_epoch} is not allowed: give an integer >= 0")
    dense_dir, ticket_dir = os.path.join(out_dir, "dense"), os.path.join(out_dir, "ticket")
    dense_cfg = {**cfg, "init": None, "mask": None, "stop_after": dense_stop_after}
    dense = _run_or_resume(dense_cfg, dense_dir, "dense ", quiet)

    mask_path = os.path.join(out_dir, "mask.npz")
    masks = magnitude_prune(dense["params"], density=density, scope=scope)
    io.save_npz(mask_path, masks=masks, meta={"rate": rate, "density": density, "scope": scope,
                                              "from": os.path.join(dense_dir, "final.npz")})
    source = rewind_source(dense_dir, rewind_epoch)
    ticket = _run_or_resume({**cfg, "init": source, "mask": mask_path}, ticket_dir, "ticket", quiet)

    def times(summary):
        return {"t_mem": summary["t_mem"], "t_gen": summary["t_gen"],
                "tau_grok": summary["tau_grok"], "thresholds": summary["thresholds"],
                "final_test_acc": summary["final"]["test_acc"], "epochs_run": summary["epochs_run"],
                "wall_time_s": summary["wall_time_s"]}

    # dense / ticket t_gen at every reported level (both runs share cfg, so the same levels)
    speedups = {thr: _ratio(d["t_gen"], ticket["summary"]["thresholds"][thr]["t_gen"])
                for thr, d in dense["summary"]["thresholds"].items()}
    summary = {
        "dense": times(dense["summary"]),
        "ticket": {**times(ticket["summary"]), "density": mask_density(masks)},
        "speedup": speedups["0.99"],
        "speedup_0.95": speedups["0.95"],
        "speedups": speedups,
        "pruning": {"method": "magnitude", "rate": rate, "density": density, "scope": scope,
                    "rewind_epoch": rewind_epoch},
        "config": cfg,
    }
    io.save_json(os.path.join(out_dir, "summary.json"), summary)
    from .analysis.plots import plot_accuracy_curves  # matplotlib only when plotting
    plot_accuracy_curves({"dense": dense["metrics"], "ticket": ticket["metrics"]},
                         os.path.join(out_dir, "accuracy.png"),
                         title=f"{_task_label(cfg)}: dense vs ticket (rate {rate})",
                         ylabel=score_name(cfg.get("objective")))
    if cfg["model"] == "transformer":
        save_attention_picture({"dense": dense["params"], "ticket": ticket["params"]}, cfg["p"],
                               os.path.join(out_dir, "attention.png"))
    return summary


def save_attention_picture(params_by_run, p, path):
    """attention.png: for every input (a, b), the weight the last position gives to a,
    for each run's final Transformer weights."""
    import numpy as np

    from .analysis.plots import plot_attention_patterns
    from .models.transformer import attention_pattern
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")  # (p, p) each
    tokens = np.stack([a.ravel(), b.ravel()], axis=1)  # (p*p, 2)
    patterns = {label: attention_pattern(params, tokens)[:, 0, -1, 0].reshape(p, p)  # (p, p)
                for label, params in params_by_run.items()}
    plot_attention_patterns(patterns, p, path, title="Transformer: attention of the last position")


def _task_label(cfg):
    """'mlp p=67 add' for a modular task, 'fc on mnist' for the others."""
    if cfg.get("task", "modular") == "modular":
        return f"{cfg['model']} p={cfg['p']} {cfg['op']}"
    return f"{cfg['model']} on {cfg['task']}"


def _ratio(a, b):
    return a / b if (a is not None and b) else None


def format_table(summary):
    """The comparison table printed by `minigrok ticket`: t_gen at 0.99, 0.95 and the task's
    report threshold if it has one, then the speed-up dense / ticket at each."""
    levels = sorted(summary["dense"]["thresholds"], key=float, reverse=True)  # "0.99", "0.95", ...
    score = score_name(summary["config"].get("objective"))
    lines = [f"{'run':<8}{'t_mem@.99':>10}" + "".join(f"{'t_gen@' + t.lstrip('0'):>10}" for t in levels)
             + f"{'final test':>11}{'wall s':>8}"]
    for name in ("dense", "ticket"):
        s = summary[name]
        lines.append(f"{name:<8}{_fmt(s['t_mem']):>10}"
                     + "".join(f"{_fmt(s['thresholds'][t]['t_gen']):>10}" for t in levels)
                     + f"{s['final_test_acc']:>11.4f}{s['wall_time_s']:>8.0f}")
    for threshold in levels:
        sp = summary["speedups"][threshold]
        lines.append(f"speed-up of t_gen({threshold}): " +
                     (f"{sp:.1f}x" if sp else f"n/a (a run never reached test {score} {threshold})"))
    return "\n".join(lines)


def _fmt(x):
    return "-" if x is None else str(x)
