"""edge-popup: Table 1 of the paper's latest version, on the *memorising* dense weights.

Start: the cached dense run's checkpoint at --from-epoch (default 1000, the reference
scripts' choice): by then the net has memorised (train acc >= 0.99, from epoch ~90) and
not yet generalised (dense t_gen is ~8k-16k at p = 67 with the paper's lr 1e-3; with lr
1e-2 it has generalised by epoch 1000). The summary records that checkpoint's train and
test accuracy and flags a start that is not memorising.

    wd only             the memorising weights trained further, dense, AdamW with weight
                        decay (fresh optimiser state, lr --ep-lr)
    EP frozen W, wd 0   edge-popup: frozen weights, scores trained by AdamW without
                        weight decay (edge-popup's own setting)
    EP frozen W, wd 1   frozen weights, scores with weight decay 1: the reference's
                        edge_pop_wo_decay.sh (no --weight_learning), the paper's "EP w/o wd"
    EP W and s, wd 1    weights and scores both trained, forward W * mask, weight decay 1
                        on both: the reference's edge_pop_w_decay.sh (--weight_learning
                        --double_reg), the paper's "EP + wd"

The two scripts' --exp_tag values are swapped relative to their file names
(edge_pop_wo_decay.sh tags its runs edge_pop_w_decay and the other way round); the file
names say what the runs do: "decay" is the weight decay on the weights, which only the
second condition trains. The reference scripts run them on config_slth.py's split:
training fraction 0.5 of the symmetric pairs (--frac 0.5 here), the same widths.

Edge-popup keeps 1 - rate (default 40%) of every matrix (scope 'layer', the reference
code's), scores drawn kaiming-uniform from numpy.random.default_rng(seed) (the reference
loads the stage-1 run's never-trained kaiming-uniform scores with its checkpoint: the same
distribution). Test accuracy is read at 600 / 1000 / 1400 / 2000 epochs (--ep-epochs caps
the runs, default 2000). Paper (Table 1): wd only .53/.95/1.00/1.00, EP w/o wd
.68/.80/.84/.92, EP + wd .82/.96/.99/1.00.
"""
import time

import numpy as np

from .. import store
from ..errors import MinigrokError
from ..figures import plotter
from ..pruning.edge_popup import (REPORT_EPOCHS, init_scores, join_weights_scores, split_weights_scores,
                                  supermask, supermask_model, weights_and_scores_model)
from ..pruning.magnitude import density_from
from ..settings import check_setting
from ..train import grokking_times, train_loop
from .common import (dense_runs, device_data, eval_grid, finish, format_table, on_device,
                     result_row, say, ticket_hp, train_masked)

NAME = "edge-popup"
OPTIONS = ("rate", "from_epoch", "ep_epochs", "ep_lr")  # the options it takes besides the training settings
# the paper's Table 1, by its row name
PAPER = {"wd only": (0.53, 0.95, 1.00, 1.00), "EP w/o wd": (0.68, 0.80, 0.84, 0.92),
         "EP + wd": (0.82, 0.96, 0.99, 1.00)}


def ep_conditions(weight_decay):
    """{name: (weights trained too, weight decay, the paper's row of that setting or None)}:
    edge-popup's three settings at the config's weight decay (1: the names above)."""
    wd = f"{weight_decay:g}"
    return {"EP frozen W, wd 0": (False, 0.0, None),
            f"EP frozen W, wd {wd}": (False, weight_decay, "EP w/o wd"),
            f"EP W and s, wd {wd}": (True, weight_decay, "EP + wd")}


def memorising_state(dense, epoch):
    """(weights at `epoch`, train acc, test acc there) from the dense run's checkpoint."""
    params = store.load_commit(dense["dir"], epoch, dense["key"])["params"]
    m = dense["metrics"]
    i = max((i for i, e in enumerate(m["epoch"]) if e <= epoch), default=0)
    return params, m["train_acc"][i], m["test_acc"][i]


def train_edge_popup(model, weights, data, hp, density, scores, scope="layer", label="edge-popup",
                     quiet=True, train_weights=False):
    """Train the scores of `weights` (host arrays) for hp['epochs'] full-batch AdamW steps
    with the one training loop (pruning/edge_popup.py's supermask models): the weights
    frozen, or with train_weights trained as well (weights_and_scores_model). Returns
    {"scores", "masks", "weights" (the final ones), "metrics"}; held in memory (a few
    seconds of training), not stored."""
    hp = {**hp, "stop_after": None}
    if train_weights:
        ep_model = weights_and_scores_model(model, density, scope)
        out = train_loop(ep_model, join_weights_scores(on_device(weights), on_device(scores)),
                         device_data(data), hp, label=label, quiet=quiet)[0]
        final_weights, final_scores = split_weights_scores(out["params"])
    else:
        ep_model = supermask_model(model, on_device(weights), density, scope)
        out = train_loop(ep_model, on_device(scores), device_data(data), hp, label=label, quiet=quiet)[0]
        final_weights, final_scores = weights, out["params"]
    return {"scores": final_scores, "weights": final_weights,
            "masks": supermask(final_scores, density, scope), "metrics": out["metrics"]}


def check(cfg, seeds, opts):
    start, ep_epochs = opts.get("from_epoch", 1000), opts.get("ep_epochs", 2000)
    lr = opts.get("ep_lr", 1e-2)
    for name, value in (("from_epoch", start), ("ep_epochs", ep_epochs), ("ep_lr", lr)):
        check_setting(name, value)
    every = cfg["checkpoint_every"]
    if not (every and start <= cfg["epochs"] and start % every == 0):
        raise MinigrokError(f"from_epoch = {start} is not allowed: give a checkpoint epoch in "
                            f"(0, --epochs], a multiple of --checkpoint-every ({every})")
    return {**opts, "from_epoch": start, "ep_epochs": ep_epochs, "ep_lr": lr}


def run(cfg, where, folder, seeds, opts, quiet=False):
    rate, start, ep_epochs, lr = opts["rate"], opts["from_epoch"], opts["ep_epochs"], opts["ep_lr"]
    report_at = [e for e in REPORT_EPOCHS if e <= ep_epochs] or [ep_epochs]
    hp = {"lr": lr, "weight_decay": cfg["weight_decay"], "betas": cfg["betas"], "eps": cfg["eps"],
          "epochs": ep_epochs, "eval_every": eval_grid(cfg["eval_every"], report_at)}
    t0 = time.perf_counter()
    rows, curves, starts, dirs = [], {}, {}, []
    conditions = ep_conditions(cfg["weight_decay"])
    dense = dense_runs(cfg, where, seeds, quiet)
    weights = {}
    for s in seeds:
        weights[s], train_acc, test_acc = memorising_state(dense[s], start)
        starts[s] = {"epoch": start, "train_acc": train_acc, "test_acc": test_acc,
                     "memorising": train_acc >= 0.99 and test_acc < 0.95}
        say(f"{NAME}: seed {s} from epoch {start} (train {train_acc:.3f}, test {test_acc:.3f})", quiet)
    wd_only = train_masked([{"seed": s, "params": weights[s], "masks": None} for s in seeds],
                           ticket_hp(cfg, **hp, stop_after=None), where, "wd only", quiet, stacked=False)
    for s, wd_only_run in zip(seeds, wd_only):
        d = dense[s]
        dirs += [d["dir"], wd_only_run["dir"]]
        runs = {"wd only": wd_only_run}
        for cond, (train_weights, decay, _) in conditions.items():
            scores = init_scores(weights[s], np.random.default_rng(s))
            r = train_edge_popup(d["model"], weights[s], d["data"], {**ticket_hp(cfg, **hp), "weight_decay": decay},
                                 density_from(rate=rate), scores, label=f"{cond} seed {s}", quiet=quiet,
                                 train_weights=train_weights)
            runs[cond] = {"metrics": r["metrics"], "times": grokking_times(r["metrics"]), "masks": r["masks"]}
        for cond, result in runs.items():
            m = result["metrics"]
            at = {f"test_acc@{e}": next(a for x, a in zip(m["epoch"], m["test_acc"]) if x == e)
                  for e in report_at}
            rows.append(result_row(cond, s, result, result.get("masks"), **at))
            curves[(cond, s)] = m
    table = {cond: {f"{e}": float(np.mean([r[f"test_acc@{e}"] for r in rows if r["condition"] == cond]))
                    for e in report_at} for cond in ("wd only", *conditions)}
    return finish(NAME, folder, cfg, seeds, rows, curves, t0,
                  extra={"rate": rate, "density": 1 - rate, "start": starts, "edge_popup_hp": hp,
                         "table1": table,
                         "paper_row": {"wd only": "wd only",
                                       **{c: row for c, (_, _, row) in conditions.items() if row}},
                         "paper_table1": {k: dict(zip(map(str, REPORT_EPOCHS), v)) for k, v in PAPER.items()}},
                  plot=plotter(f"edge-popup from the epoch-{start} (memorising) weights"), runs=dirs,
                  quiet=quiet)


def report(summary):
    return format_table(summary) + "\n\n" + format_table1(summary)


def format_table1(summary):
    """Test accuracy at the report epochs, ours (mean over seeds) next to the paper's row
    of the same setting."""
    lines = [f"{'run':<20}" + "".join(f"{e:>12}" for e in summary["table1"]["wd only"]) + "  paper's row"]
    for cond, accs in summary["table1"].items():
        row = summary["paper_row"].get(cond)
        paper = summary["paper_table1"][row] if row else {}
        lines.append(f"{cond:<20}" + "".join(
            f"{a:>6.2f} ({paper[e]:.2f})" if e in paper else f"{a:>12.2f}" for e, a in accs.items())
            + f"  {row or '-'}")
    lines.append("ours, mean over the seeds (the paper's Table 1 in brackets, for the row run with "
                 "the same setting)")
    return "\n".join(lines)
