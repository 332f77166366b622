"""The grokking-ticket recipe: train dense, prune the generalised weights by magnitude,
rewind the survivors to their initial values, retrain.

    theta_0 --train--> theta_T (grokked)
    mask    = top (1 - rate) of |theta_T|            (global or per layer)
    ticket  = theta_0 * mask  --train, same settings-->  groks sooner

Rewinding to a later epoch k uses theta_k * mask instead (the dense run's checkpoint k).

When to prune: the paper prunes "after 30k iterations", at the dense run's epoch cap
(--epochs, 30,000); `dense_stop_after` N prunes instead once the dense net has held test
accuracy >= the stop threshold (0.99) for N epochs, or at the cap if it never has. Over
20 seeds of the MLP (`minigrok experiment when-to-prune`, RESULTS.md) the tickets are
fastest when the mask is taken 5,000-20,000 epochs after the dense run groks: N = 10,000
beats the cap on 10 of the 17 seeds where both grok and loses on 1 (paired signed-rank
p = 0.02; median ticket t_gen 502 against 530, speed-up 30.9x against 25.8x, lower
quartile 27.3x against 24.0x), with the same worst case (15.7x) and no seed below 10x;
N = 1,000 and a 50,000-epoch cap are worse (medians 879 and 858). So the MLP on a
modular task prunes at N = 10,000 by default (DENSE_STOP_AFTER), which also ends its
dense run ~10,000 epochs sooner when it groks early. Where no such study was made (the
Transformer, the vector tasks) the default is the paper's cap. `dense_stop_after` None
(`--dense-stop-after none`) is the paper's policy for any model. The ticket itself stops
once its test accuracy has held >= 0.99 for 1,000 epochs.

The output folder T holds both runs as units of its store (T/runs/, see common.py), the
ticket's mask.npz, summary.json (naming the two run folders it reports) and
accuracy.png. Rerunning into T with other pruning settings trains only the new ticket;
the dense run is trained once per training setting.
"""
import os

import numpy as np

from .. import io, store
from ..errors import MinigrokError
from ..fmt import fmt_acc, fmt_epoch, fmt_rate, fmt_speedup
from ..masks import density as mask_density
from ..objectives import score_name
from ..pruning.magnitude import SCOPES, density_from, magnitude_prune
from ..settings import check_setting
from ..threads import blas_info
from .common import dense_runs, ticket_hp, train_one

NAME = "ticket"
OPTIONS = ("rate", "scope", "rewind_epoch", "dense_stop_after")  # the options it takes besides the training settings
ANY_TASK = True
DEFAULTS = {"rate": 0.6, "scope": "global", "rewind_epoch": 0}
# when to prune, unless dense_stop_after is given: {(task, model): N} prunes once the dense
# run has held the stop threshold for N epochs (measured best, see the module docstring);
# None, for every other pair, at the epoch cap as the paper
DENSE_STOP_AFTER = {("modular", "mlp"): 10000}


def default_dense_stop_after(cfg):
    """When the ticket of cfg's task and model prunes by default (DENSE_STOP_AFTER)."""
    return DENSE_STOP_AFTER.get((cfg["task"], cfg["model"]))


def check(cfg, seeds, opts):
    """The ticket's options, every check before anything is written."""
    opts = {**DEFAULTS, "dense_stop_after": default_dense_stop_after(cfg), **opts}
    for name in ("rate", "rewind_epoch", "dense_stop_after"):
        check_setting(name, opts[name])
    if opts["scope"] not in SCOPES:
        raise MinigrokError(f"unknown pruning scope {opts['scope']!r}; allowed: {', '.join(SCOPES)}")
    k, every = opts["rewind_epoch"], cfg["checkpoint_every"] or 0
    if not (k <= cfg["epochs"] and (k == 0 or (every and k % every == 0))):
        raise MinigrokError(f"rewind epoch {k} is not allowed: give a multiple of "
                            f"--checkpoint-every ({every}) in [0, --epochs {cfg['epochs']}]")
    if len(seeds) != 1:
        raise MinigrokError("a ticket is trained for one seed: give --seed")
    return opts


def run(cfg, where, folder, seeds, opts, quiet=False):
    """Dense run, magnitude mask at opts['rate'], rewind, ticket run; returns the summary.

    cfg: the training settings of both runs. The ticket stops once test accuracy has held
    >= cfg['stop_threshold'] for cfg['stop_after'] epochs; the dense run trains to
    cfg['epochs'] unless opts['dense_stop_after'] stops it the same way.
    """
    rate, scope, rewind_epoch = opts["rate"], opts["scope"], opts["rewind_epoch"]
    seed = seeds[0]
    dense = dense_runs(cfg, where, [seed], quiet, stop_after=opts["dense_stop_after"])[seed]
    masks = magnitude_prune(dense["params"], rate=rate, scope=scope)
    start = rewind_weights(dense, rewind_epoch)
    ticket = train_one(start, seed, ticket_hp(cfg), masks, where, "ticket", quiet)
    from . import every_report_file
    store.clear_report(folder, every_report_file())  # e.g. another model's attention.png, a sweep's curves
    io.save_npz(os.path.join(folder, "mask.npz"), masks=masks,
                meta={"rate": rate, "density": density_from(rate=rate), "scope": scope,
                      "from": os.path.relpath(os.path.join(dense["dir"], "final.npz"), folder)})

    def times(result):
        s = result["summary"]
        return {"t_mem": s["t_mem"], "t_gen": s["t_gen"], "tau_grok": s["tau_grok"],
                "thresholds": s["thresholds"], "final_test_acc": s["final"]["test_acc"],
                "epochs_run": s["epochs_run"], "wall_time_s": s["wall_time_s"]}

    # dense / ticket t_gen at every reported level (both runs share cfg, so the same levels)
    speedups = {thr: _ratio(d["t_gen"], ticket["summary"]["thresholds"][thr]["t_gen"])
                for thr, d in dense["summary"]["thresholds"].items()}
    summary = {
        "dense": times(dense),
        "ticket": {**times(ticket), "density": mask_density(masks)},
        "speedup": speedups["0.99"],
        "speedup_0.95": speedups["0.95"],
        "speedups": speedups,
        "pruning": {"method": "magnitude", "rate": rate, "density": density_from(rate=rate),
                    "scope": scope, "rewind_epoch": rewind_epoch,
                    "dense_stop_after": opts["dense_stop_after"],
                    "at_epoch": dense["summary"]["epochs_run"]},
        "runs": {"dense": os.path.relpath(dense["dir"], folder),
                 "ticket": os.path.relpath(ticket["dir"], folder)},
        "config": cfg,
        "blas_threads": blas_info().get("threads"),
    }
    io.save_json(os.path.join(folder, "summary.json"), summary)
    from ..figures import plot_accuracy_curves
    plot_accuracy_curves({"dense": dense["metrics"], "ticket": ticket["metrics"]},
                         os.path.join(folder, "accuracy.png"),
                         title=f"{_task_label(cfg)}: dense vs ticket (rate {fmt_rate(rate)})",
                         ylabel=score_name(cfg.get("objective")), threshold=cfg["stop_threshold"])
    if cfg["model"] == "transformer":
        save_attention_picture({"dense": dense["params"], "ticket": ticket["params"]}, cfg["p"],
                               os.path.join(folder, "attention.png"))
    return summary


def rewind_weights(dense, epoch):
    """The dense run's weights after `epoch` steps (0: theta_0), to be masked and retrained."""
    if epoch == 0:
        return dense["theta_0"]
    path = store.checkpoint_path(dense["dir"], epoch)
    if not os.path.isfile(path):
        have = store.checkpoint_epochs(dense["dir"])
        shown = ", ".join(map(str, have[:6])) + (", ..." if len(have) > 6 else "")
        why = (f"it stopped at epoch {dense['summary']['epochs_run']}" if epoch > dense["summary"]["epochs_run"]
               else "saved when it was first trained; --checkpoint-every does not change a stored run")
        raise MinigrokError(f"cannot rewind to epoch {epoch}: the dense run has checkpoints at "
                            f"{shown or 'no epoch'} only ({why}): give one of those, or another --out")
    return store.load_commit(dense["dir"], epoch, dense["key"])["params"]


def save_attention_picture(params_by_run, p, path):
    """attention.png: for every input (a, b), the weight the last position gives to a,
    for each run's final Transformer weights."""
    from ..figures import plot_attention_patterns
    from ..models.transformer import attention_pattern
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


def report(summary):
    """The comparison table printed by `minigrok ticket`: t_gen at 0.99, 0.95 and the task's
    report threshold if it has one, then the speed-up dense / ticket at each."""
    levels = sorted(summary["dense"]["thresholds"], key=float, reverse=True)  # "0.99", "0.95", ...
    score = score_name(summary["config"].get("objective"))
    lines = [f"{'run':<8}{'t_mem@.99':>10}" + "".join(f"{'t_gen@' + t.lstrip('0'):>10}" for t in levels)
             + f"{'final test':>11}{'wall s':>8}"]
    for name in ("dense", "ticket"):
        s = summary[name]
        lines.append(f"{name:<8}{fmt_epoch(s['t_mem']):>10}"
                     + "".join(f"{fmt_epoch(s['thresholds'][t]['t_gen']):>10}" for t in levels)
                     + f"{fmt_acc(s['final_test_acc']):>11}{s['wall_time_s']:>8.0f}")
    pruning = summary.get("pruning", {})
    if pruning.get("rewind_epoch"):
        lines.append(f"ticket rewound to the dense weights of epoch {pruning['rewind_epoch']}: its "
                     "epochs count from there, the dense run's from theta_0")
    if pruning.get("at_epoch") is not None and pruning["at_epoch"] < summary["config"]["epochs"]:
        lines.append(f"mask taken at epoch {fmt_epoch(pruning['at_epoch'])}: the dense run had held test "
                     f"{score} >= {summary['config']['stop_threshold']:g} for "
                     f"{fmt_epoch(pruning['dense_stop_after'])} epochs (--dense-stop-after)")
    for threshold in levels:
        sp = summary["speedups"][threshold]
        lines.append(f"speed-up of t_gen({threshold}): " +
                     (fmt_speedup(sp) if sp else f"n/a (a run never reached test {score} {threshold})"))
    return "\n".join(lines)
